"""The `synthguard` command as a user runs it (subprocesses, real broker)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import (
    envelope,
    read_until,
    sample_rumors,
    sample_views,
    triangle_scene,
    wait_for_worker,
)

from synthguard import samples
from synthguard.intake import admit
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.samples import audio as audio_samples
from synthguard.samples import images as image_samples
from synthguard.samples import videos as video_samples
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter, envelope_from_json
from synthguard.streams.runner import WorkerProcess


def synthguard(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthguard.streams.cli", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def verdict_of(settings: Settings, broker: str, source: dict[str, Any]) -> str:
    writer = TopicWriter(settings, broker)
    writer.write(catalog.ARTIFACTS_SUBMITTED, source)
    writer.close()
    [record] = read_until(
        settings,
        broker,
        catalog.REPORTS_COMPLIANCE,
        bool,
        match=lambda r: r["artifact_id"] == source["artifact_id"],
    )
    return str(record["verdict"])


def env_for(settings: Settings) -> dict[str, str]:
    return {"SYNTHGUARD_BROKER": settings.broker, "SYNTHGUARD_HOME": str(settings.home)}


def test_run_json_accounts_for_every_sample(tmp_path: Path) -> None:
    """The summary of a whole run (own embedded broker) matches what the samples imply."""
    result = synthguard("run", "--json", env={"SYNTHGUARD_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)

    realname = {e["user_id"]: e["status"] for e in samples.load_realname()}
    views = sample_views()
    library = KeywordLibrary()
    for e in samples.load_keywords():
        library.put(KeywordEntry(e["entry_id"], e["term"], e["category"], Severity(e["severity"])))
    artifacts = samples.load_artifacts()
    intake = [admit(envelope_from_json(a), views, 10**6, 10**6) for a in artifacts]
    admitted = [a for a, out in zip(artifacts, intake, strict=True) if out.forward is not None]
    gate_alerts = sum(len(out.alerts) for out in intake)
    worst = {a["artifact_id"]: {h.severity for h in library.match(a["text"])} for a in admitted}
    held = sum(1 for s in worst.values() if s == {Severity.LOW})
    hit = sum(1 for s in worst.values() if s - {Severity.LOW})
    # clean of keywords but repeating a refuted rumor: held, alerted, reported, struck
    rumored = sum(
        1 for a in admitted if not worst[a["artifact_id"]] and sample_rumors().match(a["text"])
    )
    # Media: broken files are dead-lettered; of the rest, the stripped and the altered labels
    # are held with a high-risk alert and a strike, the plain redistributed photo gets none.
    # (artifact_id, user, origin) of every image and video sample
    media = [
        *(s[:3] for s in image_samples.SAMPLES),
        *(s[:3] for s in video_samples.SAMPLES),
        *(s[:3] for s in audio_samples.SAMPLES),
    ]
    good = [s for s in media if not s[0].startswith("bad-")]
    dead = len(media) - len(good)
    media_in = [s for s in good if realname.get(s[1]) == "VERIFIED"]
    tampered = {"redist-stripped", "redist-altered", "redist-vid-stripped", "redist-aud-stripped"}
    # img-rocket's photo is in the sample PDQ library (LOW): labeled, held for a reviewer
    # (redist-altered, a copy, is held already for its altered label)
    matched = 1
    generated = [s for s in media_in if s[2] == "GENERATED"]
    videos = [s for s in video_samples.SAMPLES if not s[0].startswith("bad-")]
    audio = [s for s in audio_samples.SAMPLES if not s[0].startswith("bad-")]
    assert summary["submitted"] == len(artifacts) + len(media)
    assert summary["compliance_records"] == len(artifacts) + len(good)
    assert summary["images"] == len(good) - len(videos) - len(audio)
    assert (summary["videos"], summary["audio"]) == (len(videos), len(audio))
    assert summary["admitted"] == len(admitted) + len(media_in)
    assert summary["labeled"] == len(admitted) + len(media_in) - 1  # redist-plain
    assert summary["watermarked"] == len(generated)
    assert summary["propagated"] == len(media_in) - len(generated) - 1
    assert summary["tampered"] == len(tampered)
    assert summary["flagged"] == held + hit
    assert summary["held"] == held + len(tampered) + matched + rumored
    blocked_media = len(good) - len(media_in)
    assert summary["blocked"] == len(artifacts) - len(admitted) + hit + blocked_media
    assert summary["publishable"] == (
        len(admitted) - held - hit + len(media_in) - len(tampered) - matched - rumored
    )
    assert summary["regulator_reports"] == hit + rumored
    assert summary["user_actions"] == hit + len(tampered) + rumored
    assert summary["alerts"] == (
        gate_alerts + blocked_media + held + hit + len(tampered) + matched + rumored
    )
    assert summary["dlq"] == dead and summary["unaccounted"] == []
    assert summary["review_requests"] == summary["held"]
    # The sample complaints (core/samples/complaints.jsonl): open are the appeal against
    # sample-035's keyword block, unlabeled redist-plain, the rumor report on sample-050 and
    # the likeness complaint on vid-astronaut; refused are sample-001 (already labeled), the
    # rumor report filed twice, and sample-999 (no such artifact).
    assert summary["complaints"] == len(samples.load_complaints()) == 7
    assert (summary["complaints_open"], summary["complaints_refused"]) == (4, 3)
    # at least each record's checks and verdict, each alert and report, and each dead letter
    assert summary["audit_records"] >= summary["compliance_records"] * 2 + summary["alerts"] + dead
    out = Path(summary["output_dir"])
    labeled_media = [sorted(out.glob(f"{kind}-*")) for kind in ("img", "vid", "aud")]
    assert sum(map(len, labeled_media)) == len(generated) - matched
    for paths in labeled_media:  # an image, a video, an audio file
        report = synthguard(
            "verify", str(paths[0]), "--json", env={"SYNTHGUARD_HOME": str(tmp_path)}
        )
        assert orjson.loads(report.stdout)["status"] == "intact"
    written = sorted(Path(summary["output_dir"]).glob("*.txt"))
    assert len(written) == len(admitted) - held - hit - rumored
    verdict = synthguard(
        "verify", str(written[0]), "--json", env={"SYNTHGUARD_HOME": str(tmp_path)}
    )
    assert orjson.loads(verdict.stdout)["status"] == "intact"


def test_submit_reports_bad_lines_and_tail_prints_decoded_records(
    settings: Settings, broker: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    ids = [f"cli-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    good = [
        {
            "artifact_id": i,
            "provider_id": "p",
            "service_id": "s",
            "user_id": "ghost",
            "modality": "TEXT",
            "tech_category": "TEXT_GENERATION",
            "service_kind": "DIALOGUE",
            "text": "你好",
        }
        for i in ids
    ]
    lines = [
        orjson.dumps(good[0]),
        b"{not json",
        orjson.dumps({"artifact_id": "x"}),
        orjson.dumps(good[1]),
    ]
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    refused = synthguard("submit", str(path), env=env_for(settings))
    assert refused.returncode == 1
    assert f"{path}:2: invalid JSON" in refused.stderr
    assert f"{path}:3: " in refused.stderr and "nothing written" in refused.stderr

    partial = synthguard("submit", str(path), "--skip-bad", env=env_for(settings))
    assert partial.returncode == 1 and "wrote 2 record(s) to artifacts.submitted" in partial.stdout
    read_until(
        settings,
        broker,
        catalog.REPORTS_COMPLIANCE,
        lambda found: len(found) == 2,
        match=lambda r: r["artifact_id"] in ids,
    )

    tail = synthguard(
        "tail",
        "reports.compliance",
        "--json",
        "--from-beginning",
        "--timeout",
        "3",
        env=env_for(settings),
    )
    assert tail.returncode == 0, tail.stderr
    lines_out = [orjson.loads(line) for line in tail.stdout.splitlines()]
    mine = [line for line in lines_out if line["key"] in ids]
    assert len(mine) == 2
    assert {line["value"]["verdict"] for line in mine} == {"BLOCKED"}

    unknown = synthguard("tail", "no.such.topic", env=env_for(settings))
    assert unknown.returncode == 2 and "unknown topic" in unknown.stderr


def test_registry_put_and_delete_take_effect_in_the_running_worker(
    settings: Settings, broker: str, worker: WorkerProcess, tmp_path: Path
) -> None:
    user, entry_id, term = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("u", "kw", "cliterm"))
    env = env_for(settings)
    users = tmp_path / "users.jsonl"
    users.write_bytes(orjson.dumps({"user_id": user, "status": "VERIFIED", "method": "PHONE"}))
    keywords = tmp_path / "keywords.jsonl"
    good = {"entry_id": entry_id, "term": term, "category": "t", "severity": "HIGH"}
    keywords.write_bytes(orjson.dumps(good) + b'\n{"entry_id": "x"}\n')
    # Tests run one at a time, so nothing else changes the worker's registries meanwhile.
    before = wait_for_worker(worker, lambda _s: True)

    assert synthguard("registry", "put", "registry.realname", str(users), env=env).returncode == 0
    refused = synthguard("registry", "put", "registry.keywords", str(keywords), env=env)
    assert refused.returncode == 1 and f"{keywords}:2: " in refused.stderr
    partial = synthguard(
        "registry", "put", "registry.keywords", str(keywords), "--skip-bad", env=env
    )
    assert "wrote 1 record(s) to registry.keywords" in partial.stdout
    added = wait_for_worker(
        worker,
        lambda s: s["users"] > before["users"] and s["keywords"] > before["keywords"],
    )
    assert verdict_of(settings, broker, envelope(f"offer: {term}", user)) == "BLOCKED"

    deleted = synthguard("registry", "delete", "registry.keywords", entry_id, env=env)
    assert deleted.returncode == 0 and "deleted 1 key(s)" in deleted.stdout
    wait_for_worker(worker, lambda s: s["keywords"] < added["keywords"])
    assert verdict_of(settings, broker, envelope(f"offer: {term}", user)) == "PUBLISHABLE"

    not_registry = synthguard("registry", "delete", "reports.alerts", "x", env=env)
    assert not_registry.returncode == 2 and "not a registry" in not_registry.stderr


def test_topics_create_twice_changes_nothing(settings: Settings) -> None:
    first = synthguard("topics", "create", env=env_for(settings))
    assert first.returncode == 0, first.stderr
    assert all(line.startswith("exists") for line in first.stdout.splitlines())
    assert len(first.stdout.splitlines()) == len(catalog.CATALOG)


def test_commands_that_need_a_broker_say_how_to_get_one(tmp_path: Path) -> None:
    result = synthguard("topics", "create", env={"SYNTHGUARD_BROKER": "embedded"})
    assert result.returncode == 2 and "synthguard broker" in result.stderr
    bad = synthguard("topics", "create", env={"SYNTHGUARD_BROKER": "localhost:9092"})
    assert bad.returncode == 2 and "kafka://" in bad.stderr


@pytest.mark.parametrize("name", ["story.txt", "notes.md"])
def test_label_then_verify_a_file(tmp_path: Path, name: str) -> None:
    env = {"SYNTHGUARD_HOME": str(tmp_path / "home")}
    source = tmp_path / name
    source.write_text("山间的清晨，雾气还没有散去。\n", "utf-8")
    out = tmp_path / f"labeled-{name}"
    labeled = synthguard("label", str(source), "--out", str(out), env=env)
    assert labeled.returncode == 0, labeled.stderr
    report = orjson.loads(synthguard("verify", str(out), "--json", env=env).stdout)
    assert report["status"] == "intact"
    assert report["record"]["ProduceID"] == name
    assert report["explicit"] is True

    out.write_text(out.read_text("utf-8").replace("清晨", "傍晚"), "utf-8")
    assert (
        orjson.loads(synthguard("verify", str(out), "--json", env=env).stdout)["status"]
        == "altered"
    )

    plain = orjson.loads(synthguard("verify", str(source), "--json", env=env).stdout)
    assert plain == {**plain, "status": "unlabeled", "record": None}

    missing = synthguard("verify", str(tmp_path / "absent.txt"), env=env)
    assert missing.returncode == 2 and "No such file" in missing.stderr


def test_label_then_verify_an_image_a_scene_a_video_and_audio(tmp_path: Path) -> None:
    env = {"SYNTHGUARD_HOME": str(tmp_path / "home")}
    clip = video_samples.pan("rocket", tmp_path / "pan.mp4", seconds=2.0).read_bytes()
    song = audio_samples.encode_audio(audio_samples.music(), audio_samples.RATE, "libmp3lame")
    cases = [
        ("photo.jpg", image_samples.encode("coffee", "JPEG"), "FACE_GENERATION", "image"),
        ("hall.glb", triangle_scene("glb"), "IMMERSIVE_SCENE", "scene"),
        ("clip.mp4", clip, "FACE_SWAP", "video"),
        ("song.mp3", song, "VOICE_SYNTHESIS", "audio"),
    ]
    for name, data, kind, file_kind in cases:
        source, out = tmp_path / name, tmp_path / f"labeled-{name}"
        source.write_bytes(data)
        labeled = synthguard(
            "label", str(source), "--out", str(out), "--service-kind", kind, env=env
        )
        assert labeled.returncode == 0, labeled.stderr
        report = orjson.loads(synthguard("verify", str(out), "--json", env=env).stdout)
        assert report["kind"] == file_kind and report["status"] == "intact"
        assert report["explicit"] is True and report["record"]["ProduceID"] == name
        plain = orjson.loads(synthguard("verify", str(source), "--json", env=env).stdout)
        assert plain["status"] == "unlabeled"
    image = orjson.loads(
        synthguard("verify", str(tmp_path / "labeled-photo.jpg"), "--json", env=env).stdout
    )
    assert image["watermark"]["matches_record"] is True
    video = orjson.loads(
        synthguard("verify", str(tmp_path / "labeled-clip.mp4"), "--json", env=env).stdout
    )
    assert video["watermark"]["matches_record"] is True and video["explicit_corner"]
