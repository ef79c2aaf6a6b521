-- Replies and delivery feedback (issue 14). The gateway's provider webhooks
-- (producers/gateway/webhooks.py) write these rows; the notifier reads them when sending
-- (consumers/notifications/feedback.py) and publishes the feedback as notification.*.

-- A consent change the platform published from a volunteer's reply (STOP) or complaint,
-- honoured by the sender at once: until this notifier's contacts have applied that very
-- event (it is in `history`), the channel counts as not consented. START removes it.
create table consent_holds (
    volunteer_id text        not null,
    channel      text        not null check (channel in ('email', 'sms')),
    event_id     text        not null,
    source       text        not null,
    since        timestamptz not null default now(),
    primary key (volunteer_id, channel)
);

-- Addresses that bounced for good: nothing more is sent to them. Keyed by the address
-- (lower case) the bounce named: a profile update to another address sends again.
create table undeliverable (
    channel    text        not null check (channel in ('email', 'sms')),
    address    text        not null,
    since      timestamptz not null default now(),
    reason     text        not null,
    primary key (channel, address)
);

-- Provider feedback on messages already handed over: delivered, bounced, failed. One row
-- per provider event (its id); the notifier matches it to the ledger row by the
-- provider's message id and publishes it once (`reported`).
create table feedback (
    feedback_id  text        primary key,
    provider_id  text        not null,
    channel      text        not null check (channel in ('email', 'sms')),
    outcome      text        not null check (outcome in ('delivered', 'bounced', 'failed')),
    permanent    boolean     not null default true,
    reason       text,
    received_at  timestamptz not null default now(),
    reported     boolean     not null default false,
    matched      boolean
);
create index feedback_unreported on feedback (received_at) where not reported;
create index outbox_provider_id on outbox (provider_id) where provider_id is not null;

-- The volunteer's answer to an attendance confirmation request (template
-- `attendance_confirmation`): yes or no, and when.
alter table outbox
    add column reply      text check (reply in ('yes', 'no')),
    add column replied_at timestamptz;
