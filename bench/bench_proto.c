/*
 * bench_proto: wire throughput of visit changes, fs_channel against a raw
 * msgpack-c + secretstream baseline that does the least any sealed protocol
 * has to do.
 *
 * Both sides carry the same pre-generated column changes: visits of 10
 * columns (the customer id and 9 text fields of mixed Chinese/English text,
 * the visits of bench_write, same generator and seed), written by one device,
 * one clock value per visit, as fs_changes_since() returns an insert.
 *   baseline   each change one flat msgpack array
 *                [table, column, row (bin16), value, hlc, device (bin16),
 *                 prev hlc, prev device (bin16) or nil]
 *              packed with msgpack_pack_*; a frame's changes in one outer
 *              array, pushed as one crypto_secretstream message, pulled, and
 *              unpacked with msgpack_unpack_next into fs_change structs that
 *              point into the plaintext (no copy, no limits checked).
 *   fieldsync  a PUSH message through two fs_channel objects after a real
 *              handshake (not timed): fs_channel_send (fs_msg_encode, the
 *              batch grouped by row, + secretstream push) on the client and
 *              fs_channel_receive (pull + fs_msg_decode into a message that
 *              owns a copy of everything, every limit checked) on the server.
 * Each in two modes: --batch changes per frame (default 1,000), and one
 * change per frame. A measurement runs the data set round and round for
 * --secs seconds; each figure is the median of --reps measurements, baseline
 * and fieldsync alternating (order swapped every repetition). Before timing,
 * every change of the data set is sent through both paths once and compared
 * with the original, field by field.
 *
 * Exit status: 0 when every run completed and the round trips verified,
 * 1 on any error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>
#include <sodium.h>

#include "fieldsync/channel.h"
#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "fieldsync/replica.h"
#include "fieldsync/schema.h"
#include "rng.h"
#include "common.h"
#include "visits.h"

#ifndef FS_BENCH_VERSION
#define FS_BENCH_VERSION "?"
#endif
#ifndef FS_BENCH_BUILD_TYPE
#define FS_BENCH_BUILD_TYPE "?"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_SANITIZED 1
#endif
#endif
#ifndef BENCH_SANITIZED
#define BENCH_SANITIZED 0
#endif

#define VISIT_TABLE_NO 2 /* index of "visit" in fs_schema_tables() */
#define CUSTOMERS      50

/* The visit generator below is bench_write's, unchanged (same seed, same
 * text), so both benchmarks measure the same visits. */
/* ---- the visits ------------------------------------------------------------ */


/* ---- the changes ------------------------------------------------------------ */

#define COLS_PER_VISIT (1 + VF_COUNT) /* the customer id, then the text fields */

/* Every column change of a set of visits, as a replica's change log hands
 * them to the protocol: visit i is changes [i * COLS_PER_VISIT, ...). */
typedef struct change_set {
    fs_change *changes;
    size_t count;
    uint8_t customers[CUSTOMERS][FS_ID_BYTES]; /* the customer id values point here */
} change_set;

