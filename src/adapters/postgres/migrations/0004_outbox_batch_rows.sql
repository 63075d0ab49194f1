-- One outbox row per engine batch instead of one per stream event (issue 6, throughput).
-- Runs inside one transaction with search_path set to the target schema.
--
-- A batch of 32 orders wrote about 110 events (each changed order to its user's stream, each
-- trade, each book change): 110 heap rows and 220 index entries, then as many reads and
-- deletes by the relay. A batch row holds the same events as three arrays in publish order.
-- Additive: a row is either one event (stream, seq, payload: what the previous release
-- writes) or one batch (streams, seqs, payloads). The relay publishes both shapes in id order,
-- which is commit order per stream (a stream's head row stays locked until commit), so the
-- two releases can write side by side during a rolling deploy. A relay of the previous
-- release fails on a batch row and retries without deleting anything; the new relay publishes
-- it once the old pod is gone.
ALTER TABLE outbox
  ALTER COLUMN stream DROP NOT NULL,
  ALTER COLUMN seq DROP NOT NULL,
  ALTER COLUMN payload DROP NOT NULL,
  ADD COLUMN streams text[],
  ADD COLUMN seqs bigint[],
  ADD COLUMN payloads text[],
  ADD CONSTRAINT outbox_event_or_batch CHECK (
    (stream IS NOT NULL AND seq IS NOT NULL AND payload IS NOT NULL
      AND streams IS NULL AND seqs IS NULL AND payloads IS NULL)
    OR (stream IS NULL AND seq IS NULL AND payload IS NULL
      AND cardinality(streams) > 0
      AND cardinality(seqs) = cardinality(streams)
      AND cardinality(payloads) = cardinality(streams))
  );
