-- The outcome of each case on a review's agenda: who presented it, the clinical question, a
-- summary of the discussion, and a structured recommendation with the clinician responsible for
-- the next step. The review's clinicians draft it during the call (versions, as notes); the
-- coordinator signs it, which freezes it (migration 0014) and puts it in the patient's record.

CREATE TABLE case_outcomes (
    id                  TEXT PRIMARY KEY,
    case_id             TEXT NOT NULL REFERENCES review_cases (id),
    review_id           TEXT NOT NULL REFERENCES reviews (id),
    patient_id          TEXT NOT NULL REFERENCES users (id),
    version             INTEGER NOT NULL CHECK (version > 0),
    presenter_id        TEXT REFERENCES users (id),
    question            TEXT NOT NULL,
    discussion          TEXT NOT NULL,
    recommendation      TEXT CHECK (recommendation IN ('surgery', 'systemic_therapy', 'radiotherapy',
                            'further_investigation', 'surveillance', 'clinical_trial', 'other')),
    recommendation_text TEXT NOT NULL,
    responsible_id      TEXT REFERENCES users (id),
    saved_by            TEXT NOT NULL REFERENCES users (id),
    saved_by_name       TEXT NOT NULL,
    saved_at            BIGINT NOT NULL,
    signed_by           TEXT REFERENCES users (id),
    signed_by_name      TEXT,
    signed_at           BIGINT,
    content_sha256      TEXT,
    created_at          BIGINT NOT NULL,
    CONSTRAINT case_outcomes_case_key UNIQUE (case_id),
    CHECK ((signed_at IS NULL) = (content_sha256 IS NULL)),
    CHECK (signed_at IS NULL OR recommendation IS NOT NULL)
);

CREATE INDEX case_outcomes_patient_idx ON case_outcomes (patient_id, created_at);
