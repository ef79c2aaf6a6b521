#!/usr/bin/env python3
"""Publish CloudEvents straight to your Tatawwu ingress topic (a Kafka-direct partner).

Needs only Python 3.11+ and aiokafka (`pip install "aiokafka>=0.11"`); it imports nothing
from Tatawwu. Reads one CloudEvent JSON object per line from FILE (or stdin), checks that
each names your organisation as its `source`, writes it to `tatawwu.ingress.<ORG>` as
principal `partner-<ORG>` over SASL_SSL (SCRAM), keyed by its `subject`, and prints how
many the brokers acknowledged. It never prints an event's content.

    export KAFKA_BOOTSTRAP=kafka.tatawwu.example:9093 TATAWWU_ORG=org-qrcs
    export KAFKA_PASSWORD='...'  KAFKA_CA_FILE=tatawwu-ca.pem
    python kafka_direct.py events.jsonl            # structured mode (the default)
    python kafka_direct.py --binary events.jsonl   # binary mode: ce_* headers, data as value

The password is read from the environment only (a command line is visible to every user
of the machine). Exit status: 0 when every event was acknowledged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

STRUCTURED = "application/cloudevents+json"
# In binary mode every attribute travels as a `ce_` header except these: the record's
# `content-type` header is `datacontenttype`, and its value is `data`.
NOT_HEADERS = frozenset({"data", "data_base64", "datacontenttype"})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("file", nargs="?", default="-", help="JSON Lines file (default: stdin)")
    parser.add_argument("--bootstrap", default=env("KAFKA_BOOTSTRAP"), help="$KAFKA_BOOTSTRAP")
    parser.add_argument(
        "--org", default=env("TATAWWU_ORG"), help="your organisation id, $TATAWWU_ORG"
    )
    parser.add_argument(
        "--mechanism", default=env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
        choices=("SCRAM-SHA-256", "SCRAM-SHA-512"), help="$KAFKA_SASL_MECHANISM",
    )  # fmt: skip
    parser.add_argument(
        "--security-protocol", default=env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        choices=("SASL_SSL", "SASL_PLAINTEXT"),
        help="$KAFKA_SECURITY_PROTOCOL; SASL_PLAINTEXT only on a local test stack",
    )  # fmt: skip
    parser.add_argument(
        "--ca-file", default=env("KAFKA_CA_FILE"), help="the CA to trust, $KAFKA_CA_FILE"
    )
    parser.add_argument(
        "--cert-file", default=env("KAFKA_CERT_FILE"), help="client certificate (mutual TLS)"
    )
    parser.add_argument("--key-file", default=env("KAFKA_KEY_FILE"), help="its private key")
    parser.add_argument(
        "--binary", action="store_true", help="CloudEvents binary mode (ce_* headers)"
    )
    args = parser.parse_args(argv)
    args.password = env("KAFKA_PASSWORD", "")
    for name, value in (("--bootstrap", args.bootstrap), ("--org", args.org)):
        if not value:
            parser.error(f"{name} (or its environment variable) is required")
    if not args.password:
        parser.error("KAFKA_PASSWORD is required (the password `partners add --kafka` printed)")
    return args


def read_events(
    lines: Iterable[str], org: str
) -> Iterator[tuple[int, dict[str, Any] | str, bytes]]:
    """(line number, event, the line's bytes) for each event line; for a line that cannot
    be sent, (line number, why, b"")."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            yield number, "not JSON", b""
            continue
        if not isinstance(event, dict):
            yield number, "not a JSON object", b""
        elif event.get("source") != f"partner/{org}":
            yield number, f"source is not partner/{org}", b""  # the router would refuse it
        else:
            yield number, event, line.strip().encode()


def to_record(
    event: dict[str, Any], line: bytes, binary: bool
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one event, keyed by its subject. Structured mode: the line
    as written, marked by its content type. Binary mode: every attribute in a `ce_` header,
    `datacontenttype` as `content-type`, the `data` as the value."""
    subject = event.get("subject")
    key = str(subject).encode() if subject is not None else None
    if not binary:
        return key, line, [("content-type", STRUCTURED.encode())]
    headers = [
        (f"ce_{name}", (value if isinstance(value, str) else json.dumps(value)).encode())
        for name, value in event.items()
        if name not in NOT_HEADERS
    ]
    headers.append(("content-type", event.get("datacontenttype", "application/json").encode()))
    if "data_base64" in event:
        return key, base64.b64decode(event["data_base64"]), headers
    value = json.dumps(event.get("data"), ensure_ascii=False, separators=(",", ":")).encode()
    return key, value, headers


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """Verify the brokers against the platform's CA (the system's CAs if none is given)."""
    if args.security_protocol != "SASL_SSL":
        return None
    context = ssl.create_default_context(cafile=args.ca_file)
    if args.cert_file:
        context.load_cert_chain(args.cert_file, args.key_file)
    return context


async def publish(args: argparse.Namespace, lines: Iterable[str]) -> tuple[int, int, int]:
    """Send every event; return (sent, acknowledged, skipped)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        security_protocol=args.security_protocol,
        sasl_mechanism=args.mechanism,
        sasl_plain_username=f"partner-{args.org}",
        sasl_plain_password=args.password,
        ssl_context=tls_context(args),
        enable_idempotence=True,  # acks=all, no duplicates from the producer's retries
        acks="all",
        linger_ms=5,
    )
    topic = f"tatawwu.ingress.{args.org}"
    pending, skipped = [], 0
    await producer.start()
    try:
        for number, event, line in read_events(lines, args.org):
            if isinstance(event, str):
                print(f"line {number}: skipped, {event}", file=sys.stderr)
                skipped += 1
                continue
            key, value, headers = to_record(event, line, args.binary)
            pending.append(await producer.send(topic, value, key=key, headers=headers))
        results = await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await producer.stop()
    failures = [r for r in results if isinstance(r, BaseException)]
    for error in failures[:3]:
        print(f"not acknowledged: {type(error).__name__}: {error}", file=sys.stderr)
    return len(results), len(results) - len(failures), skipped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.file == "-":
            sent, acknowledged, skipped = asyncio.run(publish(args, sys.stdin))
        else:
            with open(args.file, encoding="utf-8") as lines:
                sent, acknowledged, skipped = asyncio.run(publish(args, lines))
    except KafkaError as error:  # e.g. authentication failed, or not allowed on the topic
        print(f"Kafka refused: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"{acknowledged} of {sent} events acknowledged ({skipped} lines skipped)")
    return 0 if acknowledged == sent and not skipped else 1


if __name__ == "__main__":
    sys.exit(main())
