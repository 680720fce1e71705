/*
 * Compressed batches (protocol version 2; fieldsync/msg.h FORMAT, proto/zframe.c):
 * - they decode to exactly the changes a plain batch carries, and are
 *   smaller;
 * - one zstd frame per compression group, each frame holding only its
 *   group's rows, and a frame's bytes independent of every other group's
 *   text (no CRIME-style probing of one owner's text through another's);
 * - version 1 encodes plain, and so does a small batch and anything
 *   compression would not shrink or the decoder would refuse;
 * - the decoder refuses, with a reason and before allocating, what is not a
 *   sound compressed batch.
 * FS_WRITE_CORPUS=DIR saves the messages decoded here as fuzz seeds
 * (tests/fuzz/corpus/msg).
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fieldsync/error.h"
#include "fieldsync/msg.h"
#include "fieldsync/schema.h"
#include "test.h"

enum { NOWNERS = 3, ROWS_PER_OWNER = 60 };

static const char *const phrases[] = {
    "客户对新版报价表示认可，", "需要在下周三前提交技术方案，", "采购流程预计两周，",
    "对方关心售后响应时间，",   "竞争对手报价低百分之八，",     "Follow up with IT on SSO. ",
    "Budget approved for Q3. ", "演示环境需提前准备，",         "决策人是财务总监，",
};

typedef struct corpus {
    fs_change changes[NOWNERS * ROWS_PER_OWNER * 3];
    uint32_t groups[NOWNERS * ROWS_PER_OWNER * 3];
    char text[NOWNERS * ROWS_PER_OWNER][400];
    size_t n;
} corpus;

/* Visits of NOWNERS owners, interleaved as a feed has them; each visit
 * three columns (place, notes, visitor), its owner as its group. salt
 * changes owner 1's notes only. */
static void build(corpus *c, unsigned salt)
{
    int visit = fs_schema_table_index("visit");
    CHECK(visit >= 0);
    unsigned nt;
    const fs_table *vt = &fs_schema_tables(&nt)[visit];
    int place = fs_schema_column_index(vt, "place");
    int notes = fs_schema_column_index(vt, "notes");
    int visitor = fs_schema_column_index(vt, "visitor");
    CHECK(place > 0 && notes > 0 && visitor > 0);
    memset(c, 0, sizeof *c);
    uint8_t dev[NOWNERS][FS_ID_BYTES];
    for (unsigned o = 0; o < NOWNERS; o++)
        memset(dev[o], 0xd0 + (int)o, FS_ID_BYTES);
    for (unsigned i = 0; i < NOWNERS * ROWS_PER_OWNER; i++) {
        unsigned owner = i % NOWNERS;
        char *t = c->text[i];
        size_t len = 0;
        for (unsigned k = 0; k < 6; k++) {
            unsigned pick = (i * 7 + k * 3 + (owner == 1 ? salt : 0)) % 9;
            len += (size_t)snprintf(t + len, sizeof c->text[i] - len, "%s", phrases[pick]);
        }
        uint8_t row[FS_ID_BYTES];
        randombytes_buf_deterministic(row, sizeof row, (const unsigned char[32]){(uint8_t)i, 1});
        const struct {
            int col;
            fs_value v;
        } cells[3] = {{place, fs_text("上海浦东 张江高科")},
                      {notes, fs_textn(t, len)},
                      {visitor, fs_text(owner == 0   ? "张伟"
                                        : owner == 1 ? "李娜"
                                                     : "王芳")}};
        for (int k = 0; k < 3; k++) {
            fs_change *ch = &c->changes[c->n];
            ch->table = (uint16_t)visit;
            ch->column = (uint16_t)cells[k].col;
            memcpy(ch->row, row, FS_ID_BYTES);
            ch->value = cells[k].v;
            ch->version.hlc = (1700000000000ull + i * 1000) << 16;
            memcpy(ch->version.device, dev[owner], FS_ID_BYTES);
            c->groups[c->n] = owner;
            c->n++;
        }
    }
}

static fs_msg changes_msg(const corpus *c)
{
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.cursor = 4242;
    m.u.changes.more = 1;
    m.u.changes.changes = c->changes;
    m.u.changes.count = c->n;
    m.u.changes.groups = c->groups;
    return m;
}

/* The batch field of an encoded CHANGES: [14, cursor, more, batch]. With a
 * cursor under 65,536 the header is fixarray, type, uint16, bool. */
