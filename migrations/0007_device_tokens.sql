-- Tokens that let one device (dermatoscope, ultrasound, OBS, GStreamer) stream into one room
-- over WHIP, or watch it over WHEP, without an account. A clinician in the room creates one;
-- only its SHA-256 is stored, and it expires.

CREATE TABLE device_tokens (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    label       TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    CONSTRAINT device_tokens_token_key UNIQUE (token_hash)
);

CREATE INDEX device_tokens_room_idx ON device_tokens (room_id);
