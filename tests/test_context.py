"""Context.exclusive: one handler at a time per artifact within a worker, others side by side."""

from __future__ import annotations

import asyncio

from synthguard.settings import Settings
from synthguard.streams.app import faust_app
from synthguard.streams.context import Context


def test_copies_of_one_artifact_are_handled_one_at_a_time(settings: Settings) -> None:
    app = faust_app("exclusive-test", settings, "127.0.0.1:9", None)
    ctx = Context(app, settings, "127.0.0.1:9")
    running: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handle(artifact_id: str) -> None:
        async with ctx.exclusive(artifact_id):
            running[artifact_id] = running.get(artifact_id, 0) + 1
            peak[artifact_id] = max(peak.get(artifact_id, 0), running[artifact_id])
            await asyncio.sleep(0.01)
            running[artifact_id] -= 1

    async def main() -> None:
        await asyncio.gather(*(handle(a) for a in ["a", "a", "a", "b", "c"]))

    asyncio.run(main())
    assert peak == {"a": 1, "b": 1, "c": 1}
    assert not ctx._inflight  # nothing left behind once every copy is done
