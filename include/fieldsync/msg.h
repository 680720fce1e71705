/*
 * Wire messages: one msgpack array per message, [type, fields...].
 *
 * FORMAT (every integer is a msgpack unsigned int unless noted; binN is a
 * msgpack bin of exactly N bytes)
 *   type        fields
 *   1 HELLO     vmin, vmax, client ephemeral key (bin32)
 *   2 WELCOME   version chosen, server ephemeral key (bin32),
 *               server identity key (bin32), signature (bin64)
 *   3 AUTH      device identity key (bin32), signature (bin64)
 *   4 ENROLL    device identity key (bin32), signature (bin64),
 *               enrollment request sealed to the server (bin)
 *   5 READY     server time ms, lease expiry ms [, user, team [, role
 *               [, feed epoch (bin16), dev_acked]]]
 *               [, user (str), team (str)]   from protocol version 3 only
 *   10 PUSH     first local sequence, last local sequence, batch
 *               [, resent (bool)]                from protocol version 7 only
 *               [, cursor]                       from protocol version 9 only
 *   11 ACK      last local sequence committed by the server
 *               [, restamps [[sent hlc, given hlc]...]]
 *                                                from protocol version 4 only
 *   12 REJECT   [[table, row (bin16), column, hlc, reason code, reason (str)]...]
 *   13 PULL     cursor, max changes, newest local seq, oldest pending (ms)
 *               [, open refusals, newest refusal's reason code
 *                                                from protocol version 4 only
 *               [, cursor tag]]                  from protocol version 5 only
 *   14 CHANGES  new cursor, more (bool), batch
 *               [, cursor tag, resync (bool)]    from protocol version 5 only
 *   15 POKE     cursor of the newest change in the device's scope
 *   16 PURGE    [[table, row (bin16)]...]
 *   17 WIPE     reason code
 *   18 ERROR    reason code, text (str)
 *   19 BYE      (none; sealed with the stream's final tag)
 *   20 TIP      acked local sequence, its clock (hlc), its row (bin16)
 *                                                from protocol version 5 only
 *   21 FORK     new device identity key (bin32), old key's signature (bin64),
 *               new key's signature (bin64)           from protocol version 5 only
 *   22 FORKED   (none)                                 from protocol version 5 only
 *   23 ATT_ASK  hash (bin32)                           from protocol version 7 only
 *   24 ATT_NEED hash (bin32), status, [chunk index...]  from protocol version 7 only
 *   25 ATT_CHUNK hash (bin32), chunk index, bytes (bin) from protocol version 7 only
 *   26 ATT_GET  hash (bin32), [chunk index...]         from protocol version 7 only
 *   27 POLICY_ASK device key (bin32), signature (bin64), enrollment request
 *               sealed to the server (bin)            from protocol version 8 only
 *   28 POLICY   min characters, min words, team (str)  from protocol version 8 only
 *
 * A batch carries column changes grouped by row, so a row id travels once,
 * with device ids in a dictionary and clocks relative to the smallest:
 *   batch = [devices [bin16...], base hlc, rows [row...]]
 *   row   = [table, row id (bin16), groups [group...]]
 *   group = [hlc - base, device index, hlc - prev hlc (0: no prev),
 *            prev device index, column, value, column, value, ...]
 * Values are native msgpack: nil, int (signed or unsigned), float64, str
 * (UTF-8 text), bin (bytes).
 *
 * From protocol version 2 a batch may travel compressed instead:
 *   batch = bin: one or more zstd frames, each declaring its content size;
 *           decompressed and joined they are one or more plain batches
 *           (the form above) back to back.
 * Each frame is compressed on its own and holds the rows of one compression
 * group: for CHANGES, the rows of one owner (fs_store_pull sets the groups),
 * so no frame mixes two owners' text and the length of one owner's frame
 * never depends on another's (no CRIME-style probing through a manager's
 * pull). A PUSH holds only its writer's own changes: one group. The decoder
 * accepts either form in any version; the encoder compresses only for
 * version 2 (fs_msg_encode_v) and only when that saves at least a sixteenth.
 * Decompressed bytes are bounded by max_frame and by FS_ZBATCH_MAX_RATIO
 * times the compressed bytes, checked from the frame headers before
 * allocating.
 *
 * READY's two last fields (from protocol version 3, FS_PROTO_VERSION_USER)
 * name the device's user and team as the server knows them: 1..FS_USER_MAX
 * and 0..FS_USER_MAX bytes of UTF-8 ("" when the user has no team). The
 * encoder writes them only for a session of version 3 or later and only
 * when the message names a user, so a client of an older version (whose
 * decoder wants exactly three fields) never sees them; the decoder accepts
 * three fields or five in any version. From protocol version 4
 * (FS_PROTO_VERSION_ROLE) a READY that names the user has a sixth field, the
 * user's role: 1 rep, 2 manager, 3 admin (FS_READY_ROLE_*); the decoder
 * accepts six fields too, and refuses another role number.
 *
 * ACK's restamps (from protocol version 4, FS_PROTO_VERSION_RESTAMP): the
 * pushed writes the server accepted with a clock of its own because theirs
 * was too far ahead of its time (issue 23), each as the clock the device
 * sent and the one the server gave (both non-zero, at most max_items
 * pairs); the device rewrites its own versions to match. The encoder
 * writes the third field only when there are restamps, and refuses them
 * (FS_EINVAL) for a session older than version 4, whose decoder wants
 * exactly two fields: such a client's ahead writes are refused as before.
 * The decoder accepts two fields or three in any version.
 *
 * Server restores (issue 25.2, from protocol version 5,
 * FS_PROTO_VERSION_EPOCH). A READY that names the user's role also carries
 * the feed's epoch (16 random bytes the store makes when it is created and
 * again when it is restored: a device whose cursor belongs to another
 * epoch pulls its scope again from 0) and `dev_acked`, the newest local
 * sequence of this device the server holds (its acknowledged sequence for
 * the device): a device that was acknowledged more (the server lost pushes
 * with a restored backup) rewinds its acknowledged mark to dev_acked and
 * pushes again from there. A PULL carries the cursor's tag (0: unknown), a
 * 64-bit digest of the feed entry at the cursor (fs_feed_entry_tag) as the
 * CHANGES that gave the cursor said it; every CHANGES carries the tag of
 * the entry at its new cursor. When the cursor is past the feed's end, or
 * its entry's tag is not the one the device holds (a data directory copied
 * back by hand, no new epoch), the server answers with a CHANGES of cursor
 * 0, more 1, no changes and resync 1: the device pulls again from 0. The
 * encoder writes these fields only for a session of version 5 or later
 * (older clients' decoders want the old field counts); the decoder accepts
 * READY of 3, 5, 6 or 8 fields, PULL of 5, 7, 8 or 9, CHANGES of 4 or 6.
 *
 * A laptop's clock on the dashboard (issue 23, from protocol version 5,
 * FS_PROTO_VERSION_CLOCK_REPORT): a PULL with the cursor's tag may carry a
 * ninth field, the device's own wall clock in Unix ms, uncorrected; the
 * server keeps how far it was from its own when the PULL arrived, so the
 * manager sees a laptop whose clock is off, and by how much.
 *
 * TIP, FORK and FORKED (from protocol version 5, FS_PROTO_VERSION_FORK;
 * issue 25.3): right after READY the server sends TIP, the newest local
 * sequence it acknowledged for the device, the clock of the write there and
 * its row (0, 0 and sixteen zero bytes when it has none: two copies with
 * one clock history can stamp different writes alike, but not on one
 * random row id). A device that does not hold that change (its
 * newest sequence is below: restored from a backup) or holds another one
 * there (another clock: a copy that wrote on its own) is a fork of the
 * device: before it pushes anything it sends FORK with a new identity key,
 * signed by the old key over "fieldsync/1 fork" + the new key and by the
 * new key over "fieldsync/1 fork" + the old key. The server registers the
 * new key for the same user and answers FORKED; from then on the session
 * is the new device's. It refuses with ERROR FORK_REFUSED. A client of
 * version 5 pushes nothing before TIP. The encoder refuses the three
 * (FS_EINVAL) for a session older than version 5; a peer of an older
 * version never sees them.
 *
 * Attachments (issue 19.3, from protocol version 7,
 * FS_PROTO_VERSION_ATTACH): a file attached to a record is an `attachment`
 * row (schema 6, synced as any record) naming the BLAKE2b-256 hash of its
 * bytes and its size; the bytes travel apart, in chunks of
 * FS_ATTACH_CHUNK bytes (fieldsync/attach.h; the last one shorter), chunk i
 * holding bytes [i * FS_ATTACH_CHUNK, ...). Up: the device sends ATT_ASK
 * for a hash; the server answers ATT_NEED with the indexes of the chunks
 * it lacks (status FS_ATT_OK), or status FS_ATT_UNKNOWN and no indexes when
 * no attachment row in the device's scope names the hash; the device sends
 * those chunks (ATT_CHUNK) and asks again until nothing is lacking. Down:
 * the device sends ATT_GET with the indexes it lacks; the server sends an
 * ATT_CHUNK for each one it holds, then ATT_NEED with the indexes of those
 * it does not hold (none: all sent), which ends the answer. An index list
 * holds at most FS_ATTACH_MAX_CHUNKS entries, each below it; a chunk's
 * bytes are 1..FS_ATTACH_CHUNK. The encoder refuses the four (FS_EINVAL)
 * for a session older than version 7.
 *
 * The team's passphrase rule before enrolling (issue 20.7, from protocol
 * version 8, FS_PROTO_VERSION_PASSPOLICY): a device that is about to
 * enroll asks first, so it knows the rule before it asks its user for the
 * passphrase that will guard the replica. Its third handshake frame is then
 * POLICY_ASK instead of ENROLL: the same fields, signed by a key made for
 * the question (T2 bound to type 27), the request's code a code the server
 * would redeem. The server looks the code up WITHOUT spending it; for a
 * code it would redeem it answers POLICY, sealed with the final tag (the
 * session ends there): the rule the team of the code's user set
 * (fieldsync/rules.h FS_TEAM_PASS_*), each at least the built-in minimum
 * (fieldsync/passphrase.h), and the team's name ("" for none); else ERROR
 * ENROLL as for ENROLL. The device then enrolls as before, in a second
 * session. A client asks only a server that chose version 8 or later; a
 * server sends POLICY only in answer to POLICY_ASK; the encoder refuses
 * both (FS_EINVAL) for an older session: peers of version 7 and before
 * see exactly the bytes they saw.
 *
 * Decoding checks every length, count and nesting depth against
 * fs_proto_limits before it allocates anything a peer can size.
 */
