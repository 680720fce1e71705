/*
 * Full-text search of a device's replica (issue 17, point 2).
 *
 * The index lives in the replica's own database, so the encrypting VFS seals
 * its pages like every other (and refuses temporary files: temp_store is
 * MEMORY). Three local, unsynced tables:
 *   search_doc  docid INTEGER PRIMARY KEY, tbl (schema index), row (id),
 *               body: the record's searchable text, folded (fs_fold), one
 *               field a line; UNIQUE(tbl, row).
 *   search_fts  FTS5, trigram tokenizer, external content search_doc
 *               (content_rowid docid): a substring of three characters or
 *               more, Chinese included, is found through it, ranked by bm25.
 *   search_pending  records written since the last search (tbl, row).
 * Shorter terms (a two-character Chinese name) are looked for in the bodies
 * with instr(), which is the same folded text.
 *
 * Every row write passes through fs__row_store (local writes, merged remote
 * changes, refusals reverted) and every removal through fs__delete_row
 * (purges): both queue the record in search_pending (tbl, row) in the
 * write's transaction, and fs_search first brings the queued records into
 * the index as they are then, so a search sees every write before it and a
 * deleted or purged record leaves the index. (Indexing at each write took
 * bench_write from 0.97 to 0.27 of raw SQLite: every commit wrote FTS5
 * segments.) meta 'search' names the index's format and fold; a replica
 * whose meta says otherwise (none: made before the index existed) has its
 * index built at open, in one transaction. A server's replica (with a feed)
 * has no index: nobody searches it.
 *
 * Folding: OpenCC's t2s (Traditional to Simplified), character by character,
 * on both the indexed text and the query, and ASCII letters to lower case,
 * so 華信 finds 华信 and the other way round, and ACME finds Acme.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FS_HAVE_OPENCC
#include <opencc/opencc.h>
#endif

#include "replica_int.h"

#define SEARCH_FORMAT 2 /* 1: kept at each write, no queue */
#define SEARCH_MAX_FIELDS 8
#define SEARCH_QUERY_MAX 512 /* bytes of a query */
#define SEARCH_TERMS_MAX 8

/* ---- folding ----
 *
 * Character by character: each ideograph is converted alone by OpenCC's
 * t2s (its answer for that character, remembered for the process), so the
 * fold of a substring is the substring of the fold, which a substring
 * search needs (t2s on whole text picks phrases, and a phrase cut by the
 * query could fold otherwise), and a text costs a table lookup a character
 * once its characters have been seen (converting whole texts cost about
 * 0.3 us a byte: 14 s more to index 100,000 visits). */

#define FOLD_LO 0x2E80u  /* CJK radicals: below, no character has a t2s form */
#define FOLD_HI 0x30000u /* up to the end of the second ideographic plane */

static pthread_mutex_t fold_lock = PTHREAD_MUTEX_INITIALIZER;
#ifdef FS_HAVE_OPENCC
static opencc_t fold_cc = (opencc_t)-1;
static int fold_tried;
static uint32_t *fold_memo; /* [cp - FOLD_LO]: its fold, 0 while unknown */

static void fold_close(void)
{
    if (fold_cc != (opencc_t)-1)
        opencc_close(fold_cc);
    fold_cc = (opencc_t)-1;
    free(fold_memo);
    fold_memo = NULL;
}

/* Opens the converter once (under fold_lock); 1 if it is usable. The
 * configuration is named by its full path: OpenCC looks for a bare name in
 * the working directory first. */
static int fold_ready(void)
{
    if (!fold_tried) {
        fold_tried = 1;
        fold_memo = calloc(FOLD_HI - FOLD_LO, sizeof *fold_memo);
        if (fold_memo != NULL)
            fold_cc = opencc_open(FS_OPENCC_T2S);
        if (fold_cc != (opencc_t)-1)
            atexit(fold_close);
        else
            free(fold_memo), fold_memo = NULL;
    }
    return fold_cc != (opencc_t)-1;
}
#endif

const char *fs_fold_kind(void)
{
#ifdef FS_HAVE_OPENCC
    pthread_mutex_lock(&fold_lock);
    int ok = fold_ready();
    pthread_mutex_unlock(&fold_lock);
    return ok ? "t2s-char" : "ascii";
#else
    return "ascii";
#endif
}