static void fill_id(rng *g, uint8_t id[FS_ID_BYTES])
{
    uint64_t a = rng_next(g), b = rng_next(g);
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

/* Builds the changes of every visit of vs (whose text they point to). Returns
 * 0 or FS_ENOMEM; cs is freed by change_set_free(). */
static int change_set_make(change_set *cs, const visit_set *vs)
{
    rng g = {0xc4a17e5ull};
    uint8_t device[FS_ID_BYTES];

    memset(cs, 0, sizeof *cs);
    /* The column indexes used below are the schema's. */
    unsigned ntables = 0;
    const fs_table *visit = &fs_schema_tables(&ntables)[VISIT_TABLE_NO];
    if (strcmp(visit->name, "visit") != 0 || fs_schema_column_index(visit, "customer") != 1) {
        fprintf(stderr, "bench_proto: the schema's visit table is not what this bench assumes\n");
        abort();
    }
    for (int f = 0; f < VF_COUNT; f++) {
        if (fs_schema_column_index(visit, field_column[f]) != 2 + f) {
            fprintf(stderr, "bench_proto: column %s is not where this bench assumes\n",
                    field_column[f]);
            abort();
        }
    }
    cs->count = vs->count * COLS_PER_VISIT;
    cs->changes = calloc(cs->count, sizeof *cs->changes);
    if (cs->changes == NULL)
        return FS_ENOMEM;
    fill_id(&g, device);
    for (size_t k = 0; k < CUSTOMERS; k++)
        fill_id(&g, cs->customers[k]);
    for (size_t i = 0; i < vs->count; i++) {
        const visit_text *v = &vs->visits[i];
        uint8_t row[FS_ID_BYTES];
        /* One write per visit: one clock value for all its columns. */
        uint64_t hlc = ((1700000000000ull + 1500ull * i) << 16) | (i % 4);
        const uint8_t *customer = cs->customers[rng_below(&g, CUSTOMERS)];
        fill_id(&g, row);
        for (size_t c = 0; c < COLS_PER_VISIT; c++) {
            fs_change *ch = &cs->changes[i * COLS_PER_VISIT + c];
            ch->table = VISIT_TABLE_NO;
            ch->column = (uint16_t)(1 + c);
            memcpy(ch->row, row, FS_ID_BYTES);
            ch->value =
                c == 0 ? fs_blob(customer, FS_ID_BYTES) : fs_textn(v->field[c - 1], v->len[c - 1]);
            ch->version.hlc = hlc;
            memcpy(ch->version.device, device, FS_ID_BYTES);
        }
    }
    return 0;
}

static void change_set_free(change_set *cs)
{
    free(cs->changes);
    memset(cs, 0, sizeof *cs);
}

/* ---- helpers ------------------------------------------------------------------ */





static int value_eq(const fs_value *a, const fs_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case FS_NULL:
        return 1;
    case FS_INT:
        return a->i == b->i;
    case FS_REAL:
        return memcmp(&a->r, &b->r, sizeof a->r) == 0;
    case FS_TEXT:
    case FS_BLOB:
        return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    }
    return 0;
}

static int change_eq(const fs_change *a, const fs_change *b)
{
    return a->table == b->table && a->column == b->column &&
           memcmp(a->row, b->row, FS_ID_BYTES) == 0 && value_eq(&a->value, &b->value) &&
           a->version.hlc == b->version.hlc &&
           memcmp(a->version.device, b->version.device, FS_ID_BYTES) == 0 &&
           a->prev.hlc == b->prev.hlc &&
           (a->prev.hlc == 0 || memcmp(a->prev.device, b->prev.device, FS_ID_BYTES) == 0);
}

static int cmp_change_key(const void *pa, const void *pb)
{
    const fs_change *a = *(const fs_change *const *)pa, *b = *(const fs_change *const *)pb;
    int c = memcmp(a->row, b->row, FS_ID_BYTES);
    if (c != 0)
        return c;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    return (a->column > b->column) - (a->column < b->column);
}

/* 0 if got holds exactly the n changes of want, in any order (a batch is
 * regrouped by row on the way); -1 otherwise. */
static int same_changes(const fs_change *want, const fs_change *got, size_t n)
{
    const fs_change **w = malloc(n * sizeof *w), **g = malloc(n * sizeof *g);
    int rc = -1;
    if (w == NULL || g == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        w[i] = &want[i];
        g[i] = &got[i];
    }
    qsort(w, n, sizeof *w, cmp_change_key);
    qsort(g, n, sizeof *g, cmp_change_key);
    for (size_t i = 0; i < n; i++)
        if (!change_eq(w[i], g[i]))
            goto out;
    rc = 0;
out:
    free(w);
    free(g);
    return rc;
}

/* ---- baseline: msgpack-c + secretstream ---------------------------------------- */

typedef struct baseline {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    crypto_secretstream_xchacha20poly1305_state tx, rx;
    uint8_t *cipher, *plain;
    size_t cap;     /* of cipher and plain */
    fs_change *out; /* the decoded frame */
    size_t out_cap;
} baseline;

