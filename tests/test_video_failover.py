"""A watermark worker killed (SIGKILL) in the middle of a video: the segments it held are
redone by the surviving worker, the reassembler's table survives through its changelog, and the
video ends with exactly one compliance record and a complete file that verifies."""

from __future__ import annotations

from pathlib import Path

import av
import orjson
import pytest
from clips import bunny_clip
from helpers import kill_after, media_envelope, read_until, records_for, verified_user

from synthguard.blobs import BlobRef, open_store
from synthguard.labels.verify import LabelStatus
from synthguard.labels.video import verify_video
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.agents.video import stalled_jobs
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess


def test_worker_killed_mid_video_leaves_one_complete_verified_video(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess, tmp_path: Path
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    # 40 s of real footage: ten 4 s segments, spread over both workers' partitions
    frames = 25 * 40
    clip = bunny_clip(tmp_path / "long.mp4", frames=frames, gop=25, audio=False)
    doomed = WorkerProcess(settings, broker, "worker-doomed")
    try:
        doomed.wait_ready()
        video = media_envelope(
            user,
            store.put_file(clip, mime="video/mp4"),
            "VIDEO",
            tech_category="NON_BIOMETRIC_IMAGE_VIDEO",
            service_kind="OTHER",
        )
        writer.write(catalog.ARTIFACTS_SUBMITTED, video)
        writer.flush()
        kill_after(doomed, "segment", 1)  # mid-video, most likely mid-segment
    finally:
        doomed.stop()

    [record] = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {video["artifact_id"]})
    assert record["verdict"] == "PUBLISHABLE"
    ref = BlobRef.from_record(record["label"]["blob"])
    with store.open_file(ref, max_bytes=settings.max_av_bytes) as labeled:
        assert verify_video(labeled, settings.keyring()).status is LabelStatus.INTACT
        with av.open(str(labeled)) as container:
            assert sum(1 for _ in container.decode(video=0)) == frames  # it plays, whole
    # Exactly one compliance record, however many times a segment was done.
    with pytest.raises(AssertionError, match="with 1 records"):
        read_until(
            settings,
            broker,
            catalog.REPORTS_COMPLIANCE,
            lambda found: len(found) > 1,
            match=lambda r: r["artifact_id"] == video["artifact_id"],
            timeout_s=5,
        )


def test_stalled_segments_are_issued_again_under_new_keys() -> None:
    jobs = [{"job_id": f"v/{i}", "index": i, "artifact_id": "v"} for i in range(4)]
    entry = {"jobs": orjson.dumps(jobs).decode(), "parts": {"0": {}, "2": {}}, "count": 4}
    again = stalled_jobs(entry, attempt=2)
    assert [job["index"] for job in again] == [1, 3]  # only the missing ones
    assert [job["job_id"] for job in again] == ["v/1/again-2", "v/3/again-2"]
    keys = {catalog.MEDIA_SEGMENTS.key_of(job) for job in again}
    assert keys.isdisjoint({catalog.MEDIA_SEGMENTS.key_of(job) for job in jobs})
