"""Strikes and the Art. 10 measures ladder: warning, function restriction, suspension,
account closure; and lifting a measure when the user's appeal is upheld (Art. 12). Pure: the
caller keeps the per-user state in a table keyed by user_id."""

from __future__ import annotations

from synthguard.records import Record, now_ms, stable_id
from synthguard.review.ladder import Ladder

# Violation ids remembered per user, so a redelivered violation is not a second strike.
SEEN_LIMIT = 256
# Measures remembered per user: what an appeal can name.
ACTIONS_LIMIT = 64
LIFTED = "LIFTED"


def new_user_state() -> Record:
    return {"strikes": 0, "seen": [], "actions": []}


def apply_violation(
    user_state: Record, violation: Record, ladder: Ladder
) -> tuple[Record, Record | None]:
    """Returns the new state and the user action to emit (None for a duplicate or no step)."""
    if violation["violation_id"] in user_state["seen"]:
        return user_state, None
    strikes = user_state["strikes"] + 1
    seen = [*user_state["seen"], violation["violation_id"]][-SEEN_LIMIT:]
    state = {**user_state, "strikes": strikes, "seen": seen}
    kind = ladder.action_for(strikes)
    if kind is None:
        return state, None
    action = _action(
        violation["user_id"],
        kind.value,
        strikes,
        article=violation["article"],
        reason=violation["reason"],
        artifact_id=violation["artifact_id"],
        ladder=ladder,
        cause=violation["violation_id"],
    )
    remembered = {
        "action_id": action["action_id"],
        "action": kind.value,
        "artifact_id": violation["artifact_id"],
        "lifted": False,
    }
    state["actions"] = [*user_state.get("actions", []), remembered][-ACTIONS_LIMIT:]
    return state, action


def lift_action(
    user_state: Record, user_id: str, action_id: str, reason: str, ladder: Ladder
) -> tuple[Record, Record | None]:
    """Withdraw a measure and the strike behind it; None when it is unknown or already lifted
    (a redelivered decision)."""
    actions = user_state.get("actions", [])
    found = next((a for a in actions if a["action_id"] == action_id and not a["lifted"]), None)
    if found is None:
        return user_state, None
    strikes = max(0, user_state["strikes"] - 1)
    state = {
        **user_state,
        "strikes": strikes,
        "actions": [{**a, "lifted": True} if a is found else a for a in actions],
    }
    reason = f"{found['action']} {action_id} lifted: {reason}"
    action = _action(
        user_id,
        LIFTED,
        strikes,
        article="Art. 12",
        reason=reason,
        artifact_id=found["artifact_id"],
        ladder=ladder,
        cause=f"lift\x1f{action_id}",
        lifts=action_id,
    )
    return state, action


def _action(
    user_id: str,
    kind: str,
    strikes: int,
    *,
    article: str,
    reason: str,
    artifact_id: str,
    ladder: Ladder,
    cause: str,
    lifts: str | None = None,
) -> Record:
    return {
        # One measure per violation, one lift per measure: a violation redelivered before the
        # user's table entry was written makes its action again, and the same id keeps an
        # appeal naming the first copy valid.
        "action_id": stable_id("action", user_id, cause),
        "user_id": user_id,
        "action": kind,
        "strikes": strikes,
        "article": article,
        "reason": reason,
        "artifact_id": artifact_id,
        "ladder": str(ladder),
        "at": now_ms(),
        "lifts": lifts,
    }
