/*
 * Internals shared by the files of the SQLite store (the .c files of server/store/):
 * its handle, the statement cache and error helpers, users, devices and
 * the scope rules, and the operations the table in store.c points to.
 * Not a public header: the server uses fieldsync/store.h and
 * store_sqlite.h.
 *
 * FORMAT (beside the replica's tables)
 *   users    name TEXT PRIMARY KEY, role INTEGER, team TEXT
 *   devices  pk BLOB PRIMARY KEY (Ed25519), id BLOB UNIQUE (fs_device_id_from_pk),
 *            user TEXT, name TEXT, revoked INTEGER, acked_seq INTEGER
 *   purges   user TEXT, tbl INTEGER, row BLOB, feed_seq INTEGER: rows that
 *            left user's scope when the feed stood at feed_seq; a device of
 *            that user whose cursor is not past it is told to purge them
 *   purge_told pk BLOB, purge INTEGER (purges.seq), local_seq INTEGER,
 *            PRIMARY KEY(pk, purge): a device was first sent that purge in
 *            answer to a PULL made when its newest local change was
 *            local_seq; what it wrote after that under the row is judged
 *            as written knowing the row left its user's scope (push.c)
 *   purge_told_acked pk BLOB, purge INTEGER, acked_seq INTEGER, PRIMARY
 *            KEY(pk, purge): the device's sequence the server had
 *            acknowledged when it told it (devices.acked_seq then); a push
 *            starting at or below it comes from a replica that never got
 *            the telling, which is then forgotten (push.c, void_tellings)
 *   refused_new pk BLOB, tbl INTEGER, row BLOB, local_seq INTEGER, PRIMARY
 *            KEY(pk, tbl, row): a new record the store refused PARENT or
 *            LOST, and the device's lowest local sequence it was pushed
 *            at; sent again after a telling, it is judged as made before
 *            it when that sequence is not above it (push.c, made_before)
 *   scope    tbl INTEGER, row BLOB, owner TEXT, ptbl INTEGER, prow BLOB,
 *            PRIMARY KEY(tbl, row): a row's owner, or the row it follows
 *            (its customer, its plan, the row a conflict is about); owners
 *            are resolved through parents when asked, so reassigning a
 *            customer moves everything that follows it.
 *   feed_scope seq INTEGER PRIMARY KEY, owner TEXT, team TEXT, roster
 *            INTEGER: each feed entry's owner and team, the index a pull
 *            reads (feedscope.c)
 * Enrollment codes: enroll.c; the audit log: audit.c (audit.h).
 */
#ifndef FIELDSYNC_STORE_INT_H
#define FIELDSYNC_STORE_INT_H

#include <sqlite3.h>

#include "audit.h"
#include "fieldsync/records.h"
#include "fieldsync/replica_server.h"
#include "fieldsync/store.h"
#include "store_sqlite.h"

typedef struct sq_store sq_store;

/* The record rules take the users' roles as they are. */
_Static_assert((int)FS_ROLE_REP == (int)FS_RECORD_REP &&
                   (int)FS_ROLE_MANAGER == (int)FS_RECORD_MANAGER &&
                   (int)FS_ROLE_ADMIN == (int)FS_RECORD_ADMIN,
               "fs_role and fs_record_role differ");

#define MAX_NAME 64

#define MAX_DEPTH 4 /* conflict -> visit -> customer: well within */

struct sq_store {
    fs_store base; /* first: the interface's handle */
    fs_replica *r;
    fs_audit *audit;
    uint64_t lease_ms;
    int tx_joined; /* sq__tx_begin inside a caller's transaction: depth */
    int scope_lazy; /* fs_store_sqlite_scope_lazy: pushes leave indexing to the next pull */
    char errmsg[256];
    /* Handshake failures per network per minute (fs_store_set_source) */
    char source[64];
    struct sq_auth_minute {
        char net[64]; /* "" : a free slot */
        char actor[12]; /* "sync", "dashboard" */
        char target[FS_USER_NAME_MAX + 1]; /* the dashboard's: the name, or "unknown name" */
        char why[24]; /* the reason's first word ("reason=5") */
        uint64_t start_ms; /* monotonic */
        unsigned more;     /* failures after the first, not yet written */
        char last[96];     /* the latest one's reason */
    } auth[FS_STORE_AUTH_NETS];
};