/* Decodes the UTF-8 character at p (n bytes left): its length, *cp; 0 for
 * a malformed or cut sequence. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3
                               : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t c = len == 1 ? p[0] : len == 2 ? p[0] & 0x1Fu : len == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3Fu);
    }
    *cp = c;
    return len;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

#ifdef FS_HAVE_OPENCC
/* The t2s fold of one character (under fold_lock, converter ready): OpenCC's
 * conversion of it alone when that is one character, else itself. */
static uint32_t fold_char(uint32_t cp)
{
    uint32_t *m = &fold_memo[cp - FOLD_LO];
    if (*m != 0)
        return *m;
    char in[4];
    size_t len = utf8_encode(cp, in);
    uint32_t to = cp;
    char *c = opencc_convert_utf8(fold_cc, in, len);
    if (c != NULL) {
        size_t cl = strlen(c);
        uint32_t got = 0;
        if (cl > 0 && utf8_decode((const unsigned char *)c, cl, &got) == cl && got >= 0x80)
            to = got;
        opencc_convert_utf8_free(c);
    }
    *m = to;
    return to;
}
#endif

int fs_fold(const char *text, size_t n, char **out)
{
    *out = NULL;
    if (text == NULL || n > FS_FOLD_MAX)
        return FS_EINVAL;
    char *s = malloc(2 * n + 1); /* a character of k >= 3 bytes folds to at most 4 */
    if (s == NULL)
        return FS_ENOMEM;
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, o = 0;
#ifdef FS_HAVE_OPENCC
    pthread_mutex_lock(&fold_lock);
    int cc = fold_ready();
#endif
    while (i < n) {
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, &cp);
        if (len == 0) { /* not UTF-8: the byte as it is */
            s[o++] = (char)p[i++];
            continue;
        }
        if (cp >= 'A' && cp <= 'Z')
            cp += 'a' - 'A';
#ifdef FS_HAVE_OPENCC
        else if (cc && cp >= FOLD_LO && cp < FOLD_HI)
            cp = fold_char(cp);
#endif
        o += utf8_encode(cp, s + o);
        i += len;
    }
#ifdef FS_HAVE_OPENCC
    pthread_mutex_unlock(&fold_lock);
#endif
    s[o] = '\0';
    *out = s;
    return 0;
}

/* SQL fs_fold(text): the folded text (fs_match_name compares names with it). */
static void sql_fold(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_null(cx);
        return;
    }
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    int n = sqlite3_value_bytes(argv[0]);
    char *f = NULL;
    int rc = t != NULL ? fs_fold(t, (size_t)n, &f) : FS_ENOMEM;
    if (rc == FS_ENOMEM)
        sqlite3_result_error_nomem(cx);
    else if (rc != 0)
        sqlite3_result_error(cx, "text too long to fold", -1);
    else
        sqlite3_result_text(cx, f, -1, free);
}

int fs__search_functions(fs_replica *r)
{
    int src = sqlite3_create_function(r->db, "fs_fold", 1,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      NULL, sql_fold, NULL, NULL);
    return src == SQLITE_OK ? 0 : fs__dbfail(r, src, "registering fs_fold");
}

/* ---- what is indexed ---- */

static const struct {
    const char *table;
    const char *cols[SEARCH_MAX_FIELDS];
} kinds[] = {
    {"customer", {"name", "industry", "business_area", "decision_chain", "history", "preferences",
                  "open_questions", NULL}},
    {"contact", {"name", "position", "phone", "email", NULL}},
    {"visit", {"notes", "objections", "next_steps", "purpose", "place", "contact", NULL}},
    {"commitment", {"text", NULL}},
    {"customer_question", {"question", "answer", NULL}},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* Schema indexes of the kinds' tables and columns, found once. */
typedef struct kind_ix {
    int tix;
    int ncols;
    int col[SEARCH_MAX_FIELDS];
} kind_ix;
static kind_ix kix[NKINDS];
static pthread_once_t kix_once = PTHREAD_ONCE_INIT;

static void kix_init(void)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    for (size_t k = 0; k < NKINDS; k++) {
        kix[k].tix = fs_schema_table_index(kinds[k].table);
        kix[k].ncols = 0;
        if (kix[k].tix < 0)
            continue;
        for (size_t c = 0; c < SEARCH_MAX_FIELDS && kinds[k].cols[c] != NULL; c++) {
            int ci = fs_schema_column_index(&tables[kix[k].tix], kinds[k].cols[c]);
            if (ci > 0)
                kix[k].col[kix[k].ncols++] = ci;
        }
    }
}

