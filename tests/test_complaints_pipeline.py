"""Appeals, complaints and reports over the embedded broker (Art. 12): routed with their
published deadline, refused with a clear reason, alerted on before and after the deadline,
and decided with effects on the artifact, the user, the rumor database and the consents."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
from helpers import (
    consent_entry,
    envelope,
    media_envelope,
    read_all,
    read_until,
    records_for,
    register,
    verdicts,
    verified_user,
)

from synthguard.blobs import open_store
from synthguard.records import Record, now_ms
from synthguard.samples import images as image_samples
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicReader, TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")
DAY = 24 * 3600 * 1000


def complaint(category: str, submitter: str, **fields: Any) -> Record:
    kind = "APPEAL" if category in {"BLOCK", "USER_ACTION"} else "COMPLAINT"
    record: Record = {
        "complaint_id": f"complaint-{uuid.uuid4().hex[:12]}",
        "type": kind,
        "category": category,
        "submitter_id": submitter,
        "artifact_id": None,
        "action_id": None,
        "subject_id": None,
        "text": "请复核 please review",
        "contact": None,
        "submitted_at": now_ms(),
    }
    return record | fields


def file(writer: TopicWriter, *complaints: Record) -> None:
    for record in complaints:
        writer.write(catalog.COMPLAINTS_SUBMITTED, record)
    writer.flush()


def feedback(settings: Settings, broker: str, cid: str, status: str) -> Record:
    """The complainant's feedback with `status` (earlier ones are skipped)."""
    [found] = read_until(
        settings,
        broker,
        catalog.COMPLAINTS_FEEDBACK,
        bool,
        match=lambda r: r["complaint"]["complaint_id"] == cid and r["status"] == status,
    )
    return found


def decide(writer: TopicWriter, cid: str, target: str, decision: str, **fields: Any) -> None:
    outcome = {
        "complaint_id": cid,
        "target": target,
        "decision": decision,
        "reviewer": "rev-ann",
        "note": "checked by hand",
        "refutation": None,
        "decided_at": now_ms(),
    } | fields
    writer.write(catalog.COMPLAINTS_OUTCOMES, outcome)
    writer.flush()


def compliance(settings: Settings, broker: str, artifact_id: str, count: int) -> list[Record]:
    return records_for(settings, broker, catalog.REPORTS_COMPLIANCE, {artifact_id}, count=count)


def test_an_upheld_appeal_lifts_a_block_and_republishes_the_artifact_labeled(
    settings: Settings, broker: str, writer: TopicWriter
) -> None:
    unverified = f"u-{uuid.uuid4().hex[:8]}"  # no real-name record: blocked (Art. 9)
    source = envelope("我的旅行日记：西湖边的早晨。", unverified)
    [blocked] = verdicts(settings, broker, writer, source)
    assert blocked["verdict"] == "BLOCKED"

    appeal = complaint("BLOCK", unverified, artifact_id=source["artifact_id"])
    file(writer, appeal)
    opened = feedback(settings, broker, appeal["complaint_id"], "OPEN")
    assert opened["queue"] == "APPEALS"
    # The published deadline for appeals: 7 days from acceptance.
    assert abs(opened["deadline_at"] - (now_ms() + 7 * DAY)) < 60_000
    assert "7 days" in opened["message"]
    [queued] = records_for(
        settings,
        broker,
        catalog.COMPLAINT_QUEUES["APPEALS"],
        {appeal["complaint_id"]},
        field="complaint.complaint_id",
    )
    assert queued["target"] == source["artifact_id"]

    decide(writer, appeal["complaint_id"], source["artifact_id"], "UPHELD")
    decide(writer, appeal["complaint_id"], source["artifact_id"], "UPHELD")  # redelivered
    first, second = compliance(settings, broker, source["artifact_id"], 2)
    assert (first["verdict"], second["verdict"]) == ("BLOCKED", "PUBLISHABLE")
    assert second["reviewer"] == "rev-ann"
    assert second["label"] is not None  # labeled on its way out (Art. 16, 17)
    realname = next(c for c in second["checks"] if c["rule"] == "realname.verified")
    assert realname["outcome"] == "FLAGGED"
    assert f"appeal {appeal['complaint_id']} upheld by rev-ann" in realname["detail"]
    upheld = feedback(settings, broker, appeal["complaint_id"], "UPHELD")
    assert "block is lifted" in upheld["message"]
    assert "checked by hand" in upheld["message"]
    statuses = [
        r["status"]
        for r in read_all(
            settings,
            broker,
            catalog.COMPLAINTS_FEEDBACK,
            lambda r: r["complaint"]["complaint_id"] == appeal["complaint_id"],
        )
    ]
    assert statuses == ["OPEN", "UPHELD"]
    mine = read_all(
        settings,
        broker,
        catalog.REPORTS_COMPLIANCE,
        lambda r: r["artifact_id"] == source["artifact_id"],
    )
    assert len(mine) == 2  # the second outcome changed nothing


