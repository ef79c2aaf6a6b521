"""Apache Kafka 4.x in KRaft mode, run from the jars Maven resolves from Maven Central.

Layout under the cache directory (outside git): `kafka/lib/` the broker's jars
(`kafka-pom.xml`); `kafka/<cluster>/node-<id>/` server.properties, data/, kafka.log, pid. A
cluster is named after its first port and size (`p9092x1`, `p29092x3`), so a three-broker
fault-test cluster can run beside the single development broker.

Secured by default, as production is: SASL/SCRAM on the client listener and the
StandardAuthorizer (nothing allowed without an ACL). The super user `admin` (developer tools,
tests) is created at format time with a random password in `<cluster>/admin.password` (0600,
outside git); brokers and controllers authenticate each other as it. `secure=False` gives a
plaintext cluster without an authorizer (only the benchmarks' side-by-side baseline).
A second client listener speaks SASL_SSL on the client port + 30000 (39092 for 9092): TLS with
the cluster's own CA (`infra.local.tls`, made at first start in `<cluster>/tls/`), SCRAM
inside it, a client certificate verified when offered (`ssl.client.auth=requested`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.local.process import (
    ServiceError,
    log_size,
    logged_since,
    port_open,
    read_pid,
    reserve_ports,
    spawn,
    stop_pid,
    wait_until,
)
from infra.local.tls import LocalTLS

POM = Path(__file__).with_name("kafka-pom.xml")
TAKEN = b"Address already in use"  # a listener that could not bind: worth one more try
CONTROLLER_PORT_OFFSET = 10000  # controller listener of broker on port p is p + 10000
SSL_PORT_OFFSET = 30000  # its SASL_SSL listener is p + 30000 (secure clusters only)
ADMIN = "admin"  # the super user: developer tools, tests, inter-broker traffic
ADMIN_PASSWORD_FILE = "admin.password"  # noqa: S105 (a file name, not a password)
LOG4J2 = Path(__file__).with_name("kafka-log4j2.properties")  # warn for the chatty loggers


@dataclass(frozen=True)
class KafkaCluster:
    """A local KRaft cluster of `brokers` combined broker+controller nodes on loopback."""

    cache_dir: Path
    port: int = 9092
    brokers: int = 1
    heap: str = "512m"
    secure: bool = True

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir / "kafka" / "lib"

    @property
    def home(self) -> Path:
        return self.cache_dir / "kafka" / f"p{self.port}x{self.brokers}"

    @property
    def node_ids(self) -> range:
        return range(1, self.brokers + 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in self.node_ids)

    def broker_port(self, node_id: int) -> int:
        return self.port + node_id - 1

    def ssl_port(self, node_id: int) -> int:
        return self.broker_port(node_id) + SSL_PORT_OFFSET

    @property
    def ssl_bootstrap(self) -> str:
        """The SASL_SSL listeners' addresses (a secure cluster's only)."""
        return ",".join(f"127.0.0.1:{self.ssl_port(n)}" for n in self.node_ids)

    @property
    def tls(self) -> LocalTLS:
        """The cluster's CA, broker and client certificates (`<home>/tls/`)."""
        return LocalTLS(self.home / "tls")

    def node_dir(self, node_id: int) -> Path:
        return self.home / f"node-{node_id}"

    @property
    def admin_password_file(self) -> Path:
        return self.home / ADMIN_PASSWORD_FILE

    def admin_password(self) -> str:
        """The super user's password, created (random, mode 0600) on first use."""
        path = self.admin_password_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        return path.read_text().strip()

    def admin_options(self) -> dict[str, str]:
        """aiokafka keyword arguments that connect as the super user."""
        if not self.secure:
            return {}
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": ADMIN,
            "sasl_plain_password": self.admin_password(),
        }

    def pid(self, node_id: int) -> int | None:
        return read_pid(self.node_dir(node_id) / "pid")

    # ---------------------------------------------------------------- install
    def ensure_jars(self) -> bool:
        """Resolve the broker jars with Maven unless the cache already matches the pom."""
        stamp = self.lib_dir / ".pom.sha256"
        want = hashlib.sha256(POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text().strip() == want:
            return False
        if shutil.which("mvn") is None:
            msg = "Maven (mvn) is required to fetch Kafka's jars: apt-get install maven"
            raise ServiceError(msg)
        if shutil.which("java") is None:
            msg = "Java 17+ is required to run Kafka: apt-get install openjdk-17-jre-headless"
            raise ServiceError(msg)
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        self.lib_dir.mkdir(parents=True)
        cmd = [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={self.lib_dir.resolve()}",
        ]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"mvn could not resolve Kafka's jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            raise ServiceError(msg)
        stamp.write_text(want + "\n")
        return True

    # ----------------------------------------------------------------- config
    def _properties(self, node_id: int) -> str:
        port = self.broker_port(node_id)
        cport = port + CONTROLLER_PORT_OFFSET
        rf = min(3, self.brokers)
        isr = 2 if self.brokers >= 3 else 1
        voters = ",".join(
            f"{n}@127.0.0.1:{self.broker_port(n) + CONTROLLER_PORT_OFFSET}" for n in self.node_ids
        )
        client = "SASL_PLAINTEXT" if self.secure else "PLAINTEXT"
        advertised = f"{client}://127.0.0.1:{port}"
        if self.secure:
            advertised += f",SASL_SSL://127.0.0.1:{self.ssl_port(node_id)}"
        protocols = f"CONTROLLER:{client},{client}:{client}"
        protocols += ",SASL_SSL:SASL_SSL" if self.secure else ""
        lines = {
            "process.roles": "broker,controller",
            "node.id": node_id,
            "controller.quorum.voters": voters,
            "listeners": f"{advertised},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": advertised,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            "listener.security.protocol.map": protocols,
            **(self._security() | self._tls() if self.secure else {}),
            "log.dirs": self.node_dir(node_id) / "data",
            "num.partitions": 3,
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
            "log.retention.check.interval.ms": 60000,
        }
        return "".join(f"{k}={v}\n" for k, v in lines.items())

    def _security(self) -> dict[str, object]:
        """SASL on every listener, the StandardAuthorizer, `admin` the only super user."""
        password = self.admin_password()
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-256",
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config":
                f'{scram} required username="{ADMIN}" password="{password}";',
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config":
                f'{scram} required username="{ADMIN}" password="{password}";',
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": f"{scram} required;",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": f"{scram} required;",
            # Controllers: SCRAM credentials live in the metadata they serve, so the
            # controller listener uses SASL/PLAIN with the admin in its static config.
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'{plain} required username="{ADMIN}" password="{password}" '
                f'user_{ADMIN}="{password}";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
            # Kafka 4.1.1 rebuilding its image from a log that deleted a SCRAM user, with no
            # snapshot to start from, can drop every credential of that mechanism (admin's
            # too: `ScramDelta.apply` removes a mechanism whose map is empty mid-replay), so
            # nobody authenticates after a restart. A snapshot every 5 s (kept a minute)
            # gives each restart a base that holds them. tests/faults/test_scram_restart.py
            "metadata.log.max.snapshot.interval.ms": 5000,
            "metadata.max.retention.ms": 60000,
        }  # fmt: skip

    def _tls(self) -> dict[str, object]:
        """The SASL_SSL listener's key store and trust store: PEM, inline (Kafka reads a PEM
        key from a file only when it is encrypted), a client certificate checked if offered."""
        tls = self.tls
        tls.ensure()
        prefix = "listener.name.sasl_ssl."
        return {
            prefix + "ssl.keystore.type": "PEM",
            prefix + "ssl.keystore.certificate.chain": _pem_value(tls.broker_cert_file),
            prefix + "ssl.keystore.key": _pem_value(tls.broker_key_file),
            prefix + "ssl.truststore.type": "PEM",
            prefix + "ssl.truststore.certificates": _pem_value(tls.ca_file),
            prefix + "ssl.client.auth": "requested",
        }

    def _format(self, cluster_id: str, node_id: int) -> None:
        node = self.node_dir(node_id)
        (node / "data").mkdir(parents=True, exist_ok=True)
        # Mode 0600: the file holds the admin password and the broker's private key.
        fd = os.open(node / "server.properties", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self._properties(node_id))
        (node / "server.properties").chmod(0o600)  # an older file kept its mode
        (node / "log4j2.properties").write_text(LOG4J2.read_text())
        if (node / "data" / "meta.properties").exists():
            return
        cmd = [
            "java", "-cp", f"{self.lib_dir}/*", "kafka.tools.StorageTool", "format",
            f"--cluster-id={cluster_id}", "-c", str(node / "server.properties"),
            "--ignore-formatted",
        ]  # fmt: skip
        if self.secure:
            password = self.admin_password()
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                cmd += ["--add-scram", f'{mechanism}=[name="{ADMIN}",password="{password}"]']
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            msg = f"Kafka storage format failed for node {node_id}:\n{result.stdout}{result.stderr}"
            raise ServiceError(msg)

    # -------------------------------------------------------------- lifecycle
    def start_node(self, node_id: int) -> int:
        """Start one node (already formatted); return its pid. No-op if it is running."""
        if (pid := self.pid(node_id)) is not None:
            return pid
        node = self.node_dir(node_id)
        cmd = [
            "java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node}", "-cp", f"{self.lib_dir}/*",
            "kafka.Kafka", str(node / "server.properties"),
        ]  # fmt: skip
        return spawn(cmd, node / "kafka.log", node / "pid")

    def start(self, timeout: float = 180.0) -> None:
        """Fetch jars if needed, format storage on first use, start every node, wait for metadata."""
        self.ensure_jars()
        id_file = self.home / "cluster.id"
        self.home.mkdir(parents=True, exist_ok=True)
        if not id_file.exists():
            id_file.write_text(_random_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        for node_id in self.node_ids:
            ports = [self.broker_port(node_id)] + ([self.ssl_port(node_id)] if self.secure else [])
            for port in ports:
                if self.pid(node_id) is None and port_open(port):
                    msg = f"port {port} is taken by another process; set TATAWWU_KAFKA_PORT"
                    raise ServiceError(msg)
            self._format(cluster_id, node_id)
        reserve_ports([port for n in self.node_ids for port in self.ports(n)])
        for attempt in range(1, 4):
            logs = {n: self.node_dir(n) / "kafka.log" for n in self.node_ids}
            marks = {n: log_size(logs[n]) for n in self.node_ids}
            for node_id in self.node_ids:
                self.start_node(node_id)
            try:
                for node_id in self.node_ids:
                    self.wait_node(node_id, timeout)
                return
            except ServiceError:
                taken = [n for n in self.node_ids if logged_since(logs[n], marks[n], TAKEN)]
                if attempt == 3 or not taken:
                    raise
            time.sleep(5 * attempt)  # a client's ephemeral port held one of ours: it passes

    def ports(self, node_id: int) -> list[int]:
        """Every port one node listens on: client, controller and (secure) SASL_SSL."""
        port = self.broker_port(node_id)
        ssl = [self.ssl_port(node_id)] if self.secure else []
        return [port, port + CONTROLLER_PORT_OFFSET, *ssl]

    def wait_node(self, node_id: int, timeout: float = 180.0) -> None:
        """Wait until the node accepts connections and the cluster serves its metadata."""
        from infra.kafka import cluster_answers  # local import: aiokafka only when needed

        port = self.broker_port(node_id)
        wait_until(
            lambda: (
                port_open(port)
                and cluster_answers(f"127.0.0.1:{port}", self.brokers, **self.admin_options())
            ),
            timeout,
            f"Kafka node {node_id} (port {port}, log {self.node_dir(node_id) / 'kafka.log'})",
            lambda: self.pid(node_id) is not None,
        )

    def stop_node(self, node_id: int, *, kill: bool = False, timeout: float = 30.0) -> bool:
        """Stop one node (SIGTERM: controlled shutdown; kill=True: SIGKILL, like a crash)."""
        import signal

        pid = self.pid(node_id)
        if pid is None:
            return False
        stop_pid(pid, timeout=timeout, sig=signal.SIGKILL if kill else signal.SIGTERM)
        (self.node_dir(node_id) / "pid").unlink(missing_ok=True)
        return True

    def stop(self) -> bool:
        """Stop every node: signal all first so the quorum shuts down together."""
        import os
        import signal

        pids = {n: p for n in self.node_ids if (p := self.pid(n)) is not None}
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        for node_id, pid in pids.items():
            stop_pid(pid, timeout=30.0, sig=signal.SIGTERM)
            (self.node_dir(node_id) / "pid").unlink(missing_ok=True)
        return bool(pids)

    def destroy(self) -> None:
        """Stop the cluster and delete its data (the jars stay cached)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def status(self) -> list[dict[str, object]]:
        """One row per node: id, port, pid and whether it accepts connections."""
        return [
            {
                "node": n,
                "port": self.broker_port(n),
                "ssl_port": self.ssl_port(n) if self.secure else None,
                "pid": self.pid(n),
                "listening": port_open(self.broker_port(n)),
            }
            for n in self.node_ids
        ]


def _pem_value(path: Path) -> str:
    """A PEM file as one properties value: its line breaks escaped (`\\n`)."""
    return path.read_text().strip().replace("\n", "\\n")


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as StorageTool does).

    Never one starting with "-" (1 in 64 would): the command line would read it as an
    option, and Kafka's own `Uuid.randomUuid` rejects those too.
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def timed_start(cluster: KafkaCluster) -> float:
    """Start the cluster and return the seconds it took (for the README figures)."""
    began = time.monotonic()
    cluster.start()
    return time.monotonic() - began
