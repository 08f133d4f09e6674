-- Who was in each room's call, and from when to when: every kind of room (a case review's
-- list, with the coordinator's corrections, stays in review_attendance). Written by the room
-- task as people (not devices) join and leave; read as the FHIR Encounter's period and
-- participants. `user_id` is an account id or `guest:<invite id>` (no foreign key).
CREATE TABLE room_attendance (
    room_id         TEXT NOT NULL REFERENCES rooms (id),
    user_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('host', 'expert', 'guest', 'patient')),
    first_joined_at BIGINT NOT NULL,
    -- NULL while they are in the call.
    last_left_at    BIGINT,
    CONSTRAINT room_attendance_key UNIQUE (room_id, user_id)
);
