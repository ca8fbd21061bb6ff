"""Text artifacts per second through intake + label + review with one worker, beside a bare
Faust pass-through agent on the same embedded broker in the same run, plus end-to-end latency
at a paced rate (from submit to the output record's produce timestamp). Prints figures;
asserts nothing.

    python bench/text_pipeline.py [--artifacts N] [--rate R]
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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float

    def line(self, name: str) -> str:
        return (
            f"{name:12} {self.rate:8.0f} events/s   end-to-end latency p50 {self.p50_ms:6.1f} ms"
            f"   p99 {self.p99_ms:6.1f} ms"
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


def measure(
    send: Callable[[int], None],
    flush: Callable[[], None],
    sink: Sink,
    n: int,
    rate: float,
    latency_ms: Callable[[Message], float],
) -> Figures:
    send(0)  # warm-up: the worker has joined its group and handled one event
    flush()
    sink.take(1)
    started = time.monotonic()
    for i in range(n):
        send(i)
    flush()
    sink.take(n)
    throughput = n / (time.monotonic() - started)
    paced = int(rate * 5)
    for i in range(paced):
        send(i)
        flush()
        time.sleep(1 / rate)
    q = statistics.quantiles([latency_ms(m) for m in sink.take(paced)], n=100)
    return Figures(throughput, q[49], q[98])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--artifacts", type=int, default=5000)
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
        producer = Producer(producer_config(settings, bootstrap))

        def flush() -> None:
            producer.flush()

        # Baseline: a bare Faust relay of 1 KiB values; the key carries the send time.
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "passthrough.py"), bootstrap, str(home), str(free_port())]
        )
        value = b"x" * 1024

        def send_raw(_i: int) -> None:
            producer.produce(SOURCE, key=str(now_ms()).encode(), value=value)
            producer.poll(0)

        try:
            base = measure(
                send_raw,
                flush,
                Sink(settings, bootstrap, SINK),
                args.artifacts,
                args.rate,
                lambda m: m.timestamp()[1] - int(m.key() or b"0"),
            )
        finally:
            proc.terminate()
            proc.wait(30)
        print(base.line("passthrough"), flush=True)

        # The pipeline: verified users, ~1 KB texts, one compliance record per artifact.
        users = [f"bench-u{i}" for i in range(100)]
        writer = TopicWriter(settings, bootstrap)
        for user in users:
            writer.write(
                catalog.REGISTRY_REALNAME,
                {"user_id": user, "status": "VERIFIED", "method": "PHONE", "verified_at": now_ms()},
            )
        writer.flush()
        worker = WorkerProcess(settings, bootstrap, "bench-worker")
        envelope_codec = codec_for(catalog.ARTIFACTS_SUBMITTED)
        record_codec = codec_for(catalog.REPORTS_COMPLIANCE)

        def send_artifact(i: int) -> None:
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
                catalog.ARTIFACTS_SUBMITTED.name,
                key=artifact_id.encode(),
                value=envelope_codec.encode(envelope),
            )
            producer.poll(0)

        try:
            worker.wait_ready()
            pipe = measure(
                send_artifact,
                flush,
                Sink(settings, bootstrap, catalog.REPORTS_COMPLIANCE.name),
                args.artifacts,
                args.rate,
                lambda m: m.timestamp()[1] - record_codec.decode(m.value() or b"")["submitted_at"],
            )
        finally:
            worker.stop()
        print(pipe.line("pipeline"))
    print(
        f"\nratio pipeline / passthrough: {pipe.rate / base.rate:.2f}  (target >= 0.50; "
        f"{args.artifacts} events each, one worker, embedded broker, same run)"
    )


if __name__ == "__main__":
    main()
