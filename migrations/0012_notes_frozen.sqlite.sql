-- Nothing signed is ever edited or deleted, by any code path or by an admin with a SQL
-- prompt: the database refuses it. (PostgreSQL has the same rule in 0012_notes_frozen.postgres.sql.)

CREATE TRIGGER notes_signed_not_changed BEFORE UPDATE ON notes WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed note is never changed; add an addendum');
END;

CREATE TRIGGER notes_signed_not_deleted BEFORE DELETE ON notes WHEN OLD.signed_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a signed note is never deleted');
END;

CREATE TRIGGER note_addenda_not_changed BEFORE UPDATE ON note_addenda
BEGIN
    SELECT RAISE(ABORT, 'an addendum is never changed; add another');
END;

CREATE TRIGGER note_addenda_not_deleted BEFORE DELETE ON note_addenda
BEGIN
    SELECT RAISE(ABORT, 'an addendum is never deleted');
END;
