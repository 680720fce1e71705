/*
 * The message envelope: msgpack-c's packer writes messages (format table in
 * fieldsync/msg.h); the bounded reader in mpread.c reads them. A message is
 * an array whose first element is its type; the change batches that PUSH and
 * CHANGES carry are the batch codec's (batch.c), which shares the packing
 * helpers and the decoded message's arena through msg_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <sodium.h>

#include "fieldsync/attach.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "mpread.h"
#include "msg_int.h"

const fs_proto_limits fs_proto_default_limits = {
    16u << 20, /* max_frame */
    50000,     /* max_changes */
    20000,     /* max_rows */
    4096,      /* max_devices */
    FS_MAX_BLOB,
    6,     /* max_depth */
    50000, /* max_items */
};

#define MAX_SEALED_ENROLL 1024

int fs__schema_cell_ok(uint64_t table, uint64_t column)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    return table < nt && column < tables[table].ncolumns;
}

/* READY's user and team within their lengths (see FORMAT in msg.h). */
/* A PULL's export kind or mode: 1..max bytes of [a-z_]. */
static int export_word_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    return 1;
}

static int ready_names_ok(const fs_msg *m)
{
    return m->u.ready.user_len >= 1 && m->u.ready.user_len <= FS_USER_MAX &&
           fs_utf8_valid(m->u.ready.user, m->u.ready.user_len) &&
           (m->u.ready.team == NULL || (m->u.ready.team_len <= FS_USER_MAX &&
                                        fs_utf8_valid(m->u.ready.team, m->u.ready.team_len)));
}

/* ---- encoding ---- */

int fs__buf_write(void *data, const char *p, size_t n)
{
    return fs_buf_append(data, p, n) == 0 ? 0 : -1;
}

int fs__pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    PK(msgpack_pack_bin(pk, n));
    PK(msgpack_pack_bin_body(pk, p, n));
    return 0;
}

int fs__pack_str(msgpack_packer *pk, const void *p, size_t n)
{
    PK(msgpack_pack_str(pk, n));
    PK(msgpack_pack_str_body(pk, p, n));
    return 0;
}

/* An index list of ATT_NEED or ATT_GET within its bounds (see FORMAT). */
static int att_list_ok(const fs_msg *m)
{
    if (m->u.att.count > FS_ATTACH_MAX_CHUNKS || (m->u.att.count > 0 && m->u.att.idx == NULL))
        return 0;
    for (size_t i = 0; i < m->u.att.count; i++)
        if (m->u.att.idx[i] >= FS_ATTACH_MAX_CHUNKS)
            return 0;
    return 1;
}

static int encode_att(msgpack_packer *pk, const fs_msg *m, uint32_t version)
{
    if (version < FS_PROTO_VERSION_ATTACH)
        return FS_EINVAL;
    switch (m->type) {
    case FS_MSG_ATT_ASK:
        PK(msgpack_pack_array(pk, 2));
        PK(msgpack_pack_uint8(pk, m->type));
        return fs__pack_bin(pk, m->u.att.hash, FS_ATT_HASH_BYTES);
    case FS_MSG_ATT_NEED:
    case FS_MSG_ATT_GET: {
        int need = m->type == FS_MSG_ATT_NEED;
        if (!att_list_ok(m) || (need && m->u.att.status > FS_ATT_UNKNOWN))
            return FS_EINVAL;
        PK(msgpack_pack_array(pk, need ? 4 : 3));
        PK(msgpack_pack_uint8(pk, m->type));
        int rc = fs__pack_bin(pk, m->u.att.hash, FS_ATT_HASH_BYTES);
        if (rc != 0)
            return rc;
        if (need)
            PK(msgpack_pack_uint32(pk, m->u.att.status));
        PK(msgpack_pack_array(pk, (uint32_t)m->u.att.count));
        for (size_t i = 0; i < m->u.att.count; i++)
            PK(msgpack_pack_uint32(pk, m->u.att.idx[i]));
        return 0;
    }
    case FS_MSG_ATT_CHUNK: {
        if (m->u.att.len == 0 || m->u.att.len > FS_ATTACH_CHUNK || m->u.att.data == NULL ||
            m->u.att.index >= FS_ATTACH_MAX_CHUNKS)
            return FS_EINVAL;
        PK(msgpack_pack_array(pk, 4));
        PK(msgpack_pack_uint8(pk, m->type));
        int rc = fs__pack_bin(pk, m->u.att.hash, FS_ATT_HASH_BYTES);
        if (rc != 0)
            return rc;
        PK(msgpack_pack_uint32(pk, m->u.att.index));
        return fs__pack_bin(pk, m->u.att.data, m->u.att.len);
    }
    default:
        return FS_EINVAL;
    }
}