static int baseline_open(baseline *b, size_t per_frame)
{
    uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];

    memset(b, 0, sizeof *b);
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&b->up);
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_init_push(&b->tx, header, key);
    if (crypto_secretstream_xchacha20poly1305_init_pull(&b->rx, header, key) != 0)
        return FS_ECHANNEL;
    sodium_memzero(key, sizeof key);
    b->out = calloc(per_frame, sizeof *b->out);
    b->out_cap = per_frame;
    return b->out == NULL ? FS_ENOMEM : 0;
}

static void baseline_close(baseline *b)
{
    msgpack_sbuffer_destroy(&b->sb);
    msgpack_unpacked_destroy(&b->up);
    free(b->cipher);
    free(b->plain);
    free(b->out);
    memset(b, 0, sizeof *b);
}

static void baseline_pack(msgpack_packer *pk, const fs_change *c)
{
    msgpack_pack_array(pk, 8);
    msgpack_pack_uint16(pk, c->table);
    msgpack_pack_uint16(pk, c->column);
    msgpack_pack_bin(pk, FS_ID_BYTES);
    msgpack_pack_bin_body(pk, c->row, FS_ID_BYTES);
    switch (c->value.type) {
    case FS_NULL:
        msgpack_pack_nil(pk);
        break;
    case FS_INT:
        msgpack_pack_int64(pk, c->value.i);
        break;
    case FS_REAL:
        msgpack_pack_double(pk, c->value.r);
        break;
    case FS_TEXT:
        msgpack_pack_str(pk, c->value.n);
        msgpack_pack_str_body(pk, c->value.p, c->value.n);
        break;
    case FS_BLOB:
        msgpack_pack_bin(pk, c->value.n);
        msgpack_pack_bin_body(pk, c->value.p, c->value.n);
        break;
    }
    msgpack_pack_uint64(pk, c->version.hlc);
    msgpack_pack_bin(pk, FS_ID_BYTES);
    msgpack_pack_bin_body(pk, c->version.device, FS_ID_BYTES);
    msgpack_pack_uint64(pk, c->prev.hlc);
    if (c->prev.hlc == 0) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_bin(pk, FS_ID_BYTES);
        msgpack_pack_bin_body(pk, c->prev.device, FS_ID_BYTES);
    }
}

static int read_id(const msgpack_object *o, uint8_t out[FS_ID_BYTES])
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != FS_ID_BYTES)
        return -1;
    memcpy(out, o->via.bin.ptr, FS_ID_BYTES);
    return 0;
}

