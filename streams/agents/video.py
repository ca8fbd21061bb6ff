"""The parallel video path (Art. 16, 17): label_segments and assemble_video.

process_artifact cuts a generated video into keyframe-aligned segments and publishes one job
per segment on media.segments (claim checks, never frames) after an OPENED event on
media.assembly. label_segments, in every worker and `media_workers` processes each, labels
and encodes whichever segments it is given. assemble_video keeps each video's parts in a
changelogged table keyed by artifact_id, takes the first result of each segment, and when
the last part arrives joins, signs, verifies and routes the video like any other artifact.

Failures: a worker that dies mid-segment leaves its job uncommitted, so the job is redone
by the worker that takes over the partition. A partition that stops moving (a worker alive
but stuck, or a consumer that fetches nothing after a rebalance, seen with Faust) must not
stall the video either: when a video has made no progress for `segment_timeout_s`, its
missing segments are issued again under new keys, so other partitions and workers take
them. A segment that fails for good dead-letters its video under the artifact_id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

import orjson

from synthguard.blobs import BlobRef
from synthguard.dlq import is_retryable
from synthguard.errors import ValidationError
from synthguard.records import Record
from synthguard.streams.agents.media import MediaPool
from synthguard.streams.catalog import ARTIFACTS_REVIEWED, MEDIA_ASSEMBLY, MEDIA_SEGMENTS
from synthguard.streams.context import Context

log = logging.getLogger(__name__)
SEGMENT_STAGE = "segment"
ASSEMBLY_STAGE = "assemble"
MAX_REISSUES: Final = 3


class SegmentFailedError(ValidationError):
    """A segment could not be labeled: the video is dead-lettered under its artifact_id."""


async def open_video(ctx: Context, media: MediaPool, state: Record) -> None:
    """Cut the video and hand its segments out; the OPENED event goes first, so the
    reassembler holds the state (and the jobs, to re-issue) before most parts arrive."""
    state["media_hashes"] = await media.hash_video(state)
    jobs = await media.open_video(state)
    opened = event(state["envelope"]["artifact_id"], "OPENED", len(jobs), state=state, jobs=jobs)
    await ctx.emit(MEDIA_ASSEMBLY, opened)
    for job in jobs:
        await ctx.emit(MEDIA_SEGMENTS, job)


def event(
    artifact_id: str,
    kind: str,
    count: int,
    *,
    index: int = -1,
    part: BlobRef | None = None,
    state: Record | None = None,
    jobs: list[Record] | None = None,
    error: str | None = None,
) -> Record:
    return {
        "artifact_id": artifact_id,
        "kind": kind,
        "count": count,
        "index": index,
        "part": None if part is None else part.to_record(),
        "state": None if state is None else orjson.dumps(state).decode(),
        "jobs": None if jobs is None else orjson.dumps(jobs).decode(),
        "error": error,
    }


class SegmentLabeler:
    """Labels one segment in the media pool; stateless, so any worker (or the watermark
    group's workers alone) can run it."""

    def __init__(self, ctx: Context, media: MediaPool) -> None:
        self.ctx, self.media = ctx, media

    async def handle_segment(self, job: Record) -> None:
        try:
            part = await self.media.label_segment(job)
        except Exception as exc:
            if is_retryable(exc):
                raise  # the usual retries; a crash leaves the job to another worker
            reason = getattr(exc, "reason", type(exc).__name__)
            message = f"{reason}: segment {job['index']}: {exc}"
            failed = event(
                job["artifact_id"],
                "SEGMENT_FAILED",
                job["count"],
                index=job["index"],
                error=message,
            )
            await self.ctx.emit(MEDIA_ASSEMBLY, failed)
            return
        done = event(
            job["artifact_id"], "SEGMENT_DONE", job["count"], index=job["index"], part=part
        )
        await self.ctx.emit(MEDIA_ASSEMBLY, done)


class VideoAssembly:
    """The assembly handler and the stall timer, around one table and the local bookkeeping."""

    def __init__(self, ctx: Context, media: MediaPool) -> None:
        self.ctx, self.media = ctx, media
        # artifact_id -> {"state", "jobs": JSON | None, "count": n, "parts": {index: ref}}
        self.table = ctx.app.Table("video_assembly", partitions=ctx.settings.partitions)
        # For the assemblies this worker runs (a timer may read the table, not write it):
        # artifact_id -> monotonic time of its last progress, and how often it was re-issued.
        self.progress: dict[str, float] = {}
        self.reissued: dict[str, int] = {}

    async def handle_assembly(self, ev: Record) -> None:
        artifact_id = ev["artifact_id"]
        if self.ctx.is_final(artifact_id):
            log.info("video %s already finalized; %s dropped", artifact_id, ev["kind"])
            self.ctx.metrics.count("duplicates", ASSEMBLY_STAGE)
            return
        entry: dict[str, Any] = self.table.get(artifact_id) or {
            "state": None,
            "jobs": None,
            "count": ev["count"],
            "parts": {},
        }
        if ev["kind"] == "SEGMENT_FAILED":
            self.table.pop(artifact_id, None)
            self.forget(artifact_id)
            raise SegmentFailedError(ev["error"] or "a segment failed")
        if ev["kind"] == "OPENED":
            entry["state"], entry["jobs"] = ev["state"], ev["jobs"]
        elif str(ev["index"]) in entry["parts"]:
            self.ctx.metrics.count("duplicates", ASSEMBLY_STAGE)  # redone: the first one wins
        else:
            entry["parts"][str(ev["index"])] = ev["part"]
        self.table[artifact_id] = entry
        self.progress[artifact_id] = time.monotonic()
        if entry["state"] is None or len(entry["parts"]) < entry["count"]:
            return
        state = orjson.loads(entry["state"])
        parts = [BlobRef.from_record(entry["parts"][str(i)]) for i in range(entry["count"])]
        output = await self.media.assemble_video(state, parts)
        await self.ctx.route(output, ARTIFACTS_REVIEWED, ASSEMBLY_STAGE, state["envelope"])
        self.table.pop(artifact_id, None)
        self.forget(artifact_id)

    async def reissue_stalled(self) -> None:
        now, timeout = time.monotonic(), self.ctx.settings.segment_timeout_s
        for artifact_id, last in list(self.progress.items()):
            entry = self.table.get(artifact_id)
            if entry is None or entry["jobs"] is None:
                self.forget(artifact_id)
                continue
            attempt = self.reissued.get(artifact_id, 0) + 1
            if now - last < timeout or attempt > MAX_REISSUES:
                continue
            self.progress[artifact_id], self.reissued[artifact_id] = now, attempt
            for job in stalled_jobs(entry, attempt=attempt):
                log.warning("video %s: segment %s stalled; issued again", artifact_id, job["index"])
                self.ctx.metrics.count("reissued", SEGMENT_STAGE)
                await self.ctx.emit(MEDIA_SEGMENTS, job)

    def forget(self, artifact_id: str) -> None:
        self.progress.pop(artifact_id, None)
        self.reissued.pop(artifact_id, None)


def register_segments(ctx: Context, media: MediaPool) -> None:
    labeler = SegmentLabeler(ctx, media)
    s = ctx.settings

    # One actor taking up to `media_workers` jobs at a time and running them side by side, not
    # `media_workers` actors: after a rebalance, Faust's concurrent actors were seen to take
    # one event each from the partitions they inherited and never another. take_events acks
    # a batch only once every job in it is done, so a crash still leaves them uncommitted.
    @ctx.app.agent(ctx.source(MEDIA_SEGMENTS), name="label_segments")
    async def label_segments(stream: Any) -> None:
        async for events in stream.take_events(s.media_workers, within=0.01):
            await asyncio.gather(
                *(
                    ctx.process(ev, SEGMENT_STAGE, MEDIA_SEGMENTS, labeler.handle_segment)
                    for ev in events
                )
            )


def register_assembly(ctx: Context, media: MediaPool) -> None:
    videos = VideoAssembly(ctx, media)
    s = ctx.settings

    @ctx.app.agent(ctx.source(MEDIA_ASSEMBLY), name="assemble_video")
    async def assemble_video(stream: Any) -> None:
        async for ev in stream.events():
            await ctx.process(ev, ASSEMBLY_STAGE, MEDIA_ASSEMBLY, videos.handle_assembly)

    @ctx.app.timer(interval=max(1.0, s.segment_timeout_s / 4))  # type: ignore[untyped-decorator]
    async def reissue_stalled_segments() -> None:
        await videos.reissue_stalled()


def stalled_jobs(entry: dict[str, Any], *, attempt: int) -> list[Record]:
    """The jobs of the segments still missing, under keys that land on other partitions."""
    jobs: list[Record] = orjson.loads(entry["jobs"])
    return [
        job | {"job_id": f"{job['job_id']}/again-{attempt}"}
        for job in jobs
        if str(job["index"]) not in entry["parts"]
    ]
