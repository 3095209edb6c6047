/* sync_socket.c - the sync client's TCP sockets (sync_int.h): their options
 * (congestion control, no Nagle delay, and on a slow link little unsent
 * and little in flight), and what a request put on the link, read from the
 * kernel (TCP_INFO): libcurl reports nothing sent of a request that failed
 * before its first buffer was out (a batch with its headers, on the 2G
 * link), while the hub may have had kilobytes of it. */
#include "sync_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/tcp.h>

#include "log.h"

/* Bytes the socket put on the link once (its retransmissions not
 * counted), TLS records and all; -1 when the kernel does not say (Linux
 * before 4.19). */
static long long sent_once(curl_socket_t fd)
{
    struct tcp_info ti;
    socklen_t n = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (fd == CURL_SOCKET_BAD || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &n) < 0 ||
        n < offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti.tcpi_bytes_retrans))
        return -1;
    return (long long)(ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans);
}

int sync_on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    static int warned;
    struct sync_client *c = arg;
    int one = 1;

    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKOPT_OK;
    if (c->closed_fd == fd)             /* its number is taken again */
        c->closed_fd = CURL_SOCKET_BAD;
    for (int i = 0; i < SYNC_SOCKS; i++)
        if (c->socks[i] == CURL_SOCKET_BAD) {
            c->socks[i] = fd;
            break;
        }
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* a slow link, or one not measured yet: little unsent in the kernel, so
     * what libcurl counts as sent is near what went on the link (a cut
     * batch's bytes lost) */
    if (c->link_rate < AHEAD_MIN_RATE) {
        int lowat = SYNC_NOTSENT_LOWAT;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    /* and little in flight: the send buffer (unsent and unacknowledged)
     * near a second of the link, twice its bandwidth-delay product for a
     * round trip up to half a second; what a cut leaves on the wire. Left
     * to the kernel's autotuning (up to 4 MiB) a loss-based congestion
     * control fills the link's queue, and a cut loses all of it */
    if (c->link_rate > 0 && c->link_rate < AHEAD_MIN_RATE) {
        double b = c->link_rate * SYNC_SNDBUF_S;
        int buf = b < SYNC_SNDBUF_MIN ? SYNC_SNDBUF_MIN : (int)b;
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    }
    if (c->tcp_cc[0] &&
        setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, c->tcp_cc, (socklen_t)strlen(c->tcp_cc)) < 0 &&
        !warned++)
        log_info("sync: TCP congestion control '%s' is not available here (%s); using the "
                 "system's", c->tcp_cc, strerror(errno));
    return CURL_SOCKOPT_OK;
}

int sync_on_close(void *arg, curl_socket_t fd)
{
    struct sync_client *c = arg;

    for (int i = 0; i < SYNC_SOCKS; i++)
        if (c->socks[i] == fd)
            c->socks[i] = CURL_SOCKET_BAD;
    c->closed_fd = fd;
    c->closed_sent = sent_once(fd);
    return close(fd);
}

/* The local port of socket fd, or -1. */
static int local_port_of(curl_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t n = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &n) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int sync_on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
    struct sync_req *q = arg;
    struct sync_client *c = q->client;

    (void) ip;
    (void) local_ip;
    (void) port;
    /* libcurl names the connection by its ports (its socket is known to
     * CURLINFO_ACTIVESOCKET only once a transfer on it has ended) */
    q->sock = CURL_SOCKET_BAD;
    for (int i = 0; i < SYNC_SOCKS && q->sock == CURL_SOCKET_BAD; i++)
        if (c->socks[i] != CURL_SOCKET_BAD && local_port_of(c->socks[i]) == local_port)
            q->sock = c->socks[i];
    q->sent0 = sent_once(q->sock);
    return CURL_PREREQFUNC_OK;
}

long long sync_req_wire(struct sync_client *c, CURL *easy)
{
    struct sync_req *q = c->q;
    curl_socket_t fd = CURL_SOCKET_BAD;
    long long now = -1;

    if (q->sock == CURL_SOCKET_BAD || q->sent0 < 0)
        return -1;
    if (c->closed_fd == q->sock)        /* a failed transfer's socket is closed by now */
        now = c->closed_sent;
    else if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd == q->sock)
        now = sent_once(fd);
    return now >= q->sent0 ? now - q->sent0 : -1;
}