enum rule_kind { RULE_NONE, RULE_OWNER, RULE_REP, RULE_PARENT, RULE_CONFLICT };

typedef struct sq_rule {
    enum rule_kind kind;
    int col;     /* the column that decides (owner, rep, link) */
    int ref;     /* RULE_PARENT: the parent's table */
    int col_row; /* RULE_CONFLICT: the "row" column ("tbl" is col) */
} sq_rule;

typedef struct sq_user {
    char name[MAX_NAME + 1];
    char team[MAX_NAME + 1];
    fs_role role;
} sq_user;

/* The enrolled device: its user and acknowledged sequence. */
typedef struct sq_device {
    uint8_t id[FS_ID_BYTES];
    sq_user u;
    uint64_t acked;
} sq_device;

typedef struct sq_ref {
    const fs_change *c;
    size_t idx;
} sq_ref;

/* Error helpers: set the store's message and return the code. */
int sq__fail(sq_store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sq__dbfail(sq_store *s, int src, const char *what);

/* The prepared statement of sql, kept by the replica for the next call
 * (fs_replica_stmt): give it back with sq__done(), which resets it. */
int sq__stmt(sq_store *s, const char *sql, sqlite3_stmt **out);
void sq__done(sq_store *s, sqlite3_stmt *st);
/* Runs a one-statement write; fmt names each bound value: 't' text (NULL
 * binds NULL), 'b' blob (pointer, int length), 'i' integer (long long).
 * *changes (may be NULL): rows changed. A constraint is FS_EEXIST. */
int sq__run(sq_store *s, const char *sql, int *changes, const char *fmt, ...);

/* 1 for a user or team name: 1..MAX_NAME bytes of printable UTF-8. */
int sq__name_ok(const char *n);
/* The first 8 bytes of a device id in hex, for the audit log. */
void sq__fingerprint(const uint8_t *pk, char out[17]);

int sq__user_get(sq_store *s, const char *name, sq_user *u);
int sq__device_get(sq_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], sq_device *d);

/* Scope (scope.c): each table's rule, a row's owner through its parents,
 * whether user u may see rows of owner, a deciding value read as a name. */
sq_rule sq__rule_of(unsigned tix);
int sq__owner_of(sq_store *s, unsigned tix, const uint8_t *row, char owner[MAX_NAME + 1]);
int sq__in_scope(sq_store *s, const sq_user *u, const char *owner);
int sq__owner_value(const fs_value *v, char out[MAX_NAME + 1]);

/* The feed's scope index (feedscope.c). catch_up: every feed entry not
 * yet indexed gets its row (owner and team as they stand), in the caller's
 * transaction when one is open, else in one of its own. retag: a user's
 * entries take the user's (new) team. next: up to limit feed sequences in
 * (after, upto] that u may see by the index, ascending (*out malloc'd, NULL
 * when none); *all is 1 when there are no more in that range. */
int sq__feed_scope_catch_up(sq_store *s);
int sq__feed_scope_retag(sq_store *s, const char *name, const char *team);
/* A row handed over: its feed entries take its owner (and team) as it is
 * now, so a device behind that may see it now reads its whole history in
 * order, as before the index (no intermediate version skipped). */
int sq__feed_scope_retag_row(sq_store *s, unsigned tix, const uint8_t row[FS_ID_BYTES]);
int sq__feed_scope_next(sq_store *s, const sq_user *u, uint64_t after, uint64_t upto,
                        size_t limit, uint64_t **out, size_t *n, int *all);

