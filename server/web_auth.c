/*
 * The dashboard's access: logins, sessions and CSRF tokens (web.c has the
 * pages and routes the requests).
 *
 * Managers and admins log in with the password of `user passwd`
 * (fs_store_login). A session is a random 256-bit token in an HttpOnly,
 * SameSite=Strict cookie (Secure once serve speaks TLS), kept in memory,
 * ended by logout, 30 idle minutes or 8 hours. Every form carries a CSRF
 * token: the session's, or before login a token in a cookie of its own
 * (double submit), compared in constant time. Five failed logins from one
 * address for one name, or twenty from one address, within five minutes
 * answer 429 until the window passes. Logins and failures are audited.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fieldsync/clock.h"
#include "store/audit.h"
#include "fieldsync/schema.h"
#include "web.h"
#include "web_int.h"

#define SESS_MAX      256
#define SESS_IDLE_S   (30 * 60)
#define SESS_LIFE_S   (8 * 3600)
#define FAIL_WINDOW_S (5 * 60)
#define FAIL_PER_NAME 5
#define FAIL_PER_PEER 20
#define FAIL_SLOTS    512

typedef struct failure {
    char peer[64], name[FS_USER_NAME_MAX + 1];
    time_t first;
    int n;
} failure;

struct web {
    session s[SESS_MAX];
    failure f[FAIL_SLOTS];
    time_t (*clock)(void);
    int tls;
};

void web_set_tls(web *w, int tls)
{
    w->tls = tls;
}

const char *web__cookie(const web *w, int login)
{
    /* Over TLS the browser keeps them for this origin's https only. */
    return w->tls ? (login ? "__Host-fs_login" : "__Host-fs_session")
                  : (login ? "fs_login" : "fs_session");
}

const char *web__cookie_attrs(const web *w, int login)
{
    return w->tls ? "; Secure; HttpOnly; SameSite=Strict; Path=/"
                  : login ? "; HttpOnly; SameSite=Strict; Path=/login"
                          : "; HttpOnly; SameSite=Strict; Path=/";
}

static time_t wall(void)
{
    return (time_t)(fs_clock_wall_ms() / 1000u);
}

web *web_new(void)
{
    web *w = sodium_malloc(sizeof *w); /* session tokens: guarded memory */
    if (w != NULL) {
        memset(w, 0, sizeof *w);
        w->clock = wall;
    }
    return w;
}

void web_free(web *w)
{
    if (w != NULL)
        sodium_free(w); /* wipes */
}
static void new_token(char out_[TOKEN_HEX + 1])
{
    unsigned char raw[TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out_, TOKEN_HEX + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

int web__same_token(const char *a, const char *b)
{
    return strlen(a) == TOKEN_HEX && strlen(b) == TOKEN_HEX && sodium_memcmp(a, b, TOKEN_HEX) == 0;
}

/* ---- sessions and failures ---- */

session *web__session_of(web *w, fs_store *store, const fs_http_request *rq)
{
    char tok[TOKEN_HEX + 1];
    if (!web_cookie_value(rq->cookie, web__cookie(w, 0), tok))
        return NULL;
    time_t now = w->clock();
    for (int i = 0; i < SESS_MAX; i++) {
        session *s = &w->s[i];
        if (!s->used || !web__same_token(s->token, tok))
            continue;
        uint8_t stamp[FS_USER_STAMP_BYTES];
        if (now - s->seen > SESS_IDLE_S || now - s->created > SESS_LIFE_S ||
            fs_store_user_stamp(store, s->user, stamp) != 0 ||
            sodium_memcmp(stamp, s->stamp, sizeof stamp) != 0) {
            sodium_memzero(s, sizeof *s);
            return NULL;
        }
        s->seen = now;
        return s;
    }
    return NULL;
}

static session *session_new(web *w)
{
    time_t now = w->clock();
    session *pick = NULL;
    for (int i = 0; i < SESS_MAX && pick == NULL; i++)
        if (!w->s[i].used || now - w->s[i].seen > SESS_IDLE_S ||
            now - w->s[i].created > SESS_LIFE_S)
            pick = &w->s[i];
    for (int i = 0; i < SESS_MAX && pick == NULL; i++) /* full: the least recently seen goes */
        if (pick == NULL || w->s[i].seen < pick->seen)
            pick = &w->s[i];
    sodium_memzero(pick, sizeof *pick);
    pick->used = 1;
    pick->created = pick->seen = now;
    new_token(pick->token);
    new_token(pick->csrf);
    return pick;
}

/* Failed logins in the window: for this name from this peer, and from this
 * peer in all. */
static void failures(web *w, const char *peer, const char *name, int *by_name, int *by_peer)
{
    time_t now = w->clock();
    *by_name = *by_peer = 0;
    for (int i = 0; i < FAIL_SLOTS; i++) {
        failure *f = &w->f[i];
        if (f->n == 0 || now - f->first > FAIL_WINDOW_S || strcmp(f->peer, peer) != 0)
            continue;
        *by_peer += f->n;
        if (strcmp(f->name, name) == 0)
            *by_name += f->n;
    }
}

static void failed(web *w, const char *peer, const char *name)
{
    time_t now = w->clock();
    failure *slot = NULL, *oldest = &w->f[0];
    for (int i = 0; i < FAIL_SLOTS && slot == NULL; i++) {
        failure *f = &w->f[i];
        if (f->n > 0 && now - f->first <= FAIL_WINDOW_S && strcmp(f->peer, peer) == 0 &&
            strcmp(f->name, name) == 0)
            slot = f;
        if (f->first < oldest->first)
            oldest = f;
    }
    if (slot == NULL) {
        slot = oldest;
        memset(slot, 0, sizeof *slot);
        snprintf(slot->peer, sizeof slot->peer, "%s", peer);
        snprintf(slot->name, sizeof slot->name, "%s", name);
        slot->first = now;
    }
    slot->n++;
}

/* A name or address as an audit field: printable, or a placeholder. */
static const char *auditable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || !fs_utf8_valid(s, n))
        return "(unprintable)";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F)
            return "(unprintable)";
    return s;
}