#ifndef FIELDSYNC_MSG_H
#define FIELDSYNC_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/buf.h"
#include "fieldsync/reason.h"
#include "fieldsync/replica.h"

#define FS_PROTO_VERSION        9u /* the newest version this build speaks */
#define FS_PROTO_VERSION_MIN 1u /* the oldest it accepts */
#define FS_PROTO_VERSION_ZBATCH 2u /* the first whose encoder compresses batches */
/* The first whose peer knows schema version 2 (fieldsync/schema.h): the
 * server sends a session of an older version no change of a table or
 * column that came later, since its replica could not apply it. */
#define FS_PROTO_VERSION_SCHEMA2 3u
#define FS_PROTO_VERSION_USER   3u /* the first whose READY names the device's user */
#define FS_PROTO_VERSION_SCHEMA3 4u /* the first whose peer knows schema version 3 */
/* The first whose PULL says how many of the device's changes the server
 * refused are still open on it (neither reverted nor retried), and the
 * newest one's reason: the dashboard and the managers' laptops show what
 * is still to be put right, not every refusal there ever was. */
#define FS_PROTO_VERSION_OPEN_REFUSALS 4u
/* The first whose READY also says the user's role (FS_READY_ROLE_*): the
 * CLI checks a write against the record rules for that role before saving
 * it (client/precheck.c), from the first sync on. */
