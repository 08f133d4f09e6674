-- A signed case outcome is never changed or deleted (as notes, 0012, whose function this uses).

CREATE TRIGGER case_outcomes_signed_frozen BEFORE UPDATE OR DELETE ON case_outcomes
    FOR EACH ROW EXECUTE FUNCTION consilium_signed_records_are_frozen();