def test_refused_complaints_say_why(settings: Settings, broker: str, writer: TopicWriter) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    source = envelope("一段普通的文字。", user)
    [blocked] = verdicts(settings, broker, writer, source)
    unknown = complaint("ILLEGAL_CONTENT", "p-1", artifact_id="no-such-artifact")
    not_yours = complaint("BLOCK", "someone-else", artifact_id=source["artifact_id"])
    oversize = complaint("RUMOR", "p-2", artifact_id=source["artifact_id"], text="谣" * 2001)
    wrong_kind = complaint("RUMOR", "p-3", artifact_id=source["artifact_id"], type="APPEAL")
    file(writer, unknown, not_yours, oversize, wrong_kind)

    rejected = {
        c["complaint_id"]: feedback(settings, broker, c["complaint_id"], "REJECTED")["message"]
        for c in (unknown, not_yours, oversize, wrong_kind)
    }
    assert "no artifact no-such-artifact on record" in rejected[unknown["complaint_id"]]
    assert "only the user who submitted" in rejected[not_yours["complaint_id"]]
    assert "2,001 characters, over the 2,000 limit" in rejected[oversize["complaint_id"]]
    assert "APPEAL cannot be about RUMOR" in rejected[wrong_kind["complaint_id"]]
    assert blocked["verdict"] == "BLOCKED"


def test_duplicates_are_folded_and_a_flood_is_rate_limited(
    settings: Settings, broker: str, writer: TopicWriter
) -> None:
    source = envelope("又一段普通的文字。", f"u-{uuid.uuid4().hex[:8]}")
    verdicts(settings, broker, writer, source)
    flooder = f"p-{uuid.uuid4().hex[:8]}"
    first = complaint("ILLEGAL_CONTENT", flooder, artifact_id=source["artifact_id"])
    again = complaint("ILLEGAL_CONTENT", flooder, artifact_id=source["artifact_id"])
    # Five accepted per hour (the published limit), each about a different artifact id.
    others = [
        complaint("RUMOR", flooder, artifact_id=f"a-{i}-{uuid.uuid4().hex[:6]}") for i in range(5)
    ]
    file(writer, first, again, *others)

    duplicate = feedback(settings, broker, again["complaint_id"], "DUPLICATE")
    assert duplicate["duplicate_of"] == first["complaint_id"]
    assert first["complaint_id"] in duplicate["message"]
    limited = feedback(settings, broker, others[-1]["complaint_id"], "REJECTED")
    assert "too many submissions: at most 5 per 1 hour" in limited["message"]
    assert "file again after" in limited["message"]
    # The four before it went through to the tracker (and were refused there: no artifact).
    for record in others[:4]:
        refused = feedback(settings, broker, record["complaint_id"], "REJECTED")
        assert "no artifact" in refused["message"]


