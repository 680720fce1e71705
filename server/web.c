/*
 * The managers' dashboard (issue 6, begun): plain HTTP on serve's port,
 * handled on the transport's thread with the live store (fs_http_handler).
 *
 * Access: managers and admins log in with the password of `user passwd`
 * (fs_store_login). A session is a random 256-bit token in an HttpOnly,
 * SameSite=Strict cookie (Secure once serve speaks TLS), kept in memory,
 * ended by logout, 30 idle minutes or 8 hours. Every form carries a CSRF
 * token: the session's, or before login a token in a cookie of its own
 * (double submit), compared in constant time. Five failed logins from one
 * address for one name, or twenty from one address, within five minutes
 * answer 429 until the window passes. Pages hold no script at all and the
 * transport sends a Content-Security-Policy that allows none.
 *
 * Pages: / shows a manager their team's compliance for a week (the rules
 * engine on the server's replica), an admin the users and devices. Logins,
 * failures and report reads are audited.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fieldsync/audit.h"
#include "fieldsync/enroll.h"
#include "fieldsync/records.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "web.h"

#define SESS_MAX      256
#define SESS_IDLE_S   (30 * 60)
#define SESS_LIFE_S   (8 * 3600)
#define FAIL_WINDOW_S (5 * 60)
#define FAIL_PER_NAME 5
#define FAIL_PER_PEER 20
#define FAIL_SLOTS    512
#define TOKEN_HEX     WEB_TOKEN_HEX
#define MIN_PER_DAY   1440

typedef struct session {
    int used;
    char token[TOKEN_HEX + 1], csrf[TOKEN_HEX + 1];
    char user[FS_USER_NAME_MAX + 1], team[FS_USER_NAME_MAX + 1];
    fs_role role;
    time_t created, seen;
} session;

typedef struct failure {
    char peer[64], name[FS_USER_NAME_MAX + 1];
    time_t first;
    int n;
} failure;

struct web {
    session s[SESS_MAX];
    failure f[FAIL_SLOTS];
    time_t (*clock)(void);
};

static time_t wall(void)
{
    return time(NULL);
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

/* ---- output ---- */

typedef struct out {
    char *p;
    size_t n, cap;
    int failed;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *more = realloc(o->p, cap);
        if (more == NULL) {
            o->failed = 1;
            return;
        }
        o->p = more;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(out *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* Text into HTML: every character that means something there escaped. */
static void esc(out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<':
            puts_(o, "&lt;");
            break;
        case '>':
            puts_(o, "&gt;");
            break;
        case '&':
            puts_(o, "&amp;");
            break;
        case '"':
            puts_(o, "&quot;");
            break;
        case '\'':
            puts_(o, "&#39;");
            break;
        default:
            put(o, s, 1);
        }
    }
}

/* Text into a URL's query: everything but unreserved characters as %XX. */
static void url_esc(out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            put(o, s, 1);
        else
            putf(o, "%%%02X", c);
    }
}

static void page_start(out *o, const char *title)
{
    puts_(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<link rel=\"stylesheet\" href=\"/style.css\"><title>");
    esc(o, title);
    puts_(o, " — fieldsync</title></head><body>\n");
}

static void finish(out *o, fs_http_response *r, int status)
{
    puts_(o, "</body></html>\n");
    r->status = o->failed ? 500 : status;
    r->content_type = "text/html; charset=utf-8";
    r->body = o->p;
    r->body_len = o->failed ? 0 : o->n;
}

static void redirect(fs_http_response *r, const char *to)
{
    r->status = 303;
    snprintf(r->location, sizeof r->location, "%s", to);
}

/* ---- input ---- */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The value of field name in a form body (application/x-www-form-urlencoded),
 * decoded into out (cap bytes, NUL-terminated). 1 if present and it fit. */
int web_form_field(const char *body, const char *name, char *outb, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = body; p != NULL && *p;) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t n = 0;
            for (const char *q = p + nl + 1; q < end; q++) {
                char c = *q;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    if (end - q < 3)
                        return 0;
                    int hi = hexval(q[1]), lo = hexval(q[2]);
                    if (hi < 0 || lo < 0)
                        return 0;
                    c = (char)(hi * 16 + lo);
                    q += 2;
                }
                if (n + 1 >= cap || c == '\0')
                    return 0;
                outb[n++] = c;
            }
            outb[n] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* The value of cookie name (a token: hex digits only). */
int web_cookie_value(const char *header, const char *name, char out_[WEB_TOKEN_HEX + 1])
{
    size_t nl = strlen(name);
    for (const char *p = header; p != NULL && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t n = 0;
            while (v[n] && v[n] != ';' && n <= TOKEN_HEX)
                n++;
            if (n != TOKEN_HEX)
                return 0;
            for (size_t i = 0; i < n; i++)
                if (hexval(v[i]) < 0)
                    return 0;
            memcpy(out_, v, n);
            out_[n] = '\0';
            return 1;
        }
        p = strchr(p, ';');
    }
    return 0;
}

