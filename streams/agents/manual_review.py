"""apply_review_decision: review.decisions -> the held artifact published or blocked, with the
reviewer on its compliance record (Art. 10 manual review).

Decisions are keyed by artifact_id on the artifact topics' partitions, so the worker that
holds the artifact (the `held_for_review` table) is the one that applies its decision."""

from __future__ import annotations

import logging
from typing import Any

from synthguard.audit import decision_event
from synthguard.errors import ValidationError
from synthguard.records import Record, Verdict
from synthguard.review.manual import STAGE, apply_decision
from synthguard.streams.catalog import ARTIFACTS_REVIEWED, AUDIT_LOG, REVIEW_DECISIONS
from synthguard.streams.context import Context

log = logging.getLogger(__name__)


def register(ctx: Context) -> None:
    async def handle(decision: Record) -> None:
        artifact_id = decision["artifact_id"]
        async with ctx.exclusive(artifact_id):
            state = ctx.held.get(artifact_id)
            if state is None:
                final = ctx.final(artifact_id)
                verdict = final and final["verdict"]
                if verdict is not None and verdict != Verdict.HELD:
                    log.info(
                        "artifact %s already decided (%s); decision dropped", artifact_id, verdict
                    )
                    return
                raise ValidationError(
                    f"artifact {artifact_id} is not held for review"
                    f" (verdict: {verdict or 'none on record'})"
                )
            output = apply_decision(state, decision)
            verdict = output.compliance and output.compliance["verdict"]
            await ctx.route(output, ARTIFACTS_REVIEWED, STAGE, state["envelope"])
            await ctx.emit(AUDIT_LOG, decision_event(decision, str(verdict)))
            ctx.held.pop(artifact_id, None)

    @ctx.app.agent(ctx.source(REVIEW_DECISIONS), name="apply_review_decision")
    async def apply_review_decision(stream: Any) -> None:
        async for event in stream.events():
            await ctx.process(event, STAGE, REVIEW_DECISIONS, handle)
