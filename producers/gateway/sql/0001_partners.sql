-- Partner keys: only a SHA-256 of each key's secret is stored; the key itself is shown
-- once, at creation. A revoked key keeps its row (audit) with revoked_at set.
create table gateway_partner_keys (
    key_id      text        primary key,
    org_id      text        not null,
    is_admin    boolean     not null default false,
    secret_hash text        not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create index gateway_partner_keys_org on gateway_partner_keys (org_id);

-- Which organisation owns each campaign, claimed by the first accepted campaign.launched.
-- The gateway's own table: it must not depend on a projection being up to date.
create table gateway_campaign_owners (
    campaign_id text        primary key,
    org_id      text        not null,
    claimed_at  timestamptz not null default now()
);
