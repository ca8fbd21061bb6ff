"""The worker's Prometheus metrics (/metrics/): alerts by kind, dead letters by source topic,
and the consumer lag of the partitions it owns."""

from __future__ import annotations

import re
import time
import urllib.request
import uuid

from helpers import envelope, verdicts

from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.audit import partition_for
from synthguard.streams.client import TopicWriter
from synthguard.streams.metrics import StageMetrics, consumer_lag
from synthguard.streams.runner import WorkerProcess


def scrape(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics/", timeout=5) as r:
        return str(r.read().decode())


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            return float(match[2])
    return 0.0


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
    before = scrape(worker)
    alerts = value(before, "synthguard_alerts_total", kind="UNVERIFIED_USER", severity="MEDIUM")
    source = {"source_topic": catalog.ARTIFACTS_SUBMITTED.name, "stage": "artifact"}
    dead = value(before, "synthguard_dead_letters_total", **source)

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
        lags = dict(
            re.findall(
                rf'synthguard_consumer_lag\{{partition="(\d+)",topic="{topic}"\}} (\S+)', after
            )
        )
        counted = value(after, "synthguard_dead_letters_total", **source) == dead + 1
        # Faust commits every few seconds: the lag falls back to zero once it has.
        if counted and set(lags) >= written and all(float(lag) == 0 for lag in lags.values()):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"metrics never settled:\n{after}")
    kind = {"kind": "UNVERIFIED_USER", "severity": "MEDIUM"}
    assert value(after, "synthguard_alerts_total", **kind) == alerts + 1
    assert set(lags) <= {str(p) for p in range(settings.partitions)}