static void new_token(char out_[TOKEN_HEX + 1])
{
    unsigned char raw[TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out_, TOKEN_HEX + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

static int same_token(const char *a, const char *b)
{
    return strlen(a) == TOKEN_HEX && strlen(b) == TOKEN_HEX && sodium_memcmp(a, b, TOKEN_HEX) == 0;
}

/* ---- sessions and failures ---- */

static session *session_of(web *w, const fs_http_request *rq)
{
    char tok[TOKEN_HEX + 1];
    if (!web_cookie_value(rq->cookie, "fs_session", tok))
        return NULL;
    time_t now = w->clock();
    for (int i = 0; i < SESS_MAX; i++) {
        session *s = &w->s[i];
        if (!s->used || !same_token(s->token, tok))
            continue;
        if (now - s->seen > SESS_IDLE_S || now - s->created > SESS_LIFE_S) {
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

/* ---- pages ---- */

static const char css[] =
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".green{background:#d8f0d8}.amber{background:#fbe7b5}.red{background:#f4c7c3}"
    "form.inline{display:inline}.err{color:#a00}";

static void login_page(fs_http_response *r, const char *msg, int status)
{
    out o = {0};
    char csrf[TOKEN_HEX + 1];
    new_token(csrf);
    page_start(&o, "Log in");
    puts_(&o, "<h1>fieldsync — managers</h1>\n");
    if (msg != NULL) {
        puts_(&o, "<p class=\"err\">");
        esc(&o, msg);
        puts_(&o, "</p>\n");
    }
    puts_(&o, "<form method=\"post\" action=\"/login\">"
              "<label>Name <input name=\"name\" autocomplete=\"username\"></label> "
              "<label>Password <input name=\"password\" type=\"password\" "
              "autocomplete=\"current-password\"></label>"
              "<input type=\"hidden\" name=\"csrf\" value=\"");
    puts_(&o, csrf);
    puts_(&o, "\"> <button type=\"submit\">Log in</button></form>\n");
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0],
             "fs_login=%s; HttpOnly; SameSite=Strict; Path=/login; Max-Age=900", csrf);
    finish(&o, r, status);
}

static void logout_form(out *o, const session *s)
{
    puts_(o, "<form class=\"inline\" method=\"post\" action=\"/logout\">"
             "<input type=\"hidden\" name=\"csrf\" value=\"");
    puts_(o, s->csrf);
    puts_(o, "\"><button type=\"submit\">Log out</button></form>\n");
}

/* Red when anything is overdue or missed, amber when due soon, green when
 * all is on time, none when there was nothing to judge. */
static const char *rag(const fs_rule_tally *t)
{
    if (t->n[FS_ST_OVERDUE] + t->n[FS_ST_MISSED] > 0)
        return "red";
    if (t->n[FS_ST_DUE_SOON] > 0)
        return "amber";
    return t->n[FS_ST_ON_TIME] > 0 ? "green" : "";
}

typedef struct team_reps {
    const char *team;
    char (*names)[FS_USER_NAME_MAX + 1];
    size_t n;
    int failed;
} team_reps;

static int collect_rep(const char *name, fs_role role, const char *team, void *ctx)
{
    team_reps *t = ctx;
    if (role != FS_ROLE_REP || strcmp(team, t->team) != 0)
        return 0;
    char(*more)[FS_USER_NAME_MAX + 1] = realloc(t->names, (t->n + 1) * sizeof *more);
    if (more == NULL)
        return FS_ENOMEM;
    t->names = more;
    snprintf(t->names[t->n++], FS_USER_NAME_MAX + 1, "%s", name);
    return 0;
}

/* 1 if name is one of the team's reps. */
static int in_team(const team_reps *t, const char *name)
{
    for (size_t k = 0; k < t->n; k++)
        if (strcmp(t->names[k], name) == 0)
            return 1;
    return 0;
}

/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM", or "never". */
static void when_ms(uint64_t ms, char out_[32])
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (ms == 0 || localtime_r(&t, &tm) == NULL || strftime(out_, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out_, 32, "never");
}

typedef struct device_walk {
    out *o;
    fs_store *store;
    const team_reps *team; /* NULL: every device (the admin) */
} device_walk;

/* A device with its sync health: last seen, lease, revoked. */
static int device_row(const fs_store_device *d, void *ctx)
{
    device_walk *dw = ctx;
    if (dw->team != NULL && !in_team(dw->team, d->user))
        return 0;
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    char a[32], b[32], c[32];
    (void)fs_store_device_sync(dw->store, d->pk, &seen, &lease, &pending, &oldest);
    when_ms(seen, a);
    when_ms(lease, b);
    when_ms(oldest, c);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u;
    out *o = dw->o;
    puts_(o, "<tr><td>");
    esc(o, d->user);
    puts_(o, "</td><td>");
    esc(o, d->name);
    puts_(o, "</td><td>");
    esc(o, d->fingerprint);
    putf(o, "</td><td>%s</td>", a);
    if (pending == 0)
        puts_(o, "<td class=\"green\">none</td>");
    else
        putf(o, "<td class=\"%s\">%llu since %s</td>",
             now > oldest && now - oldest > 86400000u ? "red" : "amber",
             (unsigned long long)pending, c);
    putf(o, "<td class=\"%s\">%s</td>",
         lease == 0                ? ""
         : lease < now             ? "red"
         : lease - now < 86400000u ? "amber"
                                   : "green",
         b);
    puts_(o, d->revoked ? "<td class=\"red\">revoked</td></tr>\n" : "<td>active</td></tr>\n");
    return 0;
}

static const char device_head[] = "<table><tr><th>User</th><th>Device</th><th>Fingerprint</th>"
                                  "<th>Last sync</th><th>Pending (oldest)</th><th>Lease until</th>"
                                  "<th>State</th></tr>\n";

typedef struct conflict_walk {
    out *o;
    fs_store *store;
    const team_reps *team;
    size_t n;
} conflict_walk;

static void value_html(out *o, const fs_value *v)
{
    if (v->type == FS_TEXT) {
        char *t = strndup(v->p, v->n);
        esc(o, t ? t : "");
        free(t);
    } else if (v->type == FS_INT) {
        putf(o, "%lld", (long long)v->i);
    } else if (v->type == FS_NULL) {
        puts_(o, "(empty)");
    } else {
        puts_(o, "(binary)");
    }
}

/* An open conflict in one of the team's records. */
static int conflict_row(const fs_conflict *c, void *ctx)
{
    conflict_walk *cw = ctx;
    char owner[FS_USER_NAME_MAX + 1] = "";
    if (fs_store_owner(cw->store, c->table, c->row, owner) != 0)
        return 0;
    if (!in_team(cw->team, owner))
        return 0;
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    const char *tname = c->table < nt ? t[c->table].name : "?";
    const char *cname = c->table < nt && c->column < t[c->table].ncolumns
                            ? t[c->table].columns[c->column].name
                            : "?";
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(c->row, hex);
    out *o = cw->o;
    puts_(o, "<tr><td>");
    esc(o, owner);
    putf(o, "</td><td>%s %.8s</td><td>%s</td><td>", tname, hex, cname);
    value_html(o, &c->winner);
    puts_(o, "</td><td>");
    value_html(o, &c->loser);
    puts_(o, "</td></tr>\n");
    cw->n++;
    return 0;
}

/* Now, in the calendar's zone, as civil minutes. */
static int64_t civil_now(const fs_calendar *cal)
{
    int64_t now = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    (void)fs_calendar_now(cal, (int64_t)ts.tv_sec * 1000, &now);
    return now;
}

/* The week of the query (?week=YYYY-Www), else the current one. */
static int64_t week_from(const fs_http_request *rq, int64_t now, char week[16])
{
    char wanted[16];
    int64_t from;
    if (!web_form_field(rq->query, "week", wanted, sizeof wanted) ||
        fs_iso_week_parse(wanted, &from) != 0) {
        int64_t day = fs_civil_day(now);
        from = (day - (fs_civil_weekday(day) + 6) % 7) * MIN_PER_DAY;
    }
    fs_iso_week_format(from, week);
    return from;
}

static void team_page(fs_store *store, const session *s, const fs_http_request *rq,
                      fs_http_response *r)
{
    static const struct {
        const char *rule, *heading;
    } cols[] = {
        {"contact_recorded", "Contacts recorded in 24 h"},
        {"crm_accuracy", "CRM accuracy (98 %)"},
        {"commitment_due", "Commitments"},
        {"commitment_followup", "Follow-ups"},
        {"key_account_monthly", "Key accounts this month"},
        {"daily_plan", "Daily plans by 09:00"},
        {"daily_summary", "Daily summaries"},
        {"self_check", "Self-checks"},
        {"weekly_plan_approved", "Weekly plan approved"},
        {"complaint_outcome", "Complaints (3 working days)"},
        {"question_answered", "Questions (24 h)"},
        {"spot_check_weekly", "Spot-checked this week"},
    };
    fs_calendar cal;
    fs_calendar_default(&cal);
    int64_t now = civil_now(&cal);
    char week[16];
    int64_t from = week_from(rq, now, week);
    team_reps reps = {s->team, NULL, 0, 0};
    fs_compliance c;
    memset(&c, 0, sizeof c);
    int rc = fs_store_users(store, collect_rep, &reps);
    const char **names = rc == 0 && reps.n > 0 ? calloc(reps.n, sizeof *names) : NULL;
    for (size_t i = 0; names != NULL && i < reps.n; i++)
        names[i] = reps.names[i];
    if (rc == 0 && reps.n > 0)
        rc = names == NULL ? FS_ENOMEM
                           : fs_compliance_get(fs_store_replica(store), &cal, now, from,
                                               from + 7 * MIN_PER_DAY, names, reps.n, &c);
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, s->team, week);

    out o = {0};
    page_start(&o, "Team");
    puts_(&o, "<h1>Team ");
    esc(&o, s->team);
    puts_(&o, "</h1>\n<p>");
    esc(&o, s->user);
    puts_(&o, " — week ");
    esc(&o, week);
    puts_(&o, " ");
    logout_form(&o, s);
    puts_(&o, "</p>\n");
    if (rc != 0) {
        puts_(&o, "<p class=\"err\">The report could not be computed.</p>\n");
    } else if (c.nreps == 0) {
        puts_(&o, "<p>No reps in this team yet.</p>\n");
    } else {
        /* The share of each rep's deadlines met, as bars (SVG, no script). */
        putf(&o,
             "<svg class=\"chart\" width=\"520\" height=\"%zu\" role=\"img\" "
             "aria-label=\"deadlines met per rep\">",
             24 * c.nreps + 8);
        for (size_t i = 0; i < c.nreps; i++) {
            uint32_t on = 0, all = 0;
            for (size_t k = 0; k < c.nrules; k++)
                for (int st = 0; st < FS_ST_COUNT; st++) {
                    all += c.reps[i].by_rule[k].n[st];
                    on += st == FS_ST_ON_TIME ? c.reps[i].by_rule[k].n[st] : 0;
                }
            unsigned pct = all ? (unsigned)(100u * on / all) : 0;
            const char *fill = pct >= 90 ? "#5a9e5a" : pct >= 70 ? "#d9a21b" : "#c0392b";
            putf(&o, "<text x=\"0\" y=\"%zu\" font-size=\"13\">", 24 * i + 20);
            esc(&o, c.reps[i].rep);
            putf(&o,
                 "</text><rect x=\"120\" y=\"%zu\" width=\"%u\" height=\"16\" fill=\"%s\">"
                 "</rect><text x=\"%u\" y=\"%zu\" font-size=\"13\">%u%%</text>",
                 24 * i + 6, 3 * pct + 1, fill, 130 + 3 * pct, 24 * i + 20, pct);
        }
        puts_(&o, "</svg>\n");
        puts_(&o, "<table><tr><th>Rep</th>");
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            puts_(&o, "<th>");
            esc(&o, cols[k].heading);
            puts_(&o, "</th>");
        }
        puts_(&o, "</tr>\n");
        for (size_t i = 0; i < c.nreps; i++) {
            const fs_rep_metrics *m = &c.reps[i];
            puts_(&o, "<tr><td><a href=\"/rep?name=");
            url_esc(&o, m->rep);
            puts_(&o, "&amp;week=");
            puts_(&o, week);
            puts_(&o, "\">");
            esc(&o, m->rep);
            puts_(&o, "</a></td>");
            for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
                const fs_rule_tally *t = fs_compliance_rule(&c, m, cols[k].rule);
                uint32_t all = t->n[0] + t->n[1] + t->n[2] + t->n[3];
                putf(&o, "<td class=\"%s\">", rag(t));
                if (all == 0)
                    puts_(&o, "–");
                else
                    putf(&o, "%u/%u on time", t->n[FS_ST_ON_TIME], all);
                puts_(&o, "</td>");
            }
            puts_(&o, "</tr>\n");
        }
        puts_(&o, "</table>\n");
    }
    /* Sync health of the team's devices, and conflicts awaiting a decision. */
    puts_(&o, "<h2>Devices</h2>\n");
    puts_(&o, device_head);
    device_walk dw = {&o, store, &reps};
    if (fs_store_devices(store, device_row, &dw) != 0)
        puts_(&o, "<tr><td colspan=\"7\">the devices could not be read</td></tr>");
    puts_(&o, "</table>\n<h2>Conflicts awaiting a decision</h2>\n<table><tr><th>Rep</th>"
              "<th>Record</th><th>Field</th><th>Kept</th><th>Lost</th></tr>\n");
    conflict_walk cw = {&o, store, &reps, 0};
    if (fs_conflicts(fs_store_replica(store), 0, conflict_row, &cw) != 0)
        puts_(&o, "<tr><td colspan=\"5\">the conflicts could not be read</td></tr>");
    else if (cw.n == 0)
        puts_(&o, "<tr><td colspan=\"5\">none</td></tr>");
    puts_(&o, "</table>\n");
    fs_compliance_free(&c);
    free(names);
    free(reps.names);
    finish(&o, r, 200);
}

