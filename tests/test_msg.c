/*
 * Tests of the wire codec (proto/msg.c, fieldsync/msg.h).
 *
 * - Golden vectors: one fixed message of every type, encoded and compared
 *   byte for byte with tests/vectors/<name>.bin, decoded back and compared
 *   field by field, re-encoded to the same bytes. FS_WRITE_VECTORS=1
 *   rewrites the files instead (see tests/vectors/README.md).
 * - Malformed input: a table of named cases, each built with the small
 *   msgpack writer below, each expecting one specific error code; every
 *   truncation of every golden vector. FS_WRITE_CORPUS=DIR also saves the
 *   cases as fuzz seeds (tests/fuzz/corpus/msg).
 * - Size target: 1,000 visits with 2 commitments each as one sealed CHANGES
 *   frame, at most 1.3 times the bytes of the field values.
 * - The websocket fragment reassembler.
 */
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/attach.h"
#include "fieldsync/ctl.h"
#include "fieldsync/msg.h"
#include "fieldsync/schema.h"
#include "rng.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define FS_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FS_TEST_LSAN 1
#endif
#endif
#ifdef FS_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#ifndef FS_VECTORS_DIR
#error "FS_VECTORS_DIR must name tests/vectors"
#endif

/* Table and column indexes used below (core/schema.c). */
enum { T_CUSTOMER = 0, T_VISIT = 2, T_COMMITMENT = 3, T_COMPLAINT = 8, T_CONFLICT = 14 };
enum {
    VISIT_CUSTOMER = 1,
    VISIT_CONTACT,
    VISIT_POSITION,
    VISIT_TIME,
    VISIT_PLACE,
    VISIT_PURPOSE,
    VISIT_NOTES,
    VISIT_OBJECTIONS,
    VISIT_NEXT_STEPS,
    VISIT_VISITOR,
    VISIT_NCOLUMNS = 12
};
enum { COMMIT_VISIT = 1, COMMIT_CUSTOMER, COMMIT_TEXT, COMMIT_DUE, COMMIT_STATUS };
enum { COMPLAINT_OUTCOME = 5, COMPLAINT_SATISFACTION = 7 };

#define T(s) fs_text(s) /* s evaluated once: PICK() below is random */

/* ---- a tiny msgpack writer for hand-made (mostly malformed) input ---- */

typedef struct mp {
    uint8_t *b;
    size_t n, cap;
} mp;

static void mp_raw(mp *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *b = realloc(w->b, cap);
        if (b == NULL)
            FAIL("out of memory");
        w->b = b;
        w->cap = cap;
    }
    if (n > 0)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void mp_u8(mp *w, uint8_t c)
{
    mp_raw(w, &c, 1);
}

static void mp_be(mp *w, uint8_t tag, uint64_t v, int bytes)
{
    mp_u8(w, tag);
    for (int i = bytes - 1; i >= 0; i--)
        mp_u8(w, (uint8_t)(v >> (8 * i)));
}

static void mp_uint(mp *w, uint64_t v)
{
    if (v < 128)
        mp_u8(w, (uint8_t)v);
    else if (v <= UINT8_MAX)
        mp_be(w, 0xcc, v, 1);
    else if (v <= UINT16_MAX)
        mp_be(w, 0xcd, v, 2);
    else if (v <= UINT32_MAX)
        mp_be(w, 0xce, v, 4);
    else
        mp_be(w, 0xcf, v, 8);
}

static void mp_sint(mp *w, int64_t v)
{
    if (v >= 0)
        mp_uint(w, (uint64_t)v);
    else if (v >= -32)
        mp_u8(w, (uint8_t)(0xe0 | (v & 0x1f)));
    else if (v >= INT8_MIN)
        mp_be(w, 0xd0, (uint64_t)v, 1);
    else if (v >= INT16_MIN)
        mp_be(w, 0xd1, (uint64_t)v, 2);
    else if (v >= INT32_MIN)
        mp_be(w, 0xd2, (uint64_t)v, 4);
    else
        mp_be(w, 0xd3, (uint64_t)v, 8);
}

static void mp_arr(mp *w, uint32_t n)
{
    if (n < 16)
        mp_u8(w, (uint8_t)(0x90 | n));
    else if (n <= UINT16_MAX)
        mp_be(w, 0xdc, n, 2);
    else
        mp_be(w, 0xdd, n, 4);
}

static void mp_map(mp *w, uint32_t n)
{
    if (n < 16)
        mp_u8(w, (uint8_t)(0x80 | n));
    else
        mp_be(w, 0xdf, n, 4);
}

static void mp_str(mp *w, const void *s, size_t n)
{
    if (n < 32)
        mp_u8(w, (uint8_t)(0xa0 | n));
    else if (n <= UINT8_MAX)
        mp_be(w, 0xd9, n, 1);
    else if (n <= UINT16_MAX)
        mp_be(w, 0xda, n, 2);
    else
        mp_be(w, 0xdb, n, 4);
    mp_raw(w, s, n);
}

static void mp_cstr(mp *w, const char *s)
{
    mp_str(w, s, strlen(s));
}

static void mp_bin(mp *w, const void *p, size_t n)
{
    if (n <= UINT8_MAX)
        mp_be(w, 0xc4, n, 1);
    else if (n <= UINT16_MAX)
        mp_be(w, 0xc5, n, 2);
    else
        mp_be(w, 0xc6, n, 4);
    mp_raw(w, p, n);
}

static void mp_nil(mp *w)
{
    mp_u8(w, 0xc0);
}

static void mp_bool(mp *w, int v)
{
    mp_u8(w, v ? 0xc3 : 0xc2);
}

static void mp_f64(mp *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    mp_be(w, 0xcb, u, 8);
}

/* ---- fixed ids, keys and clocks ---- */

/* Deterministic "random-looking" bytes: the same for every run and build. */
static void fixed_bytes(uint8_t *out, size_t n, uint64_t seed)
{
    rng g = {seed};
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(rng_next(&g) >> 56);
}

/* 2023-10-10 14:05:00 +08:00 in ms since the epoch, as an HLC. */
#define MS_BASE                1696917900000ull
#define HLC(ms_after, counter) (((MS_BASE + (ms_after)) << 16) | (counter))

static uint8_t DEV_A[16], DEV_B[16], ROW_VISIT[16], ROW_VISIT2[16], ROW_COMMIT[16],
    ROW_COMPLAINT[16], ROW_CONFLICT[16], ROW_CUSTOMER[16], ROW_CUSTOMER2[16];
static uint8_t EPH_C[32], EPH_S[32], SERVER_PK[32], DEVICE_PK[32], SIG1[64], SIG2[64], SEALED[144];

static void fixed_init(void)
{
    fixed_bytes(DEV_A, 16, 0xa1);
    fixed_bytes(DEV_B, 16, 0xb2);
    fixed_bytes(ROW_VISIT, 16, 0x1001);
    fixed_bytes(ROW_VISIT2, 16, 0x1002);
    fixed_bytes(ROW_COMMIT, 16, 0x1003);
    fixed_bytes(ROW_COMPLAINT, 16, 0x1004);
    fixed_bytes(ROW_CONFLICT, 16, 0x1005);
    fixed_bytes(ROW_CUSTOMER, 16, 0x1006);
    fixed_bytes(ROW_CUSTOMER2, 16, 0x1007);
    fixed_bytes(EPH_C, 32, 0x2001);
    fixed_bytes(EPH_S, 32, 0x2002);
    fixed_bytes(SERVER_PK, 32, 0x2003);
    fixed_bytes(DEVICE_PK, 32, 0x2004);
    fixed_bytes(SIG1, 64, 0x2005);
    fixed_bytes(SIG2, 64, 0x2006);
    fixed_bytes(SEALED, sizeof SEALED, 0x2007); /* 48 bytes of box + a 96-byte request */
}

static fs_change mkchange(uint16_t table, const uint8_t row[16], uint16_t column, fs_value v,
                          uint64_t hlc, const uint8_t dev[16], uint64_t prev_hlc,
                          const uint8_t prev_dev[16])
{
    fs_change c;
    memset(&c, 0, sizeof c);
    c.table = table;
    c.column = column;
    memcpy(c.row, row, 16);
    c.value = v;
    c.version.hlc = hlc;
    memcpy(c.version.device, dev, 16);
    c.prev.hlc = prev_hlc;
    if (prev_hlc != 0)
        memcpy(c.prev.device, prev_dev, 16);
    return c;
}

/* ---- the golden messages ---- */

#define NGOLDEN 15
static const char *const golden_names[NGOLDEN] = {"hello", "welcome", "auth",   "enroll", "ready",
                                                  "push",  "ack",     "reject", "pull",   "changes",
                                                  "poke",  "purge",   "wipe",   "error",  "bye"};

/* The number of the first table this build does not know. */
static unsigned past_last_table(void)
{
    unsigned nt;
    (void)fs_schema_tables(&nt);
    return nt;
}

static fs_change push_changes[17];
static size_t push_count;
static fs_change changes_changes[24];
static size_t changes_count;
static fs_reject_item reject_items[2];
static fs_purge_item purge_items[3];

static const char REJECT_TEXT1[] = "outside the writer's scope: visit of another team";
static const char REJECT_TEXT2[] = "滿意度 (satisfaction) must be 1-5";
static const char ERROR_TEXT[] = "clock too far ahead: 時鐘超前 412 s";

static void build_batches(void)
{
    const uint64_t h1 = HLC(0, 0), h_c = HLC(0, 1), h2 = HLC(3600000, 0), h3 = HLC(7260000, 0),
                   h4 = HLC(7260000, 1), h_k = HLC(86400000, 3), h_k2 = HLC(90000000, 0);
    size_t n = 0;
    fs_change *p = push_changes;
    /* This device (A) records a visit: one write, prev 0. */
    p[n++] =
        mkchange(T_VISIT, ROW_VISIT, VISIT_CUSTOMER, fs_blob(ROW_CUSTOMER, 16), h1, DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_CONTACT, T("王經理"), h1, DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_POSITION, T("采購總監 (purchasing director)"), h1,
                      DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_TIME, T("2023-10-10 14:00"), h1, DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_PLACE, T("客戶會議室"), h1, DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_PURPOSE, T("跟進XX項目需求，介紹定制方案"), h1,
                      DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_NOTES,
                      T("1. uses a competitor, finds it complex; 2. 重視穩定性和售後響應; "
                        "3. budget 50-80萬"),
                      h1, DEV_A, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_VISITOR, T("張某"), h1, DEV_A, 0, NULL);
    /* Its commitment, in the same minute. */
    p[n++] = mkchange(T_COMMITMENT, ROW_COMMIT, COMMIT_VISIT, fs_blob(ROW_VISIT, 16), h_c, DEV_A, 0,
                      NULL);
    p[n++] = mkchange(T_COMMITMENT, ROW_COMMIT, COMMIT_TEXT, T("2天內發送3個同類客戶成功案例"), h_c,
                      DEV_A, 0, NULL);
    p[n++] = mkchange(T_COMMITMENT, ROW_COMMIT, COMMIT_DUE, T("2023-10-12"), h_c, DEV_A, 0, NULL);
    p[n++] = mkchange(T_COMMITMENT, ROW_COMMIT, COMMIT_STATUS, T("open"), h_c, DEV_A, 0, NULL);
    /* Later A edits next steps over a version B wrote, and clears the
     * objections it wrote itself. */
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_NEXT_STEPS,
                      T("send cases and SLA by Oct 12; demo Oct 15"), h3, DEV_A, h2, DEV_B);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_OBJECTIONS, fs_null(), h4, DEV_A, h1, DEV_A);
    /* A complaint outcome: an int and an empty text over B's versions. */
    p[n++] = mkchange(T_COMPLAINT, ROW_COMPLAINT, COMPLAINT_SATISFACTION, fs_int(4), h_k, DEV_A,
                      h_k - 5, DEV_B);
    p[n++] =
        mkchange(T_COMPLAINT, ROW_COMPLAINT, COMPLAINT_OUTCOME, T(""), h_k, DEV_A, h_k - 5, DEV_B);
    p[n++] = mkchange(T_COMMITMENT, ROW_COMMIT, COMMIT_STATUS, T("done"), h_k2, DEV_A, h_c, DEV_A);
    push_count = n;

    /* What the server sends another device: B's visit, A's writes and a
     * conflict record with a real, a negative int, blobs and ints. */
    n = 0;
    p = changes_changes;
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_CUSTOMER, fs_blob(ROW_CUSTOMER2, 16), h2, DEV_B, 0,
                      NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_CONTACT, T("Mr. Li 李先生"), h2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_TIME, T("2023-10-10 16:30"), h2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_PLACE, T("深圳南山辦公室 (Shenzhen office)"), h2,
                      DEV_B, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_PURPOSE, T("demo of the offline sync"), h2, DEV_B,
                      0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_NOTES, T("想要更簡單的流程; IT asks for SSO"), h2,
                      DEV_B, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT2, VISIT_OBJECTIONS, fs_null(), h2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_VISIT, ROW_VISIT, VISIT_NEXT_STEPS,
                      T("send cases and SLA by Oct 12; demo Oct 15"), h3, DEV_A, h2, DEV_B);
    p[n++] = mkchange(T_COMPLAINT, ROW_COMPLAINT, COMPLAINT_SATISFACTION, fs_int(4), h_k, DEV_A,
                      h_k - 5, DEV_B);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 1, fs_int(T_COMPLAINT), h_k2, DEV_B, 0, NULL);
    p[n++] =
        mkchange(T_CONFLICT, ROW_CONFLICT, 2, fs_blob(ROW_COMPLAINT, 16), h_k2, DEV_B, 0, NULL);
    p[n++] =
        mkchange(T_CONFLICT, ROW_CONFLICT, 3, fs_int(COMPLAINT_SATISFACTION), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 4, fs_real(4.5), h_k2, DEV_B, 0, NULL);
    p[n++] =
        mkchange(T_CONFLICT, ROW_CONFLICT, 5, fs_int((int64_t)(h_k - 5)), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 6, fs_blob(DEV_B, 16), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 7, fs_int(-1), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 8, fs_int((int64_t)h_k), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 9, fs_blob(DEV_A, 16), h_k2, DEV_B, 0, NULL);
    p[n++] = mkchange(T_CONFLICT, ROW_CONFLICT, 10, fs_int(0), h_k2, DEV_B, 0, NULL);
    changes_count = n;

    reject_items[0].table = T_VISIT;
    reject_items[0].column = VISIT_TIME;
    memcpy(reject_items[0].row, ROW_VISIT2, 16);
    reject_items[0].hlc = h2;
    reject_items[0].reason = FS_REASON_SCOPE;
    reject_items[0].text = REJECT_TEXT1;
    reject_items[0].text_len = strlen(REJECT_TEXT1);
    reject_items[1].table = T_COMPLAINT;
    reject_items[1].column = COMPLAINT_SATISFACTION;
    memcpy(reject_items[1].row, ROW_COMPLAINT, 16);
    reject_items[1].hlc = h_k;
    reject_items[1].reason = FS_REASON_INVALID;
    reject_items[1].text = REJECT_TEXT2;
    reject_items[1].text_len = strlen(REJECT_TEXT2);

    purge_items[0].table = T_VISIT;
    memcpy(purge_items[0].row, ROW_VISIT, 16);
    purge_items[1].table = T_COMMITMENT;
    memcpy(purge_items[1].row, ROW_COMMIT, 16);
    purge_items[2].table = T_CUSTOMER;
    memcpy(purge_items[2].row, ROW_CUSTOMER, 16);
}

static void golden_msg(int i, fs_msg *m)
{
    memset(m, 0, sizeof *m);
    switch (i) {
    case 0:
        m->type = FS_MSG_HELLO;
        m->u.hello.vmin = 1;
        m->u.hello.vmax = 1;
        memcpy(m->u.hello.eph, EPH_C, 32);
        break;
    case 1:
        m->type = FS_MSG_WELCOME;
        m->u.welcome.version = 1;
        memcpy(m->u.welcome.eph, EPH_S, 32);
        memcpy(m->u.welcome.server_pk, SERVER_PK, 32);
        memcpy(m->u.welcome.sig, SIG1, 64);
        break;
    case 2:
        m->type = FS_MSG_AUTH;
        memcpy(m->u.auth.device_pk, DEVICE_PK, 32);
        memcpy(m->u.auth.sig, SIG2, 64);
        break;
    case 3:
        m->type = FS_MSG_ENROLL;
        memcpy(m->u.enroll.device_pk, DEVICE_PK, 32);
        memcpy(m->u.enroll.sig, SIG2, 64);
        m->u.enroll.sealed = SEALED;
        m->u.enroll.sealed_len = sizeof SEALED;
        break;
    case 4:
        m->type = FS_MSG_READY;
        m->u.ready.server_time_ms = MS_BASE + 12345;
        m->u.ready.lease_expires_ms = MS_BASE + 12345 + 7ull * 86400000;
        break;
    case 5:
        m->type = FS_MSG_PUSH;
        m->u.push.first_seq = 1037;
        m->u.push.last_seq = 1053;
        m->u.push.changes = push_changes;
        m->u.push.count = push_count;
        break;
    case 6:
        m->type = FS_MSG_ACK;
        m->u.ack.upto_seq = 1053;
        break;
    case 7:
        m->type = FS_MSG_REJECT;
        m->u.reject.items = reject_items;
        m->u.reject.count = 2;
        break;
    case 8:
        m->type = FS_MSG_PULL;
        m->u.pull.cursor = 48213;
        m->u.pull.max = 5000;
        m->u.pull.local_seq = 17;
        m->u.pull.oldest_pending_ms = 1696918200000ull;
        break;
    case 9:
        m->type = FS_MSG_CHANGES;
        m->u.changes.cursor = 48232;
        m->u.changes.more = 1;
        m->u.changes.changes = changes_changes;
        m->u.changes.count = changes_count;
        break;
    case 10:
        m->type = FS_MSG_POKE;
        m->u.poke.cursor = 48260;
        break;
    case 11:
        m->type = FS_MSG_PURGE;
        m->u.purge.items = purge_items;
        m->u.purge.count = 3;
        break;
    case 12:
        m->type = FS_MSG_WIPE;
        m->u.wipe.reason = FS_REASON_REVOKED;
        break;
    case 13:
        m->type = FS_MSG_ERROR;
        m->u.error.reason = FS_REASON_CLOCK;
        m->u.error.text = ERROR_TEXT;
        m->u.error.text_len = strlen(ERROR_TEXT);
        break;
    case 14:
        m->type = FS_MSG_BYE;
        break;
    default:
        FAIL("no golden message %d", i);
    }
}

