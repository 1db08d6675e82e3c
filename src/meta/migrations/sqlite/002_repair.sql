-- Copies and repair (docs/STORAGE.md "Copies and repair"): the images known
-- to have fewer copies than wanted, run-time settings, the lease that lets
-- one tracker at a time run repair, and an index that walks one server's
-- copies in path order (drain, fsck) and replaces the plain server_id index.

CREATE TABLE repair_queue (
  image_id TEXT PRIMARY KEY,
  queued_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Cluster-wide settings an operator changes at run time through any
-- tracker (the rebalance target), read by the tracker holding the lease.
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX placements_server_path ON placements (server_id, relative_path);
DROP INDEX placements_server_id;

-- The capacity the node itself last reported (its --max-pics): a heartbeat
-- sets max_pic_amount only when that changes, so an operator's PATCH holds.
ALTER TABLE servers ADD COLUMN reported_max_pics INTEGER NOT NULL DEFAULT 0;
