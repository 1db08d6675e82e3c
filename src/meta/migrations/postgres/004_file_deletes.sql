-- Copies whose file could not be deleted when their image (or the copy)
-- was forgotten, because the server was down: the repairer deletes them
-- once it is back, so a deleted image does not stay readable there.

CREATE TABLE file_deletes (
  server_id BIGINT NOT NULL,
  relative_path TEXT NOT NULL,
  queued_at BIGINT NOT NULL,
  PRIMARY KEY (server_id, relative_path)
);
