"""label_artifact: artifacts.admitted -> artifacts.labeled (Art. 16, 17, 18)."""

from __future__ import annotations

from typing import Any

from synthguard.labeling import STAGE, LabelPolicy, label_text_artifact
from synthguard.records import Record
from synthguard.streams.catalog import ARTIFACTS_ADMITTED, ARTIFACTS_LABELED
from synthguard.streams.context import Context


def register(ctx: Context) -> None:
    s = ctx.settings
    policy = LabelPolicy(s.producer_id, s.keyring(), s.notice_zh, s.notice_en, s.notice_position)

    async def handle(state: Record) -> None:
        await ctx.route(label_text_artifact(state, policy), ARTIFACTS_LABELED)

    @ctx.app.agent(ctx.source(ARTIFACTS_ADMITTED), name="label_artifact")
    async def label_artifact(stream: Any) -> None:
        async for event in stream.events():
            await ctx.process(event, STAGE, ARTIFACTS_ADMITTED, handle)