def test_an_upheld_appeal_lifts_a_user_action(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    term = f"违禁词{uuid.uuid4().hex[:6]}"
    entry = {"entry_id": f"kw-{term}", "term": term, "category": "test", "severity": "HIGH"}
    register(writer, worker, catalog.REGISTRY_KEYWORDS, entry)
    user = verified_user(writer, worker)
    source = envelope(f"这里有{term}。", user)
    [blocked] = verdicts(settings, broker, writer, source)
    assert blocked["verdict"] == "BLOCKED"
    [warning] = records_for(settings, broker, catalog.USERS_ACTIONS, {user}, field="user_id")
    assert (warning["action"], warning["strikes"]) == ("WARNING", 1)

    appeal = complaint("USER_ACTION", user, action_id=warning["action_id"])
    bogus = complaint("USER_ACTION", user, action_id="action-nope")
    file(writer, appeal, bogus)
    feedback(settings, broker, appeal["complaint_id"], "OPEN")
    refused = feedback(settings, broker, bogus["complaint_id"], "REJECTED")
    assert f"no measure action-nope on record for {user}" in refused["message"]

    decide(writer, appeal["complaint_id"], user, "UPHELD")
    _, lifted = records_for(settings, broker, catalog.USERS_ACTIONS, {user}, "user_id", 2)
    assert (lifted["action"], lifted["lifts"], lifted["strikes"]) == (
        "LIFTED",
        warning["action_id"],
        0,
    )
    assert lifted["article"] == "Art. 12"


def test_an_upheld_rumor_complaint_feeds_the_rumor_database(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    claim = f"紧急通知：{uuid.uuid4().hex[:6]}小区的自来水明天起停供一个月，请大家囤水。"
    [published] = verdicts(settings, broker, writer, envelope(claim, user))
    assert published["verdict"] == "PUBLISHABLE"
    report = complaint("RUMOR", f"p-{uuid.uuid4().hex[:8]}", artifact_id=published["artifact_id"])
    file(writer, report)
    opened = feedback(settings, broker, report["complaint_id"], "OPEN")
    assert opened["queue"] == "RUMORS"

    refutation = {
        "claim": claim,
        "refutation": "自来水公司：供水正常，无停水计划。",
        "link": "https://example.org/refutation",
        "authority": "市供水公司",
    }
    decide(
        writer, report["complaint_id"], published["artifact_id"], "UPHELD", refutation=refutation
    )
    rumor_id = f"complaint-{report['complaint_id']}"
    [entry] = records_for(settings, broker, catalog.REGISTRY_RUMORS, {rumor_id}, field="rumor_id")
    assert entry["claim"] == claim
    feedback(settings, broker, report["complaint_id"], "UPHELD")
    # Copies from now on are held with the refutation attached (Art. 11).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until this worker's rumor index has the entry
        [copy] = verdicts(settings, broker, writer, envelope("转发！" + claim, user))
        if copy["verdict"] == "HELD":
            break
    assert copy["verdict"] == "HELD"
    assert copy["notices"][0]["refutation"] == refutation["refutation"]


def test_an_upheld_likeness_complaint_blocks_and_revokes_the_consent(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    consent_id, person = f"c-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    consent = consent_entry(consent_id, person, user, features=["VOICE"], uses=["VOICE_IMITATION"])
    register(writer, worker, catalog.REGISTRY_CONSENTS, consent)
    source = envelope(
        "（配音稿）大家好，欢迎收听。",
        user,
        tech_category="VOICE_GENERATION",
        service_kind="VOICE_IMITATION",
        biometric_subjects=[{"subject_id": person, "feature": "VOICE", "consent_id": consent_id}],
    )
    [published] = verdicts(settings, broker, writer, source)
    assert published["verdict"] == "PUBLISHABLE"

    report = complaint("LIKENESS", person, artifact_id=source["artifact_id"], subject_id=person)
    file(writer, report)
    feedback(settings, broker, report["complaint_id"], "OPEN")
    decide(writer, report["complaint_id"], source["artifact_id"], "UPHELD")

    _, blocked = compliance(settings, broker, source["artifact_id"], 2)
    assert (blocked["verdict"], blocked["reviewer"]) == ("BLOCKED", "rev-ann")
    assert blocked["reasons"][0].startswith("Art. 14: LIKENESS complaint")
    revoked = read_until(
        settings,
        broker,
        catalog.REGISTRY_CONSENTS,
        bool,
        match=lambda r: r["consent_id"] == consent_id and r["revoked_at"] is not None,
    )
    assert revoked[0]["subject_id"] == person
    alerts = records_for(settings, broker, catalog.REPORTS_ALERTS, {source["artifact_id"]})
    assert alerts[0]["kind"] == "UNCONSENTED_BIOMETRIC"
    # The same user's next voice imitation of that person now meets the revoked consent.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [again] = verdicts(
            settings,
            broker,
            writer,
            envelope(**{**source, "artifact_id": f"t-{uuid.uuid4().hex[:12]}"}),
        )
        if again["verdict"] == "BLOCKED":
            break
    assert any("revoked" in reason for reason in again["reasons"])


def test_deadline_warning_then_breach_alert_once_each(
    settings: Settings, broker: str, writer: TopicWriter
) -> None:
    source = envelope("一段需要人工判断的文字。", f"u-{uuid.uuid4().hex[:8]}")
    verdicts(settings, broker, writer, source)
    # The test settings publish 8 s for illegal content (conftest): a warning at 6 s, a
    # breach at 8 s.
    report = complaint(
        "ILLEGAL_CONTENT",
        f"p-{uuid.uuid4().hex[:8]}",
        artifact_id=source["artifact_id"],
        type="REPORT",
    )
    file(writer, report)
    feedback(settings, broker, report["complaint_id"], "OPEN")
    alerts = read_until(
        settings,
        broker,
        catalog.REPORTS_ALERTS,
        lambda found: {a["kind"] for a in found} >= {"COMPLAINT_DUE", "SLA_BREACH"},
        match=lambda r: r["evidence"].get("complaint_id") == report["complaint_id"],
    )
    # Alerts are keyed by id, so the two may come from different partitions in any order.
    by_kind = {a["kind"]: a for a in alerts}
    warning, breach = by_kind["COMPLAINT_DUE"], by_kind["SLA_BREACH"]
    assert (warning["severity"], breach["severity"]) == ("MEDIUM", "HIGH")
    assert warning["at"] <= breach["at"]
    assert "missed its published response deadline" in breach["summary"]
    time.sleep(3)  # three more ticks: nothing more may come
    again = read_all(
        settings,
        broker,
        catalog.REPORTS_ALERTS,
        lambda r: r["evidence"].get("complaint_id") == report["complaint_id"],
    )
    assert sorted(a["kind"] for a in again) == ["COMPLAINT_DUE", "SLA_BREACH"]


def test_a_decided_ticket_is_forgotten_after_its_retention(
    settings: Settings, broker: str, writer: TopicWriter
) -> None:
    """The tracker's table holds open tickets and recent decisions: 10 s after its decision
    (the test settings; 7 days published) a ticket is deleted from it, a tombstone on its
    changelog, while the complainant's history stays on complaints.feedback."""
    source = envelope("一篇普通的游记。", f"u-{uuid.uuid4().hex[:8]}")
    verdicts(settings, broker, writer, source)
    report = complaint("RUMOR", f"p-{uuid.uuid4().hex[:8]}", artifact_id=source["artifact_id"])
    file(writer, report)
    cid = report["complaint_id"]
    feedback(settings, broker, cid, "OPEN")
    decide(writer, cid, source["artifact_id"], "DISMISSED")
    dismissed = feedback(settings, broker, cid, "DISMISSED")
    changelog = f"{settings.app_id}-complaint_tickets-changelog"
    reader = TopicReader(settings, broker, [changelog])
    writes: list[tuple[bytes | None, int]] = []  # (value, broker timestamp) for this ticket
    deadline = time.monotonic() + 60  # 10 s of retention, ticks every second
    try:
        for message in reader.messages(timeout_s=60):
            if cid.encode() in (message.key() or b""):
                writes.append((message.value(), message.timestamp()[1]))
                if message.value() is None:
                    break
            if time.monotonic() > deadline:
                break
    finally:
        reader.close()
    *states, (tombstone, deleted_at) = writes
    assert tombstone is None, f"no tombstone for {cid}: {len(writes)} write(s)"
    opened, decided = (orjson.loads(value or b"") for value, _ in states)
    assert (opened["decided"], decided["decided"]) == (None, "DISMISSED")
    assert deleted_at >= decided["decided_at"] + 10_000  # not before its retention ran out
    assert dismissed["status"] == "DISMISSED"  # the history stays where the portal reads it


def test_an_upheld_unlabeled_ai_complaint_sends_the_artifact_back_through_labeling(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    store = open_store(settings.blob_store_spec())
    photo = store.put(image_samples.encode("astronaut", "PNG"), mime="image/png")
    user = verified_user(writer, worker)
    # A photo the platform spreads, neither labeled nor declared AI: published as it is.
    source = media_envelope(
        user, photo, "IMAGE", origin="REDISTRIBUTED", declared_ai=False, service_kind="OTHER"
    )
    [published] = verdicts(settings, broker, writer, source)
    assert (published["verdict"], published["label"]) == ("PUBLISHABLE", None)

    report = complaint(
        "UNLABELED_AI", f"p-{uuid.uuid4().hex[:8]}", artifact_id=source["artifact_id"]
    )
    file(writer, report)
    assert feedback(settings, broker, report["complaint_id"], "OPEN")["queue"] == "LABELING"
    decide(writer, report["complaint_id"], source["artifact_id"], "UPHELD")

    _, relabeled = compliance(settings, broker, source["artifact_id"], 2)
    assert relabeled["verdict"] == "PUBLISHABLE"
    assert relabeled["label"] is not None  # now labeled: AI-generated, as declared on review
    assert relabeled["reviewer"] == "rev-ann"
    assert any("unlabeled-AI complaint" in reason for reason in relabeled["reasons"])
    # Once labeled, the same complaint is refused: there is nothing left to label.
    again = complaint(
        "UNLABELED_AI", f"p-{uuid.uuid4().hex[:8]}", artifact_id=source["artifact_id"]
    )
    file(writer, again)
    refused = feedback(settings, broker, again["complaint_id"], "REJECTED")
    assert "already carries an AI label" in refused["message"]
