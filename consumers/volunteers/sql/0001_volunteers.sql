-- The volunteers read model. Personal data lives here (and only here): the read API
-- serves it only to tokens with the volunteers scope; aggregates never expose it.
create table volunteers (
    volunteer_id      text primary key,
    given_name        text,
    family_name       text,
    phone             text,
    email             text,
    language          text,
    birth_year        integer,
    gender            text,
    nationality_group text,
    municipality      text,
    consent           jsonb,
    registered_at     timestamptz,
    status            text not null
);
create index volunteers_municipality on volunteers (municipality);

-- Totals per volunteer, from participations (volunteers with activity but no
-- registration yet appear too: cross-topic order is not guaranteed).
create view volunteer_totals as
select
    p.volunteer_id,
    count(*) filter (where p.signup_status = 'signed_up')                      as signups,
    count(*) filter (where p.checked_in_at is not null or p.hours is not null) as attended,
    coalesce(sum(p.hours), 0)::numeric(12, 2)                                  as verified_hours,
    count(*) filter (where p.no_show and p.checked_in_at is null)              as no_shows,
    min(coalesce(p.checked_in_at, p.first_verified_at))
        filter (where p.checked_in_at is not null or p.hours is not null)      as first_activity,
    max(coalesce(p.checked_in_at, p.first_verified_at))
        filter (where p.checked_in_at is not null or p.hours is not null)      as last_activity
from participations p
group by p.volunteer_id;

create view volunteer_directory as
select v.*, coalesce(t.signups, 0) as signups, coalesce(t.attended, 0) as attended,
       coalesce(t.verified_hours, 0) as verified_hours, coalesce(t.no_shows, 0) as no_shows,
       t.first_activity, t.last_activity
from volunteers v
left join volunteer_totals t using (volunteer_id);