void web__login_page(const web *w, fs_http_response *r, const char *msg, int status)
{
    out o = {0};
    char csrf[TOKEN_HEX + 1];
    new_token(csrf);
    web__page_start(&o, "Log in");
    web__puts(&o, "<h1>fieldsync — managers</h1>\n");
    if (msg != NULL) {
        web__puts(&o, "<p class=\"err\">");
        web__esc(&o, msg);
        web__puts(&o, "</p>\n");
    }
    web__puts(&o, "<form method=\"post\" action=\"/login\">"
                  "<label>Name <input name=\"name\" autocomplete=\"username\"></label> "
                  "<label>Password <input name=\"password\" type=\"password\" "
                  "autocomplete=\"current-password\"></label>"
                  "<input type=\"hidden\" name=\"csrf\" value=\"");
    web__puts(&o, csrf);
    web__puts(&o, "\"> <button type=\"submit\">Log in</button></form>\n");
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0], "%s=%s%s; Max-Age=900",
             web__cookie(w, 1), csrf, web__cookie_attrs(w, 1));
    web__finish(&o, r, status);
}

void web__login(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    char csrf[TOKEN_HEX + 1], given[TOKEN_HEX + 2], name[FS_USER_NAME_MAX + 1] = "";
    char *pw = sodium_malloc(FS_PASSWORD_MAX + 1);
    if (pw == NULL) {
        r->status = 500;
        return;
    }
    int have_name = web_form_field(rq->body, "name", name, sizeof name);
    int have_pw = web_form_field(rq->body, "password", pw, FS_PASSWORD_MAX + 1);
    if (!web_cookie_value(rq->cookie, web__cookie(w, 1), csrf) ||
        !web_form_field(rq->body, "csrf", given, sizeof given) || !web__same_token(csrf, given)) {
        sodium_free(pw);
        web__login_page(w, r, "The form expired; log in again.", 403);
        return;
    }
    int by_name, by_peer;
    failures(w, rq->peer, name, &by_name, &by_peer);
    if (by_name >= FAIL_PER_NAME || by_peer >= FAIL_PER_PEER) {
        sodium_free(pw);
        web__login_page(w, r, "Too many failed logins; wait five minutes.", 429);
        return;
    }
    fs_role role;
    char team[FS_USER_NAME_MAX + 1];
    int rc =
        have_name && have_pw ? fs_store_login(store, name, pw, strlen(pw), &role, team) : FS_EAUTH;
    sodium_free(pw); /* wipes */
    if (rc != 0) {
        failed(w, rq->peer, name);
        char detail[96];
        snprintf(detail, sizeof detail, "dashboard login from %s", auditable(rq->peer));
        /* A name no user has is kept out of the log: it is often a
         * password typed into the wrong field (issue 20.3). */
        uint8_t known[FS_USER_STAMP_BYTES];
        const char *who = have_name && fs_store_user_stamp(store, name, known) == 0
                              ? auditable(name)
                              : "unknown name";
        (void)fs_audit_append(fs_store_audit(store), "auth_failed", "dashboard", who, detail);
        web__login_page(w, r, "Wrong name or password.", 401);
        return;
    }
    uint8_t stamp[FS_USER_STAMP_BYTES];
    if (fs_store_user_stamp(store, name, stamp) != 0) { /* changed in between: not this login */
        web__login_page(w, r, "Wrong name or password.", 401);
        return;
    }
    session *s = session_new(w);
    memcpy(s->stamp, stamp, sizeof stamp);
    snprintf(s->user, sizeof s->user, "%s", name);
    snprintf(s->team, sizeof s->team, "%s", team);
    s->role = role;
    (void)fs_audit_append(fs_store_audit(store), "login", auditable(name), "dashboard",
                          auditable(rq->peer));
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0], "%s=%s%s; Max-Age=%d", web__cookie(w, 0),
             s->token, web__cookie_attrs(w, 0), SESS_LIFE_S);
    snprintf(r->set_cookie[1], sizeof r->set_cookie[1], "%s=%s; Max-Age=0", web__cookie(w, 1),
             web__cookie_attrs(w, 1));
    web__redirect(r, "/");
}
