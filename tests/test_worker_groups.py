"""Worker groups: a `pipeline` worker beside a `watermark` worker (its own consumer group)
label a video together: only the watermark worker labels its segments, the pipeline worker
opens and assembles it, and the labeled file verifies; a watermark worker killed mid-segment
and started again loses nothing. On a broker of its own, so the session's `all` worker does
not label these segments too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from clips import bunny_clip
from helpers import events_total, kill_after, media_envelope, read_all, records_for

from synthguard.blobs import BlobRef, BlobStore, open_store
from synthguard.labels.verify import LabelStatus
from synthguard.labels.video import verify_video
from synthguard.records import Record, now_ms
from synthguard.settings import Settings, load_settings
from synthguard.streams import catalog
from synthguard.streams.admin import create_topics
from synthguard.streams.broker import EmbeddedBroker
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

USER = "u-groups"


def video_envelope(store: BlobStore, clip: Path) -> Record:
    return media_envelope(
        USER,
        store.put_file(clip, mime="video/mp4"),
        "VIDEO",
        tech_category="NON_BIOMETRIC_IMAGE_VIDEO",
        service_kind="OTHER",
    )


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    home = tmp_path_factory.mktemp("groups")
    with EmbeddedBroker() as broker:
        settings = load_settings(
            env={"SYNTHGUARD_BROKER": f"kafka://{broker.bootstrap}", "SYNTHGUARD_HOME": str(home)}
        )
        create_topics(settings, broker.bootstrap)
        writer = TopicWriter(settings, broker.bootstrap)
        entry = {"user_id": USER, "status": "VERIFIED", "method": "PHONE", "verified_at": now_ms()}
        writer.write(catalog.REGISTRY_REALNAME, entry)
        writer.close()
        yield settings, broker.bootstrap


def test_pipeline_and_watermark_groups_label_a_video_together(
    grouped: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, broker = grouped
    pipeline = WorkerProcess(settings, broker, "grouped-pipeline", group="pipeline")
    watermark = WorkerProcess(settings, broker, "grouped-watermark", group="watermark")
    try:
        pipeline.wait_ready()
        watermark.wait_ready()
        store = open_store(settings.blob_store_spec())
        clip = bunny_clip(tmp_path / "clip.mp4", frames=25 * 8, gop=25, audio=False)
        video = video_envelope(store, clip)
        writer = TopicWriter(settings, broker)
        writer.write(catalog.ARTIFACTS_SUBMITTED, video)
        writer.close()

        [record] = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {video["artifact_id"]})
        assert record["verdict"] == "PUBLISHABLE"
        ref = BlobRef.from_record(record["label"]["blob"])
        with store.open_file(ref, max_bytes=settings.max_av_bytes) as labeled:
            assert verify_video(labeled, settings.keyring()).status is LabelStatus.INTACT
        # 8 s cut at 4 s: two segments, both labeled by the watermark group, none by the other.
        assert events_total(watermark, "segment") >= 2
        assert events_total(pipeline, "segment") == 0
        assert events_total(pipeline, "assemble") >= 3  # opened, and each segment done
    finally:
        pipeline.stop()
        watermark.stop()


@pytest.mark.timeout(600)
def test_a_watermark_worker_killed_mid_segment_and_restarted_loses_nothing(
    grouped: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, broker = grouped
    store = open_store(settings.blob_store_spec())
    frames = 25 * 16  # four 4 s segments each
    clip = bunny_clip(tmp_path / "clip.mp4", frames=frames, gop=25, audio=False)
    videos = [video_envelope(store, clip) for _ in range(3)]
    ids = {v["artifact_id"] for v in videos}
    pipeline = WorkerProcess(settings, broker, "killed-pipeline", group="pipeline")
    doomed = WorkerProcess(settings, broker, "killed-watermark", group="watermark")
    try:
        pipeline.wait_ready()
        doomed.wait_ready()
        writer = TopicWriter(settings, broker)
        for video in videos:
            writer.write(catalog.ARTIFACTS_SUBMITTED, video)
        writer.close()
        kill_after(doomed, "segment", 1)  # with 11 segments to go: mid-segment
        doomed.stop()
        again = WorkerProcess(settings, broker, "killed-watermark", group="watermark")
        try:
            again.wait_ready()
            records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids)
            assert events_total(again, "segment") >= 1  # the restarted worker took over
        finally:
            again.stop()
    finally:
        pipeline.stop()
        doomed.stop()

    records = read_all(
        settings, broker, catalog.REPORTS_COMPLIANCE, lambda r: r["artifact_id"] in ids
    )
    assert Counter(r["artifact_id"] for r in records) == dict.fromkeys(ids, 1)
    for record in records:
        assert record["verdict"] == "PUBLISHABLE"
        ref = BlobRef.from_record(record["label"]["blob"])
        with store.open_file(ref, max_bytes=settings.max_av_bytes) as labeled:
            assert verify_video(labeled, settings.keyring()).status is LabelStatus.INTACT
            with av.open(str(labeled)) as container:
                assert sum(1 for _ in container.decode(video=0)) == frames  # whole
