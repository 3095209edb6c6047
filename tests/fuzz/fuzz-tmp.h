/* fuzz-tmp.h - a scratch directory for a fuzz target's store, removed with
 * everything in it when the process exits (libFuzzer and replay.c both
 * end with exit()); a crash leaves it for the post-mortem. */
#ifndef SIKHNAS_FUZZ_TMP_H
#define SIKHNAS_FUZZ_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_tmp_dir[64];

static int fuzz_tmp_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void) st, (void) flag, (void) f;
    return remove(path);
}

static void fuzz_tmp_cleanup(void)
{
    if (fuzz_tmp_dir[0])
        nftw(fuzz_tmp_dir, fuzz_tmp_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* Makes /tmp/sikhnas-fuzz-NAME-XXXXXX once; aborts on failure. */
static const char *fuzz_tmp(const char *name)
{
    if (!fuzz_tmp_dir[0]) {
        snprintf(fuzz_tmp_dir, sizeof(fuzz_tmp_dir), "/tmp/sikhnas-fuzz-%s-XXXXXX", name);
        if (!mkdtemp(fuzz_tmp_dir))
            abort();
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_tmp_dir;
}

#endif
