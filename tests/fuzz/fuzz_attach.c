/*
 * Fuzz target: the decoders of the attachment messages (ATT_ASK, ATT_NEED,
 * ATT_CHUNK, ATT_GET; protocol version 7, issue 19.3). The input is read
 * as a whole message, and again as the body of each of the four types
 * (the target writes the array header and the type, so the fuzzer works
 * on the fields). Whatever decodes keeps the bounds the sessions rely on
 * (an index list of at most FS_ATTACH_MAX_CHUNKS entries, each below it; a
 * chunk of 1..FS_ATTACH_CHUNK bytes; a known status), round-trips through
 * the version-7 encoder to the same bytes, and is refused by an older
 * session's encoder. Failures leave *out NULL with one of the decoder's
 * codes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/attach.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"

static int is_att(fs_msg_type t)
{
    return t == FS_MSG_ATT_ASK || t == FS_MSG_ATT_NEED || t == FS_MSG_ATT_CHUNK ||
           t == FS_MSG_ATT_GET;
}

static void check(const uint8_t *data, size_t size)
{
    int dummy;
    fs_msg *m = (fs_msg *)&dummy, *again = NULL;
    int rc = fs_msg_decode(data, size, &fs_proto_default_limits, &m, NULL, 0);
    if (rc != 0) {
        if (m != NULL)
            __builtin_trap(); /* a failure left *out set */
        if (rc != FS_EMALFORMED && rc != FS_EUNSUPPORTED && rc != FS_ETOOBIG && rc != FS_ENOMEM)
            __builtin_trap();
        return;
    }
    if (!is_att(m->type)) {
        fs_msg_free(m);
        return;
    }
    if (m->u.att.count > FS_ATTACH_MAX_CHUNKS || m->u.att.index >= FS_ATTACH_MAX_CHUNKS ||
        m->u.att.status > FS_ATT_UNKNOWN)
        __builtin_trap();
    for (size_t i = 0; i < m->u.att.count; i++)
        if (m->u.att.idx[i] >= FS_ATTACH_MAX_CHUNKS)
            __builtin_trap();
    if (m->type == FS_MSG_ATT_CHUNK && (m->u.att.len == 0 || m->u.att.len > FS_ATTACH_CHUNK))
        __builtin_trap();
    fs_buf first, second;
    fs_buf_init(&first);
    fs_buf_init(&second);
    rc = fs_msg_encode_v(m, FS_PROTO_VERSION_ATTACH - 1, &first);
    if (rc != FS_EINVAL || first.len != 0)
        __builtin_trap(); /* an older session must never be sent one */
    rc = fs_msg_encode_v(m, FS_PROTO_VERSION_ATTACH, &first);
    if (rc == 0)
        rc = fs_msg_decode(first.data, first.len, &fs_proto_default_limits, &again, NULL, 0);
    if (rc == 0)
        rc = fs_msg_encode_v(again, FS_PROTO_VERSION_ATTACH, &second);
    if (rc != 0 && rc != FS_ENOMEM)
        __builtin_trap(); /* decoded, but not encoded back, or that not decoded */
    if (rc == 0 &&
        (second.len != first.len || memcmp(first.data, second.data, first.len) != 0 ||
         again->type != m->type || again->u.att.count != m->u.att.count ||
         again->u.att.len != m->u.att.len ||
         memcmp(again->u.att.hash, m->u.att.hash, FS_ATT_HASH_BYTES) != 0 ||
         (m->u.att.len > 0 && memcmp(again->u.att.data, m->u.att.data, m->u.att.len) != 0)))
        __builtin_trap(); /* not a fixed point */
    fs_buf_free(&first);
    fs_buf_free(&second);
    fs_msg_free(again);
    fs_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    /* the input as the fields of each type: [type, fields...] */
    static const uint8_t heads[4][2] = {{0x92, 23}, {0x94, 24}, {0x94, 25}, {0x93, 26}};
    if (size > (16u << 20))
        return 0;
    uint8_t *buf = malloc(size + 2);
    if (buf == NULL)
        return 0;
    memcpy(buf + 2, data, size);
    for (int k = 0; k < 4; k++) {
        memcpy(buf, heads[k], 2);
        check(buf, size + 2);
    }
    free(buf);
    return 0;
}
