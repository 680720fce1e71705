/*
 * fieldsync-server status: how the service is doing, for the operator and
 * for monitoring (issue 22). Runs through a serving process when one
 * answers on the data directory (it then knows the open connections), else
 * on the store itself and says that nothing serves it.
 *
 * What it reads: the devices (enrolled, revoked, holding changes the server
 * does not have yet, not seen for a day), the refused writes of the last
 * hour and day from the audit log, the store's files and their sizes, the
 * newest backup (the audit log's "backup" entry) and the audit chain's
 * head. Nothing about a customer: counts, sizes and times only.
 *
 * Exit status: 0 while a serve answers, 3 when none does (as LSB init
 * scripts' status says "not running"), 1 and 2 as every command.
 */
#include <libintl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fieldsync/calendar.h"
#include "fieldsync/clock.h"
#include "fieldsync/schema.h"
#include "hub.h"
#include "store/audit.h"
#include "srv.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */
#define N_(s) s /* marked for xgettext, translated where shown */

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))
#define DAY_MS   (24ull * 3600 * 1000)
#define HOUR_MS  (3600ull * 1000)

static const char status_usage[] =
    N_("usage: fieldsync-server status --data DIR [--json]\n"
    "How the server is doing: whether a serve answers on DIR and how many\n"
    "devices are connected, the devices enrolled and revoked, those holding\n"
    "changes the server does not have yet and those not seen for a day, the\n"
    "writes refused in the last hour and day, the store's size on disk, the\n"
    "last backup and the audit log's head. Exit status 0 while serving, 3 when\n"
    "no serve answers on DIR.\n");

/* The files of a data directory, as restore.c copies them. */
static const char *const files[] = {"replica.db", "replica.db-wal", "replica.key"};
#define NFILES (sizeof files / sizeof files[0])

typedef struct dev_tally {
    fs_store *s;
    uint64_t now;
    uint64_t enrolled, revoked, with_pending, pending, unseen_day, never_seen;
    int rc;
} dev_tally;

static int tally_device(const fs_store_device *d, void *ctx)
{
    dev_tally *t = ctx;
    t->enrolled++;
    if (d->revoked != 0) {
        t->revoked++;
        if (d->revoked == FS_DEVICE_REVOKED)
            return 0; /* wiped at its next contact: nothing of it is awaited */
    }
    uint64_t seen = 0, lease = 0, pending = 0, oldest = 0;
    int frc = fs_store_device_sync(t->s, d->pk, &seen, &lease, &pending, &oldest);
    if (frc != 0) {
        t->rc = frc;
        return frc;
    }
    if (pending > 0) {
        t->with_pending++;
        t->pending += pending;
    }
    if (seen == 0)
        t->never_seen++;
    else if (t->now > seen && t->now - seen > DAY_MS)
        t->unseen_day++;
    return 0;
}

typedef struct last_backup {
    int found;
    int64_t at_ms;
    char detail[64];
} last_backup;

static int take_backup(const fs_audit_entry *e, void *ctx)
{
    last_backup *b = ctx;
    b->found = 1;
    b->at_ms = e->at_ms;
    srv_printable(e->detail, b->detail, sizeof b->detail);
    return 0;
}

/* "3 min", "5 h 2 min", "2 d 4 h": how long ago, at most two units. */
static void age_text(char *out, size_t cap, uint64_t ms)
{
    uint64_t m = ms / 60000, h = m / 60, d = h / 24;
    if (d > 0)
        snprintf(out, cap, "%" PRIu64 " d %" PRIu64 " h", d, h % 24);
    else if (h > 0)
        snprintf(out, cap, "%" PRIu64 " h %" PRIu64 " min", h, m % 60);
    else
        snprintf(out, cap, "%" PRIu64 " min", m);
}