#define FS_PROTO_VERSION_ROLE 4u
/* The first whose ACK may carry restamps: a write stamped too far ahead of
 * the server's clock is accepted with the server's clock instead of being
 * refused, and the device learns the new version (issue 23). */
#define FS_PROTO_VERSION_RESTAMP 4u
/* The first whose READY carries the feed epoch and dev_acked, and whose
 * PULL and CHANGES carry the cursor's tag and a re-sync order (issue 25.2:
 * a device never skips entries of a server restored from a backup). */
#define FS_PROTO_VERSION_EPOCH 5u
/* The first whose PULL may say the device's own wall clock (issue 23). */
#define FS_PROTO_VERSION_CLOCK_REPORT 5u
#define FS_FEED_EPOCH_BYTES 16
/* The first whose server says what it holds of the device (TIP) and whose
 * device, restored from a backup or copied, takes a new identity (FORK,
 * FORKED) rather than losing its synced records or having its writes taken
 * for replays (issue 25.3). */
#define FS_PROTO_VERSION_FORK 5u
/* What both ends sign in FORK, before the other key. */
#define FS_FORK_LABEL "fieldsync/1 fork"
/* The first whose peer knows schema version 4 (the `roster` table): a
 * session of an older version is sent none of it. */
#define FS_PROTO_VERSION_SCHEMA4 5u
/* The first whose peer knows schema version 5 (the `team_setting` table:
 * the team's time zone, working hours, holidays, set on the server): a
 * session of an older version is sent none of it, and gets the bytes it
 * got from a server of version 5. */
