"""The video path end to end on the embedded broker: a real clip cut into segments on
media.segments, labeled by the worker's watermark processes, joined by the reassembler and
verified; a spread video with its record stripped held; bad files dead-lettered."""

from __future__ import annotations

from pathlib import Path

import pytest
from clips import bunny_clip
from helpers import ADMITTED, envelope, media_envelope, records_for, verified_user

from synthguard.blobs import BlobRef, open_store
from synthguard.labels.judge import RECORD_TAG
from synthguard.labels.verify import LabelStatus
from synthguard.labels.video import label_video, verify_video
from synthguard.labels.visible import Corner
from synthguard.media.segments import remux
from synthguard.records import Record
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def video_envelope(user: str, ref: BlobRef, **overrides: object) -> Record:
    return media_envelope(
        user,
        ref,
        "VIDEO",
        tech_category="BIOMETRIC_IMAGE_VIDEO",
        service_kind="FACE_GENERATION",
        **overrides,
    )


def test_videos_are_labeled_in_segments_joined_verified_and_bad_files_dead_lettered(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess, tmp_path: Path
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    # 6 s of real footage with a keyframe each second: two segments at the default 4 s
    clip = bunny_clip(tmp_path / "gen.mp4", frames=150, gop=25)
    generated = video_envelope(user, store.put_file(clip, mime="video/mp4"))
    # a video some other service labeled, whose record was then stripped: only the mark is left
    ours = tmp_path / "ours.mp4"
    label_video(clip, ours, produce_id="elsewhere", producer="prov-x", keyring=settings.keyring())
    stripped = tmp_path / "stripped.mp4"
    remux(ours, stripped, {RECORD_TAG: None})
    spread = video_envelope(
        user, store.put_file(stripped, mime="video/mp4"), origin="REDISTRIBUTED"
    )
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:4000])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 4096)
    bad = {
        "truncated": video_envelope(user, store.put_file(truncated, mime="video/mp4")),
        "garbage": video_envelope(user, store.put_file(garbage, mime="video/mp4")),
    }
    after = envelope("坏视频之后的文本照常处理。", user, service_kind="WRITING")
    # the generated video twice: a redelivery must not give a second record or label
    for record in [generated, generated, spread, *bad.values(), after]:
        writer.write(catalog.ARTIFACTS_SUBMITTED, record)
    writer.flush()

    good = {generated["artifact_id"], spread["artifact_id"], after["artifact_id"]}
    records = {
        r["artifact_id"]: r for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, good)
    }
    made = records[generated["artifact_id"]]
    assert made["verdict"] == "PUBLISHABLE"
    assert {c["rule"]: c["outcome"] for c in made["checks"]} == {
        **ADMITTED,
        "label.implicit": "APPLIED",
        "label.watermark": "APPLIED",
        "label.explicit": "APPLIED",
        "label.signature": "APPLIED",
        "label.verified": "PASS",
        "review.media": "PASS",
        "rumor.refuted": "PASS",
    }
    assert "2 segments joined" in next(
        c["detail"] for c in made["checks"] if c["rule"] == "label.verified"
    )
    ref = BlobRef.from_record(made["label"]["blob"])
    with store.open_file(ref, max_bytes=settings.max_av_bytes) as labeled:
        found = verify_video(labeled, settings.keyring())
    assert found.status is LabelStatus.INTACT
    assert found.explicit_corner is Corner.BOTTOM_RIGHT
    assert found.verdict.watermark.payload == int(made["label"]["watermark_id"], 16)

    held = records[spread["artifact_id"]]
    assert held["verdict"] == "HELD" and held["label"]["incoming"] == "watermark_only"
    [alert] = records_for(settings, broker, catalog.REPORTS_ALERTS, {spread["artifact_id"]})
    assert alert["kind"] == "TAMPERED_LABEL" and alert["severity"] == "HIGH"
    assert records[after["artifact_id"]]["verdict"] == "PUBLISHABLE"

    letters = {
        r["key"]: r
        for r in records_for(
            settings, broker, catalog.DLQ, {e["artifact_id"] for e in bad.values()}, field="key"
        )
    }
    for name, reasons in {
        "truncated": ("truncated", "corrupt"),
        "garbage": ("unknown_format",),
    }.items():
        letter = letters[bad[name]["artifact_id"]]
        assert letter["error_type"] == "MediaError" and letter["stage"] == "artifact"
        assert letter["error"].split(":")[0] in reasons
