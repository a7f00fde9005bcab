/*
 * fuzz_redis_url.c - libFuzzer target for redis_url.
 *
 * The input (NUL bytes cut it short) is parsed as a Redis URL. Invariants,
 * each an abort() when broken:
 *  - parsing returns 0 or SIOC_EINVAL, and an error message is NUL-terminated
 *    and never longer than its buffer;
 *  - a parsed URL has 1..REDIS_URL_MAX_NODES nodes with non-empty hosts and
 *    ports in 1..65535, a primary name exactly when it names sentinels, and
 *    strings that are NUL-terminated inside their fields;
 *  - the formatted URL parses again to the same kind, TLS flag, nodes, user,
 *    primary name and database, with "***" as its password;
 *  - masking keeps the part after the last '@' that follows the scheme,
 *    puts "***" before it, and writes no more than the input plus "***".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/redis_url.h"
#include "tests/fuzz/fuzz_check.h"

static void check_terminated(const char *s, size_t cap)
{
    CHECK(memchr(s, '\0', cap) != NULL);
}

static void check_parsed(const redis_url_t *u)
{
    CHECK(u->n_nodes >= 1 && u->n_nodes <= REDIS_URL_MAX_NODES);
    for (size_t i = 0; i < u->n_nodes; i++) {
        check_terminated(u->nodes[i].host, sizeof(u->nodes[i].host));
        CHECK(u->nodes[i].host[0] != '\0');
        CHECK(u->nodes[i].port >= 1 && u->nodes[i].port <= 65535);
    }
    check_terminated(u->user, sizeof(u->user));
    check_terminated(u->password, sizeof(u->password));
    check_terminated(u->master, sizeof(u->master));
    CHECK((u->kind == REDIS_URL_SENTINEL) == (u->master[0] != '\0'));
    CHECK(u->db >= 0 && u->db <= 1000000);
}

static void check_round_trip(const redis_url_t *u)
{
    static char text[8192];
    redis_url_format(u, text, sizeof(text));
    redis_url_t v;
    char err[512];
    int r = redis_url_parse(text, &v, err, sizeof(err));
    if (r != 0)
        fprintf(stderr, "formatted \"%s\" does not parse: %s\n", text, err);
    CHECK(r == 0);
    CHECK(v.kind == u->kind && v.tls == u->tls && v.n_nodes == u->n_nodes && v.db == u->db);
    CHECK(strcmp(v.master, u->master) == 0);
    for (size_t i = 0; i < u->n_nodes; i++) {
        CHECK(strcmp(v.nodes[i].host, u->nodes[i].host) == 0);
        CHECK(v.nodes[i].port == u->nodes[i].port);
    }
    CHECK(strcmp(v.user, u->user) == 0);
    if (u->password[0])
        CHECK(strcmp(v.password, "***") == 0);
}

static void check_mask(const char *url, size_t len)
{
    static char out[8192];
    redis_url_mask(url, out, sizeof(out));
    CHECK(strlen(out) <= len + 3);
    const char *sep = strstr(url, "://");
    const char *at = strrchr(sep ? sep + 3 : url, '@'); /* the userinfo follows the scheme */
    if (at == NULL) {
        CHECK(strcmp(out, url) == 0);
        return;
    }
    size_t tail = strlen(at);
    size_t n = strlen(out);
    CHECK(n >= tail && strcmp(out + n - tail, at) == 0);
    CHECK(n >= tail + 3 && memcmp(out + n - tail - 3, "***", 3) == 0);
    char tiny[5];
    redis_url_mask(url, tiny, sizeof(tiny));
    CHECK(strlen(tiny) < sizeof(tiny));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reads past the end are caught. */
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    size_t len = strlen(url);
    redis_url_t u;
    char err[96];
    int r = redis_url_parse(url, &u, err, sizeof(err));
    CHECK(r == 0 || r == SIOC_EINVAL);
    if (r == 0) {
        check_parsed(&u);
        check_round_trip(&u);
    } else {
        check_terminated(err, sizeof(err));
    }
    check_mask(url, len);
    free(url);
    return 0;
}