static int encode_body(const fs_msg *m, uint32_t version, fs_buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, fs__buf_write);
    int rc = 0;
    switch (m->type) {
    case FS_MSG_HELLO:
        if (m->u.hello.vmin > m->u.hello.vmax)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.hello.vmin));
        PK(msgpack_pack_uint32(&pk, m->u.hello.vmax));
        rc = fs__pack_bin(&pk, m->u.hello.eph, 32);
        break;
    case FS_MSG_WELCOME:
        PK(msgpack_pack_array(&pk, 5));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.welcome.version));
        rc = fs__pack_bin(&pk, m->u.welcome.eph, 32);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.welcome.server_pk, 32);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.welcome.sig, 64);
        break;
    case FS_MSG_AUTH:
        PK(msgpack_pack_array(&pk, 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        rc = fs__pack_bin(&pk, m->u.auth.device_pk, 32);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.auth.sig, 64);
        break;
    case FS_MSG_POLICY_ASK:
    case FS_MSG_ENROLL:
        if (m->u.enroll.sealed_len > MAX_SEALED_ENROLL ||
            (m->type == FS_MSG_POLICY_ASK && version < FS_PROTO_VERSION_PASSPOLICY))
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        rc = fs__pack_bin(&pk, m->u.enroll.device_pk, 32);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.enroll.sig, 64);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.enroll.sealed, m->u.enroll.sealed_len);
        break;
    case FS_MSG_READY: {
        /* the user and team only for a peer that reads them (see FORMAT) */
        int named = m->u.ready.user != NULL && version >= FS_PROTO_VERSION_USER;
        if (named && !ready_names_ok(m))
            return FS_EINVAL;
        int role = named && version >= FS_PROTO_VERSION_ROLE;
        if (role && (m->u.ready.role < FS_READY_ROLE_REP || m->u.ready.role > FS_READY_ROLE_ADMIN))
            return FS_EINVAL;
        /* the epoch and dev_acked follow the role, for version 5 on */
        int epoch = role && m->u.ready.has_epoch && version >= FS_PROTO_VERSION_EPOCH;
        PK(msgpack_pack_array(&pk, epoch ? 8 : role ? 6 : named ? 5 : 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.ready.server_time_ms));
        PK(msgpack_pack_uint64(&pk, m->u.ready.lease_expires_ms));
        if (named) {
            rc = fs__pack_str(&pk, m->u.ready.user, m->u.ready.user_len);
            if (rc == 0)
                rc = fs__pack_str(&pk, m->u.ready.team != NULL ? m->u.ready.team : "",
                                  m->u.ready.team != NULL ? m->u.ready.team_len : 0);
            if (rc == 0 && role)
                PK(msgpack_pack_uint32(&pk, m->u.ready.role));
            if (rc == 0 && epoch) {
                rc = fs__pack_bin(&pk, m->u.ready.epoch, FS_FEED_EPOCH_BYTES);
                if (rc == 0)
                    PK(msgpack_pack_uint64(&pk, m->u.ready.dev_acked));
            }
        }
        break;
    }
    case FS_MSG_PUSH: {
        if (m->u.push.first_seq > m->u.push.last_seq)
            return FS_EINVAL;
        /* the re-sent mark only for a peer that reads it (see FORMAT) */
        int resent = m->u.push.resent && version >= FS_PROTO_VERSION_RESENT;
        /* the cursor only for a peer that reads it; the re-sent mark then
           always precedes it */
        int cursor = m->u.push.has_cursor && version >= FS_PROTO_VERSION_PUSH_CURSOR;
        PK(msgpack_pack_array(&pk, cursor ? 6 : resent ? 5 : 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.push.first_seq));
        PK(msgpack_pack_uint64(&pk, m->u.push.last_seq));
        rc = fs__pack_batch_field(&pk, version, m->u.push.changes, m->u.push.groups,
                                  m->u.push.count);
        if (rc == 0 && cursor) {
            PK(resent ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
            PK(msgpack_pack_uint64(&pk, m->u.push.cursor));
        } else if (rc == 0 && resent)
            PK(msgpack_pack_true(&pk));
        break;
    }
    case FS_MSG_ACK: {
        /* restamps only for a peer that reads them (see FORMAT) */
        size_t nr = m->u.ack.nrestamps;
        if (nr > 0 && (version < FS_PROTO_VERSION_RESTAMP || m->u.ack.restamps == NULL ||
                       nr > UINT32_MAX))
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, nr > 0 ? 3 : 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.ack.upto_seq));
        if (nr > 0) {
            PK(msgpack_pack_array(&pk, nr));
            for (size_t i = 0; i < nr; i++) {
                if (m->u.ack.restamps[i].sent == 0 || m->u.ack.restamps[i].given == 0)
                    return FS_EINVAL;
                PK(msgpack_pack_array(&pk, 2));
                PK(msgpack_pack_uint64(&pk, m->u.ack.restamps[i].sent));
                PK(msgpack_pack_uint64(&pk, m->u.ack.restamps[i].given));
            }
        }
        break;
    }
    case FS_MSG_REJECT:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_array(&pk, m->u.reject.count));
        for (size_t i = 0; rc == 0 && i < m->u.reject.count; i++) {
            const fs_reject_item *it = &m->u.reject.items[i];
            if (!fs__schema_cell_ok(it->table, it->column) ||
                !fs_utf8_valid(it->text, it->text_len))
                return FS_EINVAL;
            PK(msgpack_pack_array(&pk, 6));
            PK(msgpack_pack_uint16(&pk, it->table));
            rc = fs__pack_bin(&pk, it->row, FS_ID_BYTES);
            PK(msgpack_pack_uint16(&pk, it->column));
            PK(msgpack_pack_uint64(&pk, it->hlc));
            PK(msgpack_pack_uint32(&pk, it->reason));
            if (rc == 0)
                rc = fs__pack_str(&pk, it->text, it->text_len);
        }
        break;
    case FS_MSG_PULL: {
        /* The open refusals only to a peer that knows them: an older
         * server's decoder wants exactly five fields. */
        int refusals = m->u.pull.has_refusals && version >= FS_PROTO_VERSION_OPEN_REFUSALS;
        /* the cursor's tag (version 5 on) comes after the refusals */
        int tag = refusals && m->u.pull.has_tag && version >= FS_PROTO_VERSION_EPOCH;
        /* the device's clock (version 5 on) comes after the tag */
        int clock = tag && m->u.pull.has_clock && version >= FS_PROTO_VERSION_CLOCK_REPORT;
        /* the device's exports (version 7 on) come after the clock */
        int exports = clock && m->u.pull.nexports > 0 && version >= FS_PROTO_VERSION_EXPORT;
        if (m->u.pull.nexports > FS_PULL_EXPORTS_MAX)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, exports ? 10 : clock ? 9 : tag ? 8 : refusals ? 7 : 5));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.pull.cursor));
        PK(msgpack_pack_uint32(&pk, m->u.pull.max));
        PK(msgpack_pack_uint64(&pk, m->u.pull.local_seq));
        PK(msgpack_pack_uint64(&pk, m->u.pull.oldest_pending_ms));
        if (refusals) {
            PK(msgpack_pack_uint64(&pk, m->u.pull.refusals));
            PK(msgpack_pack_uint32(&pk, m->u.pull.refusal_reason));
        }
        if (tag)
            PK(msgpack_pack_uint64(&pk, m->u.pull.cursor_tag));
        if (clock)
            PK(msgpack_pack_uint64(&pk, m->u.pull.wall_ms));
        if (exports) {
            PK(msgpack_pack_array(&pk, (uint32_t)m->u.pull.nexports));
            for (size_t i = 0; rc == 0 && i < m->u.pull.nexports; i++) {
                const fs_pull_export *e = &m->u.pull.exports[i];
                if (!export_word_ok(e->kind, strlen(e->kind), 32) ||
                    !export_word_ok(e->mode, strlen(e->mode), 15))
                    return FS_EINVAL;
                PK(msgpack_pack_array(&pk, 4));
                PK(msgpack_pack_uint64(&pk, e->at_ms));
                rc = fs__pack_str(&pk, e->kind, strlen(e->kind));
                PK(msgpack_pack_uint32(&pk, e->n));
                if (rc == 0)
                    rc = fs__pack_str(&pk, e->mode, strlen(e->mode));
            }
        }
        break;
    }
    case FS_MSG_CHANGES: {
        /* the cursor's tag and the re-sync order only to a peer of version 5 on;
         * an older one is never told to re-sync (its decoder wants four fields) */
        int tag = m->u.changes.has_tag && version >= FS_PROTO_VERSION_EPOCH;
        if (m->u.changes.resync && !tag)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, tag ? 6 : 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.changes.cursor));
        PK(m->u.changes.more ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
        rc = fs__pack_batch_field(&pk, version, m->u.changes.changes, m->u.changes.groups,
                                  m->u.changes.count);
        if (rc == 0 && tag) {
            PK(msgpack_pack_uint64(&pk, m->u.changes.cursor_tag));
            PK(m->u.changes.resync ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
        }
        break;
    }
    case FS_MSG_POKE:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.poke.cursor));
        break;
    case FS_MSG_PURGE:
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_array(&pk, m->u.purge.count));
        for (size_t i = 0; rc == 0 && i < m->u.purge.count; i++) {
            if (!fs__schema_cell_ok(m->u.purge.items[i].table, 0))
                return FS_EINVAL;
            PK(msgpack_pack_array(&pk, 2));
            PK(msgpack_pack_uint16(&pk, m->u.purge.items[i].table));
            rc = fs__pack_bin(&pk, m->u.purge.items[i].row, FS_ID_BYTES);
        }
        break;
    case FS_MSG_WIPE:
        if (m->u.wipe.reason == FS_REASON_NONE)
            return FS_EINVAL; /* an ending always says why */
        PK(msgpack_pack_array(&pk, 2));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.wipe.reason));
        break;
    case FS_MSG_ERROR:
        PK(msgpack_pack_array(&pk, 3));
        PK(msgpack_pack_uint8(&pk, m->type));
        if (m->u.error.reason == FS_REASON_NONE ||
            !fs_utf8_valid(m->u.error.text, m->u.error.text_len))
            return FS_EINVAL;
        PK(msgpack_pack_uint32(&pk, m->u.error.reason));
        rc = fs__pack_str(&pk, m->u.error.text, m->u.error.text_len);
        break;
    case FS_MSG_BYE:
        PK(msgpack_pack_array(&pk, 1));
        PK(msgpack_pack_uint8(&pk, m->type));
        break;
    /* only for a peer that knows them (see FORMAT) */
    case FS_MSG_TIP:
        if (version < FS_PROTO_VERSION_FORK || (m->u.tip.acked_seq == 0) != (m->u.tip.hlc == 0))
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint64(&pk, m->u.tip.acked_seq));
        PK(msgpack_pack_uint64(&pk, m->u.tip.hlc));
        rc = fs__pack_bin(&pk, m->u.tip.row, FS_ID_BYTES);
        break;
    case FS_MSG_FORK:
        if (version < FS_PROTO_VERSION_FORK)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        rc = fs__pack_bin(&pk, m->u.fork.new_pk, 32);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.fork.old_sig, 64);
        if (rc == 0)
            rc = fs__pack_bin(&pk, m->u.fork.new_sig, 64);
        break;
    case FS_MSG_FORKED:
        if (version < FS_PROTO_VERSION_FORK)
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 1));
        PK(msgpack_pack_uint8(&pk, m->type));
        break;
    case FS_MSG_POLICY:
        if (version < FS_PROTO_VERSION_PASSPOLICY || m->u.policy.team_len > FS_USER_MAX ||
            (m->u.policy.team_len > 0 &&
             !fs_utf8_valid(m->u.policy.team, m->u.policy.team_len)))
            return FS_EINVAL;
        PK(msgpack_pack_array(&pk, 4));
        PK(msgpack_pack_uint8(&pk, m->type));
        PK(msgpack_pack_uint32(&pk, m->u.policy.min_chars));
        PK(msgpack_pack_uint32(&pk, m->u.policy.min_words));
        rc = fs__pack_str(&pk, m->u.policy.team_len > 0 ? m->u.policy.team : "",
                          m->u.policy.team_len);
        break;
    case FS_MSG_ATT_ASK:
    case FS_MSG_ATT_NEED:
    case FS_MSG_ATT_CHUNK:
    case FS_MSG_ATT_GET:
        rc = encode_att(&pk, m, version);
        break;
    default:
        return FS_EINVAL;
    }
    return rc;
}

