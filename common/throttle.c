/* throttle.c - failed-login counters in a fixed table (see throttle.h).
 * Two entries count each failure: the pair "p<TAB>address<TAB>phone" and
 * the address "a<TAB>address". The address comes first in a key, so a long
 * phone string is cut, never the address. A linear scan of the table is a
 * few microseconds, next to the ~0.3 s of the password check it guards. */
#include "throttle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char key[THROTTLE_KEY_MAX];         /* "" when free */
    int failures;                       /* in the window that began at since */
    int64_t since;
    int64_t until;                      /* paused until then; 0 when not */
    int64_t last;                       /* the last failure, to pick whom to evict */
};

struct throttle {
    struct slot slot[THROTTLE_SLOTS];
};

int throttle_new(struct throttle **ret)
{
    struct throttle *t = calloc(1, sizeof(*t));

    if (!t)
        return -ENOMEM;
    *ret = t;
    return 0;
}

void throttle_free(struct throttle *t)
{
    free(t);
}

static void pair_key(char key[THROTTLE_KEY_MAX], const char *phone, const char *addr)
{
    snprintf(key, THROTTLE_KEY_MAX, "p\t%s\t%s", addr, phone);
}

static void addr_key(char key[THROTTLE_KEY_MAX], const char *addr)
{
    snprintf(key, THROTTLE_KEY_MAX, "a\t%s", addr);
}

static struct slot *find(struct throttle *t, const char *key)
{
    for (size_t i = 0; i < THROTTLE_SLOTS; i++)
        if (t->slot[i].key[0] && strcmp(t->slot[i].key, key) == 0)
            return &t->slot[i];
    return NULL;
}

/* Over: its window has passed and it is not paused (any more). */
static int over(const struct slot *s, int64_t now)
{
    return s->until <= now && (s->until > 0 || now - s->since >= THROTTLE_WINDOW_S);
}

/* A slot for key: its own, a free one, or the one that matters least: one
 * that is over, else the least recently failed one that is not paused,
 * else the least recently failed one. */
static struct slot *take(struct throttle *t, const char *key, int64_t now)
{
    struct slot *s = find(t, key), *idle = NULL, *oldest = NULL;

    if (s)
        return s;
    for (size_t i = 0; i < THROTTLE_SLOTS; i++) {
        struct slot *c = &t->slot[i];
        if (!c->key[0] || over(c, now)) {
            s = c;
            break;
        }
        if (c->until <= now && (!idle || c->last < idle->last))
            idle = c;
        if (!oldest || c->last < oldest->last)
            oldest = c;
    }
    if (!s)
        s = idle ? idle : oldest;
    memset(s, 0, sizeof(*s));
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->since = now;
    return s;
}

static int64_t wait_of(struct throttle *t, const char *key, int64_t now)
{
    const struct slot *s = find(t, key);

    return s && s->until > now ? s->until - now : 0;
}

int64_t throttle_wait(struct throttle *t, const char *phone, const char *addr, int64_t now)
{
    char key[THROTTLE_KEY_MAX];
    int64_t a, p;

    addr_key(key, addr);
    a = wait_of(t, key, now);
    pair_key(key, phone, addr);
    p = wait_of(t, key, now);
    return a > p ? a : p;
}

/* One more failure on key; 1 when it reached max and paused it. */
static int count(struct throttle *t, const char *key, int max, int64_t now)
{
    struct slot *s = take(t, key, now);

    if (over(s, now)) {
        s->failures = 0;
        s->since = now;
        s->until = 0;
    }
    s->last = now;
    if (++s->failures < max || s->until > now)
        return 0;
    s->until = now + THROTTLE_PAUSE_S;
    return 1;
}

int throttle_failed(struct throttle *t, const char *phone, const char *addr, int64_t now)
{
    char key[THROTTLE_KEY_MAX];
    int paused;

    pair_key(key, phone, addr);
    paused = count(t, key, THROTTLE_PAIR_MAX, now);
    addr_key(key, addr);
    paused |= count(t, key, THROTTLE_ADDR_MAX, now);
    return paused;
}

void throttle_ok(struct throttle *t, const char *phone, const char *addr)
{
    char key[THROTTLE_KEY_MAX];
    struct slot *s;

    pair_key(key, phone, addr);
    s = find(t, key);
    if (s)
        memset(s, 0, sizeof(*s));
}
