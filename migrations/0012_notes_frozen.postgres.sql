-- Nothing signed is ever edited or deleted, by any code path or by an admin with a SQL
-- prompt: the database refuses it. (SQLite has the same rule in 0012_notes_frozen.sqlite.sql.)

CREATE FUNCTION consilium_signed_records_are_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'note_addenda' OR OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'signed clinical records are never changed or deleted (% on %)', TG_OP, TG_TABLE_NAME;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER notes_signed_frozen BEFORE UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION consilium_signed_records_are_frozen();

CREATE TRIGGER note_addenda_frozen BEFORE UPDATE OR DELETE ON note_addenda
    FOR EACH ROW EXECUTE FUNCTION consilium_signed_records_are_frozen();