/* Reads one flat change array; text and blob values point into the frame. */
static int baseline_read(const msgpack_object *o, fs_change *c)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 8)
        return -1;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[0].via.u64 > UINT16_MAX ||
        f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 > UINT16_MAX ||
        f[4].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[6].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    c->table = (uint16_t)f[0].via.u64;
    c->column = (uint16_t)f[1].via.u64;
    if (read_id(&f[2], c->row) != 0 || read_id(&f[5], c->version.device) != 0)
        return -1;
    switch (f[3].type) {
    case MSGPACK_OBJECT_NIL:
        c->value = fs_null();
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (f[3].via.u64 > INT64_MAX)
            return -1;
        c->value = fs_int((int64_t)f[3].via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        c->value = fs_int(f[3].via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        c->value = fs_real(f[3].via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        c->value = fs_textn(f[3].via.str.ptr, f[3].via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        c->value = fs_blob(f[3].via.bin.ptr, f[3].via.bin.size);
        break;
    default:
        return -1;
    }
    c->version.hlc = f[4].via.u64;
    c->prev.hlc = f[6].via.u64;
    if (f[7].type == MSGPACK_OBJECT_NIL)
        memset(c->prev.device, 0, FS_ID_BYTES);
    else if (read_id(&f[7], c->prev.device) != 0)
        return -1;
    return 0;
}

static int grow(uint8_t **p, size_t n)
{
    uint8_t *q = realloc(*p, n);
    if (q == NULL)
        return FS_ENOMEM;
    *p = q;
    return 0;
}

/* One frame there and back: pack n changes, seal, open, unpack into b->out.
 * *wire receives the sealed frame's size. */
static int baseline_frame(baseline *b, const fs_change *changes, size_t n, size_t *wire)
{
    msgpack_sbuffer_clear(&b->sb);
    msgpack_pack_array(&b->pk, n);
    for (size_t i = 0; i < n; i++)
        baseline_pack(&b->pk, &changes[i]);
    size_t clen = b->sb.size + crypto_secretstream_xchacha20poly1305_ABYTES;
    if (clen > b->cap) {
        if (grow(&b->cipher, clen) != 0 || grow(&b->plain, clen) != 0)
            return FS_ENOMEM;
        b->cap = clen;
    }
    crypto_secretstream_xchacha20poly1305_push(
        &b->tx, b->cipher, NULL, (const unsigned char *)b->sb.data, b->sb.size, NULL, 0, 0);
    *wire = clen;

    unsigned long long plen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&b->rx, b->plain, &plen, &tag, b->cipher, clen,
                                                   NULL, 0) != 0)
        return FS_ECHANNEL;
    size_t off = 0;
    if (msgpack_unpack_next(&b->up, (const char *)b->plain, (size_t)plen, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != plen)
        return FS_EMALFORMED;
    const msgpack_object *o = &b->up.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n || n > b->out_cap)
        return FS_EMALFORMED;
    for (size_t i = 0; i < n; i++)
        if (baseline_read(&o->via.array.ptr[i], &b->out[i]) != 0)
            return FS_EMALFORMED;
    return 0;
}

/* ---- fieldsync: two fs_channel objects ------------------------------------------- */

static fs_identity *server_id, *device_id;

static int accept_device(void *ctx, const uint8_t pk[FS_SIGN_PK_BYTES])
{
    (void)ctx;
    return memcmp(pk, device_id->pk, FS_SIGN_PK_BYTES) == 0 ? 0 : FS_ENOTFOUND;
}

typedef struct session {
    fs_channel *c, *s;
    fs_buf frame, reply;
    uint64_t seq;
    fs_msg *got; /* the last message received */
} session;

static void session_close(session *ss)
{
    fs_channel_free(ss->c);
    fs_channel_free(ss->s);
    fs_buf_free(&ss->frame);
    fs_buf_free(&ss->reply);
    fs_msg_free(ss->got);
    memset(ss, 0, sizeof *ss);
}

static int session_fail(session *ss, const char *what, int rc)
{
    fs_channel *ch = ss->s != NULL ? ss->s : ss->c;
    fprintf(stderr, "bench_proto: fieldsync %s: %s (%s)\n", what, fs_errname(rc),
            ch != NULL ? fs_channel_errmsg(ch) : "");
    return rc;
}

/* One frame from one channel to the other; the frame the receiver answers
 * with goes to ss->reply. */
static int deliver(session *ss, fs_channel *to)
{
    fs_msg_free(ss->got);
    ss->got = NULL;
    fs_buf_reset(&ss->reply);
    return fs_channel_receive(to, ss->frame.data, ss->frame.len, &ss->reply, &ss->got);
}

/* A client and a server channel, through the handshake. */
static int session_open(session *ss)
{
    fs_channel_config cc, sc;
    int rc;

    memset(ss, 0, sizeof *ss);
    fs_buf_init(&ss->frame);
    fs_buf_init(&ss->reply);
    memset(&cc, 0, sizeof cc);
    cc.self = device_id;
    cc.pinned_server_pk = server_id->pk;
    memset(&sc, 0, sizeof sc);
    sc.is_server = 1;
    sc.self = server_id;
    sc.check_device = accept_device;
    if ((rc = fs_channel_new(&ss->c, &cc)) != 0 || (rc = fs_channel_new(&ss->s, &sc)) != 0)
        return session_fail(ss, "fs_channel_new", rc);
    rc = fs_channel_start(ss->c, &ss->frame);
    if (rc == 0)
        rc = deliver(ss, ss->s); /* HELLO -> WELCOME */
    for (int step = 0; rc == 0 && step < 3; step++) {
        fs_buf t = ss->frame; /* the answer becomes the next frame */
        ss->frame = ss->reply;
        ss->reply = t;
        rc = deliver(ss, step == 1 ? ss->s : ss->c); /* WELCOME, AUTH, READY */
    }
    if (rc != 0)
        return session_fail(ss, "handshake", rc);
    if (fs_channel_state_get(ss->c) != FS_CHANNEL_OPEN ||
        fs_channel_state_get(ss->s) != FS_CHANNEL_OPEN)
        return session_fail(ss, "handshake did not open the session", FS_ESTATE);
    return 0;
}

/* One PUSH of n changes from the client to the server; ss->got holds it. */
static int fieldsync_frame(session *ss, const fs_change *changes, size_t n, size_t *wire)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = ss->seq + 1;
    m.u.push.last_seq = ss->seq + n;
    m.u.push.changes = changes;
    m.u.push.count = n;
    ss->seq += n;
    fs_buf_reset(&ss->frame);
    int rc = fs_channel_send(ss->c, &m, &ss->frame);
    if (rc != 0)
        return session_fail(ss, "fs_channel_send", rc);
    *wire = ss->frame.len;
    rc = deliver(ss, ss->s);
    if (rc != 0)
        return session_fail(ss, "fs_channel_receive", rc);
    if (ss->got == NULL || ss->got->type != FS_MSG_PUSH || ss->got->u.push.count != n)
        return session_fail(ss, "the PUSH did not arrive whole", FS_EMALFORMED);
    return 0;
}

