-- The counters of 0005, fed only what changed. An update of a row attended before and
-- after (a check-out, verified hours) gave `engage` a -1 and a +1 for the same (campaign,
-- volunteer), which it summed to nothing, but only after probing `engaged` for each of
-- them at every scope (campaign, organisation, sector): most of a statement's rows. They
-- are now summed here first, so only attendance that came or went reaches `engage`.

create or replace function participations_counted() returns trigger language plpgsql as $$
declare
    saved text := current_setting('search_path');
    zeros text[];
    keys text[];
    volunteers text[];
    deltas integer[];
begin
    -- The read model's schema, whatever the writer's search_path (a rebuild renames it).
    perform set_config('search_path', quote_ident(tg_table_schema), true);
    execute format($q$
        with m as materialized (%s),
        summed as (
            insert into campaign_hours as t
            select m.campaign_id, sum(m.sign * m.hours) from m group by m.campaign_id
            on conflict (campaign_id) do update set hours = t.hours + excluded.hours
            returning t.campaign_id, t.hours
        )
        select (select array_agg(s.campaign_id) from summed s where s.hours = 0),
               array_agg(d.campaign_id), array_agg(d.volunteer_id), array_agg(d.n)
        from (select m.campaign_id, m.volunteer_id, sum(m.sign)::int as n from m
              where m.attended group by 1, 2 having sum(m.sign) <> 0) d
    $q$, signed_rows(tg_op, 'r.campaign_id, r.volunteer_id, coalesce(r.hours, 0) as hours,'
                            ' (r.checked_in_at is not null or r.hours is not null) as attended'))
    into zeros, keys, volunteers, deltas;
    if zeros is not null then
        delete from campaign_hours where campaign_id = any(zeros) and hours = 0;
    end if;
    perform engage('campaign', keys, volunteers, deltas);
    select array_agg(c.org_id), array_agg(u.v), array_agg(u.n) into keys, volunteers, deltas
    from unnest(keys, volunteers, deltas) as u(k, v, n)
    join org_campaigns c on c.campaign_id = u.k;
    perform engage('org', keys, volunteers, deltas);
    perform set_config('search_path', saved, true);
    return null;
end $$;
