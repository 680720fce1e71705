/*
 * The PostgreSQL store across nodes (issue 21.2): two data directories on
 * one log (the second a copy of the first, as an operator makes it); a node
 * killed between PostgreSQL's commit and SQLite's; a cache that diverged;
 * a node whose cache is ahead of a log restored from a backup; an
 * enrollment code made on one node redeemed on the other;
 * a node of another store; a password in the URL kept out of messages.
 * Needs FIELDSYNC_TEST_PG_URL (tests/pg/with_cluster.sh): without it, it
 * fails and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <sodium.h>

#include "fieldsync/enroll.h"
#include "fieldsync/identity.h"
#include "fieldsync/replica.h"
#include "fieldsync/replica_server.h"
#include "fieldsync/store.h"
#include "store/audit.h"
#include "store/pgbody.h"
#include "store/store_pg.h"
#include "store/store_sqlite.h"
#include "test.h"
#include "pgtest.h"
#include "records.h"

static fs_replica_opts opts(void)
{
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    return o;
}

typedef struct nodes {
    char dir[512], a[600], b[600], url[512];
    fs_store *na, *nb;
} nodes;

/* Node A made in a fresh database, closed, copied to B (cp -a of a stopped
 * node), both opened. */
static void nodes_open(nodes *n)
{
    fs_replica_opts o = opts();
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "%s", test_tmpdir());
    snprintf(n->a, sizeof n->a, "%s/a", n->dir);
    snprintf(n->b, sizeof n->b, "%s/b", n->dir);
    pgtest_new_db(n->url, sizeof n->url);
    CHECK_OK(fs_store_pg_create(&n->na, n->a, "server-pass", 11, n->url, &o));
    CHECK_OK(fs_store_user_add(n->na, "li", FS_ROLE_MANAGER, "north"));
    CHECK_OK(fs_store_user_add(n->na, "zhang", FS_ROLE_REP, "north"));
    fs_store_close(n->na);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", n->a, n->b);
    CHECK(system(cmd) == 0);
    CHECK_OK(fs_store_pg_open(&n->na, n->a, "server-pass", 11, NULL, &o));
    CHECK_OK(fs_store_pg_open(&n->nb, n->b, "server-pass", 11, NULL, &o));
}

static void nodes_close(nodes *n)
{
    fs_store_close(n->na);
    fs_store_close(n->nb);
    test_rmtree(n->dir);
}

static long long log_head(const char *url)
{
    PGconn *c = PQconnectdb(url);
    CHECK(PQstatus(c) == CONNECTION_OK);
    PGresult *res = PQexec(c, "SELECT coalesce(max(seq), 0) FROM fs_log");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
    long long v = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    PQfinish(c);
    return v;
}

typedef struct device {
    fs_replica *r;
    uint8_t pk[FS_SIGN_PK_BYTES];
} device;

static void device_make(device *d, const char *dir, const char *name)
{
    char path[1024];
    fs_replica_opts o = opts();
    fs_identity *id = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK_OK(fs_replica_create(&d->r, path, "pw", 2, &o));
    CHECK_OK(fs_replica_identity(d->r, &id));
    memcpy(d->pk, id->pk, FS_SIGN_PK_BYTES);
    fs_identity_free(id);
}

static int count_user(const char *name, fs_role role, const char *team, void *ctx)
{
    (void)role, (void)team;
    int *n = ctx;
    *n += strcmp(name, "crash") == 0;
    return 0;
}

/* A device enrolled on A is known on B; a push on A is pulled on B; the
 * same batch pushed again on B is acknowledged, not applied twice. */
