-- Fencing: each claim of a row writes a fresh lease token; every later update of the row
-- (sent, failed, suppressed, retry, hold) is conditional on the token still being the
-- row's. A holder whose lease expired and whose row was claimed again by another sender
-- matches nothing, so its late result changes nothing. Null: never claimed since.
alter table outbox add column lease_token uuid;
