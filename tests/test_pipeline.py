"""The text path end to end over the embedded broker and a real worker process."""

from __future__ import annotations

import re
import urllib.request
import uuid

import pytest
from confluent_kafka import Producer
from helpers import (
    ADMITTED,
    envelope,
    read_until,
    records_for,
    verified_user,
    wait_registry_applied,
)

from synthguard.labels.aigc import AigcRecord
from synthguard.labels.text import has_explicit_label
from synthguard.labels.verify import LabelStatus, verify_text
from synthguard.records import Record, now_ms
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter, codec_for
from synthguard.streams.clients import producer_config
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def add_keyword(writer: TopicWriter, worker: WorkerProcess, term: str, severity: str) -> str:
    entry_id = f"kw-{uuid.uuid4().hex[:8]}"
    entry = {"entry_id": entry_id, "term": term, "category": "test", "severity": severity}
    partition, offset = writer.write_and_wait(catalog.REGISTRY_KEYWORDS, entry)
    wait_registry_applied(worker, catalog.REGISTRY_KEYWORDS.name, partition, offset)
    return entry_id


def verdict_of(settings: Settings, broker: str, writer: TopicWriter, source: Record) -> str:
    """Submit one artifact and wait for its compliance record's verdict."""
    writer.write_and_wait(catalog.ARTIFACTS_SUBMITTED, source)
    [record] = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {source["artifact_id"]})
    return str(record["verdict"])


def test_verified_text_is_labeled_reviewed_and_recorded_once(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    zh = envelope("今天天气很好，适合去公园散步。", user, service_kind="DIALOGUE")
    en = envelope("Here is a short recipe for tomato soup.", user, service_kind="WRITING")
    plain = envelope("会议纪要已整理完毕。", user, service_kind="OTHER")
    for e in (zh, en, plain):
        writer.write(catalog.ARTIFACTS_SUBMITTED, e)
    writer.flush()
    ids = {e["artifact_id"] for e in (zh, en, plain)}
    records = {
        r["artifact_id"]: r for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids)
    }
    published = {
        r["envelope"]["artifact_id"]: r["label"]
        for r in records_for(
            settings, broker, catalog.ARTIFACTS_REVIEWED, ids, field="envelope.artifact_id"
        )
    }

    keyring = settings.keyring()
    for source in (zh, en, plain):
        record = records[source["artifact_id"]]
        assert record["verdict"] == "PUBLISHABLE"
        assert {c["rule"]: c["outcome"] for c in record["checks"]} == {
            **ADMITTED,
            "label.implicit": "APPLIED",
            "label.explicit": "NOT_APPLICABLE" if source is plain else "APPLIED",
            "label.signature": "APPLIED",
            "review.keywords": "PASS",
            "rumor.refuted": "PASS",
        }
        assert set(record["stages"]) == {"intake", "label", "review", "rumor"}
        stages = record["stages"]
        assert stages["intake"] <= stages["label"] <= stages["review"] <= stages["rumor"]
        label = record["label"]
        assert label["labeled_text"] is None  # reports carry no content
        assert label == {**published[source["artifact_id"]], "labeled_text": None}
        aigc = AigcRecord.from_fields(label["record"])
        assert aigc.produce_id == source["artifact_id"]
        assert aigc.content_producer == settings.producer_id
        text = published[source["artifact_id"]]["labeled_text"]
        assert source["text"] in text
        assert has_explicit_label(text) is (source is not plain)
        assert verify_text(text, aigc, keyring).status is LabelStatus.INTACT
        assert verify_text(text + "!", aigc, keyring).status is LabelStatus.ALTERED
    assert records[zh["artifact_id"]]["label"]["notice"] == settings.notice_zh
    assert records[en["artifact_id"]]["label"]["notice"] == settings.notice_en


def test_unverified_and_unknown_users_are_blocked_with_an_alert(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    unverified = verified_user(writer, worker, status="UNVERIFIED")
    revoked = verified_user(writer, worker, status="REVOKED")
    sources = [
        envelope("你好", unverified),
        envelope("hello", revoked),
        envelope("你好", f"nobody-{uuid.uuid4().hex[:6]}"),
    ]
    for e in sources:
        writer.write(catalog.ARTIFACTS_SUBMITTED, e)
    writer.flush()
    ids = {e["artifact_id"] for e in sources}
    records = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids)
    for record in records:
        assert record["verdict"] == "BLOCKED"
        assert record["label"] is None
        assert record["reasons"][0].startswith("Art. 9:")
        outcomes = {c["rule"]: c["outcome"] for c in record["checks"]}
        assert outcomes == ADMITTED | {"realname.verified": "FAIL"}
    alerts = records_for(settings, broker, catalog.REPORTS_ALERTS, ids)
    assert {a["kind"] for a in alerts} == {"UNVERIFIED_USER"}
    assert {a["evidence"]["realname_status"] for a in alerts} == {
        "UNVERIFIED",
        "REVOKED",
        "UNKNOWN",
    }