static void setup(void)
{
    if (sodium_init() < 0)
        FAIL("sodium_init failed");
    fixed_init();
    build_batches();
}

/* ---- comparisons ---- */

static void check_value(const fs_value *a, const fs_value *b, const char *what)
{
    if (a->type != b->type)
        FAIL("%s: value type %d != %d", what, (int)a->type, (int)b->type);
    switch (a->type) {
    case FS_NULL:
        break;
    case FS_INT:
        if (a->i != b->i)
            FAIL("%s: int %" PRId64 " != %" PRId64, what, a->i, b->i);
        break;
    case FS_REAL:
        if (memcmp(&a->r, &b->r, sizeof a->r) != 0)
            FAIL("%s: real %.17g != %.17g", what, a->r, b->r);
        break;
    case FS_TEXT:
    case FS_BLOB:
        if (a->n != b->n || (a->n > 0 && memcmp(a->p, b->p, a->n) != 0))
            FAIL("%s: %zu bytes \"%.*s\" != %zu bytes \"%.*s\"", what, a->n, (int)a->n,
                 a->type == FS_TEXT ? (const char *)a->p : "(blob)", b->n, (int)b->n,
                 b->type == FS_TEXT ? (const char *)b->p : "(blob)");
        break;
    }
}

static int change_key_cmp(const void *x, const void *y)
{
    const fs_change *a = *(const fs_change *const *)x, *b = *(const fs_change *const *)y;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    int c = memcmp(a->row, b->row, 16);
    if (c != 0)
        return c;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    return fs_version_cmp(&a->version, &b->version);
}

/* The same multiset of changes, whatever their order. */
static void check_batch(const fs_change *a, size_t na, const fs_change *b, size_t nb)
{
    CHECK_EQ_INT(na, nb);
    const fs_change **sa = calloc(na + 1, sizeof *sa), **sb = calloc(nb + 1, sizeof *sb);
    CHECK(sa != NULL && sb != NULL);
    for (size_t i = 0; i < na; i++) {
        sa[i] = &a[i];
        sb[i] = &b[i];
    }
    qsort(sa, na, sizeof *sa, change_key_cmp);
    qsort(sb, nb, sizeof *sb, change_key_cmp);
    for (size_t i = 0; i < na; i++) {
        const fs_change *x = sa[i], *y = sb[i];
        char what[64];
        snprintf(what, sizeof what, "change %zu (table %u column %u)", i, x->table, x->column);
        if (change_key_cmp(&sa[i], &sb[i]) != 0)
            FAIL("%s: key differs from table %u column %u", what, y->table, y->column);
        check_value(&x->value, &y->value, what);
        if (x->prev.hlc != y->prev.hlc)
            FAIL("%s: prev hlc %" PRIu64 " != %" PRIu64, what, x->prev.hlc, y->prev.hlc);
        if (memcmp(x->prev.device, y->prev.device, 16) != 0)
            FAIL("%s: prev device differs", what);
    }
    free(sa);
    free(sb);
}

static void check_msg(const fs_msg *a, const fs_msg *b)
{
    CHECK_EQ_INT(a->type, b->type);
    switch (a->type) {
    case FS_MSG_HELLO:
        CHECK_EQ_INT(a->u.hello.vmin, b->u.hello.vmin);
        CHECK_EQ_INT(a->u.hello.vmax, b->u.hello.vmax);
        CHECK_MEM(a->u.hello.eph, b->u.hello.eph, 32);
        break;
    case FS_MSG_WELCOME:
        CHECK_EQ_INT(a->u.welcome.version, b->u.welcome.version);
        CHECK_MEM(a->u.welcome.eph, b->u.welcome.eph, 32);
        CHECK_MEM(a->u.welcome.server_pk, b->u.welcome.server_pk, 32);
        CHECK_MEM(a->u.welcome.sig, b->u.welcome.sig, 64);
        break;
    case FS_MSG_AUTH:
        CHECK_MEM(a->u.auth.device_pk, b->u.auth.device_pk, 32);
        CHECK_MEM(a->u.auth.sig, b->u.auth.sig, 64);
        break;
    case FS_MSG_POLICY_ASK:
    case FS_MSG_ENROLL:
        CHECK_MEM(a->u.enroll.device_pk, b->u.enroll.device_pk, 32);
        CHECK_MEM(a->u.enroll.sig, b->u.enroll.sig, 64);
        CHECK_EQ_INT(a->u.enroll.sealed_len, b->u.enroll.sealed_len);
        CHECK_MEM(a->u.enroll.sealed, b->u.enroll.sealed, a->u.enroll.sealed_len);
        break;
    case FS_MSG_READY:
        CHECK(a->u.ready.server_time_ms == b->u.ready.server_time_ms);
        CHECK(a->u.ready.lease_expires_ms == b->u.ready.lease_expires_ms);
        break;
    case FS_MSG_PUSH:
        CHECK(a->u.push.first_seq == b->u.push.first_seq);
        CHECK(a->u.push.last_seq == b->u.push.last_seq);
        check_batch(a->u.push.changes, a->u.push.count, b->u.push.changes, b->u.push.count);
        break;
    case FS_MSG_ACK:
        CHECK(a->u.ack.upto_seq == b->u.ack.upto_seq);
        CHECK_EQ_INT(a->u.ack.nrestamps, b->u.ack.nrestamps);
        for (size_t i = 0; i < a->u.ack.nrestamps && i < b->u.ack.nrestamps; i++)
            CHECK(a->u.ack.restamps[i].sent == b->u.ack.restamps[i].sent &&
                  a->u.ack.restamps[i].given == b->u.ack.restamps[i].given);
        break;
    case FS_MSG_REJECT:
        CHECK_EQ_INT(a->u.reject.count, b->u.reject.count);
        for (size_t i = 0; i < a->u.reject.count; i++) {
            const fs_reject_item *x = &a->u.reject.items[i], *y = &b->u.reject.items[i];
            CHECK_EQ_INT(x->table, y->table);
            CHECK_EQ_INT(x->column, y->column);
            CHECK_MEM(x->row, y->row, 16);
            CHECK(x->hlc == y->hlc);
            CHECK_EQ_INT(x->reason, y->reason);
            CHECK_EQ_INT(x->text_len, y->text_len);
            CHECK_MEM(x->text, y->text, x->text_len);
        }
        break;
    case FS_MSG_PULL:
        CHECK(a->u.pull.cursor == b->u.pull.cursor);
        CHECK_EQ_INT(a->u.pull.max, b->u.pull.max);
        CHECK(a->u.pull.local_seq == b->u.pull.local_seq);
        CHECK(a->u.pull.oldest_pending_ms == b->u.pull.oldest_pending_ms);
        break;
    case FS_MSG_CHANGES:
        CHECK(a->u.changes.cursor == b->u.changes.cursor);
        CHECK_EQ_INT(!!a->u.changes.more, !!b->u.changes.more);
        check_batch(a->u.changes.changes, a->u.changes.count, b->u.changes.changes,
                    b->u.changes.count);
        break;
    case FS_MSG_POKE:
        CHECK(a->u.poke.cursor == b->u.poke.cursor);
        break;
    case FS_MSG_PURGE:
        CHECK_EQ_INT(a->u.purge.count, b->u.purge.count);
        for (size_t i = 0; i < a->u.purge.count; i++) {
            CHECK_EQ_INT(a->u.purge.items[i].table, b->u.purge.items[i].table);
            CHECK_MEM(a->u.purge.items[i].row, b->u.purge.items[i].row, 16);
        }
        break;
    case FS_MSG_WIPE:
        CHECK_EQ_INT(a->u.wipe.reason, b->u.wipe.reason);
        break;
    case FS_MSG_ERROR:
        CHECK_EQ_INT(a->u.error.reason, b->u.error.reason);
        CHECK_EQ_INT(a->u.error.text_len, b->u.error.text_len);
        CHECK_MEM(a->u.error.text, b->u.error.text, a->u.error.text_len);
        break;
    case FS_MSG_BYE:
    case FS_MSG_FORKED:
        break;
    case FS_MSG_TIP:
        CHECK(a->u.tip.acked_seq == b->u.tip.acked_seq);
        CHECK(a->u.tip.hlc == b->u.tip.hlc);
        CHECK_MEM(a->u.tip.row, b->u.tip.row, 16);
        break;
    case FS_MSG_POLICY:
        CHECK_EQ_INT(a->u.policy.min_chars, b->u.policy.min_chars);
        CHECK_EQ_INT(a->u.policy.min_words, b->u.policy.min_words);
        CHECK_EQ_INT(a->u.policy.team_len, b->u.policy.team_len);
        if (a->u.policy.team_len > 0)
            CHECK_MEM(a->u.policy.team, b->u.policy.team, a->u.policy.team_len);
        break;
    case FS_MSG_FORK:
        CHECK_MEM(a->u.fork.new_pk, b->u.fork.new_pk, 32);
        CHECK_MEM(a->u.fork.old_sig, b->u.fork.old_sig, 64);
        CHECK_MEM(a->u.fork.new_sig, b->u.fork.new_sig, 64);
        break;
    case FS_MSG_ATT_ASK:
    case FS_MSG_ATT_NEED:
    case FS_MSG_ATT_CHUNK:
    case FS_MSG_ATT_GET:
        CHECK_MEM(a->u.att.hash, b->u.att.hash, FS_ATT_HASH_BYTES);
        CHECK_EQ_INT(a->u.att.status, b->u.att.status);
        CHECK_EQ_INT(a->u.att.count, b->u.att.count);
        for (size_t i = 0; i < a->u.att.count && i < b->u.att.count; i++)
            CHECK_EQ_INT(a->u.att.idx[i], b->u.att.idx[i]);
        CHECK_EQ_INT(a->u.att.index, b->u.att.index);
        CHECK_EQ_INT(a->u.att.len, b->u.att.len);
        if (a->u.att.len == b->u.att.len && a->u.att.len > 0)
            CHECK_MEM(a->u.att.data, b->u.att.data, a->u.att.len);
        break;
    }
}

static void dump_diff(const char *name, const uint8_t *want, size_t wn, const uint8_t *got,
                      size_t gn)
{
    size_t i = 0;
    while (i < wn && i < gn && want[i] == got[i])
        i++;
    fprintf(stderr, "%s: %zu bytes in the vector, %zu encoded; first difference at %zu\n", name, wn,
            gn, i);
    size_t from = i >= 8 ? i - 8 : 0;
    fprintf(stderr, "  vector :");
    for (size_t k = from; k < wn && k < i + 16; k++)
        fprintf(stderr, " %02x", want[k]);
    fprintf(stderr, "\n  encoded:");
    for (size_t k = from; k < gn && k < i + 16; k++)
        fprintf(stderr, " %02x", got[k]);
    fputc('\n', stderr);
}

static void vector_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s.bin", FS_VECTORS_DIR, name);
}

/* test.h ends each test's child with _exit(), which skips LeakSanitizer's
 * check at exit: each test runs it itself (ASan builds only). */
static void leak_check(void)
{
#ifdef FS_TEST_LSAN
    __lsan_do_leak_check();
#endif
}

/* ---- tests ---- */

static void test_reason_text(void)
{
    CHECK_STR(fs_reason_text(FS_REASON_MALFORMED), "malformed message");
    CHECK_STR(fs_reason_text(FS_REASON_AUTH), "authentication failed");
    CHECK_STR(fs_reason_text(FS_REASON_INTERNAL), "internal error");
    for (uint32_t r = 0; r < 40; r++)
        CHECK(fs_reason_text(r) != NULL);
    CHECK(fs_reason_text(UINT32_MAX) != NULL);
    leak_check();
}

static void test_default_limits(void)
{
    const fs_proto_limits *l = &fs_proto_default_limits;
    CHECK_EQ_INT(l->max_frame, 16u << 20);
    CHECK_EQ_INT(l->max_changes, 50000);
    CHECK_EQ_INT(l->max_rows, 20000);
    CHECK_EQ_INT(l->max_devices, 4096);
    CHECK_EQ_INT(l->max_bytes, FS_MAX_BLOB);
    CHECK_EQ_INT(l->max_depth, 6);
    CHECK_EQ_INT(l->max_items, 50000);
    leak_check();
}

/* Encodes every golden message and compares (or, with FS_WRITE_VECTORS=1,
 * writes) tests/vectors/<name>.bin. */
static void test_golden_encode(void)
{
    setup();
    const char *env = getenv("FS_WRITE_VECTORS");
    int write = env != NULL && strcmp(env, "1") == 0;
    for (int i = 0; i < NGOLDEN; i++) {
        fs_msg m;
        golden_msg(i, &m);
        fs_buf b;
        fs_buf_init(&b);
        CHECK_OK(fs_msg_encode(&m, &b));
        CHECK(b.len < 2048);
        char path[1024];
        vector_path(path, sizeof path, golden_names[i]);
        if (write) {
            test_write_file(path, b.data, b.len);
            printf("wrote %s (%zu bytes)\n", path, b.len);
        } else {
            size_t n;
            unsigned char *want = test_read_file(path, &n);
            if (want == NULL)
                FAIL("%s is missing: run with FS_WRITE_VECTORS=1 once the codec is right", path);
            if (n != b.len || memcmp(want, b.data, n) != 0) {
                dump_diff(golden_names[i], want, n, b.data, b.len);
                FAIL("%s: the encoding changed (FS_WRITE_VECTORS=1 rewrites the vectors "
                     "only if the change is intended)",
                     golden_names[i]);
            }
            free(want);
        }
        fs_buf_free(&b);
    }
    if (write)
        printf("FS_WRITE_VECTORS=1: wrote %d vectors instead of comparing\n", NGOLDEN);
    else
        printf("%d golden vectors match\n", NGOLDEN);
    leak_check();
}

/* Decodes every vector file: the same message, and the same bytes again. */
static void test_golden_decode(void)
{
    setup();
    for (int i = 0; i < NGOLDEN; i++) {
        char path[1024];
        vector_path(path, sizeof path, golden_names[i]);
        size_t n;
        unsigned char *bytes = test_read_file(path, &n);
        if (bytes == NULL)
            FAIL("%s is missing", path);
        fs_msg want, *got = NULL;
        golden_msg(i, &want);
        char why[128] = "";
        int rc = fs_msg_decode(bytes, n, &fs_proto_default_limits, &got, why, sizeof why);
        if (rc != 0)
            FAIL("%s: decode returned %s (%s)", golden_names[i], fs_errname(rc), why);
        CHECK(got != NULL);
        check_msg(&want, got);
        fs_buf b;
        fs_buf_init(&b);
        CHECK_OK(fs_msg_encode(got, &b));
        if (b.len != n || memcmp(b.data, bytes, n) != 0) {
            dump_diff(golden_names[i], bytes, n, b.data, b.len);
            FAIL("%s: re-encoding the decoded message gives other bytes", golden_names[i]);
        }
        fs_buf_free(&b);
        fs_msg_free(got);
        free(bytes);
    }
    fs_msg_free(NULL);
    leak_check();
}

/* READY naming the device's user (protocol version 3): its own golden
 * vector, tests/vectors/ready_v3.bin; for a session of version 1 or 2 the
 * same message encodes to ready.bin byte for byte (the published decoders
 * want exactly three fields); both decode back; every prefix is refused. */
