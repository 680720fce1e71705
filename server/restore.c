/*
 * fieldsync-server backup and restore. backup writes a sealed copy of the
 * store (fs_store_backup: SQLite's online backup API through the store's
 * encrypting VFS) and its key file into a new directory; a running serve
 * hosts it, so it is taken while serving.
 *
 * restore puts a backup of the data directory (one taken
 * while the server was stopped, as sealed as the store itself) back in
 * place and gives the feed a new epoch (issue 25.2), so that every device
 * of protocol version 5 pulls its scope again and pushes what the backup
 * does not hold, rather than waiting past the restored feed's end.
 *
 * The files the store in DIR had are moved aside, never deleted, into
 * DIR/pre-restore-<ms>/; the backup's are copied in (the backup is only
 * read), opened with the passphrase and their audit chain verified; if
 * either fails, the copies are removed and the old files put back.
 */
#include <libintl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fieldsync/clock.h"
#include "fieldsync/store.h"
#include "srv.h"
#include "store/audit.h"

#define _(s) gettext(s) /* the operator's language: srv_lang */
#define N_(s) s /* marked for xgettext, translated where shown */

/* The files of a data directory that make up the store (a WAL, when the
 * store was not closed cleanly, is part of it). */
static const char *const store_files[] = {"replica.db", "replica.db-wal", "replica.key"};
#define NFILES (sizeof store_files / sizeof store_files[0])

static const char restore_usage[] =
    N_("usage: fieldsync-server restore --data DIR --from BACKUP\n"
    "Puts back a backup of the data directory (copied while the server was\n"
    "stopped) and gives the feed a new epoch: every device pulls its scope again\n"
    "and sends again what the backup does not hold. The store's files in DIR are\n"
    "kept in DIR/pre-restore-<ms>/. Run it with the server stopped.\n");

/* 1 when a serve answers on DIR's control socket. */
static int serve_running(const char *dir)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/control.sock", dir);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path)
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int up = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return up;
}

