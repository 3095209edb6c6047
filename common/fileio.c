/* fileio.c - whole-file writes that survive a power cut (see fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int file_sync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, r = 0;

    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path),
                              path) >= sizeof(dir))
        return -ENAMETOOLONG;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        r = -errno;
    close(fd);
    return r;
}

static int write_all(int fd, const char *d, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, d, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        d += k;
        len -= (size_t)k;
    }
    return 0;
}

int file_write_atomic(const char *path, const char *tmp_path, const void *data, size_t len,
                      mode_t mode, unsigned flags)
{
    char tmp[PATH_MAX];
    int fd, r;

    if (!tmp_path) {
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
            return -ENAMETOOLONG;
        tmp_path = tmp;
    }
    (void) unlink(tmp_path);                  /* a leftover of a crash */
    fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    r = write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && (flags & FILE_NEW) && link(tmp_path, path) < 0)
        r = -errno;
    else if (r == 0 && !(flags & FILE_NEW) && rename(tmp_path, path) < 0)
        r = -errno;
    if (r < 0 || (flags & FILE_NEW))
        (void) unlink(tmp_path);
    return r < 0 ? r : file_sync_dir_of(path);
}
