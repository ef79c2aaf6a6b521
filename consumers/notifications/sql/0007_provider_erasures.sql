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

-- Erased volunteers whose messages may still be in flight at the erasure (claimed, being
-- sent): what they become is asked after too, until none of theirs is in flight.
create table erasures_in_flight (
    volunteer_id text        primary key,
    erased_at    timestamptz not null default now()
);
