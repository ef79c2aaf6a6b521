-- Counters instead of scans (issue 13: the dashboard at national size). The stats views
-- aggregated every participation on each read: seconds at national size, for every
-- campaign list and dashboard refresh. The counters below are kept by a statement-level
-- trigger on `participations` from each statement's old and new rows, in the same
-- transaction as the batch that changed them (so exactly-once as the rows are, and a
-- rebuild replays them); the views read them and keep their columns and meaning.
--
-- Counters are exact and independent of the order of facts: integers, hours at the
-- column's scale, check-in times in whole microseconds; an all-zero row is deleted.

create table opportunity_counts (
    opportunity_id text primary key,
    signups        bigint        not null default 0,
    withdrawals    bigint        not null default 0,
    check_ins      bigint        not null default 0,
    no_shows       bigint        not null default 0,
    verified_hours numeric(14, 2) not null default 0,
    closed_us      numeric(30, 0) not null default 0, -- unverified, checked out: sum(out - in)
    open_rows      bigint        not null default 0, -- unverified, checked in, not out
    open_in_us     numeric(30, 0) not null default 0  -- their check-in instants (epoch us)
);

create table campaign_counts (
    campaign_id         text primary key,
    signups             bigint        not null default 0,
    withdrawals         bigint        not null default 0,
    check_ins           bigint        not null default 0,
    no_shows            bigint        not null default 0,
    verified_hours      numeric(14, 2) not null default 0,
    volunteers_attended bigint        not null default 0
);

-- Attended rows per (campaign, volunteer): a volunteer counts once per campaign while
-- they have at least one (count(distinct) kept as a reference count).
create table campaign_attendees (
    campaign_id  text    not null,
    volunteer_id text    not null,
    attended     integer not null,
    primary key (campaign_id, volunteer_id)
);

-- The per-row measures the counters sum, as SQL over `tbl` (alias `a`), signed: +1 for a
-- statement's new rows, -1 for its old ones (an update is both).
create function participation_measures(tbl text, a text, sign integer) returns text
language sql immutable as $f$ select format($q$
    select %1$s.opportunity_id, %1$s.campaign_id, %1$s.volunteer_id,
        %2$s * (%1$s.signup_status is not distinct from 'signed_up')::int as signups,
        %2$s * (%1$s.signup_status is not distinct from 'withdrawn')::int as withdrawals,
        %2$s * (%1$s.checked_in_at is not null)::int as check_ins,
        %2$s * (%1$s.no_show and %1$s.checked_in_at is null)::int as no_shows,
        %2$s * coalesce(%1$s.hours, 0) as hours,
        case when %1$s.hours is null and %1$s.checked_in_at is not null
                  and %1$s.checked_out_at is not null
             then %2$s * round(extract(epoch from %1$s.checked_out_at - %1$s.checked_in_at) * 1000000)
             else 0 end as closed_us,
        %2$s * (%1$s.hours is null and %1$s.checked_in_at is not null
                and %1$s.checked_out_at is null)::int as open_rows,
        case when %1$s.hours is null and %1$s.checked_in_at is not null
                  and %1$s.checked_out_at is null
             then %2$s * round(extract(epoch from %1$s.checked_in_at) * 1000000)
             else 0 end as open_in_us,
        %2$s * (%1$s.checked_in_at is not null or %1$s.hours is not null)::int as attended
    from %3$s %1$s$q$, a, sign, tbl) $f$;

