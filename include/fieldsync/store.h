/*
 * The server store's interface: everything the server's sync sessions, its
 * admin commands and its dashboard ask of the server's data (users and
 * logins, devices, scope, push, pull, purges, audit, enrollment), as one
 * struct of operations (fs_store_ops) that a backend fills. Transport-free:
 * the sessions call it with the authenticated device's key and the changes
 * it pushed or the cursor it pulls from.
 *
 * BACKENDS. A backend embeds struct fs_store (its ops) as the first member
 * of its own handle. The one today is SQLite (server/store/store_sqlite.h:
 * fs_store_create, fs_store_open), the server's encrypted replica with the
 * store's tables beside it. The fs_store_* functions below dispatch to the
 * ops (sync/store.c) and keep every contract stated here, whatever the
 * backend.
 *
 * USERS have a name, a role (rep, manager, admin) and a team. DEVICES are
 * Ed25519 keys enrolled for a user; a revoked device is refused.
 *
 * SCOPE. Every row has an owner, a user name:
 *   customer                      its "owner" column (the creator's name if a
 *                                 new customer does not say)
 *   weekly_plan, daily_report,    their "rep" column
 *   self_check, marketing_request,
 *   spot_check
 *   rows with a "customer" column its customer's owner (contact, visit,
 *   (contact, visit, commitment,  commitment, complaint, ... follow the
 *   complaint, requirement_      customer, so reassigning a customer moves
 *   request, acceptance,          them too)
 *   customer_question)
 *   plan_task                     its plan's owner
 *   conflict                      the owner of the row it is about
 * A rep sees and writes the rows they own; a manager those owned by anyone
 * in their team (themselves included); an admin no customer rows at all.
 * Only a manager changes who owns a customer, and only within the team.
 *
 * PUSH. Every change is checked on its own: its writer must be the pushing
 * device (the device id derived from the key it signed in with), the table
 * and column must exist and the value fit the column, and the pusher must be
 * allowed to write the row both as it is and as it would be. Refused changes
 * come back with a reason (FS_REASON_*); the accepted ones are applied in one
 * transaction together with the device's acknowledged sequence, so a batch
 * pushed again (same last sequence) is acknowledged without being applied
 * twice.
 *
 * PULL. The feed after a cursor, keeping only the rows in the puller's scope;
 * the new cursor is the last feed sequence examined, so a device never sees
 * the same entry twice and never skips one.
 */
#ifndef FIELDSYNC_STORE_H
#define FIELDSYNC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"
#include "fieldsync/enroll.h"
#include "fieldsync/identity.h"
#include "fieldsync/reason.h"
#include "fieldsync/replica.h"

typedef enum fs_role { FS_ROLE_REP = 1, FS_ROLE_MANAGER = 2, FS_ROLE_ADMIN = 3 } fs_role;

typedef struct fs_store fs_store;

void fs_store_close(fs_store *s); /* accepts NULL */
const char *fs_store_errmsg(const fs_store *s);
/* The store's replica (for reads, the state hash, the feed): the SQLite
 * backend's; NULL for a backend that keeps none. */
fs_replica *fs_store_replica(fs_store *s);
/* The store's clock (ms): the replica's, which tests may set. */
uint64_t fs_store_now_ms(fs_store *s);
/* The feed's newest sequence (0 when empty): a transport's sessions poke
 * their devices when it grows. */
int fs_store_feed_head(fs_store *s, uint64_t *seq);
/* What READY tells a device of protocol version 5 on (issue 25.2): the
 * feed's epoch (16 random bytes made when the store was created, or first
 * opened by a build that keeps one, and made again by a restore) and the
 * device's newest local sequence the store holds (its acknowledged one,
 * `dev_acked`): a store restored from a backup has lost what it
 * acknowledged since, and the device pushes it again. FS_ENOTFOUND,
 * FS_EREVOKED, FS_EDB. */
int fs_store_feed_state(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                        uint64_t *dev_acked);
/* The tag of the feed entry at seq (fs_feed_entry_tag; 0: none). */
int fs_store_feed_tag(fs_store *s, uint64_t seq, uint64_t *tag);
/* *held 1 when tag is, or was before compaction, the tag of the entry at
 * seq (fs_feed_tag_held): a device's cursor there is in this feed. */
