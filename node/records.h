/* records.h - writing and reading field records in the node's store. Every
 * write runs inside the caller's transaction, stamps id/origin/hlc/times,
 * and the schema's triggers queue it in the outbox in that same transaction. */
#ifndef SIKHNAS_RECORDS_H
#define SIKHNAS_RECORDS_H

#include <stdio.h>

#include "store.h"
#include "validate.h"

/* Inserts a validated case report. id_out and ref_out get the new row's id
 * and its human reference (DDDD-NNNNNN). Call between store_begin/commit. */
int case_report_insert(struct store *s, const struct case_report_in *in,
                       char id_out[UUID_STR_LEN], char ref_out[16]);

/* Writes a corrected version of live case report id over the old one (a
 * change the hub refused, corrected by an officer): in's fields, a new hlc
 * and updated_at; its reference, reporter and creation stay. The capture
 * trigger queues the new version. 0, -ENOENT when id is no live case
 * report, or -errno. Call between store_begin/commit. */
int case_report_correct(struct store *s, const char *id, const struct case_report_in *in);

struct officer_in {
    char name[V_NAME_MAX + 1];
    char role[16];
    char phone[20];             /* normalised */
    char village[11];           /* "" when none */
};

/* Inserts an officer of this node's district. -EEXIST when the phone is
 * already registered. Call inside a transaction. */
int officer_insert(struct store *s, const struct officer_in *in, char id_out[UUID_STR_LEN]);

/* Rewrites the officer id with in's name, role, phone and village and
 * active (0: deactivated, a tombstone the hub learns of; 1: active again),
 * with a new hlc, so that the change goes to the hub. -ENOENT when there is
 * no such officer, -EEXIST when the phone is another officer's. Call inside
 * a transaction. */
int officer_update(struct store *s, const char *id, const struct officer_in *in, int active);

/* Writes the newest `limit` case reports (0: all) as a JSON array, or as a
 * table for people, to fp. Each carries its sync state: queued, synced or
 * rejected (with the hub's reason). */
int case_report_list(struct store *s, FILE *fp, int json, int limit);

/* Writes the officers (not deleted) by name as a JSON array, or as a table
 * for people, to fp. */
int officer_list(struct store *s, FILE *fp, int json);

/* Writes the node's status as one JSON object (json) or as lines for people. */
int node_status(struct store *s, FILE *fp, int json);

/* Finds a live case report by its reference "DDDD-NNNNNN". Copies its id
 * into id_out; returns 0, -ENOENT when there is none, or -errno. */
int case_report_by_ref(struct store *s, const char *ref, char id_out[UUID_STR_LEN]);


/* Inserts a validated record of kind (in: its struct, validate.h) inside
 * the caller's transaction, by the functions above. ref_out gets the case
 * reference or the permit number, "" for the other kinds. 0 or -errno. */
int record_insert(struct store *s, enum rec_kind kind, const void *in,
                  char id_out[UUID_STR_LEN], char ref_out[24]);

/* The table that keeps records of kind ("case_report", "vaccination", ...). */
const char *record_table(enum rec_kind kind);

#define RECORD_KEY_MAX 64       /* bytes of an idempotency key */

/* record_insert() once per key (the idempotency key of a tablet's draft;
 * NULL or "": no key): when key was used before, nothing is written and
 * id_out and ref_out get the record it made; returns 1 then, 0 when the
 * record was inserted now, -EEXIST when key made a record of another kind,
 * or -errno. Every channel that has a key writes through here. Call inside
 * a transaction. */
int record_insert_once(struct store *s, enum rec_kind kind, const void *in, const char *key,
                       char id_out[UUID_STR_LEN], char ref_out[24]);

#endif
