-- Which frame of a multi-frame DICOM file a finding was made on (0 for every other image).
ALTER TABLE findings ADD COLUMN frame INTEGER NOT NULL DEFAULT 0;
