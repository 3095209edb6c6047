/* sdnotify.c - sd_notify(3)'s protocol: a datagram on the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t n;
    socklen_t len;
    int fd, r = 1;

    if (!path || !path[0])
        return 0;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        r = -errno;
    close(fd);
    return r;
}

uint64_t sd_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    unsigned long long v;
    char *end;

    if (!usec || !usec[0])
        return 0;
    if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    v = strtoull(usec, &end, 10);
    return *end ? 0 : v / 1000;
}
