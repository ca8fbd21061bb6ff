"""admit_artifact: artifacts.submitted -> artifacts.admitted (Art. 9 gate)."""

from __future__ import annotations

from typing import Any

from synthguard.intake import STAGE, admit
from synthguard.records import Record
from synthguard.streams.catalog import ARTIFACTS_ADMITTED, ARTIFACTS_SUBMITTED
from synthguard.streams.context import Context
from synthguard.streams.registry import RegistryReader


def register(ctx: Context, registries: RegistryReader) -> None:
    max_bytes = ctx.settings.max_text_bytes

    async def handle(envelope: Record) -> None:
        await ctx.route(admit(envelope, registries.realname, max_bytes), ARTIFACTS_ADMITTED)

    @ctx.app.agent(ctx.source(ARTIFACTS_SUBMITTED), name="admit_artifact")
    async def admit_artifact(stream: Any) -> None:
        await registries.ready.wait()
        async for event in stream.events():
            await ctx.process(event, STAGE, ARTIFACTS_SUBMITTED, handle)
