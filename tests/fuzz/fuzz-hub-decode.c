/* hub-decode-fuzz.c - fuzz target for the hub's push batch decoder
 * (sync/hub_batch.c). Built with -Dfuzz=true and clang it is a libFuzzer
 * target; otherwise main() replays every file named on the command line or
 * found in the directories named, so `meson test` runs the corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_batch.h"

#define NODE "0190f5c2-6c1e-7a3b-9b1e-1c2d3e4f5a6b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char hex[65], digest[80];
    struct batch b;
    int status;

    batch_global_init();
    batch_sha256_hex(data, size, hex);
    snprintf(digest, sizeof(digest), "sha256=%s", hex);
    /* any result is fine; a crash, a leak or undefined behaviour is not */
    (void) batch_decode(&b, (const char *)data, size, ENC_IDENTITY, digest, NODE, &status);
    batch_clear(&b);
    if (size > 2 && data[0] == 0x1f) {
        (void) batch_decode(&b, (const char *)data, size, ENC_GZIP, digest, NODE, &status);
        batch_clear(&b);
    }
    return 0;
}

#ifndef SIKHNAS_LIBFUZZER
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (16L << 20) ||
        fseek(f, 0, SEEK_SET) < 0) {
        fclose(f);
        return -1;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput((const uint8_t *)buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (!d) {
            if (replay_file(argv[i]) < 0) {
                fprintf(stderr, "cannot read %s\n", argv[i]);
                return 1;
            }
            files++;
            continue;
        }
        while ((e = readdir(d))) {
            char path[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (replay_file(path) == 0)
                files++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
#endif
