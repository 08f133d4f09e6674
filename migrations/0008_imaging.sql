-- Images shared in a consultation room and the model findings made on them. Image bytes live
-- in the content-addressed blob store (sha256); these rows say who shared what where. A finding
-- is a model's suggestion until a clinician accepts, amends or rejects it; only then do patients
-- and guests see it.

CREATE TABLE images (
    id             TEXT PRIMARY KEY,
    room_id        TEXT NOT NULL REFERENCES rooms (id),
    -- The review case it belongs to, when shared during a case review.
    case_id        TEXT REFERENCES review_cases (id),
    sha256         TEXT NOT NULL,
    display_sha256 TEXT NOT NULL,
    display_type   TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('png', 'jpeg', 'dicom')),
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    bytes          BIGINT NOT NULL,
    filename       TEXT NOT NULL,
    -- JSON: DICOM facts (modality, transfer syntax, windows) or {}.
    info           TEXT NOT NULL,
    shared_by      TEXT NOT NULL,
    shared_by_name TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE INDEX images_room_idx ON images (room_id, created_at);

CREATE TABLE findings (
    id              TEXT PRIMARY KEY,
    image_id        TEXT NOT NULL REFERENCES images (id),
    room_id         TEXT NOT NULL REFERENCES rooms (id),
    model           TEXT NOT NULL,
    model_version   TEXT NOT NULL,
    model_sha256    TEXT,
    input_sha256    TEXT NOT NULL,
    -- JSON: the facts given (age, sex, site) and the fields that took defaults.
    facts           TEXT NOT NULL,
    defaulted       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'ready', 'failed', 'accepted', 'amended', 'rejected')),
    -- JSON list of {label, probability} in the model's label order.
    predictions     TEXT,
    heatmap_sha256  TEXT,
    error           TEXT,
    requested_by    TEXT NOT NULL REFERENCES users (id),
    requested_at    BIGINT NOT NULL,
    completed_at    BIGINT,
    decided_by      TEXT REFERENCES users (id),
    decided_by_name TEXT,
    decided_at      BIGINT,
    -- The label the clinician settled on (the top one when accepted, their own when amended).
    decision_label  TEXT,
    decision_note   TEXT
);

CREATE INDEX findings_room_idx ON findings (room_id, requested_at);
CREATE INDEX findings_image_idx ON findings (image_id);
