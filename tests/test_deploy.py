"""docker-compose.yml: valid for Compose, every synthguard command in it is one our CLI takes,
and the brokers form the replicated KRaft cluster the topics are created for."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthguard.streams.cli import parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
REQUIRED = {"SYNTHGUARD_LABEL_KEYS": "k1:eA==", "MINIO_ROOT_USER": "u", "MINIO_ROOT_PASSWORD": "p"}


def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return dict(loaded["services"])


def test_compose_config_is_valid() -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.fail("docker-compose missing: run 'apt-get install docker-compose' (make test does)")
    env = os.environ | REQUIRED
    result = subprocess.run(
        [compose, "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    missing = subprocess.run(
        [compose, "-f", str(COMPOSE), "config", "-q"],
        env={k: v for k, v in env.items() if k != "SYNTHGUARD_LABEL_KEYS"},
        capture_output=True,
        check=False,
    )
    assert missing.returncode != 0  # the signing keys are required, not defaulted
    assert b"signing keys" in missing.stderr


def test_every_synthguard_command_parses_in_the_cli() -> None:
    commands = {
        name: service["command"]
        for name, service in services().items()
        if service.get("command", [None])[0] == "synthguard"
    }
    assert {"topics", "worker"} <= set(commands)
    for name, command in commands.items():
        try:
            args = parser().parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"service {name}: {command} is not a synthguard command")
        assert callable(args.fn), name


def test_three_kraft_brokers_and_topics_replicated_three_times() -> None:
    found = services()
    brokers = {name: s["environment"] for name, s in found.items() if name.startswith("kafka-")}
    assert len(brokers) == 3
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in brokers.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {env["KAFKA_NODE_ID"] for env in brokers.values()} == {"1", "2", "3"}
    for env in brokers.values():
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    topics = found["topics"]["environment"]
    assert topics["SYNTHGUARD_REPLICATION"] == "3"
    assert topics["SYNTHGUARD_BROKER"].count("kafka-") == 3
    # The workers use the blob store the stack runs, not a folder inside the container.
    assert found["worker"]["environment"]["SYNTHGUARD_BLOB_STORE"].startswith("s3://")
