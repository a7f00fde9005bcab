/*
 * token_main.c - sioc-token: mints a JWT for a user (development and tests).
 *
 *   sioc-token [--secret S] [--exp SECONDS] [--alg HS256|RS256|ES256] [--key FILE] USER
 *
 * The HS256 secret comes from --secret or JWT_SECRET; RS256 / ES256 sign with
 * the PEM private key of --key. --exp 0 mints a token without exp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base/clock.h"
#include "base/opts.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-token [--secret S] [--exp SECONDS] [--alg HS256|RS256|ES256] "
               "[--key PRIVATE_KEY_PEM] USER\n"
               "Prints a JWT with sub=USER, iat and exp (default 3600 s). The HS256 secret comes\n"
               "from --secret or JWT_SECRET.\n");
}

int main(int argc, char **argv)
{
    const char *secret = opts_env("JWT_SECRET");
    const char *alg = "HS256", *keyfile = NULL, *user = NULL;
    long long ttl = 3600;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--secret") == 0 && i + 1 < argc) {
            secret = argv[++i];
        } else if (strcmp(argv[i], "--exp") == 0 && i + 1 < argc) {
            ttl = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc) {
            alg = argv[++i];
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            keyfile = argv[++i];
        } else if (argv[i][0] == '-' || user != NULL) {
            usage(stderr);
            return 2;
        } else {
            user = argv[i];
        }
    }
    if (user == NULL) {
        usage(stderr);
        return 2;
    }
    unsigned char *key = NULL;
    size_t key_len = 0;
    if (strcmp(alg, "HS256") == 0) {
        if (secret == NULL || strlen(secret) < AUTH_MIN_SECRET) {
            fprintf(stderr, "sioc-token: JWT_SECRET / --secret of at least %d bytes needed\n",
                    AUTH_MIN_SECRET);
            return 2;
        }
        key = (unsigned char *)strdup(secret);
        key_len = strlen(secret);
    } else {
        FILE *f = keyfile ? fopen(keyfile, "rb") : NULL;
        if (f == NULL) {
            fprintf(stderr, "sioc-token: --alg %s needs --key PRIVATE_KEY_PEM\n", alg);
            return 2;
        }
        key = malloc(65536);
        key_len = fread(key, 1, 65535, f);
        key[key_len] = '\0';
        fclose(f);
    }
    char *tok = auth_mint(alg, key, key_len, user, clock_unix(), ttl);
    free(key);
    if (tok == NULL) {
        fprintf(stderr, "sioc-token: cannot sign with %s\n", alg);
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}
