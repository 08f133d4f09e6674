-- What a case review's record needs beyond its outcomes: who attended, and a notice to the
-- clinician a signed outcome names for the next step.

-- Attendance: written from the review's call as people join and leave, correctable by the
-- coordinator. `user_id` is an account id or, for a guest, `guest:<invite id>` (no account row,
-- so no foreign key). A correction wins over what the call saw: `present` stays as corrected.
CREATE TABLE review_attendance (
    review_id       TEXT NOT NULL REFERENCES reviews (id),
    user_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('host', 'expert', 'guest', 'patient')),
    first_joined_at BIGINT,
    last_left_at    BIGINT,
    present         INTEGER NOT NULL DEFAULT 1 CHECK (present IN (0, 1)),
    corrected_by    TEXT REFERENCES users (id),
    corrected_at    BIGINT,
    CONSTRAINT review_attendance_key UNIQUE (review_id, user_id)
);

-- The outbox takes a third kind, `outcome`: a signed case outcome for its responsible
-- clinician. SQLite cannot change a CHECK in place, so the table is rebuilt (nothing refers
-- to it).
CREATE TABLE reminders_new (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'review', 'outcome')),
    object_id      TEXT NOT NULL,
    recipient_id   TEXT NOT NULL REFERENCES users (id),
    offset_minutes INTEGER NOT NULL,
    due_at         BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed', 'cancelled')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        BIGINT,
    created_at     BIGINT NOT NULL,
    CONSTRAINT reminders_key UNIQUE (object_id, recipient_id, offset_minutes, due_at)
);
INSERT INTO reminders_new SELECT id, kind, object_id, recipient_id, offset_minutes, due_at, status,
    attempts, last_error, sent_at, created_at FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_new RENAME TO reminders;
CREATE INDEX reminders_due_idx ON reminders (status, due_at);