/* Copies from to a new file to (mode 0600). 0, or -1 with errno. */
static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        return -1;
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (out == NULL) {
        if (fd >= 0)
            close(fd);
        fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    if (rc == 0 && ferror(in))
        rc = -1;
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        rc = -1;
    fclose(in);
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

static int path_of(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

/* Moves DIR's store files into aside/ (made here); *moved says which. */
static int move_aside(const char *dir, const char *aside, int moved[NFILES])
{
    if (mkdir(aside, 0700) != 0) {
        srv_error(_("restore: cannot make %s: %s"), aside, strerror(errno));
        return SRV_ERUNTIME;
    }
    for (size_t i = 0; i < NFILES; i++) {
        char a[4200], b[4200];
        moved[i] = 0;
        if (path_of(a, sizeof a, dir, store_files[i]) != 0 ||
            path_of(b, sizeof b, aside, store_files[i]) != 0)
            return SRV_EUSAGE;
        if (access(a, F_OK) != 0)
            continue;
        if (rename(a, b) != 0) {
            srv_error(_("restore: cannot move %s aside: %s"), store_files[i], strerror(errno));
            return SRV_ERUNTIME;
        }
        moved[i] = 1;
    }
    return SRV_OK;
}

/* Removes the copies and puts back what move_aside moved. */
static void put_back(const char *dir, const char *aside, const int moved[NFILES])
{
    for (size_t i = 0; i < NFILES; i++) {
        char a[4200], b[4200];
        if (path_of(a, sizeof a, dir, store_files[i]) != 0 ||
            path_of(b, sizeof b, aside, store_files[i]) != 0)
            continue;
        (void)unlink(a);
        if (moved[i] && rename(b, a) != 0)
            srv_error(_("restore: could not put %s back: it is in %s"), store_files[i], aside);
    }
    (void)rmdir(aside);
}

/* Opens the store now in dir, verifies its audit chain, gives the feed a
 * new epoch and audits the restore. */
static int adopt(const char *dir, const char *from)
{
    fs_store *s = NULL;
    int rc = srv_open(dir, &s);
    if (rc != SRV_OK)
        return rc;
    fs_audit *a = fs_store_audit(s);
    uint64_t entries = 0, bad = 0;
    int frc = fs_audit_verify(a, &entries, &bad);
    if (frc != 0) {
        srv_error(_("restore: the backup's audit log does not verify (entry %" PRIu64 " of %" PRIu64
                  "): %s"),
                  bad, entries, fs_audit_errmsg(a));
        srv_close(s);
        return SRV_ERUNTIME;
    }
    uint64_t head = 0;
    frc = fs_store_feed_head(s, &head);
    if (frc == 0)
        frc = fs_store_new_epoch(s);
    char detail[64];
    snprintf(detail, sizeof detail, "feed head %" PRIu64 ", new epoch", head);
    if (frc == 0)
        frc = fs_audit_append(a, "restore", "admin", NULL, detail);
    if (frc != 0) {
        rc = srv_fail(s, "restore: giving the feed a new epoch", frc);
        srv_close(s);
        return rc;
    }
    fprintf(srv_out,
            _("restored the store in %s from %s: %" PRIu64 " audit entries verified, feed head %" PRIu64
            "; the feed has a new epoch: every device pulls its scope again and sends again what "
            "the backup does not hold\n"),
            dir, from, entries, head);
    srv_close(s);
    return SRV_OK;
}

int srv_cmd_restore(int argc, char **argv)
{
    const char *data = NULL, *from = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--from", FS_OPT_VALUE, NULL, &from, NULL}};
    int rc = srv_parse(restore_usage, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("restore", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("restore", "--from", from);
    if (rc != SRV_OK)
        return rc;
    char db[4200], key[4200];
    if (path_of(db, sizeof db, from, "replica.db") != 0 ||
        path_of(key, sizeof key, from, "replica.key") != 0 || access(db, R_OK) != 0 ||
        access(key, R_OK) != 0) {
        srv_error(_("--from: %s holds no server store (a copy of a data directory)"), from);
        return SRV_EUSAGE;
    }
    if (serve_running(data)) {
        srv_error(_("restore: a server is running on %s: stop it first"), data);
        return SRV_ERUNTIME;
    }
    if (mkdir(data, 0700) != 0 && errno != EEXIST) {
        srv_error(_("--data: cannot make %s: %s"), data, strerror(errno));
        return SRV_ERUNTIME;
    }
    char aside[4200];
    char name[48];
    snprintf(name, sizeof name, "pre-restore-%" PRIu64, fs_clock_wall_ms());
    if (path_of(aside, sizeof aside, data, name) != 0) {
        srv_error(_("--data: the path is too long"));
        return SRV_EUSAGE;
    }
    int moved[NFILES] = {0};
    rc = move_aside(data, aside, moved);
    for (size_t i = 0; rc == SRV_OK && i < NFILES; i++) {
        char a[4200], b[4200];
        if (path_of(a, sizeof a, from, store_files[i]) != 0 ||
            path_of(b, sizeof b, data, store_files[i]) != 0) {
            rc = SRV_EUSAGE;
            break;
        }
        if (access(a, F_OK) != 0)
            continue; /* no WAL: the backup was closed cleanly */
        if (copy_file(a, b) != 0) {
            srv_error(_("restore: cannot copy %s from the backup: %s"), store_files[i],
                      strerror(errno));
            rc = SRV_ERUNTIME;
        }
    }
    if (rc == SRV_OK)
        rc = adopt(data, from);
    if (rc == SRV_OK)
        (void)rmdir(aside); /* kept when it holds the files the store had */
    if (rc != SRV_OK) {
        put_back(data, aside, moved);
        srv_error(_("restore: nothing changed in %s"), data);
    }
    return rc;
}

static const char backup_usage[] =
    N_("usage: fieldsync-server backup --data DIR --out BACKUP\n"
    "Writes a sealed copy of the store in DIR, with its key file, into the new\n"
    "directory BACKUP (an absolute path), with SQLite's online backup API: a\n"
    "running server keeps serving (its sessions wait while the copy is made).\n"
    "Put it back with restore.\n");

int srv_cmd_backup(int argc, char **argv)
{
    const char *data = NULL, *out = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--out", FS_OPT_VALUE, NULL, &out, NULL}};
    int rc = srv_parse(backup_usage, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("backup", "--data", data);
    if (rc == SRV_OK)
        rc = srv_require("backup", "--out", out);
    if (rc != SRV_OK)
        return rc;
    /* a running serve writes it, from its own working directory */
    if (out[0] != '/') {
        srv_error(_("--out: give an absolute path (a running server writes the backup)"));
        return SRV_EUSAGE;
    }
    char db[4200], key[4200], from_key[4200];
    if (path_of(db, sizeof db, out, "replica.db") != 0 ||
        path_of(key, sizeof key, out, "replica.key") != 0 ||
        path_of(from_key, sizeof from_key, srv_hosted_dir != NULL ? srv_hosted_dir : data,
                "replica.key") != 0) {
        srv_error(_("--out: the path is too long"));
        return SRV_EUSAGE;
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    if (mkdir(out, 0700) != 0) {
        srv_error(_("--out: cannot make %s: %s"), out, errno == EEXIST ? "it exists" : strerror(errno));
        srv_close(s);
        return errno == EEXIST ? SRV_EUSAGE : SRV_ERUNTIME;
    }
    uint64_t head = 0;
    int frc = fs_store_feed_head(s, &head);
    if (frc == 0)
        frc = fs_store_backup(s, db);
    if (frc != 0) {
        rc = srv_fail(s, "backup", frc);
    } else if (copy_file(from_key, key) != 0) {
        srv_error(_("backup: cannot copy the key file: %s"), strerror(errno));
        rc = SRV_ERUNTIME;
    } else {
        /* A copy of every customer record: audited, and what status reports
         * as the last backup. The path is the subject when the log takes
         * it (printable, at most FS_AUDIT_MAX_NAME bytes). */
        char detail[64];
        snprintf(detail, sizeof detail, "feed head %" PRIu64, head);
        fs_audit *a = fs_store_audit(s);
        frc = fs_audit_append(a, "backup", "operator", out, detail);
        if (frc == FS_ETYPE || frc == FS_ETOOBIG)
            frc = fs_audit_append(a, "backup", "operator", NULL, detail);
        if (frc != 0) {
            srv_error(_("backup: cannot write the audit entry: %s"), fs_audit_errmsg(a));
            rc = SRV_ERUNTIME;
        }
    }
    srv_close(s);
    if (rc != SRV_OK) {
        (void)unlink(db);
        (void)unlink(key);
        (void)rmdir(out);
        return rc;
    }
    fprintf(srv_out, _("backed up the store in %s to %s (feed head %" PRIu64 "), sealed as it is\n"),
            data, out, head);
    return SRV_OK;
}

/* ---- compact (issue 21.1) ---- */

#define COMPACT_MAX_DAYS 36500

static const char compact_usage[] =
    N_("usage: fieldsync-server compact --data DIR [--keep-days N]\n"
    "Drops from the feed the changes a later change to the same field replaced,\n"
    "among the entries written more than N days ago (default 30; 0: the whole\n"
    "feed), a few hundred rows per transaction. Every field's newest value stays,\n"
    "so devices behind still sync from where they are. Through a running server\n"
    "too.\n");

int srv_compact_audit(fs_store *s, const char *actor, uint64_t keep_days,
                      const fs_feed_compaction *c)
{
    char detail[FS_AUDIT_MAX_DETAIL];
    snprintf(detail, sizeof detail,
             "horizon=%" PRIu64 " keep_days=%" PRIu64 " rows=%" PRIu64 " entries_dropped=%" PRIu64
             " entries_rewritten=%" PRIu64 " changes_dropped=%" PRIu64 " bytes_before=%" PRIu64
             " bytes_after=%" PRIu64,
             c->horizon, keep_days, c->rows, c->entries_dropped, c->entries_rewritten,
             c->changes_dropped, c->bytes_before, c->bytes_after);
    return fs_audit_append(fs_store_audit(s), "compact", actor, NULL, detail);
}

int srv_cmd_compact(int argc, char **argv)
{
    const char *data = NULL, *days_s = NULL;
    const fs_opt opts[] = {{"--data", FS_OPT_VALUE, NULL, &data, NULL},
                           {"--keep-days", FS_OPT_VALUE, NULL, &days_s, NULL}};
    int rc = srv_parse(compact_usage, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc == SRV_OK)
        rc = srv_require("compact", "--data", data);
    if (rc != SRV_OK)
        return rc;
    uint64_t days = 30;
    if (days_s != NULL) {
        int ok = days_s[0] != '\0' && strlen(days_s) <= 5;
        days = 0;
        for (const char *p = days_s; ok && *p; p++) {
            ok = *p >= '0' && *p <= '9';
            days = days * 10 + (uint64_t)(*p - '0');
        }
        if (!ok || days > COMPACT_MAX_DAYS) {
            srv_error(_("--keep-days: expected a whole number of days from 0 to %d"),
                      COMPACT_MAX_DAYS);
            return SRV_EUSAGE;
        }
    }
    fs_store *s = NULL;
    rc = srv_open(data, &s);
    if (rc != SRV_OK)
        return rc;
    /* Through a running serve, one step per call: the control socket's
     * thread calls again while SRV_MORE, and the sessions go on between. */
    fs_feed_compaction own, *cp = srv_hosted_compaction != NULL ? srv_hosted_compaction : &own;
    if (cp == &own)
        memset(&own, 0, sizeof own);
    int frc = 0;
    if (cp->horizon == 0)
        frc = fs_store_horizon_before(s, days * 86400000u, &cp->horizon);
    while (frc == 0 && !cp->done) {
        frc = fs_store_compact_step(s, cp, SRV_COMPACT_ROWS);
        if (frc == 0 && !cp->done && cp == srv_hosted_compaction) {
            srv_close(s);
            return SRV_MORE;
        }
    }
    if (frc != 0) {
        rc = srv_fail(s, "compact", frc);
        srv_close(s);
        return rc;
    }
    /* a completed compaction is audited (issue 21.1): who, the horizon and
     * the counts */
    frc = srv_compact_audit(s, "operator", days, cp);
    if (frc != 0) {
        srv_error(_("compact: cannot write the audit entry: %s"), fs_audit_errmsg(fs_store_audit(s)));
        srv_close(s);
        return SRV_ERUNTIME;
    }
    srv_close(s);
    const fs_feed_compaction c = *cp;
    fprintf(srv_out,
            _("compacted the feed in %s below entry %" PRIu64 ": %" PRIu64 " rows, %" PRIu64
              " entries dropped, %" PRIu64 " rewritten, %" PRIu64 " changes dropped, %" PRIu64
              " bytes of changes now %" PRIu64 "\n"),
            data, c.horizon, c.rows, c.entries_dropped, c.entries_rewritten, c.changes_dropped,
            c.bytes_before, c.bytes_after);
    return SRV_OK;
}
