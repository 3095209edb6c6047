/* hub_migrate.h - the hub's administrative commands: schema migrations and
 * central reference data. They run before (or beside) the server, with
 * blocking libpq: nothing else shares their thread. */
#ifndef SIKHNAS_HUB_MIGRATE_H
#define SIKHNAS_HUB_MIGRATE_H

#include <libpq-fe.h>

/* Connects with blocking libpq in UTF-8; logs and returns -ECONNREFUSED if
 * PostgreSQL cannot be reached. The administrative commands share it. */
int hub_admin_connect(const char *conninfo, PGconn **ret);

/* Runs sql on pg: one or more statements without parameters (n 0), or one
 * statement with n text parameters. *ret, when given, gets the result (the
 * caller PQclear()s it). Returns 0, or -EIO after logging "what: error". */
int hub_admin_exec(PGconn *pg, const char *what, const char *sql, int n,
                   const char *const *params, PGresult **ret);

/* Ends the transaction open on pg: COMMIT when r is 0, else ROLLBACK (when
 * one is open). Returns r, or -EIO when the commit failed (logged). */
int hub_admin_end(PGconn *pg, int r, const char *what);

/* Connects to conninfo and runs body(pg, ud) in one transaction, committed
 * when body returns 0 and rolled back otherwise. Returns body's result, or
 * -errno when connecting or committing failed (logged). */
int hub_admin_transaction(const char *conninfo, const char *what,
                          int (*body)(PGconn *pg, void *ud), void *ud);

/* Applies every embedded schema/central migration not yet recorded in
 * schema_migration, each in its own transaction, under an advisory lock so
 * that two hubs starting at once do not race. Returns 0 or -errno. */
int hub_migrate(const char *conninfo);

/* Loads the idn-area CSVs from areas_dir (NULL: skip areas) and the embedded
 * code lists into area and code_list in one transaction. Rows that did not
 * change are left alone, so they do not flow down again. Returns 0 or -errno. */
int hub_refdata_load(const char *conninfo, const char *areas_dir);

#endif