static void test_golden_ready_v3(void)
{
    setup();
    fs_msg m;
    golden_msg(4, &m);
    m.u.ready.user = "张伟";
    m.u.ready.user_len = strlen("张伟");
    m.u.ready.team = "华东 east";
    m.u.ready.team_len = strlen("华东 east");
    char path[1024], old[1024];
    vector_path(path, sizeof path, "ready_v3");
    vector_path(old, sizeof old, "ready");
    fs_buf b;
    fs_buf_init(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_USER, &b));
    const char *env = getenv("FS_WRITE_VECTORS");
    if (env != NULL && strcmp(env, "1") == 0)
        test_write_file(path, b.data, b.len);
    size_t n, on;
    unsigned char *want = test_read_file(path, &n);
    unsigned char *wold = test_read_file(old, &on);
    if (want == NULL || wold == NULL)
        FAIL("%s or %s is missing", path, old);
    if (n != b.len || memcmp(want, b.data, n) != 0) {
        dump_diff("ready_v3", want, n, b.data, b.len);
        FAIL("ready_v3: the encoding changed");
    }
    for (uint32_t v = 1; v < FS_PROTO_VERSION_USER; v++) {
        fs_buf_reset(&b);
        CHECK_OK(fs_msg_encode_v(&m, v, &b));
        if (on != b.len || memcmp(wold, b.data, on) != 0)
            FAIL("READY for a version %u peer is not ready.bin", v);
    }
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(want, n, &fs_proto_default_limits, &got, NULL, 0));
    CHECK(got->u.ready.server_time_ms == m.u.ready.server_time_ms);
    CHECK(got->u.ready.lease_expires_ms == m.u.ready.lease_expires_ms);
    CHECK_EQ_INT(got->u.ready.user_len, m.u.ready.user_len);
    CHECK_MEM(got->u.ready.user, m.u.ready.user, m.u.ready.user_len);
    CHECK_EQ_INT(got->u.ready.team_len, m.u.ready.team_len);
    CHECK_MEM(got->u.ready.team, m.u.ready.team, m.u.ready.team_len);
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(got, FS_PROTO_VERSION_USER, &b));
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);
    fs_msg_free(got);
    for (size_t k = 0; k < n; k++) {
        unsigned char *cut = malloc(k ? k : 1);
        CHECK(cut != NULL);
        memcpy(cut, want, k);
        got = NULL;
        CHECK(fs_msg_decode(cut, k, &fs_proto_default_limits, &got, NULL, 0) == FS_EMALFORMED);
        CHECK(got == NULL);
        free(cut);
    }
    /* From version 4 the role follows; to version 3 it is left out. */
    m.u.ready.role = FS_READY_ROLE_MANAGER;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_ROLE, &b));
    CHECK_EQ_INT(b.len, n + 1); /* one more field, one byte */
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.ready.role, FS_READY_ROLE_MANAGER);
    CHECK_MEM(got->u.ready.user, m.u.ready.user, m.u.ready.user_len);
    fs_msg_free(got);
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_USER, &b));
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);
    m.u.ready.role = 7; /* the encoder refuses a role the decoder would */
    fs_buf_reset(&b);
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_ROLE, &b) == FS_EINVAL);
    m.u.ready.role = FS_READY_ROLE_REP;
    /* The encoder refuses a user the decoder would. */
    char longname[FS_USER_MAX + 1];
    memset(longname, 'a', sizeof longname);
    m.u.ready.user = longname;
    m.u.ready.user_len = sizeof longname;
    fs_buf_reset(&b);
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_USER, &b) == FS_EINVAL);
    CHECK_EQ_INT(b.len, 0);
    m.u.ready.user_len = 0;
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_USER, &b) == FS_EINVAL);
    fs_buf_free(&b);
    free(want);
    free(wold);
    leak_check();
}

/* PULL from protocol version 4 on carries the device's open refusals; to
 * an older peer it is the five fields that peer's decoder wants. */
static void test_pull_open_refusals(void)
{
    setup();
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = 52;
    m.u.pull.max = 500;
    m.u.pull.local_seq = 360;
    m.u.pull.oldest_pending_ms = 1764900000000ull;
    m.u.pull.has_refusals = 1;
    m.u.pull.refusals = 78;
    m.u.pull.refusal_reason = 12;
    fs_buf b, old;
    fs_buf_init(&b);
    fs_buf_init(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_OPEN_REFUSALS, &b));
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.pull.has_refusals, 1);
    CHECK_EQ_INT(got->u.pull.refusals, 78);
    CHECK_EQ_INT(got->u.pull.refusal_reason, 12);
    CHECK_EQ_INT(got->u.pull.local_seq, 360);
    fs_msg_free(got);
    /* to a version 3 peer: the old shape, byte for byte */
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_OPEN_REFUSALS - 1, &b));
    m.u.pull.has_refusals = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_OPEN_REFUSALS, &old));
    CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.pull.has_refusals, 0);
    CHECK_EQ_INT(got->u.pull.refusals, 0);
    CHECK_EQ_INT(got->u.pull.oldest_pending_ms, 1764900000000ull);
    fs_msg_free(got);
    fs_buf_free(&b);
    fs_buf_free(&old);
    leak_check();
}

/* READY, PULL and CHANGES of protocol version 5 (issue 25.2): the feed's
 * epoch and dev_acked, the cursor's tag, the re-sync order; to a peer of
 * version 4 or older each is the old shape byte for byte. */
static void test_restore_fields(void)
{
    setup();
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_READY;
    m.u.ready.server_time_ms = 1764900000000ull;
    m.u.ready.lease_expires_ms = 1765500000000ull;
    m.u.ready.user = "zhang";
    m.u.ready.user_len = 5;
    m.u.ready.team = "north";
    m.u.ready.team_len = 5;
    m.u.ready.role = FS_READY_ROLE_REP;
    fs_buf b, old;
    fs_buf_init(&b);
    fs_buf_init(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_ROLE, &old));
    m.u.ready.has_epoch = 1;
    memset(m.u.ready.epoch, 0xab, sizeof m.u.ready.epoch);
    m.u.ready.dev_acked = 1234567;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH, &b));
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.ready.has_epoch, 1);
    CHECK_MEM(got->u.ready.epoch, m.u.ready.epoch, FS_FEED_EPOCH_BYTES);
    CHECK_EQ_INT(got->u.ready.dev_acked, 1234567);
    CHECK_EQ_INT(got->u.ready.role, FS_READY_ROLE_REP);
    fs_msg_free(got);
    for (uint32_t v = FS_PROTO_VERSION_MIN; v < FS_PROTO_VERSION_EPOCH; v++) {
        fs_buf_reset(&b);
        fs_buf_reset(&old);
        CHECK_OK(fs_msg_encode_v(&m, v, &b));
        m.u.ready.has_epoch = 0;
        CHECK_OK(fs_msg_encode_v(&m, v, &old));
        m.u.ready.has_epoch = 1;
        CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);
    }
    /* a version 4 READY decodes without an epoch */
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.ready.has_epoch, 0);
    fs_msg_free(got);

    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = 52;
    m.u.pull.max = 500;
    m.u.pull.has_refusals = 1;
    m.u.pull.has_tag = 1;
    m.u.pull.cursor_tag = 0xfedcba9876543210ull;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH, &b));
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.pull.has_tag, 1);
    CHECK(got->u.pull.cursor_tag == 0xfedcba9876543210ull);
    CHECK_EQ_INT(got->u.pull.has_clock, 0);
    fs_msg_free(got);
    /* the device's own clock rides after the tag (issue 23) */
    m.u.pull.has_clock = 1;
    m.u.pull.wall_ms = 1796000000123ull;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_CLOCK_REPORT, &b));
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.pull.has_clock, 1);
    CHECK(got->u.pull.wall_ms == 1796000000123ull);
    CHECK(got->u.pull.cursor_tag == 0xfedcba9876543210ull);
    fs_msg_free(got);
    m.u.pull.has_clock = 0;
    fs_buf_reset(&b);
    fs_buf_reset(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH - 1, &b));
    m.u.pull.has_tag = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH - 1, &old));
    CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);

    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.more = 1;
    m.u.changes.has_tag = 1;
    m.u.changes.resync = 1;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH, &b));
    got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.changes.resync, 1);
    CHECK_EQ_INT(got->u.changes.has_tag, 1);
    fs_msg_free(got);
    /* an older peer cannot be told to re-sync */
    fs_buf_reset(&b);
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH - 1, &b) == FS_EINVAL);
    m.u.changes.resync = 0;
    m.u.changes.cursor = 9;
    m.u.changes.cursor_tag = 77;
    fs_buf_reset(&b);
    fs_buf_reset(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH - 1, &b));
    m.u.changes.has_tag = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EPOCH - 1, &old));
    CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);
    fs_buf_free(&b);
    fs_buf_free(&old);
    leak_check();
}

/* ACK's restamps (issue 23): written for a version-4 peer only, the
 * encoder refusing them for an older one (whose decoder wants two fields);
 * an ACK without restamps keeps the old shape in every version. */
static void test_ack_restamps(void)
{
    setup();
    fs_restamp pairs[2] = {{0x0193000000000000ull, 0x0192000000000000ull},
                           {0x0193000000010000ull, 0x0192000000000001ull}};
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_ACK;
    m.u.ack.upto_seq = 9;
    m.u.ack.restamps = pairs;
    m.u.ack.nrestamps = 2;
    fs_buf b, old;
    fs_buf_init(&b);
    fs_buf_init(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESTAMP, &b));
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    check_msg(&m, got);
    fs_msg_free(got);
    fs_buf_reset(&b);
    CHECK_ERR(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESTAMP - 1, &b), FS_EINVAL);
    pairs[1].given = 0;
    fs_buf_reset(&b);
    CHECK_ERR(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESTAMP, &b), FS_EINVAL);
    m.u.ack.nrestamps = 0;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESTAMP, &b));
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESTAMP - 1, &old));
    CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);
    CHECK_EQ_INT(b.len, 3); /* [11, 9] */
    fs_buf_free(&b);
    fs_buf_free(&old);
    leak_check();
}

/* A PUSH marked re-sent (issue 25.2) carries the mark from version 7 on;
 * for an older session it is the PUSH that version knows, byte for byte,
 * and a mark that is not a bool is refused. */
static void test_push_resent(void)
{
    setup();
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = 3;
    m.u.push.last_seq = 4;
    m.u.push.resent = 1;
    fs_buf b, plain, old;
    fs_buf_init(&b);
    fs_buf_init(&plain);
    fs_buf_init(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESENT, &b));
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->type, FS_MSG_PUSH);
    CHECK_EQ_INT(got->u.push.first_seq, 3);
    CHECK_EQ_INT(got->u.push.last_seq, 4);
    CHECK_EQ_INT(got->u.push.resent, 1);
    fs_msg_free(got);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESENT - 1, &old));
    m.u.push.resent = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_RESENT - 1, &plain));
    CHECK(old.len == plain.len && memcmp(old.data, plain.data, old.len) == 0);
    CHECK_EQ_INT(b.len, plain.len + 1); /* one element more: true */
    CHECK_EQ_INT(b.data[0], 0x95);
    CHECK_EQ_INT(plain.data[0], 0x94);
    CHECK_OK(fs_msg_decode(plain.data, plain.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.push.resent, 0);
    fs_msg_free(got);
    b.data[b.len - 1] = 0x01; /* 1, not a bool */
    CHECK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0) != 0);
    fs_buf_free(&b);
    fs_buf_free(&plain);
    fs_buf_free(&old);
    leak_check();
}

/* A PUSH carries the device's feed cursor from version 9 on (issue 24),
 * after the re-sent mark, which it then always carries; for version 8 it is
 * the PUSH that version knows, byte for byte; a cursor that is not an
 * unsigned integer, or cut short, is refused. */
static void test_push_cursor(void)
{
    setup();
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = 3;
    m.u.push.last_seq = 4;
    m.u.push.has_cursor = 1;
    m.u.push.cursor = 300;
    fs_buf b, plain, old;
    fs_buf_init(&b);
    fs_buf_init(&plain);
    fs_buf_init(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR, &b));
    fs_msg *got = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->type, FS_MSG_PUSH);
    CHECK_EQ_INT(got->u.push.first_seq, 3);
    CHECK_EQ_INT(got->u.push.last_seq, 4);
    CHECK_EQ_INT(got->u.push.resent, 0);
    CHECK_EQ_INT(got->u.push.has_cursor, 1);
    CHECK_EQ_INT(got->u.push.cursor, 300);
    fs_msg_free(got);
    CHECK_EQ_INT(b.data[0], 0x96);
    CHECK_EQ_INT(b.data[b.len - 4], 0xc2); /* false, then 300 */
    /* with the re-sent mark */
    m.u.push.resent = 1;
    m.u.push.cursor = 0;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR, &b));
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.push.resent, 1);
    CHECK_EQ_INT(got->u.push.has_cursor, 1);
    CHECK_EQ_INT(got->u.push.cursor, 0);
    fs_msg_free(got);
    /* version 8: no cursor, the bytes of a PUSH without one */
    m.u.push.resent = 0;
    m.u.push.cursor = 300;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR - 1, &old));
    m.u.push.has_cursor = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR - 1, &plain));
    CHECK(old.len == plain.len && memcmp(old.data, plain.data, old.len) == 0);
    CHECK_EQ_INT(plain.data[0], 0x94);
    CHECK_OK(fs_msg_decode(old.data, old.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK_EQ_INT(got->u.push.has_cursor, 0);
    fs_msg_free(got);
    /* version 9 without a cursor to say: as before too */
    fs_buf_reset(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR, &old));
    CHECK(old.len == plain.len && memcmp(old.data, plain.data, old.len) == 0);
    /* a cursor cut short, or not an unsigned integer */
    m.u.push.has_cursor = 1;
    m.u.push.cursor = 300;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_PUSH_CURSOR, &b));
    CHECK(fs_msg_decode(b.data, b.len - 1, &fs_proto_default_limits, &got, NULL, 0) != 0);
    CHECK(got == NULL);
    b.data[b.len - 3] = 0xa2; /* a string of two bytes */
    CHECK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0) != 0);
    b.data[b.len - 3] = 0xff; /* -1, the rest cut */
    CHECK(fs_msg_decode(b.data, b.len - 2, &fs_proto_default_limits, &got, NULL, 0) != 0);
    fs_buf_free(&b);
    fs_buf_free(&plain);
    fs_buf_free(&old);
    leak_check();
}

/* TIP, FORK and FORKED round-trip for version 5 and are never encoded for
 * an older session, whose decoder would refuse them (issue 25.3). */
static void test_fork_messages(void)
{
    setup();
    fs_msg ms[3];
    memset(ms, 0, sizeof ms);
    ms[0].type = FS_MSG_TIP;
    ms[0].u.tip.acked_seq = 21;
    ms[0].u.tip.hlc = 0x0193000000010000ull;
    ms[0].u.tip.row[3] = 0x5a;
    ms[1].type = FS_MSG_FORK;
    for (int i = 0; i < 32; i++)
        ms[1].u.fork.new_pk[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++) {
        ms[1].u.fork.old_sig[i] = (uint8_t)(100 + i);
        ms[1].u.fork.new_sig[i] = (uint8_t)(200 - i);
    }
    ms[2].type = FS_MSG_FORKED;
    fs_buf b;
    fs_buf_init(&b);
    for (int k = 0; k < 3; k++) {
        fs_buf_reset(&b);
        CHECK_OK(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_FORK, &b));
        fs_msg *got = NULL;
        CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
        check_msg(&ms[k], got);
        fs_msg_free(got);
        fs_buf_reset(&b);
        CHECK_ERR(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_FORK - 1, &b), FS_EINVAL);
        CHECK_EQ_INT(b.len, 0);
    }
    /* a sequence without its clock is no tip */
    ms[0].u.tip.hlc = 0;
    CHECK_ERR(fs_msg_encode_v(&ms[0], FS_PROTO_VERSION_FORK, &b), FS_EINVAL);
    ms[0].u.tip.acked_seq = 0;
    CHECK_OK(fs_msg_encode_v(&ms[0], FS_PROTO_VERSION_FORK, &b));
    fs_buf_free(&b);
    leak_check();
}

/* The team's passphrase rule before enrolling (protocol version 8, issue
 * 20.7): POLICY_ASK and POLICY round trip; a session of version 7 or
 * older gets neither (the encoder refuses, writing nothing); a POLICY with
 * a team name over FS_USER_MAX bytes or not UTF-8 is refused both ways. */
static void test_policy_messages(void)
{
    setup();
    static const uint8_t sealed[80] = {1, 2, 3};
    static const char team[] = "华北 north";
    fs_msg ms[3];
    memset(ms, 0, sizeof ms);
    ms[0].type = FS_MSG_POLICY_ASK;
    for (int i = 0; i < 32; i++)
        ms[0].u.enroll.device_pk[i] = (uint8_t)(i * 3);
    for (int i = 0; i < 64; i++)
        ms[0].u.enroll.sig[i] = (uint8_t)(250 - i);
    ms[0].u.enroll.sealed = sealed;
    ms[0].u.enroll.sealed_len = sizeof sealed;
    ms[1].type = FS_MSG_POLICY;
    ms[1].u.policy.min_chars = 16;
    ms[1].u.policy.min_words = 5;
    ms[1].u.policy.team = team;
    ms[1].u.policy.team_len = strlen(team);
    ms[2].type = FS_MSG_POLICY; /* no team */
    ms[2].u.policy.min_chars = 12;
    ms[2].u.policy.min_words = 4;
    fs_buf b;
    fs_buf_init(&b);
    for (int k = 0; k < 3; k++) {
        fs_buf_reset(&b);
        CHECK_OK(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_PASSPOLICY, &b));
        fs_msg *got = NULL;
        CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
        check_msg(&ms[k], got);
        fs_msg_free(got);
        fs_buf_reset(&b);
        CHECK_ERR(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_PASSPOLICY - 1, &b), FS_EINVAL);
        CHECK_EQ_INT(b.len, 0);
    }
    CHECK_EQ_INT(FS_PROTO_VERSION_PASSPOLICY, 8);
    char longteam[FS_USER_MAX + 2];
    memset(longteam, 't', sizeof longteam);
    ms[1].u.policy.team = longteam;
    ms[1].u.policy.team_len = FS_USER_MAX + 1;
    CHECK_ERR(fs_msg_encode_v(&ms[1], FS_PROTO_VERSION_PASSPOLICY, &b), FS_EINVAL);
    ms[1].u.policy.team = "\xe4\xb8";
    ms[1].u.policy.team_len = 2;
    CHECK_ERR(fs_msg_encode_v(&ms[1], FS_PROTO_VERSION_PASSPOLICY, &b), FS_EINVAL);
    /* the decoder refuses them too: [28, 16, 4, "\xe4\xb8"] */
    static const uint8_t bad[] = {0x94, 28, 16, 4, 0xa2, 0xe4, 0xb8};
    fs_msg *got = NULL;
    CHECK_ERR(fs_msg_decode(bad, sizeof bad, &fs_proto_default_limits, &got, NULL, 0),
              FS_EMALFORMED);
    CHECK(got == NULL);
    fs_buf_free(&b);
    leak_check();
}

