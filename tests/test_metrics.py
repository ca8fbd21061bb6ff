"""The worker's Prometheus metrics (/metrics/): alerts by kind, dead letters by source topic,
and the consumer lag of the partitions it owns."""

from __future__ import annotations

import time
import uuid

from helpers import envelope, metric, scrape, verdicts

from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.audit import partition_for
from synthguard.streams.client import TopicWriter
from synthguard.streams.metrics import StageMetrics, consumer_lag
from synthguard.streams.runner import WorkerProcess


def test_lag_counts_only_owned_partitions_with_a_known_end() -> None:
    owned = [("a", 0), ("a", 1), ("b", 0)]
    ends = {("a", 0): 10, ("a", 1): 5, ("c", 0): 99}
    committed = {("a", 0): 7, ("c", 0): 1}
    assert consumer_lag(owned, ends, committed) == {("a", 0): 3}  # ("a", 1): nothing committed
    assert consumer_lag(owned, {("a", 0): 3}, {("a", 0): 4}) == {("a", 0): 0}


def test_lag_series_of_a_partition_given_away_disappear() -> None:
    metrics = StageMetrics()
    metrics.set_lag({("a", 0): 3, ("a", 1): 1})
    metrics.set_lag({("a", 1): 0})
    text = metrics.render().decode()
    assert 'synthguard_consumer_lag{partition="1",topic="a"} 0.0' in text
    assert 'partition="0"' not in text


def test_alerts_dead_letters_and_lag_are_exported(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    kind = {"kind": "UNVERIFIED_USER", "severity": "MEDIUM"}
    source = {"source_topic": catalog.ARTIFACTS_SUBMITTED.name, "stage": "artifact"}
    before = scrape(worker)
    alerts = metric(before, "synthguard_alerts_total", **kind) or 0.0
    dead = metric(before, "synthguard_dead_letters_total", **source) or 0.0

    [blocked] = verdicts(settings, broker, writer, envelope("一段文字。", f"u-{uuid.uuid4().hex}"))
    assert blocked["verdict"] == "BLOCKED"  # unverified: a MEDIUM UNVERIFIED_USER alert
    topic = catalog.ARTIFACTS_SUBMITTED.name
    writer.write_raw(topic, b"k", b"not avro")
    writer.flush()
    # The partitions just written to: their end offsets are known, so they have a lag series.
    partitions = list(range(settings.partitions))
    written = {str(partition_for(key, partitions)) for key in (blocked["artifact_id"], "k")}

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = scrape(worker)
        lags = {
            s.labels["partition"]: s.value
            for s in after
            if s.name == "synthguard_consumer_lag" and s.labels["topic"] == topic
        }
        counted = metric(after, "synthguard_dead_letters_total", **source) == dead + 1
        # Faust commits every few seconds: the lag falls back to zero once it has.
        if counted and set(lags) >= written and not any(lags.values()):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"metrics never settled: {after}")
    assert metric(after, "synthguard_alerts_total", **kind) == alerts + 1
    assert set(lags) <= {str(p) for p in partitions}
