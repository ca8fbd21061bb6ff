"""Strikes and the Art. 10 measures ladder: warning, function restriction, suspension,
account closure. Pure: the caller keeps the per-user state in a table keyed by user_id."""

from __future__ import annotations

from synthguard.records import Record, new_id, now_ms
from synthguard.review.ladder import Ladder

# Violation ids remembered per user, so a redelivered violation is not a second strike.
SEEN_LIMIT = 256


def new_user_state() -> Record:
    return {"strikes": 0, "seen": []}


def apply_violation(
    user_state: Record, violation: Record, ladder: Ladder
) -> tuple[Record, Record | None]:
    """Returns the new state and the user action to emit (None for a duplicate or no step)."""
    if violation["violation_id"] in user_state["seen"]:
        return user_state, None
    strikes = user_state["strikes"] + 1
    seen = [*user_state["seen"], violation["violation_id"]][-SEEN_LIMIT:]
    state = {"strikes": strikes, "seen": seen}
    kind = ladder.action_for(strikes)
    if kind is None:
        return state, None
    return state, {
        "action_id": new_id("action"),
        "user_id": violation["user_id"],
        "action": kind.value,
        "strikes": strikes,
        "article": violation["article"],
        "reason": violation["reason"],
        "artifact_id": violation["artifact_id"],
        "ladder": str(ladder),
        "at": now_ms(),
    }
