"""TLS without a broker: the local CA and certificates, the clients' TLS options, the listener."""

from __future__ import annotations

import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from infra.kafka import _ssl_context, aiokafka_security, faststream_security
from infra.local.kafka import CONTROLLER_PORT_OFFSET, SSL_PORT_OFFSET, KafkaCluster
from infra.local.tls import LocalTLS
from infra.principals import client_config
from infra.settings import Settings


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> LocalTLS:
    made = LocalTLS(tmp_path_factory.mktemp("tls"))
    assert made.ensure()
    return made


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def tls_settings(tls: LocalTLS, **changes: object) -> Settings:
    values: dict[str, object] = {
        "kafka_bootstrap": "kafka-1.example:9093",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "partner-x",
        "kafka_sasl_password": SecretStr("pw"),
        "kafka_ssl_cafile": tls.ca_file,
        "kafka_ssl_certfile": tls.client_cert_file,
        "kafka_ssl_keyfile": tls.client_key_file,
    }
    return Settings(**(values | changes))  # type: ignore[arg-type]


def test_the_local_ca_signs_a_broker_and_a_client_certificate(tls: LocalTLS) -> None:
    """Both leaves are issued by the CA; the broker's names are localhost and 127.0.0.1."""
    ca = certificate(tls.ca_file)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf in (tls.broker_cert_file, tls.client_cert_file):
        certificate(leaf).verify_directly_issued_by(ca)
    names = certificate(tls.broker_cert_file).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_private_keys_are_readable_by_their_owner_only(tls: LocalTLS) -> None:
    """Every key is mode 0600 and PKCS#8 PEM (what Kafka's PEM key store reads)."""
    for key in sorted(tls.directory.glob("*.key")):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert len(list(tls.directory.glob("*.key"))) == 3


def test_ensure_keeps_what_exists_and_remakes_a_half_made_directory(tmp_path: Path) -> None:
    """A second call changes nothing; a missing file makes a new set (a new CA)."""
    local = LocalTLS(tmp_path)
    assert local.ensure()
    first = local.ca_file.read_bytes()
    assert not local.ensure()
    assert local.ca_file.read_bytes() == first
    local.client_key_file.unlink()
    assert local.ensure()
    assert local.ca_file.read_bytes() != first
    certificate(local.client_cert_file).verify_directly_issued_by(certificate(local.ca_file))


def test_ssl_context_trusts_the_ca_and_presents_the_client_certificate(tls: LocalTLS) -> None:
    """The CA from settings is the context's trust; the client chain loads, and a key that
    does not match the certificate is refused (so the certificate really was loaded)."""
    context = _ssl_context(tls_settings(tls))
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "Tatawwu local Kafka CA"),),)
    ]
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not _ssl_context(tls_settings(tls, kafka_ssl_check_hostname=False)).check_hostname
    with pytest.raises(ssl.SSLError, match=r"(?i)key values mismatch"):
        _ssl_context(tls_settings(tls, kafka_ssl_keyfile=tls.broker_key_file))


def test_ssl_context_opens_an_encrypted_key_with_its_password(
    tls: LocalTLS, tmp_path: Path
) -> None:
    """`kafka_ssl_key_password` decrypts the client key; a wrong one is refused."""
    key = serialization.load_pem_private_key(tls.client_key_file.read_bytes(), None)
    encrypted = tmp_path / "client-encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-secret"),
        )
    )
    _ssl_context(
        tls_settings(
            tls, kafka_ssl_keyfile=encrypted, kafka_ssl_key_password=SecretStr("key-secret")
        )
    )
    with pytest.raises(ssl.SSLError):
        _ssl_context(
            tls_settings(tls, kafka_ssl_keyfile=encrypted, kafka_ssl_key_password=SecretStr("no"))
        )


