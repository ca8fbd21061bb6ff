"""review_artifact: artifacts.labeled -> artifacts.reviewed + the compliance record (Art. 10)."""

from __future__ import annotations

from typing import Any

from synthguard.records import Record
from synthguard.review.text import STAGE, review_text
from synthguard.streams.catalog import ARTIFACTS_LABELED, ARTIFACTS_REVIEWED
from synthguard.streams.context import Context
from synthguard.streams.registry import RegistryReader


def register(ctx: Context, registries: RegistryReader) -> None:
    async def handle(state: Record) -> None:
        await ctx.route(review_text(state, registries.keywords), ARTIFACTS_REVIEWED)

    @ctx.app.agent(ctx.source(ARTIFACTS_LABELED), name="review_artifact")
    async def review_artifact(stream: Any) -> None:
        await registries.ready.wait()
        async for event in stream.events():
            await ctx.process(event, STAGE, ARTIFACTS_LABELED, handle)
