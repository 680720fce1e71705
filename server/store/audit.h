/*
 * Audit log: the server's append-only, hash-chained record of security
 * events (enrollments, revocations, wipes, refused writes, scope changes,
 * exports, report reads, logins).
 *
 * The log lives in two tables of a database the caller opened (on the
 * server, its encrypted store). Every entry carries a MAC keyed with the
 * audit key over its fields and the MAC of the entry before it, so an entry
 * cannot be modified, removed, moved or inserted without the key; a separate
 * anchor row, rewritten in the same transaction as each append and MACed
 * too, records how many entries there are and the last MAC, so a removed
 * tail is found as well. fs_audit_verify() walks the chain and names the
 * first entry that cannot be vouched for.
 *
 * What the log cannot show on its own: a copy of the whole database taken
 * earlier and put back (log and anchor together) is a consistent older log.
 * Keep the head (fs_audit_head) somewhere else (the operator's notes, a
 * remote syslog) and compare when it matters.
 *
 * What goes into an entry: the kind comes from a fixed list; actor and
 * subject are user names or device-key fingerprints; detail is a short
 * machine-readable reason ("scope=region:north", "table=visit reason=scope").
 * CALLERS MUST NEVER PASS CUSTOMER DATA OR KEY MATERIAL in any field: the
 * log is printed by `fieldsync-server audit show`. What can be enforced is:
 * known kinds, length limits, actor and subject printable UTF-8 (no control
 * characters, no line or paragraph separators, no bidirectional overrides
 * or invisible marks), detail printable ASCII (which keeps out names and
 * addresses in most of the scripts customer data is written in). Refused
 * input writes nothing.
 *
 * FORMAT (tables created by fs_audit_open when missing)
 *   audit          seq INTEGER PRIMARY KEY (1, 2, 3, ... without gaps),
 *                  at_ms INTEGER (Unix time, ms), kind TEXT, actor TEXT,
 *                  subject TEXT, detail TEXT, prev BLOB (32: mac of entry
 *                  seq-1; 32 zero bytes for entry 1), mac BLOB (32).
 *   audit_anchor   one INTEGER PRIMARY KEY CHECK(one=1), entries INTEGER
 *                  (count), head BLOB (32: mac of the last entry, zeros when
 *                  empty), mac BLOB (32).
 *   Triggers refuse UPDATE and DELETE on audit, an INSERT out of sequence,
 *   an anchor update that does not advance by one, and deleting the anchor.
 *   They stop the rest of the server from writing the log by mistake; they
 *   are not the protection (anyone who can write the file can drop them;
 *   the MACs are). fs_audit_open() recreates missing triggers.
 *
 * MACs: BLAKE2b-256 keyed with the 32-byte audit key (crypto_generichash),
 * over the concatenation below; integers little-endian, each text field
 * preceded by its length so bytes cannot move from one field to another.
 *   entry:  "fieldsync-audit" 'E' (16 bytes) | seq u64 | at_ms i64 |
 *           u32 len | kind | u32 len | actor | u32 len | subject |
 *           u32 len | detail | prev (32)
 *   anchor: "fieldsync-audit" 'A' (16 bytes) | entries u64 | head (32)
 *
 * The audit key should be used for nothing else: derive it from the
 * server's key (crypto_kdf_derive_from_key with its own context), do not
 * reuse the page-encryption key itself.
 *
 * Handles are not thread-safe; use one per connection, and close it before
 * the connection.
 */
#ifndef FIELDSYNC_AUDIT_H
#define FIELDSYNC_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "fieldsync/error.h"

#define FS_AUDIT_KEY_BYTES  32
#define FS_AUDIT_MAC_BYTES  32
#define FS_AUDIT_MAX_NAME   128 /* bytes of actor and of subject */
#define FS_AUDIT_MAX_DETAIL 256 /* bytes of detail */

typedef struct fs_audit fs_audit;

