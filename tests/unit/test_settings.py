"""Settings: local defaults, and external clusters configured through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings


def test_local_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no TATAWWU_* variables, clients use the ports the local runner starts."""
    for var in (
        "TATAWWU_KAFKA_BOOTSTRAP", "TATAWWU_DATABASE_URL", "TATAWWU_KAFKA_BROKERS",
        "TATAWWU_KAFKA_PORT", "TATAWWU_POSTGRES_PORT",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.dsn == "postgresql://tatawwu@127.0.0.1:55432/tatawwu"
    assert not settings.kafka_is_external
    assert not settings.database_is_external


def test_three_broker_mode_lists_three_bootstrap_addresses() -> None:
    """--brokers 3 means ports 9092-9094."""
    settings = Settings(kafka_brokers=3, kafka_bootstrap="", kafka_port=9092)
    assert settings.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"


def test_environment_points_at_existing_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    """TATAWWU_KAFKA_BOOTSTRAP and TATAWWU_DATABASE_URL override the local stack."""
    monkeypatch.setenv("TATAWWU_KAFKA_BOOTSTRAP", "kafka-1.prod:9093")
    monkeypatch.setenv("TATAWWU_DATABASE_URL", "postgresql://u@db.prod/tatawwu")
    settings = Settings()
    assert settings.kafka_is_external
    assert settings.database_is_external
    assert settings.bootstrap_servers == "kafka-1.prod:9093"
    assert settings.dsn == "postgresql://u@db.prod/tatawwu"


def test_sasl_ssl_settings_reach_the_kafka_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Production security options are built for both FastStream and raw aiokafka."""
    from faststream.security import SASLScram256, SASLScram512

    from infra.kafka import aiokafka_security, faststream_security

    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password="pw",
    )
    security = faststream_security(settings)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl
    options = aiokafka_security(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_username"] == "svc"
    # The local stack: SCRAM as its admin, the password read from the cluster's own file.
    local = Settings(cache_dir=tmp_path)
    (local.local_kafka_home).mkdir(parents=True)
    (local.local_kafka_home / "admin.password").write_text("s3cret\n")
    security = faststream_security(local)
    assert isinstance(security, SASLScram256)
    assert (security.username, security.password) == ("admin", "s3cret")
    assert not security.use_ssl
    # An external cluster is plaintext unless its security is set.
    assert faststream_security(Settings(kafka_bootstrap="kafka:9092")) is None
