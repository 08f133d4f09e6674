-- The outbox takes the notices of a booking: `booked`, `moved` and `cancelled`, each due at
-- once for the patient and the doctor. The key now includes the kind, so that a booking moved
-- in the millisecond it was made keeps both notices.
ALTER TABLE reminders DROP CONSTRAINT reminders_kind_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_kind_check
    CHECK (kind IN ('appointment', 'review', 'outcome', 'booked', 'moved', 'cancelled'));
ALTER TABLE reminders DROP CONSTRAINT reminders_key;
ALTER TABLE reminders ADD CONSTRAINT reminders_key UNIQUE (kind, object_id, recipient_id, offset_minutes, due_at);
