-- The totals of `imgstore stats` and GET /v1/servers, kept by triggers in
-- the transactions that change them: counting the rows (and summing the
-- bytes, a scan of the image table) took 0.08 s a call at 436 k images,
-- and the dashboard asks every 2 s. One writer at a time, so one row of
-- totals costs nothing in contention. (PostgreSQL's 005 keeps counting:
-- every upload of several trackers would wait for the same row.)

CREATE TABLE totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  images INTEGER NOT NULL,
  placements INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);

INSERT INTO totals (id, images, placements, bytes)
SELECT 1, (SELECT count(*) FROM images), (SELECT count(*) FROM placements),
       (SELECT coalesce(sum(bytes), 0) FROM images);

CREATE TRIGGER totals_image_added AFTER INSERT ON images BEGIN
  UPDATE totals SET images = images + 1, bytes = bytes + NEW.bytes
  WHERE id = 1;
END;

CREATE TRIGGER totals_image_deleted AFTER DELETE ON images BEGIN
  UPDATE totals SET images = images - 1, bytes = bytes - OLD.bytes
  WHERE id = 1;
END;

CREATE TRIGGER totals_copy_added AFTER INSERT ON placements BEGIN
  UPDATE totals SET placements = placements + 1 WHERE id = 1;
END;

CREATE TRIGGER totals_copy_deleted AFTER DELETE ON placements BEGIN
  UPDATE totals SET placements = placements - 1 WHERE id = 1;
END;
