/*
 * The dashboard's access: logins, sessions and CSRF tokens (web.c has the
 * pages and routes the requests).
 *
 * Managers and admins log in with the password of `user passwd`
 * (fs_store_login). A session is a random 256-bit token in an HttpOnly,
 * SameSite=Strict cookie (Secure once serve speaks TLS), kept in memory,
 * ended by logout, 30 idle minutes or 8 hours. Every form carries a CSRF
 * token: the session's, or before login a token in a cookie of its own
 * (double submit), compared in constant time.
 *
 * Failed logins are limited before any password is checked (issue 20.2),
 * per network (an IPv4 /24, an IPv6 /64: what one office or one attacker
 * holds) and per account. Twenty failures from a network within five
 * minutes answer 429 for that network until the window passes. An
 * account's first five failures are free; from then on each further try
 * waits twice as long as the last (5 s, 10 s, 20 s ... at most 5 minutes)
 * after the latest failure, wherever they came from, and the count starts
 * again after 15 quiet minutes or a good login from another network than
 * the last good one. The network of the
 * account's last good login is exempt from the account's wait: a manager
 * still logs in from the office while someone elsewhere guesses (it is not
 * exempt from its own network's limit). Logins and failures are audited.
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
#define FAIL_WINDOW_S  (5 * 60)  /* a network's failures are counted over this */
#define FAIL_PER_NET   20        /* failures from one network per window */
#define FAIL_FREE      5         /* an account's failures before it must wait */
#define FAIL_WAIT_BASE 5         /* the first wait, doubled by each failure */
#define FAIL_WAIT_MAX  (5 * 60)  /* the longest wait between an account's tries */
#define FAIL_QUIET_S   (15 * 60) /* an account's count starts again after this */
#define FAIL_SLOTS     512
#define NET_MAX        FS_NET_KEY_MAX
#define REFUSAL_HOLD_MS 500      /* a refused login's answer waits this long (the tarpit) */

typedef struct net_fail { /* failures from one network in its window */
    char net[NET_MAX];
    time_t first;
    int n;
} net_fail;

typedef struct acct { /* an account's failures since its last good login */
    char name[FS_USER_NAME_MAX + 1];
    char good_net[NET_MAX]; /* the network of its last good login, or "" */
    time_t last;            /* its latest failure */
    int n;
} acct;

struct web {
    session s[SESS_MAX];
    net_fail nf[FAIL_SLOTS];
    acct ac[FAIL_SLOTS];
    time_t (*clock)(void);
    int tls;
    web_defer_fn defer; /* checks passwords off the server's thread; NULL: inline */
    void *defer_ctx;
    /* the tables the team and rep pages read, kept while the store's
     * records are unchanged (fieldsync/rules.h); NULL: read at each view */
    fs_rules_memo *memo;
};

fs_rules_memo *web__memo(web *w)
{
    return w->memo;
}

void web_set_defer(web *w, web_defer_fn defer, void *ctx)
{
    w->defer = defer;
    w->defer_ctx = ctx;
}

void web_set_tls(web *w, int tls)
{
    w->tls = tls;
}

const char *web__cookie(const web *w, int login)
{
    /* Over TLS the browser keeps them for this origin's https only. */
    static const char *const names[2][3] = {{"fs_session", "fs_login", "fs_lang"},
                                            {"__Host-fs_session", "__Host-fs_login",
                                             "__Host-fs_lang"}};
    return names[w->tls ? 1 : 0][login >= 0 && login <= 2 ? login : 0];
}

const char *web__cookie_attrs(const web *w, int login)
{
    return w->tls ? "; Secure; HttpOnly; SameSite=Strict; Path=/"
                  : login == 1 ? "; HttpOnly; SameSite=Strict; Path=/login"
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
        w->memo = fs_rules_memo_new();
        /* The Chinese pages: without the catalog, English only. */
        (void)web__catalog_load();
    }
    return w;
}