static const kind_ix *kind_of(unsigned tix)
{
    pthread_once(&kix_once, kix_init);
    for (size_t k = 0; k < NKINDS; k++)
        if (kix[k].tix >= 0 && (unsigned)kix[k].tix == tix)
            return &kix[k];
    return NULL;
}

int fs_search_table(const char *kind)
{
    if (kind == NULL)
        return 0;
    for (size_t k = 0; k < NKINDS; k++)
        if (strcmp(kind, kinds[k].table) == 0)
            return 1;
    return 0;
}

/* A growing text buffer. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static int sbuf_add(sbuf *b, const void *s, size_t n)
{
    if (n > FS_FOLD_MAX || b->len + n + 1 > FS_FOLD_MAX)
        return FS_EINVAL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return FS_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* Adds one field's text (fields joined by a newline, which no query holds). */
static int body_add(sbuf *b, const void *s, size_t n)
{
    if (s == NULL || n == 0)
        return 0;
    int rc = b->len > 0 ? sbuf_add(b, "\n", 1) : 0;
    return rc != 0 ? rc : sbuf_add(b, s, n);
}

/* ---- upkeep ---- */

enum { ST_FIND, ST_FTS_DEL, ST_DOC_INS, ST_DOC_UPD, ST_DOC_DEL, ST_FTS_INS, ST_QUEUE, ST_N };

static int stmt(fs_replica *r, int which, sqlite3_stmt **out)
{
    static const char *const sql[ST_N] = {
        "SELECT docid, body FROM search_doc WHERE tbl=?1 AND row=?2",
        "INSERT INTO search_fts(search_fts, rowid, body) VALUES('delete', ?1, ?2)",
        "INSERT INTO search_doc(tbl, row, body) VALUES(?1, ?2, ?3)",
        "UPDATE search_doc SET body=?2 WHERE docid=?1",
        "DELETE FROM search_doc WHERE docid=?1",
        "INSERT INTO search_fts(rowid, body) VALUES(?1, ?2)",
        "INSERT OR IGNORE INTO search_pending(tbl, row) VALUES(?1, ?2)",
    };
    if (r->search_st[which] == NULL) {
        int rc = fs__prepare(r, sql[which], &r->search_st[which]);
        if (rc != 0)
            return rc;
    }
    *out = r->search_st[which];
    return 0;
}

/* Runs a prepared statement with its bindings to the end. */
static int run(fs_replica *r, sqlite3_stmt *st, const char *what)
{
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return src == SQLITE_DONE ? 0 : fs__dbfail(r, src, what);
}

/* Makes the index say body (folded; NULL: nothing) for row of table tix. */
static int put_doc(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES], const char *body)
{
    const char *what = "updating the search index";
    sqlite3_stmt *st;
    int rc = stmt(r, ST_FIND, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_int64 docid = 0;
    char *old = NULL;
    if (src == SQLITE_ROW) {
        docid = sqlite3_column_int64(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 1);
        old = strdup(t != NULL ? (const char *)t : "");
        if (old == NULL)
            rc = fs__fail(r, FS_ENOMEM, "out of memory");
    } else if (src != SQLITE_DONE) {
        rc = fs__dbfail(r, src, what);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != 0 || (old == NULL && body == NULL) ||
        (old != NULL && body != NULL && strcmp(old, body) == 0)) {
        free(old);
        return rc;
    }
    if (old != NULL) { /* the old text leaves the full-text index */
        rc = stmt(r, ST_FTS_DEL, &st);
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, docid);
            sqlite3_bind_text(st, 2, old, -1, SQLITE_STATIC);
            rc = run(r, st, what);
        }
        if (rc == 0 && body == NULL && (rc = stmt(r, ST_DOC_DEL, &st)) == 0) {
            sqlite3_bind_int64(st, 1, docid);
            rc = run(r, st, what);
        } else if (rc == 0 && body != NULL && (rc = stmt(r, ST_DOC_UPD, &st)) == 0) {
            sqlite3_bind_int64(st, 1, docid);
            sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
            rc = run(r, st, what);
        }
        free(old);
    } else if ((rc = stmt(r, ST_DOC_INS, &st)) == 0) {
        sqlite3_bind_int(st, 1, (int)tix);
        sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, body, -1, SQLITE_STATIC);
        rc = run(r, st, what);
        docid = sqlite3_last_insert_rowid(r->db);
    }
    if (rc == 0 && body != NULL && (rc = stmt(r, ST_FTS_INS, &st)) == 0) {
        sqlite3_bind_int64(st, 1, docid);
        sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
        rc = run(r, st, what);
    }
    return rc;
}

