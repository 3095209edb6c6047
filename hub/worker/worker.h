/* worker.h - sikhnas-worker: the central job queue's workers (see
 * schema/central/020_jobs.sql and docs/central-ops.md). Each worker thread
 * has its own blocking libpq connection and its own libcurl handle. */
#ifndef SIKHNAS_WORKER_H
#define SIKHNAS_WORKER_H

#include <stddef.h>
#include <time.h>
#include <libpq-fe.h>

#include "strbuf.h"

/* Settings: the INI file (--config), then the command line. */
struct worker_config {
    char  *conninfo;        /* [database] conninfo */
    char  *smtp_url;        /* [smtp] url: smtp://host:587 or smtps://host:465 */
    char  *smtp_starttls;   /* [smtp] starttls: required, try or no */
    char  *smtp_user;       /* [smtp] username */
    char  *smtp_password;   /* [smtp] password (or password_file) */
    char  *smtp_ca_file;    /* [smtp] ca_file: CA bundle for the server */
    char  *mail_from;       /* [smtp] from: alerts@example.org */
    char  *mail_from_name;  /* [smtp] from_name */
    char  *msgid_domain;    /* [smtp] message_id_domain */
    char  *base_url;        /* [worker] base_url: links to the web app */
    int    smtp_timeout;    /* [smtp] timeout, seconds */
    int    threads;         /* [worker] threads */
    int    batch;           /* [worker] batch: jobs taken at once */
    int    lease;           /* [worker] lease, seconds: the visibility timeout */
    int    backoff_base;    /* [worker] backoff_base, seconds */
    int    backoff_max;     /* [worker] backoff_max, seconds */
    int    fleet_interval;  /* [worker] fleet_interval, seconds */
    double time_scale;      /* --time-scale: every delay above is multiplied by it */
    time_t now_offset;      /* --now: the scheduler's clock minus the real one */
};

/* Defaults, then path (NULL: none). Returns 0 or -errno (logged). */
int  worker_config_load(struct worker_config *c, const char *path);
void worker_config_free(struct worker_config *c);
/* Seconds scaled by time_scale, in milliseconds (at least 1). */
long worker_ms(const struct worker_config *c, double seconds);

/* One job as taken from the queue. */
struct job {
    long long   id;
    const char *kind;
    const char *key;        /* idempotency key */
    const char *payload;    /* JSON object */
    int         attempts;   /* including this one */
};

/* What a job handler has: the thread's connection, its SMTP sender and
 * the settings. */
struct job_ctx {
    const struct worker_config *cfg;
    PGconn *pg;
    void   *curl;           /* CURL *, made once per thread */
    char    err[512];       /* why the job failed, for last_error */
    int     permanent;      /* set with an error: do not retry */
};

/* Runs job j. Returns 0 when it is done, or -errno with ctx->err set
 * (ctx->permanent: retrying cannot help, the job goes dead). */
int job_run(struct job_ctx *ctx, const struct job *j);
/* 1 for the kinds that send something outside the database: they are
 * marked done as soon as they ran, the others with the next claim. */
int job_sends(const char *kind);

/* The jobs (jobs_alert.c, jobs_summary.c, jobs_fleet.c). */
int job_alert(struct job_ctx *ctx, const struct job *j);
int job_summary(struct job_ctx *ctx, const struct job *j);
int job_fleet_alert(struct job_ctx *ctx, const struct job *j);

/* Sets ctx->err from fmt and returns err. */
int job_fail(struct job_ctx *ctx, int err, int permanent, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Runs one statement with n text parameters on pg; *ret, when given, gets
 * its result (PQclear by the caller). Returns 0, or -EIO with "what: the
 * error" (on one line) in err, or logged when err is NULL. */
int worker_exec(PGconn *pg, const char *what, const char *sql, int n, const char *const *p,
                PGresult **ret, char *err, size_t errlen);
/* libpq's last error of pg on one line, in buf. */
const char *worker_pg_error(PGconn *pg, char *buf, size_t n);

/* Runs one statement with n text parameters on ctx->pg; *ret gets tuples
 * (PQclear by the caller). Returns 0 or -EIO with ctx->err set. */
int job_query(struct job_ctx *ctx, const char *sql, int n, const char *const *params,
              PGresult **ret);

/* The addresses of the active recipients of roles ("vet,analyst") for
 * province, and the national ones when national is set; *ret has *nret
 * strings. Returns 0 or -errno (-ENOENT, permanent, when there is none). */
int job_recipients(struct job_ctx *ctx, const char *roles, const char *province, int national,
                   char ***ret, int *nret);
void job_recipients_free(char **r, int n);

/* The email of a job (mail.c). */
struct mail_part {
    const char *type;       /* "text/plain; charset=UTF-8", ... */
    const char *data;
    size_t      len;
    const char *filename;   /* attachment when set */
};
struct mail {
    const char *subject;    /* UTF-8 */
    const char *key;        /* the job's idempotency key: the Message-ID */
    const char *in_reply_to;/* the key of the message this one follows, or NULL */
    char      **to;
    int         nto;
    const char *text;       /* plain text body */
    const char *html;       /* HTML alternative, or NULL */
    const struct mail_part *attach;  /* an attachment, or NULL */
};
/* Sends m through the configured SMTP server. Returns 0, or -EIO with
 * ctx->err set (transient), or -EINVAL (permanent: refused). */
int mail_send(struct job_ctx *ctx, const struct mail *m);
/* "<hex@domain>" of key into out (at least 128 bytes). */
void mail_message_id(const struct worker_config *c, const char *key, char *out, size_t n);
/* s with & < > " escaped, appended to b. */
int mail_html(struct strbuf *b, const char *s);

#endif