int fs_msg_encode_v(const fs_msg *m, uint32_t version, fs_buf *out)
{
    size_t start = out->len;
    int rc = encode_body(m, version, out);
    if (rc != 0)
        out->len = start; /* nothing half-written */
    return rc;
}

unsigned fs_proto_schema(uint32_t version)
{
    if (version >= FS_PROTO_VERSION_SCHEMA6)
        return 6u;
    if (version >= FS_PROTO_VERSION_TEAM)
        return 5u;
    if (version >= FS_PROTO_VERSION_SCHEMA4)
        return 4u;
    if (version >= FS_PROTO_VERSION_SCHEMA3)
        return 3u;
    return version >= FS_PROTO_VERSION_SCHEMA2 ? 2u : 1u;
}

int fs_msg_encode(const fs_msg *m, fs_buf *out)
{
    return fs_msg_encode_v(m, 1, out);
}

/* ---- decoding ---- */

/* The index list of ATT_NEED or ATT_GET: at most FS_ATTACH_MAX_CHUNKS
 * entries (checked before anything is allocated), each below it. */
static int decode_att_list(fs__mp *r, fs_msg *m, fs__msg_owned *own)
{
    uint32_t n;
    if (fs__mp_array(r, &n, "attachment chunk list") != 0)
        return r->err;
    if (n > FS_ATTACH_MAX_CHUNKS)
        return fs__mp_fail(r, FS_ETOOBIG, "attachment: %u chunks is over the limit", n);
    uint32_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (idx == NULL)
        return fs__mp_fail(r, FS_ENOMEM, "out of memory");
    own->changes = idx;
    for (uint32_t i = 0; i < n && r->err == 0; i++)
        if (fs__mp_u32(r, &idx[i], "attachment chunk index") == 0 &&
            idx[i] >= FS_ATTACH_MAX_CHUNKS)
            fs__mp_fail(r, FS_EMALFORMED, "attachment chunk index %u is over the limit", idx[i]);
    fs__mp_leave(r);
    m->u.att.idx = idx;
    m->u.att.count = n;
    return r->err;
}

