/*
 * tls.c - TLS termination (tls.h).
 */
#include "tls.h"

#include <event2/bufferevent.h>
#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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

net_tls_t *net_tls_client_new(const char *ca_file, const char *cert_file, const char *key_file,
                              char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_err(err, errlen, "SSL_CTX_new");
        goto fail_ctx;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file != NULL && ca_file[0] ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                               : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load CA file %s", ca_file ? ca_file : "(system)");
        ssl_err(err, errlen, what);
        goto fail_setup;
    }
    int has_cert = cert_file != NULL && cert_file[0];
    int has_key = key_file != NULL && key_file[0];
    if (has_cert != has_key) {
        snprintf(err, errlen, "a client certificate needs both its file and its key");
        goto fail_setup;
    }
    if (has_cert && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load certificate %s", cert_file);
        ssl_err(err, errlen, what);
        goto fail_setup;
    }
    if (has_key && SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load private key %s", key_file);
        ssl_err(err, errlen, what);
        goto fail_setup;
    }
    if (has_cert && SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, errlen, "the private key does not match the certificate");
        goto fail_setup;
    }
    net_tls_t *t = xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    return t;

fail_setup:
    SSL_CTX_free(ctx);
fail_ctx:
    return NULL;
}

struct bufferevent *net_tls_connect(net_tls_t *t, struct event_base *base, const char *host)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        goto fail_ssl;
    unsigned char ip[16];
    int numeric = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (numeric) {
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            goto fail_setup;
    } else {
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
            goto fail_setup;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        goto fail_setup;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;

fail_setup:
    SSL_free(ssl);
fail_ssl:
    ERR_clear_error();
    return NULL;
}

void net_tls_client_error(struct bufferevent *bev, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (out[0] == '\0' && ERR_GET_LIB(e) != 0)
            ERR_error_string_n(e, out, cap);
}

void net_tls_verify_error(struct bufferevent *bev, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK)
        snprintf(out, cap, "%s", X509_verify_cert_error_string(v));
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
