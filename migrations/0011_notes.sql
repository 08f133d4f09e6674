-- Consultation notes: one per appointment, in SOAP form, written by the treating doctor.
-- A draft is saved again and again (`version` guards against two tabs overwriting each other);
-- signing freezes it (signer, time, content hash), and after that only addenda are added, each
-- signed as it is written. Migration 0012 makes the database itself refuse changing or
-- deleting anything signed.

CREATE TABLE notes (
    id             TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    patient_id     TEXT NOT NULL REFERENCES users (id),
    author_id      TEXT NOT NULL REFERENCES users (id),
    version        INTEGER NOT NULL CHECK (version > 0),
    subjective     TEXT NOT NULL,
    objective      TEXT NOT NULL,
    assessment     TEXT NOT NULL,
    plan           TEXT NOT NULL,
    instructions   TEXT NOT NULL,
    -- JSON array of {text, system, code, display}.
    diagnoses      TEXT NOT NULL,
    saved_by       TEXT NOT NULL REFERENCES users (id),
    saved_by_name  TEXT NOT NULL,
    saved_at       BIGINT NOT NULL,
    signed_by      TEXT REFERENCES users (id),
    signed_by_name TEXT,
    signed_at      BIGINT,
    content_sha256 TEXT,
    created_at     BIGINT NOT NULL,
    CONSTRAINT notes_appointment_key UNIQUE (appointment_id),
    CHECK ((signed_at IS NULL) = (content_sha256 IS NULL))
);

CREATE INDEX notes_patient_idx ON notes (patient_id, created_at);

CREATE TABLE note_addenda (
    id             TEXT PRIMARY KEY,
    note_id        TEXT NOT NULL REFERENCES notes (id),
    position       INTEGER NOT NULL CHECK (position > 0),
    body           TEXT NOT NULL,
    author_id      TEXT NOT NULL REFERENCES users (id),
    author_name    TEXT NOT NULL,
    signed_at      BIGINT NOT NULL,
    content_sha256 TEXT NOT NULL,
    CONSTRAINT note_addenda_position_key UNIQUE (note_id, position)
);
