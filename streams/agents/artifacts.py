"""process_artifact: artifacts.submitted -> artifacts.reviewed (publishable, labeled) plus the
compliance record, alerts, regulator reports and strikes (Art. 9, 10, 16-18).

Every artifact passes the same Art. 9 gate here; texts are labeled and reviewed on the event
loop (about 130 us each), images and audio go to the media process pool, and generated videos
are cut into segments for the watermark workers (agents.video). `media_workers` actors run
side by side, so a photo being watermarked never holds up the texts behind it.
"""

from __future__ import annotations

from typing import Any

from synthguard.complaints.reopen import verify_reserved
from synthguard.intake import admit
from synthguard.labeling import LabelPolicy
from synthguard.records import Record
from synthguard.streams.agents import video
from synthguard.streams.agents.media import MediaPool
from synthguard.streams.catalog import ARTIFACTS_REVIEWED, ARTIFACTS_SUBMITTED
from synthguard.streams.concurrent import each_concurrently
from synthguard.streams.context import Context
from synthguard.streams.registry import RegistryReader
from synthguard.textpath import process_text

STAGE = "artifact"
# Artifacts in flight per worker, at least one per media process. Each waits for its
# compliance record's ack before its `finalized` entry (synthguard.report_marks), ~6 ms here:
# with two in flight that wait halved text throughput (bench/README.md); eight hide it.
MIN_IN_FLIGHT = 8


def register(ctx: Context, registries: RegistryReader, media: MediaPool) -> None:
    s = ctx.settings
    policy = LabelPolicy(s.producer_id, s.keyring(), s.notice_zh, s.notice_en, s.notice_position)

    async def handle(envelope: Record) -> None:
        async with ctx.exclusive(envelope["artifact_id"]):
            final = ctx.final(envelope["artifact_id"])
            verify_reserved(envelope, final and final["reopened"])
            await decide(envelope)

    async def decide(envelope: Record) -> None:
        output = admit(
            envelope, registries.gates, s.max_text_bytes, s.max_blob_bytes, s.max_av_bytes
        )
        state = output.forward
        modality = envelope["modality"]
        if state is None:
            pass
        elif modality == "IMAGE":
            output = await media.label_image(state)
        elif modality == "AUDIO":
            output = await media.label_audio(state)
        elif modality == "VIDEO" and envelope["origin"] == "REDISTRIBUTED":
            output = await media.propagate_video(state)
        elif modality == "VIDEO":
            await video.open_video(ctx, media, state)  # finished by assemble_video
            return
        else:
            output = process_text(
                state, policy=policy, library=registries.keywords, rumors=registries.rumors
            )
        await ctx.route(output, ARTIFACTS_REVIEWED, STAGE, envelope)

    @ctx.app.agent(ctx.source(ARTIFACTS_SUBMITTED), name="process_artifact")
    async def process_artifact(stream: Any) -> None:
        await registries.ready.wait()
        await each_concurrently(
            stream,
            max(s.media_workers, MIN_IN_FLIGHT),
            lambda event: ctx.process(event, STAGE, ARTIFACTS_SUBMITTED, handle),
        )