static const uint8_t *batch_field(const fs_buf *b, size_t *n)
{
    CHECK(b->len > 6);
    CHECK_EQ_INT(b->data[0], 0x94);
    CHECK_EQ_INT(b->data[1], FS_MSG_CHANGES);
    CHECK_EQ_INT(b->data[2], 0xcd);
    *n = b->len - 6;
    return b->data + 6;
}

/* The zstd frames inside a compressed batch field (a bin). */
static size_t frames_of(const uint8_t *p, size_t n, const uint8_t **frame, size_t *len, size_t max)
{
    size_t body;
    if (p[0] == 0xc4) {
        body = p[1];
        p += 2;
    } else if (p[0] == 0xc5) {
        body = (size_t)p[1] << 8 | p[2];
        p += 3;
    } else {
        CHECK_EQ_INT(p[0], 0xc6);
        body = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        p += 5;
    }
    CHECK(body < n);
    size_t k = 0;
    for (size_t at = 0; at < body; k++) {
        size_t f = ZSTD_findFrameCompressedSize(p + at, body - at);
        CHECK(!ZSTD_isError(f));
        CHECK(k < max);
        frame[k] = p + at;
        len[k] = f;
        at += f;
    }
    return k;
}

static void check_same_changes(const fs_change *want, size_t n, const fs_msg *got)
{
    CHECK_EQ_INT(got->u.changes.count, n);
    for (size_t i = 0; i < n; i++) {
        const fs_change *w = &want[i];
        size_t k = 0;
        while (k < n && !(got->u.changes.changes[k].column == w->column &&
                          memcmp(got->u.changes.changes[k].row, w->row, FS_ID_BYTES) == 0))
            k++;
        if (k == n)
            FAIL("change %zu did not come back", i);
        const fs_change *g = &got->u.changes.changes[k];
        CHECK_EQ_INT(g->table, w->table);
        CHECK_EQ_INT(g->value.type, w->value.type);
        CHECK_EQ_INT(g->value.n, w->value.n);
        CHECK_MEM(g->value.p, w->value.p, w->value.n);
        CHECK(fs_version_cmp(&g->version, &w->version) == 0);
    }
}

static corpus *corpus_new(unsigned salt)
{
    corpus *c = malloc(sizeof *c);
    CHECK(c != NULL);
    build(c, salt);
    return c;
}

/* With FS_WRITE_CORPUS=DIR, saves a decoder input as DIR/zbatch-NAME. */
static void save_seed(const char *name, const fs_buf *b)
{
    const char *dir = getenv("FS_WRITE_CORPUS");
    if (dir == NULL || b->len > 64 * 1024)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/zbatch-%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ_INT(fwrite(b->data, 1, b->len, f), b->len);
    CHECK_EQ_INT(fclose(f), 0);
}

static void test_round_trip_and_smaller(void)
{
    corpus *c = corpus_new(0);
    fs_msg m = changes_msg(c);
    fs_buf v1, v2;
    fs_buf_init(&v1);
    fs_buf_init(&v2);
    CHECK_OK(fs_msg_encode_v(&m, 1, &v1));
    CHECK_OK(fs_msg_encode_v(&m, FS_PROTO_VERSION_ZBATCH, &v2));
    size_t n1, n2;
    const uint8_t *b1 = batch_field(&v1, &n1), *b2 = batch_field(&v2, &n2);
    CHECK_EQ_INT(b1[0], 0x93); /* version 1: the plain batch, an array of 3 */
    CHECK(b2[0] == 0xc4 || b2[0] == 0xc5 || b2[0] == 0xc6); /* version 2: a bin */
    printf("%zu changes: plain %zu bytes, compressed %zu bytes (%.2f)\n", c->n, v1.len, v2.len,
           (double)v2.len / (double)v1.len);
    CHECK(v2.len * 2 < v1.len); /* repeated phrases: well under half */
    fs_buf plain;
    fs_buf_init(&plain);
    save_seed("groups", &v2);
    CHECK_OK(fs_msg_encode(&m, &plain)); /* fs_msg_encode is version 1 */
    CHECK_EQ_INT(plain.len, v1.len);
    CHECK_MEM(plain.data, v1.data, v1.len);
    for (int k = 0; k < 2; k++) {
        const fs_buf *b = k ? &v2 : &v1;
        fs_msg *back = NULL;
        char why[160] = "";
        int rc = fs_msg_decode(b->data, b->len, NULL, &back, why, sizeof why);
        if (rc != 0)
            FAIL("decoding version %d: %s (%s)", k + 1, fs_errname(rc), why);
        CHECK_EQ_INT(back->type, FS_MSG_CHANGES);
        CHECK(back->u.changes.cursor == 4242);
        CHECK_EQ_INT(back->u.changes.more, 1);
        CHECK(back->u.changes.groups == NULL);
        check_same_changes(c->changes, c->n, back);
        fs_msg_free(back);
    }
    fs_buf_free(&plain);
    fs_buf_free(&v1);
    fs_buf_free(&v2);
    free(c);
}

