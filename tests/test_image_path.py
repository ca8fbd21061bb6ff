"""The image stage over a real blob store: produce, propagate, refuse bad files (no broker)."""

from __future__ import annotations

import pytest

from synthguard.blobs import BlobError, BlobRef, LocalBlobStore
from synthguard.imagepath import ImagePolicy, label_image_artifact
from synthguard.labels.image import verify_image
from synthguard.labels.signing import Keyring
from synthguard.labels.verify import LabelStatus
from synthguard.labels.visible import Corner
from synthguard.media.image_io import MediaError
from synthguard.records import Record, StageOutput, new_state
from synthguard.samples.images import image_artifacts
from synthguard.streams.client import envelope_from_json

KEYS = Keyring({"k1": b"0123456789abcdef0123"}, "k1")
POLICY = ImagePolicy("prov-test", "plat-test", KEYS, "AI生成", Corner.BOTTOM_RIGHT, 10**8, 10**8)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalBlobStore:
    return LocalBlobStore(tmp_path_factory.mktemp("blobs"))


@pytest.fixture(scope="module")
def envelopes(store: LocalBlobStore) -> dict[str, Record]:
    return {e["artifact_id"]: envelope_from_json(e) for e in image_artifacts(store, KEYS)}


def run(envelope: Record, store: LocalBlobStore) -> tuple[StageOutput, Record, dict[str, str]]:
    """The stage's output, its compliance record, and each check's outcome by rule id."""
    out = label_image_artifact(new_state(envelope), POLICY, store)
    assert out.compliance is not None
    return out, out.compliance, {c["rule"]: c["outcome"] for c in out.compliance["checks"]}


def test_generated_image_is_labeled_stored_and_verifiable(
    store: LocalBlobStore, envelopes: dict[str, Record]
) -> None:
    out, record, rules = run(envelopes["img-astronaut"], store)
    assert record["verdict"] == "PUBLISHABLE"
    assert rules == {
        "label.implicit": "APPLIED",
        "label.watermark": "APPLIED",
        "label.explicit": "APPLIED",  # FACE_GENERATION is an Art. 17 (3) service
        "label.signature": "APPLIED",
    }
    label = record["label"]
    path = store.local_path(BlobRef.from_record(label["blob"]))
    assert path is not None and path.is_file()
    found = verify_image(path.read_bytes(), KEYS)
    assert found.status is LabelStatus.INTACT
    assert found.watermark.payload == int(label["watermark_id"], 16)
    assert label["record"]["ProduceID"] == "img-astronaut"
    assert out.forward is not None


def test_other_kind_gets_no_visible_label(
    store: LocalBlobStore, envelopes: dict[str, Record]
) -> None:
    _, record, rules = run(envelopes["img-chelsea"], store)
    assert rules["label.explicit"] == "NOT_APPLICABLE"
    path = store.local_path(BlobRef.from_record(record["label"]["blob"]))
    assert path is not None and path.suffix == ".webp"
    assert verify_image(path.read_bytes(), KEYS).explicit_corner is None


@pytest.mark.parametrize(
    ("artifact_id", "verdict", "incoming", "classification"),
    [
        ("redist-intact", "PUBLISHABLE", "intact", "confirmed"),
        ("redist-foreign", "PUBLISHABLE", "unknown_key", "confirmed"),
        ("redist-declared", "PUBLISHABLE", "unlabeled", "possibly"),
        ("redist-stripped", "HELD", "watermark_only", "suspected"),
        ("redist-altered", "HELD", "altered", "confirmed"),
    ],
)
def test_redistributed_images_are_verified_classified_and_relabeled(
    store: LocalBlobStore,
    envelopes: dict[str, Record],
    artifact_id: str,
    verdict: str,
    incoming: str,
    classification: str,
) -> None:
    out, record, rules = run(envelopes[artifact_id], store)
    assert record["verdict"] == verdict
    label = record["label"]
    assert label["incoming"] == incoming and label["classification"] == classification
    assert label["record"]["ContentPropagator"] == "plat-test"
    assert label["record"]["PropagateID"] == artifact_id
    tampered = verdict == "HELD"
    assert rules["label.incoming"] == ("FAIL" if tampered else "PASS")
    assert [a["kind"] for a in out.alerts] == (["TAMPERED_LABEL"] if tampered else [])
    assert all(a["severity"] == "HIGH" for a in out.alerts)
    assert [v["article"] for v in out.violations] == (["Art. 18"] if tampered else [])
    assert (out.forward is None) == tampered


def test_plain_redistributed_image_is_published_unlabeled(
    store: LocalBlobStore, envelopes: dict[str, Record]
) -> None:
    out, record, rules = run(envelopes["redist-plain"], store)
    assert record["verdict"] == "PUBLISHABLE" and record["label"] is None
    assert rules["label.propagation"] == "NOT_APPLICABLE"
    assert out.forward is not None


@pytest.mark.parametrize(
    ("artifact_id", "reason"),
    [
        ("bad-truncated", "truncated"),
        ("bad-mime", "mime_mismatch"),
        ("bad-bomb", "too_many_pixels"),
        ("bad-garbage", "unknown_format"),
        ("bad-empty", "empty"),
    ],
)
def test_bad_files_raise_a_media_error_with_the_reason(
    store: LocalBlobStore, envelopes: dict[str, Record], artifact_id: str, reason: str
) -> None:
    with pytest.raises(MediaError) as err:
        label_image_artifact(new_state(envelopes[artifact_id]), POLICY, store)
    assert err.value.reason == reason


def test_pixel_limit_is_configurable(store: LocalBlobStore, envelopes: dict[str, Record]) -> None:
    small = ImagePolicy("p", "q", KEYS, "AI生成", Corner.TOP_LEFT, 100_000, 10**8)
    with pytest.raises(MediaError, match="pixels"):
        label_image_artifact(new_state(envelopes["img-astronaut"]), small, store)


def test_a_blob_changed_behind_the_reference_is_refused(
    store: LocalBlobStore, envelopes: dict[str, Record]
) -> None:
    envelope = envelopes["img-coffee"]
    path = store.local_path(BlobRef.from_record(envelope["blob"]))
    assert path is not None
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(BlobError) as err:
            label_image_artifact(new_state(envelope), POLICY, store)
        assert err.value.reason == "digest_mismatch"
    finally:
        path.write_bytes(original)
