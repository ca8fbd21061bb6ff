from __future__ import annotations

from typing import Any

import pytest

from synthguard.errors import ConfigError
from synthguard.review.ladder import DEFAULT_LADDER, Ladder, UserActionKind
from synthguard.users import apply_violation, lift_action, new_user_state


def test_default_ladder_escalates_by_strike_count() -> None:
    assert [DEFAULT_LADDER.action_for(n) for n in range(7)] == [
        None,
        UserActionKind.WARNING,
        UserActionKind.FUNCTION_RESTRICTION,
        UserActionKind.SUSPENSION,
        UserActionKind.SUSPENSION,
        UserActionKind.ACCOUNT_CLOSURE,
        UserActionKind.ACCOUNT_CLOSURE,
    ]


def test_default_ladder_round_trips() -> None:
    spec = "1:WARNING,2:FUNCTION_RESTRICTION,3:SUSPENSION,5:ACCOUNT_CLOSURE"
    assert str(DEFAULT_LADDER) == spec
    assert Ladder.parse(spec) == DEFAULT_LADDER
    assert DEFAULT_LADDER.action_for(1000) is UserActionKind.ACCOUNT_CLOSURE
    assert DEFAULT_LADDER.action_for(-1) is None


def test_a_ladder_may_skip_measures() -> None:
    ladder = Ladder(((3, UserActionKind.WARNING), (10, UserActionKind.ACCOUNT_CLOSURE)))
    assert [ladder.action_for(n) for n in (2, 3, 9, 10)] == [
        None,
        UserActionKind.WARNING,
        UserActionKind.WARNING,
        UserActionKind.ACCOUNT_CLOSURE,
    ]


def test_parse_round_trips_and_is_case_insensitive() -> None:
    spec = "2:warning, 4:SUSPENSION"
    ladder = Ladder.parse(spec)
    assert str(ladder) == "2:WARNING,4:SUSPENSION"
    assert Ladder.parse(str(ladder)) == ladder
    assert ladder.action_for(1) is None


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "1:WARNING,",
        "-1:WARNING",
        "1:WARNING;2:SUSPENSION",
        "1:WARNING,1:SUSPENSION",
        "2:SUSPENSION,3:WARNING",
        "0:WARNING",
        "x:WARNING",
        "1:BAN",
        "1",
    ],
)
def test_bad_ladders_fail_at_start(spec: str) -> None:
    with pytest.raises(ConfigError):
        Ladder.parse(spec)


@pytest.mark.parametrize(
    "steps",
    [
        (),
        ((0, UserActionKind.WARNING),),
        ((2, UserActionKind.WARNING), (2, UserActionKind.SUSPENSION)),
        ((1, UserActionKind.SUSPENSION), (2, UserActionKind.SUSPENSION)),
    ],
)
def test_bad_ladders_built_in_code_fail_too(steps: Any) -> None:
    with pytest.raises(ConfigError):
        Ladder(steps)


def test_strikes_count_once_per_violation_id() -> None:
    state = new_user_state()
    actions = []
    for violation_id in ("a:Art. 10", "b:Art. 10", "a:Art. 10", "c:Art. 10"):
        violation = {
            "violation_id": violation_id,
            "user_id": "u",
            "artifact_id": "a",
            "article": "Art. 10",
            "reason": "hit",
            "at": 0,
        }
        state, action = apply_violation(state, violation, DEFAULT_LADDER)
        actions.append(action and (action["strikes"], action["action"]))
    assert actions == [(1, "WARNING"), (2, "FUNCTION_RESTRICTION"), None, (3, "SUSPENSION")]
    assert state["strikes"] == 3


def test_a_replayed_violation_or_lift_repeats_its_action_id() -> None:
    """The users table restored after a crash replays the same violation: the measure it
    makes again keeps its id, so an appeal naming the first copy still finds it."""
    violation = {
        "violation_id": "a:Art. 10",
        "user_id": "u",
        "artifact_id": "a",
        "article": "Art. 10",
        "reason": "hit",
        "at": 0,
    }
    before = new_user_state()
    state, action = apply_violation(before, violation, DEFAULT_LADDER)
    _, replayed = apply_violation(before, violation, DEFAULT_LADDER)
    assert action is not None and replayed is not None
    assert replayed["action_id"] == action["action_id"]
    assert state["actions"][0]["action_id"] == action["action_id"]
    _, lifted = lift_action(state, "u", action["action_id"], "upheld", DEFAULT_LADDER)
    _, lifted_again = lift_action(state, "u", action["action_id"], "upheld", DEFAULT_LADDER)
    assert lifted is not None and lifted_again is not None
    assert lifted["lifts"] == action["action_id"] != lifted["action_id"]
    assert lifted_again["action_id"] == lifted["action_id"]
    _, other = apply_violation(before, violation | {"violation_id": "b:Art. 10"}, DEFAULT_LADDER)
    assert other is not None and other["action_id"] != action["action_id"]
