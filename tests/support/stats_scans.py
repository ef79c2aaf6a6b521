"""The stats views' former definitions, scans of `participations` per read: the reference
the counters kept by triggers must equal (tests/integration/ordering/test_stats_counters.py)
and the baseline `benchmarks/bench_counters.py` reads against."""

from __future__ import annotations

SCANS = {
    "opportunity_stats": (
        "opportunity_id",
        """
        select o.opportunity_id, o.campaign_id, o.capacity, o.status,
            count(*) filter (where p.signup_status = 'signed_up') as signups,
            count(*) filter (where p.signup_status = 'withdrawn') as withdrawals,
            greatest(0, count(*) filter (where p.signup_status = 'signed_up')
                - coalesce(o.capacity, 0)) as waitlisted,
            count(p.checked_in_at) as check_ins,
            count(*) filter (where p.no_show and p.checked_in_at is null) as no_shows,
            coalesce(sum(p.hours), 0)::numeric(12, 2) as verified_hours,
            coalesce(sum(extract(epoch from coalesce(p.checked_out_at, o.ends_at)
                - p.checked_in_at) / 3600) filter (where p.hours is null
                and p.checked_in_at is not null), 0)::numeric(12, 2) as unverified_hours,
            case when o.capacity > 0 then round(least(count(*) filter (
                where p.signup_status = 'signed_up'), o.capacity)::numeric / o.capacity, 4)
            end as fill_rate
        from opportunities o left join participations p on p.opportunity_id = o.opportunity_id
        group by o.opportunity_id""",
    ),
    "campaign_stats": (
        "campaign_id",
        """
        select c.campaign_id, c.org_id, c.municipality, c.status, c.target_volunteers,
            c.target_hours,
            count(*) filter (where p.signup_status = 'signed_up') as signups,
            count(*) filter (where p.signup_status = 'withdrawn') as withdrawals,
            count(p.checked_in_at) as check_ins,
            count(*) filter (where p.no_show and p.checked_in_at is null) as no_shows,
            coalesce(sum(p.hours), 0)::numeric(12, 2) as verified_hours,
            count(distinct p.volunteer_id) filter (where p.checked_in_at is not null
                or p.hours is not null) as volunteers_attended,
            case when c.target_volunteers > 0 then round(count(distinct p.volunteer_id) filter (
                where p.checked_in_at is not null or p.hours is not null)::numeric
                / c.target_volunteers, 4) end as volunteer_progress,
            case when c.target_hours > 0 then round(coalesce(sum(p.hours), 0)
                / c.target_hours, 4) end as hours_progress
        from campaigns c left join participations p on p.campaign_id = c.campaign_id
        group by c.campaign_id""",
    ),
    "organization_stats": (
        "org_id",
        """
        select o.org_id, o.name_ar, o.name_en, o.sector, o.status,
            (select count(*) from org_campaigns c where c.org_id = o.org_id) as campaigns,
            count(distinct p.volunteer_id) filter (where p.checked_in_at is not null
                or p.hours is not null) as volunteers_engaged,
            coalesce(sum(p.hours), 0)::numeric(12, 2) as verified_hours
        from organizations o
        left join org_campaigns c on c.org_id = o.org_id
        left join participations p on p.campaign_id = c.campaign_id
        group by o.org_id""",
    ),
    "sector_stats": (
        "sector",
        """
        select o.sector, count(distinct o.org_id) as organizations,
            count(distinct c.campaign_id) as campaigns,
            count(distinct p.volunteer_id) filter (where p.checked_in_at is not null
                or p.hours is not null) as volunteers_engaged,
            coalesce(sum(p.hours), 0)::numeric(12, 2) as verified_hours
        from organizations o
        left join org_campaigns c on c.org_id = o.org_id
        left join participations p on p.campaign_id = c.campaign_id
        group by o.sector""",
    ),
}
# The read API's campaign rows (its list, sorted by fill rate) as they were aggregated
# from `opportunity_stats` per read, against the counted ones (`queries.CAMPAIGN_ROWS`).
SCANS["campaign_rows"] = (
    "campaign_id",
    """
    with opp as (
        select campaign_id, count(*) as opportunity_count,
               coalesce(sum(capacity) filter (where status <> 'cancelled'), 0) as capacity,
               coalesce(sum(least(signups, capacity)) filter (where status <> 'cancelled'), 0)
                   as filled
        from opportunity_stats group by campaign_id
    )
    select c.campaign_id, c.org_id, c.title_ar, c.title_en, c.kind, c.municipality,
           c.starts_on, c.ends_on, c.status, c.target_volunteers, c.target_hours,
           coalesce(o.opportunity_count, 0) as opportunity_count,
           coalesce(o.capacity, 0) as capacity, s.signups, s.withdrawals, s.check_ins,
           s.no_shows, s.verified_hours, s.volunteers_attended,
           case when o.capacity > 0 then round(o.filled::numeric / o.capacity, 4) end
               as fill_rate,
           s.volunteer_progress, s.hours_progress
    from campaigns c join campaign_stats s using (campaign_id)
    left join opp o using (campaign_id)""",
)
VIEWS = {
    "campaigns": ("opportunity_stats", "campaign_stats", "campaign_rows"),
    "organizations": ("organization_stats", "sector_stats"),
}