static int user_row(const char *name, fs_role role, const char *team, void *ctx)
{
    out *o = ctx;
    static const char *const roles[] = {"?", "rep", "manager", "admin"};
    puts_(o, "<tr><td>");
    esc(o, name);
    puts_(o, "</td><td>");
    puts_(o, (unsigned)role < 4 ? roles[role] : "?");
    puts_(o, "</td><td>");
    esc(o, team);
    puts_(o, "</td></tr>\n");
    return 0;
}

static void admin_page(fs_store *store, const session *s, fs_http_response *r)
{
    out o = {0};
    page_start(&o, "Users and devices");
    puts_(&o, "<h1>Users and devices</h1>\n<p>");
    esc(&o, s->user);
    puts_(&o, " — <a href=\"/audit\">audit log</a> ");
    logout_form(&o, s);
    puts_(&o, "</p>\n<h2>Users</h2>\n<table><tr><th>Name</th><th>Role</th><th>Team</th></tr>\n");
    int rc = fs_store_users(store, user_row, &o);
    puts_(&o, "</table>\n<h2>Devices</h2>\n");
    puts_(&o, device_head);
    device_walk dw = {&o, store, NULL};
    if (rc == 0)
        rc = fs_store_devices(store, device_row, &dw);
    puts_(&o, "</table>\n");
    if (rc != 0)
        puts_(&o, "<p class=\"err\">The lists could not be read.</p>\n");
    finish(&o, r, 200);
}

