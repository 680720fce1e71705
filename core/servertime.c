/*
 * Server-corrected time on a device (issue 23): a laptop's clock may be a
 * day off (a time zone set by hand, a dead CMOS battery) or be moved while
 * the laptop is in use. Each READY carries the server's clock; the device
 * keeps, in meta:
 *   clock_offset_ms   the server's clock minus this machine's wall clock
 *   clock_anchor      the server's time, the boot clock (CLOCK_BOOTTIME) at
 *                     that moment and the boot's id, as "server boot id"
 * Its notion of now (fs__now_ms: hybrid clock ticks, the rules' "recorded
 * at", the lease) is, within the boot that received READY, the server's
 * time plus the boot clock's progress since (a wall clock moved between two
 * syncs changes nothing); after a reboot, its wall clock plus the offset.
 * Before the first sync local time is used as it is. A replica given a
 * clock of its own (fs_replica_opts.clock_ms: tests) uses the offset only.
 *
 * The times include READY's time in flight (milliseconds on a working
 * network): meant to correct minutes and days, not to order two devices'
 * writes a second apart. A server's replica never sets them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/clock.h"
#include "replica_int.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

/* The device's own wall clock, before any correction. */
static uint64_t local_ms(const fs_replica *r)
{
    if (r->opts.clock_ms != NULL)
        return r->opts.clock_ms(r->opts.clock_ctx);
    return fs_clock_wall_ms();
}

