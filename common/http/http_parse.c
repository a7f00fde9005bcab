/*
 * http_parse.c - HTTP/1.1 head parser (http_parse.h).
 *
 * One forward pass over buf[0..min(len, max_head)) with byte-class tables:
 * start line, then field lines until an empty line. Syntax errors are
 * reported as soon as they are seen, so garbage is refused on the first
 * packet; running out of bytes gives SIOC_INCOMPLETE, or SIOC_EMSGSIZE once
 * more than max_head bytes are buffered. Field semantics (framing,
 * Connection, the common fields) are derived in the same pass, one name
 * classification per field, and checked when the empty line is reached.
 */
#include "http/http_parse.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"

const char http_reason_head_too_large[] = "head too large";
const char http_reason_too_many_headers[] = "too many headers";

/* Byte classes. */
enum {
    C_TCHAR = 1,  /* RFC 9110 §5.6.2 token */
    C_VALUE = 2,  /* field-content: HTAB, SP, VCHAR, obs-text (not CR/LF/CTL/DEL) */
    C_TARGET = 4, /* request-target: VCHAR only */
    C_REASON = 8, /* reason-phrase: HTAB, SP, VCHAR, obs-text */
};

#define T_ (C_TCHAR | C_VALUE | C_TARGET | C_REASON)
#define V_ (C_VALUE | C_TARGET | C_REASON)
#define W_ (C_VALUE | C_REASON)
#define O_ (C_VALUE | C_REASON)

/* clang-format off */
static const unsigned char cls[256] = {
    /* 0x00 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, W_, 0, 0, 0, 0, 0, 0,
    /* 0x10 */ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 0x20  SP !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
    W_, T_, V_, T_, T_, T_, T_, T_, V_, V_, T_, T_, V_, T_, T_, V_,
    /* 0x30  0-9 : ; < = > ? */
    T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, V_, V_, V_, V_, V_, V_,
    /* 0x40  @ A-O */
    V_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_,
    /* 0x50  P-Z [ \ ] ^ _ */
    T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, V_, V_, V_, T_, T_,
    /* 0x60  ` a-o */
    T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_,
    /* 0x70  p-z { | } ~ DEL */
    T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, T_, V_, T_, V_, T_, 0,
    /* 0x80-0xff: obs-text */
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
    O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_, O_,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

int http_is_tchar(int c)
{
    return c >= 0 && c < 256 && IS(c, C_TCHAR);
}

/* Fields the parser looks at. */
enum {
    F_OTHER,
    F_HOST,
    F_ORIGIN,
    F_COOKIE,
    F_UPGRADE,
    F_CONNECTION,
    F_CONTENT_LENGTH,
    F_CONTENT_TYPE,
    F_TRANSFER_ENCODING,
    F_WS_KEY,
    F_WS_VERSION,
    F_WS_ACCEPT,
    F_XFF,
    F_X_REAL_IP,
};

static int classify(const char *n, size_t len)
{
    sioc_iov_t v = iov_make(n, len);
#define IS_NAME(lit) iov_eq_ci(v, SIOC_LIT(lit))
    switch (len) {
    case 4:
        return IS_NAME("host") ? F_HOST : F_OTHER;
    case 6:
        if (IS_NAME("origin"))
            return F_ORIGIN;
        return IS_NAME("cookie") ? F_COOKIE : F_OTHER;
    case 7:
        return IS_NAME("upgrade") ? F_UPGRADE : F_OTHER;
    case 9:
        return IS_NAME("x-real-ip") ? F_X_REAL_IP : F_OTHER;
    case 10:
        return IS_NAME("connection") ? F_CONNECTION : F_OTHER;
    case 12:
        return IS_NAME("content-type") ? F_CONTENT_TYPE : F_OTHER;
    case 14:
        return IS_NAME("content-length") ? F_CONTENT_LENGTH : F_OTHER;
    case 15:
        return IS_NAME("x-forwarded-for") ? F_XFF : F_OTHER;
    case 17:
        if (IS_NAME("transfer-encoding"))
            return F_TRANSFER_ENCODING;
        return IS_NAME("sec-websocket-key") ? F_WS_KEY : F_OTHER;
    case 20:
        return IS_NAME("sec-websocket-accept") ? F_WS_ACCEPT : F_OTHER;
    case 21:
        return IS_NAME("sec-websocket-version") ? F_WS_VERSION : F_OTHER;
    default:
        return F_OTHER;
    }
#undef IS_NAME
}

/* What the field pass learns; copied into the request or response at the end. */
typedef struct {
    long long content_length;
    int chunked;
    int te_seen;
    int conn_close, conn_keep_alive, conn_upgrade;
    int is_request;
    sioc_iov_t upgrade, host, origin, cookie, ws_key, ws_version, ws_accept, content_type, xff,
        x_real_ip;
    int has_upgrade, has_host, has_ws_key;
} fields_t;

/* Parses a decimal Content-Length; -1 when malformed or over LLONG_MAX. */
static long long parse_content_length(sioc_iov_t v)
{
    if (v.len == 0)
        return -1;
    long long n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned)((unsigned char)v.base[i] - '0');
        if (d > 9)
            return -1;
        if (n > (LLONG_MAX - (long long)d) / 10)
            return -1;
        n = n * 10 + (long long)d;
    }
    return n;
}

