"""The local stack's service principals: one SCRAM user per platform service, with its ACLs.

`tatawwu infra up` creates them (idempotent: the ACLs are granted again, a password is
made once) so that `tatawwu platform run` starts each service as itself, as production
would: the gateway as `gateway`, the router as `router`, and so on (`infra.principals`
says what each may do). Their random passwords are kept beside the cluster's data in
`principals/<name>.password` (mode 0600, outside git). An external cluster's principals
are the operator's: each process is given its own through `TATAWWU_KAFKA_SASL_*`.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.principals import SERVICES, Principals, new_password
from infra.settings import Settings


def _password_file(settings: Settings, name: str) -> Path:
    return settings.local_kafka_home / "principals" / f"{name}.password"


def service_password(settings: Settings, name: str) -> str | None:
    """The local password of service principal `name`, or None if none was made."""
    path = _password_file(settings, name)
    return path.read_text().strip() if path.exists() else None


def ensure_service_principals(settings: Settings) -> list[str]:
    """Create the missing service principals and (re)grant every service's ACLs."""
    principals = Principals(settings)
    existing = set(principals.users())
    created = []
    for name, grants in SERVICES.items():
        password = service_password(settings, name)
        if password is None or name not in existing:
            password = password or new_password()
            path = _password_file(settings, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(password + "\n")
            principals.set_password(name, password)
            created.append(name)
        principals.grant(name, grants)
    return created


def service_env(settings: Settings, name: str | None) -> dict[str, str]:
    """Environment that makes a child process connect as service principal `name`.

    Empty (the child connects as whoever the settings say) for no principal, an external
    cluster, or a local stack whose principals were not made yet.
    """
    if name is None or settings.kafka_is_external:
        return {}
    password = service_password(settings, name)
    if password is None:
        return {}
    return {"TATAWWU_KAFKA_SASL_USERNAME": name, "TATAWWU_KAFKA_SASL_PASSWORD": password}
