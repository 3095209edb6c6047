/* sms_spool.h - the SMS gateway's spool folders (smstools3, or gammu-smsd's
 * files backend) as the node's SMS intake; docs/sms.md describes the files.
 *
 *   DIR/incoming/   message files from the modem daemon (read, then moved)
 *   DIR/outgoing/   replies and alerts for the modem daemon (written atomically)
 *   DIR/processed/  incoming files after their reply is in outgoing/
 *   DIR/failed/     incoming files that cannot be read as a message, each
 *                   with NAME.reason beside it
 *   DIR/tmp/        where outgoing files are written before the rename
 */
#ifndef SIKHNAS_SMS_SPOOL_H
#define SIKHNAS_SMS_SPOOL_H

#include <stddef.h>

#include "daemon.h"
#include "nodeconf.h"
#include "sms_gateway.h"
#include "store.h"
#include "validate.h"

#define SMS_FILE_MAX  (64 * 1024)   /* bytes of one incoming file; larger ones fail */
#define SMS_PASS_MAX  100           /* files handled in one pass; the rest wait */

struct sms_spool;

struct sms_spool_stats {
    int handled;          /* messages handled (duplicates included) */
    int duplicates;
    int failed;           /* files moved to failed/ */
    int sent;             /* outgoing files written */
    int waiting;          /* files left for a later pass: too young, busy store, pass full */
};

/* Opens the spool at dir, creating the folders that are missing; outgoing
 * files are written in gateway's format (UNSET is refused: -EDOM). */
int  sms_spool_open(const char *dir, enum sms_gateway gateway, struct sms_spool **ret);
void sms_spool_free(struct sms_spool *sp);     /* NULL is a no-op */

/* One pass: writes outgoing files still queued from an earlier run, then
 * handles incoming files oldest first (by mtime, then name). With min_age_ms,
 * files modified more recently are left for the next pass (the modem daemon
 * may still be writing them). Returns 0 or -errno for a failure of the store
 * or of the spool itself; a bad message file is not a failure. */
int sms_spool_process(struct sms_spool *sp, struct store *s, struct validator *v,
                      int min_age_ms, struct sms_spool_stats *stats);

/* The `run --sms-spool DIR` module: uv_fs_event on incoming/ plus a rescan
 * every 10 s as a safety net. Its first pass, at start, writes the replies
 * committed but not yet written (a crash, a kill) in the configured format. */
extern const struct daemon_module sms_module;

/* `sikhnas-node sms process --spool DIR [--gateway G]`: one pass over what
 * is there now; the gateway is cfg's sms.gateway unless --gateway names it. */
int sms_cmd(struct store *s, const struct node_config *cfg, int argc, char **argv);

#endif