/* Records one field; 0 or SIOC_EPROTO with *reason. */
static int on_field(fields_t *f, const char *name, size_t name_len, sioc_iov_t value,
                    const char **reason)
{
    /* Slices into the buffer are never NULL, so NULL marks "not seen yet". */
    switch (classify(name, name_len)) {
    case F_HOST:
        if (f->is_request && f->has_host) {
            *reason = "duplicate Host";
            return SIOC_EPROTO;
        }
        f->host = value;
        f->has_host = 1;
        break;
    case F_ORIGIN:
        if (f->origin.base == NULL)
            f->origin = value;
        break;
    case F_COOKIE:
        if (f->cookie.base == NULL)
            f->cookie = value;
        break;
    case F_UPGRADE:
        if (!f->has_upgrade)
            f->upgrade = value;
        f->has_upgrade = 1;
        break;
    case F_CONNECTION: {
        /* Tokens may be spread over several Connection fields. */
        if (http_header_has_token(value, SIOC_LIT("close")))
            f->conn_close = 1;
        if (http_header_has_token(value, SIOC_LIT("keep-alive")))
            f->conn_keep_alive = 1;
        if (http_header_has_token(value, SIOC_LIT("upgrade")))
            f->conn_upgrade = 1;
        break;
    }
    case F_CONTENT_LENGTH: {
        long long n = parse_content_length(value);
        if (n < 0) {
            *reason = "invalid Content-Length";
            return SIOC_EPROTO;
        }
        if (f->content_length >= 0 && f->content_length != n) {
            *reason = "conflicting Content-Length";
            return SIOC_EPROTO;
        }
        f->content_length = n;
        break;
    }
    case F_CONTENT_TYPE:
        if (f->content_type.base == NULL)
            f->content_type = value;
        break;
    case F_TRANSFER_ENCODING:
        /* Only a single, exactly "chunked" coding is framed the same way by
         * every hop; anything else is a smuggling vector (RFC 9112 §6.1). */
        if (f->te_seen) {
            *reason = "multiple Transfer-Encoding";
            return SIOC_EPROTO;
        }
        if (!iov_eq_ci(value, SIOC_LIT("chunked"))) {
            *reason = "unsupported Transfer-Encoding";
            return SIOC_EPROTO;
        }
        f->te_seen = 1;
        f->chunked = 1;
        break;
    case F_WS_KEY:
        if (f->is_request && f->has_ws_key) {
            *reason = "duplicate Sec-WebSocket-Key";
            return SIOC_EPROTO;
        }
        f->ws_key = value;
        f->has_ws_key = 1;
        break;
    case F_WS_VERSION:
        if (f->ws_version.base == NULL)
            f->ws_version = value;
        break;
    case F_WS_ACCEPT:
        if (f->ws_accept.base == NULL)
            f->ws_accept = value;
        break;
    case F_XFF:
        f->xff = value;
        break;
    case F_X_REAL_IP:
        if (f->x_real_ip.base == NULL)
            f->x_real_ip = value;
        break;
    default:
        break;
    }
    return 0;
}

