"""Throughput and per-stage consumer lag with 1, 2, 4, ... workers in one consumer group, on
one embedded broker. Every count gets the same bursts of text artifacts; the baseline is one
worker in the same run, so each row prints its speed-up over it. While a burst runs, every
worker's /metrics/ is sampled and the summed lag per input topic (stage) is kept at its peak.
Prints figures; asserts nothing. Partitions bound the useful workers: --partitions >= the
largest count.

    python bench/scaling.py [--workers 1,2,4] [--artifacts N] [--rounds R] [--partitions P]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families
from text_pipeline import Sink, artifact_sender, verified_users

from synthguard.settings import load_settings
from synthguard.streams import catalog
from synthguard.streams.admin import create_topics
from synthguard.streams.broker import EmbeddedBroker
from synthguard.streams.clients import producer_config
from synthguard.streams.runner import WorkerProcess

STAGE_TOPICS = (catalog.ARTIFACTS_SUBMITTED.name, catalog.USERS_VIOLATIONS.name)


def lag_by_topic(workers: list[WorkerProcess]) -> dict[str, float]:
    """The group's lag per topic: each partition is owned by one worker, so sum them all."""
    total: dict[str, float] = defaultdict(float)
    for worker in workers:
        url = f"http://127.0.0.1:{worker.web_port}/metrics/"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "synthguard_consumer_lag":
                    total[sample.labels["topic"]] += sample.value
    return total


class LagSampler(threading.Thread):
    """Keeps the peak summed lag per topic while a burst runs."""

    def __init__(self, workers: list[WorkerProcess]) -> None:
        super().__init__(daemon=True)
        self.workers = workers
        self.peak: dict[str, float] = defaultdict(float)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            for topic, lag in lag_by_topic(self.workers).items():
                self.peak[topic] = max(self.peak[topic], lag)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--artifacts", type=int, default=3000, help="events per burst")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    home = Path(tempfile.mkdtemp(prefix="synthguard-scaling-"))
    rows = []
    with EmbeddedBroker(log_path=home / "broker.log") as broker:
        bootstrap = broker.bootstrap
        settings = load_settings(
            overrides={
                "home": home,
                "broker": f"kafka://{bootstrap}",
                "partitions": args.partitions,
                "rumor_embeddings": False,  # the text path's own cost, not the model's
            }
        )
        create_topics(settings, bootstrap)
        producer = Producer(producer_config(settings, bootstrap))
        send = artifact_sender(producer, verified_users(settings, bootstrap))
        sink = Sink(settings, bootstrap, catalog.REPORTS_COMPLIANCE.name)
        for count in counts:
            # One group throughout: each count starts from the offsets the last one committed.
            names = [f"scale-{count}-{i}" for i in range(count)]
            workers = [WorkerProcess(settings, bootstrap, name) for name in names]
            try:
                for worker in workers:
                    worker.wait_ready()
                send(0)  # warm-up: the group has settled and handled one event
                producer.flush()
                sink.take(1)
                rates: list[float] = []
                sampler = LagSampler(workers)
                sampler.start()
                for _ in range(args.rounds):
                    started = time.monotonic()
                    for i in range(args.artifacts):
                        send(i)
                    producer.flush()
                    sink.take(args.artifacts)
                    rates.append(args.artifacts / (time.monotonic() - started))
                sampler.done.set()
                sampler.join()
            finally:
                for worker in workers:
                    worker.stop()
            rate = statistics.median(rates)
            peaks = [sampler.peak.get(topic, 0.0) for topic in STAGE_TOPICS]
            rows.append((count, rate, rates, peaks))
            print(f"{count} worker(s): {rate:.0f} events/s (rounds {rates})", flush=True)
    base = rows[0][1]
    print(
        f"\n{'workers':>7} {'events/s':>9} {'speed-up':>8}  rounds"
        f"          peak lag: {'  '.join(STAGE_TOPICS)}"
    )
    for count, rate, rates, peaks in rows:
        rounds = " ".join(f"{r:.0f}" for r in rates)
        lags = "  ".join(
            f"{lag:>{len(topic)}.0f}" for lag, topic in zip(peaks, STAGE_TOPICS, strict=True)
        )
        print(f"{count:>7} {rate:>9.0f} {rate / base:>7.2f}x  {rounds:<15} {lags}")
    print(
        f"\n{args.artifacts} text artifacts per burst, {args.rounds} bursts per count, median;"
        f" {args.partitions} partitions; speed-up against {rows[0][0]} worker(s) in this run"
    )


if __name__ == "__main__":
    main()
