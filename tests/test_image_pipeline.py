"""The image path end to end: claim checks in the worker's blob store, the worker's media
processes, report topics on the embedded broker; bad files dead-lettered, the path unbroken."""

from __future__ import annotations

import pytest
from helpers import ADMITTED, envelope, records_for, verified_user

from synthguard.blobs import BlobRef, open_store
from synthguard.labels.image import verify_image
from synthguard.labels.verify import LabelStatus
from synthguard.records import Record
from synthguard.samples.images import image_artifacts
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter, envelope_from_json
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def test_images_are_labeled_verified_and_bad_files_dead_lettered(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    samples = {
        e["artifact_id"]: envelope_from_json(e) for e in image_artifacts(store, settings.keyring())
    }
    # Fresh ids and a verified user per run, so the test never reads another run's records.
    chosen = ["img-astronaut", "img-chelsea", "redist-stripped", "redist-declared"]
    bad = ["bad-truncated", "bad-mime", "bad-bomb", "bad-garbage", "bad-empty"]
    sent: dict[str, Record] = {}
    for name in chosen + bad:
        # the test service (assessed, tests/conftest.py) stands in for the samples' own
        source = samples[name] | {
            "artifact_id": f"{name}-{user}",
            "user_id": user,
            "service_id": "svc-test",
            "provider_id": "prov-test",
        }
        sent[name] = source
        writer.write(catalog.ARTIFACTS_SUBMITTED, source)
    after = envelope("坏文件之后的文本照常处理。", user, service_kind="WRITING")
    writer.write(catalog.ARTIFACTS_SUBMITTED, after)
    writer.flush()

    good_ids = {sent[n]["artifact_id"] for n in chosen} | {after["artifact_id"]}
    records = {
        r["artifact_id"]: r
        for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, good_ids)
    }
    astronaut = records[sent["img-astronaut"]["artifact_id"]]
    assert astronaut["verdict"] == "PUBLISHABLE"
    assert {c["rule"]: c["outcome"] for c in astronaut["checks"]} == {
        **ADMITTED,
        "label.implicit": "APPLIED",
        "label.watermark": "APPLIED",
        "label.explicit": "APPLIED",
        "label.signature": "APPLIED",
        "review.media": "PASS",
        "rumor.refuted": "PASS",
    }
    labeled = store.get(BlobRef.from_record(astronaut["label"]["blob"]), max_bytes=10**8)
    assert verify_image(labeled, settings.keyring()).status is LabelStatus.INTACT

    stripped = records[sent["redist-stripped"]["artifact_id"]]
    assert stripped["verdict"] == "HELD"
    assert stripped["label"]["incoming"] == "watermark_only"
    declared = records[sent["redist-declared"]["artifact_id"]]
    assert declared["label"]["classification"] == "possibly"
    assert records[after["artifact_id"]]["verdict"] == "PUBLISHABLE"

    [alert] = records_for(
        settings, broker, catalog.REPORTS_ALERTS, {sent["redist-stripped"]["artifact_id"]}
    )
    assert alert["kind"] == "TAMPERED_LABEL" and alert["severity"] == "HIGH"

    bad_ids = {sent[n]["artifact_id"] for n in bad}
    letters = {
        r["key"]: r for r in records_for(settings, broker, catalog.DLQ, bad_ids, field="key")
    }
    expected = {
        "bad-truncated": ("MediaError", "truncated: "),
        "bad-mime": ("MediaError", "mime_mismatch: "),
        "bad-bomb": ("MediaError", "too_many_pixels: "),
        "bad-garbage": ("MediaError", "unknown_format: "),
        "bad-empty": ("ValidationError", "blob size 0"),  # refused at intake, from the envelope
    }
    assert set(expected) == set(bad)
    for name, (error_type, reason) in expected.items():
        letter = letters[sent[name]["artifact_id"]]
        assert letter["error_type"] == error_type and reason in letter["error"]
        assert letter["retryable"] is False and letter["stage"] == "artifact"
