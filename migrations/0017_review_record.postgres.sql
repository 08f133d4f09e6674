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
-- clinician.
ALTER TABLE reminders DROP CONSTRAINT reminders_kind_check;
ALTER TABLE reminders ADD CONSTRAINT reminders_kind_check CHECK (kind IN ('appointment', 'review', 'outcome'));