/* Who holds a record (holder.c). A customer handed over by `from` at
 * at_ms (the owner change's clock): from's deadlines that fell before it
 * (and after any earlier hand-over), frozen as `charge` rows owned by from
 * (fieldsync/rules.h), written on the store's replica inside the caller's
 * transaction, before the hand-over's own row. Nothing for a customer that
 * had no owner. */
int sq__handover_charges(sq_store *s, const uint8_t customer[FS_ID_BYTES], const char *from,
                         uint64_t at_ms);
/* *ok = 1 if a spot-check (row: its id when it exists, else NULL) names as
 * its rep the rep who holds the record it checks (the record's owner
 * through its parents), or names no record. The values are the ones being
 * written; NULL for one not written, which is then read from the stored
 * row. */
int sq__spot_check_rep_ok(sq_store *s, const uint8_t *row, const fs_value *rep,
                          const fs_value *record_table, const fs_value *record_id, int *ok);

/* The operations (fieldsync/store.h has their contracts). */
void sq_close(fs_store *base);
const char *sq_errmsg(const fs_store *base);
fs_replica *sq_replica(fs_store *base);
uint64_t sq_now_ms(fs_store *base);
int sq_feed_head(fs_store *base, uint64_t *seq);
int sq_feed_state(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                  uint64_t *dev_acked);
int sq_feed_tag(fs_store *base, uint64_t seq, uint64_t *tag);
int sq_new_epoch(fs_store *base);
int sq_compact_step(fs_store *base, fs_feed_compaction *c, size_t rows);
int sq_feed_horizon(fs_store *base, uint64_t *horizon);
int sq_feed_tag_held(fs_store *base, uint64_t seq, uint64_t tag, int *held);
int sq_horizon_before(fs_store *base, uint64_t keep_ms, uint64_t *horizon);
int sq_backup(fs_store *base, const char *path);
void sq_set_lease(fs_store *base, uint64_t ms);
uint64_t sq_lease(const fs_store *base);
fs_audit *sq_audit(fs_store *base);
int sq_user_add(fs_store *base, const char *name, fs_role role, const char *team);
int sq_users(fs_store *base, int (*cb)(const char *, fs_role, const char *, void *), void *ctx);
int sq_set_password(fs_store *base, const char *name, const char *pw, size_t pwlen);
int sq_user_disable(fs_store *base, const char *name, int disabled);
int sq_user_stamp(fs_store *base, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES]);
/* 1 if the user is disabled (fs_store_user_disable), 0 if not, <0 on error. */
int sq__user_disabled(sq_store *s, const char *name);
int sq_user_move(fs_store *base, const char *name, const char *team);
/* A transaction of the store's replica (fs_begin: replica writes join it)
 * and its end: committed when rc is 0, else rolled back; rc returned. */
/* A transaction of its own for a user write (users and roster together),
 * or, when the caller has one open on the replica (a bulk setup), that
 * one: sq__tx_end then leaves committing or rolling back to the caller. */
int sq__tx_begin(sq_store *s);
int sq__tx_end(sq_store *s, int rc);
/* The roster (roster.c): the user's row written when it differs from the
 * user as stored, inside the caller's sq__tx_begin transaction; every user
 * without a row given one (a transaction each). 0 or an FS_E* code (the
 * store's message set). */
int sq__roster_write(sq_store *s, const char *name);
int sq__roster_catch_up(sq_store *s);
/* Makes the enrollment codes' table (enroll.c) if the store lacks it: at every
 * open, so that every node of a PostgreSQL store has it before a log entry
 * writes to it (a changeset skips a table the target lacks). */
int sq__enroll_table(sq_store *s);
/* Appends to the feed again (fs_replica_refeed_row) the rows of table tix
 * whose ids sql selects, binding p1 as ?1 and p2 (unless NULL) as ?2: how
 * a user moved to another team receives its roster and settings. */
int sq__refeed_rows(sq_store *s, unsigned tix, const char *sql, const char *p1, const char *p2);
/* 1 if u sees the roster row of owner: a member of owner's team, or an
 * admin. */
