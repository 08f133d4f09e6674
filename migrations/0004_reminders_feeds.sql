-- Reminders outbox and calendar subscription feeds.

-- One row per reminder to send. Written in the same transaction as the booking it belongs
-- to; the worker claims a row (pending -> sending) before sending, so no reminder goes twice.
CREATE TABLE reminders (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('appointment', 'review')),
    object_id      TEXT NOT NULL,
    recipient_id   TEXT NOT NULL REFERENCES users (id),
    offset_minutes INTEGER NOT NULL,
    due_at         BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed', 'cancelled')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    sent_at        BIGINT,
    created_at     BIGINT NOT NULL,
    -- A moved appointment gets new rows (new due_at); each (time, offset) is reminded once.
    CONSTRAINT reminders_key UNIQUE (object_id, recipient_id, offset_minutes, due_at)
);

CREATE INDEX reminders_due_idx ON reminders (status, due_at);

-- A per-user secret feed URL; only the SHA-256 of the token is stored.
CREATE TABLE calendar_feeds (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT calendar_feeds_token_key UNIQUE (token_hash)
);