/* One entry as fs_audit_list() delivers it. The strings are NUL-terminated
 * and valid only during the callback. */
typedef struct fs_audit_entry {
    uint64_t seq;
    int64_t at_ms;
    const char *kind;
    const char *actor;
    const char *subject; /* "" when none */
    const char *detail;  /* "" when none */
} fs_audit_entry;

/* The kinds of event the log accepts, in a static array of *n names:
 *   enroll         a device enrolled with a one-time code
 *   enroll_refused an enrollment attempt refused (bad or used code)
 *   auth_failed    a handshake refused (unknown or bad device key, a frame
 *                  that does not open, a malformed handshake message)
 *   revoke         a device revoked
 *   wipe           a revoked device told to wipe itself
 *   refused_write  a change refused (outside the device's scope, ...)
 *   scope_change   a user's or device's scope changed
 *   export         a sealed export written
 *   report_read    a manager's report read
 *   login          an administrative login
 *   session_refused an authenticated device's session ended for what it sent
 *                  (malformed, oversized or out-of-turn messages, frames
 *                  that do not open, a flood)
 *   restamped_write writes stamped too far ahead of the server's clock,
 *                  accepted with the server's (how many, and the most
 *                  seconds ahead; issue 23)
 *   user_disable   a user who left was disabled (detail: devices_revoked=N)
 *   user_enable    a disabled user was enabled again
 *   restore        the store was put back from a backup and its feed given
 *                  a new epoch (detail: the feed's head; issue 25.2)
 *   device_fork    a restored or copied laptop took a new identity (subject:
 *                  the new key's fingerprint, detail: the old one; issue 25.3)
 *   user_move      a user was moved to another team (detail: "old -> new")
 *   backup         a backup taken (subject: where to, when printable and
 *                  short enough; detail: the feed's head); status shows the
 *                  newest (issue 22)
 *   team_set       a team's setting set (subject: the team; detail:
 *                  "setting=value"; issue 17.7) */
const char *const *fs_audit_kinds(size_t *n);

/* Opens the audit log stored in db, creating its tables (and the empty
 * anchor) when the database has none. If a transaction is open on db, the
 * setup runs inside it. The key is copied into guarded memory, wiped by
 * fs_audit_close(); the caller keeps its own copy. An existing log is not
 * checked here (see fs_audit_verify). *out is NULL on failure and
 * fs_audit_errmsg(NULL) describes it on this thread. Errors: FS_ENOMEM,
 * FS_EDB and the other database codes (FS_EBUSY, FS_EIO, FS_EINTEGRITY, ...). */
int fs_audit_open(fs_audit **out, sqlite3 *db, const unsigned char key[FS_AUDIT_KEY_BYTES]);

/* Finalizes the handle's statements and wipes the key. The connection stays
 * open. Accepts NULL. */
void fs_audit_close(fs_audit *a);

/* Appends one entry stamped with the current time. kind and actor are
 * required; subject and detail may be NULL (stored as ""). Runs inside the
 * caller's transaction when one is open on the connection (so it is rolled
 * back with it: append an event that must outlive a rollback, such as a
 * refused write, outside that transaction), else in its own. On any error
 * nothing is written.
 * Errors: FS_EINVAL (unknown kind), FS_EREQUIRED (empty actor), FS_ETOOBIG
 * (a field over its limit), FS_ETYPE (a field that is not printable text:
 * see above), FS_EAUDIT (the anchor or the last entry does not match:
 * the log was modified or the key is wrong; run fs_audit_verify), and the
 * database codes. */
int fs_audit_append(fs_audit *a, const char *kind, const char *actor, const char *subject,
                    const char *detail);

/* Calls begin(ctx) before each fs_audit_append and end(ctx, rc) after it
 * (its result; end returns non-zero when it could not finish): the
 * PostgreSQL store (server/store/store_pg.c) runs an append made outside
 * its operations (the dashboard's, an admin command's) as one of its
 * logged writes. begin NULL: none. */
