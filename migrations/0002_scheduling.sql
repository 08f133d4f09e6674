-- Scheduling: doctor profiles, weekly availability, exceptions, appointments.
-- Local times of availability are minutes after midnight in the doctor's own time zone
-- (users.timezone); everything else is epoch milliseconds UTC.

CREATE TABLE doctors (
    user_id          TEXT PRIMARY KEY REFERENCES users (id),
    consult_minutes  INTEGER NOT NULL DEFAULT 30 CHECK (consult_minutes BETWEEN 5 AND 240),
    -- Bumped by every booking for this doctor: the row lock that serialises them.
    version          BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE availability_rules (
    id           TEXT PRIMARY KEY,
    doctor_id    TEXT NOT NULL REFERENCES doctors (user_id),
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),   -- ISO: 1 = Monday
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (end_minute > start_minute)
);

CREATE INDEX availability_rules_doctor_idx ON availability_rules (doctor_id);

CREATE TABLE availability_exceptions (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES doctors (user_id),
    kind       TEXT NOT NULL CHECK (kind IN ('off', 'extra')),
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    reason     TEXT,
    created_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);

CREATE INDEX availability_exceptions_doctor_idx ON availability_exceptions (doctor_id, starts_at);

CREATE TABLE appointments (
    id            TEXT PRIMARY KEY,
    doctor_id     TEXT NOT NULL REFERENCES doctors (user_id),
    patient_id    TEXT NOT NULL REFERENCES users (id),
    starts_at     BIGINT NOT NULL,
    ends_at       BIGINT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('booked', 'cancelled', 'completed', 'no_show')),
    room_id       TEXT NOT NULL,
    reason        TEXT,
    status_reason TEXT,
    -- iCalendar SEQUENCE: bumped on every reschedule or cancellation.
    sequence      INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT NOT NULL REFERENCES users (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CHECK (ends_at > starts_at),
    CONSTRAINT appointments_room_key UNIQUE (room_id)
);

CREATE INDEX appointments_doctor_idx ON appointments (doctor_id, starts_at);
CREATE INDEX appointments_patient_idx ON appointments (patient_id, starts_at);