/* Attachments' messages (protocol version 7, issue 19.3): each one round
 * trips; an older session's encoder refuses them; the decoder refuses an
 * index list or a chunk over the bounds, a zero-byte chunk and a status
 * it does not know, each before it allocates. */
static void test_attach_messages(void)
{
    setup();
    static uint32_t idx[3] = {0, 7, FS_ATTACH_MAX_CHUNKS - 1};
    static uint8_t bytes[FS_ATTACH_CHUNK];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 7);
    fs_msg ms[5];
    memset(ms, 0, sizeof ms);
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < FS_ATT_HASH_BYTES; i++)
            ms[k].u.att.hash[i] = (uint8_t)(k * 40 + i);
    ms[0].type = FS_MSG_ATT_ASK;
    ms[1].type = FS_MSG_ATT_NEED;
    ms[1].u.att.idx = idx;
    ms[1].u.att.count = 3;
    ms[2].type = FS_MSG_ATT_NEED;
    ms[2].u.att.status = FS_ATT_UNKNOWN;
    ms[3].type = FS_MSG_ATT_GET;
    ms[3].u.att.idx = idx;
    ms[3].u.att.count = 2;
    ms[4].type = FS_MSG_ATT_CHUNK;
    ms[4].u.att.index = 5;
    ms[4].u.att.data = bytes;
    ms[4].u.att.len = sizeof bytes;
    fs_buf b;
    fs_buf_init(&b);
    for (int k = 0; k < 5; k++) {
        fs_buf_reset(&b);
        CHECK_OK(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_ATTACH, &b));
        fs_msg *got = NULL;
        CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
        check_msg(&ms[k], got);
        fs_msg_free(got);
        fs_buf_reset(&b);
        CHECK_ERR(fs_msg_encode_v(&ms[k], FS_PROTO_VERSION_ATTACH - 1, &b), FS_EINVAL);
        CHECK_EQ_INT(b.len, 0);
    }
    /* the encoder writes nothing a decoder would refuse */
    ms[4].u.att.len = FS_ATTACH_CHUNK + 1;
    CHECK_ERR(fs_msg_encode_v(&ms[4], FS_PROTO_VERSION_ATTACH, &b), FS_EINVAL);
    ms[4].u.att.len = 0;
    CHECK_ERR(fs_msg_encode_v(&ms[4], FS_PROTO_VERSION_ATTACH, &b), FS_EINVAL);
    ms[4].u.att.len = 10;
    ms[4].u.att.index = FS_ATTACH_MAX_CHUNKS;
    CHECK_ERR(fs_msg_encode_v(&ms[4], FS_PROTO_VERSION_ATTACH, &b), FS_EINVAL);
    idx[1] = FS_ATTACH_MAX_CHUNKS;
    CHECK_ERR(fs_msg_encode_v(&ms[1], FS_PROTO_VERSION_ATTACH, &b), FS_EINVAL);
    idx[1] = 7;
    ms[1].u.att.count = FS_ATTACH_MAX_CHUNKS + 1;
    CHECK_ERR(fs_msg_encode_v(&ms[1], FS_PROTO_VERSION_ATTACH, &b), FS_EINVAL);
    CHECK_EQ_INT(b.len, 0);

    /* hand-made messages the decoder refuses */
    fs_msg *got = NULL;
    /* ATT_GET with a list claiming 0xffff entries in a few bytes */
    uint8_t hdr[40] = {0x93, 26, 0xc4, 32};
    size_t n = 4 + 32;
    hdr[n++] = 0xdc;
    hdr[n++] = 0xff;
    hdr[n++] = 0xff;
    CHECK(fs_msg_decode(hdr, n, &fs_proto_default_limits, &got, NULL, 0) != 0);
    CHECK(got == NULL);
    /* a list of FS_ATTACH_MAX_CHUNKS + 1 entries, each present */
    fs_buf big;
    fs_buf_init(&big);
    uint8_t head[] = {0x93, 26, 0xc4, 32};
    CHECK_OK(fs_buf_append(&big, head, sizeof head));
    CHECK_OK(fs_buf_append(&big, bytes, 32));
    uint8_t ah[3] = {0xdc, (uint8_t)((FS_ATTACH_MAX_CHUNKS + 1) >> 8),
                     (uint8_t)((FS_ATTACH_MAX_CHUNKS + 1) & 0xff)};
    CHECK_OK(fs_buf_append(&big, ah, 3));
    for (unsigned i = 0; i <= FS_ATTACH_MAX_CHUNKS; i++) {
        uint8_t z = 0;
        CHECK_OK(fs_buf_append(&big, &z, 1));
    }
    CHECK_ERR(fs_msg_decode(big.data, big.len, &fs_proto_default_limits, &got, NULL, 0),
              FS_ETOOBIG);
    /* a chunk of no bytes, and one over FS_ATTACH_CHUNK */
    fs_buf_reset(&big);
    uint8_t ch[] = {0x94, 25, 0xc4, 32};
    CHECK_OK(fs_buf_append(&big, ch, sizeof ch));
    CHECK_OK(fs_buf_append(&big, bytes, 32));
    uint8_t empty[] = {3, 0xc4, 0};
    CHECK_OK(fs_buf_append(&big, empty, sizeof empty));
    CHECK_ERR(fs_msg_decode(big.data, big.len, &fs_proto_default_limits, &got, NULL, 0),
              FS_EMALFORMED);
    big.len -= 2;
    uint32_t over = FS_ATTACH_CHUNK + 1;
    uint8_t bin32[5] = {0xc6, (uint8_t)(over >> 24), (uint8_t)(over >> 16), (uint8_t)(over >> 8),
                        (uint8_t)over};
    CHECK_OK(fs_buf_append(&big, bin32, 5));
    for (uint32_t i = 0; i < over; i += sizeof bytes)
        CHECK_OK(fs_buf_append(&big, bytes, over - i < sizeof bytes ? over - i : sizeof bytes));
    CHECK(fs_msg_decode(big.data, big.len, &fs_proto_default_limits, &got, NULL, 0) != 0);
    /* an unknown status */
    fs_buf_reset(&big);
    uint8_t nd[] = {0x94, 24, 0xc4, 32};
    CHECK_OK(fs_buf_append(&big, nd, sizeof nd));
    CHECK_OK(fs_buf_append(&big, bytes, 32));
    uint8_t tail[] = {2, 0x90};
    CHECK_OK(fs_buf_append(&big, tail, sizeof tail));
    CHECK_ERR(fs_msg_decode(big.data, big.len, &fs_proto_default_limits, &got, NULL, 0),
              FS_EMALFORMED);
    CHECK(got == NULL);
    fs_buf_free(&big);
    fs_buf_free(&b);
    leak_check();
}

/* The encoder groups by row whatever the order of the changes. */
static void test_encode_order(void)
{
    setup();
    rng g = {42};
    for (int round = 0; round < 20; round++) {
        fs_change shuffled[sizeof changes_changes / sizeof changes_changes[0]];
        memcpy(shuffled, changes_changes, changes_count * sizeof *shuffled);
        for (size_t i = changes_count - 1; i > 0; i--) {
            size_t j = rng_below(&g, (unsigned)i + 1);
            fs_change t = shuffled[i];
            shuffled[i] = shuffled[j];
            shuffled[j] = t;
        }
        fs_msg m, *back = NULL;
        golden_msg(9, &m);
        m.u.changes.changes = shuffled;
        fs_buf b, ref;
        fs_buf_init(&b);
        fs_buf_init(&ref);
        CHECK_OK(fs_msg_encode(&m, &b));
        golden_msg(9, &m);
        CHECK_OK(fs_msg_encode(&m, &ref));
        /* Same rows, groups and dictionary: the same size, only the order
         * of rows, groups or devices may differ. */
        CHECK_EQ_INT(b.len, ref.len);
        CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &back, NULL, 0));
        check_msg(&m, back);
        fs_msg_free(back);
        fs_buf_free(&b);
        fs_buf_free(&ref);
    }
    leak_check();
}

/* Every proper prefix of every vector is malformed. */
static void test_golden_truncated(void)
{
    size_t total = 0;
    for (int i = 0; i < NGOLDEN; i++) {
        char path[1024];
        vector_path(path, sizeof path, golden_names[i]);
        size_t n;
        unsigned char *bytes = test_read_file(path, &n);
        if (bytes == NULL)
            FAIL("%s is missing", path);
        for (size_t k = 0; k < n; k++) {
            /* A copy of exactly k bytes, so ASan sees any read past the end. */
            unsigned char *cut = malloc(k ? k : 1);
            CHECK(cut != NULL);
            memcpy(cut, bytes, k);
            fs_msg *m = (fs_msg *)&total; /* must be reset to NULL */
            int rc = fs_msg_decode(cut, k, &fs_proto_default_limits, &m, NULL, 0);
            if (rc != FS_EMALFORMED)
                FAIL("%s cut to %zu of %zu bytes: %s, expected FS_EMALFORMED", golden_names[i], k,
                     n, fs_errname(rc));
            CHECK(m == NULL);
            free(cut);
            total++;
        }
        free(bytes);
    }
    printf("%zu truncations of %d vectors refused\n", total, NGOLDEN);
    leak_check();
}

/* ---- malformed input ---- */

static const uint8_t ROWID[16] = {0x5e, 0x3a, 0x11, 0x90, 0x42, 0x7c, 0x0d, 0xe8,
                                  0x19, 0x66, 0xa4, 0x02, 0xbb, 0x71, 0x3f, 0xc9};
#define H0 HLC(0, 0)

static void dev_id(uint8_t out[16], unsigned i)
{
    fixed_bytes(out, 16, 0xde00 + i);
}

static void row_id(uint8_t out[16], unsigned i)
{
    memcpy(out, ROWID, 16);
    out[15] = (uint8_t)(out[15] + i);
}

/* [10, 1, 5, [[dev...], base, [ (rows follow) */
static void push_head(mp *w, unsigned ndev, uint64_t base, uint32_t nrows)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 3);
    mp_arr(w, ndev);
    for (unsigned i = 0; i < ndev; i++) {
        uint8_t d[16];
        dev_id(d, i);
        mp_bin(w, d, 16);
    }
    mp_uint(w, base);
    mp_arr(w, nrows);
}

/* [table, row id, [ (groups follow) */
static void row_head(mp *w, uint64_t table, unsigned row, uint32_t ngroups)
{
    uint8_t id[16];
    row_id(id, row);
    mp_arr(w, 3);
    mp_uint(w, table);
    mp_bin(w, id, 16);
    mp_arr(w, ngroups);
}

/* [hlc - base, device, prev delta, prev device, (column, value pairs follow) */
static void group_head(mp *w, uint32_t npairs, uint64_t delta, uint64_t dev, uint64_t pdelta,
                       uint64_t pdev)
{
    mp_arr(w, 4 + 2 * npairs);
    mp_uint(w, delta);
    mp_uint(w, dev);
    mp_uint(w, pdelta);
    mp_uint(w, pdev);
}

/* A PUSH of one visit change, everything written but the value. */
static void push_value_head(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
}

/* A PUSH with rows of ncols changes each over ndev devices. */
static void push_rows(mp *w, unsigned ndev, unsigned nrows, unsigned ncols)
{
    push_head(w, ndev, H0, nrows);
    for (unsigned r = 0; r < nrows; r++) {
        row_head(w, T_VISIT, r, 1);
        group_head(w, ncols, r, r % ndev, 0, 0);
        for (unsigned c = 0; c < ncols; c++) {
            mp_uint(w, VISIT_CONTACT + c);
            mp_cstr(w, "陳經理");
        }
    }
}

