/* uplink_exec.h - where sikhnas-node finds sikhnas-node-uplink, its program
 * for everything that talks to the hub (uplink_main.c), and how the `sync`
 * and `enroll` commands hand over to it. */
#ifndef SIKHNAS_UPLINK_EXEC_H
#define SIKHNAS_UPLINK_EXEC_H

#include <stddef.h>

/* The uplink program's path in buf: $SIKHNAS_UPLINK when set; else
 * sikhnas-node-uplink next to this program (the build tree) when it is
 * there; else the installed one (SIKHNAS_UPLINK_PATH, config.h). Returns 0
 * or -ENAMETOOLONG. */
int uplink_program(char *buf, size_t cap);

/* Sets what the uplink program's environment needs in this process's, for
 * the program it runs: GNUTLS_NO_IMPLICIT_INIT=1 (unless set). Call it
 * before any thread starts; uplink_exec() does. */
void uplink_environ(void);

/* Replaces this process by the uplink program with argv[1..] (argv[0] is
 * replaced by its path; argv ends with NULL). Returns only on failure:
 * -errno, logged. */
int uplink_exec(char **argv);

#endif