#define FS_PROTO_VERSION_TEAM 6u
/* The first whose PUSH may say its changes are re-sent: the server had
 * acknowledged them and lost them in a restore (the device's acknowledged
 * mark was set back, issue 25.2). Such a change keeps the clock it was
 * acknowledged with when that is at most FS_RESENT_AHEAD_MS ahead of the
 * server's clock, instead of being restamped below the clock devices that
 * pulled it before the restore hold. */
#define FS_PROTO_VERSION_RESENT 7u
#define FS_PROTO_VERSION_SCHEMA6 7u /* the first whose peer knows schema version 6 */
/* The first that carries attachments' bytes (ATT_ASK, ATT_NEED, ATT_CHUNK,
 * ATT_GET; issue 19.3): a peer of an older version is sent none of them. */
#define FS_PROTO_VERSION_ATTACH 7u
/* The first whose PULL may carry the device's exports not yet told
 * (issue 20.4): each [at_ms, kind, records, mode], at most
 * FS_PULL_EXPORTS_MAX, audited `export` by the server. An older session's
 * PULL is exactly as before, and the device keeps them for a later sync. */
#define FS_PROTO_VERSION_EXPORT 7u
#define FS_PULL_EXPORTS_MAX     16u
/* The first that tells a device about to enroll its team's passphrase rule
 * (POLICY_ASK, POLICY; issue 20.7). */
#define FS_PROTO_VERSION_PASSPOLICY 8u
/* The first whose PUSH may carry the device's feed cursor (its PULL cursor
 * when it pushes): the server tells a device that was never sent a purge
 * (a copy of a laptop whose cursor is still below the purge's feed entry)
 * from the device that was, so work done on the copy before it could know
 * of a hand-over is not refused for it (DESIGN.md "Work done before a
 * hand-over is known"). The cursor follows the re-sent mark, which is then
 * always sent (false when not re-sent); an older session's PUSH is exactly
 * as before. */
#define FS_PROTO_VERSION_PUSH_CURSOR 9u
typedef struct fs_pull_export {
    uint64_t at_ms;
    char kind[33]; /* [a-z_], 1..32 bytes */
    uint32_t n;
    char mode[16]; /* "sealed" or "plaintext" */
} fs_pull_export;
enum { FS_READY_ROLE_REP = 1, FS_READY_ROLE_MANAGER = 2, FS_READY_ROLE_ADMIN = 3 };
#define FS_ZBATCH_MAX_RATIO     64u /* decompressed bytes per compressed byte, at most */

typedef struct fs_proto_limits {
    size_t max_frame;     /* bytes in one frame, sealed or not */
    size_t max_changes;   /* column changes in one batch */
    size_t max_rows;      /* rows in one batch */
    size_t max_devices;   /* device ids in one batch's dictionary */
    size_t max_bytes;     /* one str or bin */
    unsigned max_depth;   /* array nesting */
    size_t max_items;     /* entries of a REJECT or PURGE list */
} fs_proto_limits;

/* 16 MiB frames, 50,000 changes, 20,000 rows, 4,096 devices, values up to
 * FS_MAX_BLOB, depth 6, 50,000 list entries. */
extern const fs_proto_limits fs_proto_default_limits;

typedef enum fs_msg_type {
    FS_MSG_HELLO = 1,
    FS_MSG_WELCOME = 2,
    FS_MSG_AUTH = 3,
    FS_MSG_ENROLL = 4,
    FS_MSG_READY = 5,
    FS_MSG_PUSH = 10,
    FS_MSG_ACK = 11,
    FS_MSG_REJECT = 12,
    FS_MSG_PULL = 13,
    FS_MSG_CHANGES = 14,
    FS_MSG_POKE = 15,
    FS_MSG_PURGE = 16,
    FS_MSG_WIPE = 17,
    FS_MSG_ERROR = 18,
    FS_MSG_BYE = 19,
    FS_MSG_TIP = 20,
    FS_MSG_FORK = 21,
    FS_MSG_FORKED = 22,
    FS_MSG_ATT_ASK = 23,
    FS_MSG_ATT_NEED = 24,
    FS_MSG_ATT_CHUNK = 25,
    FS_MSG_ATT_GET = 26,
    FS_MSG_POLICY_ASK = 27,
    FS_MSG_POLICY = 28
} fs_msg_type;

