"""Prometheus metrics, served by the worker's web server at /metrics/: per-stage throughput and
latency, alerts by kind, dead letters, and the consumer lag of the partitions this worker owns
(deploy/README.md says what to do about each)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
TopicPartition = tuple[str, int]


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
        self._alerts = Counter(
            "synthguard_alerts",
            "Alerts this worker emitted on reports.alerts, by kind and severity.",
            ["kind", "severity"],
            registry=self.registry,
        )
        self._dead_letters = Counter(
            "synthguard_dead_letters",
            "Records this worker sent to the dlq, by the topic they came from and the stage.",
            ["source_topic", "stage"],
            registry=self.registry,
        )
        self._lag = Gauge(
            "synthguard_consumer_lag",
            "Records on a partition this worker owns that are not yet committed (end offset"
            " minus committed offset), at the last fetch.",
            ["topic", "partition"],
            registry=self.registry,
        )

    def count(self, outcome: str, stage: str) -> None:
        self._events.labels(outcome=outcome, stage=stage).inc()

    def observe(self, stage: str, seconds: float) -> None:
        self._latency.labels(stage=stage).observe(seconds)

    def alert(self, kind: str, severity: str) -> None:
        self._alerts.labels(kind=kind, severity=severity).inc()

    def dead_letter(self, source_topic: str, stage: str) -> None:
        self._dead_letters.labels(source_topic=source_topic, stage=stage).inc()

    def set_lag(self, lags: Mapping[TopicPartition, int]) -> None:
        """Replace the lag series: a partition this worker no longer owns must disappear."""
        self._lag.clear()
        for (topic, partition), lag in lags.items():
            self._lag.labels(topic=topic, partition=str(partition)).set(lag)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def consumer_lag(
    owned: Iterable[TopicPartition],
    end_offsets: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Lag per owned partition whose end and committed offsets this worker knows. A partition
    it has just been given has neither until it fetches and commits: counting from 0 would
    report the whole history of the topic as lag."""
    return {
        tp: max(0, end_offsets[tp] - committed[tp])
        for tp in owned
        if tp in end_offsets and tp in committed
    }
