-- SQLite's 005 keeps the totals of `imgstore stats` in a row updated by
-- triggers. Here several trackers write at once, and every upload would
-- wait for that one row until the transaction before it commits: the
-- totals are counted instead. Nothing changes; the number keeps both
-- dialects' migrations in step.

SELECT 1;