def test_keyword_hits_block_report_and_escalate_user_actions(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    term = f"违禁{uuid.uuid4().hex[:4]}"
    add_keyword(writer, worker, term, "HIGH")
    user = verified_user(writer, worker)
    hits = [envelope(f"第{i}条：出售{term}，量大从优。", user) for i in range(3)]
    for e in hits:  # one at a time: strikes count in order
        writer.write_and_wait(catalog.ARTIFACTS_SUBMITTED, e)
    ids = {e["artifact_id"] for e in hits}
    records = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids)
    assert {r["verdict"] for r in records} == {"BLOCKED"}
    for record in records:
        review = next(c for c in record["checks"] if c["rule"] == "review.keywords")
        assert review["outcome"] == "FLAGGED"
        assert term in review["detail"]
    reports = records_for(settings, broker, catalog.REPORTS_REGULATOR, ids)
    assert all(r["article"] == "Art. 10" and r["evidence"] for r in reports)
    alerts = records_for(settings, broker, catalog.REPORTS_ALERTS, ids)
    assert {(a["kind"], a["severity"]) for a in alerts} == {("FEATURE_LIBRARY_HIT", "HIGH")}
    actions = records_for(settings, broker, catalog.USERS_ACTIONS, {user}, field="user_id", count=3)
    assert [(a["strikes"], a["action"]) for a in sorted(actions, key=lambda a: a["strikes"])] == [
        (1, "WARNING"),
        (2, "FUNCTION_RESTRICTION"),
        (3, "SUSPENSION"),
    ]


