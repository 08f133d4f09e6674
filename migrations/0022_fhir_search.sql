-- What FHIR's Appointment?date=… goes by on a hospital's volume: appointments by start alone
-- (the other indexes lead with the doctor or the patient).
CREATE INDEX appointments_starts_idx ON appointments (starts_at);
