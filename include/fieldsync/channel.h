/*
 * The secure channel: a mutually authenticated handshake with forward
 * secrecy, then one crypto_secretstream_xchacha20poly1305 stream per
 * direction. Pure state machine: frames in, frames and messages out, no
 * sockets. Every websocket message carries exactly one frame.
 *
 * HANDSHAKE
 *   1. C -> S  HELLO    plaintext: versions offered, fresh X25519 key (crypto_kx)
 *   2. S -> C  WELCOME  plaintext: version chosen, fresh X25519 key, server's
 *                       Ed25519 identity, Sig_server(T1)
 *   3. C -> S  AUTH     first sealed frame C->S: device identity,
 *                       Sig_device(T2)     (or ENROLL, with the sealed request)
 *   4. S -> C  READY    first sealed frame S->C (or WIPE / ERROR); from
 *                       protocol version 3 it names the device's user and
 *                       team (cfg.device_user), from version 4 the
 *                       user's role too, from version 5 the feed's
 *                       epoch and dev_acked (cfg.device_feed)
 *   T1 = BLAKE2b("fieldsync/1 handshake" | vmin | vmax | version |
 *                client eph | server eph | server identity)
 *   T2 = BLAKE2b(T1 | device identity)
 * The client refuses a server identity other than the pinned one, a version
 * outside what it offered, or a bad signature; the server refuses unknown or
 * revoked devices (revoked ones are sent WIPE) and bad signatures. Because
 * the offered range is signed, a downgrade by a man in the middle fails.
 *
 * KEYS: crypto_kx session keys from the ephemeral pair, each hashed with T1
 * (BLAKE2b keyed by the kx key), one per direction; the ephemeral secret keys
 * are wiped as soon as the session keys exist.
 *
 * FRAMES: the first sealed frame of each direction starts with its 24-byte
 * secretstream header. Each frame is one secretstream message: a modified,
 * replayed, reordered, dropped or cut frame fails to open, and the session
 * ends (FS_ECHANNEL). BYE travels with the final tag; a peer that vanishes
 * without it is reported by fs_channel_finish() as truncated.
 */
#ifndef FIELDSYNC_CHANNEL_H
#define FIELDSYNC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/identity.h"
#include "fieldsync/msg.h"


/* What an enrolling device sends, sealed to the server's key. */
typedef struct fs_enroll_request {
    char code[64];                        /* the one-time code, NUL-terminated */
    uint8_t device_pk[FS_SIGN_PK_BYTES];  /* the identity it will use */
    char device_name[64];                 /* NUL-terminated, for the admin */
} fs_enroll_request;

/* crypto_box_seal of the request to the server's identity (its Ed25519 key
 * converted to X25519). Appends to out. */
int fs_enroll_seal(const uint8_t server_pk[FS_SIGN_PK_BYTES], const fs_enroll_request *req,
                   fs_buf *out);
/* Opens a sealed request with the server's identity. FS_EAUTH if it does not
 * open, FS_EMALFORMED if its contents are not a request. */
int fs_enroll_open(const fs_identity *server, const uint8_t *sealed, size_t n,
                   fs_enroll_request *out);

/* Server: may this device connect? Return 0 (yes), FS_ENOTFOUND (unknown)
 * or FS_EREVOKED. */
typedef int (*fs_device_check_fn)(void *ctx, const uint8_t device_pk[FS_SIGN_PK_BYTES]);
/* Server: enroll this device (check and consume the code). 0 or an error. */
typedef int (*fs_enroll_fn)(void *ctx, const fs_enroll_request *req);
/* Server: the passphrase rule of the team of req's code, for POLICY
 * (protocol version 8 on, fieldsync/msg.h): 0 with *min_chars, *min_words
 * and team (NUL-terminated, "" for none) when the code is one the server
 * would redeem now, which it does NOT spend; else an error (ERROR ENROLL). */
typedef int (*fs_enroll_policy_fn)(void *ctx, const fs_enroll_request *req, uint32_t *min_chars,
                                   uint32_t *min_words, char team[FS_USER_MAX + 1]);
/* Server: the user and team (NUL-terminated; team "" when none) of a device
 * just authenticated or enrolled, for READY (protocol version 3 on). 0, or
 * an error: READY then names no user (the session goes on). */
typedef int (*fs_device_user_fn)(void *ctx, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                                 char user[FS_USER_MAX + 1], char team[FS_USER_MAX + 1],
                                 uint32_t *role);

/* Server: the feed's epoch and the device's newest local sequence the
 * server holds, for READY (protocol version 5 on, FS_PROTO_VERSION_EPOCH).
 * 0, or an error: READY then carries neither (the session goes on). */
typedef int (*fs_device_feed_fn)(void *ctx, const uint8_t device_pk[FS_SIGN_PK_BYTES],
                                 uint8_t epoch[16], uint64_t *dev_acked);

