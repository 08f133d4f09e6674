-- Consultation rooms and their chat. Appointment and review rooms use the room_id those rows
-- already carry; a room row is created at first join. Ad-hoc rooms are created by clinicians.

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('appointment', 'review', 'adhoc')),
    object_id  TEXT,
    host_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    ended_at   BIGINT
);

CREATE TABLE chat_messages (
    id          TEXT PRIMARY KEY,
    room_id     TEXT NOT NULL REFERENCES rooms (id),
    sender_id   TEXT REFERENCES users (id),
    sender_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE INDEX chat_messages_room_idx ON chat_messages (room_id, created_at);
