"""The audio path end to end on the embedded broker: a real soundtrack labeled with the cue,
the watermark and the signed record, verified; spread audio with its record stripped held;
bad files dead-lettered with their reason, the pipeline unbroken."""

from __future__ import annotations

from pathlib import Path

import pytest
from clips import bunny_clip
from helpers import ADMITTED, envelope, media_envelope, records_for, verified_user
from sounds import RATE, bunny_sound

from synthguard.blobs import BlobRef, open_store
from synthguard.labels.audio import label_audio, verify_audio
from synthguard.labels.judge import RECORD_TAG
from synthguard.labels.verify import LabelStatus
from synthguard.media.segments import remux
from synthguard.records import Record
from synthguard.samples.audio import encode_audio
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def audio_envelope(user: str, ref: BlobRef, **overrides: object) -> Record:
    return media_envelope(
        user,
        ref,
        "AUDIO",
        tech_category="VOICE_GENERATION",
        service_kind="VOICE_SYNTHESIS",
        **overrides,
    )


def test_audio_is_labeled_verified_and_bad_files_dead_lettered(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess, tmp_path: Path
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    song = tmp_path / "song.mp3"
    song.write_bytes(encode_audio(bunny_sound(12.0), RATE, "libmp3lame", bit_rate=192_000))
    made = audio_envelope(user, store.put_file(song, mime="audio/mpeg"))
    ours = tmp_path / "ours.mp3"
    label_audio(song, ours, produce_id="elsewhere", producer="prov-x", keyring=settings.keyring())
    stripped = tmp_path / "stripped.mp3"
    remux(ours, stripped, {RECORD_TAG: None})
    spread = audio_envelope(
        user, store.put_file(stripped, mime="audio/mpeg"), origin="REDISTRIBUTED"
    )
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(bytes(range(256)) * 16)
    silent_film = bunny_clip(tmp_path / "film.mp4", frames=25, audio=False)
    bad = {
        "garbage": audio_envelope(user, store.put_file(garbage, mime="audio/mpeg")),
        "no audio": audio_envelope(user, store.put_file(silent_film, mime="audio/mp4")),
    }
    after = envelope("坏音频之后的文本照常处理。", user, service_kind="WRITING")
    for record in [made, spread, *bad.values(), after]:
        writer.write(catalog.ARTIFACTS_SUBMITTED, record)
    writer.flush()

    good = {made["artifact_id"], spread["artifact_id"], after["artifact_id"]}
    records = {
        r["artifact_id"]: r for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, good)
    }
    labeled = records[made["artifact_id"]]
    assert labeled["verdict"] == "PUBLISHABLE"
    assert {c["rule"]: c["outcome"] for c in labeled["checks"]} == {
        **ADMITTED,
        "label.implicit": "APPLIED",
        "label.watermark": "APPLIED",
        "label.explicit": "APPLIED",
        "label.signature": "APPLIED",
        "label.verified": "PASS",
        "review.media": "PASS",
        "rumor.refuted": "PASS",
    }
    ref = BlobRef.from_record(labeled["label"]["blob"])
    assert ref.mime == "audio/mpeg"  # MP3 stays MP3
    with store.open_file(ref, max_bytes=settings.max_av_bytes) as path:
        found = verify_audio(path, settings.keyring())
    assert found.status is LabelStatus.INTACT and found.cue is not None
    assert found.verdict.watermark.payload == int(labeled["label"]["watermark_id"], 16)

    held = records[spread["artifact_id"]]
    assert held["verdict"] == "HELD" and held["label"]["incoming"] == "watermark_only"
    assert records[after["artifact_id"]]["verdict"] == "PUBLISHABLE"

    letters = {
        r["key"]: r
        for r in records_for(
            settings, broker, catalog.DLQ, {e["artifact_id"] for e in bad.values()}, field="key"
        )
    }
    reasons = {"garbage": ("unknown_format", "truncated"), "no audio": ("no_stream",)}
    for name, allowed in reasons.items():
        letter = letters[bad[name]["artifact_id"]]
        assert letter["error_type"] == "MediaError" and letter["stage"] == "artifact"
        assert letter["error"].split(":")[0] in allowed
