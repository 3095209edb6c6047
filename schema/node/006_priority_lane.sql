-- 006_priority_lane.sql - the priority lane of the outbox. A P report
-- (priority syndrome: suspected anthrax, avian influenza...) and the
-- follow-ups of one must not wait behind a backlog of routine records. The
-- capture triggers (node/store.c) queue every change with lane 0; this
-- trigger marks the entries of P reports and of their follow-ups lane 1,
-- and the sync client (node/sync_push.c, promote_priority) gives them the
-- lowest numbers of the entries that have never been on the wire, so they
-- go up in the next batch. The wire and the hub are unchanged: a batch is
-- still every queued entry up to its last_seq.
ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 0 CHECK (lane IN (0, 1));

CREATE INDEX outbox_priority ON outbox(seq) WHERE lane = 1 AND state = 0;

CREATE TRIGGER outbox_lane AFTER INSERT ON outbox
WHEN NEW.tbl IN ('case_report', 'case_followup') BEGIN
    UPDATE outbox SET lane = 1 WHERE seq = NEW.seq AND (
        (NEW.tbl = 'case_report' AND EXISTS (
            SELECT 1 FROM case_report WHERE id = NEW.row_id AND kind = 'P')) OR
        (NEW.tbl = 'case_followup' AND EXISTS (
            SELECT 1 FROM case_followup f JOIN case_report c ON c.id = f.case_id
            WHERE f.id = NEW.row_id AND c.kind = 'P')));
END;