int fs_store_feed_tag_held(fs_store *s, uint64_t seq, uint64_t tag, int *held);
/* Several nodes (issue 21.2, the PostgreSQL backend): applies what other
 * nodes wrote since this one last looked. 0 and nothing done on SQLite;
 * cheap when there is nothing new (it consumes the LISTEN notifications
 * waiting, without blocking). FS_EDB (PostgreSQL unreachable, or this
 * node's cache diverged from the log: fs_store_errmsg says which). */
int fs_store_refresh(fs_store *s);
/* The socket that becomes readable when another node commits (poll it,
 * then call fs_store_refresh); -1 for SQLite, or while disconnected. */
int fs_store_notify_fd(fs_store *s);
/* Group commit: the writes of several devices' frames in one transaction,
 * committed (and, with synchronous=FULL, made durable) once for all of them.
 * fs_store_group_begin opens the group; every write until
 * fs_store_group_end joins it as a savepoint of its own, which its own
 * failure rolls back alone, and reads see what the group wrote so far.
 * fs_store_group_end commits the group (commit != 0) or rolls it back; on
 * a failed commit nothing of the group is kept. The caller sends nothing
 * that tells of the group's writes before the commit returned 0
 * (fs_sync_group does this for sync sessions). FS_EUNSUPPORTED from
 * fs_store_group_begin: the backend commits each write by itself (the
 * PostgreSQL store); FS_ESTATE: a transaction is open already. */
int fs_store_group_begin(fs_store *s);
int fs_store_group_end(fs_store *s, int commit);
/* A sealed copy of the store's database in the new file path, taken while
 * it serves (fs_replica_backup; the key file is the caller's to copy).
 * FS_EEXIST, FS_EDB. */
int fs_store_backup(fs_store *s, const char *path);
/* Gives the feed a new epoch: what a restore does, so every device pulls
 * its scope again. FS_EDB. */
int fs_store_new_epoch(fs_store *s);
/* Feed compaction (issue 21.1, fs_feed_compact_step): one step, in one
 * transaction of its own, over at most rows more rows of the feed, the
 * store's scope index following each entry deleted. Begin with *c zeroed
 * but for c->horizon (fs_store_horizon_before); c->done says when it is
 * over. FS_EINVAL, FS_EDB. */
int fs_store_compact_step(fs_store *s, fs_feed_compaction *c, size_t rows);
/* The feed's horizon (fs_feed_horizon: a cursor below it may stand on an
 * entry compaction rewrote; 0: never compacted). */
int fs_store_feed_horizon(fs_store *s, uint64_t *horizon);
/* The horizon that compacts the entries written more than keep_ms ago
 * (fs_feed_horizon_before; keep_ms 0: the whole feed). */
int fs_store_horizon_before(fs_store *s, uint64_t keep_ms, uint64_t *horizon);
/* How long a device may work without reaching the server: each handshake
 * grants its key until now + ms (READY), after which the device locks
 * itself until a server renews it. Not stored: a setting of the running
 * server (fieldsync-server serve --lease). */
#define FS_LEASE_DEFAULT_MS (7ull * 24 * 3600 * 1000)
void fs_store_set_lease(fs_store *s, uint64_t ms);
uint64_t fs_store_lease(const fs_store *s);

/* Users. Names are 1-64 bytes of printable UTF-8; teams likewise.
 * FS_EEXIST for a name taken, FS_EINVAL for a bad name, team or role. */
int fs_store_user_add(fs_store *s, const char *name, fs_role role, const char *team);

/* A manager's write from the dashboard, made on the server's replica and
 * fed to the devices like any change: a review of a weekly plan (row given;
 * only status, approved_by, approved_at, review_comment), a new
 * spot-check (row NULL; its rep's scope), or the decision of an open
 * conflict (table "conflict", row its id, the one cell status =
 * FS_CONFLICT_KEPT or FS_CONFLICT_RESTORED: fs_conflict_resolve; FS_ESTATE
 * when it is decided already). The record must be in the manager's team
 * (else FS_ENOTFOUND); FS_EAUTH for anyone but a manager, FS_EINVAL for
 * anything else. *out_id: the record's id. */
int fs_store_manager_write(fs_store *s, const char *manager, const char *table, const uint8_t *row,
                           const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES]);

/* Calls cb for every user, by team then name; a non-zero return stops the
 * walk and is returned. */
int fs_store_users(fs_store *s,
                   int (*cb)(const char *name, fs_role role, const char *team, void *ctx),
                   void *ctx);

