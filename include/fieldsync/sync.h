/*
 * Sync sessions: what each end of a connection does with the messages of the
 * secure channel. Transport-free like the channel: frames come in through
 * *_receive(), frames go out through an emit callback (one call per frame,
 * one websocket message each). A transport only moves bytes.
 *
 * CLIENT (a device): after READY it pushes its pending changes in batches
 * (up to FS_SYNC_PUSH_WINDOW unacknowledged; each ACK makes room for the
 * next), records refusals (REJECT) with their reasons, pulls the feed from
 * its cursor until the server says no more (asking for the next batch
 * before it applies the one that came, so one PULL is unanswered at most),
 * applies each batch with its cursor, purges what PURGE names, and pulls
 * again on POKE. It is in sync when nothing is pending, unacknowledged or
 * left to pull. A WIPE is reported; wiping the device is the caller's act.
 *
 * SERVER: devices are checked against the store, an enrolling one redeems
 * its one-time code (fs_enroll_device); for an authenticated device, PUSH
 * goes to fs_store_push (REJECT for refused changes, then ACK), PULL to
 * fs_store_pull (CHANGES). A session ended for what the peer sent (a
 * failed handshake, a malformed, oversized or out-of-turn message, a frame
 * that does not open, a flood) is told why and audited.
 */
#ifndef FIELDSYNC_SYNC_H
#define FIELDSYNC_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/channel.h"
#include "fieldsync/replica.h"
#include "fieldsync/store.h"

/* Sends one frame; non-zero fails the session's call with that code. */
typedef int (*fs_emit_fn)(void *ctx, const uint8_t *frame, size_t len);

#define FS_SYNC_BATCH 5000 /* changes per PUSH and per PULL */
/* Value bytes per PUSH and per PULL (packed feed entries for a PULL): a
 * message may not exceed the frame limit (16 MiB), and 5,000 changes of
 * long notes would (issue 25). 4 MiB leaves room for the envelope (ids,
 * clocks, msgpack headers of up to FS_SYNC_BATCH changes). A single write
 * larger than this goes alone: a write has at most 32 columns of at most
 * FS_MAX_BLOB (256 KiB) each, 8 MiB. */
#define FS_SYNC_BATCH_BYTES (4u * 1024u * 1024u)
#define FS_SYNC_PUSH_WINDOW 2    /* PUSH batches a client leaves unacknowledged at most */
#define FS_SYNC_SEEN_EVERY_MS 1000 /* a session stamps its device "last seen" this often */

typedef struct fs_sync_client fs_sync_client;

/* r: the device's replica (its identity signs in); server_pk: pinned at
 * enrollment (from the enrollment code when enrolling). With enroll set the
 * handshake enrolls the device with that request (copied) instead of
 * authenticating it; the session then syncs as usual. Nothing is sent until
 * fs_sync_client_start(). */
int fs_sync_client_new(fs_sync_client **out, fs_replica *r,
                       const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *enroll,
                       fs_emit_fn emit, void *ctx);
void fs_sync_client_free(fs_sync_client *c);
int fs_sync_client_start(fs_sync_client *c);
/* Errors end the session: the channel's codes, or the replica's; FS_EREVOKED
 * when the server said to wipe. */
int fs_sync_client_receive(fs_sync_client *c, const uint8_t *frame, size_t len);
/* For a transport that writes what the session emits only after
 * fs_sync_client_receive() returns (libwebsockets: one frame per writable
 * callback). With on set, a pulled batch whose successor the session has
 * asked for is held, unapplied, until fs_sync_client_continue(), which the
 * transport calls once that PULL is written: the server then prepares the
 * next batch while this one is applied. Off (the default), the batch is
 * applied within fs_sync_client_receive(), after the PULL is emitted. */
void fs_sync_client_hold_batches(fs_sync_client *c, int on);
/* 1 when this session gave the replica a new device identity: it was
 * restored from a backup or copied (issue 25.3, TIP/FORK in fieldsync/
 * msg.h); *kept (may be NULL) the unsent changes kept for the new device. */
int fs_sync_client_forked(const fs_sync_client *c, uint64_t *kept);

/* Before fs_sync_client_start(): speak protocol versions up to vmax only,
 * as a client of that version does (FS_PROTO_VERSION_MIN..FS_PROTO_VERSION;
 * else FS_EINVAL). For tests of what a newer server sends older clients. */
int fs_sync_client_limit_version(fs_sync_client *c, uint32_t vmax);
/* Applies the held batch: 1 when there was one, 0 when not, or an error
 * that ends the session (as for fs_sync_client_receive, which applies a
 * held batch before the next frame). It may emit frames (pushes). */
int fs_sync_client_continue(fs_sync_client *c);
/* New local changes (or a poke from elsewhere): push and pull again. */
int fs_sync_client_kick(fs_sync_client *c);
/* Swaps the replica the session works on; NULL detaches it (a daemon closes
 * its replica between rounds so other processes can write, and keeps the
 * connection). The device's identity was copied at creation. A message or
 * a kick while detached fails with FS_ESTATE: attach first. */
