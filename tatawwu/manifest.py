"""The platform manifest: every process Tatawwu runs, declared once.

Each `Process` names its `tatawwu` command and launch arguments, the migrations of
the tables it owns, and the ports it listens on. The supervisor (`platform run`),
`infra up` and `migrate` (the shared-schema migrations), the smoke test, the
AsyncAPI export and the CLI's projector names are all read from here: a new
process is one more declaration in `PLATFORM`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consumers import history, participations
from consumers import notifications as notifier
from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.organizations import PROJECTOR as ORGANIZATIONS
from consumers.participation import PROJECTOR as PARTICIPATION
from consumers.runtime import Projector
from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra.migrations import INFRA, Migrations
from infra.settings import Settings

# Metrics ports: each projector and the notifier serve `/health`, `/ready` and `/metrics`
# on one (`infra.ops`, bound to `TATAWWU_METRICS_HOST`). Projectors from 9300 in
# `READ_MODELS` order; the notifier further up, clear of the projectors to come.
METRICS_BASE_PORT = 9300
NOTIFIER_METRICS_PORT = 9309
ROUTER_METRICS_PORT = 9305  # the Kafka-ingress router
# `producers.gateway.partners.MIGRATIONS`, named by its directory: importing the gateway
# (or the sinks) pulls in FastAPI, ~0.2 s more at every projector start on a quiet
# machine, where restarts are timed. A unit test keeps the two equal.
GATEWAY_MIGRATIONS = Migrations("gateway", Path(__file__).parents[1] / "producers/gateway/sql")


@dataclass(frozen=True)
class Process:
    """One process of the platform, as the supervisor starts it and the tools describe it."""

    name: str  # the supervisor's name for it; its log file is <name>.log (':' as '-')
    command: tuple[str, ...]  # the `tatawwu` subcommand that runs it
    options: tuple[str, ...] = ()  # launch arguments the supervisor adds
    migrations: tuple[Migrations, ...] = ()  # the tables it owns, in order
    # False: `infra up` and `migrate` apply the migrations in the shared schema;
    # True: the process applies them in its own schema when it starts.
    own_schema: bool = False
    http_port: Callable[[Settings], int] | None = None  # read from the settings it also reads
    metrics_port: int | None = None  # /health, /ready, /metrics, on settings.metrics_host
    topics: tuple[str, ...] = ()  # what it consumes, for the AsyncAPI document
    projector: Projector | None = None  # a read model `projections run|rebuild` know by name
    principal: str | None = None  # its Kafka principal (`infra.principals.SERVICES`)

    @property
    def log_stem(self) -> str:
        return self.name.replace(":", "-")

    def argv(self) -> list[str]:
        """The command line that starts it: this interpreter, `-m tatawwu`, command, options."""
        metrics = ("--metrics-port", str(self.metrics_port)) if self.metrics_port else ()
        return [sys.executable, "-m", "tatawwu", *self.command, *self.options, *metrics]


def _projector(projector: Projector, metrics_port: int) -> Process:
    """A read model's process: one consumer group and schema, named after it."""
    name = projector.name
    return Process(
        f"projector:{name}",
        ("projections", "run", name),
        options=("--instance-id", f"{name}-1"),
        migrations=projector.migrations,
        own_schema=True,
        metrics_port=metrics_port,
        topics=projector.topics,
        projector=projector,
        principal="projector",
    )


GATEWAY = Process(
    "gateway",
    ("gateway",),
    migrations=(GATEWAY_MIGRATIONS,),
    http_port=lambda s: s.gateway_port,
    principal="gateway",
)


def _sms_sink_port(settings: Settings) -> int:
    from infra.local.sinks import port_of

    return port_of(settings.sms_url, 8025)


SINKS = Process(  # local stand-ins for the SMTP and SMS providers (their HTTP side here)
    "sinks", ("sinks", "run"), http_port=_sms_sink_port
)
NOTIFIER = Process(
    "notifier",
    ("notifications", "run"),
    options=("--instance-id", "notifier-1"),
    migrations=(history.MIGRATIONS, participations.MIGRATIONS, notifier.MIGRATIONS),
    own_schema=True,
    metrics_port=NOTIFIER_METRICS_PORT,
    principal="notifier",
)
ROUTER = Process(  # one instance per consumer group (its transactional id is per instance)
    "router",
    ("router", "run"),
    options=("--instance-id", "router-1"),
    metrics_port=ROUTER_METRICS_PORT,
    principal="router",
)
# Not part of the platform: a demo's live trickle of partner facts through the gateway
# (`platform run --trickle RATE`, `make demo`). It talks HTTP only: no Kafka principal.
TRICKLE = Process("trickle", ("trickle",))
READ_API = Process("read-api", ("api",), http_port=lambda s: s.api_port, principal="read-api")
READ_MODELS = tuple(
    _projector(p, METRICS_BASE_PORT + n)
    for n, p in enumerate((CAMPAIGNS, VOLUNTEERS, ORGANIZATIONS, PARTICIPATION))
)

# In start order: the sinks before the notifier that sends to them.
PLATFORM: tuple[Process, ...] = (GATEWAY, SINKS, NOTIFIER, ROUTER, READ_API, *READ_MODELS)

PROJECTORS: dict[str, Projector] = {
    p.projector.name: p.projector for p in PLATFORM if p.projector is not None
}


def projector_named(name: str) -> Projector:
    """The projector called name, or a clear error listing the known ones."""
    try:
        return PROJECTORS[name]
    except KeyError:
        msg = f"no projector named {name!r}; known: {', '.join(sorted(PROJECTORS))}"
        raise KeyError(msg) from None


def shared_migrations() -> list[Migrations]:
    """What `infra up` and `migrate` apply: infra's own tables, then each shared-schema owner's."""
    owned = [m for p in PLATFORM if not p.own_schema for m in p.migrations]
    return [INFRA, *owned]
