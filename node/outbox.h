/* outbox.h - the names of the outbox's states, for C and for SQL. The
 * outbox (schema/node/001_init.sql, docs/data-model.md "Outbox") queues
 * every local change for upload; outbox.state is a number. C code names it
 * with enum outbox_state; SQL reads the view outbox_named (migration 005),
 * whose state_name is 'queued' or 'refused'. tests/unit/test-store.c holds
 * the two to the same numbers. */
#ifndef SIKHNAS_OUTBOX_H
#define SIKHNAS_OUTBOX_H

enum outbox_state {
    OUTBOX_QUEUED = 0,          /* waiting for upload ('queued') */
    OUTBOX_REFUSED = 2,         /* refused by the hub, error says why ('refused') */
};

/* The states as SQL literals, for the statements that write the outbox
 * (the sync client's: a view cannot be updated). */
#define OUTBOX_QUEUED_LIT  "0"
#define OUTBOX_REFUSED_LIT "2"

/* SELECT columns "sync" and "sync_error" of the record aliased t (a synced
 * table with an id column): a refused change makes it 'rejected', else a
 * queued one 'queued', else it is 'synced'; sync_error is the hub's reason
 * for the newest refused change, or NULL. Each look-up uses outbox_row. */
#define OUTBOX_SYNC_STATE_SQL(t) \
    "CASE WHEN EXISTS (SELECT 1 FROM outbox_named o WHERE o.row_id = " t ".id" \
    " AND o.state_name = 'refused') THEN 'rejected'" \
    " WHEN EXISTS (SELECT 1 FROM outbox_named o WHERE o.row_id = " t ".id" \
    " AND o.state_name = 'queued') THEN 'queued' ELSE 'synced' END AS sync," \
    " (SELECT o.error FROM outbox_named o WHERE o.row_id = " t ".id" \
    " AND o.state_name = 'refused' ORDER BY o.seq DESC LIMIT 1) AS sync_error"

/* Counts of the outbox rows in each state (the dashboard and `status`),
 * kept by triggers in outbox_count (schema/node/009_case_week.sql) so that
 * no caller counts the whole outbox. */
#define OUTBOX_COUNT_QUEUED_SQL \
    "SELECT coalesce((SELECT n FROM outbox_count WHERE state = 0), 0)"
#define OUTBOX_COUNT_REFUSED_SQL \
    "SELECT coalesce((SELECT n FROM outbox_count WHERE state = 2), 0)"

#endif