typedef struct fs_channel_config {
    int is_server;
    const fs_identity *self;         /* server identity, or the device's */
    const uint8_t *pinned_server_pk; /* client: the server key learned at enrollment */
    const fs_enroll_request *enroll; /* client: enroll instead of authenticating */
    /* client, with enroll: ask the team's passphrase rule (POLICY_ASK)
     * instead of enrolling; READY's place is then taken by POLICY, after
     * which the channel is closed. A server that chose a version before 8
     * fails the handshake with FS_EUNSUPPORTED (nothing was sent it). */
    int ask_policy;
    fs_enroll_policy_fn enroll_policy; /* server; NULL refuses POLICY_ASK */
    fs_device_check_fn check_device; /* server */
    fs_enroll_fn enroll_device;      /* server; NULL refuses enrollment */
    fs_device_user_fn device_user;   /* server; NULL: READY names no user */
    fs_device_feed_fn device_feed;   /* server; NULL: READY carries no epoch */
    void *ctx;                       /* passed to the callbacks */
    const fs_proto_limits *limits;   /* NULL: fs_proto_default_limits */
    uint32_t vmin, vmax;             /* 0: FS_PROTO_VERSION_MIN..FS_PROTO_VERSION */
    uint64_t server_time_ms;         /* server: sent in READY (0: now) */
    /* server: "now" for READY when server_time_ms is 0: the clock the
     * server stamps with (its store's replica), which devices correct
     * theirs by (issue 23). NULL: the wall clock. */
    uint64_t (*server_now)(void *ctx);
    uint64_t lease_expires_ms;       /* server: sent in READY (0: server time + lease_ms) */
    uint64_t lease_ms;               /* server: the lease granted when lease_expires_ms is 0 */
} fs_channel_config;

typedef enum fs_channel_state {
    FS_CHANNEL_HANDSHAKE = 0,
    FS_CHANNEL_OPEN = 1,
    FS_CHANNEL_CLOSED = 2
} fs_channel_state;

typedef struct fs_channel fs_channel;

int fs_channel_new(fs_channel **out, const fs_channel_config *cfg);
void fs_channel_free(fs_channel *ch); /* wipes keys; accepts NULL */

/* Client: appends the HELLO frame to out. */
int fs_channel_start(fs_channel *ch, fs_buf *out);

/* Feeds one received frame. May append one frame to send to out (the next
 * handshake step, or an ERROR/WIPE frame when the session ends), and once
 * the channel is open may set *msg to a decoded message (caller frees).
 * During the handshake the handshake messages are consumed here; the client
 * sees READY as *msg. Errors end the session (state CLOSED, fs_channel_reason
 * says why): FS_EMALFORMED, FS_EUNSUPPORTED, FS_EAUTH, FS_EREVOKED,
 * FS_ECHANNEL, FS_ETOOBIG, FS_ECLOSED. A WIPE or ERROR message from the
 * peer closes the channel and is returned as *msg TOGETHER WITH an error
 * code (FS_EREVOKED, FS_EAUTH, FS_ECLOSED): free *msg whenever it is set.
 * Only a sealed WIPE is authoritative; a plaintext refusal during the
 * handshake is believed only for the reasons a server can give before it
 * has keys (VERSION, MALFORMED, TOO_BIG, STATE), anything else reads AUTH. */
int fs_channel_receive(fs_channel *ch, const uint8_t *frame, size_t len, fs_buf *out,
                       fs_msg **msg);

/* Encodes and seals one message into one frame appended to out. Only when
 * open. FS_ECLOSED otherwise. */
int fs_channel_send(fs_channel *ch, const fs_msg *m, fs_buf *out);

/* fs_channel_send in two steps, for a message that is to go out later
 * (group commit, fieldsync/sync.h): fs_channel_encode appends m's encoding
 * for the peer's protocol version to plain (not sealed, nothing of the
 * stream used: it may be dropped); fs_channel_send_encoded seals n such
 * bytes as the next frame. ERROR and WIPE end the session and are not
 * encoded so (FS_EINVAL): send them with fs_channel_send. */
int fs_channel_encode(const fs_channel *ch, const fs_msg *m, fs_buf *plain);
int fs_channel_send_encoded(fs_channel *ch, const uint8_t *plain, size_t n, fs_buf *out);

/* Ends the session cleanly: appends a BYE frame sealed with the final tag. */
int fs_channel_bye(fs_channel *ch, fs_buf *out);

/* The transport closed: 0 if the peer's BYE arrived (or the session ended
 * with an error already reported), FS_ECHANNEL with reason TRUNCATED if the
 * stream simply stopped. */
int fs_channel_finish(fs_channel *ch);

/* The largest frame the channel accepts now: FS_HANDSHAKE_MAX_FRAME until
 * the handshake is done, then the limits' max_frame. A transport sizes its
 * fragment reassembly by it, so an unauthenticated peer cannot make it buffer
 * megabytes. */
#define FS_HANDSHAKE_MAX_FRAME 4096u
size_t fs_channel_max_frame(const fs_channel *ch);

fs_channel_state fs_channel_state_get(const fs_channel *ch);
uint32_t fs_channel_version(const fs_channel *ch);
/* The peer's identity once authenticated (server side: the device), else NULL. */
const uint8_t *fs_channel_peer(const fs_channel *ch);
/* Server side, on an open channel: the session is from now on the device
 * whose key is pk (a fork the server approved, FS_MSG_FORKED; the keys of
 * the stream stay as they are). FS_ESTATE otherwise. */
int fs_channel_set_peer(fs_channel *ch, const uint8_t pk[32]);
/* Why the session ended (FS_REASON_*), 0 while it has not. */
uint32_t fs_channel_reason(const fs_channel *ch);
/* One line on the last error; never message contents or key material. */
const char *fs_channel_errmsg(const fs_channel *ch);

#endif
