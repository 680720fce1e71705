/*
 * Encrypting VFS: no plaintext in any file (database, WAL, rollback journal,
 * hot journal), tampering and truncation detected, page size and reserve
 * changes refused, temporary files refused.
 */
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fieldsync/replica.h"
#include "fieldsync/vfs.h"
#include "replica_int.h"
#include "test.h"

static const char *markers[] = {"ZQXMARKERASCII7731", "華東測試標記甲乙丙", "MARKERNOTES9921",
                                "客戶會議室標記丁戊"};
#define NMARKERS (sizeof markers / sizeof markers[0])

static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Scans every regular file in dir for every marker; returns files scanned. */
static int scan_dir(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls -1 '%s'", dir);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    char name[256];
    int files = 0;
    while (fgets(name, sizeof name, p)) {
        name[strcspn(name, "\n")] = '\0';
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        size_t n = 0;
        unsigned char *buf = test_read_file(path, &n);
        if (buf == NULL)
            continue;
        files++;
        for (size_t m = 0; m < NMARKERS; m++)
            if (contains(buf, n, markers[m]))
                FAIL("plaintext marker %zu found in %s", m, name);
        free(buf);
    }
    pclose(p);
    return files;
}

static fs_replica *make_replica(const char *dir)
{
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_create(&r, dir, "pw", 2, &o));
    return r;
}

static fs_replica *reopen(const char *dir, int *rc)
{
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    *rc = fs_replica_open(&r, dir, "pw", 2, &o);
    return r;
}

static void fill(fs_replica *r, int n)
{
    CHECK_OK(fs_begin(r));
    for (int i = 0; i < n; i++) {
        uint8_t cid[16], vid[16];
        char name[128];
        snprintf(name, sizeof name, "%s %d %s", markers[0], i, markers[1]);
        fs_cell c[] = {{"name", fs_text(name)}, {"industry", fs_text(markers[1])}};
        CHECK_OK(fs_insert(r, "customer", c, 2, cid));
        fs_cell v[] = {{"customer", fs_blob(cid, 16)},
                       {"time", fs_text("2023-10-10 14:00")},
                       {"place", fs_text(markers[3])},
                       {"purpose", fs_text("follow up project XX")},
                       {"notes", fs_text(markers[2])}};
        CHECK_OK(fs_insert(r, "visit", v, 5, vid));
    }
    CHECK_OK(fs_commit(r));
}

static void test_no_plaintext_in_replica_files(void)
{
    char *dir = test_tmpdir();
    char rdir[600];
    snprintf(rdir, sizeof rdir, "%s/r", dir);
    fs_replica *r = make_replica(rdir);
    fill(r, 300);
    for (int i = 0; i < 50; i++)
        fill(r, 1); /* small transactions stay in the WAL */
    char wal[700];
    snprintf(wal, sizeof wal, "%s/replica.db-wal", rdir);
    struct stat st;
    CHECK(stat(wal, &st) == 0 && st.st_size > 0); /* the WAL is there to be scanned */
    CHECK(scan_dir(rdir) >= 3);
    fs_replica_close(r);
    CHECK(scan_dir(rdir) >= 2);
    /* The markers are really stored: they read back. */
    int rc;
    r = reopen(rdir, &rc);
    CHECK_OK(rc);
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open(&it, r, "visit", NULL, NULL, NULL));
    int rows = 0;
    while (fs_rows_next(it) == 1) {
        fs_value v;
        CHECK_OK(fs_rows_get(it, "notes", &v));
        CHECK(v.n == strlen(markers[2]) && memcmp(v.p, markers[2], v.n) == 0);
        rows++;
    }
    fs_rows_close(it);
    CHECK_EQ_INT(rows, 350);
    fs_replica_close(r);
    test_rmtree(dir);
}

/* A raw connection over the VFS in rollback-journal mode. */
static sqlite3 *raw_open(const char *path, fs_cryptvfs **vfs, fs_secret *s, const char *mode)
{
    CHECK_OK(fs_cryptvfs_new(vfs, s));
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 fs_cryptvfs_name(*vfs)),
                 SQLITE_OK);
    int reserve = FS_VFS_RESERVE;
    CHECK_EQ_INT(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve),
                 SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA temp_store=MEMORY; PRAGMA journal_mode=%s; PRAGMA cache_size=2;", mode);
    CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static fs_secret *random_secret(void)
{
    fs_secret *s = NULL;
    CHECK(sodium_init() >= 0);
    CHECK_OK(fs_secret_new(&s));
    randombytes_buf(s->key, FS_KEY_BYTES);
    randombytes_buf(s->dbid, FS_DBID_BYTES);
    return s;
}