/* The folded body of values vals[0..n) (NULL entries skipped) into *out
 * (NULL when the record holds no searchable text). */
typedef struct field {
    const void *p;
    size_t n;
} field;

static int fold_fields(fs_replica *r, const field *f, int n, char **out)
{
    sbuf b = {NULL, 0, 0};
    int rc = 0;
    *out = NULL;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = body_add(&b, f[i].p, f[i].n);
    if (rc == 0 && b.len > 0)
        rc = fs_fold(b.p, b.len, out);
    free(b.p);
    if (rc == FS_ENOMEM)
        return fs__fail(r, rc, "out of memory");
    if (rc != 0)
        return fs__fail(r, rc, "a record's text is too long to index");
    return 0;
}

/* Queues row of table tix for the index (in the caller's transaction). */
static int queue(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    sqlite3_stmt *st;
    int rc = stmt(r, ST_QUEUE, &st);
    if (rc != 0)
        return rc;
    sqlite3_bind_int(st, 1, (int)tix);
    sqlite3_bind_blob(st, 2, row, FS_ID_BYTES, SQLITE_STATIC);
    return run(r, st, "queueing a record for the search index");
}

int fs__search_row(fs_replica *r, const fs__row *row)
{
    if (!r->search)
        return 0;
    const kind_ix *k = kind_of(row->tix);
    if (k == NULL)
        return 0;
    int touched = row->set[0] != NULL;
    for (int i = 0; !touched && i < k->ncols; i++)
        touched = row->set[k->col[i]] != NULL;
    if (!touched) /* a write of other columns, or of versions only */
        return 0;
    if (r->logged_row) /* queued by its change-log entries (fs__search_log_spill) */
        return 0;
    return queue(r, row->tix, row->id);
}

/* meta 'search_log': every change-log entry at or below it has its record
 * in the queue or the index; those above are the queue's tail. A local
 * write queues nothing of its own: one B-tree less to dirty at each
 * commit (bench_write, one visit a transaction: 0.33-0.38 of raw SQLite
 * before, 0.40-0.43 after). The change log only grows (but for a new identity, which sets
 * the mark after it), so a mark below the truth only indexes a record
 * again; a replica of a build before the mark gets it at open. */
#define LOG_MARK "(SELECT v FROM meta WHERE k='search_log')"

int fs__search_log_spill(fs_replica *r)
{
    if (!r->search)
        return 0;
    const char *what = "queueing the latest writes for the search index";
    uint64_t mark = 0, last = 0;
    int rc = fs__query_u64(r, "SELECT coalesce(" LOG_MARK ", 0)", &mark);
    if (rc == 0)
        rc = fs_last_seq(r, &last);
    if (rc != 0 || last <= mark)
        return rc;
    rc = fs__exec(r,
                  "INSERT OR IGNORE INTO search_pending(tbl, row)"
                  " SELECT DISTINCT tbl, row FROM changelog WHERE seq > coalesce(" LOG_MARK ", 0)",
                  what);
    return rc != 0 ? rc : fs__meta_put(r, "search_log", (sqlite3_int64)last, NULL, what);
}

int fs__search_log_renumbered(fs_replica *r)
{
    if (!r->search)
        return 0;
    uint64_t last = 0;
    int rc = fs_last_seq(r, &last);
    return rc != 0 ? rc
                   : fs__meta_put(r, "search_log", (sqlite3_int64)last, NULL,
                                  "queueing the latest writes for the search index");
}

int fs__search_forget(fs_replica *r, unsigned tix, const uint8_t row[FS_ID_BYTES])
{
    if (!r->search || kind_of(tix) == NULL)
        return 0;
    return queue(r, tix, row);
}