static void test_two_nodes_one_log(void)
{
    nodes n;
    nodes_open(&n);
    CHECK(fs_store_notify_fd(n.nb) >= 0);
    device rep, mgr;
    device_make(&rep, n.dir, "rep");
    device_make(&mgr, n.dir, "mgr");
    CHECK_OK(fs_store_device_add(n.na, rep.pk, "zhang", "zhang-laptop"));
    /* B learns it from the notification alone: fs_store_refresh, polled as
     * a hub polls fs_store_notify_fd, no read op (each of which catches up
     * by itself); the cache is looked at directly */
    int known = 0;
    for (int i = 0; i < 500 && !known; i++) {
        CHECK_OK(fs_store_refresh(n.nb));
        sqlite3_stmt *st = NULL;
        CHECK(sqlite3_prepare_v2(fs_replica_db(fs_store_replica(n.nb)),
                                 "SELECT count(*) FROM devices WHERE pk=?1", -1, &st,
                                 NULL) == SQLITE_OK);
        sqlite3_bind_blob(st, 1, rep.pk, FS_SIGN_PK_BYTES, SQLITE_STATIC);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        known = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (!known)
            usleep(10000);
    }
    CHECK_EQ_INT(known, 1);
    char user[FS_USER_NAME_MAX + 1], team[FS_USER_NAME_MAX + 1];
    fs_role role;
    CHECK_OK(fs_store_device_user(n.nb, rep.pk, user, team, &role));
    CHECK_STR(user, "zhang");
    CHECK_OK(fs_store_refresh(n.nb)); /* nothing new: nothing done */
    CHECK_OK(fs_store_device_check(n.nb, rep.pk));
    CHECK_OK(fs_store_device_add(n.nb, mgr.pk, "li", "li-laptop"));

    uint8_t cust[16];
    fs_cell c[] = {{"name", fs_text("XX科技有限公司")}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(rep.r, "customer", c, 2, cust));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(rep.r, 0, 1000, &cs));
    fs_push_result res;
    memset(&res, 0, sizeof res);
    CHECK_OK(fs_store_push(n.na, rep.pk, cs->first_seq, cs->last_seq, cs->changes, cs->count,
                           &res));
    CHECK_EQ_INT(res.nrejects, 0);
    CHECK_EQ_INT(res.replayed, 0);
    free(res.rejects);
    uint64_t head_a = 0, head_b = 0;
    CHECK_OK(fs_store_feed_head(n.na, &head_a));
    /* the manager pulls on B */
    fs_changeset *got = NULL;
    uint64_t next = 0;
    int more = 0;
    CHECK_OK(fs_store_pull(n.nb, mgr.pk, 0, 1000, 0, &got, &next, &more));
    CHECK(got != NULL && got->count >= 2);
    CHECK_OK(fs_apply_pulled(mgr.r, got->changes, got->count, next, NULL));
    fs_changeset_free(got);
    CHECK_EQ_INT(fs_exists(mgr.r, "customer", cust), 1);
    CHECK_OK(fs_store_feed_head(n.nb, &head_b));
    CHECK_EQ_INT(head_b, head_a);
    /* the ACK was lost: the rep pushes the same batch to B */
    memset(&res, 0, sizeof res);
    CHECK_OK(fs_store_push(n.nb, rep.pk, cs->first_seq, cs->last_seq, cs->changes, cs->count,
                           &res));
    CHECK_EQ_INT(res.replayed, 1);
    CHECK_EQ_INT(res.acked_seq, cs->last_seq);
    free(res.rejects);
    CHECK_OK(fs_store_feed_head(n.nb, &head_b));
    CHECK_EQ_INT(head_b, head_a);
    CHECK_OK(fs_store_refresh(n.na));
    CHECK_OK(fs_store_feed_head(n.na, &head_a));
    CHECK_EQ_INT(head_a, head_b);
    /* both caches hold the same state */
    uint8_t ha[32], hb[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), ha));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), hb));
    CHECK_MEM(ha, hb, 32);
    /* an audit entry written outside the ops (the dashboard's) is logged too */
    long long before = log_head(n.url);
    CHECK_OK(fs_audit_append(fs_store_audit(n.na), "report_read", "li", "north", "search"));
    CHECK_EQ_INT(log_head(n.url), before + 1);
    printf("  two nodes, one log of %lld entries: enrolled on A known on B, pushed on A pulled on "
           "B, re-pushed on B replayed\n",
           log_head(n.url));
    fs_changeset_free(cs);
    fs_replica_close(rep.r);
    fs_replica_close(mgr.r);
    nodes_close(&n);
}

/* Killed between PostgreSQL's commit and SQLite's: the entry is in the log,
 * not in the cache; the node's next open applies it, once. */
static void test_crash_between_commits(void)
{
    nodes n;
    nodes_open(&n);
    fs_store_close(n.nb);
    n.nb = NULL;
    long long before = log_head(n.url);
    fs_store_close(n.na);
    n.na = NULL;
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        fs_replica_opts o = opts();
        fs_store *s = NULL;
        if (fs_store_pg_open(&s, n.a, "server-pass", 11, NULL, &o) != 0)
            _exit(2);
        setenv("FIELDSYNC_TEST_PG_CRASH", "between-commits", 1);
        (void)fs_store_user_add(s, "crash", FS_ROLE_REP, "north");
        _exit(3); /* the hook did not fire */
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 77);
    CHECK_EQ_INT(log_head(n.url), before + 1);
    fs_replica_opts o = opts();
    CHECK_OK(fs_store_pg_open(&n.na, n.a, "server-pass", 11, NULL, &o));
    int count = 0;
    CHECK_OK(fs_store_users(n.na, count_user, &count));
    CHECK_EQ_INT(count, 1);
    CHECK_ERR(fs_store_user_add(n.na, "crash", FS_ROLE_REP, "north"), FS_EEXIST);
    CHECK_EQ_INT(log_head(n.url), before + 1); /* the refused add wrote nothing */
    /* B, a copy from before, catches up with the same entry */
    CHECK_OK(fs_store_pg_open(&n.nb, n.b, "server-pass", 11, NULL, &o));
    count = 0;
    CHECK_OK(fs_store_users(n.nb, count_user, &count));
    CHECK_EQ_INT(count, 1);
    printf("  killed between the commits: the entry applied once at the next open\n");
    nodes_close(&n);
}

