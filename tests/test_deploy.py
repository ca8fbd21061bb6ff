"""Deployment files: docker-compose.yml valid for Compose, with the replicated KRaft cluster
the topics are created for; the Kubernetes manifests' settings valid and their probes real; every
synthguard command in either one our CLI takes."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from synthguard.settings import load_settings
from synthguard.streams import catalog
from synthguard.streams.cli import parser
from synthguard.streams.runner import WorkerProcess

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
    assert {"topics", "pipeline", "watermark"} <= set(commands)
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
    for group in ("pipeline", "watermark"):
        assert found[group]["environment"]["SYNTHGUARD_BLOB_STORE"].startswith("s3://")


def manifests() -> dict[str, Any]:
    """kind/name -> manifest, for every file kustomization.yaml lists."""
    folder = ROOT / "deploy" / "k8s"
    listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
    found = {}
    for name in listed:
        for doc in yaml.safe_load_all((folder / name).read_text()):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_kubernetes_settings_are_valid_settings() -> None:
    config = manifests()["ConfigMap/synthguard-config"]["data"]
    secrets = {"SYNTHGUARD_LABEL_KEYS": "k1:" + "A" * 44, "SYNTHGUARD_REVIEWER_TOKEN": "t" * 32}
    settings = load_settings(env=config | secrets)  # raises ConfigError on any bad name or value
    groups = {
        "synthguard-pipeline": settings.app_id,
        "synthguard-watermark": f"{settings.app_id}-watermark",
    }
    for name, consumer_group in groups.items():
        scaled = manifests()[f"ScaledObject/{name}"]["spec"]
        assert scaled["scaleTargetRef"]["name"] == name
        # A worker beyond the partition count owns nothing: KEDA stops there.
        assert scaled["maxReplicaCount"] == settings.partitions
        for trigger in scaled["triggers"]:
            assert trigger["metadata"]["consumerGroup"] == consumer_group
            assert trigger["metadata"]["topic"] in catalog.BY_NAME


def test_kubernetes_commands_parse_and_probes_answer_on_a_live_worker(
    worker: WorkerProcess,
) -> None:
    found = manifests()
    job = found["Job/synthguard-topics"]["spec"]["template"]["spec"]["containers"][0]
    assert callable(parser().parse_args(job["command"][1:]).fn)
    for name in ("synthguard-pipeline", "synthguard-watermark"):
        [container] = found[f"Deployment/{name}"]["spec"]["template"]["spec"]["containers"]
        args = parser().parse_args(container["command"][1:])
        assert f"synthguard-{args.group}" == name
        assert args.web_port == container["ports"][0]["containerPort"]
    # The probes of a pipeline worker, on a live one (the session worker runs every stage).
    [container] = found["Deployment/synthguard-pipeline"]["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        path = container[probe]["httpGet"]["path"]
        url = f"http://127.0.0.1:{worker.web_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200, (probe, path)
