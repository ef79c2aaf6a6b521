-- The counters of 0002, with fewer probes: a (campaign, volunteer) whose attended rows
-- did not change in a statement (a check-out or verified hours on a row attended before
-- and after) cannot have come to zero in `campaign_attendees`, so the deletion of rows
-- that came to zero looks only at the pairs whose sum moved, not at every pair.

create or replace function participation_counting(measures text) returns text[]
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
        using (select m.campaign_id, m.volunteer_id from m group by 1, 2
               having sum(m.attended) <> 0) x
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