/* A PULL's exports (version 7 on): counted before anything is read. */
static int decode_exports(fs__mp *r, fs_msg *m)
{
    uint32_t n = 0;
    if (fs__mp_array(r, &n, "pull exports") != 0)
        return r->err;
    if (n > FS_PULL_EXPORTS_MAX)
        return fs__mp_fail(r, FS_ETOOBIG, "pull: %u exports is over the limit", n);
    for (uint32_t i = 0; i < n; i++) {
        fs_pull_export *e = &m->u.pull.exports[i];
        const char *kind = NULL, *mode = NULL;
        size_t kn = 0, mn = 0;
        if (fs__mp_array_of(r, 4, "pull export") != 0 ||
            fs__mp_uint(r, &e->at_ms, "export time") != 0 ||
            fs__mp_str(r, &kind, &kn, "export kind") != 0 ||
            fs__mp_u32(r, &e->n, "export records") != 0 ||
            fs__mp_str(r, &mode, &mn, "export mode") != 0)
            return r->err;
        if (!export_word_ok(kind, kn, 32) || !export_word_ok(mode, mn, 15))
            return fs__mp_fail(r, FS_EMALFORMED, "pull export %u: a bad kind or mode", i);
        memcpy(e->kind, kind, kn);
        e->kind[kn] = '\0';
        memcpy(e->mode, mode, mn);
        e->mode[mn] = '\0';
        fs__mp_leave(r);
    }
    fs__mp_leave(r);
    m->u.pull.nexports = n;
    return 0;
}