static void b_push_ok(mp *w)
{
    push_value_head(w);
    mp_cstr(w, "客戶希望簡化流程");
}
static void b_push_prev_ok(mp *w)
{
    push_head(w, 2, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 100, 1, 40, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "ok");
}
static void b_empty(mp *w)
{
    (void)w;
}
static void b_ack_ok(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 5);
}
/* READY with the user and team (protocol version 3), and its faults. */
static void b_ready_head(mp *w, uint32_t nfields)
{
    mp_arr(w, nfields);
    mp_uint(w, FS_MSG_READY);
    mp_uint(w, 1700000000000ull);
    mp_uint(w, 1700604800000ull);
}
static void b_ready_user_ok(mp *w)
{
    b_ready_head(w, 5);
    mp_cstr(w, "张伟");
    mp_cstr(w, "east");
}
static void b_ready_no_team_ok(mp *w)
{
    b_ready_head(w, 5);
    mp_cstr(w, "zhang");
    mp_cstr(w, "");
}
static void b_ready_four_fields(mp *w)
{
    b_ready_head(w, 4);
    mp_cstr(w, "zhang");
}
static void b_ready_empty_user(mp *w)
{
    b_ready_head(w, 5);
    mp_cstr(w, "");
    mp_cstr(w, "east");
}
static void b_ready_long_user(mp *w)
{
    char name[FS_USER_MAX + 2];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    b_ready_head(w, 5);
    mp_cstr(w, name);
    mp_cstr(w, "east");
}
static void b_ready_long_team(mp *w)
{
    char name[FS_USER_MAX + 2];
    memset(name, 't', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    b_ready_head(w, 5);
    mp_cstr(w, "zhang");
    mp_cstr(w, name);
}
static void b_ready_user_bin(mp *w)
{
    b_ready_head(w, 5);
    mp_bin(w, "zhang", 5);
    mp_cstr(w, "east");
}
static void b_ready_user_nil(mp *w)
{
    b_ready_head(w, 5);
    mp_nil(w);
    mp_cstr(w, "east");
}
static void b_ready_user_bad_utf8(mp *w)
{
    b_ready_head(w, 5);
    mp_str(w, "\xe5\xbc", 2);
    mp_cstr(w, "east");
}
static void b_ready_seven_fields(mp *w)
{
    b_ready_user_ok(w);
    w->b[0] = 0x97; /* the array header: 7 */
    mp_uint(w, 1);
    mp_uint(w, 1);
}
static void b_ready_role_4(mp *w)
{
    b_ready_user_ok(w);
    w->b[0] = 0x96; /* the array header: 6 */
    mp_uint(w, 4); /* none of rep, manager, admin */
}
static void b_ready_role_0(mp *w)
{
    b_ready_user_ok(w);
    w->b[0] = 0x96;
    mp_uint(w, 0);
}
static void b_ready_role_str(mp *w)
{
    b_ready_user_ok(w);
    w->b[0] = 0x96;
    mp_cstr(w, "manager");
}
/* READY of protocol version 5 (FS_PROTO_VERSION_EPOCH): the feed's epoch
 * and dev_acked after the role, and their faults. */
static void ready_epoch(mp *w, uint32_t nfields, size_t epoch_len)
{
    uint8_t epoch[17];
    memset(epoch, 0xe5, sizeof epoch);
    b_ready_user_ok(w);
    w->b[0] = (uint8_t)(0x90 | nfields);
    mp_uint(w, FS_READY_ROLE_MANAGER);
    mp_bin(w, epoch, epoch_len);
}
static void b_ready_epoch_ok(mp *w)
{
    ready_epoch(w, 8, 16);
    mp_uint(w, 41);
}
static void b_ready_epoch_15(mp *w)
{
    ready_epoch(w, 8, 15);
    mp_uint(w, 41);
}
static void b_ready_epoch_17(mp *w)
{
    ready_epoch(w, 8, 17);
    mp_uint(w, 41);
}
static void b_ready_epoch_str(mp *w)
{
    b_ready_user_ok(w);
    w->b[0] = 0x98;
    mp_uint(w, FS_READY_ROLE_MANAGER);
    mp_cstr(w, "0123456789abcdef");
    mp_uint(w, 41);
}
static void b_ready_dev_acked_negative(mp *w)
{
    ready_epoch(w, 8, 16);
    mp_sint(w, -1);
}
static void b_ready_epoch_no_acked(mp *w)
{
    ready_epoch(w, 7, 16); /* the epoch without dev_acked */
}
static void b_ready_nine_fields(mp *w)
{
    ready_epoch(w, 9, 16);
    mp_uint(w, 41);
    mp_uint(w, 0);
}
static void b_ready_epoch_bad_role(mp *w)
{
    uint8_t epoch[16] = {1};
    b_ready_user_ok(w);
    w->b[0] = 0x98;
    mp_uint(w, 9); /* none of rep, manager, admin */
    mp_bin(w, epoch, 16);
    mp_uint(w, 41);
}
static void b_trailing_byte(mp *w)
{
    b_ack_ok(w);
    mp_u8(w, 0x00);
}
static void b_trailing_msg(mp *w)
{
    b_ack_ok(w);
    b_ack_ok(w);
}
static void b_outer_map(mp *w)
{
    mp_map(w, 1);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 5);
}
static void b_outer_str(mp *w)
{
    mp_cstr(w, "ACK 5");
}
static void b_outer_int(mp *w)
{
    mp_uint(w, FS_MSG_BYE);
}
static void b_outer_nil(mp *w)
{
    mp_nil(w);
}
static void b_outer_bin(mp *w)
{
    mp_bin(w, "\x92\x0b\x05", 3);
}
static void b_empty_array(mp *w)
{
    mp_arr(w, 0);
}
static void b_type_0(mp *w)
{
    mp_arr(w, 1);
    mp_uint(w, 0);
}
static void b_type_6(mp *w)
{
    mp_arr(w, 1);
    mp_uint(w, 6);
}
static void b_type_99(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, 99);
    mp_uint(w, 5);
}
static void b_type_2_32(mp *w)
{
    mp_arr(w, 1);
    mp_uint(w, 1ull << 32);
}
static void b_type_max(mp *w)
{
    mp_arr(w, 1);
    mp_uint(w, UINT64_MAX);
}
static void b_type_ack_plus_2_32(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, (1ull << 32) + FS_MSG_ACK); /* must not be truncated to ACK */
    mp_uint(w, 5);
}
static void b_type_negative(mp *w)
{
    mp_arr(w, 2);
    mp_sint(w, -11);
    mp_uint(w, 5);
}
static void b_type_str(mp *w)
{
    mp_arr(w, 2);
    mp_cstr(w, "ack");
    mp_uint(w, 5);
}
static void b_type_bool(mp *w)
{
    mp_arr(w, 1);
    mp_bool(w, 1);
}
static void b_type_float(mp *w)
{
    mp_arr(w, 2);
    mp_f64(w, 11.0);
    mp_uint(w, 5);
}
static void b_hello_few(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, 1);
}
static void b_hello_many(mp *w)
{
    uint8_t k[32] = {1};
    mp_arr(w, 5);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, 1);
    mp_bin(w, k, 32);
    mp_uint(w, 0);
}
static void hello_key(mp *w, size_t keylen)
{
    uint8_t k[64];
    memset(k, 0x5a, sizeof k);
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, 1);
    mp_bin(w, k, keylen);
}
static void b_hello_ok(mp *w)
{
    hello_key(w, 32);
}
static void b_hello_key31(mp *w)
{
    hello_key(w, 31);
}
static void b_hello_key33(mp *w)
{
    hello_key(w, 33);
}
static void b_hello_key0(mp *w)
{
    hello_key(w, 0);
}
static void b_hello_key_str(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, 1);
    mp_cstr(w, "0123456789abcdef0123456789abcdef");
}
static void b_hello_key_int(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, 1);
    mp_uint(w, 32);
}
static void b_hello_version_2_32(mp *w)
{
    uint8_t k[32] = {0};
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_HELLO);
    mp_uint(w, 1);
    mp_uint(w, (1ull << 32) + 1);
    mp_bin(w, k, 32);
}
static void b_welcome_sig63(mp *w)
{
    uint8_t k[64] = {0};
    mp_arr(w, 5);
    mp_uint(w, FS_MSG_WELCOME);
    mp_uint(w, 1);
    mp_bin(w, k, 32);
    mp_bin(w, k, 32);
    mp_bin(w, k, 63);
}
static void b_auth_sig65(mp *w)
{
    uint8_t k[65] = {0};
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_AUTH);
    mp_bin(w, k, 32);
    mp_bin(w, k, 65);
}
static void b_enroll_sealed_str(mp *w)
{
    uint8_t k[64] = {0};
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_ENROLL);
    mp_bin(w, k, 32);
    mp_bin(w, k, 64);
    mp_cstr(w, "sealed request");
}
static void b_enroll_sealed_4g(mp *w)
{
    uint8_t k[64] = {0};
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_ENROLL);
    mp_bin(w, k, 32);
    mp_bin(w, k, 64);
    mp_be(w, 0xc6, UINT32_MAX, 4); /* bin32 of 4 GB, 3 bytes follow */
    mp_raw(w, "abc", 3);
}
static void b_ack_str(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_cstr(w, "5");
}
static void b_ack_negative(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_sint(w, -1);
}
static void b_ack_negative64(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_sint(w, INT64_MIN);
}
static void b_ack_bool(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_bool(w, 1);
}
static void b_ack_nil(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_nil(w);
}
/* ACK with restamps (version 4 on, issue 23) */
static void b_ack_restamps_ok(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 2);
    mp_arr(w, 2);
    mp_uint(w, 0x0193000000000000ull);
    mp_uint(w, 0x0192000000000000ull);
    mp_arr(w, 2);
    mp_uint(w, 0x0193000000010000ull);
    mp_uint(w, 0x0192000000000001ull);
}
static void b_ack_restamps_empty(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 0);
}
static void b_ack_restamps_not_list(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_uint(w, 7);
}
static void b_ack_restamp_zero_given(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 1);
    mp_arr(w, 2);
    mp_uint(w, 5);
    mp_uint(w, 0);
}
static void b_ack_restamp_zero_sent(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 1);
    mp_arr(w, 2);
    mp_uint(w, 0);
    mp_uint(w, 5);
}
static void b_ack_restamp_three(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 1);
    mp_arr(w, 3);
    mp_uint(w, 5);
    mp_uint(w, 6);
    mp_uint(w, 7);
}
static void b_ack_restamp_negative(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 1);
    mp_arr(w, 2);
    mp_uint(w, 5);
    mp_sint(w, -6);
}
static void b_ack_restamp_str(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 1);
    mp_arr(w, 2);
    mp_cstr(w, "5");
    mp_uint(w, 6);
}
/* TIP, FORK and FORKED (protocol version 5, issue 25.3), and their faults. */
static const uint8_t tip_row[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
static void b_tip_ok(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 11);
    mp_uint(w, 0x0193000000010000ull);
    mp_bin(w, tip_row, 16);
}
static void b_tip_none_ok(mp *w)
{
    static const uint8_t zero[16];
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_bin(w, zero, 16);
}
static void b_tip_seq_no_clock(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 11);
    mp_uint(w, 0);
    mp_bin(w, tip_row, 16);
}
static void b_tip_clock_no_seq(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 0);
    mp_uint(w, 5);
    mp_bin(w, tip_row, 16);
}
static void b_tip_three_fields(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 11);
    mp_uint(w, 0x0193000000010000ull);
}
static void b_tip_five_fields(mp *w)
{
    b_tip_ok(w);
    w->b[0] = 0x95; /* fixarray of 5, a field short */
}
static void b_tip_short_row(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 11);
    mp_uint(w, 0x0193000000010000ull);
    mp_bin(w, tip_row, 15);
}
static void b_tip_negative(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_sint(w, -11);
    mp_uint(w, 5);
    mp_bin(w, tip_row, 16);
}
static void b_tip_str(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_TIP);
    mp_uint(w, 11);
    mp_cstr(w, "5");
    mp_bin(w, tip_row, 16);
}
static const uint8_t fork_bytes[64] = {1, 2, 3, 4, 5, 6, 7, 8};
static void b_fork_ok(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_FORK);
    mp_bin(w, fork_bytes, 32);
    mp_bin(w, fork_bytes, 64);
    mp_bin(w, fork_bytes, 64);
}
static void b_fork_short_key(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_FORK);
    mp_bin(w, fork_bytes, 31);
    mp_bin(w, fork_bytes, 64);
    mp_bin(w, fork_bytes, 64);
}
static void b_fork_long_sig(mp *w)
{
    uint8_t sig[65] = {0};
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_FORK);
    mp_bin(w, fork_bytes, 32);
    mp_bin(w, fork_bytes, 64);
    mp_bin(w, sig, 65);
}
static void b_fork_str_key(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_FORK);
    mp_str(w, fork_bytes, 32);
    mp_bin(w, fork_bytes, 64);
    mp_bin(w, fork_bytes, 64);
}
static void b_fork_one_sig(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_FORK);
    mp_bin(w, fork_bytes, 32);
    mp_bin(w, fork_bytes, 64);
}
static void b_fork_cut(mp *w)
{
    b_fork_ok(w);
    w->n -= 10;
}
static void b_forked_ok(mp *w)
{
    mp_arr(w, 1);
    mp_uint(w, FS_MSG_FORKED);
}
static void b_forked_field(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_FORKED);
    mp_uint(w, 1);
}
static void b_ack_restamps_cut(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 2);
    mp_arr(w, 2);
    mp_uint(w, 5);
    mp_uint(w, 6);
}
static void b_ack_four_fields(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 9);
    mp_arr(w, 0);
    mp_uint(w, 1);
}
static void b_ack_float(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_f64(w, 5.0);
}
static void b_ack_ext(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_raw(w, "\xd4\x01\x05", 3); /* fixext 1 */
}
static void b_ack_reserved(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    mp_u8(w, 0xc1); /* never used */
}
static void b_outer_ext(mp *w)
{
    mp_raw(w, "\xc7\x03\x07\x92\x0b\x05", 6); /* ext 8 wrapping an ACK */
}
static void b_type_ext(mp *w)
{
    mp_arr(w, 2);
    mp_raw(w, "\xd4\x00\x0b", 3);
    mp_uint(w, 5);
}
static void b_bye_field(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_BYE);
    mp_uint(w, 0);
}
static void b_pull_max_2_32(mp *w)
{
    mp_arr(w, 5);
    mp_uint(w, FS_MSG_PULL);
    mp_uint(w, 100);
    mp_uint(w, 1ull << 32);
    mp_uint(w, 0);
    mp_uint(w, 0);
}
static void b_pull_6_fields(mp *w)
{
    mp_arr(w, 6);
    mp_uint(w, FS_MSG_PULL);
    mp_uint(w, 100);
    mp_uint(w, 10);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 3); /* open refusals without their reason */
}
static void b_pull_reason_2_32(mp *w)
{
    mp_arr(w, 7);
    mp_uint(w, FS_MSG_PULL);
    mp_uint(w, 100);
    mp_uint(w, 10);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 3);
    mp_uint(w, 1ull << 32);
}
static void b_pull_refusals_str(mp *w)
{
    mp_arr(w, 7);
    mp_uint(w, FS_MSG_PULL);
    mp_uint(w, 100);
    mp_uint(w, 10);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_cstr(w, "3");
    mp_uint(w, 12);
}
/* PULL of protocol version 5: the cursor's tag after the refusals. */
static void pull_head8(mp *w)
{
    mp_arr(w, 8);
    mp_uint(w, FS_MSG_PULL);
    mp_uint(w, 100);
    mp_uint(w, 10);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 3);
    mp_uint(w, 12);
}
static void b_pull_tag_ok(mp *w)
{
    pull_head8(w);
    mp_uint(w, 0xfedcba9876543210ull);
}
static void b_pull_tag_str(mp *w)
{
    pull_head8(w);
    mp_cstr(w, "tag");
}
static void b_pull_tag_negative(mp *w)
{
    pull_head8(w);
    mp_sint(w, -5);
}
/* ... and the device's own wall clock after the tag (issue 23) */
static void b_pull_clock_ok(mp *w)
{
    pull_head8(w);
    w->b[0] = 0x99;
    mp_uint(w, 1);
    mp_uint(w, 1796000000000ull);
}
static void b_pull_clock_str(mp *w)
{
    pull_head8(w);
    w->b[0] = 0x99;
    mp_uint(w, 1);
    mp_cstr(w, "12:00");
}
static void b_pull_clock_negative(mp *w)
{
    pull_head8(w);
    w->b[0] = 0x99;
    mp_uint(w, 1);
    mp_sint(w, -1);
}
static void b_pull_10_fields(mp *w)
{
    pull_head8(w);
    w->b[0] = 0x9a;
    mp_uint(w, 1);
    mp_uint(w, 1);
    mp_uint(w, 1);
}
static void b_wipe_reason_2_32(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_WIPE);
    mp_uint(w, (1ull << 32) + FS_REASON_REVOKED);
}
static void error_text(mp *w, const void *s, size_t n)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ERROR);
    mp_uint(w, FS_REASON_INTERNAL);
    mp_str(w, s, n);
}
static void b_error_utf8(mp *w)
{
    error_text(w, "bad \xff\xfe text", 11);
}
static void b_error_text_bin(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ERROR);
    mp_uint(w, FS_REASON_INTERNAL);
    mp_bin(w, "text", 4);
}
static void b_error_str32_4g(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ERROR);
    mp_uint(w, FS_REASON_INTERNAL);
    mp_be(w, 0xdb, UINT32_MAX, 4); /* str32 of 4 GB, 4 bytes follow */
    mp_raw(w, "oops", 4);
}
static void b_error_str_past_end(mp *w)
{
    mp_arr(w, 3);
    mp_uint(w, FS_MSG_ERROR);
    mp_uint(w, FS_REASON_INTERNAL);
    mp_be(w, 0xd9, 200, 1); /* str8 of 200 bytes, 4 follow */
    mp_raw(w, "oops", 4);
}
static void b_outer_array32_4g(mp *w)
{
    mp_be(w, 0xdd, 4000000000u, 4);
    mp_uint(w, FS_MSG_ACK);
    mp_uint(w, 5);
}
static void b_deep_nesting(mp *w)
{
    for (int i = 0; i < 100000; i++)
        mp_u8(w, 0x91);
    mp_uint(w, 0);
}
static void b_deep_nesting_field(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_ACK);
    for (int i = 0; i < 64; i++)
        mp_u8(w, 0x91);
    mp_uint(w, 5);
}
static void purge_one(mp *w, size_t idlen, int extra)
{
    uint8_t id[20];
    memset(id, 0x33, sizeof id);
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_PURGE);
    mp_arr(w, 1);
    mp_arr(w, extra ? 3 : 2);
    mp_uint(w, T_VISIT);
    mp_bin(w, id, idlen);
    if (extra)
        mp_uint(w, 0);
}
static void b_purge_ok(mp *w)
{
    purge_one(w, 16, 0);
}
static void b_purge_row15(mp *w)
{
    purge_one(w, 15, 0);
}
static void b_purge_row17(mp *w)
{
    purge_one(w, 17, 0);
}
static void b_purge_item3(mp *w)
{
    purge_one(w, 16, 1);
}
static void b_purge_list_4g(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_PURGE);
    mp_be(w, 0xdd, 4000000000u, 4);
    mp_arr(w, 2);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
}
static void b_purge_list_not_array(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_PURGE);
    mp_map(w, 1);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
}
static void reject_item(mp *w, int nfields, const char *text, size_t textlen)
{
    mp_arr(w, (uint32_t)nfields);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
    mp_uint(w, VISIT_TIME);
    mp_uint(w, H0);
    mp_uint(w, FS_REASON_SCOPE);
    if (nfields > 5)
        mp_str(w, text, textlen);
}
static void b_reject_item5(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, 1);
    reject_item(w, 5, NULL, 0);
}
static void b_reject_utf8(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, 1);
    reject_item(w, 6, "\xe6\x97", 2); /* a cut 3-byte sequence */
}
static void b_reject_column_2_16(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, 1);
    mp_arr(w, 6);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
    mp_uint(w, 65536 + VISIT_TIME); /* must not wrap to a valid column */
    mp_uint(w, H0);
    mp_uint(w, FS_REASON_SCOPE);
    mp_cstr(w, "scope");
}
static void b_purge_unknown_table(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_PURGE);
    mp_arr(w, 1);
    mp_arr(w, 2);
    mp_uint(w, past_last_table());
    mp_bin(w, ROWID, 16);
}
static void b_reject_unknown_table(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, 1);
    mp_arr(w, 6);
    mp_uint(w, past_last_table());
    mp_bin(w, ROWID, 16);
    mp_uint(w, 1);
    mp_uint(w, H0);
    mp_uint(w, FS_REASON_SCOPE);
    mp_cstr(w, "scope");
}
static void b_reject_column_out_of_range(mp *w)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, 1);
    mp_arr(w, 6);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
    mp_uint(w, 65534); /* fits in 16 bits, but visit has no such column */
    mp_uint(w, H0);
    mp_uint(w, FS_REASON_SCOPE);
    mp_cstr(w, "scope");
}
static void rejects(mp *w, unsigned n)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_REJECT);
    mp_arr(w, n);
    for (unsigned i = 0; i < n; i++)
        reject_item(w, 6, "scope", 5);
}
static void b_reject_3(mp *w)
{
    rejects(w, 3);
}
static void purges(mp *w, unsigned n)
{
    mp_arr(w, 2);
    mp_uint(w, FS_MSG_PURGE);
    mp_arr(w, n);
    for (unsigned i = 0; i < n; i++) {
        uint8_t id[16];
        row_id(id, i);
        mp_arr(w, 2);
        mp_uint(w, T_COMMITMENT);
        mp_bin(w, id, 16);
    }
}
static void b_purge_3(mp *w)
{
    purges(w, 3);
}
static void b_changes_more_int(mp *w)
{
    uint8_t d[16];
    dev_id(d, 0);
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_CHANGES);
    mp_uint(w, 48232);
    mp_uint(w, 1); /* "more" is a bool */
    mp_arr(w, 3);
    mp_arr(w, 1);
    mp_bin(w, d, 16);
    mp_uint(w, H0);
    mp_arr(w, 0);
}
static void b_changes_ok_empty(mp *w)
{
    uint8_t d[16];
    dev_id(d, 0);
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_CHANGES);
    mp_uint(w, 48232);
    mp_bool(w, 0);
    mp_arr(w, 3);
    mp_arr(w, 1);
    mp_bin(w, d, 16);
    mp_uint(w, H0);
    mp_arr(w, 0);
}
/* CHANGES of protocol version 5: the new cursor's tag and the re-sync
 * order after the batch. */
