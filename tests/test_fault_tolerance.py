"""A worker SIGKILLed with thousands of artifacts in flight and started again (issue 8): every
artifact ends with exactly one compliance record, and every labeled image and audio file
verifies. The session's worker shares the load, so the kill also moves partitions twice.
Records a dead worker left without their `finalized` entries are planted too: a random kill
rarely lands between the two writes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers import (
    envelope,
    kill_after,
    media_envelope,
    read_all,
    read_until,
    records_for,
    verified_user,
    wait_committed,
)
from sounds import RATE, bunny_sound

from synthguard.blobs import BlobRef, open_store
from synthguard.labels.audio import verify_audio
from synthguard.labels.image import verify_image
from synthguard.labels.verify import LabelStatus
from synthguard.records import Record
from synthguard.samples.audio import encode_audio
from synthguard.samples.images import image_artifacts
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.audit import partition_for
from synthguard.streams.client import TopicWriter, envelope_from_json
from synthguard.streams.runner import WorkerProcess

TEXTS = 3000
IMAGE_COPIES = 4  # of each generated sample photo
SOUNDS = 6
# Texts whose record a worker emitted before it died without writing their `finalized`
# entries: the one crash window that a kill at a random moment rarely hits, made certain.
ORPHANS = 100
ORPHANED_AT = 1

pytestmark = pytest.mark.timeout(900)


def test_worker_killed_under_load_and_restarted_leaves_one_record_each(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess, tmp_path: Path
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    photos = [
        envelope_from_json(e)
        for e in image_artifacts(store, settings.keyring())
        if e["origin"] == "GENERATED" and e["artifact_id"].startswith("img-")
    ]
    song = tmp_path / "song.mp3"
    song.write_bytes(encode_audio(bunny_sound(12.0), RATE, "libmp3lame", bit_rate=128_000))
    song_ref = store.put_file(song, mime="audio/mpeg")
    media = [
        photo
        | {"artifact_id": f"{photo['artifact_id']}-{user}-{i}", "user_id": user}
        | {"service_id": "svc-test", "provider_id": "prov-test"}
        for photo in photos
        for i in range(IMAGE_COPIES)
    ] + [
        media_envelope(
            user,
            song_ref,
            "AUDIO",
            tech_category="VOICE_GENERATION",
            service_kind="VOICE_SYNTHESIS",
        )
        for _ in range(SOUNDS)
    ]
    texts = [envelope(f"第{i}条：今天晴，气温二十度。", user) for i in range(TEXTS)]
    # Media spread through the texts, so some are in flight when the worker dies.
    step = TEXTS // len(media)
    sources = [*texts]
    for i, item in enumerate(media):
        sources.insert(i * (step + 1), item)
    ids = {s["artifact_id"] for s in sources}
    assert len(ids) == len(sources)
    orphans = {t["artifact_id"] for t in texts[:ORPHANS]}
    first = envelope("今天晴。", user)
    writer.write(catalog.ARTIFACTS_SUBMITTED, first)
    [template] = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {first["artifact_id"]})
    for artifact_id in orphans:
        orphan = template | {"artifact_id": artifact_id, "emitted_at": ORPHANED_AT}
        writer.write(catalog.REPORTS_COMPLIANCE, orphan)
    writer.flush()

    # The doomed worker's join moves every partition: each new owner reads the orphans.
    doomed = WorkerProcess(settings, broker, "worker-fault")
    try:
        doomed.wait_ready()
        for source in sources:
            writer.write(catalog.ARTIFACTS_SUBMITTED, source)
        writer.flush()
        kill_after(doomed, "artifact", 200)
    finally:
        doomed.stop()
    again = WorkerProcess(settings, broker, "worker-fault")
    try:
        again.wait_ready()
        try:
            read_until(
                settings,
                broker,
                catalog.REPORTS_COMPLIANCE,
                lambda found: len({r["artifact_id"] for r in found}) >= len(ids),
                match=lambda r: r["artifact_id"] in ids,
                timeout_s=420,  # two rebalances and table recoveries, on 2 busy cores
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {missing(settings, broker, ids)}") from exc
        # Every artifact consumed and committed: nothing of this run can be delivered again.
        wait_committed(settings, broker, catalog.ARTIFACTS_SUBMITTED, settings.app_id)
    finally:
        again.stop()

    records = read_all(
        settings, broker, catalog.REPORTS_COMPLIANCE, lambda r: r["artifact_id"] in ids
    )
    copies = Counter(r["artifact_id"] for r in records)
    assert {n for n in copies.values()} == {1}, copies.most_common(5)
    by_id: dict[str, Record] = {r["artifact_id"]: r for r in records}
    assert {by_id[o]["emitted_at"] for o in orphans} == {ORPHANED_AT}  # not emitted again
    assert Counter(by_id[t["artifact_id"]]["verdict"] for t in texts) == {"PUBLISHABLE": TEXTS}
    for item in media:
        record = by_id[item["artifact_id"]]
        assert record["label"] is not None, (item["artifact_id"], record["verdict"])
        ref = BlobRef.from_record(record["label"]["blob"])
        if item["modality"] == "AUDIO":
            with store.open_file(ref, max_bytes=settings.max_av_bytes) as path:
                status = verify_audio(path, settings.keyring()).status
        else:
            status = verify_image(store.get(ref, max_bytes=10**8), settings.keyring()).status
        assert status is LabelStatus.INTACT, item["artifact_id"]


def missing(settings: Settings, broker: str, ids: set[str]) -> str:
    """Which artifacts have no record yet, on which partitions, and what the DLQ says."""
    records = read_all(
        settings, broker, catalog.REPORTS_COMPLIANCE, lambda r: r["artifact_id"] in ids
    )
    done = {r["artifact_id"] for r in records}
    lost = ids - done
    letters = read_all(settings, broker, catalog.DLQ, lambda d: d["key"] in lost)
    where = Counter(partition_for(a, list(range(settings.partitions))) for a in lost)
    return f"{len(lost)} without a record, by partition {dict(where)}; dead letters: " + str(
        Counter(f"{d['error_type']}: {d['error'][:80]}" for d in letters)
    )