/* Checks that hold only for the complete field section. */
static int on_fields_end(fields_t *f, int minor_version, const char **reason)
{
    if (f->te_seen && f->content_length >= 0) {
        *reason = "both Content-Length and Transfer-Encoding";
        return SIOC_EPROTO;
    }
    if (f->te_seen && minor_version == 0) {
        /* RFC 9112 §6.1: HTTP/1.0 framing with Transfer-Encoding is faulty. */
        *reason = "Transfer-Encoding in HTTP/1.0";
        return SIOC_EPROTO;
    }
    return 0;
}

static int keep_alive(const fields_t *f, int minor_version)
{
    if (f->conn_close)
        return 0;
    return minor_version >= 1 || f->conn_keep_alive;
}

/* Out of bytes inside the scan window. */
static int need_more(size_t len, size_t max_head, const char **reason)
{
    if (len > max_head) {
        *reason = http_reason_head_too_large;
        return SIOC_EMSGSIZE;
    }
    return SIOC_INCOMPLETE;
}

#define FAIL(why)                                                                                  \
    do {                                                                                           \
        *reason = (why);                                                                           \
        return SIOC_EPROTO;                                                                        \
    } while (0)

#define MORE() return need_more(len, max_head, reason)

/* Expects CRLF at *pp; advances past it. 0, SIOC_EPROTO, or 1 when out of bytes. */
static int expect_crlf(const char **pp, const char *end, const char **reason)
{
    const char *p = *pp;
    if (p == end)
        return 1;
    if (*p == '\n') {
        *reason = "bare LF";
        return SIOC_EPROTO;
    }
    if (*p != '\r') {
        *reason = "expected CRLF";
        return SIOC_EPROTO;
    }
    if (++p == end)
        return 1;
    if (*p != '\n') {
        *reason = "bare CR";
        return SIOC_EPROTO;
    }
    *pp = p + 1;
    return 0;
}

/* Parses "HTTP/1.<d>" at *pp. 0, SIOC_EPROTO, or 1 when out of bytes. */
static int parse_version(const char **pp, const char *end, int *minor, const char **reason)
{
    static const char prefix[] = "HTTP/1.";
    const char *p = *pp;
    for (size_t i = 0; i < sizeof(prefix) - 1; i++, p++) {
        if (p == end)
            return 1;
        if (*p != prefix[i]) {
            *reason = "invalid HTTP version";
            return SIOC_EPROTO;
        }
    }
    if (p == end)
        return 1;
    if (*p < '0' || *p > '9') {
        *reason = "invalid HTTP version";
        return SIOC_EPROTO;
    }
    *minor = *p - '0';
    *pp = p + 1;
    return 0;
}

/*
 * Parses field lines from p up to and including the empty line. Returns the
 * offset just past the head, or a negative code.
 */