#define FS_ATT_HASH_BYTES 32 /* an attachment's name: BLAKE2b-256 of its bytes */
/* ATT_NEED's status: what the server makes of the hash */
enum { FS_ATT_OK = 0, FS_ATT_UNKNOWN = 1 };

typedef struct fs_reject_item {
    uint16_t table, column;
    uint8_t row[FS_ID_BYTES];
    uint64_t hlc;
    uint32_t reason;
    const char *text; /* UTF-8, not NUL-terminated */
    size_t text_len;
} fs_reject_item;

typedef fs_row_ref fs_purge_item; /* what fs_replica_purge takes */

/* A message. Decoded messages own their memory (fs_msg_free); messages built
 * by the caller for encoding point to the caller's memory. */
typedef struct fs_msg {
    fs_msg_type type;
    union {
        struct {
            uint32_t vmin, vmax;
            uint8_t eph[32];
        } hello;
        struct {
            uint32_t version;
            uint8_t eph[32];
            uint8_t server_pk[32];
            uint8_t sig[64];
        } welcome;
        struct {
            uint8_t device_pk[32];
            uint8_t sig[64];
        } auth;
        struct { /* ENROLL and POLICY_ASK */
            uint8_t device_pk[32];
            uint8_t sig[64];
            const uint8_t *sealed;
            size_t sealed_len;
        } enroll;
        struct {
            uint32_t min_chars, min_words; /* the team's rule (at least the built-in) */
            const char *team; /* UTF-8, not NUL-terminated, 0..FS_USER_MAX bytes */
            size_t team_len;
        } policy;
        struct {
            uint64_t server_time_ms;
            uint64_t lease_expires_ms;
            const char *user; /* UTF-8, not NUL-terminated; NULL: not named */
            size_t user_len;
            const char *team; /* when user is set; may be empty */
            size_t team_len;
            uint32_t role; /* when user is set: FS_READY_ROLE_*; 0 not said */
            int has_epoch; /* the two below were sent (version 5 on, with a role) */
            uint8_t epoch[FS_FEED_EPOCH_BYTES]; /* the server feed's epoch */
            uint64_t dev_acked; /* the device's newest local sequence the server holds */
        } ready;
        struct {
            uint64_t first_seq, last_seq;
            const fs_change *changes;
            size_t count;
            const uint32_t *groups; /* encoding: compression group of each change;
                                       NULL: one group. Decoded: NULL */
            int resent; /* version 7 on: acknowledged before and lost by the
                           server (FS_PROTO_VERSION_RESENT) */
            int has_cursor; /* version 9 on: the cursor below was sent
                               (FS_PROTO_VERSION_PUSH_CURSOR) */
            uint64_t cursor; /* the device's feed cursor when it pushed */
        } push;
        struct {
            uint64_t upto_seq;
            const fs_restamp *restamps; /* version 4 on; NULL when count is 0 */
            size_t nrestamps;
        } ack;
        struct {
            const fs_reject_item *items;
            size_t count;
        } reject;
        struct {
            uint64_t cursor;
            uint32_t max;
            uint64_t local_seq;         /* the device's newest local change ... */
            uint64_t oldest_pending_ms; /* ... and when its oldest unacknowledged one was
                                           written, 0 if none (sync health) */
            int has_refusals;    /* the two below were sent (version 4 on) */
            uint64_t refusals;   /* the device's refused changes still open */
            uint32_t refusal_reason; /* the newest one's reason code, 0 if none */
            int has_tag;          /* cursor_tag was sent (version 5 on) */
            uint64_t cursor_tag;  /* the feed entry at cursor, as the device knows it; 0 unknown */
            int has_clock;        /* wall_ms was sent (version 5 on, with the tag) */
            uint64_t wall_ms;     /* the device's own wall clock (Unix ms), uncorrected */
            size_t nexports;      /* version 7 on, with the clock: exports to audit */
            fs_pull_export exports[FS_PULL_EXPORTS_MAX];
        } pull;
        struct {
            uint64_t cursor;
            int more;
            const fs_change *changes;
            size_t count;
            const uint32_t *groups; /* as for push */
            int has_tag;         /* the two below were sent (version 5 on) */
            uint64_t cursor_tag; /* the feed entry at cursor (0: none, cursor 0) */
            int resync;          /* pull again from cursor 0: the feed is not the one the
                                    device's cursor was in */
        } changes;
        struct {
            uint64_t cursor;
        } poke;
        struct {
            const fs_purge_item *items;
            size_t count;
        } purge;
        struct {
            uint32_t reason;
        } wipe;
        struct {
            uint32_t reason;
            const char *text;
            size_t text_len;
        } error;
        struct {
            uint64_t acked_seq; /* the newest local sequence acknowledged, 0: none */
            uint64_t hlc;       /* that change's clock (0 with acked_seq 0) */
            uint8_t row[FS_ID_BYTES]; /* that change's row (zeros with acked_seq 0) */
        } tip;
        struct { /* ATT_ASK, ATT_NEED, ATT_CHUNK, ATT_GET */
            uint8_t hash[FS_ATT_HASH_BYTES];
            uint32_t status;        /* ATT_NEED */
            const uint32_t *idx;    /* ATT_NEED, ATT_GET: chunk indexes */
            size_t count;
            uint32_t index;         /* ATT_CHUNK */
            const uint8_t *data;    /* ATT_CHUNK: 1..FS_ATTACH_CHUNK bytes */
            size_t len;
        } att;
        struct {
            uint8_t new_pk[32];
            uint8_t old_sig[64]; /* by the session's key over FS_FORK_LABEL + new_pk */
            uint8_t new_sig[64]; /* by new_pk over FS_FORK_LABEL + the session's key */
        } fork;
    } u;
    void *arena_; /* decoded messages: everything they point to */
} fs_msg;

