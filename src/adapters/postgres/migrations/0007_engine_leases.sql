-- Who leads each engine shard, and when it last renewed (issue 21, leadership under faults).
-- Runs inside one transaction with search_path set to the target schema.
--
-- The advisory lock decides who leads; this row only records the leader's heartbeat, written
-- on the lock's own connection, so that the next leader can measure how long the shard went
-- without one (engine_takeover_seconds). A table of its own: renewing a column of
-- engine_shards would queue behind the share locks every batch holds on that row.
CREATE TABLE engine_leases (
  shard text PRIMARY KEY,
  holder text NOT NULL,
  renewed_at timestamptz NOT NULL
);
