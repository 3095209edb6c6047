/* worker_loop.h - the worker threads of sikhnas-worker run. */
#ifndef SIKHNAS_WORKER_LOOP_H
#define SIKHNAS_WORKER_LOOP_H

#include <signal.h>

#include "worker.h"

struct worker {
    const struct worker_config *cfg;
    int         index;          /* 0 also reaps leases and schedules */
    char        id[160];        /* host:pid:thread, the jobs' locked_by */
    unsigned    seed;           /* backoff jitter */
    volatile sig_atomic_t *stop;
    PGconn     *pg;
    void       *curl;
    long long   done, failed;
    struct strbuf pending;      /* "{id,...": run, to be marked done by the next claim */
};

/* The thread body: runs jobs until *w->stop. Returns NULL. */
void *worker_thread(void *arg);

#endif
