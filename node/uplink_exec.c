/* uplink_exec.c - finds sikhnas-node-uplink (uplink_exec.h). The daemon
 * runs it for each sync round (uplink.c); `sync` and `enroll` become it. */
#include "uplink_exec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define UPLINK_NAME "sikhnas-node-uplink"

void uplink_environ(void)
{
    /* Debian's libcurl4 maps GnuTLS (through librtmp and libldap), whose
     * constructor initialises itself and p11-kit at load: some 0.6 MB of
     * the uplink program's memory (tests/bench/footprint.py) for libraries
     * it never calls; libcurl's TLS is OpenSSL */
    setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 0);
}

int uplink_program(char *buf, size_t cap)
{
    const char *env = getenv("SIKHNAS_UPLINK");
    char self[PATH_MAX];
    ssize_t n;
    int k;

    if (env && env[0]) {
        k = snprintf(buf, cap, "%s", env);
        return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
    }
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            k = snprintf(buf, cap, "%s/" UPLINK_NAME, self);
            if (k > 0 && (size_t)k < cap && access(buf, X_OK) == 0)
                return 0;
        }
    }
    k = snprintf(buf, cap, "%s", SIKHNAS_UPLINK_PATH);
    return k < 0 || (size_t)k >= cap ? -ENAMETOOLONG : 0;
}

int uplink_exec(char **argv)
{
    char path[PATH_MAX];
    int r = uplink_program(path, sizeof(path));

    if (r < 0)
        return log_errno(LOG_ERR, r, "cannot name the uplink program");
    uplink_environ();
    fflush(NULL);
    argv[0] = path;
    execv(path, argv);
    r = -errno;
    return log_errno(LOG_ERR, r, "cannot run '%s' (the node's sync program; install it, or "
                     "set SIKHNAS_UPLINK)", path);
}