/* SELECT of a kind's indexed columns: of the live rows, or (one) of one row
 * by id with its tombstone first. */
static int kind_select(fs_replica *r, size_t k, int by_id, sqlite3_stmt **st)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    char sql[512];
    size_t len = 0;
    int bad = fs__append(sql, sizeof sql, &len, "SELECT %s", by_id ? "deleted" : "id");
    for (int i = 0; i < kix[k].ncols; i++)
        bad |= fs__append(sql, sizeof sql, &len, ",\"%s\"",
                          tables[kix[k].tix].columns[kix[k].col[i]].name);
    bad |= fs__append(sql, sizeof sql, &len, " FROM \"%s\" WHERE %s", tables[kix[k].tix].name,
                      by_id ? "id=?1" : "deleted=0");
    if (bad)
        return fs__fail(r, FS_EINVAL, "statement too long");
    return fs__prepare(r, sql, st);
}

/* The folded body of the current row's columns 1..ncols of st. */
static int row_body(fs_replica *r, sqlite3_stmt *st, int ncols, char **body)
{
    field f[SEARCH_MAX_FIELDS];
    for (int i = 0; i < ncols; i++) {
        int text = sqlite3_column_type(st, i + 1) == SQLITE_TEXT;
        f[i].p = text ? sqlite3_column_text(st, i + 1) : NULL;
        f[i].n = text ? (size_t)sqlite3_column_bytes(st, i + 1) : 0;
    }
    return fold_fields(r, f, ncols, body);
}

/* Brings up to `limit` queued records into the index, as they are now (a
 * record deleted or purged since leaves it), and takes them off the queue,
 * in the caller's transaction; *done says how many. */