/* One frame per owner, holding only that owner's rows; and owner 1's text
 * changing leaves owners 0's and 2's frames byte for byte the same. */
static void test_one_frame_per_group(void)
{
    corpus *a = corpus_new(0), *b = corpus_new(5);
    fs_msg ma = changes_msg(a), mb = changes_msg(b);
    fs_buf ea, eb;
    fs_buf_init(&ea);
    fs_buf_init(&eb);
    CHECK_OK(fs_msg_encode_v(&ma, 2, &ea));
    CHECK_OK(fs_msg_encode_v(&mb, 2, &eb));
    size_t na, nb;
    const uint8_t *ba = batch_field(&ea, &na), *bb = batch_field(&eb, &nb);
    const uint8_t *fa[8], *fb[8];
    size_t la[8], lb[8];
    CHECK_EQ_INT(frames_of(ba, na, fa, la, 8), NOWNERS);
    CHECK_EQ_INT(frames_of(bb, nb, fb, lb, 8), NOWNERS);
    for (unsigned g = 0; g < NOWNERS; g++) {
        /* Each frame alone is a whole message's batch: decode it as one. */
        unsigned long long size = ZSTD_getFrameContentSize(fa[g], la[g]);
        CHECK(size != ZSTD_CONTENTSIZE_ERROR && size != ZSTD_CONTENTSIZE_UNKNOWN);
        uint8_t *plain = malloc((size_t)size + 8);
        CHECK(plain != NULL);
        CHECK_EQ_INT(ZSTD_decompress(plain + 6, (size_t)size, fa[g], la[g]), size);
        memcpy(plain, ea.data, 6); /* [14, cursor, more, <this batch>] */
        fs_msg *one = NULL;
        char why[160] = "";
        int rc = fs_msg_decode(plain, (size_t)size + 6, NULL, &one, why, sizeof why);
        if (rc != 0)
            FAIL("frame %u: %s (%s)", g, fs_errname(rc), why);
        CHECK_EQ_INT(one->u.changes.count, ROWS_PER_OWNER * 3);
        for (size_t i = 0; i < one->u.changes.count; i++) {
            size_t k = 0;
            while (memcmp(a->changes[k].row, one->u.changes.changes[i].row, FS_ID_BYTES) != 0)
                k++;
            CHECK_EQ_INT(a->groups[k], g); /* the frame holds group g's rows only */
        }
        fs_msg_free(one);
        free(plain);
        if (g == 1) {
            CHECK(la[g] != lb[g] || memcmp(fa[g], fb[g], la[g]) != 0);
        } else {
            CHECK_EQ_INT(la[g], lb[g]);
            CHECK_MEM(fa[g], fb[g], la[g]);
        }
    }
    /* Without groups: one frame for the lot. */
    fs_buf one;
    fs_buf_init(&one);
    ma.u.changes.groups = NULL;
    CHECK_OK(fs_msg_encode_v(&ma, 2, &one));
    size_t n1;
    const uint8_t *b1 = batch_field(&one, &n1);
    CHECK_EQ_INT(frames_of(b1, n1, fa, la, 8), 1);
    fs_buf_free(&one);
    fs_buf_free(&ea);
    fs_buf_free(&eb);
    free(a);
    free(b);
}

/* Random bytes do not compress: version 2 sends them plain. So does a batch
 * whose compression would pass the decoder's ratio limit. */