/* A cache changed beneath the log refuses to serve. */
static void test_diverged_cache_refuses(void)
{
    nodes n;
    nodes_open(&n);
    sqlite3 *db = fs_replica_db(fs_store_replica(n.nb));
    CHECK(sqlite3_exec(db, "UPDATE users SET team='elsewhere' WHERE name='zhang'", NULL, NULL,
                       NULL) == SQLITE_OK);
    CHECK_OK(fs_store_user_move(n.na, "zhang", "south"));
    int rc = fs_store_refresh(n.nb);
    if (rc == 0) /* no notification read yet: the next read catches up */
        rc = fs_store_users(n.nb, count_user, &(int){0});
    CHECK_ERR(rc, FS_EDB);
    CHECK(strstr(fs_store_errmsg(n.nb), "diverged") != NULL);
    CHECK_ERR(fs_store_device_check(n.nb, (uint8_t[FS_SIGN_PK_BYTES]){0}), FS_EDB);
    printf("  diverged: %s\n", fs_store_errmsg(n.nb));
    nodes_close(&n);
}

static void pg_run(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    CHECK(PQstatus(c) == CONNECTION_OK);
    PGresult *res = PQexec(c, sql);
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
}

/* An entry changed in the database (one bit of its body) does not open
 * with the store's key; an entry cut short is damaged. The node that meets
 * either applies nothing of it and says which entry; once the database
 * holds the entry as written again, it catches up. */
static void test_changed_entry_refused(void)
{
    nodes n;
    nodes_open(&n);
    CHECK_OK(fs_store_refresh(n.nb));
    uint8_t before[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), before));
    CHECK_OK(fs_store_user_add(n.na, "wang", FS_ROLE_REP, "north"));
    long long seq = log_head(n.url);
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE kept AS SELECT seq, body FROM fs_log WHERE seq=%lld;"
             " UPDATE fs_log SET body = set_byte(body, 40, get_byte(body, 40) # 1) WHERE seq=%lld",
             seq, seq);
    pg_run(n.url, sql);
    int rc = fs_store_refresh(n.nb);
    if (rc == 0) /* no notification read yet: the next read catches up */
        rc = fs_store_users(n.nb, count_user, &(int){0});
    CHECK_ERR(rc, FS_ETAMPERED);
    char want[128];
    snprintf(want, sizeof want, "entry %lld does not open with this store's key", seq);
    CHECK(strstr(fs_store_errmsg(n.nb), want) != NULL);
    printf("  changed: %s\n", fs_store_errmsg(n.nb));
    uint8_t after[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), after));
    CHECK_MEM(before, after, 32);

    snprintf(sql, sizeof sql, "UPDATE fs_log SET body = substring(body from 1 for 30) WHERE seq=%lld",
             seq);
    pg_run(n.url, sql);
    CHECK_ERR(fs_store_users(n.nb, count_user, &(int){0}), FS_EFORMAT);
    snprintf(want, sizeof want, "entry %lld is damaged", seq);
    CHECK(strstr(fs_store_errmsg(n.nb), want) != NULL);
    printf("  cut short: %s\n", fs_store_errmsg(n.nb));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), after));
    CHECK_MEM(before, after, 32);

    pg_run(n.url, "UPDATE fs_log SET body = kept.body FROM kept WHERE fs_log.seq = kept.seq");
    CHECK_ERR(fs_store_user_add(n.nb, "wang", FS_ROLE_REP, "north"), FS_EEXIST);
    uint8_t ha[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), ha));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), after));
    CHECK_MEM(ha, after, 32);
    /* a write too large for an entry is refused when sealed, not sealed
     * into one no node can open (the changeset is not read before) */
    unsigned char key[FS_PG_KEY_BYTES] = {0}, *body = NULL;
    size_t blen = 0;
    CHECK_ERR(fs__pg_body_seal(key, (uint8_t[16]){0}, 1, key, (size_t)FS_PG_BODY_MAX + 1, &body,
                               &blen),
              FS_ETOOBIG);
    CHECK(body == NULL);
    nodes_close(&n);
}

