/* fileio.h - writing a whole file so that a crash or a power cut leaves
 * either the old contents or the new, never a part (keys, certificates,
 * SMS spool files). */
#ifndef SIKHNAS_FILEIO_H
#define SIKHNAS_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#define FILE_NEW 1u   /* never replace: -EEXIST when path exists */

/* Writes data[0..len) to path with mode: into tmp_path (NULL: path".tmp"),
 * which is written in full, fsynced and closed (close's result checked),
 * then renamed onto path (FILE_NEW: linked, so an existing path is kept),
 * and the directory of path is fsynced. Returns 0 or -errno; on failure
 * path is as it was and no temporary file is left. */
int file_write_atomic(const char *path, const char *tmp_path, const void *data, size_t len,
                      mode_t mode, unsigned flags);

/* fsync(2) of the directory holding path ("." for a bare name). 0 or -errno. */
int file_sync_dir_of(const char *path);

#endif
