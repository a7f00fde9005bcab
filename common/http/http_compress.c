/*
 * http_compress.c - Accept-Encoding choice and one-shot compression (http_compress.h).
 *
 * The choice mirrors the `negotiator` package that Node's engine.io uses through
 * `accepts`: per offered coding, the best matching element of the client's list (an exact
 * name beats "*"), then a sort by q, specificity, the client's order and ours.
 */
#include "http_compress.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "base/err.h"
#include "http/http_parse.h"

static const char *const names[] = {NULL, "gzip", "deflate"};

const char *http_compress_name(int coding)
{
    return coding == HTTP_COMPRESS_GZIP || coding == HTTP_COMPRESS_DEFLATE ? names[coding] : NULL;
}

static sioc_iov_t trim(sioc_iov_t s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t'))
        s.base++, s.len--;
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* The q value of an element's parameters in thousandths (1000 when absent): digits and
 * a fraction, read as parseFloat does; a q without digits counts as 0. */
static int q_of(sioc_iov_t params)
{
    sioc_iov_t rest = params;
    while (rest.len > 0) {
        const char *semi = memchr(rest.base, ';', rest.len);
        size_t n = semi ? (size_t)(semi - rest.base) : rest.len;
        sioc_iov_t p = trim(iov_make(rest.base, n));
        rest = semi ? iov_make(semi + 1, rest.len - n - 1) : SIOC_IOV_NULL;
        if (p.len < 2 || (p.base[0] != 'q' && p.base[0] != 'Q'))
            continue;
        size_t i = 1;
        while (i < p.len && (p.base[i] == ' ' || p.base[i] == '\t'))
            i++;
        if (i >= p.len || p.base[i] != '=')
            continue;
        i++;
        while (i < p.len && (p.base[i] == ' ' || p.base[i] == '\t'))
            i++;
        int q = 0, scale = 1000, any = 0;
        while (i < p.len && p.base[i] >= '0' && p.base[i] <= '9') {
            if (q < 1000000)
                q = q * 10 + (p.base[i] - '0');
            i++, any = 1;
        }
        q = q > 1000 ? 1000000 : q * 1000;
        if (i < p.len && p.base[i] == '.') {
            for (i++; i < p.len && p.base[i] >= '0' && p.base[i] <= '9'; i++, any = 1) {
                scale /= 10;
                q += (p.base[i] - '0') * scale;
            }
        }
        return any ? q : 0;
    }
    return 1000;
}

typedef struct {
    int q, s, o; /* q in thousandths; specificity (1 exact, 0 "*"); client order; -1 = none */
} prio_t;

int http_compress_pick(sioc_iov_t accept_encoding)
{
    prio_t pr[3] = {{0, -1, -1}, {0, -1, -1}, {0, -1, -1}};
    sioc_iov_t rest = accept_encoding, el;
    int order = 0;
    while (http_list_next(&rest, &el)) {
        const char *semi = memchr(el.base, ';', el.len);
        size_t n = semi ? (size_t)(semi - el.base) : el.len;
        sioc_iov_t coding = trim(iov_make(el.base, n));
        int q = semi ? q_of(iov_make(semi + 1, el.len - n - 1)) : 1000;
        int o = order++;
        for (int c = HTTP_COMPRESS_GZIP; c <= HTTP_COMPRESS_DEFLATE; c++) {
            int s;
            if (iov_eq_ci(coding, iov_make(names[c], strlen(names[c]))))
                s = 1;
            else if (iov_eq_str(coding, "*"))
                s = 0;
            else
                continue;
            prio_t *p = &pr[c];
            /* negotiator getEncodingPriority: more specific, then higher q, then later. */
            if (p->s < 0 || (p->s - s ? p->s - s : p->q - q ? p->q - q : p->o - o) < 0)
                *p = (prio_t){q, s, o};
        }
    }
    int best = HTTP_COMPRESS_NONE;
    for (int c = HTTP_COMPRESS_GZIP; c <= HTTP_COMPRESS_DEFLATE; c++) {
        const prio_t *p = &pr[c];
        if (p->s < 0 || p->q <= 0)
            continue;
        if (best == HTTP_COMPRESS_NONE) {
            best = c;
            continue;
        }
        const prio_t *b = &pr[best];
        int d = p->q != b->q ? p->q - b->q : p->s != b->s ? p->s - b->s : b->o - p->o;
        if (d > 0)
            best = c;
    }
    return best;
}

int http_compress(int coding, const void *in, size_t len, sioc_buf_t *out)
{
    if (coding != HTTP_COMPRESS_GZIP && coding != HTTP_COMPRESS_DEFLATE)
        return SIOC_EINVAL;
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* 15 window bits: the zlib format; +16: gzip (createGzip / createDeflate defaults). */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                     coding == HTTP_COMPRESS_GZIP ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SIOC_ENOMEM;
    /* deflateBound covers a whole input given at once with Z_FINISH (gzip's header too). */
    size_t bound = deflateBound(&z, (uLong)len);
    int r = buf_reserve(out, bound);
    if (r != 0) {
        deflateEnd(&z);
        return r;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->base + out->len;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return SIOC_ENOMEM;
    out->len += produced;
    return 0;
}
