"""Text artifacts per second through intake + label + review with one worker, beside a bare
Faust pass-through agent on the same embedded broker in the same run, plus end-to-end latency
at a paced rate (from submit to the output record's produce timestamp). Both workers run for
the whole benchmark; bursts alternate between them for several rounds and the medians are
compared, so drift on a shared machine hits both alike. Prints figures; asserts nothing.

    python bench/text_pipeline.py [--artifacts N] [--rounds R] [--rate R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from synthguard.records import now_ms
from synthguard.settings import Settings, load_settings
from synthguard.streams import catalog
from synthguard.streams.admin import create_topics
from synthguard.streams.broker import EmbeddedBroker, free_port
from synthguard.streams.catalog import TopicSpec
from synthguard.streams.client import TopicWriter, codec_for
from synthguard.streams.clients import confluent_config, producer_config
from synthguard.streams.runner import WorkerProcess

HERE = Path(__file__).parent
SOURCE, SINK = "bench.passthrough.in", "bench.passthrough.out"
TEXTS = (
    "人工智能生成的旅行建议：春天去杭州西湖，清晨人少，沿苏堤步行到花港观鱼。" * 6,
    "A short guide to brewing tea: warm the pot, then steep the leaves for three minutes. " * 6,
)


class Sink:
    """Reads an output topic from its current end."""

    def __init__(self, settings: Settings, bootstrap: str, topic: str) -> None:
        self._consumer = Consumer(
            confluent_config(
                settings,
                bootstrap,
                **{"group.id": f"bench-{uuid.uuid4().hex[:6]}", "fetch.wait.max.ms": 5},
            )
        )
        parts = self._consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, -1) for p in parts])

    def take(self, count: int, timeout_s: float = 600.0) -> list[Message]:
        got: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"saw {len(got)} of {count}")
            got += [m for m in self._consumer.consume(1000, 0.1) if not m.error()]
        return got


def verified_users(settings: Settings, bootstrap: str, count: int = 100) -> list[str]:
    """Users the Art. 9 gate lets through, written to registry.realname."""
    users = [f"bench-u{i}" for i in range(count)]
    writer = TopicWriter(settings, bootstrap)
    for user in users:
        entry = {"user_id": user, "status": "VERIFIED", "method": "PHONE", "verified_at": 1}
        writer.write(catalog.REGISTRY_REALNAME, entry)
    writer.close()
    return users


def artifact_sender(producer: Producer, users: list[str]) -> Callable[[int], None]:
    """send(i): the i-th text artifact onto artifacts.submitted (not flushed)."""
    codec = codec_for(catalog.ARTIFACTS_SUBMITTED)

    def send(i: int) -> None:
        artifact_id = f"bench-{uuid.uuid4().hex}"
        envelope = {
            "artifact_id": artifact_id,
            "submitted_at": now_ms(),
            "provider_id": "prov-bench",
            "service_id": "svc-bench",
            "user_id": users[i % len(users)],
            "modality": "TEXT",
            "tech_category": "TEXT_GENERATION",
            "service_kind": "DIALOGUE",
            "text": TEXTS[i % 2],
        }
        producer.produce(
            catalog.ARTIFACTS_SUBMITTED.name, key=artifact_id.encode(), value=codec.encode(envelope)
        )
        producer.poll(0)

    return send


@dataclass
class Subject:
    """One system under test: how to feed it, where its output lands, how old an output is."""

    name: str
    send: Callable[[int], None]
    sink: Sink
    latency_ms: Callable[[Message], float]
    rates: list[float] = field(default_factory=list)

    def burst(self, producer: Producer, n: int) -> None:
        started = time.monotonic()
        for i in range(n):
            self.send(i)
        producer.flush()
        self.sink.take(n)
        self.rates.append(n / (time.monotonic() - started))

    def latency(self, producer: Producer, rate: float) -> tuple[float, float]:
        paced = int(rate * 5)
        for i in range(paced):
            self.send(i)
            producer.flush()
            time.sleep(1 / rate)
        q = statistics.quantiles([self.latency_ms(m) for m in self.sink.take(paced)], n=100)
        return q[49], q[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=int, default=3000, help="events per burst")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="paced rate for latency")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="synthguard-bench-"))
    with EmbeddedBroker(log_path=home / "broker.log") as broker:
        bootstrap = broker.bootstrap
        settings = load_settings(overrides={"home": home, "broker": f"kafka://{bootstrap}"})
        create_topics(settings, bootstrap)
        create_topics(
            settings, bootstrap, (TopicSpec(SOURCE, "key", ""), TopicSpec(SINK, "key", ""))
        )
        users = verified_users(settings, bootstrap)
        producer = Producer(producer_config(settings, bootstrap))
        record_codec = codec_for(catalog.REPORTS_COMPLIANCE)
        value = b"x" * 1024

        def send_raw(_i: int) -> None:  # the key carries the send time
            producer.produce(SOURCE, key=str(now_ms()).encode(), value=value)
            producer.poll(0)

        passthrough = subprocess.Popen(
            [sys.executable, str(HERE / "passthrough.py"), bootstrap, str(home), str(free_port())]
        )
        worker = WorkerProcess(settings, bootstrap, "bench-worker")
        subjects = [
            Subject(
                "passthrough",
                send_raw,
                Sink(settings, bootstrap, SINK),
                lambda m: m.timestamp()[1] - int(m.key() or b"0"),
            ),
            Subject(
                "pipeline",
                artifact_sender(producer, users),
                Sink(settings, bootstrap, catalog.REPORTS_COMPLIANCE.name),
                lambda m: m.timestamp()[1] - record_codec.decode(m.value() or b"")["submitted_at"],
            ),
        ]
        try:
            worker.wait_ready()
            for subject in subjects:  # warm-up: each worker has joined and handled one event
                subject.send(0)
                producer.flush()
                subject.sink.take(1)
            for _ in range(args.rounds):
                for subject in subjects:
                    subject.burst(producer, args.artifacts)
            for subject in subjects:
                p50, p99 = subject.latency(producer, args.rate)
                rounds = " ".join(f"{rate:.0f}" for rate in subject.rates)
                print(
                    f"{subject.name:12} median {statistics.median(subject.rates):6.0f} events/s"
                    f" (rounds: {rounds})   latency at {args.rate:.0f}/s: p50 {p50:.1f} ms,"
                    f" p99 {p99:.1f} ms",
                    flush=True,
                )
        finally:
            worker.stop()
            passthrough.terminate()
            passthrough.wait(30)
    base, pipe = (statistics.median(s.rates) for s in subjects)
    print(
        f"\nratio pipeline / passthrough: {pipe / base:.2f}  (target >= 0.50; medians of "
        f"{args.rounds} alternating bursts of {args.artifacts}, one worker each, embedded broker)"
    )


if __name__ == "__main__":
    main()
