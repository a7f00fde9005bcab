/*
 * opts.c - the shared flag / environment option parser (opts.h).
 *
 * One table drives parsing, validation and --help, so the three never disagree.
 * Values are applied in precedence order (default, environment, flag); a later
 * source simply overwrites the field, freeing a string it replaces.
 */
#include "opts.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

const char *opts_env(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && *v != '\0') ? v : NULL;
}

int opts_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (*s == '\0')
        return -1;
    long x = strtol(s, &end, 10);
    if (*end != '\0' || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static void free_list(char **items, size_t *count)
{
    for (size_t i = 0; i < *count; i++) {
        free(items[i]);
        items[i] = NULL;
    }
    *count = 0;
}

static int set_list(char **items, size_t *count, size_t max, const char *v, const char *name,
                    const char *prog)
{
    free_list(items, count);
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n > 0 && *p == ' ')
            p++, n--;
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0) {
            if (*count >= max) {
                fprintf(stderr, "%s: %s: too many items (max %zu)\n", prog, name, max);
                return -1;
            }
            items[(*count)++] = xstrndup(p, n);
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    return 0;
}

static int set_value(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    char *base = (char *)conf + o->offset;
    switch (o->kind) {
    case OPTS_STR: {
        char **s = (char **)base;
        free(*s);
        *s = xstrdup(v);
        return 0;
    }
    case OPTS_LONG:
    case OPTS_INT: {
        long x;
        if (opts_parse_long(v, o->min, o->max, &x) != 0) {
            fprintf(stderr, "%s: %s / %s: expected an integer in [%ld, %ld], got '%s'\n", prog,
                    o->flag, o->env ? o->env : "-", o->min, o->max, v);
            return -1;
        }
        if (o->kind == OPTS_INT)
            *(int *)base = (int)x;
        else
            *(long *)base = x;
        return 0;
    }
    case OPTS_BOOL: {
        int *b = (int *)base;
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
            *b = 1;
        } else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 ||
                   *v == '\0') {
            *b = 0;
        } else {
            fprintf(stderr, "%s: %s: expected 0/1, got '%s'\n", prog, o->env ? o->env : o->flag, v);
            return -1;
        }
        return 0;
    }
    case OPTS_LIST:
        return set_list((char **)base, (size_t *)((char *)conf + o->count_offset), (size_t)o->max,
                        v, o->flag, prog);
    case OPTS_LOGLEVEL: {
        int l = log_level_parse(v);
        if (l < 0) {
            fprintf(stderr, "%s: %s: expected error|warn|info|debug\n", prog, o->flag);
            return -1;
        }
        *(int *)base = l;
        return 0;
    }
    case OPTS_CUSTOM:
        return o->set(conf, o, v, prog);
    }
    return -1;
}

static const opts_spec_t *find_flag(const opts_spec_t *specs, size_t n, const char *arg,
                                    const char **val)
{
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(specs[i].flag);
        if (strncmp(arg, specs[i].flag, fl) == 0 && (arg[fl] == '\0' || arg[fl] == '=')) {
            *val = arg[fl] == '=' ? arg + fl + 1 : NULL;
            return &specs[i];
        }
    }
    return NULL;
}

int opts_parse(const char *prog, const opts_spec_t *specs, size_t n, void *conf, int argc,
               char **argv, const char **positional, size_t max_positional, size_t *num_positional)
{
    if (num_positional != NULL)
        *num_positional = 0;
    for (size_t i = 0; i < n; i++) {
        const char *env = specs[i].env != NULL ? opts_env(specs[i].env) : NULL;
        const char *v = env != NULL ? env : specs[i].def;
        if (v != NULL && set_value(conf, &specs[i], v, prog) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
            return OPTS_HELP;
        if (positional != NULL && argv[a][0] != '-') {
            if (*num_positional >= max_positional) {
                fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, argv[a]);
                return -1;
            }
            positional[(*num_positional)++] = argv[a];
            continue;
        }
        const char *val;
        const opts_spec_t *o = find_flag(specs, n, argv[a], &val);
        if (o == NULL) {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, argv[a]);
            return -1;
        }
        if (val == NULL) {
            if (o->kind == OPTS_BOOL)
                val = "1";
            else if (a + 1 < argc)
                val = argv[++a];
            else {
                fprintf(stderr, "%s: %s needs a value\n", prog, o->flag);
                return -1;
            }
        }
        if (set_value(conf, o, val, prog) != 0)
            return -1;
    }
    return 0;
}

void opts_free(const opts_spec_t *specs, size_t n, void *conf)
{
    for (size_t i = 0; i < n; i++) {
        char *base = (char *)conf + specs[i].offset;
        if (specs[i].kind == OPTS_STR) {
            free(*(char **)base);
            *(char **)base = NULL;
        } else if (specs[i].kind == OPTS_LIST) {
            free_list((char **)base, (size_t *)((char *)conf + specs[i].count_offset));
        }
    }
}

void opts_usage(FILE *f, const opts_spec_t *specs, size_t n, int flag_width, int env_width)
{
    for (size_t i = 0; i < n; i++) {
        const opts_spec_t *o = &specs[i];
        char left[64];
        snprintf(left, sizeof(left), "%s%s", o->flag, o->kind == OPTS_BOOL ? "" : " V");
        fprintf(f, "  %-*s %-*s %s", flag_width, left, env_width, o->env ? o->env : "", o->help);
        if (o->def != NULL && o->def[0] != '\0' && o->kind != OPTS_BOOL)
            fprintf(f, " [%s]", o->def);
        fputc('\n', f);
    }
}