/* pgrestore21: an enrollment code made through one node is redeemed on
 * another at once (a rep handed a code by an admin on A whose laptop
 * reaches B). The codes' table was made when first used, on A alone: the
 * log entry of A's code was skipped by B (a changeset skips a table the
 * target lacks), B's cache lacked the code for good, and the redeem was
 * refused "unknown". Every node now makes the table at open. */
static void test_enroll_code_made_on_the_other_node(void)
{
    nodes n;
    nodes_open(&n);
    fs_identity *id = NULL;
    CHECK_OK(fs_replica_identity(fs_store_replica(n.na), &id));
    char code[FS_ENROLL_CODE_CHARS + 1];
    CHECK_OK(fs_enroll_code_create(n.na, "zhang", 3600000, id->pk, code, sizeof code));
    fs_identity_free(id);
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    fs_enroll_request req;
    memset(&req, 0, sizeof req);
    CHECK_OK(fs_enroll_code_parse(code, pk, secret));
    fs_enroll_request_code(secret, req.code);
    randombytes_buf(req.device_pk, sizeof req.device_pk);
    snprintf(req.device_name, sizeof req.device_name, "zhang-laptop");
    CHECK_OK(fs_enroll_device(n.nb, &req));
    CHECK_OK(fs_store_device_check(n.na, req.device_pk));
    uint8_t ha[32], hb[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), ha));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), hb));
    CHECK_MEM(ha, hb, 32);
    nodes_close(&n);
}

/* pgrestore21: the database put back from a dump taken at head H (here:
 * the entries after H deleted, which is what a restore of that dump
 * leaves) while node A's cache holds entries up to P > H. A node from a
 * copy taken at H (the operator's node backup) serves and writes the log
 * up to P again, other entries under the same numbers. A, opened then,
 * must refuse: its cache holds what the log lost. Before the node kept the
 * tag of the entry at its position it only compared numbers, found the
 * head equal to its position, applied nothing and served users the log
 * never had; and one more entry later it applied the new entries on top of
 * its own. */
static void test_node_ahead_of_a_restored_log(void)
{
    nodes n;
    nodes_open(&n);
    fs_store_close(n.nb);
    n.nb = NULL;
    fs_store_close(n.na);
    n.na = NULL;
    char bk[700], cmd[3200];
    snprintf(bk, sizeof bk, "%s/bk", n.dir);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", n.a, bk);
    CHECK(system(cmd) == 0);
    long long h = log_head(n.url);
    fs_replica_opts o = opts();
    CHECK_OK(fs_store_pg_open(&n.na, n.a, "server-pass", 11, NULL, &o));
    CHECK_OK(fs_store_user_add(n.na, "lost1", FS_ROLE_REP, "north"));
    CHECK_OK(fs_store_user_add(n.na, "lost2", FS_ROLE_REP, "north"));
    fs_store_close(n.na);
    n.na = NULL;
    long long p = log_head(n.url); /* A's position */
    CHECK(p > h);
    char sql[120];
    snprintf(sql, sizeof sql, "DELETE FROM fs_log WHERE seq > %lld", h);
    pg_run(n.url, sql);
    /* a copy of the node backup serves the restored log and writes it up
     * to P again */
    char c1[700], c2[700];
    snprintf(c1, sizeof c1, "%s/c1", n.dir);
    snprintf(c2, sizeof c2, "%s/c2", n.dir);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s' && cp -a '%s' '%s'", bk, c1, bk, c2);
    CHECK(system(cmd) == 0);
    CHECK_OK(fs_store_pg_open(&n.nb, c1, "server-pass", 11, NULL, &o));
    for (int i = 0; log_head(n.url) < p; i++) {
        char name[32];
        snprintf(name, sizeof name, "after%d", i);
        CHECK_OK(fs_store_user_add(n.nb, name, FS_ROLE_REP, "north"));
    }
    CHECK_EQ_INT(log_head(n.url), p);
    fs_store *s = NULL;
    CHECK_ERR(fs_store_pg_open(&s, n.a, "server-pass", 11, NULL, &o), FS_EDB);
    CHECK(s == NULL);
    CHECK(strstr(fs_store_pg_errmsg(), "diverged") != NULL);
    CHECK(strstr(fs_store_pg_errmsg(), "restored from a backup") != NULL);
    printf("  ahead of a log written again to its position: %s\n", fs_store_pg_errmsg());
    /* past the position, too */
    CHECK_OK(fs_store_user_add(n.nb, "later", FS_ROLE_REP, "north"));
    CHECK_ERR(fs_store_pg_open(&s, n.a, "server-pass", 11, NULL, &o), FS_EDB);
    CHECK(strstr(fs_store_pg_errmsg(), "diverged") != NULL);
    /* a running node under which the log is put back to H refuses at its
     * next op, and at every one after */
    pg_run(n.url, sql);
    CHECK_ERR(fs_store_users(n.nb, count_user, &(int){0}), FS_EDB);
    CHECK(strstr(fs_store_errmsg(n.nb), "log ends before") != NULL);
    CHECK_ERR(fs_store_user_add(n.nb, "more", FS_ROLE_REP, "north"), FS_EDB);
    CHECK_EQ_INT(log_head(n.url), h);
    fs_store_close(n.nb);
    n.nb = NULL;
    /* a copy of the node backup serves; another catches up with it */
    CHECK_OK(fs_store_pg_open(&n.na, c2, "server-pass", 11, NULL, &o));
    CHECK_OK(fs_store_user_add(n.na, "fine", FS_ROLE_REP, "north"));
    CHECK_OK(fs_store_pg_open(&n.nb, bk, "server-pass", 11, NULL, &o));
    CHECK_ERR(fs_store_user_add(n.nb, "fine", FS_ROLE_REP, "north"), FS_EEXIST);
    uint8_t ha[32], hb[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), ha));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), hb));
    CHECK_MEM(ha, hb, 32);
    nodes_close(&n);
}

