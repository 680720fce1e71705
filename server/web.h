/*
 * The managers' dashboard over plain HTTP (web.c): an fs_http_handler for
 * the transport, with its sessions and login-failure counts in memory.
 */
#ifndef FIELDSYNC_SERVER_WEB_H
#define FIELDSYNC_SERVER_WEB_H

#include "fieldsync/store.h"
#include "fieldsync/transport.h"

typedef struct web web;

web *web_new(void); /* NULL when out of memory */
/* The port speaks TLS: cookies are Secure and __Host- prefixed. */
void web_set_tls(web *w, int tls);
/* Where passwords are checked: defer(ctx, ...) has the contract of
 * fs_ws_server_defer (server/hub.h), with its server as ctx, so the
 * server's thread never waits on Argon2; urgent for a login from its
 * account's last good network. Unset, they are checked inline
 * (bench_web). */
typedef int (*web_defer_fn)(void *ctx, const fs_http_request *rq, fs_http_response *out,
                            int urgent, void (*work)(void *job),
                            void (*finish)(void *job, fs_store *store, fs_http_response *answer),
                            void *job);
void web_set_defer(web *w, web_defer_fn defer, void *ctx);
void web_free(web *w);
/* The fs_http_handler: ctx is the web. Runs on the transport's thread. */
void web_handle(void *ctx, fs_store *store, const fs_http_request *rq, fs_http_response *out);

/* The parsers of what a browser sends, exposed for the fuzz target
 * (tests/fuzz/fuzz_web.c). A form field of an urlencoded body, decoded into
 * out (cap bytes, NUL-terminated): 1 if present, well-formed and it fit.
 * A cookie's value, when it is a token of WEB_TOKEN_HEX hex digits: 1. */
#define WEB_TOKEN_HEX 64
int web_form_field(const char *body, const char *name, char *out, size_t cap);
int web_cookie_value(const char *header, const char *name, char out[WEB_TOKEN_HEX + 1]);

#endif
