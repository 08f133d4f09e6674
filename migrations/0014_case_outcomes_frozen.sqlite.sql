-- A signed case outcome is never changed or deleted (as notes, 0012).

CREATE TRIGGER case_outcomes_signed_not_changed BEFORE UPDATE ON case_outcomes WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed case outcome is never changed');
END;

CREATE TRIGGER case_outcomes_signed_not_deleted BEFORE DELETE ON case_outcomes WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed case outcome is never deleted');
END;
