"""The local cluster's TLS material: a CA of its own, the brokers' certificate, a client's.

Made once, at the cluster's first start, with the `cryptography` package, and kept beside
the cluster's data (outside git) in `<cluster>/tls/`:
  ca.pem, ca.key            the local CA (clients trust `ca.pem`; the key signs the others)
  broker.pem, broker.key    the brokers' certificate (SAN: localhost, 127.0.0.1) and key
  client.pem, client.key    a client certificate for mutual-TLS tests
Private keys are written mode 0600. Keys are ECDSA P-256 (made in a millisecond, unlike
RSA), in PKCS#8 PEM without a password: what Kafka's PEM key store reads inline
(`ssl.keystore.key`), and what OpenSSL (Python's ssl, librdkafka) reads from a file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650  # a development cluster: long-lived, never seen by a browser
BROKER_HOSTS = ("localhost", "127.0.0.1")
FILES = ("ca.pem", "ca.key", "broker.pem", "broker.key", "client.pem", "client.key")


@dataclass(frozen=True)
class LocalTLS:
    """The CA and certificates kept in `directory` (made by `ensure`)."""

    directory: Path
    name: str = "Tatawwu local Kafka"

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def broker_cert_file(self) -> Path:
        return self.directory / "broker.pem"

    @property
    def broker_key_file(self) -> Path:
        return self.directory / "broker.key"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client.key"

    def ensure(self) -> bool:
        """Make the CA and both certificates unless all are there; True when made now."""
        if all((self.directory / name).exists() for name in FILES):
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, f"{self.name} CA")
        broker_key = ec.generate_private_key(ec.SECP256R1())
        broker = _leaf_certificate(
            ca_cert, ca_key, broker_key, f"{self.name} broker", ExtendedKeyUsageOID.SERVER_AUTH
        )
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _leaf_certificate(
            ca_cert, ca_key, client_key, f"{self.name} client", ExtendedKeyUsageOID.CLIENT_AUTH
        )
        # Keys first and the CA certificate last: a half-made directory is made again.
        _write(self.directory / "ca.key", _key_pem(ca_key), secret=True)
        _write(self.broker_key_file, _key_pem(broker_key), secret=True)
        _write(self.client_key_file, _key_pem(client_key), secret=True)
        _write(self.broker_cert_file, _cert_pem(broker))
        _write(self.client_cert_file, _cert_pem(client))
        _write(self.ca_file, _cert_pem(ca_cert))
        return True


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a little clock skew allowed
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    usage = x509.KeyUsage(
        digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    return (
        _builder(common_name, _name(common_name), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )


def _leaf_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    purpose: x509.ObjectIdentifier,
) -> x509.Certificate:
    usage = x509.KeyUsage(
        digital_signature=True, key_agreement=True, key_cert_sign=False, crl_sign=False,
        content_commitment=False, key_encipherment=False, data_encipherment=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    builder = (
        _builder(common_name, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if purpose == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [_general_name(host) for host in BROKER_HOSTS]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    temporary.replace(path)
