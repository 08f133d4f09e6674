-- A patient's demographics on their chart, kept by admins and the patient's clinicians.

CREATE TABLE patient_profiles (
    patient_id         TEXT PRIMARY KEY REFERENCES users (id),
    -- YYYY-MM-DD.
    birth_date         TEXT,
    sex                TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    phone              TEXT,
    -- The hospital's record number (MRN) or another external identifier.
    record_number      TEXT,
    -- A language tag (BCP 47), e.g. de, zh-Hans, pt-BR.
    preferred_language TEXT,
    updated_by         TEXT NOT NULL REFERENCES users (id),
    updated_at         BIGINT NOT NULL
);