static void changes_v5(mp *w, uint32_t nfields, uint64_t cursor, int empty)
{
    uint8_t d[16];
    dev_id(d, 0);
    mp_arr(w, nfields);
    mp_uint(w, FS_MSG_CHANGES);
    mp_uint(w, cursor);
    mp_bool(w, 1);
    mp_arr(w, 3);
    mp_arr(w, 1);
    mp_bin(w, d, 16);
    mp_uint(w, H0);
    if (empty) {
        mp_arr(w, 0);
    } else {
        mp_arr(w, 1);
        row_head(w, T_VISIT, 0, 1);
        group_head(w, 1, 0, 0, 0, 0);
        mp_uint(w, VISIT_NOTES);
        mp_cstr(w, "v");
    }
}
static void b_changes_tag_ok(mp *w)
{
    changes_v5(w, 6, 48232, 0);
    mp_uint(w, 0x1234);
    mp_bool(w, 0);
}
static void b_changes_resync_ok(mp *w)
{
    changes_v5(w, 6, 0, 1);
    mp_uint(w, 0);
    mp_bool(w, 1);
}
static void b_changes_resync_cursor(mp *w)
{
    changes_v5(w, 6, 7, 1); /* a re-sync order starts at 0 */
    mp_uint(w, 0);
    mp_bool(w, 1);
}
static void b_changes_resync_changes(mp *w)
{
    changes_v5(w, 6, 0, 0); /* a re-sync order carries nothing */
    mp_uint(w, 0);
    mp_bool(w, 1);
}
static void b_changes_resync_int(mp *w)
{
    changes_v5(w, 6, 0, 1);
    mp_uint(w, 0);
    mp_uint(w, 1);
}
static void b_changes_tag_str(mp *w)
{
    changes_v5(w, 6, 48232, 1);
    mp_cstr(w, "tag");
    mp_bool(w, 0);
}
static void b_changes_5_fields(mp *w)
{
    changes_v5(w, 5, 48232, 1);
    mp_uint(w, 0x1234);
}
static void b_changes_more_nil(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_CHANGES);
    mp_uint(w, 48232);
    mp_nil(w);
    mp_arr(w, 3);
    mp_arr(w, 0);
    mp_uint(w, H0);
    mp_arr(w, 0);
}
static void b_batch_map(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_map(w, 0);
}
static void b_batch_2(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 2);
    mp_arr(w, 0);
    mp_uint(w, H0);
}
static void b_devices_bin(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 3);
    mp_bin(w, ROWID, 16);
    mp_uint(w, H0);
    mp_arr(w, 0);
}
static void b_device_id15(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 3);
    mp_arr(w, 1);
    mp_bin(w, ROWID, 15);
    mp_uint(w, H0);
    mp_arr(w, 0);
}
static void b_devices_past_end(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 3);
    mp_arr(w, 3000); /* under max_devices, but only one follows */
    mp_bin(w, ROWID, 16);
}
static void b_base_str(mp *w)
{
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_PUSH);
    mp_uint(w, 1);
    mp_uint(w, 5);
    mp_arr(w, 3);
    mp_arr(w, 0);
    mp_cstr(w, "1696917900000");
    mp_arr(w, 0);
}
static void b_rows_4g(mp *w)
{
    push_head(w, 1, H0, 0);
    w->n--; /* replace the empty rows array */
    mp_be(w, 0xdd, 4000000000u, 4);
    row_head(w, T_VISIT, 0, 0);
}
static void b_rows_past_end(mp *w)
{
    push_head(w, 1, H0, 1000); /* under max_rows, but one row follows */
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_row4(mp *w)
{
    push_head(w, 1, H0, 1);
    mp_arr(w, 4);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
    mp_arr(w, 0);
    mp_uint(w, 0);
}
static void b_groups_bin(mp *w)
{
    push_head(w, 1, H0, 1);
    mp_arr(w, 3);
    mp_uint(w, T_VISIT);
    mp_bin(w, ROWID, 16);
    mp_bin(w, "groups", 6);
}
static void row_with_id(mp *w, size_t idlen)
{
    uint8_t id[17];
    memset(id, 0x44, sizeof id);
    push_head(w, 1, H0, 1);
    mp_arr(w, 3);
    mp_uint(w, T_VISIT);
    mp_bin(w, id, idlen);
    mp_arr(w, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_row_id15(mp *w)
{
    row_with_id(w, 15);
}
static void b_row_id17(mp *w)
{
    row_with_id(w, 17);
}
static void b_row_id_str(mp *w)
{
    push_head(w, 1, H0, 1);
    mp_arr(w, 3);
    mp_uint(w, T_VISIT);
    mp_cstr(w, "0123456789abcdef");
    mp_arr(w, 0);
}
static void one_change(mp *w, uint64_t table, uint64_t column)
{
    push_head(w, 1, H0, 1);
    row_head(w, table, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, column);
    mp_cstr(w, "x");
}
static void b_table_unknown(mp *w)
{
    one_change(w, past_last_table(), 1);
}
static void b_table_2_16(mp *w)
{
    one_change(w, 65536 + T_VISIT, VISIT_NOTES);
}
static void b_column_out_of_range(mp *w)
{
    one_change(w, T_VISIT, VISIT_NCOLUMNS);
}
static void b_column_2_16(mp *w)
{
    one_change(w, T_VISIT, 65536 + VISIT_NOTES);
}
static void b_column_last_ok(mp *w)
{
    one_change(w, T_VISIT, VISIT_NCOLUMNS - 1);
}
static void b_column_negative(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_sint(w, -1);
    mp_cstr(w, "x");
}
static void b_column_bool(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_bool(w, 1);
    mp_cstr(w, "x");
}
static void b_device_index_oob(mp *w)
{
    push_head(w, 2, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 2, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_device_index_huge(mp *w)
{
    push_head(w, 2, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, (1ull << 32) + 1, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_prev_device_oob(mp *w)
{
    push_head(w, 2, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 100, 0, 40, 2);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_no_devices(mp *w)
{
    push_head(w, 0, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_group_odd(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    mp_arr(w, 7);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
    mp_uint(w, VISIT_PLACE);
}
static void b_group_short(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    mp_arr(w, 3);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 0);
}
static void b_group_not_array(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    mp_map(w, 2);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_hlc_overflow(mp *w)
{
    push_head(w, 1, UINT64_MAX - 10, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 20, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_hlc_max_ok(mp *w)
{
    push_head(w, 1, UINT64_MAX - 10, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 10, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_prev_underflow(mp *w)
{
    push_head(w, 2, 1000, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 5, 0, 1006, 1); /* prev = 1005 - 1006 */
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_delta_negative(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    mp_arr(w, 6);
    mp_sint(w, -5);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_hlc_zero(mp *w)
{
    push_head(w, 1, 0, 1); /* hlc 0 means "never written" */
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
    mp_cstr(w, "x");
}
static void b_value_map(mp *w)
{
    push_value_head(w);
    mp_map(w, 1);
    mp_cstr(w, "k");
    mp_cstr(w, "v");
}
static void b_value_bool(mp *w)
{
    push_value_head(w);
    mp_bool(w, 1);
}
static void b_value_ext(mp *w)
{
    push_value_head(w);
    mp_raw(w, "\xd5\x01\xab\xcd", 4); /* fixext 2 */
}
static void b_value_ext8(mp *w)
{
    push_value_head(w);
    mp_raw(w, "\xc7\x02\xff\xab\xcd", 5); /* ext 8, type -1 (timestamp) */
}
static void b_value_array(mp *w)
{
    push_value_head(w);
    mp_arr(w, 1);
    mp_cstr(w, "x");
}
static void b_value_u64(mp *w)
{
    push_value_head(w);
    mp_uint(w, (uint64_t)INT64_MAX + 1);
}
static void b_value_int_ok(mp *w)
{
    push_value_head(w);
    mp_sint(w, INT64_MIN);
}
static void b_value_utf8_ff(mp *w)
{
    push_value_head(w);
    mp_str(w, "visit \xff", 7);
}
static void b_value_utf8_overlong(mp *w)
{
    push_value_head(w);
    mp_str(w, "\xc0\xaf", 2); /* overlong "/" */
}
static void b_value_utf8_surrogate(mp *w)
{
    push_value_head(w);
    mp_str(w, "\xed\xa0\x80", 3); /* U+D800 */
}
static void b_value_utf8_cut(mp *w)
{
    push_value_head(w);
    mp_str(w, "客\xe6\x88", 5); /* second character cut */
}
static void b_value_str_4g(mp *w)
{
    push_value_head(w);
    mp_be(w, 0xdb, 0xfffffff0u, 4);
    mp_raw(w, "abcd", 4);
}
static void b_value_bin_4g(mp *w)
{
    push_value_head(w);
    mp_be(w, 0xc6, 0xfffffff0u, 4);
    mp_raw(w, "abcd", 4);
}
static void b_value_bin_past_end(mp *w)
{
    push_value_head(w);
    mp_be(w, 0xc5, 1000, 2); /* under max_bytes, but 4 bytes follow */
    mp_raw(w, "abcd", 4);
}
static void b_value_missing(mp *w)
{
    push_head(w, 1, H0, 1);
    row_head(w, T_VISIT, 0, 1);
    group_head(w, 1, 0, 0, 0, 0);
    mp_uint(w, VISIT_NOTES);
}
/* Limit cases. */
static void b_push_5changes(mp *w)
{
    push_rows(w, 1, 1, 5);
}
static void b_push_3x2changes(mp *w)
{
    push_rows(w, 1, 3, 2);
}
static void b_push_3rows(mp *w)
{
    push_rows(w, 1, 3, 1);
}
static void b_push_3devices(mp *w)
{
    push_rows(w, 3, 3, 1);
}
static void b_value_65(mp *w)
{
    char s[65];
    memset(s, 'a', sizeof s);
    push_value_head(w);
    mp_str(w, s, 65);
}
static void b_value_64(mp *w)
{
    char s[64];
    memset(s, 'a', sizeof s);
    push_value_head(w);
    mp_str(w, s, 64);
}
static void b_value_blob_65(mp *w)
{
    uint8_t s[65] = {0};
    push_value_head(w);
    mp_bin(w, s, 65);
}
static void b_error_65(mp *w)
{
    char s[65];
    memset(s, 'e', sizeof s);
    error_text(w, s, 65);
}
static void b_enroll_65(mp *w)
{
    uint8_t k[65] = {0};
    mp_arr(w, 4);
    mp_uint(w, FS_MSG_ENROLL);
    mp_bin(w, k, 32);
    mp_bin(w, k, 64);
    mp_bin(w, k, 65);
}
static void b_value_blob_over_default(mp *w)
{
    size_t n = FS_MAX_BLOB + 1;
    uint8_t *s = calloc(1, n);
    CHECK(s != NULL);
    push_value_head(w);
    mp_bin(w, s, n);
    free(s);
}

typedef enum lim_kind {
    L_DEFAULT,
    L_FRAME,
    L_CHANGES,
    L_ROWS,
    L_DEVICES,
    L_BYTES,
    L_DEPTH,
    L_ITEMS
} lim_kind;

typedef struct bad_case {
    const char *name;
    void (*build)(mp *w);
    int expect; /* 0: a valid control next to the malformed cases */
    lim_kind lim;
    size_t limval; /* the value of that one limit; the others are the defaults */
} bad_case;

#define BAD(name, code)                                                                            \
    {                                                                                              \
#name, b_##name, FS_##code, L_DEFAULT, 0                                                   \
    }
#define OK(name)                                                                                   \
    {                                                                                              \
#name, b_##name, 0, L_DEFAULT, 0                                                           \
    }
#define LIM(name, code, which, value)                                                              \
    {                                                                                              \
#name "_" #which "_" #value, b_##name, code, which, value                                  \
    }

static const bad_case bad_cases[] = {
    /* controls: the valid inputs the cases below are one change away from */
    OK(push_ok),
    OK(push_prev_ok),
    OK(ack_ok),
    OK(hello_ok),
    OK(purge_ok),
    OK(changes_ok_empty),
    OK(column_last_ok),
    OK(hlc_max_ok),
    OK(value_int_ok),
    OK(ready_user_ok),
    OK(ready_no_team_ok),
    /* READY's user and team (protocol version 3) */
    BAD(ready_four_fields, EMALFORMED),
    BAD(ready_seven_fields, EMALFORMED),
    BAD(ready_role_4, EMALFORMED),
    BAD(ready_role_0, EMALFORMED),
    BAD(ready_role_str, EMALFORMED),
    OK(ready_epoch_ok),
    BAD(ready_epoch_15, EMALFORMED),
    BAD(ready_epoch_17, EMALFORMED),
    BAD(ready_epoch_str, EMALFORMED),
    BAD(ready_dev_acked_negative, EMALFORMED),
    BAD(ready_epoch_no_acked, EMALFORMED),
    BAD(ready_nine_fields, EMALFORMED),
    BAD(ready_epoch_bad_role, EMALFORMED),
    BAD(ready_empty_user, EMALFORMED),
    BAD(ready_long_user, EMALFORMED),
    BAD(ready_long_team, EMALFORMED),
    BAD(ready_user_bin, EMALFORMED),
    BAD(ready_user_nil, EMALFORMED),
    BAD(ready_user_bad_utf8, EMALFORMED),
    /* framing */
    BAD(empty, EMALFORMED),
    BAD(trailing_byte, EMALFORMED),
    BAD(trailing_msg, EMALFORMED),
    BAD(outer_map, EMALFORMED),
    BAD(outer_str, EMALFORMED),
    BAD(outer_int, EMALFORMED),
    BAD(outer_nil, EMALFORMED),
    BAD(outer_bin, EMALFORMED),
    BAD(outer_ext, EMALFORMED),
    BAD(empty_array, EMALFORMED),
    BAD(outer_array32_4g, EMALFORMED),
    BAD(deep_nesting, EMALFORMED),
    BAD(deep_nesting_field, EMALFORMED),
    /* the type */
    BAD(type_0, EUNSUPPORTED),
    BAD(type_6, EUNSUPPORTED),
    BAD(type_99, EUNSUPPORTED),
    BAD(type_2_32, EUNSUPPORTED),
    BAD(type_max, EUNSUPPORTED),
    BAD(type_ack_plus_2_32, EUNSUPPORTED),
    BAD(type_negative, EMALFORMED),
    BAD(type_str, EMALFORMED),
    BAD(type_bool, EMALFORMED),
    BAD(type_float, EMALFORMED),
    BAD(type_ext, EMALFORMED),
    /* fields of the small messages */
    BAD(hello_few, EMALFORMED),
    BAD(hello_many, EMALFORMED),
    BAD(bye_field, EMALFORMED),
    BAD(hello_key31, EMALFORMED),
    BAD(hello_key33, EMALFORMED),
    BAD(hello_key0, EMALFORMED),
    BAD(hello_key_str, EMALFORMED),
    BAD(hello_key_int, EMALFORMED),
    BAD(hello_version_2_32, EMALFORMED),
    BAD(welcome_sig63, EMALFORMED),
    BAD(auth_sig65, EMALFORMED),
    BAD(enroll_sealed_str, EMALFORMED),
    BAD(enroll_sealed_4g, ETOOBIG),
    BAD(ack_str, EMALFORMED),
    BAD(ack_negative, EMALFORMED),
    BAD(ack_negative64, EMALFORMED),
    BAD(ack_bool, EMALFORMED),
    BAD(ack_nil, EMALFORMED),
    OK(ack_restamps_ok),
    OK(ack_restamps_empty),
    BAD(ack_restamps_not_list, EMALFORMED),
    BAD(ack_restamp_zero_given, EMALFORMED),
    BAD(ack_restamp_zero_sent, EMALFORMED),
    BAD(ack_restamp_three, EMALFORMED),
    BAD(ack_restamp_negative, EMALFORMED),
    BAD(ack_restamp_str, EMALFORMED),
    BAD(ack_restamps_cut, EMALFORMED),
    OK(tip_ok),
    OK(tip_none_ok),
    BAD(tip_seq_no_clock, EMALFORMED),
    BAD(tip_clock_no_seq, EMALFORMED),
    BAD(tip_three_fields, EMALFORMED),
    BAD(tip_five_fields, EMALFORMED),
    BAD(tip_short_row, EMALFORMED),
    BAD(tip_negative, EMALFORMED),
    BAD(tip_str, EMALFORMED),
    OK(fork_ok),
    BAD(fork_short_key, EMALFORMED),
    BAD(fork_long_sig, EMALFORMED),
    BAD(fork_str_key, EMALFORMED),
    BAD(fork_one_sig, EMALFORMED),
    BAD(fork_cut, EMALFORMED),
    OK(forked_ok),
    BAD(forked_field, EMALFORMED),
    BAD(ack_four_fields, EMALFORMED),
    BAD(ack_float, EMALFORMED),
    BAD(ack_ext, EMALFORMED),
    BAD(ack_reserved, EMALFORMED),
    BAD(pull_max_2_32, EMALFORMED),
    BAD(pull_6_fields, EMALFORMED),
    BAD(pull_reason_2_32, EMALFORMED),
    BAD(pull_refusals_str, EMALFORMED),
    OK(pull_tag_ok),
    BAD(pull_tag_str, EMALFORMED),
    BAD(pull_tag_negative, EMALFORMED),
    OK(pull_clock_ok),
    BAD(pull_clock_str, EMALFORMED),
    BAD(pull_clock_negative, EMALFORMED),
    BAD(pull_10_fields, EMALFORMED),
    BAD(wipe_reason_2_32, EMALFORMED),
    BAD(error_utf8, EMALFORMED),
    BAD(error_text_bin, EMALFORMED),
    BAD(error_str32_4g, ETOOBIG),
    BAD(error_str_past_end, EMALFORMED),
    /* lists */
    BAD(purge_row15, EMALFORMED),
    BAD(purge_row17, EMALFORMED),
    BAD(purge_item3, EMALFORMED),
    BAD(purge_list_4g, EMALFORMED),
    BAD(purge_list_not_array, EMALFORMED),
    BAD(reject_item5, EMALFORMED),
    BAD(reject_utf8, EMALFORMED),
    BAD(reject_column_2_16, EMALFORMED),
    BAD(purge_unknown_table, EMALFORMED),
    BAD(reject_unknown_table, EMALFORMED),
    BAD(reject_column_out_of_range, EMALFORMED),
    /* batches */
    BAD(changes_more_int, EMALFORMED),
    BAD(changes_more_nil, EMALFORMED),
    OK(changes_tag_ok),
    OK(changes_resync_ok),
    BAD(changes_resync_cursor, EMALFORMED),
    BAD(changes_resync_changes, EMALFORMED),
    BAD(changes_resync_int, EMALFORMED),
    BAD(changes_tag_str, EMALFORMED),
    BAD(changes_5_fields, EMALFORMED),
    BAD(batch_map, EMALFORMED),
    BAD(batch_2, EMALFORMED),
    BAD(devices_bin, EMALFORMED),
    BAD(device_id15, EMALFORMED),
    BAD(devices_past_end, EMALFORMED),
    BAD(base_str, EMALFORMED),
    BAD(rows_4g, EMALFORMED),
    BAD(rows_past_end, EMALFORMED),
    BAD(row4, EMALFORMED),
    BAD(groups_bin, EMALFORMED),
    BAD(row_id15, EMALFORMED),
    BAD(row_id17, EMALFORMED),
    BAD(row_id_str, EMALFORMED),
    BAD(table_unknown, EMALFORMED),
    BAD(table_2_16, EMALFORMED),
    BAD(column_out_of_range, EMALFORMED),
    BAD(column_2_16, EMALFORMED),
    BAD(column_negative, EMALFORMED),
    BAD(column_bool, EMALFORMED),
    BAD(device_index_oob, EMALFORMED),
    BAD(device_index_huge, EMALFORMED),
    BAD(prev_device_oob, EMALFORMED),
    BAD(no_devices, EMALFORMED),
    BAD(group_odd, EMALFORMED),
    BAD(group_short, EMALFORMED),
    BAD(group_not_array, EMALFORMED),
    BAD(hlc_overflow, EMALFORMED),
    BAD(prev_underflow, EMALFORMED),
    BAD(delta_negative, EMALFORMED),
    BAD(hlc_zero, EMALFORMED),
    /* values */
    BAD(value_map, EMALFORMED),
    BAD(value_bool, EMALFORMED),
    BAD(value_ext, EMALFORMED),
    BAD(value_ext8, EMALFORMED),
    BAD(value_array, EMALFORMED),
    BAD(value_u64, EMALFORMED),
    BAD(value_utf8_ff, EMALFORMED),
    BAD(value_utf8_overlong, EMALFORMED),
    BAD(value_utf8_surrogate, EMALFORMED),
    BAD(value_utf8_cut, EMALFORMED),
    BAD(value_str_4g, ETOOBIG),
    BAD(value_bin_4g, ETOOBIG),
    BAD(value_bin_past_end, EMALFORMED),
    BAD(value_missing, EMALFORMED),
    BAD(value_blob_over_default, ETOOBIG),
    /* each limit, just over and exactly at it */
    LIM(ack_ok, FS_ETOOBIG, L_FRAME, 2),
    LIM(ack_ok, 0, L_FRAME, 3),
    LIM(ack_restamps_ok, FS_ETOOBIG, L_ITEMS, 1),
    LIM(ack_restamps_ok, 0, L_ITEMS, 2),
    LIM(push_5changes, FS_ETOOBIG, L_CHANGES, 4),
    LIM(push_5changes, 0, L_CHANGES, 5),
    LIM(push_3x2changes, FS_ETOOBIG, L_CHANGES, 5),
    LIM(push_3x2changes, 0, L_CHANGES, 6),
    LIM(push_3rows, FS_ETOOBIG, L_ROWS, 2),
    LIM(push_3rows, 0, L_ROWS, 3),
    LIM(push_3devices, FS_ETOOBIG, L_DEVICES, 2),
    LIM(push_3devices, 0, L_DEVICES, 3),
    LIM(value_65, FS_ETOOBIG, L_BYTES, 64),
    LIM(value_64, 0, L_BYTES, 64),
    LIM(value_blob_65, FS_ETOOBIG, L_BYTES, 64),
    LIM(error_65, FS_ETOOBIG, L_BYTES, 64),
    LIM(enroll_65, FS_ETOOBIG, L_BYTES, 64),
    LIM(push_ok, FS_ETOOBIG, L_DEPTH, 5),
    LIM(push_ok, 0, L_DEPTH, 6),
    LIM(reject_3, FS_ETOOBIG, L_DEPTH, 2),
    LIM(reject_3, 0, L_DEPTH, 3),
    LIM(reject_3, FS_ETOOBIG, L_ITEMS, 2),
    LIM(reject_3, 0, L_ITEMS, 3),
    LIM(purge_3, FS_ETOOBIG, L_ITEMS, 2),
    LIM(purge_3, 0, L_ITEMS, 3),
};

static fs_proto_limits case_limits(const bad_case *c)
{
    fs_proto_limits l = fs_proto_default_limits;
    switch (c->lim) {
    case L_DEFAULT:
        break;
    case L_FRAME:
        l.max_frame = c->limval;
        break;
    case L_CHANGES:
        l.max_changes = c->limval;
        break;
    case L_ROWS:
        l.max_rows = c->limval;
        break;
    case L_DEVICES:
        l.max_devices = c->limval;
        break;
    case L_BYTES:
        l.max_bytes = c->limval;
        break;
    case L_DEPTH:
        l.max_depth = (unsigned)c->limval;
        break;
    case L_ITEMS:
        l.max_items = c->limval;
        break;
    }
    return l;
}

/* Runs the table; with FS_WRITE_CORPUS=DIR also saves each input (up to
 * 4 KiB) there as a fuzz seed, and the golden vectors with them. */
static void test_malformed(void)
{
    setup();
    const char *corpus = getenv("FS_WRITE_CORPUS");
    size_t nbad = 0, nok = 0, nlimit = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        mp w = {NULL, 0, 0};
        c->build(&w);
        fs_proto_limits lim = case_limits(c);
        /* An exact-size copy, so ASan sees any read past the end. */
        uint8_t *in = malloc(w.n ? w.n : 1);
        CHECK(in != NULL);
        if (w.n > 0)
            memcpy(in, w.b, w.n);
        int dummy;
        fs_msg *m = (fs_msg *)&dummy; /* must be reset to NULL on failure */
        char why[160] = "";
        int rc = fs_msg_decode(in, w.n, &lim, &m, why, sizeof why);
        if (rc != c->expect)
            FAIL("case %s (%zu bytes): %s (%s), expected %s", c->name, w.n, fs_errname(rc), why,
                 fs_errname(c->expect));
        if (rc != 0) {
            CHECK(m == NULL);
            if (why[0] == '\0')
                FAIL("case %s: no reason given in why", c->name);
        } else {
            CHECK(m != NULL);
            fs_msg_free(m);
        }
        if (c->expect == 0)
            nok++;
        else if (c->lim != L_DEFAULT)
            nlimit++;
        else
            nbad++;
        if (corpus != NULL && w.n <= 4096) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", corpus, c->name);
            test_write_file(path, in, w.n);
        }
        free(in);
        free(w.b);
    }
    if (corpus != NULL) {
        for (int i = 0; i < NGOLDEN; i++) {
            char src[1024], dst[1024];
            vector_path(src, sizeof src, golden_names[i]);
            snprintf(dst, sizeof dst, "%s/golden_%s", corpus, golden_names[i]);
            size_t n;
            unsigned char *b = test_read_file(src, &n);
            if (b == NULL)
                FAIL("%s is missing", src);
            test_write_file(dst, b, n);
            free(b);
        }
        printf("wrote the seeds to %s\n", corpus);
    }
    printf("%zu malformed cases + %zu limit cases refused with the expected code, "
           "%zu controls accepted, plus the truncation class\n",
           nbad, nlimit, nok);
    leak_check();
}

/* ---- size target ---- */

static const char *const contacts[] = {"王經理", "李總", "Mr. Zhang", "陳小姐", "Ms. Wong", "劉工"};
static const char *const positions[] = {"采購總監 (purchasing director)", "IT manager", "總經理",
                                        "運營主管", "CFO 財務總監"};
static const char *const places[] = {"客戶會議室", "customer's meeting room", "深圳南山辦公室",
                                     "上海浦東總部 3F", "video call 視頻會議"};
static const char *const purposes[] = {
    "跟進XX項目需求，介紹定制方案", "follow up project requirements, present a tailored solution",
    "演示離線同步功能 (demo)", "商務談判: pricing and SLA", "回訪: after-sales satisfaction"};
static const char *const note_parts[] = {
    "1. uses a competitor, finds it complex, wants simpler flows; ",
    "2. 重視穩定性和售後響應速度; ",
    "3. budget 500k-800k CNY; ",
    "客戶IT部門要求支持單點登錄 (SSO); ",
    "decision by end of Q4, 采購流程需要3週; ",
    "對數據安全和本地部署有顧慮; ",
    "wants a pilot with 20 reps first; ",
    "上次交付延誤，客戶有不滿; "};
static const char *const objections[] = {"對新品牌售後能力有疑慮", "price 20% above budget",
                                         "擔心數據遷移風險", "prefers the incumbent vendor", ""};
static const char *const next_steps[] = {
    "send cases and SLA by Oct 12; second visit with a demo on Oct 15",
    "10月20日前提交報價單; arrange a call with their IT", "安排技術團隊現場演示",
    "follow up by phone next Monday 下週一電話跟進"};
static const char *const visitors[] = {"張某", "Li Wei", "趙敏", "Chen Jun"};
static const char *const promises[] = {
    "2天內發送3個同類客戶成功案例", "state an after-sales SLA (24 h response, 48 h fix)",
    "提供試用賬號 for 20 reps", "send the revised quote 修改報價", "安排工程師上門評估"};
static const char *const statuses[] = {"open", "open", "done", "cancelled"};

typedef struct size_acc {
    fs_change *changes;
    size_t n;
    size_t value_bytes;
} size_acc;

static void add_change(size_acc *a, uint16_t table, const uint8_t row[16], uint16_t column,
                       fs_value v, uint64_t hlc, const uint8_t dev[16])
{
    a->changes[a->n++] = mkchange(table, row, column, v, hlc, dev, 0, NULL);
    switch (v.type) {
    case FS_NULL:
        break;
    case FS_INT:
    case FS_REAL:
        a->value_bytes += 8;
        break;
    case FS_TEXT:
    case FS_BLOB:
        a->value_bytes += v.n;
        break;
    }
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil
 * inverse). */
static void civil_date(uint64_t days, int *y, int *m, int *d)
{
    int64_t z = (int64_t)days + 719468, era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mq = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mq + 2) / 5 + 1);
    *m = (int)(mq < 10 ? mq + 3 : mq - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

#define PICK(arr) arr[rng_below(&g, sizeof arr / sizeof arr[0])]

static void test_size_target(void)
{
    setup();
    enum { NVISITS = 1000, VISIT_COLS = 10, COMMIT_COLS = 5, NDEV = 4, NCUST = 120 };
    size_t cap = NVISITS * (VISIT_COLS + 2 * COMMIT_COLS);
    size_acc a = {calloc(cap, sizeof(fs_change)), 0, 0};
    uint8_t(*vids)[16] = calloc(NVISITS, 16), (*cids)[16] = calloc(2 * NVISITS, 16);
    uint8_t(*cust)[16] = calloc(NCUST, 16), (*devs)[16] = calloc(NDEV, 16);
    char(*times)[17] = calloc(NVISITS, 17), (*notes)[320] = calloc(NVISITS, 320);
    char(*dues)[11] = calloc(2 * NVISITS, 11);
    CHECK(a.changes && vids && cids && cust && devs && times && notes && dues);
    rng g = {20231010};
    for (unsigned i = 0; i < NCUST; i++)
        fixed_bytes(cust[i], 16, 0x7000 + i);
    for (unsigned i = 0; i < NDEV; i++)
        fixed_bytes(devs[i], 16, 0x8000 + i);

    uint64_t ms = MS_BASE; /* 2023-10-10 14:05 +08:00 */
    for (unsigned v = 0; v < NVISITS; v++) {
        ms += (20 + rng_below(&g, 220)) * 60000ull; /* the next visit, 20-240 minutes later */
        uint64_t hlc = ms << 16 | rng_below(&g, 4);
        const uint8_t *dev = devs[rng_below(&g, NDEV)];
        fixed_bytes(vids[v], 16, 0x100000 + v);
        /* The visit's local time, from the clock (+08:00). */
        uint64_t t = ms / 1000 + 8 * 3600, secs = t % 86400;
        int y, mo, d;
        civil_date(t / 86400, &y, &mo, &d);
        snprintf(times[v], 17, "%04d-%02d-%02d %02d:%02d", y, mo, d, (int)(secs / 3600),
                 (int)(secs / 60 % 60));
        CHECK(fs_datetime_valid(times[v], 16));
        size_t nl = 0;
        while (nl < 150) {
            const char *part = PICK(note_parts);
            size_t pl = strlen(part);
            if (nl + pl > 250)
                break;
            memcpy(notes[v] + nl, part, pl);
            nl += pl;
        }
        const uint8_t *customer = cust[rng_below(&g, NCUST)];
        add_change(&a, T_VISIT, vids[v], VISIT_CUSTOMER, fs_blob(customer, 16), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_CONTACT, T(PICK(contacts)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_POSITION, T(PICK(positions)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_TIME, fs_textn(times[v], 16), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_PLACE, T(PICK(places)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_PURPOSE, T(PICK(purposes)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_NOTES, fs_textn(notes[v], nl), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_OBJECTIONS, T(PICK(objections)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_NEXT_STEPS, T(PICK(next_steps)), hlc, dev);
        add_change(&a, T_VISIT, vids[v], VISIT_VISITOR, T(PICK(visitors)), hlc, dev);
        for (unsigned k = 0; k < 2; k++) {
            unsigned ci = 2 * v + k;
            uint64_t chlc = (ms + (1 + k) * 60000ull) << 16; /* a minute later each */
            fixed_bytes(cids[ci], 16, 0x200000 + ci);
            civil_date(t / 86400 + 2 + rng_below(&g, 12), &y, &mo, &d); /* due 2-13 days on */
            snprintf(dues[ci], 11, "%04d-%02d-%02d", y, mo, d);
            CHECK(fs_date_valid(dues[ci], 10));
            add_change(&a, T_COMMITMENT, cids[ci], COMMIT_VISIT, fs_blob(vids[v], 16), chlc, dev);
            add_change(&a, T_COMMITMENT, cids[ci], COMMIT_CUSTOMER, fs_blob(customer, 16), chlc,
                       dev);
            add_change(&a, T_COMMITMENT, cids[ci], COMMIT_TEXT, T(PICK(promises)), chlc, dev);
            add_change(&a, T_COMMITMENT, cids[ci], COMMIT_DUE, fs_textn(dues[ci], 10), chlc, dev);
            add_change(&a, T_COMMITMENT, cids[ci], COMMIT_STATUS, T(PICK(statuses)), chlc, dev);
        }
    }
    CHECK_EQ_INT(a.n, cap);

    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.cursor = 123456;
    m.u.changes.more = 0;
    m.u.changes.changes = a.changes;
    m.u.changes.count = a.n;
    fs_buf b;
    fs_buf_init(&b);
    CHECK_OK(fs_msg_encode(&m, &b));

    /* Sealed as one secretstream message; the 24-byte header travels once
     * per session, counted here in full. */
    uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_state st;
    crypto_secretstream_xchacha20poly1305_keygen(key);
    CHECK(crypto_secretstream_xchacha20poly1305_init_push(&st, header, key) == 0);
    size_t clen_max = b.len + crypto_secretstream_xchacha20poly1305_ABYTES;
    uint8_t *sealed = malloc(clen_max);
    CHECK(sealed != NULL);
    unsigned long long clen = 0;
    CHECK(crypto_secretstream_xchacha20poly1305_push(
              &st, sealed, &clen, b.data, b.len, NULL, 0,
              crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) == 0);
    CHECK_EQ_INT(clen, clen_max);
    size_t total = (size_t)clen + sizeof header;
    double ratio = (double)total / (double)a.value_bytes;
    printf("size target: %d visits + %d commitments, %zu changes; field values %zu bytes, "
           "CHANGES %zu bytes, sealed %zu bytes (+%d header) -> ratio %.3f (limit 1.30)\n",
           NVISITS, 2 * NVISITS, a.n, a.value_bytes, b.len, (size_t)clen,
           crypto_secretstream_xchacha20poly1305_HEADERBYTES, ratio);
    printf("size target: counting each record's own 16-byte id as a field too, the ratio is "
           "%.3f\n",
           (double)total / (double)(a.value_bytes + 3 * NVISITS * FS_ID_BYTES));
    if (ratio > 1.3)
        FAIL("sealed CHANGES is %.3f times the field values (limit 1.3)", ratio);

    /* And back: every change, a sample compared by lookup. */
    fs_msg *back = NULL;
    char why[160] = "";
    int rc = fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &back, why, sizeof why);
    if (rc != 0)
        FAIL("decoding the batch: %s (%s)", fs_errname(rc), why);
    CHECK_EQ_INT(back->type, FS_MSG_CHANGES);
    CHECK(back->u.changes.cursor == 123456);
    CHECK_EQ_INT(back->u.changes.more, 0);
    CHECK_EQ_INT(back->u.changes.count, a.n);
    size_t found = 0;
    for (size_t s = 0; s < a.n; s += 97) {
        const fs_change *want = &a.changes[s];
        for (size_t k = 0; k < back->u.changes.count; k++) {
            const fs_change *got = &back->u.changes.changes[k];
            if (got->table == want->table && got->column == want->column &&
                memcmp(got->row, want->row, 16) == 0) {
                check_value(&want->value, &got->value, "size-target sample");
                CHECK(fs_version_cmp(&want->version, &got->version) == 0);
                CHECK(got->prev.hlc == 0);
                found++;
                break;
            }
        }
    }
    CHECK_EQ_INT(found, (a.n + 96) / 97);
    fs_msg_free(back);
    free(sealed);
    fs_buf_free(&b);
    free(a.changes);
    free(vids);
    free(cids);
    free(cust);
    free(devs);
    free(times);
    free(notes);
    free(dues);
    leak_check();
}

/* ---- the reassembler ---- */

/* The encoder never sends what a decoder would refuse: a receiver drops a
 * whole batch for one bad change, so one would block a device's pushes. */
static void test_encoder_refuses_undecodable(void)
{
    fs_change c;
    fs_msg m;
    fs_buf out;
    memset(&c, 0, sizeof c);
    memset(&m, 0, sizeof m);
    fs_buf_init(&out);
    c.table = T_VISIT;
    c.column = 1;
    c.value = fs_text("ok");
    c.version.hlc = 1u << 16;
    m.type = FS_MSG_PUSH;
    m.u.push.first_seq = m.u.push.last_seq = 1;
    m.u.push.changes = &c;
    m.u.push.count = 1;
    CHECK_OK(fs_msg_encode(&m, &out));
    size_t good = out.len;
    c.table = 99;
    CHECK_ERR(fs_msg_encode(&m, &out), FS_EINVAL);
    c.table = T_VISIT;
    c.column = 500;
    CHECK_ERR(fs_msg_encode(&m, &out), FS_EINVAL);
    c.column = 1;
    c.value = fs_textn("\xff\xfe", 2);
    CHECK_ERR(fs_msg_encode(&m, &out), FS_EINVAL);
    c.value = fs_text("ok");
    c.prev.hlc = c.version.hlc; /* a previous version must be older */
    CHECK_ERR(fs_msg_encode(&m, &out), FS_EINVAL);
    CHECK_EQ_INT(out.len, good); /* failed encodes left nothing behind */
    fs_purge_item p = {past_last_table(), {0}};
    fs_msg pm;
    memset(&pm, 0, sizeof pm);
    pm.type = FS_MSG_PURGE;
    pm.u.purge.items = &p;
    pm.u.purge.count = 1;
    CHECK_ERR(fs_msg_encode(&pm, &out), FS_EINVAL);
    CHECK_EQ_INT(out.len, good);
    fs_buf_free(&out);
}

static void test_reassembler(void)
{
    fs_reassembler r;
    const uint8_t *frame = NULL;
    size_t len = 0;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);

    fs_reassembler_init(&r, 100);
    /* One whole frame in one final fragment. */
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 40, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 40);
    CHECK_MEM(frame, data, 40);
    /* Fragments joined, an empty final one included. */
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 30, 0, &frame, &len), 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 30, 1, 0, &frame, &len), 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 31, 69, 0, &frame, &len), 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 0, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 100); /* exactly max_frame */
    CHECK_MEM(frame, data, 100);
    /* The next frame starts empty. */
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 5, 10, 0, &frame, &len), 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 15, 10, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 20);
    CHECK_MEM(frame, data + 5, 20);

    /* Over the limit: refused before the buffer grows, the partial frame
     * dropped, and the next frame unaffected. */
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 60, 0, &frame, &len), 0);
    size_t cap = r.buf.cap;
    CHECK_ERR(fs_reassembler_add(&r, data + 60, 41, 0, &frame, &len), FS_ETOOBIG);
    CHECK(r.buf.cap <= cap);
    CHECK_EQ_INT(r.buf.len, 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 1, 12, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 12);
    CHECK_MEM(frame, data + 1, 12);
    /* One final fragment over the limit, and one frame of max_frame + 1. */
    CHECK_ERR(fs_reassembler_add(&r, data, 101, 1, &frame, &len), FS_ETOOBIG);
    CHECK_EQ_INT(r.buf.len, 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 100, 0, &frame, &len), 0);
    CHECK_ERR(fs_reassembler_add(&r, data, 1, 1, &frame, &len), FS_ETOOBIG);
    CHECK_EQ_INT(r.buf.len, 0);
    /* A length that would wrap len + n around must not pass the check. */
    CHECK_EQ_INT(fs_reassembler_add(&r, data, 10, 0, &frame, &len), 0);
    CHECK_ERR(fs_reassembler_add(&r, data, SIZE_MAX - 5, 0, &frame, &len), FS_ETOOBIG);
    CHECK_EQ_INT(r.buf.len, 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 2, 3, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 3);
    CHECK_MEM(frame, data + 2, 3);
    fs_reassembler_free(&r);

    /* A frame of many small fragments, under a realistic limit. */
    fs_reassembler_init(&r, fs_proto_default_limits.max_frame);
    for (int i = 0; i < 299; i++)
        CHECK_EQ_INT(fs_reassembler_add(&r, data + i, 1, 0, &frame, &len), 0);
    CHECK_EQ_INT(fs_reassembler_add(&r, data + 299, 1, 1, &frame, &len), 1);
    CHECK_EQ_INT(len, 300);
    CHECK_MEM(frame, data, 300);
    fs_reassembler_free(&r);
    leak_check();
}

/* Which schema a peer of each protocol version knows: the roster (schema
 * 4) goes to version 5 on only (issue 25 point 6). */
/* A PULL's exports (issue 20.4): to a peer of version 7 on only; a
 * version-6 peer gets exactly the bytes it got before; counted and
 * checked (kind and mode [a-z_]) both ways. */
static void test_pull_exports(void)
{
    fs_msg m, *got = NULL;
    fs_buf b, old;
    fs_buf_init(&b);
    fs_buf_init(&old);
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_PULL;
    m.u.pull.cursor = 7;
    m.u.pull.max = 500;
    m.u.pull.has_refusals = 1;
    m.u.pull.has_tag = 1;
    m.u.pull.has_clock = 1;
    m.u.pull.wall_ms = 1796000000123ull;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EXPORT, &old)); /* none: as before */
    m.u.pull.nexports = 2;
    m.u.pull.exports[0] = (fs_pull_export){1796000000000ull, "visit", 12, "sealed"};
    m.u.pull.exports[1] = (fs_pull_export){1796000000500ull, "customer", 3, "plaintext"};
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EXPORT, &b));
    CHECK(b.len > old.len);
    CHECK_OK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0));
    CHECK(got != NULL && got->u.pull.nexports == 2);
    if (got != NULL) {
        CHECK(got->u.pull.exports[0].at_ms == 1796000000000ull);
        CHECK(strcmp(got->u.pull.exports[0].kind, "visit") == 0);
        CHECK(got->u.pull.exports[0].n == 12);
        CHECK(strcmp(got->u.pull.exports[1].mode, "plaintext") == 0);
        CHECK(got->u.pull.wall_ms == 1796000000123ull);
    }
    fs_msg_free(got);
    got = NULL;
    /* a version-6 peer: today's bytes, the exports left out */
    fs_buf_reset(&b);
    fs_buf_reset(&old);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_TEAM, &b));
    m.u.pull.nexports = 0;
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_TEAM, &old));
    CHECK(b.len == old.len && memcmp(b.data, old.data, b.len) == 0);
    /* too many, or a kind that is not a word: refused by the encoder */
    m.u.pull.nexports = FS_PULL_EXPORTS_MAX + 1;
    fs_buf_reset(&b);
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EXPORT, &b) == FS_EINVAL);
    m.u.pull.nexports = 1;
    snprintf(m.u.pull.exports[0].kind, sizeof m.u.pull.exports[0].kind, "Visit x");
    fs_buf_reset(&b);
    CHECK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EXPORT, &b) == FS_EINVAL);
    /* and by the decoder: a kind that is not a word (a byte patched) */
    snprintf(m.u.pull.exports[0].kind, sizeof m.u.pull.exports[0].kind, "vizit");
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_EXPORT, &b));
    uint8_t *k = NULL;
    for (size_t i = 0; i + 5 <= b.len && k == NULL; i++)
        if (memcmp(b.data + i, "vizit", 5) == 0)
            k = b.data + i;
    CHECK(k != NULL);
    if (k != NULL)
        k[2] = 'Z';
    CHECK(fs_msg_decode(b.data, b.len, &fs_proto_default_limits, &got, NULL, 0) != 0);
    CHECK(got == NULL);
    fs_buf_free(&b);
    fs_buf_free(&old);
    leak_check();
}

