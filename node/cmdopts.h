/* cmdopts.h - the options of a subcommand (init, report, sync, run, ...)
 * as one table: each option's name, the value it takes and the variable it
 * sets. One parser reads every command's table, so the way options are
 * read (getopt_long, afresh after main()'s own, in any order among the
 * command's words) is written once. Nothing here is the node's own. */
#ifndef SIKHNAS_CMDOPTS_H
#define SIKHNAS_CMDOPTS_H

#define CMDOPTS_MAX 16          /* options of one command */

enum cmdopt_type {
    CMDOPT_SET,                 /* no value: *(int *)at = 1 */
    CMDOPT_CLEAR,               /* no value: *(int *)at = 0 */
    CMDOPT_TEXT,                /* *(const char **)at = the value (argv's string) */
    CMDOPT_INT,                 /* *(int *)at = the value as strtol() reads it, unchecked
                                 * (the command checks the range it needs) */
};

struct cmdopt {
    const char *name;           /* the long option, without "--" */
    enum cmdopt_type type;
    void *at;
};

/* Reads the options of a command line whose argv[0] is the command's name
 * into the variables opts[0..n) point at (n <= CMDOPTS_MAX). Options may
 * come before, between or after the command's words, which getopt_long()
 * moves behind them. Returns the index in argv of the first word (argc
 * when there is none), or -EDOM when an option is unknown or lacks its
 * value (getopt_long() has said which). */
int cmdopts_parse(int argc, char **argv, const struct cmdopt *opts, int n);

/* The number of options in a table (an array, not a pointer). */
#define CMDOPTS_N(opts) ((int)(sizeof(opts) / sizeof((opts)[0])))

#endif