/* ---- measurements ------------------------------------------------------------------ */

/* Sends every change of cs through both paths, per_frame at a time, and
 * compares what arrived with what left. 0 or an error (message printed). */
static int verify(const change_set *cs, size_t per_frame)
{
    baseline b;
    session ss;
    size_t wire = 0;
    int rc = baseline_open(&b, per_frame);
    if (rc == 0)
        rc = session_open(&ss);
    else
        memset(&ss, 0, sizeof ss);
    for (size_t pos = 0; rc == 0 && pos + per_frame <= cs->count; pos += per_frame) {
        const fs_change *want = cs->changes + pos;
        rc = baseline_frame(&b, want, per_frame, &wire);
        if (rc == 0 && same_changes(want, b.out, per_frame) != 0) {
            fprintf(stderr, "bench_proto: baseline round trip changed changes %zu..%zu\n", pos,
                    pos + per_frame - 1);
            rc = FS_EINTEGRITY;
        }
        if (rc == 0)
            rc = fieldsync_frame(&ss, want, per_frame, &wire);
        if (rc == 0 && same_changes(want, ss.got->u.push.changes, per_frame) != 0) {
            fprintf(stderr, "bench_proto: fieldsync round trip changed changes %zu..%zu\n", pos,
                    pos + per_frame - 1);
            rc = FS_EINTEGRITY;
        }
    }
    if (rc != 0 && rc != FS_EINTEGRITY)
        fprintf(stderr, "bench_proto: verification failed: %s\n", fs_errname(rc));
    baseline_close(&b);
    session_close(&ss);
    return rc;
}

/* Runs the data set round and round, per_frame changes a frame, for secs
 * seconds; stores changes/s and bytes per change on the wire. */
static int measure(int fieldsync, const change_set *cs, size_t per_frame, double secs, double *rate,
                   double *bytes_per_change)
{
    baseline b;
    session ss;
    size_t check_every = per_frame >= 64 ? 1 : 64, frames = 0, pos = 0, wire = 0;
    uint64_t changes = 0, bytes = 0;
    double elapsed = 0;
    int rc;

    memset(&b, 0, sizeof b);
    memset(&ss, 0, sizeof ss);
    rc = fieldsync ? session_open(&ss) : baseline_open(&b, per_frame);
    double t0 = bench_now();
    while (rc == 0) {
        if (pos + per_frame > cs->count)
            pos = 0;
        rc = fieldsync ? fieldsync_frame(&ss, cs->changes + pos, per_frame, &wire)
                       : baseline_frame(&b, cs->changes + pos, per_frame, &wire);
        pos += per_frame;
        changes += per_frame;
        bytes += wire;
        if (++frames % check_every == 0 && (elapsed = bench_now() - t0) >= secs)
            break;
    }
    if (rc != 0 && !fieldsync)
        fprintf(stderr, "bench_proto: baseline frame failed: %s\n", fs_errname(rc));
    *rate = rc == 0 && elapsed > 0 ? (double)changes / elapsed : 0;
    *bytes_per_change = changes > 0 ? (double)bytes / (double)changes : 0;
    if (fieldsync)
        session_close(&ss);
    else
        baseline_close(&b);
    return rc;
}

