-- One-time invite links into a consultation room for people without an account here
-- (interpreter, family member) or a patient joining from a link. Only the token's SHA-256 is
-- stored; opening the link once turns it into a guest session for that room alone.

CREATE TABLE invites (
    id           TEXT PRIMARY KEY,
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    kind         TEXT NOT NULL CHECK (kind IN ('patient', 'guest')),
    display_name TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users (id),
    not_before   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    created_at   BIGINT NOT NULL,
    CONSTRAINT invites_token_key UNIQUE (token_hash)
);

CREATE INDEX invites_room_idx ON invites (room_id);
