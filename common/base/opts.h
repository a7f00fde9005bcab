/*
 * opts.h - the command-line and environment option parser shared by sioc-worker,
 * sioc-proxy and sioc-bench.
 *
 * A program describes its options in one table of opts_spec_t (flag, environment
 * variable, kind, field offset, range, default, help) and calls opts_parse(), which
 * fills a configuration struct from three sources, lowest precedence first:
 *
 *   1. the default (`def`, a string parsed like any other value; NULL = leave zeroed);
 *   2. the environment variable (`env`);
 *   3. the flag, as `--flag value` or `--flag=value` (a bool flag alone means 1).
 *
 * THE RULE: an environment variable that is set but empty is UNSET, for every kind
 * of option, in every program: `PORT= sioc-worker` is `sioc-worker`, and
 * `AFFINITY_COOKIE= sioc-proxy` keeps the default cookie name. An empty value given
 * on the command line is a value (`--affinity-cookie ""` turns the cookie off), so
 * a flag can still set a string to "". opts_env() applies the same rule for
 * variables a program reads outside the table.
 *
 * Errors are printed to stderr as "<prog>: <flag> / <ENV>: expected ..., got '<v>'"
 * and make opts_parse() return -1, so a bad number never starts a process.
 * No I/O other than those messages and opts_usage(); not thread-safe (getenv).
 */
#ifndef SIOC_COMMON_BASE_OPTS_H
#define SIOC_COMMON_BASE_OPTS_H

#include <stddef.h>
#include <stdio.h>

/** What an option's field holds. */
enum opts_kind {
    OPTS_STR,      /* char *, owned (xstrdup), NULL when no default and not given */
    OPTS_LONG,     /* long in [min, max] */
    OPTS_INT,      /* int in [min, max] */
    OPTS_BOOL,     /* int 0/1: 1 true yes / 0 false no ("" = 0); a flag alone means 1 */
    OPTS_LIST,     /* char *[max], comma-separated, items trimmed of spaces, empty ones
                      skipped; the count is a size_t at `count_offset` */
    OPTS_LOGLEVEL, /* int, log_level_parse(): error | warn | info | debug */
    OPTS_CUSTOM,   /* `set` parses the value */
};

typedef struct opts_spec opts_spec_t;

/** Parses `v` into `conf` for a custom option. Returns 0, or -1 after printing an
 * error naming `prog`. */
typedef int (*opts_set_cb)(void *conf, const opts_spec_t *o, const char *v, const char *prog);

struct opts_spec {
    const char *flag;    /* "--port" */
    const char *env;     /* "PORT"; NULL = flag only */
    int kind;            /* enum opts_kind */
    size_t offset;       /* of the field in the configuration struct */
    size_t count_offset; /* OPTS_LIST: of the size_t count */
    long min, max;       /* OPTS_LONG / OPTS_INT range; OPTS_LIST: max = capacity */
    const char *def;     /* default, parsed as a value; NULL = none */
    const char *help;    /* one line for --help */
    opts_set_cb set;     /* OPTS_CUSTOM only */
};

/** opts_parse() result when --help or -h was given (the caller prints usage). */
#define OPTS_HELP 1

/**
 * Fills `conf` (which the caller has zeroed) from the defaults, the environment and
 * argv[1..argc-1], in that order. `prog` prefixes error messages ("sioc-worker").
 * When `positional` is not NULL, arguments that do not start with '-' are stored
 * there in order (at most `max_positional`, their count in `*num_positional`);
 * otherwise such an argument is an unknown option. Returns 0, OPTS_HELP, or -1 after
 * printing an error. Strings stored in `conf` are owned by it (opts_free());
 * positional entries borrow argv.
 */
int opts_parse(const char *prog, const opts_spec_t *specs, size_t n, void *conf, int argc,
               char **argv, const char **positional, size_t max_positional, size_t *num_positional);

/** Frees the strings and lists that opts_parse() stored in `conf` and clears them. */
void opts_free(const opts_spec_t *specs, size_t n, void *conf);

/** Prints one --help line per option: "  <flag[ V]> <ENV> <help> [<default>]", the
 * flag and variable columns `flag_width` and `env_width` wide. Bools show no " V" and
 * no default; empty defaults are not shown. */
void opts_usage(FILE *f, const opts_spec_t *specs, size_t n, int flag_width, int env_width);

/** getenv() with the rule above: NULL when `name` is unset or empty. The string
 * belongs to the environment. */
const char *opts_env(const char *name);

/** Parses a whole decimal integer in [min, max]. Returns 0, or -1 when `s` is empty,
 * has trailing bytes, or is out of range (then `*out` is untouched). */
int opts_parse_long(const char *s, long min, long max, long *out);

#endif
