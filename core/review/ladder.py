"""Art. 10 measures against users, escalating with repeat violations: "giving warnings,
restricted functions, service suspensions, and account closures"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from synthguard.errors import ConfigError


class UserActionKind(StrEnum):
    WARNING = "WARNING"
    FUNCTION_RESTRICTION = "FUNCTION_RESTRICTION"
    SUSPENSION = "SUSPENSION"
    ACCOUNT_CLOSURE = "ACCOUNT_CLOSURE"


_ORDER = list(UserActionKind)


@dataclass(frozen=True, slots=True)
class Ladder:
    """Strike count at which each measure starts; counts and measures both strictly rise."""

    steps: tuple[tuple[int, UserActionKind], ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ConfigError("the user-action ladder needs at least one step")
        counts = [count for count, _ in self.steps]
        ranks = [_ORDER.index(kind) for _, kind in self.steps]
        if counts[0] < 1 or counts != sorted(set(counts)) or ranks != sorted(set(ranks)):
            raise ConfigError(
                f"ladder {self} must rise: strike counts >= 1 and measures in the order "
                + " < ".join(_ORDER)
            )

    @classmethod
    def parse(cls, spec: str) -> Ladder:
        """`COUNT:ACTION,...`, e.g. "1:WARNING,3:SUSPENSION"; actions are case-insensitive."""
        steps = []
        for part in spec.split(","):
            count, sep, kind = part.strip().partition(":")
            try:
                if not sep:
                    raise ValueError(part)
                steps.append((int(count), UserActionKind(kind.strip().upper())))
            except ValueError:
                raise ConfigError(
                    f"bad ladder step {part.strip()!r} in {spec!r}: want COUNT:ACTION with ACTION"
                    f" one of {', '.join(_ORDER)}"
                ) from None
        return cls(tuple(steps))

    def action_for(self, strikes: int) -> UserActionKind | None:
        """The measure of the highest step reached; None below the first."""
        reached = [kind for count, kind in self.steps if strikes >= count]
        return reached[-1] if reached else None

    def __str__(self) -> str:
        """The spec `parse` reads back."""
        return ",".join(f"{count}:{kind.value}" for count, kind in self.steps)


DEFAULT_LADDER = Ladder.parse("1:WARNING,2:FUNCTION_RESTRICTION,3:SUSPENSION,5:ACCOUNT_CLOSURE")
