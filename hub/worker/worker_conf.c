/* worker_conf.c - sikhnas-worker's settings: an INI file read with libinih,
 * like the node's (node/nodeconf.c). */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

static int set_str(char **dst, const char *v)
{
    char *s = strdup(v);

    if (!s)
        return -ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

static int set_int(int *dst, const char *v, int lo, int hi)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -EINVAL;
    *dst = (int)n;
    return 0;
}

static int read_password_file(struct worker_config *c, const char *path)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    size_t len;

    if (!f)
        return -errno;
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    len = strlen(buf);
    if (!len)
        return -EINVAL;
    free(c->smtp_password);
    c->smtp_password = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return c->smtp_password ? 0 : -ENOMEM;
}

static int config_set(struct worker_config *c, const char *s, const char *k, const char *v)
{
    if (!strcmp(s, "database") && !strcmp(k, "conninfo"))
        return set_str(&c->conninfo, v);
    if (!strcmp(s, "smtp")) {
        if (!strcmp(k, "url"))
            return strncmp(v, "smtp://", 7) && strncmp(v, "smtps://", 8) ? -EINVAL
                   : set_str(&c->smtp_url, v);
        if (!strcmp(k, "starttls"))
            return strcmp(v, "required") && strcmp(v, "try") && strcmp(v, "no") ? -EINVAL
                   : set_str(&c->smtp_starttls, v);
        if (!strcmp(k, "username"))
            return set_str(&c->smtp_user, v);
        if (!strcmp(k, "password"))
            return set_str(&c->smtp_password, v);
        if (!strcmp(k, "password_file"))
            return read_password_file(c, v);
        if (!strcmp(k, "ca_file"))
            return set_str(&c->smtp_ca_file, v);
        if (!strcmp(k, "from"))
            return strchr(v, '@') && !strpbrk(v, "\r\n<> ") ? set_str(&c->mail_from, v) : -EINVAL;
        if (!strcmp(k, "from_name"))
            return strpbrk(v, "\r\n\"") ? -EINVAL : set_str(&c->mail_from_name, v);
        if (!strcmp(k, "message_id_domain"))
            return strpbrk(v, "\r\n<>@ ") ? -EINVAL : set_str(&c->msgid_domain, v);
        if (!strcmp(k, "timeout"))
            return set_int(&c->smtp_timeout, v, 1, 600);
    }
    if (!strcmp(s, "worker")) {
        if (!strcmp(k, "base_url"))
            return set_str(&c->base_url, v);
        if (!strcmp(k, "threads"))
            return set_int(&c->threads, v, 1, 64);
        if (!strcmp(k, "batch"))
            return set_int(&c->batch, v, 1, 1000);
        if (!strcmp(k, "lease"))
            return set_int(&c->lease, v, 5, 86400);
        if (!strcmp(k, "backoff_base"))
            return set_int(&c->backoff_base, v, 1, 3600);
        if (!strcmp(k, "backoff_max"))
            return set_int(&c->backoff_max, v, 1, 86400);
        if (!strcmp(k, "fleet_interval"))
            return set_int(&c->fleet_interval, v, 10, 86400);
    }
    return -ENOENT;
}

struct ini_ctx {
    struct worker_config *c;
    const char *path;
    int error;
};

static int on_ini(void *arg, const char *section, const char *key, const char *value)
{
    struct ini_ctx *x = arg;
    int r = config_set(x->c, section, key, value);

    if (r == -ENOENT)
        log_error("%s: unknown setting '%s.%s'", x->path, section, key);
    else if (r < 0)
        log_error("%s: bad value for %s.%s", x->path, section, key);
    if (r < 0 && !x->error)
        x->error = r;
    return r == 0;
}

int worker_config_load(struct worker_config *c, const char *path)
{
    struct ini_ctx x = { .c = c, .path = path };
    int line;

    memset(c, 0, sizeof(*c));
    c->smtp_timeout = 30;
    c->threads = 2;
    c->batch = 16;
    c->lease = 120;
    c->backoff_base = 5;
    c->backoff_max = 900;
    c->fleet_interval = 300;
    c->time_scale = 1.0;
    if (set_str(&c->smtp_url, "smtp://127.0.0.1:25") < 0 ||
        set_str(&c->smtp_starttls, "try") < 0 ||
        set_str(&c->mail_from, "sikhnas@localhost") < 0 ||
        set_str(&c->mail_from_name, "SIKHNAS") < 0 ||
        set_str(&c->msgid_domain, "sikhnas.invalid") < 0 ||
        set_str(&c->base_url, "https://sikhnas.invalid") < 0)
        return -ENOMEM;
    if (!path)
        return 0;
    line = ini_parse(path, on_ini, &x);
    if (line == -1)
        return log_errno(LOG_ERR, -ENOENT, "cannot read config '%s'", path);
    if (line > 0 && !x.error) {
        log_error("%s:%d: malformed line", path, line);
        return -EINVAL;
    }
    return x.error;
}

void worker_config_free(struct worker_config *c)
{
    free(c->conninfo);
    free(c->smtp_url);
    free(c->smtp_starttls);
    free(c->smtp_user);
    if (c->smtp_password)
        explicit_bzero(c->smtp_password, strlen(c->smtp_password));
    free(c->smtp_password);
    free(c->smtp_ca_file);
    free(c->mail_from);
    free(c->mail_from_name);
    free(c->msgid_domain);
    free(c->base_url);
    memset(c, 0, sizeof(*c));
}

long worker_ms(const struct worker_config *c, double seconds)
{
    double ms = seconds * 1000.0 * c->time_scale;

    return ms < 1 ? 1 : ms > 1e9 ? 1000000000L : (long)ms;
}
