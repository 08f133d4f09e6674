-- The patient's chart. A clinician opens a chart through a care relationship (an appointment
-- with the patient, a case review with the patient on its agenda); any other clinician only by
-- emergency access, with a reason, for a limited time, shown on an admin report.

CREATE TABLE emergency_access (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    patient_id  TEXT NOT NULL REFERENCES users (id),
    reason      TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    client_addr TEXT,
    CHECK (expires_at > granted_at)
);

CREATE INDEX emergency_access_user_idx ON emergency_access (user_id, patient_id, expires_at);
CREATE INDEX emergency_access_granted_idx ON emergency_access (granted_at);

-- Images of a review case, for the chart of the case's patient.
CREATE INDEX images_case_idx ON images (case_id);
