-- The notifier's own state, in schema `notifications`. Contact details live here
-- because sending needs them; they never leave this schema (logs and the
-- notification.* events carry ids only).

-- Who can be reached, and how: refolded from the volunteer's profile history.
create table contacts (
    volunteer_id text primary key,
    given_name   text,
    phone        text,
    email        text,
    language     text,
    consent      jsonb,
    status       text
);

-- Opportunity titles and start times, for the texts (refolded from their history).
create table opportunities (
    opportunity_id text primary key,
    title_ar       text,
    title_en       text,
    starts_at      timestamptz,
    status         text
);

-- The ledger: one row per (cause event, template, channel), written in the same
-- transaction as the consumed offsets. Its key is what makes a message go out at
-- most once in normal operation; `attempts` and the lease cover crashes mid-send
-- (the same idempotency key is sent again, so the provider can drop the repeat).
create table outbox (
    notification_id text primary key,
    cause_event_id  text        not null,
    template        text        not null,
    channel         text        not null check (channel in ('email', 'sms')),
    volunteer_id    text        not null,
    cause_time      timestamptz not null,
    context         jsonb       not null default '{}',
    status          text        not null default 'pending'
                    check (status in ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    attempts        integer     not null default 0,
    next_attempt_at timestamptz not null default now(),
    lease_until     timestamptz,
    last_error      text,
    reason          text,
    provider_id     text,
    created_at      timestamptz not null default now(),
    finished_at     timestamptz,
    reported        boolean     not null default false,
    unique (cause_event_id, template, channel)
);
create index outbox_due on outbox (next_attempt_at) where status in ('pending', 'sending');
create index outbox_unreported on outbox (finished_at) where not reported
    and status in ('sent', 'failed', 'suppressed');
