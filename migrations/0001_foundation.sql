-- Foundation: accounts, revoked tokens, audit log.
-- Portable SQL for SQLite and PostgreSQL: TEXT ids (UUIDv7), BIGINT epoch-millisecond UTC
-- timestamps, INTEGER booleans, named UNIQUE constraints.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'admin')),
    password_hash TEXT NOT NULL,
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    specialty     TEXT,
    locale        TEXT CHECK (locale IN ('en', 'zh')),
    active        INTEGER NOT NULL DEFAULT 1,
    token_version BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE INDEX users_role_idx ON users (role);

-- Tokens ended by logout before their expiry; rows past expires_at can be purged.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

-- One row per read or change of patient data, and per sign-in event.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_role  TEXT,
    action      TEXT NOT NULL,
    patient_id  TEXT,
    object_type TEXT,
    object_id   TEXT,
    client_addr TEXT,
    detail      TEXT
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at);
