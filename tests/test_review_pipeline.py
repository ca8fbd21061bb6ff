"""Media review over the embedded broker (Art. 10): images, video keyframes and audio matched
against the perceptual-hash and fingerprint library fed live from registry.media_features."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from clips import bunny_clip
from helpers import (
    media_envelope,
    records_for,
    register,
    verdicts,
    verified_user,
    wait_registry_applied,
)
from PIL import Image
from sounds import RATE, bunny_sound

from synthguard.blobs import open_store
from synthguard.media.keyframes import keyframe_hashes
from synthguard.records import Record
from synthguard.review.audio_fp import fingerprint_samples
from synthguard.review.pdq import pdq_hash
from synthguard.samples import images as image_samples
from synthguard.samples.audio import encode_audio
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


Feature = Callable[[str, str, str], str]


@pytest.fixture
def feature(writer: TopicWriter, worker: WorkerProcess) -> Iterator[Feature]:
    """Adds library entries live; tombstones them afterwards, so the footage and sound the
    other tests share meet an empty library again."""
    added: list[str] = []

    def add(signal: str, value: str, severity: str) -> str:
        entry_id = f"mf-{uuid.uuid4().hex[:8]}"
        entry = {
            "entry_id": entry_id,
            "signal": signal,
            "value": value,
            "category": "test-illegal",
            "severity": severity,
            "note": None,
        }
        register(writer, worker, catalog.REGISTRY_MEDIA_FEATURES, entry)
        added.append(entry_id)
        return entry_id

    yield add
    for entry_id in added:
        forget(writer, worker, entry_id)


def forget(writer: TopicWriter, worker: WorkerProcess, entry_id: str) -> None:
    spec = catalog.REGISTRY_MEDIA_FEATURES
    partition, offset = writer.write_and_wait(spec, None, key=entry_id)
    wait_registry_applied(worker, spec.name, partition, offset)


def smaller_jpeg(name: str) -> bytes:
    """The photo as a platform re-shares it: half size, JPEG quality 60."""
    photo = Image.open(io.BytesIO(image_samples.encode(name, "PNG")))
    image = photo.resize((photo.width // 2, photo.height // 2))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=60)
    return out.getvalue()


def test_a_known_photo_is_blocked_reported_and_struck_until_the_entry_is_removed(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess, feature: Feature
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    original = Image.open(io.BytesIO(image_samples.encode("astronaut", "PNG"))).convert("RGB")
    entry_id = feature("PDQ", pdq_hash(np_rgb(original)).hex(), "HIGH")
    copy = store.put(smaller_jpeg("astronaut"), mime="image/jpeg")
    other = store.put(smaller_jpeg("coffee"), mime="image/jpeg")

    def photo(ref: object) -> Record:
        return media_envelope(user, ref, "IMAGE", service_kind="OTHER_GENERATION")  # type: ignore[arg-type]

    hit, clean = verdicts(settings, broker, writer, photo(copy), photo(other))
    assert (hit["verdict"], clean["verdict"]) == ("BLOCKED", "PUBLISHABLE")
    review = next(c for c in hit["checks"] if c["rule"] == "review.media")
    assert review["outcome"] == "FLAGGED"
    assert f"image: {entry_id} PDQ distance" in review["detail"]
    [report] = records_for(settings, broker, catalog.REPORTS_REGULATOR, {hit["artifact_id"]})
    assert report["category"] == "test-illegal"
    [alert] = records_for(settings, broker, catalog.REPORTS_ALERTS, {hit["artifact_id"]})
    assert (alert["kind"], alert["severity"]) == ("FEATURE_LIBRARY_HIT", "HIGH")
    [action] = records_for(settings, broker, catalog.USERS_ACTIONS, {hit["artifact_id"]})
    assert action["user_id"] == user

    forget(writer, worker, entry_id)
    [after] = verdicts(settings, broker, writer, photo(copy))
    assert after["verdict"] == "PUBLISHABLE"


def test_a_known_video_is_found_by_its_keyframes_after_re_encoding(
    settings: Settings,
    broker: str,
    writer: TopicWriter,
    worker: WorkerProcess,
    tmp_path: Path,
    feature: Feature,
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    known = bunny_clip(tmp_path / "known.mp4", frames=100, gop=25, audio=False)
    [(_, first), *_] = keyframe_hashes(known)
    entry_id = feature("PDQ", first.hex(), "MEDIUM")
    # the same footage at another size and keyframe rhythm
    copy = bunny_clip(tmp_path / "copy.mp4", size=(480, 270), frames=75, gop=30, audio=False)
    video = media_envelope(
        user,
        store.put_file(copy, mime="video/mp4"),
        "VIDEO",
        tech_category="NON_BIOMETRIC_IMAGE_VIDEO",
        service_kind="OTHER",
    )
    [record] = verdicts(settings, broker, writer, video)
    assert record["verdict"] == "BLOCKED"
    review = next(c for c in record["checks"] if c["rule"] == "review.media")
    assert f"keyframe at 0.0 s: {entry_id} PDQ distance" in review["detail"]


def test_known_audio_of_low_severity_waits_for_a_person(
    settings: Settings,
    broker: str,
    writer: TopicWriter,
    worker: WorkerProcess,
    tmp_path: Path,
    feature: Feature,
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    sound = bunny_sound(20.0)
    entry_id = feature("CHROMAPRINT", fingerprint_samples(sound, RATE).encode(), "LOW")
    song = tmp_path / "song.mp3"
    song.write_bytes(encode_audio(sound, RATE, "libmp3lame", bit_rate=128_000))
    audio = media_envelope(
        user,
        store.put_file(song, mime="audio/mpeg"),
        "AUDIO",
        tech_category="NON_VOICE_AUDIO",
        service_kind="OTHER_GENERATION",
    )
    [record] = verdicts(settings, broker, writer, audio)
    assert record["verdict"] == "HELD"
    assert record["label"] is not None  # labeled already: a reviewer's PUBLISH needs no redo
    [request] = records_for(settings, broker, catalog.REVIEW_REQUESTS, {audio["artifact_id"]})
    assert any(entry_id in line and "bit error rate" in line for line in request["evidence"])
    assert request["content_uri"] == record["label"]["blob"]["uri"]


def np_rgb(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image, dtype=np.uint8)


@pytest.mark.parametrize(
    ("signal", "value", "why"),
    [("PDQ", "not-a-hash", "64 hex"), ("CHROMAPRINT", "AQAA####", "")],
)
def test_an_unusable_library_entry_is_dead_lettered_and_changes_nothing(
    settings: Settings,
    broker: str,
    writer: TopicWriter,
    worker: WorkerProcess,
    feature: Feature,
    signal: str,
    value: str,
    why: str,
) -> None:
    """Schema-valid but unusable: a worker must neither crash (libchromaprint's own decoder
    aborts on such input) nor keep a half-applied entry."""
    bad = f"mf-bad-{uuid.uuid4().hex[:6]}"
    entry = {
        "entry_id": bad,
        "signal": signal,
        "value": value,
        "category": "x",
        "severity": "HIGH",
        "note": None,
    }
    writer.write_and_wait(catalog.REGISTRY_MEDIA_FEATURES, entry)
    feature("PDQ", "0" * 63 + "1", "LOW")  # applied after the bad one: the worker lives on
    [letter] = records_for(settings, broker, catalog.DLQ, {bad}, field="key")
    assert (letter["stage"], letter["error_type"]) == ("registry", "ValidationError")
    assert why in letter["error"]
    status = worker.status()
    assert status is not None and status["media_features"] >= 1