static int decode_body(fs__mp *r, fs_msg *m, fs__msg_owned *own, uint32_t nfields)
{
    uint64_t u;
    const char *s;
    switch (m->type) {
    case FS_MSG_HELLO:
        if (nfields != 4)
            break;
        if (fs__mp_u32(r, &m->u.hello.vmin, "hello vmin") == 0 &&
            fs__mp_u32(r, &m->u.hello.vmax, "hello vmax") == 0 &&
            fs__mp_bin_exact(r, m->u.hello.eph, 32, "hello key") == 0 &&
            m->u.hello.vmin > m->u.hello.vmax)
            fs__mp_fail(r, FS_EMALFORMED, "hello: vmin above vmax");
        return r->err;
    case FS_MSG_WELCOME:
        if (nfields != 5)
            break;
        if (fs__mp_u32(r, &m->u.welcome.version, "welcome version") == 0 &&
            fs__mp_bin_exact(r, m->u.welcome.eph, 32, "welcome key") == 0 &&
            fs__mp_bin_exact(r, m->u.welcome.server_pk, 32, "welcome identity") == 0)
            fs__mp_bin_exact(r, m->u.welcome.sig, 64, "welcome signature");
        return r->err;
    case FS_MSG_AUTH:
        if (nfields != 3)
            break;
        if (fs__mp_bin_exact(r, m->u.auth.device_pk, 32, "auth identity") == 0)
            fs__mp_bin_exact(r, m->u.auth.sig, 64, "auth signature");
        return r->err;
    case FS_MSG_POLICY_ASK:
    case FS_MSG_ENROLL:
        if (nfields != 4)
            break;
        if (fs__mp_bin_exact(r, m->u.enroll.device_pk, 32, "enroll identity") == 0 &&
            fs__mp_bin_exact(r, m->u.enroll.sig, 64, "enroll signature") == 0 &&
            fs__mp_bin(r, &m->u.enroll.sealed, &m->u.enroll.sealed_len, "enroll request") == 0 &&
            m->u.enroll.sealed_len > MAX_SEALED_ENROLL)
            fs__mp_fail(r, FS_ETOOBIG, "enroll: request too long");
        return r->err;
    case FS_MSG_READY:
        if (nfields != 3 && nfields != 5 && nfields != 6 && nfields != 8)
            break;
        if (fs__mp_uint(r, &m->u.ready.server_time_ms, "ready time") == 0 &&
            fs__mp_uint(r, &m->u.ready.lease_expires_ms, "ready lease") == 0 && nfields >= 5 &&
            fs__mp_str(r, &m->u.ready.user, &m->u.ready.user_len, "ready user") == 0 &&
            fs__mp_str(r, &m->u.ready.team, &m->u.ready.team_len, "ready team") == 0) {
            if (!ready_names_ok(m))
                return fs__mp_fail(r, FS_EMALFORMED,
                                   "ready: a user of 1-%d bytes, a team of at most %d",
                                   FS_USER_MAX, FS_USER_MAX);
            if (nfields >= 6 && fs__mp_u32(r, &m->u.ready.role, "ready role") == 0 &&
                (m->u.ready.role < FS_READY_ROLE_REP || m->u.ready.role > FS_READY_ROLE_ADMIN))
                return fs__mp_fail(r, FS_EMALFORMED, "ready: role %u is none of 1, 2, 3",
                                   (unsigned)m->u.ready.role);
            if (nfields == 8 && r->err == 0 &&
                fs__mp_bin_exact(r, m->u.ready.epoch, FS_FEED_EPOCH_BYTES, "ready epoch") == 0 &&
                fs__mp_uint(r, &m->u.ready.dev_acked, "ready dev_acked") == 0)
                m->u.ready.has_epoch = 1;
        }
        return r->err;
    case FS_MSG_PUSH:
        if (nfields != 4 && nfields != 5 && nfields != 6)
            break;
        if (fs__mp_uint(r, &m->u.push.first_seq, "push first") == 0 &&
            fs__mp_uint(r, &m->u.push.last_seq, "push last") == 0) {
            if (m->u.push.first_seq > m->u.push.last_seq)
                return fs__mp_fail(r, FS_EMALFORMED, "push: first sequence above last");
            if (fs__decode_batch_field(r, own, &m->u.push.changes, &m->u.push.count) == 0 &&
                nfields >= 5 && fs__mp_bool(r, &m->u.push.resent, "push resent") == 0 &&
                nfields == 6 && fs__mp_uint(r, &m->u.push.cursor, "push cursor") == 0)
                m->u.push.has_cursor = 1;
        }
        return r->err;
    case FS_MSG_ACK: {
        uint32_t n;
        if (nfields != 2 && nfields != 3)
            break;
        if (fs__mp_uint(r, &m->u.ack.upto_seq, "ack") != 0 || nfields == 2)
            return r->err;
        if (fs__mp_array(r, &n, "ack restamps") != 0)
            return r->err;
        if (n > r->lim->max_items)
            return fs__mp_fail(r, FS_ETOOBIG, "ack: %u restamps is over the limit", n);
        fs_restamp *items = calloc(n ? n : 1, sizeof *items);
        if (items == NULL)
            return fs__mp_fail(r, FS_ENOMEM, "out of memory");
        own->changes = items;
        for (uint32_t i = 0; i < n && r->err == 0; i++) {
            if (fs__mp_array_of(r, 2, "ack restamp") != 0 ||
                fs__mp_uint(r, &items[i].sent, "restamp sent") != 0 ||
                fs__mp_uint(r, &items[i].given, "restamp given") != 0)
                break;
            if (items[i].sent == 0 || items[i].given == 0)
                return fs__mp_fail(r, FS_EMALFORMED, "ack: restamp %u has a zero clock", i);
            fs__mp_leave(r);
        }
        fs__mp_leave(r);
        m->u.ack.restamps = n > 0 ? items : NULL;
        m->u.ack.nrestamps = n;
        return r->err;
    }
    case FS_MSG_REJECT: {
        uint32_t n;
        if (nfields != 2)
            break;
        if (fs__mp_array(r, &n, "reject list") != 0)
            return r->err;
        if (n > r->lim->max_items)
            return fs__mp_fail(r, FS_ETOOBIG, "reject: %u entries is over the limit", n);
        fs_reject_item *items = calloc(n ? n : 1, sizeof *items);
        if (items == NULL)
            return fs__mp_fail(r, FS_ENOMEM, "out of memory");
        own->changes = items;
        for (uint32_t i = 0; i < n && r->err == 0; i++) {
            uint64_t table, col;
            if (fs__mp_array_of(r, 6, "reject entry") != 0 ||
                fs__mp_uint(r, &table, "reject table") != 0 ||
                fs__mp_bin_exact(r, items[i].row, FS_ID_BYTES, "reject row") != 0 ||
                fs__mp_uint(r, &col, "reject column") != 0 ||
                fs__mp_uint(r, &items[i].hlc, "reject clock") != 0 ||
                fs__mp_u32(r, &items[i].reason, "reject reason") != 0 ||
                fs__mp_str(r, &items[i].text, &items[i].text_len, "reject text") != 0)
                break;
            if (!fs__schema_cell_ok(table, col))
                return fs__mp_fail(r, FS_EMALFORMED, "reject %u: no such table or column", i);
            items[i].table = (uint16_t)table;
            items[i].column = (uint16_t)col;
            fs__mp_leave(r);
        }
        fs__mp_leave(r);
        m->u.reject.items = items;
        m->u.reject.count = n;
        return r->err;
    }
    case FS_MSG_PULL:
        if (nfields != 5 && nfields != 7 && nfields != 8 && nfields != 9 && nfields != 10)
            break;
        if (fs__mp_uint(r, &m->u.pull.cursor, "pull cursor") == 0 &&
            fs__mp_u32(r, &m->u.pull.max, "pull max") == 0 &&
            fs__mp_uint(r, &m->u.pull.local_seq, "pull local seq") == 0 &&
            fs__mp_uint(r, &m->u.pull.oldest_pending_ms, "pull oldest pending") == 0 &&
            nfields >= 7 && fs__mp_uint(r, &m->u.pull.refusals, "pull open refusals") == 0 &&
            fs__mp_u32(r, &m->u.pull.refusal_reason, "pull refusal reason") == 0) {
            m->u.pull.has_refusals = 1;
            if (nfields >= 8 && fs__mp_uint(r, &m->u.pull.cursor_tag, "pull cursor tag") == 0)
                m->u.pull.has_tag = 1;
            if (nfields >= 9 && r->err == 0 &&
                fs__mp_uint(r, &m->u.pull.wall_ms, "pull device clock") == 0)
                m->u.pull.has_clock = 1;
            if (nfields == 10 && r->err == 0)
                (void)decode_exports(r, m);
        }
        return r->err;
    case FS_MSG_CHANGES:
        if (nfields != 4 && nfields != 6)
            break;
        if (fs__mp_uint(r, &m->u.changes.cursor, "changes cursor") == 0 &&
            fs__mp_bool(r, &m->u.changes.more, "changes more") == 0 &&
            fs__decode_batch_field(r, own, &m->u.changes.changes, &m->u.changes.count) == 0 &&
            nfields == 6 &&
            fs__mp_uint(r, &m->u.changes.cursor_tag, "changes cursor tag") == 0 &&
            fs__mp_bool(r, &m->u.changes.resync, "changes resync") == 0) {
            m->u.changes.has_tag = 1;
            /* a re-sync order starts again from the feed's beginning */
            if (m->u.changes.resync && (m->u.changes.cursor != 0 || m->u.changes.count != 0))
                return fs__mp_fail(r, FS_EMALFORMED,
                                   "changes: a re-sync order with cursor %llu and %zu changes",
                                   (unsigned long long)m->u.changes.cursor, m->u.changes.count);
        }
        return r->err;
    case FS_MSG_POKE:
        if (nfields != 2)
            break;
        return fs__mp_uint(r, &m->u.poke.cursor, "poke cursor");
    case FS_MSG_PURGE: {
        uint32_t n;
        if (nfields != 2)
            break;
        if (fs__mp_array(r, &n, "purge list") != 0)
            return r->err;
        if (n > r->lim->max_items)
            return fs__mp_fail(r, FS_ETOOBIG, "purge: %u entries is over the limit", n);
        fs_purge_item *items = calloc(n ? n : 1, sizeof *items);
        if (items == NULL)
            return fs__mp_fail(r, FS_ENOMEM, "out of memory");
        own->changes = items;
        for (uint32_t i = 0; i < n && r->err == 0; i++) {
            if (fs__mp_array_of(r, 2, "purge entry") != 0 ||
                fs__mp_uint(r, &u, "purge table") != 0)
                break;
            if (!fs__schema_cell_ok(u, 0))
                return fs__mp_fail(r, FS_EMALFORMED, "purge %u: no such table", i);
            items[i].table = (uint16_t)u;
            fs__mp_bin_exact(r, items[i].row, FS_ID_BYTES, "purge row");
            fs__mp_leave(r);
        }
        fs__mp_leave(r);
        m->u.purge.items = items;
        m->u.purge.count = n;
        return r->err;
    }
    case FS_MSG_WIPE:
        if (nfields != 2)
            break;
        if (fs__mp_u32(r, &m->u.wipe.reason, "wipe reason") == 0 &&
            m->u.wipe.reason == FS_REASON_NONE)
            fs__mp_fail(r, FS_EMALFORMED, "wipe: no reason");
        return r->err;
    case FS_MSG_ERROR:
        if (nfields != 3)
            break;
        if (fs__mp_u32(r, &m->u.error.reason, "error reason") == 0 &&
            m->u.error.reason == FS_REASON_NONE)
            fs__mp_fail(r, FS_EMALFORMED, "error: no reason");
        else if (r->err == 0 && fs__mp_str(r, &s, &m->u.error.text_len, "error text") == 0)
            m->u.error.text = s;
        return r->err;
    case FS_MSG_BYE:
        if (nfields != 1)
            break;
        return 0;
    case FS_MSG_TIP:
        if (nfields != 4)
            break;
        if (fs__mp_uint(r, &m->u.tip.acked_seq, "tip sequence") == 0 &&
            fs__mp_uint(r, &m->u.tip.hlc, "tip clock") == 0 &&
            fs__mp_bin_exact(r, m->u.tip.row, FS_ID_BYTES, "tip row") == 0 &&
            (m->u.tip.acked_seq == 0) != (m->u.tip.hlc == 0))
            fs__mp_fail(r, FS_EMALFORMED, "tip: a sequence without a clock or a clock without one");
        return r->err;
    case FS_MSG_FORK:
        if (nfields != 4)
            break;
        if (fs__mp_bin_exact(r, m->u.fork.new_pk, 32, "fork identity") == 0 &&
            fs__mp_bin_exact(r, m->u.fork.old_sig, 64, "fork old signature") == 0)
            fs__mp_bin_exact(r, m->u.fork.new_sig, 64, "fork new signature");
        return r->err;
    case FS_MSG_FORKED:
        if (nfields != 1)
            break;
        return 0;
    case FS_MSG_POLICY:
        if (nfields != 4)
            break;
        if (fs__mp_u32(r, &m->u.policy.min_chars, "policy characters") == 0 &&
            fs__mp_u32(r, &m->u.policy.min_words, "policy words") == 0 &&
            fs__mp_str(r, &s, &m->u.policy.team_len, "policy team") == 0) {
            m->u.policy.team = s;
            if (m->u.policy.team_len > FS_USER_MAX || !fs_utf8_valid(s, m->u.policy.team_len))
                fs__mp_fail(r, FS_EMALFORMED, "policy: a bad team name");
        }
        return r->err;
    case FS_MSG_ATT_ASK:
        if (nfields != 2)
            break;
        return fs__mp_bin_exact(r, m->u.att.hash, FS_ATT_HASH_BYTES, "attachment hash");
    case FS_MSG_ATT_NEED:
        if (nfields != 4)
            break;
        if (fs__mp_bin_exact(r, m->u.att.hash, FS_ATT_HASH_BYTES, "attachment hash") == 0 &&
            fs__mp_u32(r, &m->u.att.status, "attachment status") == 0 &&
            m->u.att.status > FS_ATT_UNKNOWN)
            return fs__mp_fail(r, FS_EMALFORMED, "attachment status %u", m->u.att.status);
        if (r->err == 0)
            decode_att_list(r, m, own);
        return r->err;
    case FS_MSG_ATT_GET:
        if (nfields != 3)
            break;
        if (fs__mp_bin_exact(r, m->u.att.hash, FS_ATT_HASH_BYTES, "attachment hash") == 0)
            decode_att_list(r, m, own);
        return r->err;
    case FS_MSG_ATT_CHUNK: {
        const uint8_t *p;
        size_t n;
        if (nfields != 4)
            break;
        if (fs__mp_bin_exact(r, m->u.att.hash, FS_ATT_HASH_BYTES, "attachment hash") == 0 &&
            fs__mp_u32(r, &m->u.att.index, "attachment chunk index") == 0 &&
            m->u.att.index >= FS_ATTACH_MAX_CHUNKS)
            return fs__mp_fail(r, FS_EMALFORMED, "attachment chunk index %u is over the limit",
                               m->u.att.index);
        if (r->err == 0 &&
            fs__mp_bin_upto(r, &p, &n, FS_ATTACH_CHUNK, "attachment chunk") == 0) {
            if (n == 0)
                return fs__mp_fail(r, FS_EMALFORMED, "attachment chunk: no bytes");
            m->u.att.data = p;
            m->u.att.len = n;
        }
        return r->err;
    }
    default:
        return fs__mp_fail(r, FS_EUNSUPPORTED, "unknown message type %u", (unsigned)m->type);
    }
    return fs__mp_fail(r, FS_EMALFORMED, "message type %u with %u fields", (unsigned)m->type,
                       nfields);
}

