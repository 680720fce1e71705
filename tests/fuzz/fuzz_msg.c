/*
 * Fuzz target: the wire message decoder (fs_msg_decode), under the default
 * limits and under small ones. Whatever decodes must round-trip: encoding
 * the decoded message and decoding that again succeeds, and encoding the
 * second message gives the same bytes as the first encoding (and a READY
 * keeps its user and team at protocol version 3). Failures must
 * leave *out NULL and return one of the decoder's codes.
 */
#include <stdint.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/msg.h"

static const fs_proto_limits small_limits = {
    .max_frame = 4096,
    .max_changes = 40,
    .max_rows = 8,
    .max_devices = 4,
    .max_bytes = 300,
    .max_depth = 6,
    .max_items = 8,
};

/* A decoded READY encodes for a version 3 session too, and its user and
 * team (when it names them) come back unchanged. */
static void check_ready_v3(const fs_msg *m, const fs_proto_limits *limits)
{
    fs_buf b;
    fs_msg *back = NULL;
    fs_buf_init(&b);
    int rc = fs_msg_encode_v(m, FS_PROTO_VERSION_USER, &b);
    if (rc == 0)
        rc = fs_msg_decode(b.data, b.len, limits, &back, NULL, 0);
    if (rc != 0 && rc != FS_ENOMEM)
        __builtin_trap(); /* a decoded READY the version 3 encoder refuses, or back */
    if (rc == 0 && ((m->u.ready.user == NULL) != (back->u.ready.user == NULL) ||
                    back->u.ready.user_len != m->u.ready.user_len ||
                    back->u.ready.team_len != m->u.ready.team_len ||
                    (m->u.ready.user_len > 0 &&
                     memcmp(back->u.ready.user, m->u.ready.user, m->u.ready.user_len) != 0) ||
                    (m->u.ready.team_len > 0 &&
                     memcmp(back->u.ready.team, m->u.ready.team, m->u.ready.team_len) != 0)))
        __builtin_trap(); /* the user or team changed on the way */
    fs_msg_free(back);
    fs_buf_free(&b);
}

/* READY's epoch and dev_acked, PULL's and CHANGES's cursor tag and the
 * re-sync order (protocol version 5) come back unchanged from an encoding
 * for a version 5 session. */
static void check_v5_fields(const fs_msg *m, const fs_proto_limits *limits)
{
    if (m->type == FS_MSG_READY && m->u.ready.user != NULL && m->u.ready.role == 0)
        return; /* a version 3 READY: from version 4 on a named user has a role */
    if (m->type >= FS_MSG_ATT_ASK && m->type <= FS_MSG_ATT_GET)
        return; /* version 7 on only: fuzz_attach checks them */
    fs_buf b;
    fs_msg *back = NULL;
    fs_buf_init(&b);
    int rc = fs_msg_encode_v(m, FS_PROTO_VERSION_EPOCH, &b);
    if (rc == 0) {
        fs_proto_limits relaxed = *limits;
        relaxed.max_frame += 16;
        rc = fs_msg_decode(b.data, b.len, &relaxed, &back, NULL, 0);
    }
    if (rc != 0 && rc != FS_ENOMEM)
        __builtin_trap(); /* a decoded message the version 5 encoder refuses, or back */
    if (rc == 0 &&
        ((m->type == FS_MSG_READY &&
          (back->u.ready.has_epoch != m->u.ready.has_epoch ||
           back->u.ready.dev_acked != m->u.ready.dev_acked ||
           memcmp(back->u.ready.epoch, m->u.ready.epoch, FS_FEED_EPOCH_BYTES) != 0)) ||
         (m->type == FS_MSG_PULL && (back->u.pull.has_tag != m->u.pull.has_tag ||
                                     back->u.pull.cursor_tag != m->u.pull.cursor_tag)) ||
         (m->type == FS_MSG_CHANGES && (back->u.changes.has_tag != m->u.changes.has_tag ||
                                        back->u.changes.cursor_tag != m->u.changes.cursor_tag ||
                                        back->u.changes.resync != m->u.changes.resync))))
        __builtin_trap(); /* a version 5 field changed on the way */
    fs_msg_free(back);
    fs_buf_free(&b);
}

