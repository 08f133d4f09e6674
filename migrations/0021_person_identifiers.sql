-- Identifiers other systems give a person (an EHR's MRN, a national practitioner number),
-- each held by one account: what FHIR's conditional create and update look people up by, so a
-- hospital can push its patients twice without making them twice. The chart's own record
-- number stays in patient_profiles.
CREATE TABLE person_identifiers (
    id      TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    system  TEXT NOT NULL,
    value   TEXT NOT NULL,
    CONSTRAINT person_identifiers_key UNIQUE (system, value)
);

CREATE INDEX person_identifiers_user_idx ON person_identifiers (user_id);
