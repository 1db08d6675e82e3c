-- The same as migrations/sqlite/002_repair.sql in PostgreSQL's words: the
-- repair queue, run-time settings, the repair lease, and an index over one
-- server's copies in path order that replaces the plain server_id index.

CREATE TABLE repair_queue (
  image_id TEXT PRIMARY KEY,
  queued_at BIGINT NOT NULL
);

-- Cluster-wide settings an operator changes at run time through any
-- tracker (the rebalance target), read by the tracker holding the lease.
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

-- Byte order ("C"), the order a node lists its files in, so fsck can walk
-- both side by side whatever the database's collation.
CREATE INDEX placements_server_path
  ON placements (server_id, relative_path COLLATE "C");
DROP INDEX placements_server_id;

-- The capacity the node itself last reported (its --max-pics): a heartbeat
-- sets max_pic_amount only when that changes, so an operator's PATCH holds.
ALTER TABLE servers ADD COLUMN reported_max_pics BIGINT NOT NULL DEFAULT 0;