/* A node of another store, and a password in the URL. */
static void test_wrong_store_and_secret_url(void)
{
    nodes n;
    nodes_open(&n);
    fs_store_close(n.nb);
    n.nb = NULL;
    char other_dir[700], other_url[512];
    snprintf(other_dir, sizeof other_dir, "%s/other", n.dir);
    pgtest_new_db(other_url, sizeof other_url);
    fs_replica_opts o = opts();
    fs_store *other = NULL;
    CHECK_OK(fs_store_pg_create(&other, other_dir, "server-pass", 11, other_url, &o));
    fs_store_close(other);
    fs_store *s = NULL;
    CHECK_ERR(fs_store_pg_open(&s, n.b, "server-pass", 11, other_url, &o), FS_ESTATE);
    CHECK(strstr(fs_store_pg_errmsg(), "another store") != NULL);
    /* the same database twice */
    CHECK_ERR(fs_store_pg_create(&s, other_dir, "server-pass", 11, n.url, &o), FS_EEXIST);
    /* nothing answers: the message names PostgreSQL's failure, not the password */
    CHECK(fs_store_pg_open(&s, n.b, "server-pass", 11,
                           "postgresql://fstest:SeCrEtPw42@127.0.0.1:1/x?connect_timeout=2",
                           &o) == FS_EDB);
    CHECK(s == NULL);
    CHECK(strstr(fs_store_pg_errmsg(), "PostgreSQL") != NULL);
    CHECK(strstr(fs_store_pg_errmsg(), "SeCrEtPw42") == NULL);
    printf("  refused: %s\n", fs_store_pg_errmsg());
    nodes_close(&n);
}

/* Not a timing assertion (the machine is shared): the same 1,000 changes
 * pushed to a SQLite store and to a PostgreSQL node in one run, in batches
 * of 100 (each one write: 2 round trips) and pulled whole by a manager's
 * device, both stores ending with the same feed. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push_all(fs_store *s, device *d, size_t batch)
{
    for (;;) {
        fs_replica_status st;
        CHECK_OK(fs_replica_status_get(d->r, &st));
        fs_changeset *cs = NULL;
        CHECK_OK(fs_changes_since(d->r, st.acked_seq, batch, &cs));
        if (cs->count == 0) {
            fs_changeset_free(cs);
            return;
        }
        fs_push_result res;
        memset(&res, 0, sizeof res);
        CHECK_OK(fs_store_push(s, d->pk, cs->first_seq, cs->last_seq, cs->changes, cs->count,
                               &res));
        CHECK_EQ_INT(res.nrejects, 0);
        free(res.rejects);
        CHECK_OK(fs_replica_mark_acked(d->r, res.acked_seq));
        fs_changeset_free(cs);
    }
}

/* Group commit on PostgreSQL: two devices' pushes in one group are one
 * log entry, appended at the group's end and seen by the other node after
 * it; a group rolled back leaves the log and the cache as they were. */
