"""One place that decides what happens to an event whose processing failed: retry it, or
dead-letter it with enough context (stage, error, topic, partition, offset, payload excerpt)
to find, explain and replay it. Nothing is dropped silently."""

from __future__ import annotations

from dataclasses import dataclass

from synthguard.errors import SynthguardError
from synthguard.records import Record, now_ms

EXCERPT_BYTES = 1024
MAX_ATTEMPTS = 3
BACKOFF_S = 0.2


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, SynthguardError) and exc.retryable


def decide(
    exc: Exception,
    attempt: int,
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    payload: bytes | None,
) -> Retry | DeadLetter:
    """`attempt` counts from 1. Retryable errors get MAX_ATTEMPTS with exponential backoff."""
    if is_retryable(exc) and attempt < MAX_ATTEMPTS:
        return Retry(BACKOFF_S * 2 ** (attempt - 1))
    payload = payload or b""
    return DeadLetter(
        {
            "stage": stage,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": None if key is None else key.decode("utf-8", "replace"),
            "error_type": type(exc).__name__,
            "error": _describe(exc),
            "retryable": is_retryable(exc),
            "payload_size": len(payload),
            "payload_excerpt": payload[:EXCERPT_BYTES],
            "at": now_ms(),
        }
    )


def _describe(exc: Exception) -> str:
    """The message, led by the machine reason code where the error has one (MediaError,
    BlobError), so DLQ consumers can group letters without parsing prose."""
    text = str(exc) or repr(exc)
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and not text.startswith(reason):
        text = f"{reason}: {text}"
    return text[:2000]
