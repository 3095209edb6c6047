/* feed.h - drives one connection of a server running in the fuzz process:
 * the server end of a socketpair is handed to the server's test seam
 * (http_server_test_adopt), the target writes the input to the other end in
 * chunks and reads back the answers. Everything between is the production
 * code: reads, parser, caps, dispatch and writes on the real libuv loop. */
#ifndef SIKHNAS_FUZZ_FEED_H
#define SIKHNAS_FUZZ_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct feed {
    uv_loop_t *loop;
    int        fd;              /* the client's end */
    char      *out;             /* what the server wrote */
    size_t     out_len, out_cap;
    int        eof;             /* the server closed its end */
    void     (*tick)(void);     /* answers requests the target held back; may be NULL */
};

/* Makes the socketpair; *server_fd goes to the server. Aborts on failure. */
void feed_open(struct feed *f, uv_loop_t *loop, void (*tick)(void), int *server_fd);
/* Writes data in chunks of chunk bytes (0: at once; larger when more than
 * 256 writes), letting the loop run after each. Stops early when the
 * server no longer reads. */
void feed_send(struct feed *f, const void *data, size_t len, size_t chunk);
/* Runs the loop and the tick a few rounds, collecting answers. */
void feed_settle(struct feed *f);
/* Shuts down the client's writing side, collects the rest, closes the fd
 * and runs the loop until done() is true (aborts after too many rounds:
 * a connection that does not go away is a bug). */
void feed_close(struct feed *f, int (*done)(void));
/* How often needle occurs in what the server wrote. */
size_t feed_count(const struct feed *f, const char *needle);
void feed_free(struct feed *f);

#endif
