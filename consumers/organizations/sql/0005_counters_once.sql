-- The counters of 0004, cheaper per statement (the organizations projector paid about a
-- quarter of its throughput for them):
--   * a statement on `participations` reads its transition tables once, not three times:
--     one statement adds the hours and takes the attended rows, and the campaigns whose
--     hours came to zero come back from the same upsert;
--   * per-campaign distinct volunteers (`engaged_counts` of scope 'campaign') are no
--     longer kept: nothing reads them (the campaigns read model counts its own). The
--     per-(campaign, volunteer) rows stay: an owner change moves them to the new owner.

create or replace function engage(p_scope text, p_keys text[], p_volunteers text[], p_deltas integer[])
returns void language plpgsql as $$
declare
    sectors text[];
    volunteers text[];
    deltas integer[];
begin
    if p_keys is null then
        return;
    end if;
    if p_scope = 'campaign' then
        insert into engaged as t
        select p_scope, u.k, u.v, sum(u.n)::int
        from unnest(p_keys, p_volunteers, p_deltas) as u(k, v, n)
        where u.k is not null group by u.k, u.v having sum(u.n) <> 0
        on conflict (scope, key, volunteer_id) do update set attended = t.attended + excluded.attended;
    else
        with d as (
            select u.k, u.v, sum(u.n)::int as n
            from unnest(p_keys, p_volunteers, p_deltas) as u(k, v, n)
            where u.k is not null group by u.k, u.v having sum(u.n) <> 0
        ), kept as (
            insert into engaged as t select p_scope, d.k, d.v, d.n from d
            on conflict (scope, key, volunteer_id) do update set attended = t.attended + excluded.attended
            returning t.key, t.volunteer_id, t.attended
        ), moves as (
            select k.key, sum(case when k.attended > 0 and k.attended - d.n <= 0 then 1
                                   when k.attended <= 0 and k.attended - d.n > 0 then -1
                                   else 0 end) as n
            from d join kept k on k.key = d.k and k.volunteer_id = d.v group by k.key
        )
        insert into engaged_counts as t select p_scope, m.key, m.n from moves m where m.n <> 0
        on conflict (scope, key) do update set volunteers = t.volunteers + excluded.volunteers;
        delete from engaged_counts t using unnest(p_keys) as u(k)
        where t.scope = p_scope and t.key = u.k and t.volunteers = 0;
    end if;
    delete from engaged t using unnest(p_keys, p_volunteers) as u(k, v)
    where t.scope = p_scope and t.key = u.k and t.volunteer_id = u.v and t.attended = 0;
    if p_scope = 'org' then
        select array_agg(coalesce(o.sector, '')), array_agg(u.v), array_agg(u.n)
        into sectors, volunteers, deltas
        from unnest(p_keys, p_volunteers, p_deltas) as u(k, v, n)
        join organizations o on o.org_id = u.k;
        perform engage('sector', sectors, volunteers, deltas);
    end if;
end $$;

delete from engaged_counts where scope = 'campaign';

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
               array_agg(m.campaign_id) filter (where m.attended),
               array_agg(m.volunteer_id) filter (where m.attended),
               array_agg(m.sign) filter (where m.attended)
        from m
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
