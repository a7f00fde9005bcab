/*
 * jwtmint.c - HS256 token minting (jwtmint.h).
 */
#include "jwtmint.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; returns the length written. */
static size_t enc(char *out, const unsigned char *in, size_t n)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
        out[o++] = b64url[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url[v >> 18 & 63];
        out[o++] = b64url[v >> 12 & 63];
        out[o++] = b64url[v >> 6 & 63];
    }
    return o;
}

int jwtmint_hs256(char out[JWTMINT_MAX], const char *sub, const char *secret, size_t secret_len,
                  long long iat, long long ttl)
{
    size_t sl = strlen(sub);
    if (sl > 64)
        return -1;
    for (size_t i = 0; i < sl; i++)
        if (sub[i] < 0x20 || sub[i] == '"' || sub[i] == '\\' || (unsigned char)sub[i] >= 0x7f)
            return -1;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[160];
    int cl = snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}", sub,
                      iat, iat + ttl);
    size_t o = enc(out, (const unsigned char *)header, sizeof(header) - 1);
    out[o++] = '.';
    o += enc(out + o, (const unsigned char *)claims, (size_t)cl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out, o, mac, &maclen);
    out[o++] = '.';
    o += enc(out + o, mac, maclen);
    out[o] = '\0';
    return (int)o;
}