void web_free(web *w)
{
    if (w != NULL) {
        fs_rules_memo_free(w->memo);
        sodium_free(w); /* wipes */
    }
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

/* Seconds on the monotonic clock: a wall clock set back on the server
 * does not reopen a limit. */
static time_t mono_s(void)
{
    return (time_t)(fs_clock_mono_ms() / 1000u);
}

/* The network's failure count, or when make a new one in a free slot (or
 * the oldest: an attacker who fills the table forgets his own first). */
static net_fail *net_slot(web *w, const char *net, time_t now, int make)
{
    net_fail *pick = NULL;
    for (int i = 0; i < FAIL_SLOTS; i++) {
        net_fail *f = &w->nf[i];
        if (f->n > 0 && now - f->first > FAIL_WINDOW_S)
            f->n = 0; /* its window passed */
        if (f->n > 0 && strcmp(f->net, net) == 0)
            return f;
        if (pick == NULL || (f->n == 0 && pick->n != 0) ||
            ((f->n == 0) == (pick->n == 0) && f->first < pick->first))
            pick = f;
    }
    if (!make)
        return NULL;
    memset(pick, 0, sizeof *pick);
    snprintf(pick->net, sizeof pick->net, "%s", net);
    pick->first = now;
    return pick;
}

/* The account's record, or when make a new one in a free slot (or the
 * one whose latest failure is oldest). */
static acct *acct_slot(web *w, const char *name, int make)
{
    acct *pick = NULL;
    for (int i = 0; i < FAIL_SLOTS; i++) {
        acct *a = &w->ac[i];
        if (a->name[0] != '\0' && strcmp(a->name, name) == 0)
            return a;
        if (pick == NULL || (a->name[0] == '\0' && pick->name[0] != '\0') ||
            ((a->name[0] == '\0') == (pick->name[0] == '\0') && a->last < pick->last))
            pick = a;
    }
    if (!make)
        return NULL;
    memset(pick, 0, sizeof *pick);
    snprintf(pick->name, sizeof pick->name, "%s", name);
    return pick;
}

/* Before any password is checked: 0 when this login may be tried, else
 * the 429 page's words (wait is how many seconds). */
static const char *login_limited(web *w, const char *net, const char *name, long *wait)
{
    time_t now = mono_s();
    *wait = FAIL_WINDOW_S;
    net_fail *f = net_slot(w, net, now, 0);
    if (f != NULL && f->n >= FAIL_PER_NET)
        return _("Too many failed logins from your network; wait five minutes.");
    acct *a = acct_slot(w, name, 0);
    if (a == NULL || a->n < FAIL_FREE || strcmp(a->good_net, net) == 0)
        return NULL;
    if (now - a->last > FAIL_QUIET_S) {
        a->n = 0;
        return NULL;
    }
    int over = a->n - FAIL_FREE;
    long need = over >= 9 ? FAIL_WAIT_MAX : (long)FAIL_WAIT_BASE << over;
    if (need > FAIL_WAIT_MAX)
        need = FAIL_WAIT_MAX;
    if (now - a->last >= need)
        return NULL;
    *wait = need - (long)(now - a->last);
    return _("Too many failed logins for this name; try again later.");
}

/* A failure counts against its network, and against the account when a
 * user has that name (names no one has would only crowd the table). */
static void login_failed(web *w, const char *net, const char *name, int known)
{
    time_t now = mono_s();
    net_slot(w, net, now, 1)->n++;
    if (!known)
        return;
    acct *a = acct_slot(w, name, 1);
    if (a->n > 0 && now - a->last > FAIL_QUIET_S)
        a->n = 0;
    a->n++;
    a->last = now;
}

/* A good login makes its network the account's exempt one. It clears the
 * count only when it came from elsewhere (it had to wait like any other):
 * the owner logging in from the office must not hand an attacker
 * elsewhere five free guesses again. */
static void login_good(web *w, const char *net, const char *name)
{
    acct *a = acct_slot(w, name, 1);
    if (strcmp(a->good_net, net) != 0)
        a->n = 0;
    snprintf(a->good_net, sizeof a->good_net, "%s", net);
}

/* The account's last good login came from net: its owner, most likely. */
static int login_trusted(web *w, const char *net, const char *name)
{
    const acct *a = acct_slot(w, name, 0);
    return a != NULL && a->good_net[0] != '\0' && strcmp(a->good_net, net) == 0;
}

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
    web__page_start(&o, _("Log in"));
    web__putf(&o, "<h1>%s</h1>\n", _("fieldsync — managers"));
    if (msg != NULL) {
        web__puts(&o, "<p class=\"err\">");
        web__esc(&o, msg);
        web__puts(&o, "</p>\n");
    }
    web__putf(&o,
              "<form method=\"post\" action=\"/login\">"
              "<label>%s <input name=\"name\" autocomplete=\"username\"></label> ",
              _("Name"));
    web__putf(&o,
              "<label>%s <input name=\"password\" type=\"password\" "
              "autocomplete=\"current-password\"></label>"
              "<input type=\"hidden\" name=\"csrf\" value=\"",
              _("Password"));
    web__puts(&o, csrf);
    web__putf(&o, "\"> <button type=\"submit\">%s</button></form>\n", _("Log in"));
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0], "%s=%s%s; Max-Age=900",
             web__cookie(w, 1), csrf, web__cookie_attrs(w, 1));
    web__finish(&o, r, status);
}

/* One login between its two halves: read on the server's thread, the
 * password verified on a hub worker (or inline without a hub), finished on
 * the server's thread. Guarded memory: it holds the password and the hash.
 * login_finish frees it. */
typedef struct login_job {
    web *w;
    int checked; /* name and password given, so there is a check to make */
    fs_login_check check;
    char pw[FS_PASSWORD_MAX + 1];
    char name[FS_USER_NAME_MAX + 1];
    char net[NET_MAX];
    char peer[64];
    int rc; /* the verification's */
    fs_role role;
    char team[FS_USER_NAME_MAX + 1];
    web_lang lang; /* the request's, for the answer finished later */
} login_job;

/* On a worker: the Argon2 verification alone, touching no store. */
static void login_work(void *ctx)
{
    login_job *j = ctx;
    j->rc = j->checked ? fs_login_verify(&j->check, j->pw, strlen(j->pw), &j->role, j->team)
                       : FS_EAUTH;
    sodium_memzero(j->pw, sizeof j->pw);
    sodium_memzero(&j->check, sizeof j->check);
}

