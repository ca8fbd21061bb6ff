"""Art. 11 over the embedded broker: rumors added to registry.rumors hold the next artifact
that repeats or paraphrases them, with the refutation attached; a withdrawn one no longer does."""

from __future__ import annotations

import uuid

import pytest
from helpers import envelope, records_for, register, verdicts, verified_user, wait_registry_applied

from synthguard.records import Record, now_ms
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")


def rumor(claim: str) -> Record:
    return {
        "rumor_id": f"rm-{uuid.uuid4().hex[:8]}",
        "claim": claim,
        "refutation": "Refuted: no such effect exists.",
        "link": "https://piyao.example/test",
        "authority": "test desk",
        "refuted_at": now_ms(),
    }


def test_rumors_hold_what_repeats_them_until_withdrawn(
    settings: Settings, broker: str, writer: TopicWriter, worker: WorkerProcess
) -> None:
    user = verified_user(writer, worker)
    tag = uuid.uuid4().hex[:6]
    water = rumor(f"{tag}市自来水检出大量致癌物，喝了会得癌症，请大家这几天不要喝自来水。")
    flu = rumor("Drinking hot water every 15 minutes kills the flu virus in your throat.")
    first = envelope(f"转发！{tag}市自来水检出大量致癌物，喝了会得癌症，千万别喝自来水！", user)
    [before] = verdicts(settings, broker, writer, first)
    assert before["verdict"] == "PUBLISHABLE"  # not yet refuted

    register(writer, worker, catalog.REGISTRY_RUMORS, water)
    register(writer, worker, catalog.REGISTRY_RUMORS, flu)
    again = envelope(first["text"], user)
    paraphrase = envelope(
        "Sipping hot water every quarter of an hour will kill any flu virus in your throat.", user
    )
    repeated, reworded = verdicts(settings, broker, writer, again, paraphrase)
    assert (repeated["verdict"], reworded["verdict"]) == ("HELD", "HELD")
    [notice] = repeated["notices"]
    assert (notice["rumor_id"], notice["method"]) == (water["rumor_id"], "minhash")
    assert notice["link"] == water["link"] and notice["refutation"] == water["refutation"]
    assert reworded["notices"][0]["rumor_id"] == flu["rumor_id"]
    assert reworded["notices"][0]["method"] == "embedding"
    [alert] = records_for(settings, broker, catalog.REPORTS_ALERTS, {again["artifact_id"]})
    assert alert["kind"] == "RUMOR_HIT"
    [report] = records_for(settings, broker, catalog.REPORTS_REGULATOR, {again["artifact_id"]})
    assert report["article"] == "Art. 11"
    actions = records_for(settings, broker, catalog.USERS_ACTIONS, {user}, "user_id", count=2)
    assert [a["action"] for a in sorted(actions, key=lambda a: a["strikes"])] == [
        "WARNING",
        "FUNCTION_RESTRICTION",
    ]  # a user who keeps spreading refuted rumors climbs the ladder

    spec = catalog.REGISTRY_RUMORS
    partition, offset = writer.write_and_wait(spec, None, key=water["rumor_id"])
    wait_registry_applied(worker, spec.name, partition, offset)
    [after] = verdicts(settings, broker, writer, envelope(first["text"], user))
    assert after["verdict"] == "PUBLISHABLE"
