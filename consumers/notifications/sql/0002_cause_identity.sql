-- A cause event's identity is its source and its id: two partners may both use an id,
-- and each of their events notifies. The ledger's key (notification_id) is derived from
-- that identity, so the old unique (cause_event_id, template, channel), on the id alone,
-- would drop the second partner's messages.
alter table outbox drop constraint outbox_cause_event_id_template_channel_key;