/* On the server's thread: counts, audit, session and the answer r (NULL:
 * the server stopped first, nothing but the freeing is left). */
static void login_finish(void *ctx, fs_store *store, fs_http_response *r)
{
    login_job *j = ctx;
    web *w = j->w;
    if (r == NULL)
        goto done;
    web__lang_use(j->lang);
    if (j->rc != 0) {
        /* A name no user has is kept out of the log: it is often a
         * password typed into the wrong field (issue 20.3). Counted per
         * network and name per minute: a flood of guesses is one entry. */
        uint8_t stamp_of[FS_USER_STAMP_BYTES];
        int known = j->checked && fs_store_user_stamp(store, j->name, stamp_of) == 0;
        login_failed(w, j->net, j->name, known);
        const char *who = known ? auditable(j->name) : "unknown name";
        (void)fs_store_note_login_failure(store, j->net, who, "dashboard login");
        web__login_page(w, r, _("Wrong name or password."), 401);
        goto done;
    }
    uint8_t stamp[FS_USER_STAMP_BYTES];
    if (fs_store_user_stamp(store, j->name, stamp) != 0) { /* changed in between: not this login */
        web__login_page(w, r, _("Wrong name or password."), 401);
        goto done;
    }
    login_good(w, j->net, j->name);
    session *s = session_new(w);
    memcpy(s->stamp, stamp, sizeof stamp);
    snprintf(s->user, sizeof s->user, "%s", j->name);
    snprintf(s->team, sizeof s->team, "%s", j->team);
    s->role = j->role;
    (void)fs_audit_append(fs_store_audit(store), "login", auditable(j->name), "dashboard",
                          auditable(j->peer));
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0], "%s=%s%s; Max-Age=%d", web__cookie(w, 0),
             s->token, web__cookie_attrs(w, 0), SESS_LIFE_S);
    snprintf(r->set_cookie[1], sizeof r->set_cookie[1], "%s=%s; Max-Age=0", web__cookie(w, 1),
             web__cookie_attrs(w, 1));
    web__redirect(r, "/");
done:
    sodium_free(j); /* wipes */
}

void web__login(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    char csrf[TOKEN_HEX + 1], given[TOKEN_HEX + 2];
    login_job *j = sodium_malloc(sizeof *j);
    if (j == NULL) {
        r->status = 500;
        return;
    }
    memset(j, 0, sizeof *j);
    j->w = w;
    j->lang = web__lang();
    int have_name = web_form_field(rq->body, "name", j->name, sizeof j->name);
    int have_pw = web_form_field(rq->body, "password", j->pw, sizeof j->pw);
    if (!web_cookie_value(rq->cookie, web__cookie(w, 1), csrf) ||
        !web_form_field(rq->body, "csrf", given, sizeof given) || !web__same_token(csrf, given)) {
        sodium_free(j);
        web__login_page(w, r, _("The form expired; log in again."), 403);
        return;
    }
    long wait = 0;
    fs_net_network_of(rq->peer, j->net);
    snprintf(j->peer, sizeof j->peer, "%s", rq->peer);
    const char *limited = login_limited(w, j->net, j->name, &wait);
    if (limited != NULL) {
        sodium_free(j);
        web__login_page(w, r, limited, 429);
        snprintf(r->retry_after, sizeof r->retry_after, "%d",
                 (int)(wait > FAIL_WINDOW_S ? FAIL_WINDOW_S : wait));
        r->hold_ms = REFUSAL_HOLD_MS; /* the tarpit: see web__login's end */
        return;
    }
    j->checked = have_name && have_pw;
    if (j->checked && fs_store_login_lookup(store, j->name, &j->check) != 0) {
        sodium_free(j);
        r->status = 500;
        return;
    }
    if (w->defer == NULL || !j->checked) { /* no workers (bench_web), or nothing to verify */
        login_work(j);
        login_finish(j, store, r);
        return;
    }
    /* The Argon2 check on a worker: the server's thread goes on serving the
     * devices meanwhile (issue 20.1). Beyond the workers' queue, 503: a
     * flood of logins is answered cheaply. A login from the account's last
     * good network goes first (its owner, most likely, during an attack
     * from elsewhere). */
    int trusted = login_trusted(w, j->net, j->name);
    int rc = w->defer(w->defer_ctx, rq, r, trusted, login_work, login_finish, j);
    if (rc != 0) {
        /* A refusal is held half a second before it is sent (a tarpit, on
         * the transport's timer: no CPU), so a client posting logins in a
         * loop makes two a second, however fast the server answers. Not
         * for a login from the account's last good network: its owner is
         * told at once. */
        sodium_free(j);
        web__login_page(w, r, _("The server is busy checking other logins; try again in a moment."),
                        rc == FS_EBUSY ? 503 : 500);
        snprintf(r->retry_after, sizeof r->retry_after, "%d", 2);
        if (rc == FS_EBUSY && !trusted)
            r->hold_ms = REFUSAL_HOLD_MS;
    }
}