int sq__roster_visible(sq_store *s, const sq_user *u, const char *owner);
/* A team's settings (teamset.c): sets one (fs_store_team_set); 1 if u sees
 * the team_setting row (a member of its team, or an admin), its team into
 * team, 0 if not, <0 on error; a user moved from old_team to new_team:
 * the old team's rows purged from their devices, the new team's fed
 * again (inside the caller's transaction). */
int sq_team_set(fs_store *base, const char *team, const char *setting, const char *value);
int sq__team_setting_visible(sq_store *s, const sq_user *u, unsigned tix, const uint8_t *row,
                             char team[MAX_NAME + 1]);
int sq__team_setting_move(sq_store *s, const char *name, const char *old_team,
                          const char *new_team);
int sq_login(fs_store *base, const char *name, const char *pw, size_t pwlen, fs_role *role,
             char team[FS_USER_NAME_MAX + 1]);
int sq_login_lookup(fs_store *base, const char *name, fs_login_check *out);
int sq_device_add(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user_name,
                  const char *name);
int sq_device_check(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES]);
int sq_device_user(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES],
                   char user[FS_USER_NAME_MAX + 1], char team[FS_USER_NAME_MAX + 1],
                   fs_role *role);
int sq_device_revoke(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int after_push);
int sq_device_pushed_out(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                         int *state);
int sq_device_tip(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *acked_seq,
                  uint64_t *hlc, uint8_t row[FS_ID_BYTES]);
int sq_device_fork(fs_store *base, const uint8_t old_pk[FS_SIGN_PK_BYTES],
                   const uint8_t new_pk[FS_SIGN_PK_BYTES]);
int sq_devices(fs_store *base, int (*cb)(const fs_store_device *d, void *ctx), void *ctx);
int sq_device_seen(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease);
int sq_device_sync(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms,
                   uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms);
int sq_device_reported(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                       uint64_t oldest_ms);
int sq_device_clock_note(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t wall_ms);
int sq_device_exports(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], const fs_pull_export *e,
                      size_t n);
int sq_device_clock(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], int64_t *offset_ms,
                    uint64_t *at_ms);
int sq_device_refusals(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t open,
                       uint32_t reason);
int sq_note_wipe(fs_store *base, const uint8_t pk[FS_SIGN_PK_BYTES]);
int sq_note_refusal(fs_store *base, const uint8_t *pk, const char *detail);
void sq_set_source(fs_store *base, const char *net);
int sq_auth_flush(fs_store *base);
int sq_note_login_failure(fs_store *base, const char *net, const char *who, const char *detail);
int sq_enroll_code_create(fs_store *base, const char *user, uint64_t ttl_ms,
                          const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code, size_t codelen);
int sq_enroll_code_redeem(fs_store *base, const fs_enroll_request *req, uint64_t now_ms);
int sq_enroll_code_team(fs_store *base, const fs_enroll_request *req, uint64_t now_ms,
                        char team[FS_USER_NAME_MAX + 1]);
int sq_owner(fs_store *base, unsigned table, const uint8_t row[FS_ID_BYTES],
             char owner[FS_USER_NAME_MAX + 1]);
int sq_push(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
            uint64_t last_seq, const fs_change *changes, size_t n, unsigned flags,
            uint64_t cursor, fs_push_result *out);
/* attach.c: attachments' bytes (fieldsync/store.h) */
int sq_att_need(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
                uint32_t *missing, size_t cap, size_t *n, int *known);
int sq_att_put(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
               uint32_t idx, const uint8_t *data, size_t len);
int sq_att_get(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
               uint32_t idx, uint8_t *buf, size_t *len);
int sq_pull(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
            size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor, int *more);
int sq_purges(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
              size_t max, fs_row_ref **out, size_t *n);
int sq_purges_told(fs_store *base, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                   size_t max, uint64_t local_seq);
int sq_manager_write(fs_store *base, const char *manager, const char *table, const uint8_t *row,
                     const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES]);

#endif
