"""The notifier: SMS and email to volunteers, at most one per (event, template, channel).

Two halves in one process (`tatawwu notifications run`, `service.py`):

1. **Enqueue** (`projector.py`): a read model declared from parts (`consumers.parts`),
   its own consumer group and schema `notifications`. It refolds contacts and
   opportunities, keeps each sign-up's status and inserts one ledger row per (event,
   template, channel) that `rules.py` calls for, in the same transaction as the
   consumed offsets; a duplicate, a redelivery or a replay finds the row already there.
2. **Deliver** (`sender.py`): claims due rows with a lease and a lease token (every
   later update of a row must name it, so a holder whose lease was lost and whose row
   was claimed again records nothing: fencing), decides *at send time*
   (`rules.decide`: consent, contact details, quiet hours, reminder timing), renders
   the text in the volunteer's language (`templates.py`) and hands it to a provider
   (`providers.py`: real SMTP for email, STARTTLS when offered, an HTTP API for SMS,
   the notification id as idempotency key), within per-channel rate limits (`limits.py`). Failures retry with backoff, then fail for good. Every final
   outcome is published as `notification.sent`, `notification.failed` or
   `notification.suppressed` (`outcomes.py`: ids only, no text or contact).

The messages of issue 14 (2 h reminder, attendance confirmation with auto-release,
opportunity changes, waiting-list promotions, opportunity alerts) are timed by
`schedule.py` and enqueued by `changes.py`, `waitlist.py` and `alerts.py` in the same
transaction; `confirmations.py` releases unanswered places (its own loop, beside the
sender). Their texts are in `texts.py`.

Not registered with `projections rebuild`: a rebuilt ledger would start empty and
message everyone again. The age rule (`rules.is_stale`) keeps a first start over an
old log silent.
"""

from consumers.notifications.projector import MIGRATIONS, NAME, build_projector
from consumers.notifications.rules import ledger_rows

__all__ = ["MIGRATIONS", "NAME", "build_projector", "ledger_rows"]
