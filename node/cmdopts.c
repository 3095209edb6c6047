/* cmdopts.c - one parser for every command's table of options (cmdopts.h),
 * on getopt_long(). */
#include "cmdopts.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#define VAL_BASE 256            /* getopt_long()'s value of opts[i]: above any char */

/* Stores optarg, or what opt's type says, in opt's variable. */
static void store_value(const struct cmdopt *opt)
{
    switch (opt->type) {
    case CMDOPT_SET:
    case CMDOPT_CLEAR:
        *(int *)opt->at = opt->type == CMDOPT_SET;
        break;
    case CMDOPT_TEXT:
        *(const char **)opt->at = optarg;
        break;
    case CMDOPT_INT:
        *(int *)opt->at = (int)strtol(optarg, NULL, 10);
        break;
    }
}

int cmdopts_parse(int argc, char **argv, const struct cmdopt *opts, int n)
{
    struct option longopts[CMDOPTS_MAX + 1] = { { 0 } };
    int val;

    assert(n >= 0 && n <= CMDOPTS_MAX);
    for (int i = 0; i < n; i++) {
        longopts[i].name = opts[i].name;
        longopts[i].has_arg = opts[i].type == CMDOPT_SET || opts[i].type == CMDOPT_CLEAR
                              ? no_argument : required_argument;
        longopts[i].val = VAL_BASE + i;
    }
    /* 0, not 1: main() parsed its own options with "+" (stop at the
     * command), and only 0 makes glibc start afresh in its default mode,
     * which permutes, so options may come after the command's words */
    optind = 0;
    opterr = 1;
    while ((val = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (val < VAL_BASE || val >= VAL_BASE + n)
            return -EDOM;           /* unknown, or its value is missing */
        store_value(&opts[val - VAL_BASE]);
    }
    return optind;
}
