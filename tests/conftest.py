"""Shared fixtures: a real embedded broker (Tansu) and real worker processes; no mocks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import REVIEWER_TOKEN

from synthguard.complaints.policy import DEFAULT_DEADLINES
from synthguard.settings import Settings, load_settings
from synthguard.streams import catalog
from synthguard.streams.admin import create_topics
from synthguard.streams.broker import EmbeddedBroker
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

TEST_SERVICE = {
    "service_id": "svc-test",
    "provider_id": "prov-test",
    "name": "test service",
    "functions": ["BIOMETRIC_EDITING"],
    "assessments": [
        {
            "function": "BIOMETRIC_EDITING",
            "reference": "SA-TEST-1",
            "assessor": "SELF",
            "completed_at": 1_700_000_000_000,
            "expires_at": None,
        }
    ],
    "filing_number": None,
    "filing_status": "NONE",
    "updated_at": 1_700_000_000_000,
}


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    with EmbeddedBroker() as b:
        yield b.bootstrap


@pytest.fixture(scope="session")
def settings(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    settings = load_settings(
        env={
            "SYNTHGUARD_BROKER": f"kafka://{broker}",
            "SYNTHGUARD_HOME": str(home),
            # a stalled video is re-issued within the failover test's patience
            "SYNTHGUARD_SEGMENT_TIMEOUT_S": "15",
            # Illegal-content tickets fall due within a test's patience: a warning alert
            # after 6 s, a breach after 8 s (the others keep the published defaults).
            "SYNTHGUARD_COMPLAINT_DEADLINES": DEFAULT_DEADLINES.replace(
                "ILLEGAL_CONTENT=24h", "ILLEGAL_CONTENT=8s"
            ),
            "SYNTHGUARD_COMPLAINT_TICK_S": "1",
            # decided tickets are forgotten within a test's patience (published: 7 days)
            "SYNTHGUARD_COMPLAINT_TICKET_RETENTION_S": "10",
            "SYNTHGUARD_REVIEWER_TOKEN": REVIEWER_TOKEN,
        }
    )
    create_topics(settings, broker)
    # The test envelopes' service (tests/helpers.envelope), assessed for face and voice work
    # (Art. 15), so pipeline tests of biometric kinds pass its gate.
    writer = TopicWriter(settings, broker)
    writer.write(catalog.REGISTRY_SERVICES, TEST_SERVICE)
    writer.close()
    return settings


@pytest.fixture(scope="session")
def worker(settings: Settings, broker: str) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(settings, broker, "worker-test")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def writer(settings: Settings, broker: str) -> TopicWriter:
    return TopicWriter(settings, broker)