static void raw_fill(sqlite3 *db)
{
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE t(a TEXT, b TEXT); BEGIN;", NULL, NULL, NULL),
                 SQLITE_OK);
    for (int i = 0; i < 400; i++) {
        char sql[512];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES('%s %d', '%s');", markers[0], i,
                 markers[1]);
        CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    CHECK_EQ_INT(sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
}

static int count_markers(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE b='%s'", markers[1]);
    CHECK_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_rollback_journal_and_hot_journal(void)
{
    char *dir = test_tmpdir();
    char path[600], journal[700];
    snprintf(path, sizeof path, "%s/j.db", dir);
    snprintf(journal, sizeof journal, "%s-journal", path);
    fs_secret *s = random_secret();
    fs_cryptvfs *vfs = NULL;
    sqlite3 *db = raw_open(path, &vfs, s, "DELETE");
    raw_fill(db);
    /* A transaction that spills to disk: the journal holds old page images. */
    CHECK_EQ_INT(sqlite3_exec(db, "BEGIN; UPDATE t SET b='changed', a='changed';", NULL, NULL,
                              NULL),
                 SQLITE_OK);
    struct stat st;
    CHECK(stat(journal, &st) == 0 && st.st_size > 4096 * 4);
    CHECK(scan_dir(dir) >= 2);
    CHECK_EQ_INT(sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(count_markers(db), 400); /* read back through the journal */
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);

    /* A hot journal: a process is killed mid-transaction (from outside, as a
     * crash would: no commit, no close); the next open rolls back. */
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        fs_cryptvfs *v2 = NULL;
        sqlite3 *d2 = raw_open(path, &v2, s, "DELETE");
        if (sqlite3_exec(d2, "BEGIN; UPDATE t SET b='lost', a='lost';", NULL, NULL, NULL) !=
            SQLITE_OK)
            _exit(3);
        char x = 'r';
        if (write(ready[1], &x, 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    char x;
    CHECK_EQ_INT(read(ready[0], &x, 1), 1);
    close(ready[0]);
    close(ready[1]);
    kill(pid, SIGKILL);
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    CHECK(stat(journal, &st) == 0 && st.st_size > 0);
    CHECK(scan_dir(dir) >= 2);
    db = raw_open(path, &vfs, s, "DELETE");
    CHECK_EQ_INT(count_markers(db), 400);
    sqlite3_stmt *q = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);
    fs_secret_free(s);
    test_rmtree(dir);
}

/* Opens the replica and reads everything; returns the first error or 0. */
static int read_all(const char *dir)
{
    int rc;
    fs_replica *r = reopen(dir, &rc);
    if (rc != 0)
        return rc;
    uint8_t h[32];
    size_t problems = 0;
    rc = fs_replica_state_hash(r, h);
    if (rc == 0)
        rc = fs_replica_check(r, &problems);
    if (rc == 0) {
        sqlite3_stmt *q = NULL;
        int src = sqlite3_prepare_v2(fs__replica_db(r), "PRAGMA integrity_check", -1, &q, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_step(q);
        if (src != SQLITE_ROW)
            rc = fs__dbfail(r, src, "integrity check");
        else if (strcmp((const char *)sqlite3_column_text(q, 0), "ok") != 0)
            rc = FS_EINTEGRITY;
        sqlite3_finalize(q);
    }
    fs_replica_close(r);
    return rc;
}

static void test_tampered_page_detected(void)
{
    char *dir = test_tmpdir();
    char rdir[600], db[700];
    snprintf(rdir, sizeof rdir, "%s/r", dir);
    snprintf(db, sizeof db, "%s/replica.db", rdir);
    fs_replica *r = make_replica(rdir);
    fill(r, 120);
    sqlite3_stmt *q = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r), "PRAGMA freelist_count", -1, &q, NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 0); /* every page is in use, so every page is read */
    sqlite3_finalize(q);
    fs_replica_close(r);
    CHECK_OK(read_all(rdir));
    size_t n = 0;
    unsigned char *orig = test_read_file(db, &n);
    CHECK(orig != NULL && n % 4096 == 0);
    unsigned char *copy = malloc(n);
    CHECK(copy != NULL);
    uint32_t seed = 12345;
    size_t pages = n / 4096;
    for (size_t p = 0; p < pages; p++) {
        /* a random byte in the body, then the nonce, then the tag */
        size_t offs[3];
        seed = seed * 1103515245u + 12345u;
        offs[0] = (p == 0 ? 24 : 0) + (seed >> 8) % (4096 - 40 - (p == 0 ? 24 : 0));
        offs[1] = 4096 - 40 + (seed >> 4) % 24;
        offs[2] = 4096 - 16 + (seed >> 12) % 16;
        for (int k = 0; k < 3; k++) {
            memcpy(copy, orig, n);
            copy[p * 4096 + offs[k]] ^= (unsigned char)(1u << ((seed >> 20) % 8));
            test_write_file(db, copy, n);
            int rc = read_all(rdir);
            if (rc != FS_EINTEGRITY)
                FAIL("page %zu byte %zu flipped: got %s", p + 1, offs[k], fs_errname(rc));
        }
    }
    /* The plaintext header of page 1 is authenticated too. */
    for (size_t off = 0; off < 24; off++) {
        memcpy(copy, orig, n);
        copy[off] ^= 0x01;
        test_write_file(db, copy, n);
        int rc = read_all(rdir);
        CHECK(rc != 0);
    }
    test_write_file(db, orig, n);
    CHECK_OK(read_all(rdir));
    printf("flipped bytes in %zu pages: all refused\n", pages);
    free(orig);
    free(copy);
    test_rmtree(dir);
}

static void test_truncated_file_detected(void)
{
    char *dir = test_tmpdir();
    char rdir[600], db[700];
    snprintf(rdir, sizeof rdir, "%s/r", dir);
    snprintf(db, sizeof db, "%s/replica.db", rdir);
    fs_replica *r = make_replica(rdir);
    fill(r, 120);
    fs_replica_close(r);
    size_t n = 0;
    unsigned char *orig = test_read_file(db, &n);
    CHECK(orig != NULL);
    size_t cuts[] = {n - 1, n - 4096, n / 2 + 100, 4096 + 7, 4096, 100, 10};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        test_write_file(db, orig, cuts[k]);
        int rc = read_all(rdir);
        if (rc != FS_EINTEGRITY)
            FAIL("truncated to %zu bytes: got %s", cuts[k], fs_errname(rc));
    }
    test_write_file(db, orig, n);
    CHECK_OK(read_all(rdir));
    free(orig);
    test_rmtree(dir);
}