/* This boot's id (36 characters), or "" where there is none. */
static void boot_id(char out[40])
{
    out[0] = '\0';
    FILE *f = fopen(BOOT_ID_PATH, "r");
    if (f == NULL)
        return;
    if (fgets(out, 40, f) == NULL)
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

uint64_t fs__now_ms(const fs_replica *r)
{
    if (r->clock_anchored) {
        uint64_t boot = fs_clock_boot_ms();
        if (boot >= r->anchor_boot_ms)
            return r->anchor_server_ms + (boot - r->anchor_boot_ms);
    }
    uint64_t local = local_ms(r);
    if (r->clock_offset_ms < 0 && (uint64_t)(-r->clock_offset_ms) > local)
        return 0;
    return local + (uint64_t)r->clock_offset_ms;
}

int fs__servertime_load(fs_replica *r)
{
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, "SELECT k, v FROM meta WHERE k IN ('clock_offset_ms','clock_anchor')",
                         &st);
    if (rc != 0)
        return rc;
    int src;
    r->clock_known = r->clock_anchored = 0;
    r->clock_offset_ms = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        if (k != NULL && strcmp(k, "clock_offset_ms") == 0) {
            r->clock_known = 1;
            r->clock_offset_ms = (int64_t)sqlite3_column_int64(st, 1);
        } else if (k != NULL && r->opts.clock_ms == NULL) {
            const char *v = (const char *)sqlite3_column_text(st, 1);
            unsigned long long server = 0, boot = 0;
            char id[40], now_id[40];
            if (v != NULL && sscanf(v, "%llu %llu %39s", &server, &boot, id) == 3) {
                boot_id(now_id);
                r->clock_anchored = now_id[0] != '\0' && strcmp(id, now_id) == 0 &&
                                    fs_clock_boot_ms() >= boot;
                r->anchor_server_ms = server;
                r->anchor_boot_ms = boot;
            }
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the clock offset");
}

/* The server's time and the marks kept with it. */
static int set_meta(fs_replica *r, const char *k, sqlite3_int64 i, const char *text)
{
    return fs__meta_put(r, k, i, text, "recording the server's time");
}

int fs_replica_note_server_time(fs_replica *r, uint64_t server_now_ms)
{
    if (server_now_ms == 0 || server_now_ms > INT64_MAX)
        return fs__fail(r, FS_EINVAL, "the server's time is out of range");
    uint64_t local = local_ms(r), boot = fs_clock_boot_ms();
    if (local > INT64_MAX)
        return fs__fail(r, FS_EINVAL, "this machine's time is out of range");
    int64_t offset = (int64_t)server_now_ms - (int64_t)local;
    char anchor[128], id[40];
    boot_id(id);
    int anchored = r->opts.clock_ms == NULL && id[0] != '\0';
    snprintf(anchor, sizeof anchor, "%llu %llu %s", (unsigned long long)server_now_ms,
             (unsigned long long)boot, id);
    int rc = set_meta(r, "clock_offset_ms", offset, NULL);
    /* the server's time is the truth: the highest time seen starts again
     * from it (a clock that ran ahead before the first sync is forgiven) */
    if (rc == 0)
        rc = set_meta(r, "time_seen_ms", (sqlite3_int64)server_now_ms, NULL);
    if (rc == 0 && anchored)
        rc = set_meta(r, "clock_anchor", 0, anchor);
    if (rc != 0)
        return rc;
    r->clock_offset_ms = offset;
    r->clock_known = 1;
    r->clock_anchored = anchored;
    r->anchor_server_ms = server_now_ms;
    r->anchor_boot_ms = boot;
    return 0;
}

uint64_t fs_replica_wall_ms(const fs_replica *r)
{
    return local_ms(r);
}

int fs_replica_clock_check(fs_replica *r, uint64_t *seen_ms)
{
    uint64_t seen = 0, now = fs__now_ms(r);
    *seen_ms = 0;
    int rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='time_seen_ms'", &seen);
    if (rc != 0)
        return rc;
    *seen_ms = seen;
    if (seen > FS_CLOCK_BACK_MAX_MS && now < seen - FS_CLOCK_BACK_MAX_MS)
        return 1;
    /* raised at most once a minute: most commands write nothing */
    if (now > INT64_MAX || now < seen + 60000u)
        return 0;
    return set_meta(r, "time_seen_ms", (sqlite3_int64)now, NULL);
}

int fs_replica_clock_offset(const fs_replica *r, int64_t *offset_ms)
{
    *offset_ms = 0;
    if (!r->clock_known)
        return 0;
    /* what this machine's clock is off by now (it may have moved since) */
    uint64_t now = fs__now_ms(r), local = local_ms(r);
    if (now <= INT64_MAX && local <= INT64_MAX)
        *offset_ms = (int64_t)now - (int64_t)local;
    return 1;
}

/* One column of a row that a restamped write set. */
typedef struct restamp_cell {
    unsigned tix, col;
    uint8_t row[FS_ID_BYTES];
} restamp_cell;

/* A change log entry (alias c) that the server refused at the clock it
 * carries: REJECT comes before the ACK, and a refused change keeps the
 * clock it was sent with. One write can be refused in part (a customer's
 * owner refused alone on a row the server has, its other columns
 * accepted: server/store/push.c), and the server keeps the write's
 * restamp for the part it took. */
#define REFUSED_AT(hlc_col)                                                                   \
    "EXISTS (SELECT 1 FROM refused AS f WHERE f.tbl=c.tbl AND f.row=c.row AND f.col=c.col"      \
    " AND f.hlc=" hlc_col ")"

/* The cells this device wrote at clock `sent` (one write: one row) that
 * the server did not refuse. *out is malloc'd, the caller frees it. */
static int cells_of_write(fs_replica *r, uint64_t sent, restamp_cell **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r,
                         "SELECT DISTINCT tbl, col, row FROM changelog AS c WHERE hlc=?1"
                         " AND NOT " REFUSED_AT("c.hlc"),
                         &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)sent);
    size_t cap = 0;
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int tix = sqlite3_column_int(st, 0), col = sqlite3_column_int(st, 1);
        if (tix < 0 || (unsigned)tix >= nt || col < 0 ||
            (unsigned)col >= tables[tix].ncolumns || sqlite3_column_bytes(st, 2) != FS_ID_BYTES)
            continue; /* fs_replica_check reports a damaged log; nothing to rewrite here */
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            restamp_cell *more = realloc(*out, cap * sizeof *more);
            if (more == NULL) {
                sqlite3_finalize(st);
                return fs__fail(r, FS_ENOMEM, "out of memory");
            }
            *out = more;
        }
        (*out)[*n].tix = (unsigned)tix;
        (*out)[*n].col = (unsigned)col;
        memcpy((*out)[*n].row, sqlite3_column_blob(st, 2), FS_ID_BYTES);
        (*n)++;
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the change log");
}

/* The sequences of the change log entries that sql (binding a clock, and
 * the device index when with_dev) selects, appended to *seqs. */
static int log_seqs(fs_replica *r, const char *sql, uint64_t hlc, int with_dev, int64_t **seqs,
                    size_t *n, size_t *cap)
{
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)hlc);
    if (with_dev)
        sqlite3_bind_int64(st, 2, r->device_idx);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == *cap) {
            size_t more_cap = *cap ? 2 * *cap : 16;
            int64_t *more = realloc(*seqs, more_cap * sizeof *more);
            if (more == NULL) {
                sqlite3_finalize(st);
                return fs__fail(r, FS_ENOMEM, "out of memory");
            }
            *seqs = more;
            *cap = more_cap;
        }
        (*seqs)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "reading the change log");
}

/* Runs sql, an UPDATE of one change log entry binding (clock, seq). */
static int update_entry(fs_replica *r, const char *sql, uint64_t given, int64_t seq)
{
    sqlite3_stmt *st = NULL;
    r->guard++; /* the authorizer lets this API write the log (checked as it is prepared) */
    int rc = fs__prepare(r, sql, &st);
    if (rc != 0) {
        r->guard--;
        return rc;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)given);
    sqlite3_bind_int64(st, 2, seq);
    int src = sqlite3_step(st);
    r->guard--;
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, "restamping the change log");
}