static void test_plain_when_not_worth_it(void)
{
    int table = -1, blob = -1; /* the first column that takes bytes */
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    for (unsigned t = 0; t < nt && blob < 0; t++)
        for (unsigned col = 0; col < tables[t].ncolumns && blob < 0; col++)
            if (tables[t].columns[col].type == FS_COL_BLOB) {
                table = (int)t;
                blob = (int)col;
            }
    CHECK(blob > 0);
    enum { N = 40 };
    fs_change ch[N];
    static uint8_t noise[N][200];
    static uint8_t zeros[200000];
    randombytes_buf(noise, sizeof noise);
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < N; i++) {
        ch[i].table = (uint16_t)table;
        ch[i].column = (uint16_t)blob;
        randombytes_buf(ch[i].row, FS_ID_BYTES);
        ch[i].value = fs_blob(noise[i], sizeof noise[i]);
        ch[i].version.hlc = 1000 + (uint64_t)i;
        memset(ch[i].version.device, 7, FS_ID_BYTES);
    }
    fs_msg m;
    memset(&m, 0, sizeof m);
    m.type = FS_MSG_CHANGES;
    m.u.changes.cursor = 4242;
    m.u.changes.changes = ch;
    m.u.changes.count = N;
    fs_buf b;
    fs_buf_init(&b);
    CHECK_OK(fs_msg_encode_v(&m, 2, &b));
    size_t n;
    CHECK_EQ_INT(batch_field(&b, &n)[0], 0x93);
    /* 200,000 zero bytes compress far past FS_ZBATCH_MAX_RATIO. */
    ch[0].value = fs_blob(zeros, sizeof zeros);
    m.u.changes.count = 1;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&m, 2, &b));
    CHECK_EQ_INT(batch_field(&b, &n)[0], 0x93);
    fs_msg *back = NULL;
    CHECK_OK(fs_msg_decode(b.data, b.len, NULL, &back, NULL, 0));
    CHECK_EQ_INT(back->u.changes.count, 1);
    CHECK_EQ_INT(back->u.changes.changes[0].value.n, sizeof zeros);
    fs_msg_free(back);
    /* A small batch (one visit, as a daemon pushes it when it is recorded)
     * is not worth a compression context, however repetitive its text. */
    corpus *c = corpus_new(0);
    fs_msg one = changes_msg(c);
    one.u.changes.count = 3;
    fs_buf_reset(&b);
    CHECK_OK(fs_msg_encode_v(&one, 2, &b));
    CHECK_EQ_INT(batch_field(&b, &n)[0], 0x93);
    free(c);
    fs_buf_free(&b);
}

/* A CHANGES message around a batch field of raw bytes. */
static void wrap(fs_buf *out, const uint8_t *z, size_t zn)
{
    fs_buf_reset(out);
    uint8_t head[] = {0x94, FS_MSG_CHANGES, 0xcd, 0x10, 0x92, 0xc3, 0xc6, 0, 0, 0, 0};
    head[7] = (uint8_t)(zn >> 24);
    head[8] = (uint8_t)(zn >> 16);
    head[9] = (uint8_t)(zn >> 8);
    head[10] = (uint8_t)zn;
    CHECK_OK(fs_buf_append(out, head, sizeof head));
    CHECK_OK(fs_buf_append(out, z, zn));
}

static void expect_refused(const fs_buf *msg, const fs_proto_limits *lim, int code,
                           const char *says)
{
    static int nsaved;
    char name[32];
    snprintf(name, sizeof name, "refused-%d", nsaved++);
    save_seed(name, msg);
    fs_msg *m = NULL;
    char why[160] = "";
    int rc = fs_msg_decode(msg->data, msg->len, lim, &m, why, sizeof why);
    if (rc != code)
        FAIL("expected %s (%s), got %s (%s)", fs_errname(code), says, fs_errname(rc), why);
    CHECK(m == NULL);
    if (strstr(why, says) == NULL)
        FAIL("reason \"%s\" does not say \"%s\"", why, says);
}