/* Dashboard passwords (managers and admins only), stored as Argon2id
 * hashes. FS_ENOTFOUND for an unknown user, FS_ESTATE for a rep, FS_EINVAL
 * for a password outside FS_PASSWORD_MIN..FS_PASSWORD_MAX bytes. */
#define FS_PASSWORD_MIN  8
#define FS_PASSWORD_MAX  1024
#define FS_USER_NAME_MAX 64
int fs_store_set_password(fs_store *s, const char *name, const char *pw, size_t pwlen);
/* 0 and the user's role and team when name/pw may log in; FS_EAUTH for an
 * unknown user, a rep, no password set or a wrong one alike (and in about
 * the same time). */
int fs_store_login(fs_store *s, const char *name, const char *pw, size_t pwlen, fs_role *role,
                   char team[FS_USER_NAME_MAX + 1]);
/* The same login in two halves, so that the Argon2 verification (the
 * slow part, ~0.2 s, which touches no store) can run on another thread
 * (issue 20.1). fs_store_login_lookup reads what the store holds for name
 * into *out: the password hash, role and team of a manager or admin who
 * may log in, else a dummy hash, so the verification takes the same time
 * whoever is named. 0, or FS_ENOMEM. fs_login_verify needs no store and
 * is safe on any thread: 0 and the role and team, or FS_EAUTH, as
 * fs_store_login. */
#define FS_LOGIN_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
typedef struct fs_login_check {
    char hash[FS_LOGIN_HASH_MAX]; /* NUL-terminated Argon2id string */
    int known;                    /* a user who may log in, with a password */
    fs_role role;
    char team[FS_USER_NAME_MAX + 1];
} fs_login_check;
int fs_store_login_lookup(fs_store *s, const char *name, fs_login_check *out);
int fs_login_verify(const fs_login_check *c, const char *pw, size_t pwlen, fs_role *role,
                    char team[FS_USER_NAME_MAX + 1]);
/* A user who leaves: disabled (1), they cannot log in, enroll a device or
 * sync; their devices are revoked (and wiped at their next contact) and
 * their dashboard sessions end (fs_store_user_stamp changes). Enabled (0)
 * again, they may log in and enroll new devices; revoked devices stay so.
 * Audited. FS_ENOTFOUND for an unknown user. */
int fs_store_user_disable(fs_store *s, const char *name, int disabled);
/* Moves a user to another team (their rows stay theirs, so the new team's
 * manager sees them and the old one's no longer does). Adding, moving,
 * disabling and enabling a user keep their `roster` row current (schema 4,
 * server/store/roster.c). Audited (user_move). FS_ENOTFOUND for an unknown
 * user, FS_EINVAL for a bad team name. */
int fs_store_user_move(fs_store *s, const char *name, const char *team);
/* Sets one of a team's settings (fieldsync/rules.h, FS_TEAM_*: the zone,
 * working hours, holidays, weekend days worked), kept as the
 * server-written record `team_setting` (schema 5) that every device of
 * the team receives (protocol version 6 on) and the server's rules use.
 * Written and audited (team_set) only when it differs from what is kept.
 * FS_EINVAL for a bad team name, an unknown setting or a value it may not
 * hold (fs_team_setting_check; fs_store_errmsg says why). */
int fs_store_team_set(fs_store *s, const char *team, const char *setting, const char *value);
/* What a dashboard session was granted on: a digest of the user's role,
 * team and password hash. It changes with any of them; FS_EAUTH for an
 * unknown or disabled user, or one without a password. */
#define FS_USER_STAMP_BYTES 16
int fs_store_user_stamp(fs_store *s, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES]);

/* Sync health: a device was seen (a handshake, a push, a pull), and at a
 * handshake was granted a lease of the store's length (granted_lease).
 * fs_store_device_sync: when last seen, until when its lease runs, and its
 * pending changes as it last reported them (zeros for a device not seen). */
int fs_store_device_seen(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease);
int fs_store_device_sync(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms,
                         uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms);
/* What the device said in its last PULL: its newest local change's
 * sequence and when its oldest unacknowledged change was written. Pending
 * is that sequence less what the server has acknowledged since, so an ACK
 * after the report brings it to 0; the oldest time is as reported (an
 * overstatement while only part has been acknowledged). */
int fs_store_device_reported(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                             uint64_t oldest_ms);
/* What the device said of its refused changes in its last PULL (protocol
 * version 4): how many are still open on it and the newest one's reason.
 * Kept as the device's `refusal_tally` record (fieldsync/schema.h), owned
 * by its user, when it differs from what is kept. FS_ENOTFOUND for an
 * unknown device. */
