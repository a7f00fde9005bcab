/*
 * tls.c - TLS termination (tls.h).
 */
#include "tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

struct net_tls {
    SSL_CTX *ctx;
};

/* Mozilla "intermediate" TLS 1.2 suites: forward secrecy and AEAD only. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void ssl_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

net_tls_t *net_tls_server_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_err(err, errlen, "SSL_CTX_new");
        goto fail_ctx;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        ssl_err(err, errlen, "cipher list");
        goto fail_setup;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        char what[512];
        snprintf(what, sizeof(what), "cannot load certificate %s", cert_file);
        ssl_err(err, errlen, what);
        goto fail_setup;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        char what[512];
        snprintf(what, sizeof(what), "cannot load private key %s", key_file);
        ssl_err(err, errlen, what);
        goto fail_setup;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "the private key does not match the certificate");
        goto fail_setup;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    net_tls_t *t = xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    return t;

fail_setup:
    SSL_CTX_free(ctx);
fail_ctx:
    return NULL;
}

void net_tls_free(net_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

struct bufferevent *net_tls_accept(net_tls_t *t, struct event_base *base, int fd, int options)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL) {
        ERR_clear_error();
        return NULL;
    }
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

void net_tls_error(struct bufferevent *bev, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e != 0)
        ERR_error_string_n(e, out, cap);
    while (bufferevent_get_openssl_error(bev) != 0)
        ;
}
