/*
 * jwtmint.c - HS256 token minting (jwtmint.h).
 */
#include "jwtmint.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "base/base64.h"

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
    size_t o = base64url_encode(out, header, sizeof(header) - 1);
    out[o++] = '.';
    o += base64url_encode(out + o, claims, (size_t)cl);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)out, o, mac, &maclen);
    out[o++] = '.';
    o += base64url_encode(out + o, mac, maclen);
    out[o] = '\0';
    return (int)o;
}