void fs_sync_client_attach(fs_sync_client *c, fs_replica *r);
/* 1 once READY has arrived and until the session ends. */
int fs_sync_client_open(const fs_sync_client *c);
/* The length of the lease READY granted (0 before READY): a connection kept
 * open renews it by handshaking again before it ends. */
uint64_t fs_sync_client_lease_ms(const fs_sync_client *c);
/* What a session moved of attachments' bytes (protocol version 7 on):
 * chunks and their bytes sent and received, and the files it completed
 * (the server said it held all of one; one fetched and checked whole). */
typedef struct fs_sync_att_stats {
    uint64_t sent_chunks, sent_bytes, recv_chunks, recv_bytes;
    uint64_t files_sent, files_received;
} fs_sync_att_stats;
void fs_sync_client_att_stats(const fs_sync_client *c, fs_sync_att_stats *out);

/* 1 when the session is open, a replica attached, and nothing is pending,
 * unacknowledged or left to pull, nor (version 7 on) any attachment's
 * bytes left to send or fetch this session. */
int fs_sync_client_in_sync(const fs_sync_client *c);
/* Ends the session with BYE. */
int fs_sync_client_bye(fs_sync_client *c);
const char *fs_sync_client_errmsg(const fs_sync_client *c);

typedef struct fs_sync_server fs_sync_server;

int fs_sync_server_new(fs_sync_server **out, fs_store *store, const fs_identity *server_id,
                       fs_emit_fn emit, void *ctx);
void fs_sync_server_free(fs_sync_server *s);
/* Errors end the session: the channel's codes (a refusal is audited in the
 * store: fs_store_note_refusal), the store's, and FS_ETOOBIG for a flood. */
int fs_sync_server_receive(fs_sync_server *s, const uint8_t *frame, size_t len);
/* Flooding: a device that sends more than this many frames within one
 * second (of the monotonic clock) is told ERROR (reason FLOOD), audited, and
 * its session ends. An honest device waits for answers (two PUSHes and
 * one PULL in flight at most), so even a large backlog stays far below.
 * 0 restores the default. */
#define FS_SYNC_FLOOD_FRAMES 500
void fs_sync_server_set_flood_limit(fs_sync_server *s, unsigned frames_per_second);
/* For the transport: the device sent a frame over max_frame bytes, which
 * the transport did not take in. Tells the device (ERROR TOO_BIG), audits it
 * (session_refused) and ends the session. */
void fs_sync_server_refuse_frame(fs_sync_server *s, size_t max_frame);
/* The authenticated device's key once the handshake is done, else NULL. */
const uint8_t *fs_sync_server_device(const fs_sync_server *s);
/* Tells the device there is news up to feed position cursor (POKE); it
 * pulls. A no-op before the session is open. A transport pokes its other
 * sessions when a push has added to the feed. */
int fs_sync_server_poke(fs_sync_server *s, uint64_t cursor);
const char *fs_sync_server_errmsg(const fs_sync_server *s);

/* Group commit (issue 21.4): the sessions of one server thread write into
 * one store transaction (fs_store_group_begin) and send nothing that tells
 * of it before it is committed. A session in the group keeps its answers
 * (ACK, REJECT, PURGE, CHANGES, POKE...) encoded but unsealed until
 * fs_sync_group_flush has committed the group; then each goes out, sealed,
 * in order. A failed commit keeps nothing of the group: its sessions drop
 * their kept answers, are told ERROR (FULL or INTERNAL) and ended (ended()
 * is called with the session's emit context: the transport closes it); the
 * devices push again. A session joins the group with its first frame after
 * the handshake; handshake frames (and a WIPE, which must follow its
 * device's pushes durably) commit the group first. The caller flushes after
 * each round of frames and before anything else reads or writes the store
 * (HTTP requests, admin jobs). A group that took FS_SYNC_GROUP_MAX_BYTES
 * of frames commits before it takes another, so what it writes stays well
 * within one PostgreSQL log entry (256 MiB; a frame decodes to 16 MiB at
 * most). On a store without group commit the sessions answer at once, as
 * without a group. */
#define FS_SYNC_GROUP_MAX_BYTES (16u << 20)
typedef struct fs_sync_group fs_sync_group;
int fs_sync_group_new(fs_sync_group **out, fs_store *store, void (*ended)(void *emit_ctx));
/* Another bound than FS_SYNC_GROUP_MAX_BYTES (the tests' small ones). */
void fs_sync_group_set_max_bytes(fs_sync_group *g, size_t bytes);
/* Commits what is open (the sessions are gone by then: their devices push
 * again what they were not told of) and frees g. */
void fs_sync_group_free(fs_sync_group *g);
/* Commits the group's writes and sends the sessions' kept answers; 0 when
 * nothing was open. The commit's error otherwise (fs_store_errmsg). */
int fs_sync_group_flush(fs_sync_group *g);
/* 1 while a group's transaction is open (its writes not yet committed). */
int fs_sync_group_open(const fs_sync_group *g);
/* s's frames join g from now on; NULL: none (answers go out at once). */
void fs_sync_server_set_group(fs_sync_server *s, fs_sync_group *g);

#endif