static void test_proto_schema(void)
{
    CHECK_EQ_INT(fs_proto_schema(1), 1);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA2), 2);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA3), 3);
    CHECK_EQ_INT(fs_proto_schema(4), 3);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA4), 4);
    CHECK_EQ_INT(fs_proto_schema(5), 4);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_TEAM), 5);
    CHECK_EQ_INT(FS_PROTO_VERSION_TEAM, 6);
    CHECK_EQ_INT(fs_proto_schema(6), 5);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA6), 6);
    CHECK_EQ_INT(FS_PROTO_VERSION_SCHEMA6, 7);
    CHECK_EQ_INT(FS_PROTO_VERSION_EXPORT, 7);
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION), FS_SCHEMA_VERSION);
    /* attachments' records (schema 6) go to version 7 on only (issue 19.3) */
    CHECK_EQ_INT(fs_proto_schema(FS_PROTO_VERSION_SCHEMA6), 6);
    CHECK_EQ_INT(FS_PROTO_VERSION_SCHEMA6, 7);
    int at = fs_schema_table_index("attachment");
    CHECK(at >= 0);
    for (unsigned c = 0; c < fs_schema_tables(&(unsigned){0})[at].ncolumns; c++) {
        CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(6), (unsigned)at, c), 0);
        CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(7), (unsigned)at, c), 1);
    }
    int roster = fs_schema_table_index("roster");
    CHECK(roster >= 0);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(4), (unsigned)roster, 1), 0);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(5), (unsigned)roster, 1), 1);
    /* the team's settings (schema 5) go to version 6 on only (issue 17.7) */
    int ts = fs_schema_table_index("team_setting");
    CHECK(ts >= 0);
    for (unsigned c = 0; c < 4; c++) {
        CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(5), (unsigned)ts, c), 0);
        CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(6), (unsigned)ts, c), 1);
    }
    /* and the recording times of a done and an answer (issue 17.6) */
    const fs_table *all = fs_schema_tables(&(unsigned){0});
    int cm = fs_schema_table_index("commitment"), qu = fs_schema_table_index("customer_question");
    int dr = fs_schema_column_index(&all[cm], "done_recorded_at");
    int ar = fs_schema_column_index(&all[qu], "answered_recorded_at");
    CHECK(dr > 0 && ar > 0);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(5), (unsigned)cm, (unsigned)dr), 0);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(6), (unsigned)cm, (unsigned)dr), 1);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(5), (unsigned)qu, (unsigned)ar), 0);
    CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(5), (unsigned)cm,
                                      (unsigned)fs_schema_column_index(&all[cm], "done_at")),
                 1);
    /* the sales records (schema 6, issue 19.2) go to version 7 on only,
     * every column of them */
    const char *sales[] = {"deal", "payment", "contract", "survey"};
    for (size_t i = 0; i < 4; i++) {
        int t = fs_schema_table_index(sales[i]);
        CHECK(t >= 0);
        for (unsigned c = 0; c < all[t].ncolumns; c++) {
            CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(6), (unsigned)t, c), 0);
            CHECK_EQ_INT(fs_schema_in_version(fs_proto_schema(7), (unsigned)t, c), 1);
        }
    }
}