typedef struct rep_find {
    out *o;
    size_t n;
    uint8_t (*visits)[FS_ID_BYTES]; /* this week's visits, for the spot-check form */
    char (*visit_times)[17];
    size_t nvisits;
} rep_find;

static int rep_row(const fs_finding *f, void *ctx)
{
    rep_find *rf = ctx;
    static const char *const cls[] = {"green", "amber", "red", "red"};
    char due[17], done[17] = "–";
    fs_civil_format(f->deadline, due);
    if (f->done >= 0)
        fs_civil_format(f->done, done);
    putf(rf->o, "<tr class=\"%s\"><td>%s</td><td>", cls[f->status], fs_rule_status_name(f->status));
    esc(rf->o, f->rule->text);
    putf(rf->o, "</td><td>%s</td><td>%s</td></tr>\n", due, done);
    rf->n++;
    if (strcmp(f->rule->id, "contact_recorded") == 0 && f->has_row && rf->nvisits < 200) {
        uint8_t(*v)[FS_ID_BYTES] = realloc(rf->visits, (rf->nvisits + 1) * sizeof *v);
        char(*t)[17] = v ? realloc(rf->visit_times, (rf->nvisits + 1) * sizeof *t) : NULL;
        if (v != NULL)
            rf->visits = v;
        if (t == NULL)
            return FS_ENOMEM;
        rf->visit_times = t;
        memcpy(rf->visits[rf->nvisits], f->row, FS_ID_BYTES);
        fs_civil_format(f->start, rf->visit_times[rf->nvisits]);
        rf->nvisits++;
    }
    return 0;
}

