/* hub_audit.c - the audit limiter (see hub_audit.h). */
#include "hub_audit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audit_key {
    char     key[AUDIT_KEY_MAX];      /* "" when free */
    uint64_t last_row;                /* when its last row was written */
    uint64_t seen;                    /* when it was last seen, for forgetting */
    uint64_t left_out;                /* events since its last row */
};

struct audit_limiter {
    struct audit_key keys[AUDIT_KEYS];
    uint64_t window_start;            /* the minute AUDIT_MAX_PER_MIN counts in */
    unsigned rows;                    /* rows written in it */
    uint64_t others;                  /* left-out events not reported with their key */
};

int audit_limiter_new(struct audit_limiter **ret)
{
    struct audit_limiter *l = calloc(1, sizeof(*l));

    if (!l)
        return -ENOMEM;
    *ret = l;
    return 0;
}

void audit_limiter_free(struct audit_limiter *l)
{
    free(l);
}

/* The entry of key, or NULL. */
static struct audit_key *key_find(struct audit_limiter *l, const char *key)
{
    for (int i = 0; i < AUDIT_KEYS; i++)
        if (l->keys[i].key[0] && strncmp(l->keys[i].key, key, AUDIT_KEY_MAX - 1) == 0)
            return &l->keys[i];
    return NULL;
}

/* A free entry for key, or the least recently seen one (its count goes to
 * l->others). */
static struct audit_key *key_take(struct audit_limiter *l, const char *key)
{
    struct audit_key *e = &l->keys[0];

    for (int i = 0; i < AUDIT_KEYS && e->key[0]; i++)
        if (!l->keys[i].key[0] || l->keys[i].seen < e->seen)
            e = &l->keys[i];
    l->others += e->left_out;
    memset(e, 0, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    return e;
}

int audit_limit(struct audit_limiter *l, const char *key, uint64_t now_ms, uint64_t *same,
                uint64_t *others)
{
    struct audit_key *e = key_find(l, key);

    if (e)
        e->seen = now_ms;
    if (e && now_ms - e->last_row < AUDIT_WINDOW_MS) {
        e->left_out++;
        return 0;
    }
    if (now_ms - l->window_start >= AUDIT_WINDOW_MS) {
        l->window_start = now_ms;
        l->rows = 0;
    }
    if (l->rows >= AUDIT_MAX_PER_MIN) {
        if (e)
            e->left_out++;
        else
            l->others++;
        return 0;
    }
    if (!e) {
        e = key_take(l, key);
        e->seen = now_ms;
    }
    *same = e->left_out;
    *others = l->others;
    e->left_out = 0;
    e->last_row = now_ms;
    l->others = 0;
    l->rows++;
    return 1;
}
