"""process_text_artifact: artifacts.submitted -> artifacts.reviewed (publishable, labeled)
plus the compliance record, alerts, regulator reports and strikes (Art. 9, 10, 16-18)."""

from __future__ import annotations

from typing import Any

from synthguard.labeling import LabelPolicy
from synthguard.records import Record
from synthguard.streams.catalog import ARTIFACTS_REVIEWED, ARTIFACTS_SUBMITTED
from synthguard.streams.context import Context
from synthguard.streams.registry import RegistryReader
from synthguard.textpath import process_text

STAGE = "text"


def register(ctx: Context, registries: RegistryReader) -> None:
    s = ctx.settings
    policy = LabelPolicy(s.producer_id, s.keyring(), s.notice_zh, s.notice_en, s.notice_position)

    async def handle(envelope: Record) -> None:
        output = process_text(
            envelope,
            realname=registries.realname,
            max_text_bytes=s.max_text_bytes,
            policy=policy,
            library=registries.keywords,
        )
        await ctx.route(output, ARTIFACTS_REVIEWED)

    @ctx.app.agent(ctx.source(ARTIFACTS_SUBMITTED), name="process_text_artifact")
    async def process_text_artifact(stream: Any) -> None:
        await registries.ready.wait()
        async for event in stream.events():
            await ctx.process(event, STAGE, ARTIFACTS_SUBMITTED, handle)