static void test_group_is_one_log_entry(void)
{
    nodes n;
    nodes_open(&n);
    device d1, d2, d3;
    device_make(&d1, n.dir, "d1");
    device_make(&d2, n.dir, "d2");
    device_make(&d3, n.dir, "d3");
    CHECK_OK(fs_store_device_add(n.na, d1.pk, "zhang", "laptop"));
    CHECK_OK(fs_store_device_add(n.na, d2.pk, "zhang", "phone"));
    CHECK_OK(fs_store_device_add(n.na, d3.pk, "zhang", "tablet"));
    uint8_t c1[16], c2[16], c3[16];
    test_record_visits(d1.r, 3, c1);
    test_record_visits(d2.r, 2, c2);
    test_record_visits(d3.r, 4, c3);
    long long head = log_head(n.url);
    CHECK_OK(fs_store_group_begin(n.na));
    push_all(n.na, &d1, 5000);
    push_all(n.na, &d2, 5000);
    CHECK_EQ_INT(log_head(n.url), head); /* nothing appended before the end */
    CHECK_OK(fs_store_group_end(n.na, 1));
    CHECK_EQ_INT(log_head(n.url), head + 1);
    CHECK_OK(fs_store_refresh(n.nb));
    uint64_t fa = 0, fb = 0;
    CHECK_OK(fs_store_feed_head(n.nb, &fb));
    CHECK_OK(fs_store_feed_head(n.na, &fa));
    CHECK_EQ_INT(fb, fa);
    CHECK_EQ_INT(test_count_rows(fs_store_replica(n.nb), "visit"), 5);
    /* rolled back: neither the log nor A's cache keeps d3's visits */
    uint8_t before[32], after[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), before));
    CHECK_OK(fs_store_group_begin(n.na));
    CHECK_EQ_INT(fs_store_group_begin(n.na), FS_ESTATE); /* one at a time */
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(d3.r, 0, 5000, &cs));
    fs_push_result res;
    memset(&res, 0, sizeof res);
    CHECK_OK(fs_store_push(n.na, d3.pk, cs->first_seq, cs->last_seq, cs->changes, cs->count,
                           &res));
    free(res.rejects);
    fs_changeset_free(cs);
    CHECK_EQ_INT(test_count_rows(fs_store_replica(n.na), "visit"), 9); /* seen inside */
    CHECK_OK(fs_store_group_end(n.na, 0));
    CHECK_EQ_INT(log_head(n.url), head + 1);
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), after));
    CHECK_MEM(before, after, 32);
    CHECK_EQ_INT(test_count_rows(fs_store_replica(n.na), "visit"), 5);
    /* the same push later, by itself, is applied */
    push_all(n.na, &d3, 5000);
    CHECK_EQ_INT(log_head(n.url), head + 2);
    CHECK_EQ_INT(test_count_rows(fs_store_replica(n.na), "visit"), 9);
    fs_replica_close(d1.r);
    fs_replica_close(d2.r);
    fs_replica_close(d3.r);
    nodes_close(&n);
}

static void test_push_of_1000_changes_both_backends(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmpdir());
    double took[2][2];
    uint64_t heads[2];
    for (int pg = 0; pg < 2; pg++) {
        char path[700], url[512], home[700];
        fs_replica_opts o = opts();
        fs_store *s = NULL;
        snprintf(path, sizeof path, "%s/store%d", dir, pg);
        if (pg) {
            pgtest_new_db(url, sizeof url);
            CHECK_OK(fs_store_pg_create(&s, path, "server-pass", 11, url, &o));
        } else {
            CHECK_OK(fs_store_create(&s, path, "server-pass", 11, &o));
        }
        CHECK_OK(fs_store_user_add(s, "li", FS_ROLE_MANAGER, "north"));
        CHECK_OK(fs_store_user_add(s, "zhang", FS_ROLE_REP, "north"));
        device rep, mgr;
        snprintf(home, sizeof home, "%s/dev%d", dir, pg);
        CHECK(mkdir(home, 0700) == 0);
        device_make(&rep, home, "rep");
        device_make(&mgr, home, "mgr");
        CHECK_OK(fs_store_device_add(s, rep.pk, "zhang", "laptop"));
        CHECK_OK(fs_store_device_add(s, mgr.pk, "li", "laptop"));
        uint8_t id[16];
        CHECK_OK(fs_begin(rep.r));
        for (int i = 0; i < 500; i++) { /* 2 changes each: 1,000 */
            char name[64];
            snprintf(name, sizeof name, "customer %d 客户", i);
            fs_cell c[] = {{"name", fs_text(name)}, {"owner", fs_text("zhang")}};
            CHECK_OK(fs_insert(rep.r, "customer", c, 2, id));
        }
        CHECK_OK(fs_commit(rep.r));
        double t0 = now_s();
        push_all(s, &rep, 100);
        double t1 = now_s();
        uint64_t cursor = 0;
        size_t got = 0;
        for (int more = 1; more;) {
            fs_changeset *cs = NULL;
            uint64_t next = 0;
            CHECK_OK(fs_store_pull(s, mgr.pk, cursor, 1000, 0, &cs, &next, &more));
            got += cs ? cs->count : 0;
            fs_changeset_free(cs);
            cursor = next;
        }
        double t2 = now_s();
        CHECK(got >= 1000);
        took[pg][0] = (t1 - t0) * 1000;
        took[pg][1] = (t2 - t1) * 1000;
        CHECK_OK(fs_store_feed_head(s, &heads[pg]));
        fs_replica_close(rep.r);
        fs_replica_close(mgr.r);
        fs_store_close(s);
    }
    CHECK_EQ_INT(heads[0], heads[1]);
    printf("  1,000 changes in 10 pushes: SQLite %.0f ms, PostgreSQL %.0f ms; pulled whole: "
           "SQLite %.0f ms, PostgreSQL %.0f ms\n",
           took[0][0], took[1][0], took[0][1], took[1][1]);
    test_rmtree(dir);
}

