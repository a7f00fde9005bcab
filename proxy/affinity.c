/*
 * affinity.c - sid, cookie and rendezvous affinity (affinity.h).
 */
#include "affinity.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/base64.h"
#include "base/err.h"
#include "base/rand.h"

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL
#define MAC_BYTES 16

static const char mac_context[] = "sioc-affinity/1";

static uint64_t fnv1a(uint64_t h, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* murmur3 fmix64: every input bit flips each output bit with probability ~1/2. */
static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static int id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

int affinity_id_valid(sioc_iov_t id)
{
    if (id.len == 0 || id.len > AFFINITY_ID_MAX)
        return 0;
    for (size_t i = 0; i < id.len; i++)
        if (!id_char((unsigned char)id.base[i]))
            return 0;
    return 1;
}

uint64_t affinity_seed(sioc_iov_t id)
{
    return fmix64(fnv1a(FNV_OFFSET, id.base, id.len) ^ 0x736f63696f2d6877ULL);
}

uint64_t affinity_key_hash(sioc_iov_t key)
{
    return fmix64(fnv1a(FNV_OFFSET, key.base, key.len));
}

uint64_t affinity_score(uint64_t seed, uint64_t key_hash)
{
    /* Two rounds: a single mix of seed ^ key would give workers whose seeds
     * differ in few bits correlated scores. */
    return fmix64(fmix64(seed ^ key_hash) + seed);
}

static int id_cmp(sioc_iov_t a, sioc_iov_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.base, b.base, n) : 0;
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

int affinity_pick(const affinity_node_t *nodes, size_t n, uint64_t key_hash)
{
    int best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].standby)
            continue;
        uint64_t s = affinity_score(nodes[i].seed, key_hash);
        if (best < 0 || s > best_score ||
            (s == best_score && id_cmp(nodes[i].id, nodes[best].id) < 0)) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}

int affinity_pick_least(const affinity_node_t *nodes, size_t n, uint64_t r)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += !nodes[i].standby;
    if (m == 0)
        return -1;
    /* The a-th and b-th nodes in rotation, a != b (b only when m > 1). */
    size_t a = (size_t)((r & 0xffffffffu) % m), b = a;
    if (m > 1) {
        b = (size_t)((r >> 32 & 0x7fffffffu) % (m - 1));
        b += b >= a;
    }
    int ia = -1, ib = -1;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (nodes[i].standby)
            continue;
        if (k == a)
            ia = (int)i;
        if (k == b)
            ib = (int)i;
        k++;
    }
    if (nodes[ia].load != nodes[ib].load)
        return nodes[ia].load < nodes[ib].load ? ia : ib;
    return (r >> 63) ? ib : ia;
}

int affinity_find(const affinity_node_t *nodes, size_t n, sioc_iov_t id)
{
    for (size_t i = 0; i < n; i++)
        if (iov_eq(nodes[i].id, id))
            return (int)i;
    return -1;
}

int affinity_sid_worker(sioc_iov_t sid, sioc_iov_t *id)
{
    const char *dot = sid.len ? memchr(sid.base, '.', sid.len) : NULL;
    if (dot == NULL)
        return 0;
    sioc_iov_t w = iov_make(sid.base, (size_t)(dot - sid.base));
    if (!affinity_id_valid(w) || w.len + 1 >= sid.len)
        return 0;
    *id = w;
    return 1;
}

void affinity_secret_init(affinity_secret_t *s, const char *secret)
{
    if (secret != NULL && secret[0] != '\0')
        SHA256((const unsigned char *)secret, strlen(secret), s->key);
    else
        rand_fill(s->key, sizeof(s->key));
}

static void mac_of(const affinity_secret_t *s, sioc_iov_t id, char out[AFFINITY_MAC_CHARS])
{
    unsigned char msg[sizeof(mac_context) + AFFINITY_ID_MAX];
    memcpy(msg, mac_context, sizeof(mac_context)); /* with its NUL: context and id stay apart */
    memcpy(msg + sizeof(mac_context), id.base, id.len);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), s->key, (int)sizeof(s->key), msg, sizeof(mac_context) + id.len, md, &mdlen);
    base64url_encode(out, md, MAC_BYTES);
}

int affinity_cookie_make(const affinity_secret_t *s, sioc_iov_t id, char *out, size_t cap)
{
    if (!affinity_id_valid(id))
        return SIOC_EINVAL;
    if (cap < AFFINITY_COOKIE_MAX + 1)
        return SIOC_ENOSPC;
    memcpy(out, id.base, id.len);
    out[id.len] = '.';
    mac_of(s, id, out + id.len + 1);
    size_t n = id.len + 1 + AFFINITY_MAC_CHARS;
    out[n] = '\0';
    return (int)n;
}

int affinity_cookie_check(const affinity_secret_t *s, sioc_iov_t value, sioc_iov_t *id)
{
    if (value.len < 2 + AFFINITY_MAC_CHARS || value.len > AFFINITY_COOKIE_MAX)
        return 0;
    sioc_iov_t w = iov_make(value.base, value.len - AFFINITY_MAC_CHARS - 1);
    if (value.base[w.len] != '.' || !affinity_id_valid(w))
        return 0;
    char want[AFFINITY_MAC_CHARS];
    mac_of(s, w, want);
    if (CRYPTO_memcmp(want, value.base + w.len + 1, AFFINITY_MAC_CHARS) != 0)
        return 0;
    *id = w;
    return 1;
}

