from __future__ import annotations

import base64
from pathlib import Path

import pytest

from synthguard.errors import ConfigError
from synthguard.labels.text import NoticePosition
from synthguard.settings import load_settings


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "synthguard.toml"
    config.write_text('partitions = 8\nproducer_id = "from-file"\nnotice_position = "END"\n')
    env = {"SYNTHGUARD_CONFIG": str(config), "SYNTHGUARD_PRODUCER_ID": "from-env"}
    settings = load_settings(env=env, overrides={"partitions": 2, "broker": None})
    assert settings.partitions == 2
    assert settings.producer_id == "from-env"
    assert settings.notice_position is NoticePosition.END
    assert settings.broker == "embedded"


def test_settings_survive_the_trip_to_a_worker_process(tmp_path: Path) -> None:
    settings = load_settings(env={"SYNTHGUARD_HOME": str(tmp_path), "SYNTHGUARD_PARTITIONS": "6"})
    assert load_settings(env=settings.to_env()) == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SYNTHGUARD_BROKER": "localhost:9092"}, "kafka://"),
        ({"SYNTHGUARD_PARTITIONS": "many"}, "partitions"),
        ({"SYNTHGUARD_PARTITIONS": "0"}, ">= 1"),
        ({"SYNTHGUARD_LADDER": "1:BAN"}, "ladder"),
        ({"SYNTHGUARD_NOTICE_POSITION": "SIDEWAYS"}, "notice_position"),
        ({"SYNTHGUARD_CONFIG": "/nonexistent.toml"}, "SYNTHGUARD_CONFIG"),
        ({"SYNTHGUARD_IMAGE_NOTICE": "仅供参考"}, "generation element"),
        ({"SYNTHGUARD_IMAGE_NOTICE_CORNER": "middle"}, "image_notice_corner"),
        ({"SYNTHGUARD_MEDIA_WORKERS": "0"}, "media_workers"),
        # the console's only credential: too short to resist guessing, or unfit for a cookie
        ({"SYNTHGUARD_REVIEWER_TOKEN": "letmein"}, "reviewer_token must be at least 32"),
        ({"SYNTHGUARD_REVIEWER_TOKEN": "a" * 31 + ";"}, "reviewer_token must be at least 32"),
        ({"SYNTHGUARD_REVIEWER_TOKEN": "x" * 20 + " " + "y" * 20}, "without spaces"),
        ({"SYNTHGUARD_MAX_IMAGE_PIXELS": "0"}, "max_image_pixels"),
    ],
)
def test_bad_settings_fail_at_start_with_the_setting_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env)


def test_image_label_text_comes_from_the_setting_or_the_locale() -> None:
    assert load_settings(env={}).image_label_text == "AI生成"
    english = load_settings(env={"SYNTHGUARD_IMAGE_NOTICE_LOCALE": "en-US"})
    assert english.image_label_text == "AI-generated"
    own = load_settings(env={"SYNTHGUARD_IMAGE_NOTICE": "人工智能合成"})
    assert own.image_label_text == "人工智能合成"


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("partitons = 3\n")
    with pytest.raises(ConfigError, match="partitons"):
        load_settings(env={"SYNTHGUARD_CONFIG": str(config)})


def test_dev_key_is_made_once_and_configured_keys_rotate(tmp_path: Path) -> None:
    settings = load_settings(env={"SYNTHGUARD_HOME": str(tmp_path)})
    first = settings.keyring()
    assert first.active == "dev"
    assert (tmp_path / "label-keys.json").stat().st_mode & 0o777 == 0o600
    assert settings.keyring().active_key == first.active_key
    k1, k2 = (base64.b64encode(bytes([i]) * 32).decode() for i in (1, 2))
    rotated = load_settings(
        env={"SYNTHGUARD_LABEL_KEYS": f"k1:{k1},k2:{k2}", "SYNTHGUARD_LABEL_KEY_ID": "k1"}
    ).keyring()
    assert rotated.active == "k1" and set(rotated.key_ids) == {"k1", "k2"}


def test_sasl_and_tls_settings_reach_every_client(tmp_path: Path) -> None:
    from synthguard.streams.clients import aiokafka_kwargs, confluent_config, faust_credentials

    settings = load_settings(
        env={
            "SYNTHGUARD_BROKER": "kafka://k1:9093",
            "SYNTHGUARD_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SYNTHGUARD_SASL_MECHANISM": "SCRAM-SHA-512",
            "SYNTHGUARD_SASL_USERNAME": "svc",
            "SYNTHGUARD_SASL_PASSWORD": "secret",
        }
    )
    assert "secret" not in repr(settings)
    config = confluent_config(settings, settings.bootstrap)
    assert config["bootstrap.servers"] == "k1:9093"
    assert (config["security.protocol"], config["sasl.mechanism"]) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
    )
    assert (config["sasl.username"], config["sasl.password"]) == ("svc", "secret")
    kwargs = aiokafka_kwargs(settings)
    assert kwargs["sasl_plain_username"] == "svc" and "ssl_context" not in kwargs
    credentials = faust_credentials(settings)
    assert (credentials.username, credentials.mechanism.value) == ("svc", "SCRAM-SHA-512")
