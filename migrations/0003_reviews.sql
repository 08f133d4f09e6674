-- Multi-expert case reviews: a coordinator plans a call of several specialists, with an agenda
-- of patient cases. Times are epoch milliseconds UTC.

CREATE TABLE reviews (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL,
    coordinator_id   TEXT NOT NULL REFERENCES users (id),
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 15 AND 480),
    window_start     BIGINT NOT NULL,
    window_end       BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('planning', 'scheduled', 'cancelled')),
    starts_at        BIGINT,
    ends_at          BIGINT,
    room_id          TEXT NOT NULL,
    sequence         INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CHECK (window_end > window_start),
    CONSTRAINT reviews_room_key UNIQUE (room_id)
);

CREATE TABLE review_experts (
    review_id    TEXT NOT NULL REFERENCES reviews (id),
    expert_id    TEXT NOT NULL REFERENCES doctors (user_id),
    response     TEXT NOT NULL DEFAULT 'pending' CHECK (response IN ('pending', 'accepted', 'declined')),
    comment      TEXT,
    responded_at BIGINT,
    CONSTRAINT review_experts_key UNIQUE (review_id, expert_id)
);

CREATE INDEX review_experts_expert_idx ON review_experts (expert_id);

-- Specialties the review needs, when no particular doctor is named for them.
CREATE TABLE review_specialties (
    review_id TEXT NOT NULL REFERENCES reviews (id),
    specialty TEXT NOT NULL,
    CONSTRAINT review_specialties_key UNIQUE (review_id, specialty)
);

CREATE TABLE review_cases (
    id          TEXT PRIMARY KEY,
    review_id   TEXT NOT NULL REFERENCES reviews (id),
    position    INTEGER NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES users (id),
    question    TEXT NOT NULL,
    notes       TEXT,
    decision    TEXT,
    decided_by  TEXT REFERENCES users (id),
    decided_at  BIGINT,
    created_at  BIGINT NOT NULL
);

CREATE INDEX review_cases_review_idx ON review_cases (review_id, position);
CREATE INDEX review_cases_patient_idx ON review_cases (patient_id);
