/* hub_admin.h - the operator's node commands: register a node (and print
 * its one-time enrolment token), revoke it, list the registry. Blocking
 * libpq, like the other administrative commands. */
#ifndef SIKHNAS_HUB_ADMIN_H
#define SIKHNAS_HUB_ADMIN_H

#define ADMIN_TOKEN_HOURS 72

/* Registers name for district (or, for a name registered before and not
 * revoked, issues a new token for it, e.g. to re-enrol after expiry) and
 * prints the token on stdout. Only the token's SHA-256 is stored. Returns 0
 * or -errno (logged). */
int hub_node_add(const char *conninfo, const char *name, const char *district,
                 unsigned valid_hours);

/* Revokes the registration name, every certificate issued to it and its
 * unused tokens; the hub refuses the node's next request. Returns 0, or
 * -ENOENT when no such node exists, or -errno (logged). */
int hub_node_revoke(const char *conninfo, const char *name);

/* Prints the registry as tab-separated lines. Returns 0 or -errno. */
int hub_node_list(const char *conninfo);

#endif
