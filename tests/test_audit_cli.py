"""`synthguard audit` over the embedded broker: an artifact's history from its partition, and
the inspection export's window, with records written by TopicWriter and by aiokafka (the
workers' producer) landing where the reader looks."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from synthguard.audit import AuditEvent, audit_id, format_time
from synthguard.records import Record
from synthguard.settings import Settings
from synthguard.streams.audit import partition_for
from synthguard.streams.catalog import AUDIT_LOG
from synthguard.streams.cli import main
from synthguard.streams.client import TopicWriter, codec_for

# Far from now, so records the workers of other tests write never fall in these windows.
BASE_MS = 1_000_000_000_000  # 2001-09-09T01:46:40Z


def record(artifact_id: str, name: str, at: int, summary: str | None = None) -> Record:
    return {
        "audit_id": audit_id(artifact_id, AuditEvent.CHECK, "test", name),
        "artifact_id": artifact_id,
        "user_id": "u-1",
        "event": "CHECK",
        "article": "Art. 9",
        "stage": "test",
        "summary": summary or name,
        "detail": {"rule": name},
        "at": at,
    }


def new_id() -> str:
    return f"aud-{uuid.uuid4().hex[:10]}"


async def _produce(bootstrap: str, records: list[Record]) -> list[int]:
    """As the workers' Faust producer does: aiokafka, its default partitioner."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        codec = codec_for(AUDIT_LOG)
        partitions = []
        for r in records:
            key = r["artifact_id"].encode("utf-8")
            sent = await producer.send_and_wait(AUDIT_LOG.name, codec.encode(r), key=key)
            partitions.append(sent.partition)
        return partitions
    finally:
        await producer.stop()


def aiokafka_write(bootstrap: str, records: list[Record]) -> list[int]:
    return asyncio.run(_produce(bootstrap, records))


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHGUARD_BROKER", settings.broker)
    monkeypatch.setenv("SYNTHGUARD_HOME", str(settings.home))


def test_every_producer_puts_an_artifact_where_the_reader_looks(
    settings: Settings, broker: str, writer: TopicWriter
) -> None:
    partitions = list(range(settings.partitions))
    ids = [new_id() for _ in range(12)]
    expected = [partition_for(i, partitions) for i in ids]
    assert len(set(expected)) > 1
    written = [writer.write_and_wait(AUDIT_LOG, record(i, "w", BASE_MS))[0] for i in ids]
    produced = aiokafka_write(broker, [record(i, "a", BASE_MS) for i in ids])
    assert written == expected and produced == expected


def test_history_is_one_artifacts_records_in_order_once_each(
    settings: Settings,
    broker: str,
    writer: TopicWriter,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_id()
    partitions = list(range(settings.partitions))
    # Another artifact on the same partition: the reader must filter by key.
    neighbour = next(
        i
        for i in (new_id() for _ in itertools.count())
        if partition_for(i, partitions) == partition_for(target, partitions)
    )
    at = BASE_MS + 5_000
    for r in [
        record(target, "verdict", at + 30),
        record(target, "intake", at),
        record(neighbour, "intake", at + 10),
        record(target, "label", at + 20),
        record(target, "intake", at + 99, summary="redelivered copy"),
    ]:
        writer.write(AUDIT_LOG, r)
    writer.flush()
    aiokafka_write(broker, [record(target, "action", at + 40), record(target, "label", at + 1)])

    assert main(["audit", target, "--json"]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["summary"], r["at"] - at) for r in lines] == [
        ("intake", 0),
        ("label", 20),
        ("verdict", 30),
        ("action", 40),
    ]
    assert {r["artifact_id"] for r in lines} == {target}

    assert main(["audit", target]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["time", "event", "article", "stage", "summary"]
    assert [row.split()[0] for row in rows] == [format_time(r["at"]) for r in lines]
    assert rows[0].split()[1:] == ["CHECK", "Art.", "9", "test", "intake"]


def test_an_unknown_artifact_says_so_and_exits_1(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = new_id()
    assert main(["audit", missing]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == f"no audit records for artifact {missing} on audit.log"


def test_export_writes_the_window_sorted_once_each(
    broker: str,
    writer: TopicWriter,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    since_ms = BASE_MS + 86_400_000  # 2001-09-10T01:46:40Z
    until_ms = since_ms + 3_600_000
    ids = [new_id() for _ in range(6)]  # spread over the partitions
    inside = [
        record(ids[0], "last", until_ms - 1),
        record(ids[1], "first", since_ms),
        record(ids[2], "middle", since_ms + 1_800_000),
    ]
    outside = [record(ids[3], "before", since_ms - 1), record(ids[4], "at until", until_ms)]
    for r in [*inside, *outside, record(ids[1], "first", since_ms + 5, summary="copy")]:
        writer.write(AUDIT_LOG, r)
    writer.flush()
    aiokafka_write(broker, [record(ids[5], "via aiokafka", since_ms + 10)])
    since, until = format_time(since_ms), format_time(until_ms)

    out = tmp_path / "inspection.jsonl"
    assert main(["audit", "export", "--since", since, "--until", until, "--out", str(out)]) == 0
    exported = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [r["summary"] for r in exported] == ["first", "via aiokafka", "middle", "last"]
    assert capsys.readouterr().err.startswith("exported 4 audit record(s)")
    assert not Path(f"{out}.part").exists()

    # On stdout, and the same window written with an offset (+08:00) selects the same records.
    local = format_time(since_ms + 8 * 3_600_000).replace("Z", "+08:00")
    assert main(["audit", "export", "--since", local, "--until", until]) == 0
    captured = capsys.readouterr()
    assert [orjson.loads(line) for line in captured.out.splitlines()] == exported


def test_bad_arguments_are_refused_before_reading(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "export", "--since", "2026-11-02", "--until", "2026-11-01"]) == 2
    assert "--since 2026-11-02 is not before --until 2026-11-01" in capsys.readouterr().err
    assert main(["audit", "export", "--since", "2026-11-01"]) == 2
    assert "needs --since and --until" in capsys.readouterr().err
    assert main(["audit", "a-1", "--since", "2026-11-01"]) == 2
    assert "go with `synthguard audit export`" in capsys.readouterr().err
