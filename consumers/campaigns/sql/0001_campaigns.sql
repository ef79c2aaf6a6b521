-- The campaigns read model (schema-local: the runtime sets search_path to the
-- projector's schema, so a rebuild creates the same tables in a fresh schema).
-- `history` and `participations` come from the shared components applied before.

create index participations_opportunity on participations (opportunity_id);
create index participations_campaign on participations (campaign_id);

create table campaigns (
    campaign_id       text primary key,
    org_id            text,
    title_ar          text,
    title_en          text,
    kind              text,
    municipality      text,
    starts_on         date,
    ends_on           date,
    target_volunteers integer,
    target_hours      integer,
    status            text not null
);
create index campaigns_org on campaigns (org_id);

create table opportunities (
    opportunity_id text primary key,
    campaign_id    text,
    title_ar       text,
    title_en       text,
    starts_at      timestamptz,
    ends_at        timestamptz,
    capacity       integer,
    municipality   text,
    min_age        integer,
    status         text not null
);
create index opportunities_campaign on opportunities (campaign_id);

create view opportunity_stats as
select
    o.opportunity_id,
    o.campaign_id,
    o.capacity,
    o.status,
    count(*) filter (where p.signup_status = 'signed_up')                      as signups,
    count(*) filter (where p.signup_status = 'withdrawn')                      as withdrawals,
    greatest(0, count(*) filter (where p.signup_status = 'signed_up') - coalesce(o.capacity, 0))
                                                                               as waitlisted,
    count(p.checked_in_at)                                                     as check_ins,
    count(*) filter (where p.no_show and p.checked_in_at is null)              as no_shows,
    coalesce(sum(p.hours), 0)::numeric(12, 2)                                  as verified_hours,
    coalesce(sum(extract(epoch from coalesce(p.checked_out_at, o.ends_at) - p.checked_in_at) / 3600)
        filter (where p.hours is null and p.checked_in_at is not null), 0)::numeric(12, 2)
                                                                               as unverified_hours,
    case when o.capacity > 0 then round(least(count(*) filter (where p.signup_status = 'signed_up'),
        o.capacity)::numeric / o.capacity, 4) end                              as fill_rate
from opportunities o
left join participations p on p.opportunity_id = o.opportunity_id
group by o.opportunity_id;

create view campaign_stats as
select
    c.campaign_id,
    c.org_id,
    c.municipality,
    c.status,
    c.target_volunteers,
    c.target_hours,
    count(*) filter (where p.signup_status = 'signed_up')                      as signups,
    count(*) filter (where p.signup_status = 'withdrawn')                      as withdrawals,
    count(p.checked_in_at)                                                     as check_ins,
    count(*) filter (where p.no_show and p.checked_in_at is null)              as no_shows,
    coalesce(sum(p.hours), 0)::numeric(12, 2)                                  as verified_hours,
    count(distinct p.volunteer_id) filter (where p.checked_in_at is not null or p.hours is not null)
                                                                               as volunteers_attended,
    case when c.target_volunteers > 0 then round(count(distinct p.volunteer_id) filter (
        where p.checked_in_at is not null or p.hours is not null)::numeric / c.target_volunteers, 4)
    end                                                                        as volunteer_progress,
    case when c.target_hours > 0 then round(coalesce(sum(p.hours), 0) / c.target_hours, 4)
    end                                                                        as hours_progress
from campaigns c
left join participations p on p.campaign_id = c.campaign_id
group by c.campaign_id;