int fs_store_device_refusals(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t open,
                             uint32_t reason);
/* A device's own clock as its PULL said it (protocol version 5): kept as
 * how far it was from the store's clock then (offset_ms: device minus
 * server, positive when the laptop is ahead) and when. fs_store_device_clock
 * reads it back: *at_ms 0 when the device never said. */
int fs_store_device_clock_note(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t wall_ms);
int fs_store_device_clock(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int64_t *offset_ms,
                          uint64_t *at_ms);
/* A device's exports as its PULL told them (protocol version 7, issue
 * 20.4): one audit entry `export` each, by the device's user, the subject
 * its fingerprint, the detail "kind=K records=N mode=M at=MS" (never a
 * value). FS_ENOTFOUND for an unknown device. */
int fs_store_device_exports(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                            const fs_pull_export *e, size_t n);
/* The user a row belongs to (through its parents), "" when none. */
int fs_store_owner(fs_store *s, unsigned table, const uint8_t row[FS_ID_BYTES],
                   char owner[FS_USER_NAME_MAX + 1]);

/* Devices. FS_ENOTFOUND for an unknown user, FS_EEXIST for a key already
 * enrolled. Adding and revoking join the store replica's open transaction
 * (fs_begin on fs_store_replica) if there is one. */
int fs_store_device_add(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user,
                        const char *name);
