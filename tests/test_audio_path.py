"""The audio stage over a real blob store (no broker): how long a clip must be for the mark we
embed to be confirmed, and what happens below and above that (Art. 16, 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import media_envelope
from sounds import SPEECH_RATE, Samples, reading

from synthguard.audiopath import label_audio_artifact
from synthguard.blobs import BlobRef, LocalBlobStore
from synthguard.errors import LabelError
from synthguard.labels.audio import verify_audio
from synthguard.labels.verify import LabelStatus
from synthguard.records import Record, new_state
from synthguard.samples.audio import encode_audio, read_audio
from synthguard.settings import load_settings
from synthguard.streams.agents.media import av_policy
from synthguard.videopath import AVPolicy
from synthguard.watermark.audio import CONFIRM_MIN_S, detect


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> AVPolicy:
    home = tmp_path_factory.mktemp("home")  # the development label key is written there
    return av_policy(load_settings(env={"SYNTHGUARD_HOME": str(home)}))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def voice_clip(samples: Samples, store: LocalBlobStore, tmp_path: Path) -> Record:
    """A VOICE_SYNTHESIS artifact (an Art. 17 kind: it gets the cue too) holding `samples`."""
    src = tmp_path / "voice.wav"
    src.write_bytes(encode_audio(samples, SPEECH_RATE, "pcm_s16le"))
    ref = store.put_file(src, mime="audio/wav")
    return new_state(
        media_envelope(
            "u-1", ref, "AUDIO", tech_category="VOICE_GENERATION", service_kind="VOICE_SYNTHESIS"
        )
    )


def labeled(
    state: Record, policy: AVPolicy, store: LocalBlobStore
) -> tuple[Record, dict[str, str], Path]:
    """The compliance record, each check's detail by rule id, and the labeled file."""
    out = label_audio_artifact(state, policy, store)
    assert out.compliance is not None
    record = out.compliance
    path = store.local_path(BlobRef.from_record(record["label"]["blob"]))
    assert path is not None
    return record, {c["rule"]: c["detail"] for c in record["checks"]}, path


def test_five_seconds_of_speech_confirm_the_mark_by_its_id(
    policy: AVPolicy, store: LocalBlobStore, tmp_path: Path
) -> None:
    # Too little for blind decoding (about 12 s of speech); the record names the ID to test.
    record, details, path = labeled(
        voice_clip(reading()[:, : 5 * SPEECH_RATE], store, tmp_path), policy, store
    )
    assert record["verdict"] == "PUBLISHABLE"
    found = verify_audio(path, policy.keyring)
    assert found.status is LabelStatus.INTACT
    assert found.watermark.payload == int(record["label"]["watermark_id"], 16)
    assert "found again" in details["label.watermark"]
    assert not detect(*read_audio(path)).found  # blind decoding alone misses it


def test_a_short_voice_clip_is_published_on_its_signed_record(
    policy: AVPolicy, store: LocalBlobStore, tmp_path: Path
) -> None:
    # The reading's first 3 s carry too little speech to confirm the mark; such clips used to
    # be dead-lettered, though the record (the required implicit label) is whole.
    clip = reading()[:, : 3 * SPEECH_RATE]
    record, details, path = labeled(voice_clip(clip, store, tmp_path), policy, store)
    assert record["verdict"] == "PUBLISHABLE"
    found = verify_audio(path, policy.keyring)
    assert found.status is LabelStatus.INTACT and found.cue is not None
    assert not found.watermark.found  # the case under test
    assert "not confirmed in" in details["label.watermark"]
    assert record["label"]["record"]["ProduceID"] == record["artifact_id"]


def test_a_long_clip_without_a_confirmed_mark_is_a_defect(
    policy: AVPolicy, store: LocalBlobStore, tmp_path: Path
) -> None:
    # Digital silence carries no mark (only the cue does); from CONFIRM_MIN_S that is refused.
    silence = np.zeros((1, round((CONFIRM_MIN_S + 2) * SPEECH_RATE)), np.float32)
    with pytest.raises(LabelError, match="labeled audio failed verification"):
        labeled(voice_clip(silence, store, tmp_path), policy, store)
