/*
 * Internals of the dashboard, shared by exactly its files: the pages
 * and routing (web.c), the record pages (web_records.c), access (web_auth.c: logins, sessions, CSRF tokens)
 * and HTTP input and output (web_html.c). Everything else uses web.h.
 */
#ifndef FIELDSYNC_SERVER_WEB_INT_H
#define FIELDSYNC_SERVER_WEB_INT_H

#include <stddef.h>
#include <time.h>

#include "fieldsync/rules.h"
#include "fieldsync/store.h"
#include "fieldsync/transport.h"
#include "web.h"

#define TOKEN_HEX WEB_TOKEN_HEX

/* A logged-in user, in the web's session table (web_auth.c). token is the
 * session cookie's value, csrf the token its forms carry. */
typedef struct session {
    int used;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1];
    char user[FS_USER_NAME_MAX + 1], team[FS_USER_NAME_MAX + 1];
    fs_role role;
    uint8_t stamp[FS_USER_STAMP_BYTES]; /* fs_store_user_stamp at login */
    time_t created, seen;
} session;

/* A response body being written: a malloc'd NUL-terminated string that
 * web__finish hands to the response (the transport frees it). failed is set
 * when memory ran out; writing then does nothing and finishing answers 500. */
typedef struct out {
    char *p;
    size_t n, cap;
    int failed;
} out;

/* ---- web_html.c ---- */

/* Append a string, a formatted string (at most 511 bytes), text escaped for
 * HTML, text escaped for a URL's query. */
void web__puts(out *o, const char *s);
void web__putf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void web__esc(out *o, const char *s);
void web__url_esc(out *o, const char *s);
/* A path into a URL (as web__url_esc, its slashes kept). */
void web__url_path(out *o, const char *s);
/* Begins a page titled title (escaped), in the request's language (the
 * lang attribute), with links to the page in the other language and the
 * time zone of every time on it named. */
void web__page_start(out *o, const char *title);
/* A table's row of headings: the N_() marked texts given, translated,
 * up to a NULL. */
void web__heads(out *o, ...) __attribute__((sentinel));
/* Ends the page and gives o's body to r with status (500 if o failed). */
void web__finish(out *o, fs_http_response *r, int status);
/* Answers 303 See Other to the path to. */
void web__redirect(fs_http_response *r, const char *to);

/* ---- web_i18n.c: the language of the request being answered ---- */

typedef enum web_lang { WEB_EN = 0, WEB_ZH = 1 } web_lang;
/* Reads the Chinese catalog (the CLI's, next to the executable or under
 * the install prefix) once; -1 when there is none or it is malformed (the
 * pages are then English only). Call before any request is served. */
int web__catalog_load(void);
/* The language of this thread's current request, and its text of msgid
 * (msgid itself in English or when the catalog lacks it). */
void web__lang_use(web_lang lang);
web_lang web__lang(void);
const char *web__tr(const char *msgid) __attribute__((format_arg(1)));
#define _(s)  web__tr(s)
#define N_(s) (s)
/* The language an Accept-Language header asks for: Chinese for zh, zh-CN,
 * zh-SG, zh-Hans (the one with the highest q among those we have), else
 * English. */
web_lang web__lang_accept(const char *header);
/* The language a cookie (header, cookie name) or a query's lang= names:
 * "zh" or "en"; -1 when absent or anything else. */
int web__lang_cookie(const char *header, const char *name);
int web__lang_query(const char *query);
/* The path and query of this thread's current request (for the language
 * links); NULL path: /login. */
void web__request_use(const char *path, const char *query);
/* The time zone this thread's current request is shown in: the team's
 * (`team set --tz`, issue 17.7) when the session's team has one, else
 * empty: this server's. NULL store or team: the server's. */
void web__zone_use(fs_store *store, const char *team);

/* ---- web.c, for the record pages ---- */

/* 1 if rep is a rep of team. */
int web__rep_in_team(fs_store *store, const char *team, const char *rep);
/* A hidden form field (value escaped). */
void web__hidden(out *o, const char *name, const char *value);
/* The spot-check form's fields after the record (accurate, comment, the
 * button) and its end. */
void web__spotcheck_fields(out *o);
/* The supervisor's actions on a weekly plan in status, as one form. */
void web__plan_buttons(const session *s, const char *rep, const char *hex, const char *status,
                       out *o);

/* ---- web_records.c ---- */

/* GET /customer, /visit or /plan ?id=HEX (kind "customer", "visit",
 * "plan"): the record and what belongs to it, for a manager of the team of
 * its owner; 404 for any other, 400 without an id. */
/* The work a finding is about, as a table cell's contents (web_records.c);
 * its customer into customer and *has_customer unless has_customer is NULL. */
int web__finding_work(out *o, fs_replica *r, fs_store *store, const fs_finding *f,
                      uint8_t customer[FS_ID_BYTES], int *has_customer);
/* A customer's name into buf ("" when the store holds none of that id). */
void web__customer_name(fs_replica *r, const uint8_t id[FS_ID_BYTES], char *buf, size_t size);
/* GET /attachment?id=HEX: a file attached to a record of the manager's
 * team, its bytes as the server holds them (web_records.c, issue 19.3). */
void web__attachment_download(fs_store *store, const session *s, const fs_http_request *rq,
                              fs_http_response *r);
void web__record_page(fs_store *store, const session *s, const char *kind,
                      const fs_http_request *rq, fs_http_response *r);

/* ---- web_auth.c ---- */

/* 1 if a and b are both tokens of TOKEN_HEX characters and equal (compared
 * in constant time), else 0. */
int web__same_token(const char *a, const char *b);
/* The live session whose token the request's cookie holds, its last use
 * now; NULL if none. An expired one is wiped, and so is one whose user
 * changed since the login (a new password, another role or team) or was
 * disabled (fs_store_user_stamp): it ends at once. */
session *web__session_of(web *w, fs_store *store, const fs_http_request *rq);
/* The login form with msg (NULL: none) as the response, with status; it
 * sets the pre-login CSRF cookie. */
void web__login_page(const web *w, fs_http_response *r, const char *msg, int status);
/* The session's (login 0), the login form's (1) or the language's (2) cookie name, and the
 * attributes it is set with ("; Secure; HttpOnly; ..."), over TLS or not. */
const char *web__cookie(const web *w, int login);
/* The evaluations the dashboard keeps between views (NULL: none). */
fs_rules_memo *web__memo(web *w);
const char *web__cookie_attrs(const web *w, int login);
/* POST /login: checks the form's CSRF token and the failure counts, then
 * the password; on success starts a session (cookie set, redirect to /),
 * else answers the login page with why. Audited either way. */
void web__login(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r);

#endif