/* 0 if the device may connect, FS_ENOTFOUND if unknown, FS_EREVOKED. */
int fs_store_device_check(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
/* The user an enrolled, unrevoked device belongs to, that user's team
 * ("" when none) and role: what READY tells the device (fs_channel_config.
 * device_user). FS_ENOTFOUND, FS_EREVOKED. */
int fs_store_device_user(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                         char user[FS_USER_NAME_MAX + 1], char team[FS_USER_NAME_MAX + 1],
                         fs_role *role);
/* Audits that a revoked device was told to wipe (each time it shows up). */
int fs_store_note_wipe(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
/* Audits a session the server ended for what its peer sent. pk NULL: before
 * a device authenticated (a failed handshake), kind "auth_failed" by actor
 * "sync"; else "session_refused" with the device's user (or "unknown": a
 * device revoked meanwhile) and fingerprint.
 * detail: a reason, printable ASCII, never message contents ("reason=17
 * too many messages"); other bytes are replaced by '?'. */
int fs_store_note_refusal(fs_store *s, const uint8_t *pk, const char *detail);
/* The network (fs_net_network_of, fieldsync/transport.h) of the peer whose
 * frame the server handles next; NULL or "" for none. Handshake failures
 * (fs_store_note_refusal with pk NULL) are audited per network and reason
 * (the detail's first word) per minute (issue 20.3), so a flood of bad first frames cannot flood the audit: the
 * first of a minute at once, its detail ending "from NET"; the rest counted
 * into one entry "N more from NET within a minute (last: ...)", written at
 * the first such failure from anywhere after the minute, or when the
 * store closes. Counts in memory, for FS_STORE_AUTH_NETS networks (a new
 * one beyond that ends the oldest minute). */
#define FS_STORE_AUTH_NETS 64
void fs_store_set_source(fs_store *s, const char *net);
/* Writes the handshake-failure counts not yet written (as closing does):
 * before the audit's head is taken at a server's stop. 0, or the audit's
 * error. */
int fs_store_auth_flush(fs_store *s);
/* Audits a failed dashboard login from network net (fs_net_network_of) as
 * who (a user's name, or "unknown name": never what was typed for a name
 * no one has): kind "auth_failed", actor "dashboard", target who, counted
 * per network and who per minute as handshake failures are (the first at
 * once with detail, "dashboard login from ADDRESS"; the rest one entry "N
 * more from NET within a minute (last: ...)"). 0, or the audit's error. */
int fs_store_note_login_failure(fs_store *s, const char *net, const char *who,
                                const char *detail);
/* Revokes a device at once: it is told to wipe at its next contact, and
 * what it had not pushed is lost; the audit records how many changes that
 * was as the device last reported (discarded=N). FS_ENOTFOUND for an
 * unknown device. */
int fs_store_device_revoke(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
/* Revokes a device once it has pushed (issue 25.4): until then it may
 * still connect and push (it is sent nothing new); when a PULL of its shows
 * that the server has acknowledged all it holds, the revocation completes
 * (fs_store_device_pushed_out) and it is told to wipe. Audited with the
 * pending count. FS_ENOTFOUND for an unknown device. */
int fs_store_device_revoke_after_push(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
/* Where a device revoked after push stands, given local_seq (the newest
 * change it said it holds in this session): *state is
 * FS_DEVICE_REVOKE_AFTER_PUSH while the server has not acknowledged up to
 * it, FS_DEVICE_REVOKED when it has: the revocation is then complete
 * (audited, discarded=0) and the caller tells the device to wipe; 0 for
 * any other device (nothing written). */
int fs_store_device_pushed_out(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                               int *state);
/* What the server holds of a device (issue 25.3, TIP): the newest local
 * sequence it acknowledged, the clock of the write at that sequence (the
 * newest clock of the batch that moved it, as accepted) and its row, zeros
 * when none. A replica
 * restored from a backup or copied finds out from these that it is a fork
 * of the device. FS_ENOTFOUND, FS_EREVOKED. */
int fs_store_device_tip(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *acked_seq,
                        uint64_t *hlc, uint8_t row[FS_ID_BYTES]);
/* Registers new_pk as a device of old_pk's user (a fork of it: a restored or
 * copied replica that takes a new identity, with no enrollment code), in
 * one transaction with an audit entry "device_fork" naming both
 * fingerprints. The old device stays as it is. FS_EREVOKED when old_pk is
 * revoked or being revoked after push (a fork would escape the wipe),
 * FS_ENOTFOUND for an unknown device, FS_EEXIST for a key enrolled already. */
int fs_store_device_fork(fs_store *s, const uint8_t old_pk[FS_SIGN_PK_BYTES],
                         const uint8_t new_pk[FS_SIGN_PK_BYTES]);

/* The store's audit log (fieldsync/audit.h), keyed with a key of its own
 * derived from the server's identity. Enrollments, revocations and pushes
 * with refused changes (counts by reason, never values) are recorded in the
 * same transaction as what they record. */
typedef struct fs_audit fs_audit; /* server/store/audit.h */
fs_audit *fs_store_audit(fs_store *s);

/* One refused change. */
typedef struct fs_store_reject {
    size_t index;    /* position in the pushed array */
    uint32_t reason; /* FS_REASON_SCOPE, FS_REASON_INVALID, ... */
} fs_store_reject;

typedef struct fs_push_result {
    uint64_t acked_seq;       /* the device's acknowledged sequence after the push */
    size_t accepted;          /* changes applied (or already held) */
    fs_store_reject *rejects; /* malloc'd, caller frees; NULL when none */
    size_t nrejects;
    fs_restamp *restamps;     /* FS_PUSH_RESTAMP: writes given the server's clock, one
                                 pair per write; malloc'd, caller frees; NULL when none */
    size_t nrestamps;
    int replayed;             /* the batch had been applied before: nothing applied */
} fs_push_result;

/* Checks and applies a device's batch (local sequences first..last). The
 * device must be enrolled and not revoked (FS_EAUTH / FS_EREVOKED). Errors
 * other than refusals of single changes leave the store unchanged:
 * FS_EINVAL (first > last), FS_EDB, FS_ENOMEM. */
int fs_store_push(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
                  uint64_t last_seq, const fs_change *changes, size_t n, fs_push_result *out);

/* fs_store_push with flags. FS_PUSH_RESTAMP (a session of protocol version
 * FS_PROTO_VERSION_RESTAMP or later, which can be told): a write stamped
 * more than max_skew_ms ahead of the server's clock is accepted with a
 * clock the server gives it (just above its own, the device's order kept),
 * and listed in out->restamps, instead of refused with FS_REASON_CLOCK
 * (issue 23: a wrong laptop clock never loses a change). */
#define FS_PUSH_RESTAMP 1u
/* FS_PUSH_RESENT (a PUSH of protocol version FS_PROTO_VERSION_RESENT or
 * later marked re-sent): the changes were acknowledged by this server
 * before it lost them in a restore. A clock at most FS_RESENT_AHEAD_MS
 * ahead of the server's is kept as it is, not restamped: devices that
 * pulled the write before the restore hold it with that clock, and a
 * lower one would leave them a version the server does not have (issue
 * 25.2). The bound keeps a device that lies about it from stamping
 * writes further ahead than that. */
#define FS_PUSH_RESENT 2u
#define FS_RESENT_AHEAD_MS (2ull * 24 * 3600 * 1000)
/* FS_PUSH_CURSOR (a PUSH of protocol version FS_PROTO_VERSION_PUSH_CURSOR
 * or later): cursor is the feed cursor the device said with it. A device
 * whose cursor is still at or below a purge's feed entry was never sent
 * that purge (a copy of a laptop told apart from the original only by its
 * cursor), so its telling is forgotten before the push is judged (issue
 * 24, DESIGN.md "Work done before a hand-over is known"). A device that
 * says a lower cursor than its own gains nothing a laptop kept offline
 * does not have. Without the flag, cursor is not read. */
#define FS_PUSH_CURSOR 4u
int fs_store_push_flags(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
                        uint64_t last_seq, const fs_change *changes, size_t n, unsigned flags,
                        uint64_t cursor, fs_push_result *out);

/* Feed entries after cursor in the device user's scope, at most max changes
 * and max_bytes of packed feed entries read (fs_feed_since_bytes; 0: no
 * bound by bytes), the first entry in any case. *new_cursor is the last
 * feed sequence examined; *more is 1 if entries remain after it. */
int fs_store_pull(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                  size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor,
                  int *more);

/* Rows that left the device user's scope (a customer reassigned to someone
 * else, and what follows it) while the feed stood at or after cursor: the
 * device must purge them before it applies what it pulls from there. At most
 * max; the array is malloc'd (caller frees). Sending them again is harmless. */
int fs_store_purges(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                    size_t max, fs_row_ref **out, size_t *n);
/* The device was sent what fs_store_purges(cursor, max) gave it, in answer
 * to a PULL made when its newest local change was local_seq (issue 24).
 * From then on the device knows those rows left its user's scope: a change
 * it pushes under one of them with a later local sequence is refused as
 * outside its scope; one made before (not above local_seq, or while it was
 * never told) was made with the right to make it and is accepted
 * (fs_store_push). The first telling of each purge is kept, with the
 * device's sequence the store had acknowledged then: a push starting at or
 * below it comes from a replica that never got the telling (a copy under
 * the same id, or a session broken before the ACKs arrived), and forgets
 * it. FS_EDB. */
int fs_store_purges_told(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                         size_t max, uint64_t local_seq);

/* ENROLLMENT CODES (the code's text: fieldsync/enroll.h).

 * FORMAT (SQLite backend: a table in the store's encrypted database, created when missing)
 *   enroll_codes  hash BLOB PRIMARY KEY (32: BLAKE2b-256 of "fieldsync/1
 *                 enroll code" | secret), user TEXT, expires_ms INTEGER
 *                 (Unix time, ms), used INTEGER (0, or 1 once redeemed).
 *   The secret itself is never stored. Creating a code forgets the codes
 *   that expired more than 30 days before.
 */
/* Creates a code for an existing user, valid for ttl_ms from now (the
 * store's clock), and writes it, NUL-terminated, to code (codelen at least
 * FS_ENROLL_CODE_CHARS + 1). Errors: FS_EINVAL (ttl 0, codelen too small),
 * FS_ENOTFOUND (no such user), FS_EDB. On error code is "". */
int fs_enroll_code_create(fs_store *s, const char *user, uint64_t ttl_ms,
                          const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code, size_t codelen);

/* Redeems the secret in req->code at time now_ms and enrolls req->device_pk
 * for the code's user (fs_store_device_add, which audits "enroll"). Hashes
 * are compared in constant time. Refusals are audited ("enroll_refused",
 * with the device's fingerprint and the reason) and return:
 *   FS_EAUTH    unknown code (or malformed request code)
 *   FS_ECLOCK   expired
 *   FS_ESTATE   already used
 * and fs_store_device_add's FS_EEXIST / FS_ENOTFOUND, after which the code
 * may be used again. Spending the code and adding the device happen in one
 * transaction: both or neither. Other errors: FS_EDB. */
int fs_enroll_code_redeem(fs_store *s, const fs_enroll_request *req, uint64_t now_ms);

/* fs_enroll_fn for fs_channel_config.enroll_device: ctx is the fs_store;
 * redeems at the store's clock. */
int fs_enroll_device(void *ctx, const fs_enroll_request *req);

/* The team of the user of req->code if the code is one
 * fs_enroll_code_redeem would redeem at now_ms (team "" when the user has
 * none), WITHOUT spending it: a device asks its team's passphrase rule
 * before it enrolls (POLICY_ASK, fieldsync/msg.h). Refusals as
 * fs_enroll_code_redeem's, audited alike. */
int fs_enroll_code_team(fs_store *s, const fs_enroll_request *req, uint64_t now_ms,
                        char team[FS_USER_NAME_MAX + 1]);
/* fs_enroll_policy_fn for fs_channel_config.enroll_policy: ctx is the
 * fs_store; the team's rule (fs_team_pass_policy) for a code it would
 * redeem at the store's clock. */
int fs_enroll_policy(void *ctx, const fs_enroll_request *req, uint32_t *min_chars,
                     uint32_t *min_words, char team[FS_USER_MAX + 1]);

/* One enrolled device, as fs_store_devices() delivers it; strings valid
 * during the callback. */
typedef struct fs_store_device {
    uint8_t pk[FS_SIGN_PK_BYTES];
    char fingerprint[33]; /* hex of the device id (fs_device_id_from_pk) */
    const char *user;
    const char *name; /* as the device sent it: not sanitised */
    int revoked; /* 0, or FS_DEVICE_REVOKED, or FS_DEVICE_REVOKE_AFTER_PUSH */
} fs_store_device;

#define FS_DEVICE_REVOKED 1
#define FS_DEVICE_REVOKE_AFTER_PUSH 2 /* may connect and push; wiped once it has pushed */

/* Calls cb for every enrolled device, by user then fingerprint; a non-zero
 * return stops the walk and is returned. Errors: FS_EDB. */
int fs_store_devices(fs_store *s, int (*cb)(const fs_store_device *d, void *ctx), void *ctx);

/* Attachments' bytes (issue 19.3, fieldsync/attach.h). A device may send
 * or fetch the chunks of hash only when a live `attachment` row in its
 * user's scope names it; its size (from that row) says the chunks and
 * their lengths. *known is 0 otherwise (and nothing else is said).
 * att_need: the indexes of the chunks the store lacks (up to cap).
 * att_put: stores one chunk of exactly the length the size gives
 * (FS_EINVAL otherwise, FS_ENOTFOUND for an unknown hash); with the last
 * one in, the whole file is checked against its hash and dropped when it
 * is not that file. att_get: reads one chunk into buf (FS_ATTACH_CHUNK
 * bytes), FS_ENOTFOUND when the store does not hold it or the hash is not
 * in scope. */
int fs_store_att_need(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                      const uint8_t hash[32], uint32_t *missing, size_t cap, size_t *n,
                      int *known);
int fs_store_att_put(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                     const uint8_t hash[32], uint32_t idx, const uint8_t *data, size_t len);
int fs_store_att_get(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                     const uint8_t hash[32], uint32_t idx, uint8_t *buf, size_t *len);

/* The operations a backend provides: one for each fs_store_* function above
 * (same arguments, same contract), the handle first. Every member is set. */
typedef struct fs_store_ops {
    const char *name; /* "sqlite" */
    void (*close)(fs_store *s);
    const char *(*errmsg)(const fs_store *s);
    fs_replica *(*replica)(fs_store *s);
    uint64_t (*now_ms)(fs_store *s);
    int (*feed_head)(fs_store *s, uint64_t *seq);
    int (*feed_state)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint8_t epoch[16],
                      uint64_t *dev_acked);
    int (*feed_tag)(fs_store *s, uint64_t seq, uint64_t *tag);
    int (*new_epoch)(fs_store *s);
    int (*compact_step)(fs_store *s, fs_feed_compaction *c, size_t rows);
    int (*feed_horizon)(fs_store *s, uint64_t *horizon);
    int (*feed_tag_held)(fs_store *s, uint64_t seq, uint64_t tag, int *held);
    int (*horizon_before)(fs_store *s, uint64_t keep_ms, uint64_t *horizon);
    int (*backup)(fs_store *s, const char *path);
    void (*set_lease)(fs_store *s, uint64_t ms);
    uint64_t (*lease)(const fs_store *s);
    int (*refresh)(fs_store *s);
    int (*notify_fd)(fs_store *s);
    int (*group_begin)(fs_store *s); /* NULL: no group commit */
    int (*group_end)(fs_store *s, int commit);
    /* users and logins */
    int (*user_add)(fs_store *s, const char *name, fs_role role, const char *team);
    int (*users)(fs_store *s, int (*cb)(const char *, fs_role, const char *, void *), void *ctx);
    int (*set_password)(fs_store *s, const char *name, const char *pw, size_t pwlen);
    int (*login)(fs_store *s, const char *name, const char *pw, size_t pwlen, fs_role *role,
                 char team[FS_USER_NAME_MAX + 1]);
    int (*login_lookup)(fs_store *s, const char *name, fs_login_check *out);
    int (*user_disable)(fs_store *s, const char *name, int disabled);
    int (*user_move)(fs_store *s, const char *name, const char *team);
    int (*team_set)(fs_store *s, const char *team, const char *setting, const char *value);
    int (*user_stamp)(fs_store *s, const char *name, uint8_t stamp[FS_USER_STAMP_BYTES]);
    /* devices */
    int (*device_add)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], const char *user,
                      const char *name);
    int (*device_check)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
    int (*device_user)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                       char user[FS_USER_NAME_MAX + 1], char team[FS_USER_NAME_MAX + 1],
                       fs_role *role);
    int (*device_revoke)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int after_push);
    int (*device_pushed_out)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                             int *state);
    int (*devices)(fs_store *s, int (*cb)(const fs_store_device *d, void *ctx), void *ctx);
    int (*device_tip)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *acked_seq,
                      uint64_t *hlc, uint8_t row[FS_ID_BYTES]);
    int (*device_fork)(fs_store *s, const uint8_t old_pk[FS_SIGN_PK_BYTES],
                       const uint8_t new_pk[FS_SIGN_PK_BYTES]);
    int (*device_seen)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int granted_lease);
    int (*device_sync)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t *last_seen_ms,
                       uint64_t *lease_until_ms, uint64_t *pending, uint64_t *oldest_pending_ms);
    int (*device_reported)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t local_seq,
                           uint64_t oldest_ms);
    int (*device_clock_note)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t wall_ms);
    int (*device_exports)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES],
                          const fs_pull_export *e, size_t n);
    int (*device_clock)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], int64_t *offset_ms,
                        uint64_t *at_ms);
    int (*device_refusals)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES], uint64_t open,
                           uint32_t reason);
    int (*note_wipe)(fs_store *s, const uint8_t pk[FS_SIGN_PK_BYTES]);
    int (*note_refusal)(fs_store *s, const uint8_t *pk, const char *detail);
    void (*set_source)(fs_store *s, const char *net);
    int (*auth_flush)(fs_store *s);
    int (*note_login_failure)(fs_store *s, const char *net, const char *who, const char *detail);
    /* enrollment */
    int (*enroll_code_create)(fs_store *s, const char *user, uint64_t ttl_ms,
                              const uint8_t server_pk[FS_SIGN_PK_BYTES], char *code,
                              size_t codelen);
    int (*enroll_code_redeem)(fs_store *s, const fs_enroll_request *req, uint64_t now_ms);
    int (*enroll_code_team)(fs_store *s, const fs_enroll_request *req, uint64_t now_ms,
                            char team[FS_USER_NAME_MAX + 1]);
    /* scope, push, pull */
    int (*owner)(fs_store *s, unsigned table, const uint8_t row[FS_ID_BYTES],
                 char owner[FS_USER_NAME_MAX + 1]);
    int (*push)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t first_seq,
                uint64_t last_seq, const fs_change *changes, size_t n, unsigned flags,
                uint64_t cursor, fs_push_result *out);
    int (*pull)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                size_t max, size_t max_bytes, fs_changeset **out, uint64_t *new_cursor,
                int *more);
    int (*purges)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                  size_t max, fs_row_ref **out, size_t *n);
    int (*purges_told)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], uint64_t cursor,
                       size_t max, uint64_t local_seq);
    /* the dashboard's writes, the audit log */
    int (*manager_write)(fs_store *s, const char *manager, const char *table, const uint8_t *row,
                         const fs_cell *cells, size_t n, uint8_t out_id[FS_ID_BYTES]);
    fs_audit *(*audit)(fs_store *s);
    /* attachments' bytes */
    int (*att_need)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                    const uint8_t hash[32], uint32_t *missing, size_t cap, size_t *n,
                    int *known);
    int (*att_put)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
                   uint32_t idx, const uint8_t *data, size_t len);
    int (*att_get)(fs_store *s, const uint8_t device_pk[FS_SIGN_PK_BYTES], const uint8_t hash[32],
                   uint32_t idx, uint8_t *buf, size_t *len);
} fs_store_ops;

/* The head of every backend's handle. */
struct fs_store {
    const fs_store_ops *ops;
};

#endif