/* A PUSH's re-sent mark and feed cursor (protocol version 9) come back
 * unchanged from an encoding for a version 9 session. */
static void check_push_v9(const fs_msg *m, const fs_proto_limits *limits)
{
    fs_buf b;
    fs_msg *back = NULL;
    fs_buf_init(&b);
    int rc = fs_msg_encode_v(m, FS_PROTO_VERSION_PUSH_CURSOR, &b);
    if (rc == 0) {
        fs_proto_limits relaxed = *limits;
        relaxed.max_frame += 16;
        rc = fs_msg_decode(b.data, b.len, &relaxed, &back, NULL, 0);
    }
    if (rc != 0 && rc != FS_ENOMEM)
        __builtin_trap(); /* a decoded PUSH the version 9 encoder refuses, or back */
    if (rc == 0 && (back->u.push.resent != m->u.push.resent ||
                    back->u.push.has_cursor != m->u.push.has_cursor ||
                    back->u.push.cursor != m->u.push.cursor))
        __builtin_trap(); /* a version 9 field changed on the way */
    fs_msg_free(back);
    fs_buf_free(&b);
}

static void check_decode(const uint8_t *data, size_t size, const fs_proto_limits *limits)
{
    int dummy;
    fs_msg *m = (fs_msg *)&dummy, *again = NULL;
    char why[128];
    int rc = fs_msg_decode(data, size, limits, &m, why, sizeof why);
    if (rc != 0) {
        if (m != NULL)
            __builtin_trap(); /* a failure left *out set */
        if (rc != FS_EMALFORMED && rc != FS_EUNSUPPORTED && rc != FS_ETOOBIG && rc != FS_ENOMEM)
            __builtin_trap(); /* a code the contract does not name */
        return;
    }
    fs_buf first, second;
    fs_buf_init(&first);
    fs_buf_init(&second);
    /* an ACK's restamps are written for version 4 on only, a CHANGES's
     * re-sync order (issue 25.2) and TIP, FORK and FORKED (issue 25.3) for
     * version 5 on (the encoder refuses them for older peers); every other
     * message as version 1 */
    uint32_t v = m->type == FS_MSG_ACK                                 ? FS_PROTO_VERSION_RESTAMP
                 : m->type == FS_MSG_CHANGES && m->u.changes.resync ? FS_PROTO_VERSION_EPOCH
                 : m->type == FS_MSG_TIP || m->type == FS_MSG_FORK || m->type == FS_MSG_FORKED
                     ? FS_PROTO_VERSION_FORK
                 : m->type >= FS_MSG_ATT_ASK && m->type <= FS_MSG_ATT_GET ? FS_PROTO_VERSION_ATTACH
                                                                         : 1u;
    rc = fs_msg_encode_v(m, v, &first);
    if (rc == FS_ENOMEM)
        goto out;
    if (rc != 0)
        __builtin_trap(); /* decoded a message the encoder refuses */
    /* The encoder's base clock is the batch's smallest, which can take up to
     * 8 bytes more than a peer's smaller base; every other limit can only
     * shrink on re-encoding. */
    fs_proto_limits relaxed = *limits;
    relaxed.max_frame += 16;
    rc = fs_msg_decode(first.data, first.len, &relaxed, &again, why, sizeof why);
    if (rc == FS_ENOMEM)
        goto out;
    if (rc != 0)
        __builtin_trap(); /* the encoder's output does not decode */
    rc = fs_msg_encode_v(again, v, &second);
    if (rc == FS_ENOMEM)
        goto out;
    if (rc != 0 || second.len != first.len || memcmp(first.data, second.data, first.len) != 0)
        __builtin_trap(); /* encoding is not a fixed point after one round trip */
    if (m->type == FS_MSG_READY)
        check_ready_v3(m, limits);
    check_v5_fields(m, limits);
    if (m->type == FS_MSG_PUSH)
        check_push_v9(m, limits);
out:
    fs_buf_free(&second);
    fs_buf_free(&first);
    fs_msg_free(again);
    fs_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size, &fs_proto_default_limits);
    check_decode(data, size, &small_limits);
    return 0;
}