static void hidden(out *o, const char *name, const char *value)
{
    putf(o, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    esc(o, value);
    puts_(o, "\">");
}

/* The supervisor's actions the record rules offer on a plan in status
 * (approve and return a submitted one), as one form of buttons. */
static void plan_buttons(const session *s, const char *rep, const char *hex, const char *status,
                         out *o)
{
    const fs_record_rules *rr = fs_record_rules_of("weekly_plan");
    int shown = 0;
    for (size_t i = 0; i < rr->nactions; i++) {
        const fs_record_action *a = &rr->actions[i];
        if (!(a->by & FS_BY_SUPERVISOR) || a->from[0] == NULL ||
            !fs_record_action_from(a, status) ||
            !fs_record_transition_ok("weekly_plan", status, a->to, FS_RECORD_MANAGER))
            continue;
        if (!shown++) {
            puts_(o, "<form class=\"inline\" method=\"post\" action=\"/plan\">");
            hidden(o, "csrf", s->csrf);
            hidden(o, "plan", hex);
            hidden(o, "rep", rep);
            puts_(o, "<input name=\"comment\" placeholder=\"comment (to return)\">");
        }
        putf(o, " <button type=\"submit\" name=\"do\" value=\"%s\">%c%s</button>", a->name,
             a->name[0] - 'a' + 'A', a->name + 1);
    }
    if (shown)
        puts_(o, "</form>");
}

/* The rep's weekly plans; a submitted one gets approve and return. */
static int plan_forms(fs_store *store, const session *s, const char *rep, out *o)
{
    fs_rows *it = NULL;
    fs_value eq = fs_text(rep);
    int rc = fs_rows_open(&it, fs_store_replica(store), "weekly_plan", "rep", &eq, "period_start");
    puts_(o,
          "<h2>Weekly plans</h2>\n<table><tr><th>Week</th><th>Status</th><th>Review</th></tr>\n");
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        rc = 0;
        fs_value from, to, st;
        char hex[2 * FS_ID_BYTES + 1], sbuf[32] = "";
        if (fs_rows_get(it, "period_start", &from) != 0 ||
            fs_rows_get(it, "period_end", &to) != 0 || fs_rows_get(it, "status", &st) != 0)
            continue;
        if (st.type == FS_TEXT && st.n < sizeof sbuf)
            memcpy(sbuf, st.p, st.n);
        fs_id_to_hex(fs_rows_id(it), hex);
        putf(o, "<tr><td>%.*s .. %.*s</td><td>", from.type == FS_TEXT ? (int)from.n : 0,
             (const char *)from.p, to.type == FS_TEXT ? (int)to.n : 0, (const char *)to.p);
        esc(o, sbuf);
        puts_(o, "</td><td>");
        plan_buttons(s, rep, hex, sbuf, o);
        puts_(o, "</td></tr>\n");
    }
    fs_rows_close(it);
    puts_(o, "</table>\n");
    return rc < 0 ? rc : 0;
}

