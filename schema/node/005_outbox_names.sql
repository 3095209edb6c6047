-- 005_outbox_names.sql: the outbox's states by name. outbox.state holds a
-- number (0 queued, 2 refused by the hub; 001_init.sql); readers name it
-- through this view instead of repeating the numbers, and the C code through
-- enum outbox_state (node/outbox.h), which a unit test holds to this view.
-- The view is a plain projection, so SQLite flattens it into the query that
-- reads it and a look-up by row_id still uses the outbox_row index.
CREATE VIEW outbox_named AS
SELECT seq, tbl, row_id, hlc,
       CASE state WHEN 0 THEN 'queued' WHEN 2 THEN 'refused' END AS state_name,
       error
FROM outbox;