static int count_wang(const char *name, fs_role role, const char *team, void *ctx)
{
    (void)role, (void)team;
    *(int *)ctx += strcmp(name, "wang") == 0;
    return 0;
}

static void refuse_appends(const char *url, int on)
{
    PGconn *c = PQconnectdb(url);
    CHECK(PQstatus(c) == CONNECTION_OK);
    PGresult *res = PQexec(
        c, on ? "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$BEGIN RAISE EXCEPTION 'could not extend file (test)'; END$$;"
                "CREATE TRIGGER refuse BEFORE INSERT ON fs_log FOR EACH ROW"
                " EXECUTE FUNCTION refuse()"
              : "DROP TRIGGER refuse ON fs_log");
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
}

/* PostgreSQL refuses the append of rep's push cs to node s (a trigger
 * stands for a full disk): the push fails with PostgreSQL's message and
 * leaves the node's SQLite state as it was. */
/* Pushes all of cs from the device pk to s (pr zeroed first). */
static int push_cs(fs_store *s, const uint8_t *pk, const fs_changeset *cs, fs_push_result *pr)
{
    memset(pr, 0, sizeof *pr);
    return fs_store_push(s, pk, cs->first_seq, cs->last_seq, cs->changes, cs->count, pr);
}

/* The rep's changes so far, after recording a customer of zhang's named
 * name. */
static fs_changeset *customer_changes(const device *rep, const char *name)
{
    uint8_t cust[16];
    fs_cell cl[] = {{"name", fs_text(name)}, {"owner", fs_text("zhang")}};
    CHECK_OK(fs_insert(rep->r, "customer", cl, 2, cust));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(rep->r, 0, 100, &cs));
    return cs;
}

static void push_refused_by_postgresql(const char *url, fs_store *s, const device *rep,
                                       const fs_changeset *cs)
{
    uint8_t h0[32], h1[32];
    CHECK_OK(fs_replica_state_hash(fs_store_replica(s), h0));
    refuse_appends(url, 1);
    fs_push_result pr;
    CHECK_ERR(push_cs(s, rep->pk, cs, &pr), FS_EDB);
    free(pr.rejects);
    CHECK(strstr(fs_store_errmsg(s), "could not extend file") != NULL);
    printf("  append refused: %s\n", fs_store_errmsg(s));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(s), h1));
    CHECK_MEM(h0, h1, 32);
    refuse_appends(url, 0);
}

/* A write replays the other node's entries in its own SQLite transaction
 * (one commit for both): when its append fails, they roll back with it and
 * the node's position with them; the same push later replays them again
 * and lands once, and both nodes hold the same state. */