static void test_page_size_and_reserve_changes_refused(void)
{
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/p.db", dir);
    fs_secret *s = random_secret();
    fs_cryptvfs *vfs = NULL;
    sqlite3 *db = raw_open(path, &vfs, s, "DELETE");
    raw_fill(db);
    /* A plain VACUUM keeps page size and reserve: allowed. */
    CHECK_EQ_INT(sqlite3_exec(db, "VACUUM", NULL, NULL, NULL), SQLITE_OK);
    CHECK_EQ_INT(count_markers(db), 400);
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA page_size=8192; VACUUM;", NULL, NULL, NULL) !=
                     SQLITE_OK,
                 1);
    char msg[200];
    CHECK_EQ_INT(fs_cryptvfs_take_error(vfs, msg, sizeof msg), FS_EPAGEFMT);
    if (strstr(msg, "page size change refused") == NULL)
        FAIL("unexpected message: %s", msg);
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA page_size=4096;", NULL, NULL, NULL), SQLITE_OK);
    int reserve = 48;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    CHECK(sqlite3_exec(db, "VACUUM;", NULL, NULL, NULL) != SQLITE_OK);
    CHECK_EQ_INT(fs_cryptvfs_take_error(vfs, msg, sizeof msg), FS_EPAGEFMT);
    if (strstr(msg, "reserved-bytes change refused") == NULL)
        FAIL("unexpected message: %s", msg);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);
    db = raw_open(path, &vfs, s, "DELETE");
    CHECK_EQ_INT(count_markers(db), 400); /* nothing was lost */
    sqlite3_stmt *q = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(q, 0), 4096);
    sqlite3_finalize(q);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);

    /* A database written without the reserve is refused at its first write. */
    snprintf(path, sizeof path, "%s/noreserve.db", dir);
    CHECK_OK(fs_cryptvfs_new(&vfs, s));
    CHECK_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                 fs_cryptvfs_name(vfs)),
                 SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE t(a)", NULL, NULL, NULL) != SQLITE_OK);
    CHECK_EQ_INT(fs_cryptvfs_take_error(vfs, msg, sizeof msg), FS_EPAGEFMT);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);
    fs_secret_free(s);
    test_rmtree(dir);
}