void fs_msg_free(fs_msg *m)
{
    if (m == NULL)
        return;
    fs__msg_owned *own = m->arena_;
    if (own != NULL) {
        free(own->changes);
        if (own->copy != NULL)
            sodium_memzero(own->copy, own->copy_len); /* customer text */
        free(own->copy);
        if (own->plain != NULL)
            sodium_memzero(own->plain, own->plain_len);
        free(own->plain);
        free(own);
    }
    free(m);
}

int fs_msg_decode(const uint8_t *p, size_t n, const fs_proto_limits *limits, fs_msg **out,
                  char *why, size_t whylen)
{
    *out = NULL;
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (limits == NULL)
        limits = &fs_proto_default_limits;
    fs__mp r;
    fs__mp_init(&r, p, 0, limits);
    if (n > limits->max_frame) {
        fs__mp_fail(&r, FS_ETOOBIG, "message of %zu bytes is over the limit", n);
    } else if (n == 0) {
        fs__mp_fail(&r, FS_EMALFORMED, "empty message");
    }
    fs_msg *m = NULL;
    fs__msg_owned *own = NULL;
    if (r.err == 0) {
        m = calloc(1, sizeof *m);
        own = calloc(1, sizeof *own);
        uint8_t *copy = malloc(n);
        if (m == NULL || own == NULL || copy == NULL) {
            free(m);
            free(own);
            free(copy);
            return FS_ENOMEM;
        }
        memcpy(copy, p, n);
        own->copy = copy;
        own->copy_len = n;
        m->arena_ = own;
        fs__mp_init(&r, copy, n, limits);
        uint32_t nfields;
        uint64_t type;
        if (fs__mp_array(&r, &nfields, "message") == 0 && nfields == 0)
            fs__mp_fail(&r, FS_EMALFORMED, "message: empty array");
        if (r.err == 0 && fs__mp_uint(&r, &type, "message type") == 0) {
            m->type = (fs_msg_type)(type > 255 ? 0 : type);
            if (type > 255)
                fs__mp_fail(&r, FS_EUNSUPPORTED, "unknown message type %llu",
                            (unsigned long long)type);
            else
                decode_body(&r, m, own, nfields);
        }
        if (r.err == 0 && !fs__mp_done(&r))
            fs__mp_fail(&r, FS_EMALFORMED, "%zu bytes after the message",
                        (size_t)(r.end - r.p));
    }
    if (r.err != 0) {
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "%s", r.why);
        fs_msg_free(m);
        return r.err;
    }
    *out = m;
    return 0;
}

/* ---- reassembly of websocket fragments ---- */

void fs_reassembler_init(fs_reassembler *r, size_t max_frame)
{
    fs_buf_init(&r->buf);
    r->max_frame = max_frame;
}

int fs_reassembler_add(fs_reassembler *r, const uint8_t *p, size_t n, int is_final,
                       const uint8_t **frame, size_t *len)
{
    *frame = NULL;
    *len = 0;
    if (n > r->max_frame - r->buf.len) {
        fs_buf_reset(&r->buf);
        return FS_ETOOBIG;
    }
    if (is_final && r->buf.len == 0) { /* the common case: one fragment */
        *frame = p;
        *len = n;
        return 1;
    }
    int rc = fs_buf_append(&r->buf, p, n);
    if (rc != 0) {
        fs_buf_reset(&r->buf);
        return rc;
    }
    if (!is_final)
        return 0;
    *frame = r->buf.data;
    *len = r->buf.len;
    r->buf.len = 0; /* the bytes stay valid until the next call */
    return 1;
}

void fs_reassembler_free(fs_reassembler *r)
{
    fs_buf_free(&r->buf);
}
