/* import.h - bulk import of case reports from JSON Lines. */
#ifndef SIKHNAS_IMPORT_H
#define SIKHNAS_IMPORT_H

#include "access.h"
#include "store.h"
#include "validate.h"

struct import_opts {
    const char *path;
    const struct actor *actor;  /* who imports; each line goes through access_check() */
    const char *rejects_path;   /* NULL: PATH.rejects.jsonl */
    unsigned chunk;             /* rows per transaction */
    int strict;                 /* 1: validate the whole file first, import nothing if a line is bad */
    int again;                  /* 1: import a file that was imported before */
    int progress;               /* 1: a progress line on stderr */
};

struct import_result {
    long lines;                 /* non-blank lines read */
    long imported;
    long rejected;
    long skipped;               /* lines committed by an earlier, interrupted run */
    double seconds;
};

/* Imports path line by line: each good line becomes a case report, each bad
 * line is reported on stderr ("FILE:LINE: field: reason") and written to the
 * rejects file. Commits every opts->chunk rows, recording in the same
 * transaction how far it got, so an interrupted import resumes where it
 * stopped instead of importing lines twice. Returns 0 or -errno. */
int import_jsonl(struct store *s, struct validator *v, const struct import_opts *opts,
                 struct import_result *res);

#endif
