"""`synthguard run`: the whole pipeline on one machine, end to end, then a summary.

Starts the broker (embedded unless SYNTHGUARD_BROKER names one), creates the topics, loads
the registries, starts worker processes, submits the sample artifacts and waits until each
one is accounted for: a compliance record, or a dead letter saying why not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from synthguard import samples
from synthguard.blobs import BlobRef, BlobStore, open_store
from synthguard.errors import BrokerError
from synthguard.labels.aigc import AigcRecord
from synthguard.media.image_io import sniff_format
from synthguard.records import Record, now_ms
from synthguard.samples.audio import audio_artifacts
from synthguard.samples.images import image_artifacts
from synthguard.samples.videos import video_artifacts
from synthguard.settings import EMBEDDED, Settings
from synthguard.streams import catalog
from synthguard.streams.admin import create_topics
from synthguard.streams.broker import EmbeddedBroker, die_with_parent_hook, free_port
from synthguard.streams.client import (
    TopicReader,
    TopicWriter,
    decode_message,
    envelope_from_json,
)

READY_TIMEOUT_S = 120.0
SETTLE_S = 3.0


@contextlib.contextmanager
def broker_for(settings: Settings) -> Iterator[str]:
    """Yields a bootstrap address: a fresh embedded broker, or the configured Kafka."""
    if settings.broker != EMBEDDED:
        yield settings.bootstrap
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log_path=settings.home / "broker.log") as broker:
        yield broker.bootstrap


class WorkerProcess:
    """A `synthguard worker` child process with its own web port; dies with its parent."""

    def __init__(
        self, settings: Settings, bootstrap: str, name: str, *, group: str = "all"
    ) -> None:
        self.web_port = free_port()
        self.log_path = settings.home / f"{name}.log"
        env = os.environ | settings.with_broker(bootstrap).to_env()
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "synthguard.streams.cli",
                "worker",
                "--web-port",
                str(self.web_port),
                "--group",
                group,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent_hook(),  # noqa: PLW1509 - only calls prctl
        )

    def status(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.web_port}/registry/"
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = orjson.loads(response.read())
                return data
        except OSError:
            return None

    def ready(self) -> bool:
        """Its readiness probe: registries loaded (a watermark worker has none to load)."""
        try:
            url = f"http://127.0.0.1:{self.web_port}/ready/"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:  # refused while starting; HTTPError (503) until ready
            return False

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until its registries are loaded (so the samples meet the real registry)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(
                    f"worker exited with {self.proc.returncode}; see {self.log_path}",
                    retryable=False,
                )
            if self.ready():
                return
            time.sleep(0.2)
        raise BrokerError(f"worker not ready after {timeout_s:g}s; see {self.log_path}")

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def seed_registries(writer: TopicWriter) -> None:
    for spec, entries in (
        (catalog.REGISTRY_REALNAME, samples.load_realname()),
        (catalog.REGISTRY_SERVICES, samples.load_services()),
        (catalog.REGISTRY_CONSENTS, samples.load_consents()),
        (catalog.REGISTRY_NEWS_SOURCES, samples.load_news_sources()),
        (catalog.REGISTRY_KEYWORDS, samples.load_keywords()),
        (catalog.REGISTRY_MEDIA_FEATURES, samples.load_media_features()),
        (catalog.REGISTRY_RUMORS, samples.load_rumors()),
    ):
        for entry in entries:
            writer.write(spec, entry)
    writer.flush()


@dataclass
class Summary:
    submitted: int = 0
    compliance_records: int = 0
    admitted: int = 0
    blocked: int = 0
    held: int = 0
    publishable: int = 0
    labeled: int = 0
    explicit_labels: int = 0
    images: int = 0
    videos: int = 0
    audio: int = 0
    watermarked: int = 0
    propagated: int = 0
    tampered: int = 0
    flagged: int = 0
    dlq: int = 0
    alerts: int = 0
    regulator_reports: int = 0
    user_actions: int = 0
    review_requests: int = 0
    audit_records: int = 0
    complaints: int = 0
    complaints_open: int = 0
    """Routed to a team queue with their published deadline, awaiting a reviewer."""
    complaints_refused: int = 0
    """Rejected with a reason, or folded into an earlier duplicate."""
    unaccounted: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    output_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def table(self) -> str:
        rows = [(k, str(v)) for k, v in self.as_dict().items() if k != "unaccounted"]
        rows.append(("unaccounted", ", ".join(self.unaccounted) or "none"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


@dataclass(frozen=True)
class Output:
    """Where `synthguard run` writes what the platform would publish."""

    folder: Path
    store: BlobStore


def collect(
    settings: Settings, bootstrap: str, expected: set[str], timeout_s: float, out: Output
) -> Summary:
    """Read the report topics until every expected artifact has a record or a dead letter,
    then until the trailing records (alerts, user actions) have been quiet for SETTLE_S."""
    summary = Summary(submitted=len(expected), output_dir=str(out.folder))
    specs = {
        spec.name: spec
        for spec in (
            catalog.REPORTS_COMPLIANCE,
            catalog.DLQ,
            catalog.REPORTS_ALERTS,
            catalog.REPORTS_REGULATOR,
            catalog.USERS_ACTIONS,
            catalog.ARTIFACTS_REVIEWED,
            catalog.REVIEW_REQUESTS,
            catalog.AUDIT_LOG,
        )
    }
    reader = TopicReader(settings, bootstrap, specs)
    pending = set(expected)
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    try:
        for message in reader.messages(timeout_s):
            topic = message.topic() or ""
            record = decode_message(specs[topic], message)
            if record is not None:
                seen[topic] += 1
                take(summary, topic, record, pending, out)
            if (not pending and seen[catalog.ARTIFACTS_REVIEWED.name] >= summary.publishable) or (
                time.monotonic() > deadline
            ):
                break
        if not pending:
            for message in reader.messages(SETTLE_S):
                seen[message.topic() or ""] += 1
    finally:
        reader.close()
    summary.dlq = seen[catalog.DLQ.name]
    summary.alerts = seen[catalog.REPORTS_ALERTS.name]
    summary.regulator_reports = seen[catalog.REPORTS_REGULATOR.name]
    summary.user_actions = seen[catalog.USERS_ACTIONS.name]
    summary.review_requests = seen[catalog.REVIEW_REQUESTS.name]
    summary.audit_records = seen[catalog.AUDIT_LOG.name]
    summary.unaccounted = sorted(pending)
    return summary


def take(summary: Summary, topic: str, record: Record, pending: set[str], out: Output) -> None:
    if topic == catalog.REPORTS_COMPLIANCE.name:
        pending.discard(record["artifact_id"])
        tally(summary, record)
    elif topic == catalog.DLQ.name:
        pending.discard(record["key"] or "")
    elif topic == catalog.ARTIFACTS_REVIEWED.name:
        write_output(record, out)


def write_output(state: Record, out: Output) -> None:
    """What the platform would publish, where a user can open it."""
    envelope, label = state["envelope"], state["label"]
    if envelope["modality"] in ("VIDEO", "AUDIO"):
        blob = (label and label["blob"]) or envelope["blob"]
        with out.store.open_file(BlobRef.from_record(blob), max_bytes=blob["size"]) as path:
            shutil.copyfile(path, out.folder / f"{envelope['artifact_id']}{path.suffix}")
        return
    if envelope["modality"] == "IMAGE":
        blob = (label and label["blob"]) or envelope["blob"]
        data = out.store.get(BlobRef.from_record(blob), max_bytes=blob["size"])
        suffix = {"JPEG": ".jpg", "WEBP": ".webp"}.get(sniff_format(data) or "", ".png")
        (out.folder / f"{envelope['artifact_id']}{suffix}").write_bytes(data)
        return
    # Text, with its sidecar record (GB 45438 gives plain text no place of its own), so
    # `synthguard verify` can check it.
    path = out.folder / f"{envelope['artifact_id']}.txt"
    path.write_text(label["labeled_text"], "utf-8")
    sidecar = AigcRecord.from_fields(label["record"]).to_json()
    Path(f"{path}.aigc.json").write_text(sidecar, "utf-8")


def tally(summary: Summary, record: Record) -> None:
    summary.compliance_records += 1
    outcomes = {c["rule"]: c["outcome"] for c in record["checks"]}
    # Admitted: past every intake gate (Art. 6, 9, 14, 15, 19, 20).
    summary.admitted += not any(
        c["stage"] == "intake" and c["outcome"] == "FAIL" for c in record["checks"]
    )
    summary.flagged += outcomes.get("review.keywords") == "FLAGGED"
    verdict = record["verdict"]
    summary.blocked += verdict == "BLOCKED"
    summary.held += verdict == "HELD"
    summary.publishable += verdict == "PUBLISHABLE"
    summary.images += record["modality"] == "IMAGE"
    summary.videos += record["modality"] == "VIDEO"
    summary.audio += record["modality"] == "AUDIO"
    summary.tampered += outcomes.get("label.incoming") == "FAIL"
    if (label := record["label"]) is not None:
        summary.labeled += 1
        summary.explicit_labels += label["explicit"]
        summary.watermarked += outcomes.get("label.watermark") == "APPLIED"
        summary.propagated += bool(label["record"]["ContentPropagator"])


def tally_complaints(
    summary: Summary,
    settings: Settings,
    bootstrap: str,
    complaints: list[Record],
    timeout_s: float,
) -> None:
    """Each complaint's first answer on complaints.feedback: open (routed, with a deadline)
    or refused."""
    pending = {c["complaint_id"] for c in complaints}
    summary.complaints = len(pending)
    reader = TopicReader(settings, bootstrap, [catalog.COMPLAINTS_FEEDBACK.name])
    deadline = time.monotonic() + timeout_s
    try:
        for message in reader.messages(timeout_s):
            record = decode_message(catalog.COMPLAINTS_FEEDBACK, message)
            if record is not None and record["complaint"]["complaint_id"] in pending:
                pending.discard(record["complaint"]["complaint_id"])
                summary.complaints_open += record["status"] == "OPEN"
                summary.complaints_refused += record["status"] in {"REJECTED", "DUPLICATE"}
            if not pending or time.monotonic() > deadline:
                break
    finally:
        reader.close()
    summary.unaccounted += sorted(pending)


def run_pipeline(
    settings: Settings, *, workers: int = 1, timeout_s: float = 300.0, progress: Any = None
) -> Summary:
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    out = Output((settings.home / "out").resolve(), open_store(settings.blob_store_spec()))
    out.folder.mkdir(parents=True, exist_ok=True)
    keyring = settings.keyring()
    artifacts = (
        samples.load_artifacts()
        + image_artifacts(out.store, keyring)
        + video_artifacts(out.store, keyring)
        + audio_artifacts(out.store, keyring)
    )
    envelopes = [envelope_from_json(a) for a in artifacts]
    with broker_for(settings) as bootstrap:
        say(f"broker at {bootstrap}")
        create_topics(settings, bootstrap)
        writer = TopicWriter(settings, bootstrap)
        seed_registries(writer)
        say("topics created, registries loaded")
        procs = [WorkerProcess(settings, bootstrap, f"worker-{i}") for i in range(workers)]
        try:
            for proc in procs:
                proc.wait_ready()
            say(f"{workers} worker(s) ready; submitting {len(envelopes)} artifacts")
            for envelope in envelopes:
                writer.write(catalog.ARTIFACTS_SUBMITTED, envelope)
            writer.flush()
            summary = collect(
                settings, bootstrap, {e["artifact_id"] for e in envelopes}, timeout_s, out
            )
            complaints = [c | {"submitted_at": now_ms()} for c in samples.load_complaints()]
            say(f"filing {len(complaints)} sample complaints")
            for complaint in complaints:
                writer.write(catalog.COMPLAINTS_SUBMITTED, complaint)
            writer.flush()
            tally_complaints(summary, settings, bootstrap, complaints, timeout_s)
        finally:
            writer.close()
            for proc in procs:
                proc.stop()
    summary.elapsed_s = round(time.monotonic() - started, 2)
    return summary
