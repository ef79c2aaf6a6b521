-- Provider webhooks (producers/gateway/webhooks.py).
-- Each signed request's nonce (its `webhook-id`), accepted once: a request replayed within
-- the signature's time window finds its nonce here and is refused. Rows older than twice
-- the window are deleted as new ones arrive (a replay that old fails the timestamp check).
create table gateway_webhook_nonces (
    nonce   text        primary key,
    seen_at timestamptz not null default now()
);
create index gateway_webhook_nonces_seen on gateway_webhook_nonces (seen_at);

-- Every SMS reply received, once per provider message (a provider retrying the same
-- message under a new signature changes nothing): what it was read as and what was done.
-- The text is kept for replies that are not keywords ("recorded and ignored"); the
-- sender's number is not kept, only the volunteers it belongs to.
create table gateway_inbound_sms (
    provider_message_id text        primary key,
    received_at         timestamptz not null default now(),
    keyword             text,
    volunteer_ids       text[]      not null default '{}',
    outcome             text        not null,
    body                text
);
