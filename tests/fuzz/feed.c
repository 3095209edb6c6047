/* feed.c - see feed.h. */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void feed_open(struct feed *f, uv_loop_t *loop, void (*tick)(void), int *server_fd)
{
    int sv[2];

    memset(f, 0, sizeof(*f));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0)
        abort();
    f->loop = loop;
    f->fd = sv[1];
    f->tick = tick;
    *server_fd = sv[0];
}

static void collect(struct feed *f)
{
    char buf[16384];

    while (!f->eof) {
        ssize_t n = recv(f->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            f->eof = 1;
            break;
        }
        if (n < 0)
            break;
        if (f->out_len + (size_t)n + 1 > f->out_cap) {
            size_t cap = f->out_cap ? f->out_cap * 2 : 65536;
            while (cap < f->out_len + (size_t)n + 1)
                cap *= 2;
            f->out = realloc(f->out, cap);
            if (!f->out)
                abort();
            f->out_cap = cap;
        }
        memcpy(f->out + f->out_len, buf, (size_t)n);
        f->out_len += (size_t)n;
        f->out[f->out_len] = 0;
    }
}

void feed_settle(struct feed *f)
{
    for (int i = 0; i < 3; i++) {
        uv_run(f->loop, UV_RUN_NOWAIT);
        if (f->tick)
            f->tick();
        collect(f);
    }
}

void feed_send(struct feed *f, const void *data, size_t len, size_t chunk)
{
    const char *d = data;
    int stuck = 0;

    if (chunk && len / chunk > 256)     /* at most 256 writes: the loop costs */
        chunk = len / 256;
    while (len > 0 && stuck < 8) {
        size_t n = chunk && chunk < len ? chunk : len;
        ssize_t w = send(f->fd, d, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;                      /* the server closed the connection */
        if (w > 0) {
            d += w;
            len -= (size_t)w;
            stuck = 0;
        } else {
            stuck++;                    /* the server stopped reading: back-pressure */
        }
        feed_settle(f);
    }
}

void feed_close(struct feed *f, int (*done)(void))
{
    int rounds = 0;

    feed_settle(f);
    shutdown(f->fd, SHUT_WR);
    while (!done()) {
        if (++rounds > 1000) {
            fprintf(stderr, "feed: the connection is still open after the client left\n");
            abort();
        }
        feed_settle(f);
    }
    collect(f);
    close(f->fd);
    f->fd = -1;
}

size_t feed_count(const struct feed *f, const char *needle)
{
    size_t n = 0, l = strlen(needle);
    const char *p = f->out;

    if (!p)
        return 0;
    while ((p = memmem(p, f->out_len - (size_t)(p - f->out), needle, l))) {
        n++;
        p += l;
    }
    return n;
}

void feed_free(struct feed *f)
{
    free(f->out);
    f->out = NULL;
}