/* The control request's language field (issue 17.1): a request without it
 * is today's bytes and parses as English (NULL); each known value goes and
 * comes back; anything else is refused both ways. */
static void test_ctl_lang(void)
{
    static const char old[] = "pw\0device\0list\0--data\0/srv/fs"; /* + final NUL */
    char *argv[] = {"device", "list", "--data", "/srv/fs"};
    fs_buf b;
    fs_buf_init(&b);
    CHECK_OK(fs_ctl_request_encode(&b, NULL, "pw", 2, 4, argv));
    CHECK_EQ_INT(b.len, 4 + sizeof old);
    CHECK_MEM(b.data + 4, old, sizeof old);
    char body[256];
    const char *lang, *pass;
    size_t passlen;
    int argc;
    char *av[FS_CTL_MAX_ARGS + 1];
    memcpy(body, old, sizeof old);
    CHECK_OK(fs_ctl_request_parse(body, sizeof old, &lang, &pass, &passlen, &argc, av));
    CHECK(lang == NULL);
    CHECK_EQ_INT(argc, 4);
    CHECK_STR(av[0], "device");
    fs_buf_free(&b);
    const char *const langs[] = {"zh_CN", "zh_TW", "en"};
    for (size_t i = 0; i < 3; i++) {
        fs_buf_init(&b);
        CHECK_OK(fs_ctl_request_encode(&b, langs[i], "pw", 2, 4, argv));
        CHECK(b.len - 4 < sizeof body);
        memcpy(body, b.data + 4, b.len - 4);
        CHECK_MEM(body, "pw\0\001lang=", 9);
        CHECK_OK(fs_ctl_request_parse(body, b.len - 4, &lang, &pass, &passlen, &argc, av));
        CHECK(lang != NULL);
        CHECK_STR(lang, langs[i]);
        CHECK_EQ_INT(passlen, 2);
        CHECK_EQ_INT(argc, 4);
        CHECK_STR(av[0], "device");
        CHECK_STR(av[3], "/srv/fs");
        fs_buf_free(&b);
    }
    fs_buf_init(&b);
    CHECK_ERR(fs_ctl_request_encode(&b, "fr", "pw", 2, 4, argv), FS_EINVAL);
    CHECK_ERR(fs_ctl_request_encode(&b, "zh_CN\nx", "pw", 2, 4, argv), FS_EINVAL);
    fs_buf_free(&b);
    static const char *const bad[] = {"pw\0\001lang=fr\0user\0", "pw\0\001lang=zh_CNx\0user\0",
                                      "pw\0\001lang=\0user\0", "pw\0\001lan=zh_CN\0user\0",
                                      "pw\0\001lang=zh_CN\0"};
    static const size_t badlen[] = {17, 21, 15, 19, 15};
    for (size_t i = 0; i < 5; i++) {
        memcpy(body, bad[i], badlen[i]);
        CHECK(body[badlen[i] - 1] == '\0');
        CHECK_ERR(fs_ctl_request_parse(body, badlen[i], &lang, &pass, &passlen, &argc, av),
                  FS_EMALFORMED);
    }
}

TEST_LIST(TEST(encoder_refuses_undecodable) TEST(proto_schema) TEST(pull_exports) TEST(reason_text) TEST(default_limits) TEST(golden_encode) TEST(golden_decode) TEST(golden_ready_v3) TEST(pull_open_refusals) TEST(restore_fields)
              TEST(encode_order) TEST(ack_restamps) TEST(push_resent) TEST(push_cursor) TEST(fork_messages) TEST(attach_messages) TEST(policy_messages) TEST(golden_truncated) TEST(malformed) TEST(size_target)
                  TEST(reassembler) TEST(ctl_lang))