/* ---- the report ------------------------------------------------------------------ */

static void print_machine(const visit_set *vs, const change_set *cs)
{
    char model[256];
    bench_cpu_model(model, sizeof model);
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    char n1[32], n2[32];
    printf("machine:   %ld CPUs online, %s, %s %s %s\n", sysconf(_SC_NPROCESSORS_ONLN), model,
           u.sysname, u.release, u.machine);
    printf("versions:  fieldsync %s (%s), libsodium %s, msgpack-c %s, compiler %s\n",
           FS_BENCH_VERSION, FS_BENCH_BUILD_TYPE, sodium_version_string(), msgpack_version(),
           __VERSION__);
    if (BENCH_SANITIZED)
        printf("WARNING:   built with sanitizers: the figures below are not representative\n");
    printf("changes:   %s column changes of %s visits (customer id + 9 mixed Chinese/English "
           "text fields, %.0f bytes of field values per visit on average), one writer device, "
           "one clock value per visit, no previous versions (inserts)\n",
           bench_fmt_count(n1, sizeof n1, (double)cs->count), bench_fmt_count(n2, sizeof n2, (double)vs->count),
           (double)vs->value_bytes / (double)vs->count);
    printf("baseline:  flat msgpack array per change (msgpack_pack_*), msgpack_unpack_next + "
           "read into fs_change without copying, raw secretstream push/pull\n");
    printf("fieldsync: PUSH through fs_channel_send / fs_channel_receive between two channels "
           "(handshake not timed); the received message owns copies\n");
}

typedef struct bench_mode {
    const char *name;
    size_t per_frame;
    double base[64], fs[64];     /* changes/s of each repetition */
    double base_bytes, fs_bytes; /* bytes per change on the wire */
    int failed;
} bench_mode;

static void usage(FILE *to)
{
    fprintf(to, "usage: bench_proto [--quick] [--visits N] [--batch N] [--secs S] [--reps N]\n"
                "  --visits N  visits in the data set (default 2000: 20,000 changes)\n"
                "  --batch N   changes per frame in batched mode (default 1000)\n"
                "  --secs S    seconds per measurement (default 2.5)\n"
                "  --reps N    repetitions; the median is reported (default 3, at most 64)\n"
                "  --quick     a smoke run: 300 visits, 0.05 s, one repetition\n");
}