static int drain_chunk(fs_replica *r, size_t limit, size_t *done)
{
    const char *what = "updating the search index";
    *done = 0;
    typedef struct {
        int tix;
        uint8_t id[FS_ID_BYTES];
    } queued;
    queued *q = malloc(limit * sizeof *q);
    if (q == NULL)
        return fs__fail(r, FS_ENOMEM, "out of memory");
    size_t n = 0;
    sqlite3_stmt *pend = NULL, *unq = NULL, *by_kind[NKINDS] = {NULL};
    int rc = fs__prepare(r, "SELECT tbl, row FROM search_pending LIMIT ?1", &pend);
    int src = SQLITE_DONE;
    if (rc == 0) {
        sqlite3_bind_int64(pend, 1, (sqlite3_int64)limit);
        while (n < limit && (src = sqlite3_step(pend)) == SQLITE_ROW) {
            q[n].tix = sqlite3_column_int(pend, 0);
            if (sqlite3_column_bytes(pend, 1) != FS_ID_BYTES)
                q[n].tix = -1; /* not a record: only taken off the queue */
            else
                memcpy(q[n].id, sqlite3_column_blob(pend, 1), FS_ID_BYTES);
            n++;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = fs__dbfail(r, src, what);
        sqlite3_finalize(pend);
    }
    if (rc == 0)
        rc = fs__prepare(r, "DELETE FROM search_pending WHERE tbl=?1 AND row=?2", &unq);
    for (size_t k = 0; rc == 0 && k < NKINDS; k++)
        if (kix[k].tix >= 0)
            rc = kind_select(r, k, 1, &by_kind[k]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t k = 0;
        while (q[i].tix >= 0 && k < NKINDS && kix[k].tix != q[i].tix)
            k++;
        if (q[i].tix >= 0 && k < NKINDS) {
            sqlite3_stmt *st = by_kind[k];
            sqlite3_bind_blob(st, 1, q[i].id, FS_ID_BYTES, SQLITE_STATIC);
            int s2 = sqlite3_step(st);
            char *body = NULL;
            if (s2 == SQLITE_ROW && sqlite3_column_int(st, 0) == 0)
                rc = row_body(r, st, kix[k].ncols, &body);
            else if (s2 != SQLITE_ROW && s2 != SQLITE_DONE)
                rc = fs__dbfail(r, s2, what);
            sqlite3_reset(st);
            if (rc == 0)
                rc = put_doc(r, (unsigned)q[i].tix, q[i].id, body);
            free(body);
        }
        if (rc == 0) {
            sqlite3_bind_int(unq, 1, q[i].tix);
            sqlite3_bind_blob(unq, 2, q[i].id, FS_ID_BYTES, SQLITE_STATIC);
            rc = run(r, unq, what);
        }
    }
    sqlite3_finalize(unq);
    for (size_t k = 0; k < NKINDS; k++)
        sqlite3_finalize(by_kind[k]);
    free(q);
    if (rc == 0)
        *done = n;
    return rc;
}

#define DRAIN_CHUNK 256 /* records a transaction of fs_search_catch_up */

/* Brings every queued record into the index, in one transaction: the
 * caller's if one is open. */
static int drain(fs_replica *r)
{
    const char *what = "updating the search index";
    uint64_t n = 0;
    int rc = fs_search_queued(r, &n);
    if (rc != 0 || n == 0)
        return rc;
    int own = !r->in_tx;
    if (own && (rc = fs__exec(r, "BEGIN IMMEDIATE", what)) != 0)
        return rc;
    size_t done = 0;
    rc = fs__search_log_spill(r);
    if (rc == 0)
        do
            rc = drain_chunk(r, DRAIN_CHUNK, &done);
    while (rc == 0 && done > 0);
    if (own && rc == 0)
        rc = fs__exec(r, "COMMIT", what);
    if (own && rc != 0)
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int fs_search_catch_up(fs_replica *r, uint64_t *indexed)
{
    const char *what = "updating the search index";
    *indexed = 0;
    if (!r->search)
        return 0;
    pthread_once(&kix_once, kix_init);
    if (r->in_tx)
        return fs__fail(r, FS_ESTATE, "the search index is caught up outside a transaction");
    size_t done = 0;
    int rc;
    do {
        if ((rc = fs__exec(r, "BEGIN IMMEDIATE", what)) != 0)
            return rc;
        rc = fs__search_log_spill(r);
        if (rc == 0)
            rc = drain_chunk(r, DRAIN_CHUNK, &done);
        if (rc == 0)
            rc = fs__exec(r, "COMMIT", what);
        if (rc != 0)
            sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
        else
            *indexed += done;
    } while (rc == 0 && done > 0);
    return rc;
}

int fs_search_queued(fs_replica *r, uint64_t *n)
{
    *n = 0;
    if (!r->search)
        return 0;
    return fs__query_u64(r,
                         "SELECT count(*) FROM (SELECT tbl, row FROM search_pending UNION"
                         " SELECT tbl, row FROM changelog WHERE seq > coalesce(" LOG_MARK ", 0))",
                         n);
}

/* ---- building the index ---- */

#define SEARCH_TABLES_SQL                                                                  \
    "DROP TABLE IF EXISTS search_fts; DROP TABLE IF EXISTS search_doc;"                    \
    "DROP TABLE IF EXISTS search_pending;"                                                 \
    "CREATE TABLE search_pending(tbl INTEGER NOT NULL, row BLOB NOT NULL,"                 \
    " PRIMARY KEY(tbl, row)) WITHOUT ROWID;"                                               \
    "CREATE TABLE search_doc(docid INTEGER PRIMARY KEY, tbl INTEGER NOT NULL,"             \
    " row BLOB NOT NULL, body TEXT NOT NULL, UNIQUE(tbl, row));"                           \
    "CREATE VIRTUAL TABLE search_fts USING fts5(body, content='search_doc',"               \
    " content_rowid='docid', tokenize='trigram');"

/* Fills search_doc from the live rows of every kind, then the FTS index. */
static int fill(fs_replica *r)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    pthread_once(&kix_once, kix_init);
    sqlite3_stmt *ins = NULL;
    int rc = fs__prepare(r, "INSERT INTO search_doc(tbl, row, body) VALUES(?1, ?2, ?3)", &ins);
    for (size_t k = 0; rc == 0 && k < NKINDS; k++) {
        if (kix[k].tix < 0)
            continue;
        char sql[512];
        size_t len = 0;
        int bad = fs__append(sql, sizeof sql, &len, "SELECT id");
        for (int i = 0; i < kix[k].ncols; i++)
            bad |= fs__append(sql, sizeof sql, &len, ",\"%s\"",
                              tables[kix[k].tix].columns[kix[k].col[i]].name);
        bad |= fs__append(sql, sizeof sql, &len, " FROM \"%s\" WHERE deleted=0",
                          tables[kix[k].tix].name);
        if (bad) {
            rc = fs__fail(r, FS_EINVAL, "statement too long");
            break;
        }
        sqlite3_stmt *st = NULL;
        rc = fs__prepare(r, sql, &st);
        int src = SQLITE_DONE;
        while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_bytes(st, 0) != FS_ID_BYTES)
                continue;
            field f[SEARCH_MAX_FIELDS];
            for (int i = 0; i < kix[k].ncols; i++) {
                int text = sqlite3_column_type(st, i + 1) == SQLITE_TEXT;
                f[i].p = text ? sqlite3_column_text(st, i + 1) : NULL;
                f[i].n = text ? (size_t)sqlite3_column_bytes(st, i + 1) : 0;
            }
            char *body = NULL;
            rc = fold_fields(r, f, kix[k].ncols, &body);
            if (rc == 0 && body != NULL) {
                sqlite3_bind_int(ins, 1, kix[k].tix);
                sqlite3_bind_blob(ins, 2, sqlite3_column_blob(st, 0), FS_ID_BYTES,
                                  SQLITE_TRANSIENT);
                sqlite3_bind_text(ins, 3, body, -1, SQLITE_STATIC);
                rc = run(r, ins, "building the search index");
            }
            free(body);
        }
        if (rc == 0 && src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "building the search index");
        sqlite3_finalize(st);
    }
    sqlite3_finalize(ins);
    if (rc == 0)
        rc = fs__exec(r, "INSERT INTO search_fts(search_fts) VALUES('rebuild')",
                      "building the search index");
    return rc;
}