/* A spot-check of one of this week's visits. */
static void spotcheck_form(const session *s, const char *rep, const rep_find *rf, out *o)
{
    puts_(o, "<h2>Spot-check a visit record</h2>\n");
    if (rf->nvisits == 0) {
        puts_(o, "<p>No visits this week.</p>\n");
        return;
    }
    puts_(o, "<form method=\"post\" action=\"/spotcheck\">");
    hidden(o, "csrf", s->csrf);
    hidden(o, "rep", rep);
    puts_(o, "<label>Visit <select name=\"record\">");
    for (size_t i = 0; i < rf->nvisits; i++) {
        char hex[2 * FS_ID_BYTES + 1];
        fs_id_to_hex(rf->visits[i], hex);
        putf(o, "<option value=\"%s\">%s (%.8s)</option>", hex, rf->visit_times[i], hex);
    }
    puts_(o, "</select></label> <label>Accurate <select name=\"accurate\">"
             "<option value=\"yes\">yes</option><option value=\"no\">no</option></select></label> "
             "<label>Comment <input name=\"comment\"></label> "
             "<button type=\"submit\">Record the spot-check</button></form>\n");
}

/* One rep's deadlines for a week, for their manager only: a rep of another
 * team is "not found", whoever asks. */
static void rep_page(fs_store *store, const session *s, const fs_http_request *rq,
                     fs_http_response *r)
{
    char name[FS_USER_NAME_MAX + 1] = "", week[16];
    team_reps reps = {s->team, NULL, 0, 0};
    int found = 0;
    if (web_form_field(rq->query, "name", name, sizeof name) &&
        fs_store_users(store, collect_rep, &reps) == 0)
        found = in_team(&reps, name);
    free(reps.names);
    if (!found) {
        out o = {0};
        page_start(&o, "Not found");
        puts_(&o, "<h1>No such rep in your team</h1><p><a href=\"/\">Back</a></p>\n");
        finish(&o, r, 404);
        return;
    }
    fs_calendar cal;
    fs_calendar_default(&cal);
    int64_t now = civil_now(&cal);
    int64_t from = week_from(rq, now, week);
    (void)fs_audit_append(fs_store_audit(store), "report_read", s->user, name, week);
    out o = {0};
    page_start(&o, name);
    puts_(&o, "<h1>");
    esc(&o, name);
    puts_(&o, "</h1>\n<p>Week ");
    esc(&o, week);
    puts_(&o, " — <a href=\"/\">team</a> ");
    logout_form(&o, s);
    puts_(&o, "</p>\n<table><tr><th>Status</th><th>Deadline</th><th>Due</th><th>Done</th></tr>\n");
    const char *one[] = {name};
    rep_find rf = {&o, 0, NULL, NULL, 0};
    int rc = fs_rules_eval(fs_store_replica(store), &cal, now, from, from + 7 * MIN_PER_DAY, one, 1,
                           rep_row, &rf);
    puts_(&o, "</table>\n");
    if (rc != 0)
        puts_(&o, "<p class=\"err\">The deadlines could not be computed.</p>\n");
    if (rc == 0)
        rc = plan_forms(store, s, name, &o);
    if (rc == 0)
        spotcheck_form(s, name, &rf, &o);
    free(rf.visits);
    free(rf.visit_times);
    finish(&o, r, 200);
}