void fs_audit_set_wrap(fs_audit *a, int (*begin)(void *ctx), int (*end)(void *ctx, int rc),
                       void *ctx);

/* Recomputes the whole chain and checks it against the anchor, in one read
 * transaction (or inside the caller's). *entries receives the number of
 * entries stored, *first_bad 0 when the log is intact, else the sequence
 * number of the first entry that cannot be vouched for: entries before it
 * are intact, it is modified, missing or out of place, or (when it is one
 * past the last entry) the anchor does not match what is stored: the tail
 * was removed or the anchor was modified. A wrong key gives first_bad 1.
 * Returns 0 when intact, FS_EAUDIT when not (the message says how), or a
 * database code (then *first_bad is 0). */
int fs_audit_verify(fs_audit *a, uint64_t *entries, uint64_t *first_bad);

/* The anchor as stored: the number of entries and the MAC of the last one,
 * for keeping outside the database. Errors: FS_EAUDIT (the anchor is
 * missing or its MAC does not match), database codes. */
int fs_audit_head(fs_audit *a, uint64_t *entries, unsigned char head[FS_AUDIT_MAC_BYTES]);

/* The stored MAC of entry seq (not verified: run fs_audit_verify first),
 * to compare with a head kept elsewhere: a log whose entry seq no longer
 * has the MAC that was its head then was cut and written again, or put
 * back from a copy. Errors: FS_ENOTFOUND (no entry seq: the tail was cut),
 * FS_EAUDIT (a MAC that is not 32 bytes), database codes. */
int fs_audit_mac_at(fs_audit *a, uint64_t seq, unsigned char mac[FS_AUDIT_MAC_BYTES]);

/* Calls cb for each entry with seq > after, in order, at most max entries
 * (0: no limit). The entries are not verified (use fs_audit_verify), but an
 * entry whose fields are not what fs_audit_append() could have written
 * stops the listing with FS_EAUDIT, so nothing a forger stored (escape
 * sequences, say) reaches a terminal. cb returns 0 to go on; any other
 * value stops the listing and is returned. Errors: FS_EAUDIT, database
 * codes. */
int fs_audit_list(fs_audit *a, uint64_t after, size_t max,
                  int (*cb)(const fs_audit_entry *e, void *ctx), void *ctx);

/* A window of the log for the admin's page: entries of kind (NULL or "":
 * any) written in [from_ms, to_ms) (to_ms 0: no end) with after < seq <
 * before (0: no bound); at most max (0: no limit): the oldest such when
 * oldest_first, else the newest. */
typedef struct fs_audit_query {
    const char *kind;
    int64_t from_ms, to_ms;
    uint64_t after, before;
    size_t max;
    int oldest_first;
} fs_audit_query;
/* Calls cb for each entry of the window in order of seq, checked as
 * fs_audit_list checks them. Errors: FS_EAUDIT, database codes. */
int fs_audit_query_list(fs_audit *a, const fs_audit_query *q,
                        int (*cb)(const fs_audit_entry *e, void *ctx), void *ctx);
/* *any = 1 when some entry is in the window (max ignored). */
int fs_audit_query_any(fs_audit *a, const fs_audit_query *q, int *any);

/* How many entries of kind were written at or after since_ms (the server's
 * clock). Errors: database codes. */
int fs_audit_count_since(fs_audit *a, const char *kind, int64_t since_ms, uint64_t *count);

/* Calls cb once with the newest entry of kind, checked as fs_audit_list()
 * checks it, and returns what cb returns. FS_ENOTFOUND when the log has
 * none. */
int fs_audit_last(fs_audit *a, const char *kind, int (*cb)(const fs_audit_entry *e, void *ctx),
                  void *ctx);

/* A one-line description of the handle's last error (no field contents:
 * only sequence numbers, field names and byte offsets). With NULL, the
 * last failed fs_audit_open() on this thread. Never NULL. */
const char *fs_audit_errmsg(const fs_audit *a);

#endif
