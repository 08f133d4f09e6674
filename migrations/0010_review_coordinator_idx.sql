-- A person's reviews are found through the reviews they coordinate and the ones they are an
-- expert in; without this index the first half scanned every review (a calendar feed read did,
-- for each poll).
CREATE INDEX reviews_coordinator_idx ON reviews (coordinator_id, id);