static int parse_fields(const char *buf, const char *p, size_t len, size_t max_head,
                        http_header_t *headers, size_t *num_headers, size_t max_headers,
                        fields_t *f, const char **reason)
{
    const char *end = buf + (len < max_head ? len : max_head);
    size_t n = 0;

    for (;;) {
        if (p == end)
            MORE();
        if (*p == '\r') {
            if (p + 1 == end)
                MORE();
            if (p[1] != '\n')
                FAIL("bare CR");
            p += 2;
            break;
        }
        if (*p == '\n')
            FAIL("bare LF");
        if (*p == ' ' || *p == '\t')
            FAIL("obs-fold or leading whitespace in field line");
        if (n == max_headers) {
            *reason = http_reason_too_many_headers;
            return SIOC_EMSGSIZE;
        }

        /* field-name ":" */
        const char *name = p;
        while (p != end && IS(*p, C_TCHAR))
            p++;
        if (p == end)
            MORE();
        if (*p != ':') {
            if (*p == ' ' || *p == '\t')
                FAIL("whitespace before colon");
            FAIL("invalid field name");
        }
        if (p == name)
            FAIL("empty field name");
        size_t name_len = (size_t)(p - name);
        p++;

        /* OWS field-value OWS CRLF */
        while (p != end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        while (end - p >= 4 && IS(p[0], C_VALUE) && IS(p[1], C_VALUE) && IS(p[2], C_VALUE) &&
               IS(p[3], C_VALUE))
            p += 4;
        while (p != end && IS(*p, C_VALUE))
            p++;
        if (p == end)
            MORE();
        const char *value_end = p;
        if (*p != '\r') {
            if (*p == '\n')
                FAIL("bare LF");
            FAIL("invalid character in field value");
        }
        if (p + 1 == end)
            MORE();
        if (p[1] != '\n')
            FAIL("bare CR");
        p += 2;
        while (value_end != value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;

        sioc_iov_t v = iov_make(value, (size_t)(value_end - value));
        headers[n].name = iov_make(name, name_len);
        headers[n].value = v;
        n++;
        int r = on_field(f, name, name_len, v, reason);
        if (r)
            return r;
    }
    *num_headers = n;
    return (int)(p - buf);
}

static size_t head_limit(const http_limits_t *lim)
{
    size_t m = lim && lim->max_head_size ? lim->max_head_size : HTTP_DEFAULT_MAX_HEAD;
    return m > INT_MAX ? INT_MAX : m;
}

static size_t headers_limit(const http_limits_t *lim, size_t capacity)
{
    if (lim && lim->max_headers && lim->max_headers < capacity)
        return lim->max_headers;
    return capacity;
}

static void fields_init(fields_t *f, int is_request)
{
    memset(f, 0, sizeof(*f));
    f->content_length = -1;
    f->is_request = is_request;
}

int http_parse_request(const char *buf, size_t len, http_request_t *req, const http_limits_t *lim,
                       const char **reason)
{
    const char *dummy_reason;
    if (reason == NULL)
        reason = &dummy_reason;
    if (len == 0)
        return SIOC_INCOMPLETE; /* also keeps (NULL, 0) away from pointer arithmetic */
    size_t max_head = head_limit(lim);
    size_t max_headers = headers_limit(lim, req->num_headers);
    const char *end = buf + (len < max_head ? len : max_head);
    const char *p = buf;
    int r;

    /* RFC 9112 §2.2: ignore empty lines before the request line. */
    while (p != end && *p == '\r') {
        if (p + 1 == end)
            MORE();
        if (p[1] != '\n')
            FAIL("bare CR");
        p += 2;
    }

    /* method SP */
    const char *method = p;
    while (p != end && IS(*p, C_TCHAR))
        p++;
    if (p == end)
        MORE();
    if (*p != ' ' || p == method)
        FAIL("invalid method");
    req->method = iov_make(method, (size_t)(p - method));
    p++;

    /* request-target SP */
    const char *target = p, *qmark = NULL;
    while (p != end && IS(*p, C_TARGET)) {
        if (*p == '?' && qmark == NULL)
            qmark = p;
        p++;
    }
    if (p == end)
        MORE();
    if (*p != ' ' || p == target)
        FAIL("invalid request target");
    req->target = iov_make(target, (size_t)(p - target));
    if (qmark) {
        req->path = iov_make(target, (size_t)(qmark - target));
        req->query = iov_make(qmark + 1, (size_t)(p - qmark - 1));
    } else {
        req->path = req->target;
        req->query = iov_make(p, 0);
    }
    p++;

    /* HTTP-version CRLF */
    r = parse_version(&p, end, &req->minor_version, reason);
    if (r == 0)
        r = expect_crlf(&p, end, reason);
    if (r == 1)
        MORE();
    if (r)
        return r;

    fields_t f;
    fields_init(&f, 1);
    r = parse_fields(buf, p, len, max_head, req->headers, &req->num_headers, max_headers, &f,
                     reason);
    if (r < 0)
        return r;
    int rr = on_fields_end(&f, req->minor_version, reason);
    if (rr)
        return rr;

    req->content_length = f.content_length;
    req->chunked = f.chunked;
    req->keep_alive = keep_alive(&f, req->minor_version);
    req->upgrade = f.conn_upgrade && f.has_upgrade;
    req->upgrade_proto = f.upgrade;
    req->host = f.host;
    req->origin = f.origin;
    req->cookie = f.cookie;
    req->sec_websocket_key = f.ws_key;
    req->sec_websocket_version = f.ws_version;
    req->content_type = f.content_type;
    req->x_forwarded_for = f.xff;
    req->x_real_ip = f.x_real_ip;
    return r;
}

int http_parse_response(const char *buf, size_t len, http_response_t *res, const http_limits_t *lim,
                        const char **reason)
{
    const char *dummy_reason;
    if (reason == NULL)
        reason = &dummy_reason;
    if (len == 0)
        return SIOC_INCOMPLETE; /* also keeps (NULL, 0) away from pointer arithmetic */
    size_t max_head = head_limit(lim);
    size_t max_headers = headers_limit(lim, res->num_headers);
    const char *end = buf + (len < max_head ? len : max_head);
    const char *p = buf;
    int r;

    /* HTTP-version SP status-code [SP reason-phrase] CRLF */
    r = parse_version(&p, end, &res->minor_version, reason);
    if (r == 1)
        MORE();
    if (r)
        return r;
    if (p == end)
        MORE();
    if (*p++ != ' ')
        FAIL("invalid status line");
    int status = 0;
    for (int i = 0; i < 3; i++, p++) {
        if (p == end)
            MORE();
        if (*p < '0' || *p > '9')
            FAIL("invalid status code");
        status = status * 10 + (*p - '0');
    }
    if (status < 100)
        FAIL("invalid status code");
    res->status = status;
    if (p == end)
        MORE();
    const char *rs = p, *re = p;
    if (*p == ' ') {
        /* Some servers omit the SP before an empty reason; both are accepted. */
        rs = ++p;
        while (p != end && IS(*p, C_REASON))
            p++;
        re = p;
    }
    res->reason = iov_make(rs, (size_t)(re - rs));
    r = expect_crlf(&p, end, reason);
    if (r == 1)
        MORE();
    if (r)
        return r;

    fields_t f;
    fields_init(&f, 0);
    r = parse_fields(buf, p, len, max_head, res->headers, &res->num_headers, max_headers, &f,
                     reason);
    if (r < 0)
        return r;
    int rr = on_fields_end(&f, res->minor_version, reason);
    if (rr)
        return rr;

    res->content_length = f.content_length;
    res->chunked = f.chunked;
    res->keep_alive = keep_alive(&f, res->minor_version);
    res->upgrade = f.conn_upgrade && f.has_upgrade;
    res->upgrade_proto = f.upgrade;
    res->content_type = f.content_type;
    res->sec_websocket_accept = f.ws_accept;
    return r;
}

int http_head_ready(const char *buf, size_t len, size_t last_len, const http_limits_t *lim)
{
    if (last_len == 0 || last_len > len || len > head_limit(lim))
        return 1;
    /* A head ends in "\n\r\n"; "\n\n" is a malformed end the parser must see. */
    size_t i = last_len > 2 ? last_len - 2 : 0;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        if (nl == NULL)
            return 0;
        i = (size_t)(nl - buf) + 1;
        if (i < len && buf[i] == '\n')
            return 1;
        if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            return 1;
    }
    return 0;
}

int http_header_find(const http_header_t *headers, size_t num_headers, sioc_iov_t name, size_t *pos)
{
    for (size_t i = *pos; i < num_headers; i++) {
        if (iov_eq_ci(headers[i].name, name)) {
            *pos = i + 1;
            return (int)i;
        }
    }
    *pos = num_headers;
    return -1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_list_next(sioc_iov_t *rest, sioc_iov_t *element)
{
    while (rest->len > 0) {
        const char *comma = memchr(rest->base, ',', rest->len);
        size_t n = comma ? (size_t)(comma - rest->base) : rest->len;
        const char *s = rest->base, *t = rest->base + n;
        rest->base += comma ? n + 1 : n;
        rest->len -= comma ? n + 1 : n;
        while (s < t && is_ows(*s))
            s++;
        while (t > s && is_ows(t[-1]))
            t--;
        if (t > s) {
            *element = iov_make(s, (size_t)(t - s));
            return 1;
        }
    }
    return 0;
}

int http_header_has_token(sioc_iov_t value, sioc_iov_t token)
{
    sioc_iov_t el;
    while (http_list_next(&value, &el))
        if (iov_eq_ci(el, token))
            return 1;
    return 0;
}
