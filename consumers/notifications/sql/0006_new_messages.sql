-- New messages (issue 14, item 3): 2-hour reminders, attendance confirmations with
-- auto-release, opportunity changes, waiting-list promotions and opportunity alerts.

-- What the notifier now needs of a volunteer (alert matching) and of an opportunity
-- (alerts, waiting list, auto-release). Rows folded before this migration get them the
-- next time their entity has an event (a refold).
alter table contacts
    add column municipality text,
    add column birth_year   integer;
alter table opportunities
    add column campaign_id  text,
    add column ends_at      timestamptz,
    add column capacity     integer,
    add column municipality text,
    add column min_age      integer,
    add column auto_release boolean;

-- The answer to an `attendance_confirmation` request (one row per volunteer and
-- opportunity) is the row's `reply` ('yes' or 'no') and `replied_at` (migration 0005),
-- set by the gateway's inbound SMS webhook on the volunteer's latest sent request without
-- a reply. `released_at`: when the notifier released the place of a request left
-- unanswered (the opportunity asked for auto-release); set once, after Kafka acknowledged
-- the withdrawal.
alter table outbox add column released_at timestamptz;
create index outbox_unanswered on outbox (volunteer_id, finished_at)
    where template = 'attendance_confirmation' and status = 'sent' and reply is null
      and released_at is null;
-- Pending messages about one sign-up, found when their opportunity changes (re-timed at
-- once). Only those templates: every other row (welcomes, alerts by the 100,000) pays
-- nothing for this index. Keep the list in step with `schedule.SCHEDULED` (changes.RETIME).
create index outbox_pending_opportunity on outbox ((context ->> 'opportunity_id'))
    where status in ('pending', 'sending') and template in ('shift_reminder',
        'shift_reminder_2h', 'attendance_confirmation', 'waitlist_promoted',
        'opportunity_changed');

-- The waiting list as the notifier last saw it: the sign-ups of an opportunity in
-- sign-up order, the first `capacity` placed. A pair seen waiting and later placed is a
-- promotion (`waitlist_promoted`); `promotions` keeps each promotion's message distinct.
create table seats (
    opportunity_id text    not null,
    volunteer_id   text    not null,
    placed         boolean not null,
    promotions     integer not null default 0,
    primary key (opportunity_id, volunteer_id)
);

-- Opportunity alerts: one message per volunteer per local day (`day`); an opportunity
-- published once that day's alert is taken joins the next day's digest.
create table alert_days (
    volunteer_id    text  not null,
    day             date  not null,
    opportunity_ids text[] not null,
    notification_id text  not null,
    primary key (volunteer_id, day)
);
-- Each opportunity alerts once, whatever republishes it.
create table alerted_opportunities (
    opportunity_id text primary key,
    alerted_at     timestamptz not null default now(),
    volunteers     integer not null
);
create index contacts_alerts on contacts (municipality)
    where status = 'registered' and (consent ->> 'alerts') = 'true';
