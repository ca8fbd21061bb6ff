"""act_on_user: users.violations -> users.actions, escalating on the Art. 10 ladder.

Violations are keyed by user_id, so one worker owns each user's strike count."""

from __future__ import annotations

from typing import Any

from synthguard.audit import action_event
from synthguard.records import Record
from synthguard.streams.catalog import AUDIT_LOG, USERS_ACTIONS, USERS_VIOLATIONS
from synthguard.streams.context import Context
from synthguard.users import apply_violation, new_user_state

STAGE = "users"


def register(ctx: Context) -> None:
    ladder = ctx.settings.user_ladder
    strikes = ctx.strikes

    async def handle(violation: Record) -> None:
        user_id = violation["user_id"]
        state, action = apply_violation(strikes.get(user_id) or new_user_state(), violation, ladder)
        strikes[user_id] = state
        if action is not None:
            await ctx.emit(USERS_ACTIONS, action)
            await ctx.emit(AUDIT_LOG, action_event(action))

    @ctx.app.agent(ctx.source(USERS_VIOLATIONS), name="act_on_user")
    async def act_on_user(stream: Any) -> None:
        async for event in stream.events():
            await ctx.process(event, STAGE, USERS_VIOLATIONS, handle)
