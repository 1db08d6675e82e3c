-- The founding design's server table (columns kept by name, SPEC §2), the
-- image table and one row per copy of an image. Applied by the migration
-- runner in meta/sqlite_store.cc inside its own transaction, so no BEGIN or
-- COMMIT here; migrations/postgres/001_initial.sql is the same schema.

CREATE TABLE servers (
  server_id INTEGER PRIMARY KEY,
  server_name TEXT NOT NULL,
  server_url TEXT NOT NULL UNIQUE,
  pic_root_path TEXT NOT NULL DEFAULT '',
  max_pic_amount INTEGER NOT NULL DEFAULT 0 CHECK (max_pic_amount >= 0),
  -- No CHECK against max_pic_amount: an operator may lower the capacity
  -- below the count; the server then takes no more until it falls below.
  cur_pic_amount INTEGER NOT NULL DEFAULT 0 CHECK (cur_pic_amount >= 0),
  flg_usable INTEGER NOT NULL DEFAULT 0 CHECK (flg_usable IN (0, 1)),
  state TEXT NOT NULL DEFAULT 'active'
    CHECK (state IN ('active', 'draining', 'disabled', 'removed')),
  last_heartbeat_at INTEGER NOT NULL DEFAULT 0,
  disk_free_bytes INTEGER NOT NULL DEFAULT 0,
  bytes_used INTEGER NOT NULL DEFAULT 0
);

-- WITHOUT ROWID: the id is the only key, so the row lives in the primary
-- key's b-tree and a lookup by id is one descent, not two (resolve reads
-- up to a page of ids per call).
CREATE TABLE images (
  image_id TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX images_sha256 ON images (sha256);
CREATE INDEX images_created_at ON images (created_at);

-- Clustered by image, so an image's copies sit together for resolve; the
-- server_id index serves "does this server still hold anything" and the
-- foreign key check on servers.
CREATE TABLE placements (
  image_id TEXT NOT NULL REFERENCES images (image_id),
  server_id INTEGER NOT NULL REFERENCES servers (server_id),
  relative_path TEXT NOT NULL,
  PRIMARY KEY (image_id, server_id)
) WITHOUT ROWID;

CREATE INDEX placements_server_id ON placements (server_id);