static void test_decoder_refuses(void)
{
    corpus *c = corpus_new(0);
    fs_msg m = changes_msg(c);
    fs_buf good, plain, z, msg;
    fs_buf_init(&good);
    fs_buf_init(&plain);
    fs_buf_init(&z);
    fs_buf_init(&msg);
    m.u.changes.groups = NULL;
    CHECK_OK(fs_msg_encode_v(&m, 2, &good));
    CHECK_OK(fs_msg_encode_v(&m, 1, &plain));
    size_t np;
    const uint8_t *pb = batch_field(&plain, &np); /* the plain batch's msgpack */
    size_t cap = ZSTD_compressBound(np * 2 + 64);
    CHECK_OK(fs_buf_reserve(&z, cap));

    /* Not zstd at all. */
    const uint8_t junk[] = "definitely not a zstd frame";
    wrap(&msg, junk, sizeof junk);
    expect_refused(&msg, NULL, FS_EMALFORMED, "not a zstd frame");

    /* A frame that does not declare its size (streamed). */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    CHECK(cc != NULL);
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
    size_t zn = ZSTD_compress2(cc, z.data, cap, pb, np);
    CHECK(!ZSTD_isError(zn));
    wrap(&msg, z.data, zn);
    expect_refused(&msg, NULL, FS_EMALFORMED, "does not declare its size");
    CHECK(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1)));

    /* Cut short: the last frame's final bytes missing. */
    zn = ZSTD_compress2(cc, z.data, cap, pb, np);
    CHECK(!ZSTD_isError(zn));
    wrap(&msg, z.data, zn - 3);
    expect_refused(&msg, NULL, FS_EMALFORMED, "cut short");

    /* A skippable frame. */
    uint8_t skip[16] = {0x50, 0x2a, 0x4d, 0x18, 8, 0, 0, 0};
    wrap(&msg, skip, sizeof skip);
    expect_refused(&msg, NULL, FS_EMALFORMED, "skippable");

    /* A sound frame around something that is not a batch. */
    const uint8_t notbatch[] = {0x92, 0x01, 0x02};
    zn = ZSTD_compress2(cc, z.data, cap, notbatch, sizeof notbatch);
    wrap(&msg, z.data, zn);
    expect_refused(&msg, NULL, FS_EMALFORMED, "compressed batch: batch");

    /* A batch followed by a stray byte inside the frame. */
    uint8_t *twice = malloc(np + 1);
    CHECK(twice != NULL);
    memcpy(twice, pb, np);
    twice[np] = 0xc0;
    zn = ZSTD_compress2(cc, z.data, cap, twice, np + 1);
    wrap(&msg, z.data, zn);
    expect_refused(&msg, NULL, FS_EMALFORMED, "compressed batch");

    /* Two whole batches in two frames are one batch of twice the changes:
     * accepted, and counted against max_changes together. */
    size_t z1 = ZSTD_compress2(cc, z.data, cap, pb, np);
    size_t z2 = ZSTD_compress2(cc, z.data + z1, cap - z1, pb, np);
    CHECK(!ZSTD_isError(z1) && !ZSTD_isError(z2));
    wrap(&msg, z.data, z1 + z2);
    save_seed("two-frames", &msg);
    fs_msg *back = NULL;
    CHECK_OK(fs_msg_decode(msg.data, msg.len, NULL, &back, NULL, 0));
    CHECK_EQ_INT(back->u.changes.count, 2 * c->n);
    fs_msg_free(back);
    fs_proto_limits lim = fs_proto_default_limits;
    lim.max_changes = c->n + c->n / 2;
    expect_refused(&msg, &lim, FS_ETOOBIG, "more than");

    /* Decompressed past max_frame. */
    lim = fs_proto_default_limits;
    lim.max_frame = np - 1; /* the compressed message fits, its content does not */
    CHECK(good.len < lim.max_frame);
    expect_refused(&good, &lim, FS_ETOOBIG, "over");

    /* Past FS_ZBATCH_MAX_RATIO: a megabyte that compresses to a few hundred
     * bytes is refused before anything is allocated for it. */
    size_t big = 1u << 20;
    uint8_t *zeros = calloc(1, big);
    CHECK(zeros != NULL);
    fs_buf zb;
    fs_buf_init(&zb);
    CHECK_OK(fs_buf_reserve(&zb, ZSTD_compressBound(big)));
    zn = ZSTD_compress2(cc, zb.data, ZSTD_compressBound(big), zeros, big);
    CHECK(!ZSTD_isError(zn));
    CHECK(zn * FS_ZBATCH_MAX_RATIO < big);
    wrap(&msg, zb.data, zn);
    expect_refused(&msg, NULL, FS_ETOOBIG, "over");

    ZSTD_freeCCtx(cc);
    free(zeros);
    free(twice);
    fs_buf_free(&zb);
    fs_buf_free(&good);
    fs_buf_free(&plain);
    fs_buf_free(&z);
    fs_buf_free(&msg);
    free(c);
}

TEST_LIST(TEST(round_trip_and_smaller) TEST(one_frame_per_group) TEST(plain_when_not_worth_it)
              TEST(decoder_refuses))
