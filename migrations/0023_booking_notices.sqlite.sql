-- The outbox takes the notices of a booking: `booked`, `moved` and `cancelled`, each due at
-- once for the patient and the doctor. SQLite cannot change a CHECK in place, so the table is
-- rebuilt as in 0017 (nothing refers to it). The key now includes the kind, so that a booking
-- moved in the millisecond it was made keeps both notices.
CREATE TABLE reminders_new (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'review', 'outcome', 'booked', 'moved', 'cancelled')),
    object_id      TEXT NOT NULL,
    recipient_id   TEXT NOT NULL REFERENCES users (id),
    offset_minutes INTEGER NOT NULL,
    due_at         BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed', 'cancelled')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        BIGINT,
    created_at     BIGINT NOT NULL,
    CONSTRAINT reminders_key UNIQUE (kind, object_id, recipient_id, offset_minutes, due_at)
);
INSERT INTO reminders_new SELECT id, kind, object_id, recipient_id, offset_minutes, due_at, status,
    attempts, last_error, sent_at, created_at FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_new RENAME TO reminders;
CREATE INDEX reminders_due_idx ON reminders (status, due_at);
