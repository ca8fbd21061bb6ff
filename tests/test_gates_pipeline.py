"""Admission gates and manual review over the embedded broker and a real worker: registry
updates take effect on the next artifact without a restart; reviewers' decisions are applied."""

from __future__ import annotations

import uuid

import orjson
import pytest
from helpers import (
    consent_entry,
    envelope,
    media_envelope,
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
from synthguard.streams.cli import main
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")
DAY = 86_400_000


def alerts_for(settings: Settings, broker: str, artifact_id: str) -> list[Record]:
    return records_for(settings, broker, catalog.REPORTS_ALERTS, {artifact_id})


def test_consent_grants_and_revocations_take_effect_on_the_next_artifact(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    store = open_store(settings.blob_store_spec())
    user = verified_user(writer, worker)
    photo = store.put(image_samples.encode("astronaut", "JPEG"), mime="image/jpeg")
    consent_id, person = f"c-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"

    def swap() -> Record:
        return media_envelope(
            user,
            photo,
            "IMAGE",
            tech_category="BIOMETRIC_IMAGE_VIDEO",
            service_kind="FACE_SWAP",
            biometric_subjects=[
                {"subject_id": person, "feature": "FACE", "consent_id": consent_id}
            ],
        )

    consent = consent_entry(consent_id, person, user)
    before = swap()
    [blocked] = verdicts(settings, broker, writer, before)
    assert blocked["verdict"] == "BLOCKED"
    assert any(r.startswith("Art. 14") and "not in the registry" in r for r in blocked["reasons"])
    [alert] = alerts_for(settings, broker, before["artifact_id"])
    assert (alert["kind"], alert["severity"]) == ("UNCONSENTED_BIOMETRIC", "HIGH")

    register(writer, worker, catalog.REGISTRY_CONSENTS, consent)
    [granted] = verdicts(settings, broker, writer, swap())
    assert granted["verdict"] == "PUBLISHABLE"
    assert {c["rule"]: c["outcome"] for c in granted["checks"]}["consent.biometric"] == "PASS"

    register(writer, worker, catalog.REGISTRY_CONSENTS, consent | {"revoked_at": now_ms()})
    [revoked] = verdicts(settings, broker, writer, swap())
    assert revoked["verdict"] == "BLOCKED"
    assert any("revoked" in r for r in revoked["reasons"])


def test_a_new_filing_and_a_newly_listed_news_source_take_effect_live(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    service_id, source_id = f"svc-{uuid.uuid4().hex[:8]}", f"src-{uuid.uuid4().hex[:8]}"
    service = {
        "service_id": service_id,
        "provider_id": "prov-test",
        "name": "trending topics",
        "functions": ["PUBLIC_OPINION"],
        "assessments": [
            {
                "function": "PUBLIC_OPINION",
                "reference": "SA-1",
                "assessor": "SELF",
                "completed_at": now_ms() - DAY,
                "expires_at": None,
            }
        ],
        "filing_number": None,
        "filing_status": "NONE",
        "updated_at": now_ms(),
    }
    register(writer, worker, catalog.REGISTRY_SERVICES, service)

    def opinion() -> Record:
        return envelope("今日话题：城市骑行道。", user, service_id=service_id)

    def news() -> Record:
        return envelope("转载：图书馆周末延长开放。", user, is_news=True, news_source=source_id)

    unfiled, unlisted = verdicts(settings, broker, writer, opinion(), news())
    assert unfiled["verdict"] == "BLOCKED" and "(Art. 19)" in unfiled["reasons"][0]
    assert unlisted["verdict"] == "BLOCKED" and "possible false news" in unlisted["reasons"][0]

    number = "网信算备-TEST-1"
    filed = service | {"filing_number": number, "filing_status": "FILED"}
    register(writer, worker, catalog.REGISTRY_SERVICES, filed)
    listed = {"source_id": source_id, "name": "新华网", "status": "APPROVED", "listed_at": 1}
    register(writer, worker, catalog.REGISTRY_NEWS_SOURCES, listed)
    on_file, approved = verdicts(settings, broker, writer, opinion(), news())
    assert on_file["verdict"] == "PUBLISHABLE" and on_file["filing_number"] == number
    assert approved["verdict"] == "PUBLISHABLE"


def held(settings: Settings, broker: str, writer: TopicWriter, user: str, term: str) -> Record:
    """A text that hits a LOW keyword: HELD, with a review request."""
    source = envelope(f"海外{term}奶粉，价格从优。", user)
    [record] = verdicts(settings, broker, writer, source)
    assert record["verdict"] == "HELD"
    [request] = records_for(settings, broker, catalog.REVIEW_REQUESTS, {source["artifact_id"]})
    assert request["text"] and term in request["text"]
    return source


def test_reviewer_decisions_publish_or_block_with_the_reviewer_on_record(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    term = f"代购{uuid.uuid4().hex[:4]}"
    entry = {"entry_id": f"kw-{term}", "term": term, "category": "grey", "severity": "LOW"}
    register(writer, worker, catalog.REGISTRY_KEYWORDS, entry)
    kept, dropped = (
        held(settings, broker, writer, user, term),
        held(settings, broker, writer, user, term),
    )

    def decision(source: Record, kind: str) -> Record:
        return {
            "decision_id": f"d-{uuid.uuid4().hex[:8]}",
            "artifact_id": source["artifact_id"],
            "reviewer_id": "rev-7",
            "decision": kind,
            "strike": kind == "BLOCK",
            "category": "grey-market",
            "note": None,
            "decided_at": now_ms(),
        }

    ghost = decision(envelope("x", user), "PUBLISH")
    for d in (decision(dropped, "BLOCK"), ghost):
        writer.write(catalog.REVIEW_DECISIONS, d)
    writer.flush()
    # the reviewers' command
    cli = ["--broker", f"kafka://{broker}", "review", kept["artifact_id"], "--reviewer", "rev-7"]
    assert main([*cli, "--publish", "--strike"]) == 2  # a strike goes with a block
    assert main([*cli, "--publish"]) == 0
    ids = {kept["artifact_id"], dropped["artifact_id"]}
    final = {
        r["artifact_id"]: r
        for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, ids, count=4)
        if r["verdict"] != "HELD"
    }
    assert (final[kept["artifact_id"]]["verdict"], final[kept["artifact_id"]]["reviewer"]) == (
        "PUBLISHABLE",
        "rev-7",
    )
    assert final[dropped["artifact_id"]]["verdict"] == "BLOCKED"
    assert final[dropped["artifact_id"]]["reviewer"] == "rev-7"
    [published] = records_for(
        settings, broker, catalog.ARTIFACTS_REVIEWED, {kept["artifact_id"]}, "envelope.artifact_id"
    )
    assert published["label"]["labeled_text"].startswith("【本内容由人工智能生成】")
    [report] = records_for(settings, broker, catalog.REPORTS_REGULATOR, {dropped["artifact_id"]})
    assert report["measures"][-1] == "strike recorded against the user"
    [action] = records_for(settings, broker, catalog.USERS_ACTIONS, {dropped["artifact_id"]})
    assert (action["user_id"], action["action"]) == (user, "WARNING")
    [dead] = records_for(settings, broker, catalog.DLQ, {ghost["artifact_id"]}, "key")
    assert "not held for review" in dead["error"]


def test_registry_check_answers_what_an_app_store_verifies(
    broker: str, writer: TopicWriter, capsys: pytest.CaptureFixture[str]
) -> None:
    service_id = f"svc-{uuid.uuid4().hex[:8]}"
    entry: Record = {
        "service_id": service_id,
        "provider_id": "prov-test",
        "name": "face studio",
        "functions": ["BIOMETRIC_EDITING", "PUBLIC_OPINION"],
        "assessments": [
            {
                "function": "BIOMETRIC_EDITING",
                "reference": "SA-9",
                "assessor": "CAICT",
                "completed_at": now_ms() - DAY,
                "expires_at": None,
            }
        ],
        "filing_number": None,
        "filing_status": "NONE",
        "updated_at": now_ms(),
    }
    writer.write_and_wait(catalog.REGISTRY_SERVICES, entry)

    def check(service: str) -> tuple[int, Record]:
        code = main(["--broker", f"kafka://{broker}", "registry", "check", service])
        return code, orjson.loads(capsys.readouterr().out)

    code, status = check(service_id)
    assert code == 1 and status["registered"] and not status["compliant"]
    assert status["assessments"] == {"BIOMETRIC_EDITING": "SA-9"}
    assert any("PUBLIC_OPINION missing" in p for p in status["problems"])
    assert any("(Art. 19)" in p for p in status["problems"])

    opinion = {**entry["assessments"][0], "function": "PUBLIC_OPINION", "reference": "SA-10"}
    fixed = entry | {
        "assessments": [*entry["assessments"], opinion],
        "filing_number": "网信算备-9",
        "filing_status": "FILED",
    }
    writer.write_and_wait(catalog.REGISTRY_SERVICES, fixed)
    code, status = check(service_id)
    assert code == 0 and status["compliant"] and status["filing_number"] == "网信算备-9"
    assert check("svc-nobody")[1]["registered"] is False