-- The statements that add measures (SQL giving them) to the counters: the sums, then
-- the rows that came to zero deleted (a second statement: one statement cannot change
-- a row twice). Run by the trigger functions themselves, where the transition tables are.
create function participation_counting(measures text) returns text[]
language sql immutable as $f$ select array[format($q$
    with m as materialized (%1$s),
    opportunities as (
        insert into opportunity_counts as t
        select m.opportunity_id, sum(m.signups), sum(m.withdrawals), sum(m.check_ins),
               sum(m.no_shows), sum(m.hours), sum(m.closed_us), sum(m.open_rows),
               sum(m.open_in_us)
        from m group by m.opportunity_id
        on conflict (opportunity_id) do update set
            signups = t.signups + excluded.signups,
            withdrawals = t.withdrawals + excluded.withdrawals,
            check_ins = t.check_ins + excluded.check_ins,
            no_shows = t.no_shows + excluded.no_shows,
            verified_hours = t.verified_hours + excluded.verified_hours,
            closed_us = t.closed_us + excluded.closed_us,
            open_rows = t.open_rows + excluded.open_rows,
            open_in_us = t.open_in_us + excluded.open_in_us
    ), delta as (
        select m.campaign_id, m.volunteer_id, sum(m.attended)::int as delta
        from m group by m.campaign_id, m.volunteer_id having sum(m.attended) <> 0
    ), kept as (
        insert into campaign_attendees as t
        select d.campaign_id, d.volunteer_id, d.delta from delta d
        on conflict (campaign_id, volunteer_id) do update set
            attended = t.attended + excluded.attended
        returning t.campaign_id, t.volunteer_id, t.attended
    ), moves as (
        select k.campaign_id,
               sum(case when k.attended > 0 and k.attended - d.delta <= 0 then 1
                        when k.attended <= 0 and k.attended - d.delta > 0 then -1
                        else 0 end) as attended
        from delta d join kept k using (campaign_id, volunteer_id) group by k.campaign_id
    ), sums as (
        select m.campaign_id, sum(m.signups) as signups, sum(m.withdrawals) as withdrawals,
               sum(m.check_ins) as check_ins, sum(m.no_shows) as no_shows,
               sum(m.hours) as hours
        from m group by m.campaign_id
    )
    insert into campaign_counts as t
    select s.campaign_id, s.signups, s.withdrawals, s.check_ins, s.no_shows, s.hours,
           coalesce(v.attended, 0)
    from sums s left join moves v using (campaign_id)
    on conflict (campaign_id) do update set
        signups = t.signups + excluded.signups,
        withdrawals = t.withdrawals + excluded.withdrawals,
        check_ins = t.check_ins + excluded.check_ins,
        no_shows = t.no_shows + excluded.no_shows,
        verified_hours = t.verified_hours + excluded.verified_hours,
        volunteers_attended = t.volunteers_attended + excluded.volunteers_attended
$q$, measures), format($q$
    with m as materialized (%1$s),
    attendees as (
        delete from campaign_attendees t
        using (select distinct m.campaign_id, m.volunteer_id from m) x
        where t.campaign_id = x.campaign_id and t.volunteer_id = x.volunteer_id
          and t.attended = 0
    ), opportunities as (
        delete from opportunity_counts t using (select distinct m.opportunity_id from m) x
        where t.opportunity_id = x.opportunity_id
          and (t.signups, t.withdrawals, t.check_ins, t.no_shows, t.open_rows) = (0, 0, 0, 0, 0)
          and (t.verified_hours, t.closed_us, t.open_in_us) = (0, 0, 0)
    )
    delete from campaign_counts t using (select distinct m.campaign_id from m) x
    where t.campaign_id = x.campaign_id
      and (t.signups, t.withdrawals, t.check_ins, t.no_shows, t.volunteers_attended)
          = (0, 0, 0, 0, 0)
      and t.verified_hours = 0
$q$, measures)] $f$;

-- One function for the three triggers (transition tables exist only for their kind).
create function participations_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    measures text;
    statement text;
begin
    -- The read model's schema, whatever the writer's search_path (a rebuild renames it).
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    measures := case tg_op
        when 'INSERT' then participation_measures('came', 'n', 1)
        when 'DELETE' then participation_measures('gone', 'o', -1)
        else participation_measures('came', 'n', 1) || ' union all '
             || participation_measures('gone', 'o', -1) end;
    foreach statement in array participation_counting(measures) loop
        execute statement;
    end loop;
    perform set_config('search_path', saved, true);
    return null;
end $$;

create trigger participations_counted_insert after insert on participations
    referencing new table as came for each statement execute function participations_counted();
create trigger participations_counted_update after update on participations
    referencing old table as gone new table as came
    for each statement execute function participations_counted();
create trigger participations_counted_delete after delete on participations
    referencing old table as gone for each statement execute function participations_counted();

-- What is there already (a read model projected before this migration).
do $$
declare
    statement text;
begin
    foreach statement in array
        participation_counting(participation_measures('participations', 'p', 1)) loop
        execute statement;
    end loop;
end $$;

create or replace view opportunity_stats as
select
    o.opportunity_id,
    o.campaign_id,
    o.capacity,
    o.status,
    coalesce(k.signups, 0)                                                     as signups,
    coalesce(k.withdrawals, 0)                                                 as withdrawals,
    greatest(0, coalesce(k.signups, 0) - coalesce(o.capacity, 0))              as waitlisted,
    coalesce(k.check_ins, 0)                                                   as check_ins,
    coalesce(k.no_shows, 0)                                                    as no_shows,
    coalesce(k.verified_hours, 0)::numeric(12, 2)                              as verified_hours,
    coalesce((k.closed_us + case when o.ends_at is null then 0 else
        k.open_rows * round(extract(epoch from o.ends_at) * 1000000) - k.open_in_us end)
        / 3600000000, 0)::numeric(12, 2)                                       as unverified_hours,
    case when o.capacity > 0 then round(least(coalesce(k.signups, 0),
        o.capacity)::numeric / o.capacity, 4) end                              as fill_rate
from opportunities o
left join opportunity_counts k on k.opportunity_id = o.opportunity_id;

create or replace view campaign_stats as
select
    c.campaign_id,
    c.org_id,
    c.municipality,
    c.status,
    c.target_volunteers,
    c.target_hours,
    coalesce(k.signups, 0)                                                     as signups,
    coalesce(k.withdrawals, 0)                                                 as withdrawals,
    coalesce(k.check_ins, 0)                                                   as check_ins,
    coalesce(k.no_shows, 0)                                                    as no_shows,
    coalesce(k.verified_hours, 0)::numeric(12, 2)                              as verified_hours,
    coalesce(k.volunteers_attended, 0)                                         as volunteers_attended,
    case when c.target_volunteers > 0 then round(coalesce(k.volunteers_attended, 0)::numeric
        / c.target_volunteers, 4) end                                          as volunteer_progress,
    case when c.target_hours > 0 then round(coalesce(k.verified_hours, 0) / c.target_hours, 4)
    end                                                                        as hours_progress
from campaigns c
left join campaign_counts k on k.campaign_id = c.campaign_id;