static sioc_iov_t trim(sioc_iov_t v)
{
    while (v.len && (v.base[0] == ' ' || v.base[0] == '\t')) {
        v.base++;
        v.len--;
    }
    while (v.len && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        v.len--;
    return v;
}

int affinity_addr_parse(sioc_iov_t text, affinity_addr_t *a)
{
    text = trim(text);
    if (text.len >= 2 && text.base[0] == '[' && text.base[text.len - 1] == ']') {
        text.base++;
        text.len -= 2;
    }
    char tmp[64];
    if (text.len == 0 || text.len >= sizeof(tmp))
        return SIOC_EINVAL;
    memcpy(tmp, text.base, text.len);
    tmp[text.len] = '\0';
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, tmp, a->bytes) == 1) {
        a->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, a->bytes) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a->bytes, mapped, sizeof(mapped)) == 0) {
            memmove(a->bytes, a->bytes + 12, 4);
            memset(a->bytes + 4, 0, 12);
            a->family = 4;
        } else {
            a->family = 6;
        }
        return 0;
    }
    return SIOC_EINVAL;
}

sioc_iov_t affinity_addr_key(const affinity_addr_t *a)
{
    return iov_make((const char *)a->bytes, a->family == 4 ? 4 : 16);
}

void affinity_addr_format(const affinity_addr_t *a, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    if (a->family == 4 || a->family == 6)
        inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, (socklen_t)cap);
}

int affinity_cidr_parse(sioc_iov_t text, affinity_cidr_t *c)
{
    text = trim(text);
    const char *slash = text.len ? memchr(text.base, '/', text.len) : NULL;
    sioc_iov_t addr = slash ? iov_make(text.base, (size_t)(slash - text.base)) : text;
    if (affinity_addr_parse(addr, &c->addr) != 0)
        return SIOC_EINVAL;
    unsigned max = c->addr.family == 4 ? 32 : 128;
    unsigned bits = max;
    if (slash != NULL) {
        const char *p = slash + 1, *end = text.base + text.len;
        if (p == end || end - p > 3)
            return SIOC_EINVAL;
        bits = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return SIOC_EINVAL;
            bits = bits * 10 + (unsigned)(*p - '0');
        }
        /* An IPv4-mapped prefix (::ffff:10.0.0.0/104) was turned into IPv4. */
        if (c->addr.family == 4 && memchr(addr.base, ':', addr.len) != NULL) {
            if (bits < 96)
                return SIOC_EINVAL;
            bits -= 96;
        }
        if (bits > max)
            return SIOC_EINVAL;
    }
    c->bits = (uint8_t)bits;
    return 0;
}

int affinity_cidr_list_parse(const char *list, affinity_cidr_t **out, size_t *n, sioc_iov_t *bad)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = list;
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        sioc_iov_t item = trim(iov_make(p, len));
        if (item.len > 0) {
            affinity_cidr_t c;
            if (affinity_cidr_parse(item, &c) != 0) {
                *bad = item;
                free(*out);
                *out = NULL;
                *n = 0;
                return SIOC_EINVAL;
            }
            if (*n == cap) {
                cap = cap ? cap * 2 : 4;
                *out = xrealloc(*out, cap * sizeof(**out));
            }
            (*out)[(*n)++] = c;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int in_cidr(const affinity_cidr_t *c, const affinity_addr_t *a)
{
    if (c->addr.family != a->family)
        return 0;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (full && memcmp(c->addr.bytes, a->bytes, full) != 0)
        return 0;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((c->addr.bytes[full] & mask) != (a->bytes[full] & mask))
            return 0;
    }
    return 1;
}

int affinity_cidr_match(const affinity_cidr_t *list, size_t n, const affinity_addr_t *a)
{
    for (size_t i = 0; i < n; i++)
        if (in_cidr(&list[i], a))
            return 1;
    return 0;
}

void affinity_client_addr(const affinity_addr_t *peer, const affinity_cidr_t *trusted,
                          size_t ntrusted, const sioc_iov_t *xff, size_t nxff, sioc_iov_t x_real_ip,
                          affinity_addr_t *out)
{
    *out = *peer;
    if (!affinity_cidr_match(trusted, ntrusted, peer))
        return;
    int any = 0;
    for (size_t h = nxff; h-- > 0;) {
        sioc_iov_t v = xff[h];
        while (v.len > 0) {
            /* Take the last element of the comma list. */
            size_t i = v.len;
            while (i > 0 && v.base[i - 1] != ',')
                i--;
            sioc_iov_t item = trim(iov_make(v.base + i, v.len - i));
            v.len = i > 0 ? i - 1 : 0;
            if (item.len == 0)
                continue;
            affinity_addr_t a;
            if (affinity_addr_parse(item, &a) != 0)
                return; /* garbage: keep the last trusted hop (or the peer) */
            *out = a;
            any = 1;
            if (!affinity_cidr_match(trusted, ntrusted, &a))
                return;
        }
    }
    if (!any && x_real_ip.len > 0) {
        affinity_addr_t a;
        if (affinity_addr_parse(x_real_ip, &a) == 0)
            *out = a;
    }
}