/* The schema version (fieldsync/schema.h) a peer of protocol version
 * `version` knows: 1 before FS_PROTO_VERSION_SCHEMA2, 2 before
 * FS_PROTO_VERSION_SCHEMA3, 3 before FS_PROTO_VERSION_SCHEMA4, 4 before
 * FS_PROTO_VERSION_TEAM, 5 before FS_PROTO_VERSION_SCHEMA6, 6 from it.
 * The server sends a session no change of a newer table or column; a
 * client refuses one. */
unsigned fs_proto_schema(uint32_t version);

/* Appends the msgpack encoding of m to out, as protocol version 1 has it
 * (plain batches). Batches are grouped by row whatever the order of m's
 * changes. Errors: FS_EINVAL (a field out of range, e.g. more devices than
 * fit), FS_ENOMEM. */
int fs_msg_encode(const fs_msg *m, fs_buf *out);

/* The same for a session of the given protocol version: from
 * FS_PROTO_VERSION_ZBATCH a batch is compressed, one zstd frame per
 * compression group, when that makes it smaller (see FORMAT). */
int fs_msg_encode_v(const fs_msg *m, uint32_t version, fs_buf *out);

/* Decodes one message (the whole input, nothing may follow). *out receives a
 * message that owns a copy of everything it points to. Errors:
 * FS_EMALFORMED (why names what was wrong), FS_EUNSUPPORTED (unknown
 * type), FS_ETOOBIG (over a limit), FS_ENOMEM. why may be NULL. */
int fs_msg_decode(const uint8_t *p, size_t n, const fs_proto_limits *limits, fs_msg **out,
                  char *why, size_t whylen);

void fs_msg_free(fs_msg *m);

/* Joins websocket fragments into whole frames, refusing a frame over
 * max_frame before buffering it. */
typedef struct fs_reassembler {
    fs_buf buf;
    size_t max_frame;
} fs_reassembler;

void fs_reassembler_init(fs_reassembler *r, size_t max_frame);
/* Adds a fragment; when is_final, *frame and *len point to the whole frame (valid
 * until the next call) and 1 is returned; else 0. FS_ETOOBIG past the limit
 * (the partial frame is dropped). */
int fs_reassembler_add(fs_reassembler *r, const uint8_t *p, size_t n, int is_final,
                       const uint8_t **frame, size_t *len);
void fs_reassembler_free(fs_reassembler *r);

#endif