static void test_plain_sqlite_file_refused(void)
{
    char *dir = test_tmpdir();
    char rdir[600], db[700];
    snprintf(rdir, sizeof rdir, "%s/r", dir);
    snprintf(db, sizeof db, "%s/replica.db", rdir);
    fs_replica *r = make_replica(rdir);
    fs_replica_close(r);
    unlink(db);
    sqlite3 *plain = NULL;
    CHECK_EQ_INT(sqlite3_open(db, &plain), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(plain, "CREATE TABLE meta(k,v)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(plain);
    CHECK_ERR(read_all(rdir), FS_EINTEGRITY);
    test_rmtree(dir);
}

static void test_temp_files_refused(void)
{
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/t.db", dir);
    fs_secret *s = random_secret();
    fs_cryptvfs *vfs = NULL;
    sqlite3 *db = raw_open(path, &vfs, s, "DELETE");
    CHECK_EQ_INT(sqlite3_exec(db, "PRAGMA temp_store=FILE; PRAGMA temp.cache_size=2;", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    /* Enough rows to spill out of the two-page cache into a temporary file. */
    CHECK(sqlite3_exec(db,
                       "CREATE TEMP TABLE x(a); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                       " SELECT i+1 FROM n WHERE i<5000) INSERT INTO x SELECT randomblob(200)"
                       " FROM n;",
                       NULL, NULL, NULL) != SQLITE_OK);
    char msg[200];
    CHECK_EQ_INT(fs_cryptvfs_take_error(vfs, msg, sizeof msg), FS_EINVAL);
    CHECK(strstr(msg, "temporary files are refused") != NULL);
    sqlite3_close(db);
    fs_cryptvfs_free(vfs);
    fs_secret_free(s);
    test_rmtree(dir);
}

/* After a crash the WAL is left behind: it holds no plaintext, and the
 * replica reopens with every committed transaction. */
static void test_wal_after_crash(void)
{
    char *dir = test_tmpdir();
    char rdir[600];
    snprintf(rdir, sizeof rdir, "%s/r", dir);
    fs_replica *r = make_replica(rdir);
    fs_replica_close(r);
    pid_t pid = fork();
    if (pid == 0) {
        int rc;
        fs_replica *c = reopen(rdir, &rc);
        if (rc != 0)
            _exit(2);
        for (int i = 0; i < 20; i++)
            fill(c, 3);
        _exit(0); /* no close: no checkpoint */
    }
    int wst = 0;
    waitpid(pid, &wst, 0);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    char wal[700];
    snprintf(wal, sizeof wal, "%s/replica.db-wal", rdir);
    struct stat st;
    CHECK(stat(wal, &st) == 0 && st.st_size > 0);
    CHECK(scan_dir(rdir) >= 3);
    int rc;
    r = reopen(rdir, &rc);
    CHECK_OK(rc);
    fs_rows *it = NULL;
    int rows = 0;
    CHECK_OK(fs_rows_open(&it, r, "visit", NULL, NULL, NULL));
    while (fs_rows_next(it) == 1)
        rows++;
    fs_rows_close(it);
    CHECK_EQ_INT(rows, 60);
    fs_replica_close(r);
    test_rmtree(dir);
}

static void test_open_page_rejects_garbage(void)
{
    fs_secret *s = random_secret();
    fs_cryptvfs *vfs = NULL;
    CHECK_OK(fs_cryptvfs_new(&vfs, s));
    unsigned char page[4096];
    for (int i = 0; i < 100; i++) {
        randombytes_buf(page, sizeof page);
        page[20] = FS_VFS_RESERVE;
        CHECK_ERR(fs_cryptvfs_open_page(vfs, page, sizeof page, 1 + (unsigned)i), FS_EINTEGRITY);
    }
    CHECK_ERR(fs_cryptvfs_open_page(vfs, page, 1000, 1), FS_EFORMAT);
    CHECK_ERR(fs_cryptvfs_open_page(vfs, page, 4096, 0), FS_EFORMAT);
    fs_cryptvfs_free(vfs);
    fs_secret_free(s);
}

TEST_LIST(TEST(no_plaintext_in_replica_files) TEST(rollback_journal_and_hot_journal)
              TEST(tampered_page_detected) TEST(truncated_file_detected)
                  TEST(page_size_and_reserve_changes_refused) TEST(plain_sqlite_file_refused)
                      TEST(temp_files_refused) TEST(wal_after_crash)
                          TEST(open_page_rejects_garbage))
