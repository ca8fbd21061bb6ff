"""Per-stage Prometheus metrics, served by the worker's web server at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class StageMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._events = Counter(
            "synthguard_events",
            "Events handled per stage and outcome (processed, dlq, duplicates).",
            ["outcome", "stage"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "synthguard_stage_seconds",
            "Time to handle one event in a stage, decode to last send.",
            ["stage"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def count(self, outcome: str, stage: str) -> None:
        self._events.labels(outcome=outcome, stage=stage).inc()

    def observe(self, stage: str, seconds: float) -> None:
        self._latency.labels(stage=stage).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
