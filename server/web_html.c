/*
 * The dashboard's HTTP input and output, shared by its pages (web.c) and its
 * login (web_auth.c): HTML written into a growing buffer with everything a
 * user or a peer typed escaped, the page frame, a response finished or
 * redirected; and the parsers of what a browser sends (an urlencoded form
 * field, a cookie holding a token), which tests/fuzz/fuzz_web.c fuzzes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/rules.h"
#include "fieldsync/store.h"
#include "web.h"
#include "web_int.h"

/* ---- output ---- */

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

void web__puts(out *o, const char *s)
{
    put(o, s, strlen(s));
}

void web__putf(out *o, const char *fmt, ...)
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
void web__esc(out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<':
            web__puts(o, "&lt;");
            break;
        case '>':
            web__puts(o, "&gt;");
            break;
        case '&':
            web__puts(o, "&amp;");
            break;
        case '"':
            web__puts(o, "&quot;");
            break;
        case '\'':
            web__puts(o, "&#39;");
            break;
        default:
            put(o, s, 1);
        }
    }
}

/* A path into a URL: as url_esc, '/' kept. */
void web__url_path(out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        char one[2] = {*s, '\0'};
        if (*s == '/')
            web__puts(o, "/");
        else
            web__url_esc(o, one);
    }
}

/* Text into a URL's query: everything but unreserved characters as %XX. */
void web__url_esc(out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            put(o, s, 1);
        else
            web__putf(o, "%%%02X", c);
    }
}

static _Thread_local const char *req_path, *req_query;

void web__request_use(const char *path, const char *query)
{
    req_path = path;
    req_query = query;
}

static _Thread_local char req_zone[64];

void web__zone_use(fs_store *store, const char *team)
{
    char tz[FS_TEAM_VALUE_MAX + 1];
    req_zone[0] = '\0';
    if (store != NULL && team != NULL && team[0] != '\0' &&
        fs_team_setting_get(fs_store_replica(store), team, FS_TEAM_TZ, tz, sizeof tz) == 0 &&
        strlen(tz) < sizeof req_zone)
        memcpy(req_zone, tz, strlen(tz) + 1);
}

/* A link to this page in lang ("zh" or "en"): its path and query, the
 * query's lang= replaced. */
static void lang_link(out *o, const char *lang, const char *label, const char *tag)
{
    web__puts(o, "<a href=\"");
    web__url_path(o, req_path != NULL ? req_path : "/login");
    web__puts(o, "?");
    for (const char *p = req_query; p != NULL && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > 0 && !(n >= 5 && strncmp(p, "lang=", 5) == 0)) {
            char part[1024];
            if (n < sizeof part) {
                memcpy(part, p, n);
                part[n] = '\0';
                char *eq = strchr(part, '=');
                if (eq != NULL)
                    *eq = '\0';
                web__url_esc(o, part);
                if (eq != NULL) {
                    web__puts(o, "=");
                    web__url_esc(o, eq + 1);
                }
                web__puts(o, "&amp;");
            }
        }
        p = amp ? amp + 1 : NULL;
    }
    web__putf(o, "lang=%s\" hreflang=\"%s\" lang=\"%s\">%s</a>", lang, tag, tag, label);
}

void web__page_start(out *o, const char *title)
{
    int zh = web__lang() == WEB_ZH;
    web__putf(o,
              "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
              "<link rel=\"stylesheet\" href=\"/style.css\"><title>",
              zh ? "zh-CN" : "en");
    web__esc(o, title);
    web__puts(o, " — fieldsync</title></head><body>\n<nav class=\"lang\" aria-label=\"");
    web__esc(o, _("Language"));
    web__puts(o, "\">");
    /* Each language named in itself; the other one is the link. */
    if (zh) {
        web__puts(o, "<strong>中文</strong> · ");
        lang_link(o, "en", "English", "en");
    } else {
        lang_link(o, "zh", "中文", "zh-CN");
        web__puts(o, " · <strong>English</strong>");
    }
    /* Every time on the pages is in this zone (the team's, else the
     * server's): named once per page. */
    char zone[64], abbr[16];
    int64_t now = (int64_t)fs_clock_wall_ms();
    if (req_zone[0] != '\0') {
        char said[160];
        snprintf(said, sizeof said, _("Times are in %s."), req_zone);
        web__puts(o, " <span class=\"zone\">");
        web__esc(o, said);
        web__puts(o, "</span>");
    } else if (fs_instant_format(abbr, sizeof abbr, now, 0, "%Z") == 0 &&
        fs_instant_format(
            zone, sizeof zone, now, 0,
            strcmp(abbr, "UTC") == 0 || strcmp(abbr, "GMT") == 0 ? "UTC" : "%Z (UTC%z)") == 0) {
        web__puts(o, " <span class=\"zone\">");
        web__putf(o, _("Times are in %s."), zone);
        web__puts(o, "</span>");
    }
    web__puts(o, "</nav>\n<main>\n");
}

void web__heads(out *o, ...)
{
    va_list ap;
    va_start(ap, o);
    web__puts(o, "<tr>");
    for (const char *h = va_arg(ap, const char *); h != NULL; h = va_arg(ap, const char *)) {
        web__puts(o, "<th>");
        web__esc(o, _(h));
        web__puts(o, "</th>");
    }
    va_end(ap);
    web__puts(o, "</tr>\n");
}

void web__finish(out *o, fs_http_response *r, int status)
{
    web__puts(o, "</main></body></html>\n");
    r->status = o->failed ? 500 : status;
    r->content_type = "text/html; charset=utf-8";
    r->body = o->p;
    r->body_len = o->failed ? 0 : o->n;
}

void web__redirect(fs_http_response *r, const char *to)
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
