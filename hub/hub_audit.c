/* hub_audit.c - the audit limiter (see hub_audit.h). */
#include "hub_audit.h"

#include <stdio.h>
#include <string.h>

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