static int audit_row(const fs_audit_entry *e, void *ctx)
{
    out *o = ctx;
    char when[32];
    time_t t = (time_t)(e->at_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(when, sizeof when, "?");
    putf(o, "<tr><td>%llu</td><td>%s</td><td>", (unsigned long long)e->seq, when);
    esc(o, e->kind);
    puts_(o, "</td><td>");
    esc(o, e->actor);
    puts_(o, "</td><td>");
    esc(o, e->subject);
    puts_(o, "</td><td>");
    esc(o, e->detail);
    puts_(o, "</td></tr>\n");
    return 0;
}

static void audit_page(fs_store *store, const session *s, fs_http_response *r)
{
    out o = {0};
    uint64_t entries = 0, first_bad = 0;
    int verified = fs_audit_verify(fs_store_audit(store), &entries, &first_bad);
    page_start(&o, "Audit log");
    puts_(&o, "<h1>Audit log</h1>\n<p><a href=\"/\">users and devices</a> ");
    logout_form(&o, s);
    puts_(&o, "</p>\n");
    if (verified == 0)
        putf(&o, "<p class=\"green\">%llu entries, chain intact</p>\n",
             (unsigned long long)entries);
    else
        putf(&o, "<p class=\"red\">the chain is broken at entry %llu</p>\n",
             (unsigned long long)first_bad);
    uint64_t after = entries > 500 ? entries - 500 : 0;
    puts_(&o, "<table><tr><th>#</th><th>UTC</th><th>Event</th><th>Actor</th><th>Subject</th>"
              "<th>Detail</th></tr>\n");
    int rc = fs_audit_list(fs_store_audit(store), after, 500, audit_row, &o);
    puts_(&o, "</table>\n");
    if (rc != 0)
        puts_(&o, "<p class=\"err\">The log could not be read.</p>\n");
    finish(&o, r, 200);
}

/* ---- actions ---- */

static int id_from_hex(const char *hex, uint8_t out_[FS_ID_BYTES])
{
    return fs_id_from_hex(hex, out_) == 0;
}

static void back_to_rep(fs_http_response *r, const char *rep)
{
    out o = {0};
    puts_(&o, "/rep?name=");
    url_esc(&o, rep);
    redirect(r, o.failed ? "/" : o.p);
    free(o.p);
}

/* POST /plan: approve or return a submitted weekly plan of the team. */
static void do_plan(fs_store *store, const session *s, const fs_http_request *rq,
                    fs_http_response *r)
{
    char planhex[2 * FS_ID_BYTES + 2], what[16], rep[FS_USER_NAME_MAX + 1], comment[1024] = "";
    uint8_t plan[FS_ID_BYTES];
    int given = web_form_field(rq->body, "plan", planhex, sizeof planhex) &&
                id_from_hex(planhex, plan) && web_form_field(rq->body, "do", what, sizeof what) &&
                web_form_field(rq->body, "rep", rep, sizeof rep);
    /* what: a supervisor's action on a plan, by the record rules */
    const fs_record_action *a = given ? fs_record_find_action("weekly_plan", what) : NULL;
    if (a == NULL || a->by != FS_BY_SUPERVISOR) {
        r->status = 400;
        return;
    }
    (void)web_form_field(rq->body, "comment", comment, sizeof comment);
    char today[17];
    fs_calendar cal;
    fs_calendar_default(&cal);
    fs_civil_format(civil_now(&cal), today);
    today[10] = '\0';
    /* The action's columns, as the record rules list them; the comment
     * goes with either (a return needs one: it says why). */
    fs_cell cells[FS_RECORD_MAX_SETS];
    size_t n = 0;
    for (size_t k = 0; k < FS_RECORD_MAX_SETS && a->sets[k].column != NULL; k++) {
        const fs_record_set *set = &a->sets[k];
        fs_value v = set->fill == FS_FILL_STATUS   ? fs_text(a->to)
                     : set->fill == FS_FILL_SIGNER ? fs_text(s->user)
                     : set->fill == FS_FILL_NOW    ? fs_text(today)
                     : set->fill == FS_FILL_TRUE   ? fs_int(1)
                     : comment[0]                  ? fs_text(comment)
                                                   : fs_null();
        if (set->fill == FS_FILL_GIVEN && set->required && comment[0] == '\0') {
            r->status = 400;
            return;
        }
        cells[n++] = (fs_cell){set->column, v};
    }
    int rc = fs_store_manager_write(store, s->user, "weekly_plan", plan, cells, n, NULL);
    if (rc == FS_ENOTFOUND)
        r->status = 404;
    else if (rc != 0)
        r->status = 400;
    else
        back_to_rep(r, rep);
}

/* POST /spotcheck: a spot-check of a visit of a rep of the team. */
static void do_spotcheck(fs_store *store, const session *s, const fs_http_request *rq,
                         fs_http_response *r)
{
    char hex[2 * FS_ID_BYTES + 2], acc[8], rep[FS_USER_NAME_MAX + 1], comment[1024] = "";
    uint8_t record[FS_ID_BYTES];
    if (!web_form_field(rq->body, "record", hex, sizeof hex) || !id_from_hex(hex, record) ||
        !web_form_field(rq->body, "accurate", acc, sizeof acc) ||
        !web_form_field(rq->body, "rep", rep, sizeof rep) ||
        (strcmp(acc, "yes") != 0 && strcmp(acc, "no") != 0)) {
        r->status = 400;
        return;
    }
    (void)web_form_field(rq->body, "comment", comment, sizeof comment);
    char when[17];
    fs_calendar cal;
    fs_calendar_default(&cal);
    fs_civil_format(civil_now(&cal), when);
    fs_cell cells[7] = {{"supervisor", fs_text(s->user)},
                        {"rep", fs_text(rep)},
                        {"record_table", fs_text("visit")},
                        {"record_id", fs_blob(record, FS_ID_BYTES)},
                        {"accurate", fs_int(strcmp(acc, "yes") == 0)},
                        {"checked_at", fs_text(when)},
                        {"comment", comment[0] ? fs_text(comment) : fs_null()}};
    int rc = fs_store_manager_write(store, s->user, "spot_check", NULL, cells, 7, NULL);
    if (rc == FS_ENOTFOUND)
        r->status = 404;
    else if (rc != 0)
        r->status = 400;
    else
        back_to_rep(r, rep);
}

/* ---- requests ---- */

static void do_login(web *w, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    char csrf[TOKEN_HEX + 1], given[TOKEN_HEX + 2], name[FS_USER_NAME_MAX + 1] = "";
    char *pw = sodium_malloc(FS_PASSWORD_MAX + 1);
    if (pw == NULL) {
        r->status = 500;
        return;
    }
    int have_name = web_form_field(rq->body, "name", name, sizeof name);
    int have_pw = web_form_field(rq->body, "password", pw, FS_PASSWORD_MAX + 1);
    if (!web_cookie_value(rq->cookie, "fs_login", csrf) ||
        !web_form_field(rq->body, "csrf", given, sizeof given) || !same_token(csrf, given)) {
        sodium_free(pw);
        login_page(r, "The form expired; log in again.", 403);
        return;
    }
    int by_name, by_peer;
    failures(w, rq->peer, name, &by_name, &by_peer);
    if (by_name >= FAIL_PER_NAME || by_peer >= FAIL_PER_PEER) {
        sodium_free(pw);
        login_page(r, "Too many failed logins; wait five minutes.", 429);
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
        (void)fs_audit_append(fs_store_audit(store), "auth_failed", "dashboard", auditable(name),
                              detail);
        login_page(r, "Wrong name or password.", 401);
        return;
    }
    session *s = session_new(w);
    snprintf(s->user, sizeof s->user, "%s", name);
    snprintf(s->team, sizeof s->team, "%s", team);
    s->role = role;
    (void)fs_audit_append(fs_store_audit(store), "login", auditable(name), "dashboard",
                          auditable(rq->peer));
    snprintf(r->set_cookie[0], sizeof r->set_cookie[0],
             "fs_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d", s->token, SESS_LIFE_S);
    snprintf(r->set_cookie[1], sizeof r->set_cookie[1],
             "fs_login=; HttpOnly; SameSite=Strict; Path=/login; Max-Age=0");
    redirect(r, "/");
}

void web_handle(void *ctx, fs_store *store, const fs_http_request *rq, fs_http_response *r)
{
    web *w = ctx;
    int get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0;
    if (get && strcmp(rq->path, "/style.css") == 0) {
        r->status = 200;
        r->content_type = "text/css; charset=utf-8";
        r->body = strdup(css);
        r->body_len = r->body ? strlen(css) : 0;
        if (r->body == NULL)
            r->status = 500;
        return;
    }
    if (get && strcmp(rq->path, "/login") == 0) {
        login_page(r, NULL, 200);
        return;
    }
    if (post && strcmp(rq->path, "/login") == 0) {
        do_login(w, store, rq, r);
        return;
    }
    session *s = session_of(w, rq);
    if (post && strcmp(rq->path, "/logout") == 0) {
        char given[TOKEN_HEX + 2];
        if (s == NULL || !web_form_field(rq->body, "csrf", given, sizeof given) ||
            !same_token(s->csrf, given)) {
            r->status = 403;
            return;
        }
        sodium_memzero(s, sizeof *s);
        snprintf(r->set_cookie[0], sizeof r->set_cookie[0],
                 "fs_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
        redirect(r, "/login");
        return;
    }
    int action = post && (strcmp(rq->path, "/plan") == 0 || strcmp(rq->path, "/spotcheck") == 0);
    if (action) {
        char given[TOKEN_HEX + 2];
        if (s == NULL || s->role != FS_ROLE_MANAGER ||
            !web_form_field(rq->body, "csrf", given, sizeof given) || !same_token(s->csrf, given)) {
            r->status = 403;
            return;
        }
        if (strcmp(rq->path, "/plan") == 0)
            do_plan(store, s, rq, r);
        else
            do_spotcheck(store, s, rq, r);
        return;
    }
    int page = strcmp(rq->path, "/") == 0 || strcmp(rq->path, "/rep") == 0 ||
               strcmp(rq->path, "/audit") == 0;
    if (get && page && s == NULL) {
        redirect(r, "/login");
        return;
    }
    if (get && strcmp(rq->path, "/") == 0) {
        if (s->role == FS_ROLE_ADMIN)
            admin_page(store, s, r);
        else
            team_page(store, s, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/rep") == 0 && s->role == FS_ROLE_MANAGER) {
        rep_page(store, s, rq, r);
        return;
    }
    if (get && strcmp(rq->path, "/audit") == 0 && s->role == FS_ROLE_ADMIN) {
        audit_page(store, s, r);
        return;
    }
    r->status = page ? 403 : 404;
}