def test_aiokafka_and_faststream_get_the_tls_context(tls: LocalTLS) -> None:
    """SASL_SSL: both client families get SCRAM and an SSL context from the settings."""
    settings = tls_settings(tls)
    options = aiokafka_security(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    security = faststream_security(settings)
    assert security is not None
    assert security.use_ssl
    assert isinstance(security.ssl_context, ssl.SSLContext)


def test_client_config_maps_every_tls_setting_for_librdkafka(tls: LocalTLS) -> None:
    """Each TLS setting has its librdkafka key; host-name checks are off only when asked."""
    config = client_config(
        tls_settings(tls, kafka_ssl_key_password=SecretStr("kp"), kafka_ssl_check_hostname=False)
    )
    assert config == config | {
        "bootstrap.servers": "kafka-1.example:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "partner-x",
        "sasl.password": "pw",
        "ssl.ca.location": str(tls.ca_file),
        "ssl.certificate.location": str(tls.client_cert_file),
        "ssl.key.location": str(tls.client_key_file),
        "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "none",
    }
    checked = client_config(tls_settings(tls))
    assert "ssl.endpoint.identification.algorithm" not in checked
    assert "ssl.key.password" not in checked
    plain = client_config(tls_settings(tls, kafka_security_protocol="SASL_PLAINTEXT"))
    assert not [k for k in plain if k.startswith("ssl.")]


def properties(text: str) -> dict[str, str]:
    """server.properties as Java reads these lines (`\\n` escapes a line break)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and "=" in line)
    return {key: value.replace("\\n", "\n") for key, value in pairs}


def test_each_broker_gets_a_sasl_ssl_listener_with_the_pem_inline(tmp_path: Path) -> None:
    """Three brokers: each its own SASL_SSL port (+30000), advertised; the key store and
    trust store are the cluster's PEM files, byte for byte; inter-broker stays plaintext."""
    cluster = KafkaCluster(tmp_path, port=9092, brokers=3)
    for node_id in cluster.node_ids:
        props = properties(cluster._properties(node_id))
        port = 9092 + node_id - 1
        ssl_listener = f"SASL_SSL://127.0.0.1:{port + SSL_PORT_OFFSET}"
        assert ssl_listener in props["listeners"].split(",")
        assert ssl_listener in props["advertised.listeners"].split(",")
        assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
        assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
        prefix = "listener.name.sasl_ssl."
        assert props[prefix + "ssl.client.auth"] == "requested"
        assert props[prefix + "ssl.keystore.type"] == props[prefix + "ssl.truststore.type"] == "PEM"
        tls = cluster.tls
        assert props[prefix + "ssl.keystore.key"] == tls.broker_key_file.read_text().strip()
        chain = props[prefix + "ssl.keystore.certificate.chain"]
        assert chain == tls.broker_cert_file.read_text().strip()
        assert props[prefix + "ssl.truststore.certificates"] == tls.ca_file.read_text().strip()
    assert cluster.ssl_bootstrap == "127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094"


def test_the_ssl_ports_clash_with_no_client_or_controller_port() -> None:
    """Development clusters (first port 9000-9999, up to three nodes) never put a SASL_SSL
    listener on a client or controller port of their own, of another development cluster,
    or of a test cluster (ports picked below the ephemeral range, `tests.support.ports`)."""
    from tests.support.ports import EPHEMERAL_LOW, LOW

    development = [KafkaCluster(Path("/x"), port, 3) for port in range(9000, 9998)]
    ssl_ports = {c.ssl_port(n) for c in development for n in c.node_ids}
    plain = {c.broker_port(n) + offset for c in development for n in c.node_ids
             for offset in (0, CONTROLLER_PORT_OFFSET)}  # fmt: skip
    assert not ssl_ports & plain
    assert not ssl_ports & set(range(LOW, EPHEMERAL_LOW))  # test clusters and controllers
    assert max(ssl_ports) < 65536


def test_a_plaintext_cluster_has_no_tls_listener(tmp_path: Path) -> None:
    """`secure=False` (the benchmarks' baseline) makes no certificates and no SSL listener."""
    props = properties(KafkaCluster(tmp_path, secure=False)._properties(1))
    assert "SASL_SSL" not in props["listeners"]
    assert not [key for key in props if "ssl." in key]
    assert not (tmp_path / "kafka" / "p9092x1" / "tls").exists()


def test_a_child_process_gets_the_same_tls_settings(
    tls: LocalTLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`child_env` carries every TLS setting, and the child's settings read them back."""
    from infra.settings import child_env

    for var in [v for v in os.environ if v.startswith("TATAWWU_KAFKA_")]:
        monkeypatch.delenv(var)
    parent = tls_settings(
        tls, kafka_ssl_key_password=SecretStr("kp"), kafka_ssl_check_hostname=False
    )
    env = child_env(parent)
    for var, value in env.items():
        if var.startswith("TATAWWU_KAFKA_"):
            monkeypatch.setenv(var, value)
    child = Settings()
    assert client_config(child) == client_config(parent)
    assert child.kafka_ssl_key_password == parent.kafka_ssl_key_password
