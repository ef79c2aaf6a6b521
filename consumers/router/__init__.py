"""The Kafka-ingress router: partners' own topics to the canonical topics, exactly once.

Kafka-direct partners write CloudEvents to `tatawwu.ingress.<org>` (Kafka ACLs: only
that organisation may). The router validates each record (`schemas.binding`), judges it
as that organisation with the same admission as the gateway (`infra.admission`),
forwards accepted events as the gateway would write them and refused records to the
dead-letter topic with their rule, all in one Kafka transaction with the consumed
offsets; counts per organisation and rule are kept exactly in PostgreSQL.

Parts: `plan` (pure: decode, outcome), `transaction` (the Kafka transaction),
`counts` (PostgreSQL counts, `router_status`), `service` (the FastStream app), `metrics`.
"""

from consumers.router.counts import GROUP, router_status
from consumers.router.plan import NAME

__all__ = ["GROUP", "NAME", "router_status"]