def test_keyword_library_updates_live(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    term = f"newterm{uuid.uuid4().hex[:6]}"
    text = f"Please review the {term} offer."
    assert verdict_of(settings, broker, writer, envelope(text, user)) == "PUBLISHABLE"

    entry_id = add_keyword(writer, worker, term, "LOW")  # LOW: held for a person, no strike
    assert verdict_of(settings, broker, writer, envelope(text, user)) == "HELD"

    partition, offset = writer.write_and_wait(catalog.REGISTRY_KEYWORDS, None, key=entry_id)
    wait_registry_applied(worker, catalog.REGISTRY_KEYWORDS.name, partition, offset)
    assert verdict_of(settings, broker, writer, envelope(text, user)) == "PUBLISHABLE"


def test_realname_grant_takes_effect_without_restart(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker, status="UNVERIFIED")
    assert verdict_of(settings, broker, writer, envelope("第一条", user)) == "BLOCKED"
    entry = {"user_id": user, "status": "VERIFIED", "method": "ID_CARD", "verified_at": now_ms()}
    partition, offset = writer.write_and_wait(catalog.REGISTRY_REALNAME, entry)
    wait_registry_applied(worker, catalog.REGISTRY_REALNAME.name, partition, offset)
    assert verdict_of(settings, broker, writer, envelope("第二条", user)) == "PUBLISHABLE"


def test_redelivered_artifact_gets_exactly_one_compliance_record(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    twice = envelope("同一条内容提交两次。", user)
    blocked_twice = envelope("unverified twice", f"nobody-{uuid.uuid4().hex[:6]}")
    marker = envelope("提交在后的标记。", user)
    for e in (twice, blocked_twice, twice, blocked_twice):
        writer.write(catalog.ARTIFACTS_SUBMITTED, e)
    writer.flush()
    writer.write_and_wait(catalog.ARTIFACTS_SUBMITTED, marker)
    ids = {twice["artifact_id"], blocked_twice["artifact_id"], marker["artifact_id"]}
    # Read until the marker (submitted after the duplicates, same pipeline) has its record,
    # then count: the duplicates had every chance to produce a second record by then.
    found = read_until(
        settings,
        broker,
        catalog.REPORTS_COMPLIANCE,
        lambda rs: (
            any(r["artifact_id"] == marker["artifact_id"] for r in rs)
            and sum(r["artifact_id"] != marker["artifact_id"] for r in rs) >= 2
        ),
        match=lambda r: r["artifact_id"] in ids,
    )
    everything = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids, count=len(found))
    counts = {i: sum(r["artifact_id"] == i for r in everything) for i in ids}
    assert counts == dict.fromkeys(ids, 1)


def test_bad_input_is_dead_lettered_and_the_pipeline_goes_on(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    topic = catalog.ARTIFACTS_SUBMITTED.name
    keys = {
        name: f"bad-{name}-{uuid.uuid4().hex[:6]}"
        for name in ("garbage", "wrong_schema", "missing_fields", "huge", "empty", "unsupported")
    }
    wrong = codec_for(catalog.REGISTRY_REALNAME).encode(
        {"user_id": "x", "status": "VERIFIED", "method": "PHONE", "verified_at": None}
    )
    # Missing fields: an envelope written by a schema that lacks required fields.
    truncated = codec_for(catalog.ARTIFACTS_SUBMITTED).encode(envelope("x", user))[:40]
    big = producer_config(settings, broker, **{"message.max.bytes": 60_000_000})
    producer = Producer(big)
    huge = envelope("长" * (50_000_000 // 3), user, artifact_id=keys["huge"])
    payloads = {
        "garbage": b"\xde\xad\xbe\xef not avro at all",
        "wrong_schema": wrong,
        "missing_fields": truncated,
        "huge": codec_for(catalog.ARTIFACTS_SUBMITTED).encode(huge),
        "empty": codec_for(catalog.ARTIFACTS_SUBMITTED).encode(
            envelope("   ", user, artifact_id=keys["empty"])
        ),
        "unsupported": codec_for(catalog.ARTIFACTS_SUBMITTED).encode(
            envelope("x", user, artifact_id=keys["unsupported"], modality="IMAGE")
        ),
    }
    for name, payload in payloads.items():
        producer.produce(topic, key=keys[name].encode(), value=payload)
    assert producer.flush(60) == 0
    good = envelope("坏消息之后的好消息。", user)
    writer.write_and_wait(catalog.ARTIFACTS_SUBMITTED, good)

    dead = {
        d["key"]: d
        for d in records_for(settings, broker, catalog.DLQ, set(keys.values()), field="key")
    }
    assert set(dead) == set(keys.values())
    for name, key in keys.items():
        letter = dead[key]
        assert letter["topic"] == topic and letter["stage"] == "artifact"
        assert letter["offset"] >= 0 and letter["partition"] >= 0
        assert len(letter["payload_excerpt"]) <= 1024
        assert letter["payload_size"] == len(payloads[name])
        assert not letter["retryable"]
    assert dead[keys["garbage"]]["error_type"] == "DecodeError"
    assert dead[keys["wrong_schema"]]["error_type"] == "DecodeError"
    assert dead[keys["missing_fields"]]["error_type"] == "DecodeError"
    assert dead[keys["huge"]]["error_type"] == "ValidationError"
    assert "max_text_bytes" in dead[keys["huge"]]["error"]
    assert "empty" in dead[keys["empty"]]["error"]
    assert "IMAGE" in dead[keys["unsupported"]]["error"]
    [record] = records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {good["artifact_id"]})
    assert record["verdict"] == "PUBLISHABLE"


def test_worker_serves_prometheus_metrics(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    assert verdict_of(settings, broker, writer, envelope("指标测试。", user)) == "PUBLISHABLE"
    url = f"http://127.0.0.1:{worker.web_port}/metrics/"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    processed = re.search(
        r'synthguard_events_total\{outcome="processed",stage="artifact"\} (\S+)', text
    )
    assert processed is not None and float(processed.group(1)) >= 1
    assert 'synthguard_stage_seconds_bucket{le="0.01",stage="artifact"}' in text


def test_bad_registry_entries_are_dead_lettered_and_later_ones_apply(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    key = f"kw-bad-{uuid.uuid4().hex[:6]}"
    writer.write_raw(catalog.REGISTRY_KEYWORDS.name, key.encode(), b"\x00garbage")
    term = f"after{uuid.uuid4().hex[:6]}"
    add_keyword(writer, worker, term, "HIGH")  # waits until the worker has applied it
    [letter] = records_for(settings, broker, catalog.DLQ, {key}, field="key")
    assert (letter["stage"], letter["topic"]) == ("registry", catalog.REGISTRY_KEYWORDS.name)
    assert letter["payload_excerpt"] == b"\x00garbage"
    user = verified_user(writer, worker)
    assert verdict_of(settings, broker, writer, envelope(f"买{term}", user)) == "BLOCKED"
    status = worker.status()
    assert status is not None and status["rejected"] >= 1
