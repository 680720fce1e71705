/*
 * The dashboard's language (issue 18 point 3): the CLI's own catalog
 * (po/zh_CN.po compiled to share/locale/zh_CN/LC_MESSAGES/fieldsync.mo),
 * chosen per request.
 *
 * The process locale is never touched: serve's threads share it, and
 * glibc's gettext picks a catalog from the locale (and $LANGUAGE), which a
 * request on one thread must not switch under another. Instead the .mo
 * file is read once, at web_new, into memory that no one writes again, and
 * looked up here (its originals are sorted: a binary search). The language
 * of the request being answered is a thread-local, set by web_handle.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fieldsync/localedir.h"
#include "web.h"
#include "web_int.h"

#ifndef FS_LOCALEDIR
#define FS_LOCALEDIR "/usr/local/share/locale"
#endif

#define MO_MAX (8u << 20) /* a catalog larger than this is not ours */

typedef struct catalog {
    unsigned char *mo;
    size_t size;
    uint32_t n, orig, trans;
    int swap;
} catalog;

static catalog zh; /* written once by web__catalog_load, then only read */
static _Thread_local web_lang cur = WEB_EN;

static uint32_t u32_at(const catalog *c, size_t off)
{
    const unsigned char *p = c->mo + off;
    return c->swap
               ? (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24
               : (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The string of table entry i (table at off), or NULL when it lies outside
 * the file or is not NUL-terminated. */
static const char *entry(const catalog *c, uint32_t table, uint32_t i)
{
    size_t at = (size_t)table + 8u * (size_t)i;
    uint32_t len = u32_at(c, at), off = u32_at(c, at + 4);
    if ((uint64_t)off + len >= c->size || c->mo[(size_t)off + len] != '\0')
        return NULL;
    return (const char *)c->mo + off;
}

/* Checks a catalog whole: the header, both tables inside the file, every
 * string inside it and terminated, the originals sorted. 0 or -1. */
static int check(catalog *c)
{
    if (c->size < 28)
        return -1;
    uint32_t magic = u32_at(c, 0);
    if (magic == 0xde120495u)
        c->swap = 1;
    else if (magic != 0x950412deu)
        return -1;
    if ((u32_at(c, 4) >> 16) > 1) /* major revision */
        return -1;
    c->n = u32_at(c, 8);
    c->orig = u32_at(c, 12);
    c->trans = u32_at(c, 16);
    if ((uint64_t)c->orig + 8u * (uint64_t)c->n > c->size ||
        (uint64_t)c->trans + 8u * (uint64_t)c->n > c->size)
        return -1;
    const char *prev = NULL;
    for (uint32_t i = 0; i < c->n; i++) {
        const char *o = entry(c, c->orig, i), *t = entry(c, c->trans, i);
        if (o == NULL || t == NULL || (prev != NULL && strcmp(prev, o) >= 0))
            return -1;
        prev = o;
    }
    return 0;
}

/* The Chinese catalog in the catalogs' directory (fieldsync/localedir.h),
 * where the CLI finds it too. */
static void catalog_path(char *path, size_t size)
{
    char dir[4096 + 32];
    fs_locale_dir(FS_LOCALEDIR, dir, sizeof dir);
    snprintf(path, size, "%s/zh_CN/LC_MESSAGES/fieldsync.mo", dir);
}

int web__catalog_load(void)
{
    if (zh.mo != NULL)
        return 0;
    char path[4096 + 64];
    catalog_path(path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    catalog c = {0};
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > MO_MAX ||
        (c.mo = malloc((size_t)st.st_size)) == NULL) {
        fclose(f);
        return -1;
    }
    c.size = fread(c.mo, 1, (size_t)st.st_size, f);
    fclose(f);
    if (c.size != (size_t)st.st_size || check(&c) != 0) {
        free(c.mo);
        return -1;
    }
    zh = c;
    return 0;
}

void web__lang_use(web_lang lang)
{
    cur = lang;
}

web_lang web__lang(void)
{
    return cur;
}

const char *web__tr(const char *msgid)
{
    if (cur != WEB_ZH || zh.mo == NULL || msgid[0] == '\0')
        return msgid;
    uint32_t lo = 0, hi = zh.n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(msgid, entry(&zh, zh.orig, mid)); /* all checked at load */
        if (cmp == 0) {
            const char *t = entry(&zh, zh.trans, mid);
            return t[0] ? t : msgid;
        }
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return msgid;
}

/* ---- which language a request asks for ---- */

/* The language of one Accept-Language range ("zh-CN", "en"), -1 for one we
 * have no catalog for. Simplified Chinese: zh, zh-CN, zh-SG, zh-Hans... */
static int lang_of_range(const char *p, size_t n)
{
    if (n >= 2 && strncasecmp(p, "zh", 2) == 0 && (n == 2 || p[2] == '-')) {
        if (n == 2)
            return WEB_ZH;
        const char *sub = p + 3;
        size_t sn = n - 3;
        if ((sn >= 2 && (strncasecmp(sub, "cn", 2) == 0 || strncasecmp(sub, "sg", 2) == 0) &&
             (sn == 2 || sub[2] == '-')) ||
            (sn >= 4 && strncasecmp(sub, "hans", 4) == 0 && (sn == 4 || sub[4] == '-')))
            return WEB_ZH;
        return -1;
    }
    if (n >= 2 && strncasecmp(p, "en", 2) == 0 && (n == 2 || p[2] == '-'))
        return WEB_EN;
    return -1;
}

/* The q of ";q=0.8" parameters (1000 for 1), 1000 when none is given. */
static int quality(const char *p, const char *end)
{
    for (; p < end; p++) {
        if ((*p == 'q' || *p == 'Q') && p + 1 < end && p[1] == '=') {
            p += 2;
            int q = 0, digits = 0, whole = *p == '1';
            if (*p == '0' || *p == '1')
                p++;
            else
                return 0;
            if (p < end && *p == '.')
                for (p++; p < end && *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
                    q = q * 10 + (*p - '0');
            for (; digits < 3; digits++)
                q *= 10;
            return whole ? 1000 : q;
        }
    }
    return 1000;
}

web_lang web__lang_accept(const char *header)
{
    int best = WEB_EN, best_q = 0;
    for (const char *p = header; p != NULL && *p;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *semi = p;
        while (semi < end && *semi != ';')
            semi++;
        const char *tag_end = semi;
        if (semi == end)
            semi = NULL;
        while (tag_end > p && (tag_end[-1] == ' ' || tag_end[-1] == '\t'))
            tag_end--;
        int lang = lang_of_range(p, (size_t)(tag_end - p));
        int q = semi ? quality(semi, end) : 1000;
        if (lang >= 0 && q > best_q) {
            best = lang;
            best_q = q;
        }
        p = comma ? comma + 1 : NULL;
    }
    return (web_lang)best;
}

/* "zh" or "en" as a cookie's or a query's value; -1 for anything else. */
static int lang_word(const char *v, size_t n)
{
    if (n == 2 && strncmp(v, "zh", 2) == 0)
        return WEB_ZH;
    if (n == 2 && strncmp(v, "en", 2) == 0)
        return WEB_EN;
    return -1;
}

int web__lang_cookie(const char *header, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = header; p != NULL && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            return lang_word(v, strcspn(v, "; "));
        }
        p = strchr(p, ';');
    }
    return -1;
}

int web__lang_query(const char *query)
{
    char v[8];
    if (!web_form_field(query, "lang", v, sizeof v))
        return -1;
    return lang_word(v, strlen(v));
}