static void mib_text(char *out, size_t cap, uint64_t bytes)
{
    snprintf(out, cap, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

int srv_cmd_status(int argc, char **argv)
{
    const char *data = NULL;
    int json = 0;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--json", FS_OPT_FLAG, &json, NULL, NULL}};
    int rc = srv_parse(status_usage, opts, NOPTS(opts), argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("status", "--data", data);
    if (rc != SRV_OK)
        return rc;
    int serving = srv_hosted_ws != NULL;
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;

    size_t connections = serving ? fs_ws_server_connections(srv_hosted_ws) : 0;
    dev_tally t;
    memset(&t, 0, sizeof t);
    t.s = s;
    t.now = fs_store_now_ms(s);
    int frc = fs_store_devices(s, tally_device, &t);
    if (frc != 0) {
        rc = srv_fail(s, "reading the devices", t.rc != 0 ? t.rc : frc);
        srv_close(s);
        return rc;
    }
    fs_audit *a = fs_store_audit(s);
    uint64_t refused_hour = 0, refused_day = 0;
    int64_t wall = (int64_t)fs_clock_wall_ms(); /* the audit log's clock */
    frc = fs_audit_count_since(a, "refused_write", wall - (int64_t)HOUR_MS, &refused_hour);
    if (frc == 0)
        frc = fs_audit_count_since(a, "refused_write", wall - (int64_t)DAY_MS, &refused_day);
    last_backup b;
    memset(&b, 0, sizeof b);
    if (frc == 0) {
        frc = fs_audit_last(a, "backup", take_backup, &b);
        if (frc == FS_ENOTFOUND)
            frc = 0;
    }
    char head[SRV_AUDIT_HEAD_MAX];
    if (frc == 0)
        frc = srv_audit_head_text(a, head);
    if (frc != 0) {
        srv_error(_("status: cannot read the audit log: %s"), fs_audit_errmsg(a));
        srv_close(s);
        return SRV_ERUNTIME;
    }
    uint64_t sizes[NFILES], total = 0;
    for (size_t i = 0; i < NFILES; i++) {
        char path[4096];
        struct stat st;
        sizes[i] = 0;
        if (snprintf(path, sizeof path, "%s/%s", srv_hosted_dir ? srv_hosted_dir : data,
                     files[i]) < (int)sizeof path &&
            stat(path, &st) == 0)
            sizes[i] = (uint64_t)st.st_size;
        total += sizes[i];
    }
    uint64_t backup_age = b.found && wall > b.at_ms ? (uint64_t)(wall - b.at_ms) : 0;

    FILE *o = srv_out;
    if (json) {
        fprintf(o, "{\"serving\": %s, \"connections\": %zu,\n", serving ? "true" : "false",
                connections);
        fprintf(o,
                " \"devices\": {\"enrolled\": %" PRIu64 ", \"revoked\": %" PRIu64
                ", \"with_pending\": %" PRIu64 ", \"pending_changes\": %" PRIu64
                ", \"not_seen_for_a_day\": %" PRIu64 ", \"never_seen\": %" PRIu64 "},\n",
                t.enrolled, t.revoked, t.with_pending, t.pending, t.unseen_day, t.never_seen);
        fprintf(o,
                " \"refused_writes\": {\"last_hour\": %" PRIu64 ", \"last_day\": %" PRIu64 "},\n",
                refused_hour, refused_day);
        fprintf(o, " \"store_bytes\": {");
        for (size_t i = 0; i < NFILES; i++)
            fprintf(o, "\"%s\": %" PRIu64 ", ", files[i], sizes[i]);
        fprintf(o, "\"total\": %" PRIu64 "},\n", total);
        if (b.found)
            fprintf(o, " \"last_backup\": {\"at_ms\": %" PRId64 ", \"age_s\": %" PRIu64 "},\n",
                    b.at_ms, backup_age / 1000);
        else
            fprintf(o, " \"last_backup\": null,\n");
        fprintf(o, " \"audit_head\": \"%s\"}\n", head);
    } else {
        char text[64];
        if (serving)
            fprintf(o, _("serving:        yes, %zu device%s connected\n"), connections,
                    connections == 1 ? "" : "s");
        else
            fprintf(o, _("serving:        NO: no serve answers on %s\n"), data);
        fprintf(o, _("devices:        %" PRIu64 " enrolled, %" PRIu64 " revoked\n"), t.enrolled,
                t.revoked);
        fprintf(o, _("not on server:  %" PRIu64 " change%s on %" PRIu64 " device%s (as they last said)\n"),
                t.pending, t.pending == 1 ? "" : "s", t.with_pending,
                t.with_pending == 1 ? "" : "s");
        fprintf(o, _("not seen:       %" PRIu64 " for over a day, %" PRIu64 " never\n"),
                t.unseen_day, t.never_seen);
        fprintf(o, _("refused writes: %" PRIu64 " in the last hour, %" PRIu64 " in the last day\n"),
                refused_hour, refused_day);
        mib_text(text, sizeof text, total);
        fprintf(o, _("store:          %s"), text);
        for (size_t i = 0; i < NFILES; i++) {
            mib_text(text, sizeof text, sizes[i]);
            fprintf(o, "%s%s %s", i == 0 ? " (" : ", ", files[i], text);
        }
        fprintf(o, ")\n");
        if (b.found) {
            char when[40];
            if (fs_instant_format(when, sizeof when, b.at_ms, 1, "%Y-%m-%d %H:%MZ") != 0)
                snprintf(when, sizeof when, "?");
            age_text(text, sizeof text, backup_age);
            fprintf(o, _("last backup:    %s, %s ago (%s)\n"), when, text, b.detail);
        } else {
            fprintf(o, _("last backup:    NONE recorded (%s backup --out DIR)\n"), SRV_PROG);
        }
        fprintf(o, _("audit head:     %s\n"), head);
    }
    srv_close(s);
    return serving ? SRV_OK : SRV_NOTSERVING;
}
