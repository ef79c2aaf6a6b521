-- Alerts under reordering (issue 14): when, in event time, each volunteer's alerts consent
-- was on. An opportunity alerts the volunteers whose consent was on at its publication's
-- time; a volunteer whose registration or consent arrives after a publication it
-- precedes in event time is alerted then (`alerts.late_alerts`), so the same facts alert
-- the same volunteers whatever order they arrive in.
--
-- Rows folded before this migration with alerts on get "always on" (the rule they were
-- alerted by until now) until their volunteer's next event refolds them.
alter table contacts add column alerts_on tstzmultirange not null default '{}';
update contacts set alerts_on = '{(,)}' where (consent ->> 'alerts') = 'true';
