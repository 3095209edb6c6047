/* hub_migrate.h - the hub's administrative commands: schema migrations and
 * central reference data. They run before (or beside) the server, with
 * blocking libpq: nothing else shares their thread. */
#ifndef SIKHNAS_HUB_MIGRATE_H
#define SIKHNAS_HUB_MIGRATE_H

#include <libpq-fe.h>

/* Connects with blocking libpq in UTF-8; logs and returns -ECONNREFUSED if
 * PostgreSQL cannot be reached. The administrative commands share it. */
int hub_admin_connect(const char *conninfo, PGconn **ret);

/* Applies every embedded schema/central migration not yet recorded in
 * schema_migration, each in its own transaction, under an advisory lock so
 * that two hubs starting at once do not race. Returns 0 or -errno. */
int hub_migrate(const char *conninfo);

/* Loads the idn-area CSVs from areas_dir (NULL: skip areas) and the embedded
 * code lists into area and code_list in one transaction. Rows that did not
 * change are left alone, so they do not flow down again. Returns 0 or -errno. */
int hub_refdata_load(const char *conninfo, const char *areas_dir);

#endif
