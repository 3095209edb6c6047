/* throttle.h - failed web logins, counted in memory per (phone, client
 * address) and per client address, so that whoever guesses passwords is
 * slowed down at their own address and nobody else is locked out. The
 * phone is whatever string was tried, registered or not, so unknown phones
 * are throttled exactly like known ones and the answers do not tell them
 * apart. The table has a fixed number of slots: it never grows, and when
 * it is full the stalest entry gives way (docs/security.md). */
#ifndef SIKHNAS_THROTTLE_H
#define SIKHNAS_THROTTLE_H

#include <stdint.h>

#define THROTTLE_SLOTS    1024    /* entries; about 100 KiB */
#define THROTTLE_PAIR_MAX 5       /* failures of one phone from one address ... */
#define THROTTLE_ADDR_MAX 20      /* ... or of any phones from one address ... */
#define THROTTLE_WINDOW_S 900     /* ... within this many seconds pause ... */
#define THROTTLE_PAUSE_S  900     /* ... logins there for this long */
#define THROTTLE_KEY_MAX  96      /* bytes of "phone<TAB>address"; longer keys are cut */

struct throttle;

/* A new, empty table; *ret only on success. 0 or -ENOMEM. */
int  throttle_new(struct throttle **ret);
void throttle_free(struct throttle *t);                 /* NULL is a no-op */

/* The seconds a login of phone from addr must wait (0: try it now). now is
 * a monotonic clock in seconds. */
int64_t throttle_wait(struct throttle *t, const char *phone, const char *addr, int64_t now);
/* Counts a failed login of phone from addr. Returns 1 when it paused the
 * pair or the address (for the log), else 0. */
int  throttle_failed(struct throttle *t, const char *phone, const char *addr, int64_t now);
/* A login of phone from addr succeeded: the pair's failures are forgotten;
 * the address's stay (a guesser must not reset them with an own account). */
void throttle_ok(struct throttle *t, const char *phone, const char *addr);

#endif
