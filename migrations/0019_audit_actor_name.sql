-- Actors without an account (a guest or a patient who came by invite link, a device stream)
-- are named in the audit log by the name they were given, beside their id (`guest:<invite>`,
-- `device:<token>`) and their room role. Account holders keep being named by their account.
ALTER TABLE audit_log ADD COLUMN actor_name TEXT;