/* What one restamp rewrites, found before any is rewritten: a clock the
 * server gives can be the clock another write of the same ACK was sent
 * with (the device ticked from the server's newest), and rewriting one
 * pair after another would then move the first write twice. */
typedef struct restamp_work {
    uint64_t given;
    restamp_cell *cells; /* the write's cells that still hold it */
    size_t ncells;
    int64_t *seqs, *prev_seqs; /* its log entries; those written on top of it */
    size_t nseqs, nprev;
} restamp_work;

static int restamp_find(fs_replica *r, const fs_restamp *p, restamp_work *w)
{
    memset(w, 0, sizeof *w);
    w->given = p->given;
    restamp_cell *cells = NULL;
    size_t n = 0, cap = 0;
    int rc = cells_of_write(r, p->sent, &cells, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        fs__row row;
        memset(&row, 0, sizeof row);
        rc = fs__row_load(r, &row, cells[i].tix, cells[i].row);
        unsigned c = cells[i].col;
        /* only where the row still holds that write (a later one stays) */
        if (rc == 0 && row.exists && row.hlc[c] == p->sent && row.dev[c] == r->device_idx)
            cells[w->ncells++] = cells[i];
        fs__row_clear(&row);
    }
    w->cells = cells;
    /* a refused cell keeps its clock, in the log and in what names it:
     * its refusal, its revert and TIP know it by that clock */
    if (rc == 0)
        rc = log_seqs(r,
                      "SELECT seq FROM changelog AS c WHERE hlc=?1 AND NOT " REFUSED_AT("c.hlc"),
                      p->sent, 0, &w->seqs, &w->nseqs, &cap);
    cap = 0;
    if (rc == 0) /* writes made on top of it name it as it now is */
        rc = log_seqs(r,
                      "SELECT seq FROM changelog AS c WHERE prev_hlc=?1 AND prev_dev=?2"
                      " AND NOT " REFUSED_AT("c.prev_hlc"),
                      p->sent, 1, &w->prev_seqs, &w->nprev, &cap);
    return rc;
}

static int restamp_write(fs_replica *r, const restamp_work *w)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->ncells; i++) {
        fs__row row;
        memset(&row, 0, sizeof row);
        rc = fs__row_load(r, &row, w->cells[i].tix, w->cells[i].row);
        if (rc == 0 && row.exists) {
            row.hlc[w->cells[i].col] = w->given;
            row.dirty = 1;
            rc = fs__row_store(r, &row);
        }
        fs__row_clear(&row);
    }
    for (size_t i = 0; rc == 0 && i < w->nseqs; i++)
        rc = update_entry(r, "UPDATE changelog SET hlc=?1 WHERE seq=?2", w->given, w->seqs[i]);
    /* A write on top of one the server never took at its clock (refused,
     * then sent again) can be given a clock below that one: the server
     * then takes it as written on top of nothing, and so does the log. */
    for (size_t i = 0; rc == 0 && i < w->nseqs; i++)
        rc = update_entry(r, "UPDATE changelog SET prev_hlc=0, prev_dev=0 WHERE seq=?2 AND prev_hlc>=?1",
                          w->given, w->seqs[i]);
    for (size_t i = 0; rc == 0 && i < w->nprev; i++)
        rc = update_entry(r, "UPDATE changelog SET prev_hlc=?1 WHERE seq=?2", w->given,
                          w->prev_seqs[i]);
    return rc;
}

int fs_replica_restamp(fs_replica *r, const fs_restamp *pairs, size_t n)
{
    int own = 0;
    for (size_t i = 0; i < n; i++)
        if (pairs[i].sent == 0 || pairs[i].given == 0)
            return fs__fail(r, FS_EINVAL, "restamp %zu has a zero clock", i);
    if (n == 0)
        return 0;
    int rc = fs__begin(r, &own);
    if (rc != 0)
        return rc;
    restamp_work *work = calloc(n, sizeof *work);
    if (work == NULL)
        rc = fs__fail(r, FS_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = restamp_find(r, &pairs[i], &work[i]);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = restamp_write(r, &work[i]);
    for (size_t i = 0; work != NULL && i < n; i++) {
        free(work[i].cells);
        free(work[i].seqs);
        free(work[i].prev_seqs);
    }
    free(work);
    uint64_t logged = 0, absorbed = 0;
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT max(hlc) FROM changelog", &logged);
    if (rc == 0)
        rc = fs__query_u64(r, "SELECT v FROM meta WHERE k='hlc'", &absorbed);
    rc = fs__end(r, own, rc);
    /* The clock drops back to the newest it still holds (a remote clock
     * absorbed but not yet saved keeps it where it is). */
    if (rc == 0 && !r->hlc_unsaved)
        r->hlc = logged > absorbed ? logged : absorbed;
    return rc;
}
