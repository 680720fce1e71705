/*
 * The refused changes per device and per rep for the dashboard's devices
 * table and compliance view (web_refused.h). The store's push audits each
 * push with refusals as "refused=N reasonR=K ..." under the device's
 * fingerprint; this sums them. It reads the whole log: the dashboard's
 * pages are rare next to pushes, and the log holds counts, not values.
 * What is still open comes from the devices themselves: each tells the
 * server in its PULL (protocol version 4), kept as its refusal_tally row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/reason.h"
#include "store/audit.h"
#include "web_refused.h"

/* Marks the words for the catalog; web.c translates them (web_int.h _()). */
#define N_(s) (s)

/* The newest push's main reason: the reason with the most refusals in its
 * detail ("refused=3 reason11=1 reason19=2" -> 19). */
static uint32_t main_reason(const char *detail, uint64_t *total)
{
    uint32_t best = 0;
    unsigned long most = 0;
    *total = 0;
    const char *p = strstr(detail, "refused=");
    if (p != NULL)
        *total = strtoull(p + 8, NULL, 10);
    for (p = strstr(detail, " reason"); p != NULL; p = strstr(p + 1, " reason")) {
        char *end = NULL;
        unsigned long code = strtoul(p + 7, &end, 10);
        if (end == NULL || *end != '=')
            continue;
        unsigned long k = strtoul(end + 1, NULL, 10);
        if (k > most) {
            most = k;
            best = (uint32_t)code;
        }
    }
    return best;
}

/* The entry of the device fingerprint (of user), added when new; NULL when
 * out of memory. */
static web_refusal *device_entry(web_refusals *all, const char *fingerprint, const char *user)
{
    for (size_t i = 0; i < all->n; i++)
        if (strcmp(all->items[i].fingerprint, fingerprint) == 0)
            return &all->items[i];
    if (all->n == all->cap) {
        size_t cap = all->cap ? 2 * all->cap : 16;
        web_refusal *more = realloc(all->items, cap * sizeof *more);
        if (more == NULL)
            return NULL;
        all->items = more;
        all->cap = cap;
    }
    web_refusal *w = &all->items[all->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->fingerprint, sizeof w->fingerprint, "%s", fingerprint);
    snprintf(w->user, sizeof w->user, "%s", user);
    return w;
}

static int on_entry(const fs_audit_entry *e, void *ctx)
{
    web_refusals *all = ctx;
    if (strcmp(e->kind, "refused_write") != 0 || strlen(e->subject) != 16)
        return 0;
    uint64_t n = 0;
    uint32_t reason = main_reason(e->detail, &n);
    web_refusal *w = device_entry(all, e->subject, e->actor);
    if (w == NULL)
        return FS_ENOMEM;
    w->count += n;
    w->newest_reason = reason;
    w->newest_ms = e->at_ms;
    return 0;
}

static int on_tally(const fs_refusal_tally *t, void *ctx)
{
    web_refusal *w = device_entry(ctx, t->device, t->rep);
    if (w == NULL)
        return FS_ENOMEM;
    w->reported = 1;
    w->open = t->open;
    if (t->open > 0 && t->reason != 0)
        w->newest_reason = t->reason;
    return 0;
}

int web__refusals_load(fs_store *store, web_refusals *out)
{
    memset(out, 0, sizeof *out);
    int rc = fs_audit_list(fs_store_audit(store), 0, 0, on_entry, out);
    if (rc == 0)
        rc = fs_refusal_tallies(fs_store_replica(store), NULL, on_tally, out);
    if (rc != 0)
        web__refusals_free(out);
    return rc;
}

uint64_t web__refusal_open(const web_refusal *w)
{
    return w->reported ? w->open : w->count;
}

const web_refusal *web__refusals_device(const web_refusals *all, const char *hex)
{
    for (size_t i = 0; hex != NULL && i < all->n; i++)
        if (strncmp(all->items[i].fingerprint, hex, 16) == 0)
            return &all->items[i];
    return NULL;
}

int web__refusals_user(const web_refusals *all, const char *user, web_refusal *sum)
{
    memset(sum, 0, sizeof *sum);
    int any = 0;
    for (size_t i = 0; i < all->n; i++) {
        const web_refusal *w = &all->items[i];
        if (strcmp(w->user, user) != 0)
            continue;
        sum->reported = any ? sum->reported && w->reported : w->reported;
        any = 1;
        sum->count += w->count;
        sum->open += web__refusal_open(w);
        if (w->newest_ms >= sum->newest_ms) {
            sum->newest_ms = w->newest_ms;
            sum->newest_reason = w->newest_reason;
        }
    }
    return any;
}

const char *web__refusal_words(uint32_t reason)
{
    switch (reason) {
    case FS_REASON_SCOPE:
        return N_("not theirs to change, or a manager's change");
    case FS_REASON_INVALID:
        return N_("incomplete or invalid");
    case FS_REASON_PARENT:
        return N_("its customer (or other parent) was refused");
    default:
        return fs_reason_text(reason);
    }
}

void web__refusals_free(web_refusals *all)
{
    free(all->items);
    memset(all, 0, sizeof *all);
}