int main(int argc, char **argv)
{
    size_t visits = 2000, batch = 1000, reps = 3;
    double secs = 2.5;
    int quick = 0, rc = 1;
    visit_set vs;
    change_set cs;

    memset(&vs, 0, sizeof vs);
    memset(&cs, 0, sizeof cs);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t *target = NULL;
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--visits") == 0) {
            target = &visits;
        } else if (strcmp(a, "--batch") == 0) {
            target = &batch;
        } else if (strcmp(a, "--reps") == 0) {
            target = &reps;
        } else if (strcmp(a, "--secs") == 0) {
            char *end = NULL;
            secs = i + 1 < argc ? strtod(argv[++i], &end) : 0;
            if (end == NULL || *end != '\0' || !(secs > 0)) {
                fprintf(stderr, "bench_proto: --secs needs a positive number\n");
                return 1;
            }
        } else {
            usage(stderr);
            return 1;
        }
        if (target != NULL && (i + 1 >= argc || bench_parse_size(argv[++i], target) != 0)) {
            fprintf(stderr, "bench_proto: %s needs a positive number\n", a);
            return 1;
        }
    }
    if (quick) {
        visits = 300;
        secs = 0.05;
        reps = 1;
    }
    if (reps > 64)
        reps = 64;
    if (batch > visits * COLS_PER_VISIT) {
        fprintf(stderr, "bench_proto: --batch %zu is more than the %zu changes of the data set\n",
                batch, visits * COLS_PER_VISIT);
        return 1;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_proto: sodium_init failed\n");
        return 1;
    }
    if (visit_set_make(&vs, visits) != 0 || change_set_make(&cs, &vs) != 0 ||
        fs_identity_generate(&server_id) != 0 || fs_identity_generate(&device_id) != 0) {
        fprintf(stderr, "bench_proto: out of memory\n");
        goto out;
    }

    static bench_mode modes[2];
    char batch_name[40];
    snprintf(batch_name, sizeof batch_name, "%zu changes/frame", batch);
    modes[0].name = batch_name;
    modes[0].per_frame = batch;
    modes[1].name = "1 change/frame";
    modes[1].per_frame = 1;

    printf("bench_proto: wire throughput of visit changes, raw msgpack-c + secretstream baseline "
           "vs fs_channel%s\n",
           quick ? " (--quick: a smoke run, figures meaningless)" : "");
    print_machine(&vs, &cs);
    printf("method:    median of %zu run%s of ~%.2g s, baseline and fieldsync interleaved; "
           "changes/s = encode + seal + open + decode, both ends on this thread\n",
           reps, reps == 1 ? "" : "s", secs);
    fflush(stdout);

    for (size_t m = 0; m < 2; m++) {
        if (verify(&cs, modes[m].per_frame) != 0) {
            fprintf(stderr, "bench_proto: %s: round trip verification failed\n", modes[m].name);
            goto out;
        }
    }

    for (size_t rep = 0; rep < reps; rep++) {
        for (size_t m = 0; m < 2; m++) {
            bench_mode *bm = &modes[m];
            for (int k = 0; k < 2 && !bm->failed; k++) {
                /* Even repetitions run the baseline first, odd ones fieldsync. */
                int fieldsync_turn = (k == 0) == (rep % 2 == 1);
                double rate = 0, bytes = 0;
                if (measure(fieldsync_turn, &cs, bm->per_frame, secs, &rate, &bytes) != 0) {
                    fprintf(stderr, "bench_proto: %s %s run failed; no figure for this mode\n",
                            bm->name, fieldsync_turn ? "fieldsync" : "baseline");
                    bm->failed = 1;
                    break;
                }
                if (fieldsync_turn) {
                    bm->fs[rep] = rate;
                    bm->fs_bytes = bytes;
                } else {
                    bm->base[rep] = rate;
                    bm->base_bytes = bytes;
                }
            }
        }
    }

    printf("\n%-20s %14s %14s %7s %12s %12s\n", "mode", "baseline ch/s", "fieldsync ch/s", "ratio",
           "base B/ch", "fs B/ch");
    int failed = 0;
    for (size_t m = 0; m < 2; m++) {
        bench_mode *bm = &modes[m];
        if (bm->failed) {
            failed++;
            printf("%-20s %14s %14s %7s %12s %12s  ERROR (see above)\n", bm->name, "-", "-", "-",
                   "-", "-");
            continue;
        }
        double b = bench_median(bm->base, reps), f = bench_median(bm->fs, reps);
        char b_s[32], f_s[32];
        printf("%-20s %14s %14s %7.2f %12.1f %12.1f\n", bm->name, bench_fmt_count(b_s, sizeof b_s, b),
               bench_fmt_count(f_s, sizeof f_s, f), b > 0 ? f / b : 0, bm->base_bytes, bm->fs_bytes);
    }
    printf("\nruns (changes/s):\n");
    for (size_t m = 0; m < 2; m++) {
        if (modes[m].failed)
            continue;
        printf("  %-18s baseline", modes[m].name);
        for (size_t rep = 0; rep < reps; rep++)
            printf(" %.0f", modes[m].base[rep]);
        printf("; fieldsync");
        for (size_t rep = 0; rep < reps; rep++)
            printf(" %.0f", modes[m].fs[rep]);
        printf("\n");
    }
    printf("bytes on the wire per change: sealed frame sizes (secretstream ABYTES included, the "
           "one-time stream header and websocket framing not) divided by changes carried\n");
    if (failed)
        goto out;
    printf("verified: all %zu changes round-trip intact through both paths in both modes\n",
           cs.count);
    rc = 0;
out:
    fs_identity_free(server_id);
    fs_identity_free(device_id);
    change_set_free(&cs);
    visit_set_free(&vs);
    return rc;
}
