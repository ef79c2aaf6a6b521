-- What the providers keep of an erased volunteer's messages (an SMS gateway's message
-- log, a mail service's stored copies), to be deleted there: one row per message sent,
-- written in the same transaction as the erasure itself (so a notifier killed after it
-- still asks), removed once the provider answered (`provider_erasure.py`). Ids only:
-- nothing personal is kept here.
create table provider_erasures (
    channel      text        not null check (channel in ('email', 'sms')),
    provider_id  text        not null,
    volunteer_id text        not null,
    requested_at timestamptz not null default now(),
    attempts     int         not null default 0,
    primary key (channel, provider_id)
);