int fs__search_setup(fs_replica *r)
{
    if (r->keep_feed) /* a server's replica */
        return 0;
    char want[32];
    snprintf(want, sizeof want, "%d %s", SEARCH_FORMAT, fs_fold_kind());
    sqlite3_stmt *st = NULL;
    int rc = fs__prepare(r,
                         "SELECT v FROM meta WHERE k='search' AND EXISTS"
                         " (SELECT 1 FROM sqlite_master WHERE name='search_fts')",
                         &st);
    if (rc != 0)
        return rc;
    int src = sqlite3_step(st);
    int same = src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
               strcmp((const char *)sqlite3_column_text(st, 0), want) == 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return fs__dbfail(r, src, "opening the search index");
    if (!same) {
        const char *what = "building the search index";
        rc = fs__exec(r, "BEGIN IMMEDIATE", what);
        if (rc != 0)
            return rc;
        rc = fs__exec(r, SEARCH_TABLES_SQL, what);
        if (rc == 0)
            rc = fill(r);
        if (rc == 0)
            rc = fs__meta_put(r, "search", 0, want, what);
        if (rc == 0) /* fill indexed every live row: the whole log is behind */
            rc = fs__exec(r, "DELETE FROM meta WHERE k='search_log'", what);
        if (rc == 0)
            rc = fs__exec(r, "COMMIT", what);
        if (rc != 0) {
            sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    r->search = 1;
    /* no mark (a new index, or a replica of a build that queued every
     * write): every entry in the log is queued or indexed now */
    uint64_t marked = 0;
    rc = fs__query_u64(r, "SELECT count(*) FROM meta WHERE k='search_log'", &marked);
    if (rc == 0 && marked == 0)
        rc = fs__search_log_renumbered(r);
    if (rc != 0)
        r->search = 0;
    return rc;
}

void fs__search_free(fs_replica *r)
{
    for (int i = 0; i < ST_N; i++) {
        sqlite3_finalize(r->search_st[i]);
        r->search_st[i] = NULL;
    }
}

/* ---- queries ---- */

/* Characters in UTF-8 text s (n bytes). */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

int fs_search(fs_replica *r, const char *text, const char *kind, fs_search_hit *out, size_t max,
              size_t *count)
{
    *count = 0;
    if (!r->search)
        return fs__fail(r, FS_ESTATE, "this replica has no search index");
    pthread_once(&kix_once, kix_init);
    int drc = drain(r);
    if (drc != 0)
        return drc;
    if (text == NULL || strlen(text) > SEARCH_QUERY_MAX)
        return fs__fail(r, FS_EINVAL, "a search is 1 to %d bytes", SEARCH_QUERY_MAX);
    int ktix = -1;
    if (kind != NULL) {
        if (!fs_search_table(kind))
            return fs__fail(r, FS_EINVAL, "%s records are not searched", kind);
        ktix = fs_schema_table_index(kind);
    }
    char *q = NULL;
    int rc = fs_fold(text, strlen(text), &q);
    if (rc != 0)
        return fs__fail(r, rc, "cannot fold the search");
    /* Terms: split at spaces (an ideographic space is one too). */
    for (char *p = q; (p = strstr(p, "\xe3\x80\x80")) != NULL;)
        memcpy(p, "   ", 3);
    const char *term[SEARCH_TERMS_MAX];
    size_t nterm = 0;
    for (char *save = NULL, *t = strtok_r(q, " \t\r\n", &save); t != NULL;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (nterm == SEARCH_TERMS_MAX) {
            free(q);
            return fs__fail(r, FS_EINVAL, "a search has at most %d words", SEARCH_TERMS_MAX);
        }
        term[nterm++] = t;
    }
    if (nterm == 0) {
        free(q);
        return fs__fail(r, FS_EINVAL, "nothing to search for");
    }
    /* Terms of three characters or more go to the trigram index as
     * phrases (quotes doubled); shorter ones are looked for in the bodies. */
    sbuf match = {NULL, 0, 0};
    char sql[1024];
    size_t len = 0;
    int bad = 0, nshort = 0;
    for (size_t i = 0; rc == 0 && i < nterm; i++) {
        if (utf8_chars(term[i], strlen(term[i])) < 3) {
            nshort++;
            continue;
        }
        rc = sbuf_add(&match, match.len ? " \"" : "\"", match.len ? 2 : 1);
        for (const char *p = term[i]; rc == 0 && *p; p++)
            rc = *p == '"' ? sbuf_add(&match, "\"\"", 2) : sbuf_add(&match, p, 1);
        if (rc == 0)
            rc = sbuf_add(&match, "\"", 1);
    }
    if (rc != 0) {
        free(q);
        free(match.p);
        return fs__fail(r, rc, "out of memory");
    }
    if (match.len > 0)
        bad |= fs__append(sql, sizeof sql, &len,
                          "SELECT d.tbl, d.row, search_fts.rank FROM search_fts JOIN search_doc d"
                          " ON d.docid=search_fts.rowid WHERE search_fts MATCH ?1");
    else
        bad |= fs__append(sql, sizeof sql, &len,
                          "SELECT d.tbl, d.row, 0.0 FROM search_doc d WHERE ?1 IS NULL");
    if (ktix >= 0)
        bad |= fs__append(sql, sizeof sql, &len, " AND d.tbl=%d", ktix);
    for (int i = 0; i < nshort; i++)
        bad |= fs__append(sql, sizeof sql, &len, " AND instr(d.body, ?%d) > 0", i + 2);
    bad |= fs__append(sql, sizeof sql, &len, match.len > 0 ? " ORDER BY search_fts.rank LIMIT %zu"
                                                          : " ORDER BY d.docid DESC LIMIT %zu",
                      max);
    sqlite3_stmt *st = NULL;
    if (bad)
        rc = fs__fail(r, FS_EINVAL, "statement too long");
    else
        rc = fs__prepare(r, sql, &st);
    if (rc == 0) {
        if (match.len > 0)
            sqlite3_bind_text(st, 1, match.p, (int)match.len, SQLITE_STATIC);
        int k = 2;
        for (size_t i = 0; i < nterm; i++)
            if (utf8_chars(term[i], strlen(term[i])) < 3)
                sqlite3_bind_text(st, k++, term[i], -1, SQLITE_STATIC);
        int src;
        unsigned nt;
        const fs_table *tables = fs_schema_tables(&nt);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            int tix = sqlite3_column_int(st, 0);
            if (tix < 0 || (unsigned)tix >= nt || sqlite3_column_bytes(st, 1) != FS_ID_BYTES)
                continue;
            fs_search_hit *h = &out[*count];
            h->table = tables[tix].name;
            memcpy(h->id, sqlite3_column_blob(st, 1), FS_ID_BYTES);
            h->rank = sqlite3_column_double(st, 2);
            if (++*count == max)
                break;
        }
        if (src != SQLITE_ROW && src != SQLITE_DONE)
            rc = fs__dbfail(r, src, "searching");
    }
    sqlite3_finalize(st);
    free(match.p);
    free(q);
    return rc;
}
