/* testtmp.h - a scratch directory for a C test, fuzz target or benchmark,
 * as tests/lib/nodetest.py's scratch() is for the Python tests: made once
 * per process under $TMPDIR (else, or when that is long, /tmp) as
 * sikhnas-NAME-XXXXXX, and removed with everything in it when the process
 * exits, whether its checks passed or failed, and on SIGTERM or SIGINT
 * (meson's timeout, ^C) when nobody else handles those (libFuzzer does).
 * SIKHNAS_KEEP_TMP=1 keeps it and says where. A crash (a sanitizer's
 * report, SIGSEGV) leaves it behind. */
#ifndef SIKHNAS_TESTTMP_H
#define SIKHNAS_TESTTMP_H

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char test_tmp_dir[96];    /* small enough that "DIR/node.db" fits 128 bytes */

static int test_tmp_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void) st, (void) flag, (void) f;
    return remove(path);
}

static void test_tmp_cleanup(void)
{
    const char *keep = getenv("SIKHNAS_KEEP_TMP");

    if (!test_tmp_dir[0])
        return;
    if (keep && strcmp(keep, "1") == 0)
        fprintf(stderr, "# kept %s (SIKHNAS_KEEP_TMP=1)\n", test_tmp_dir);
    else
        nftw(test_tmp_dir, test_tmp_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* The process is being stopped: end through exit() so that the directory
 * goes (a test process, not a daemon: exit() here is good enough). */
static void test_tmp_signal(int sig)
{
    exit(128 + sig);
}

static void test_tmp_catch(int sig)
{
    struct sigaction sa, old;

    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = test_tmp_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
    }
}

/* The process's scratch directory, made on the first call (name: what the
 * directory is for); aborts when none can be made. */
static const char *test_tmp(const char *name)
{
    const char *base = getenv("TMPDIR");

    if (!test_tmp_dir[0]) {
        int n = snprintf(test_tmp_dir, sizeof(test_tmp_dir), "%s/sikhnas-%s-XXXXXX",
                         base && base[0] ? base : "/tmp", name);
        if (n < 0 || (size_t)n >= sizeof(test_tmp_dir))    /* a long $TMPDIR */
            snprintf(test_tmp_dir, sizeof(test_tmp_dir), "/tmp/sikhnas-%.40s-XXXXXX", name);
        if (!mkdtemp(test_tmp_dir)) {
            perror(test_tmp_dir);
            abort();
        }
        atexit(test_tmp_cleanup);
        test_tmp_catch(SIGTERM);
        test_tmp_catch(SIGINT);
    }
    return test_tmp_dir;
}

#endif