static void test_replay_rolls_back_with_its_write(void)
{
    nodes n;
    nodes_open(&n);
    CHECK_OK(fs_store_feed_head(n.nb, &(uint64_t){0})); /* B caught up to here */
    device rep;
    device_make(&rep, n.dir, "rep");
    CHECK_OK(fs_store_device_add(n.na, rep.pk, "zhang", "laptop")); /* on A only */
    CHECK_OK(fs_store_user_add(n.na, "wang", FS_ROLE_REP, "north"));
    long long head = log_head(n.url);
    uint8_t h1[32], ha[32];
    fs_changeset *cs = customer_changes(&rep, "重放客户");
    /* B as without A's two entries, after: they went back with the write */
    push_refused_by_postgresql(n.url, n.nb, &rep, cs);
    fs_push_result pr;
    CHECK_OK(push_cs(n.nb, rep.pk, cs, &pr));
    free(pr.rejects);
    CHECK_EQ_INT(log_head(n.url), head + 1); /* the push, once, after A's */
    int wangs = 0;
    CHECK_OK(fs_store_users(n.nb, count_wang, &wangs));
    CHECK_EQ_INT(wangs, 1); /* A's user, replayed on B */
    CHECK_OK(fs_store_refresh(n.na));
    uint64_t fa = 0, fb = 0;
    CHECK_OK(fs_store_feed_head(n.na, &fa));
    CHECK_OK(fs_store_feed_head(n.nb, &fb));
    CHECK_EQ_INT(fa, fb);
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), ha));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), h1));
    CHECK_MEM(ha, h1, 32);
    fs_changeset_free(cs);
    fs_replica_close(rep.r);
    nodes_close(&n);
}

/* PostgreSQL drops the node's connection: the write in flight fails with
 * PostgreSQL's message and leaves SQLite as it was; the next op
 * reconnects and works. */
static void test_lost_connection_rolls_back_then_reconnects(void)
{
    nodes n;
    nodes_open(&n);
    fs_store_close(n.nb);
    n.nb = NULL;
    long long before = log_head(n.url);
    PGconn *c = PQconnectdb(n.url);
    CHECK(PQstatus(c) == CONNECTION_OK);
    PGresult *res = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
    PQfinish(c);
    usleep(200000);
    int rc = fs_store_user_add(n.na, "wang", FS_ROLE_REP, "north");
    if (rc != 0) { /* libpq learnt of it on this write */
        CHECK_ERR(rc, FS_EDB);
        CHECK(strstr(fs_store_errmsg(n.na), "PostgreSQL") != NULL);
        printf("  lost connection: %s\n", fs_store_errmsg(n.na));
        CHECK_EQ_INT(log_head(n.url), before);
        CHECK_ERR(fs_store_user_stamp(n.na, "wang", (uint8_t[FS_USER_STAMP_BYTES]){0}),
                  FS_EAUTH); /* not in the cache either */
        CHECK_OK(fs_store_user_add(n.na, "wang", FS_ROLE_REP, "north"));
    }
    CHECK_EQ_INT(log_head(n.url), before + 1);
    CHECK_ERR(fs_store_user_add(n.na, "wang", FS_ROLE_REP, "north"), FS_EEXIST);

    /* The append itself fails (a trigger stands for a full disk): the push
     * made in SQLite is rolled back, the device dictionary with it, and the
     * same push later is applied, not taken as a replay. */
    device rep;
    device_make(&rep, n.dir, "rep");
    CHECK_OK(fs_store_device_add(n.na, rep.pk, "zhang", "laptop"));
    uint8_t h0[32], h1[32];
    fs_changeset *cs = customer_changes(&rep, "full disk customer");
    push_refused_by_postgresql(n.url, n.na, &rep, cs);
    fs_push_result pr;
    CHECK_OK(push_cs(n.na, rep.pk, cs, &pr));
    CHECK_EQ_INT(pr.replayed, 0);
    CHECK_EQ_INT(pr.nrejects, 0);
    free(pr.rejects);
    fs_changeset_free(cs);
    /* a node from the copy reaches the same state from the log */
    fs_replica_opts o = opts();
    CHECK_OK(fs_store_pg_open(&n.nb, n.b, "server-pass", 11, NULL, &o));
    CHECK_OK(fs_store_refresh(n.na));
    CHECK_OK(fs_store_feed_head(n.nb, &(uint64_t){0}));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.na), h0));
    CHECK_OK(fs_replica_state_hash(fs_store_replica(n.nb), h1));
    CHECK_MEM(h0, h1, 32);
    fs_replica_close(rep.r);
    nodes_close(&n);
}

TEST_LIST(TEST(two_nodes_one_log) TEST(group_is_one_log_entry) TEST(crash_between_commits) TEST(diverged_cache_refuses) TEST(changed_entry_refused)
              TEST(node_ahead_of_a_restored_log) TEST(enroll_code_made_on_the_other_node)
                  TEST(wrong_store_and_secret_url) TEST(lost_connection_rolls_back_then_reconnects) TEST(replay_rolls_back_with_its_write) TEST(push_of_1000_changes_both_backends))
