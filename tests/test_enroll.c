/*
 * One-time enrollment codes (fieldsync/enroll.h) against a real store with a
 * fake clock: a code is created, parsed as a device would, and redeemed
 * once; used, expired, unknown and malformed codes are refused and audited;
 * the secret is never stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/audit.h"
#include "fieldsync/enroll.h"
#include "fieldsync/store.h"
#include "store/store_sqlite.h"
#include "replica_int.h"
#include "test.h"

static uint64_t clock_now = 1700000000000ull;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return clock_now;
}

typedef struct server {
    char dir[512];
    char path[600];
    fs_store *s;
    uint8_t pk[FS_SIGN_PK_BYTES];
} server;

static void server_open(server *sv)
{
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fake_clock};
    fs_identity *id = NULL;
    snprintf(sv->dir, sizeof sv->dir, "%s", test_tmpdir());
    snprintf(sv->path, sizeof sv->path, "%s/server", sv->dir);
    CHECK_OK(fs_store_create(&sv->s, sv->path, "server-pass", 11, &o));
    CHECK_OK(fs_store_user_add(sv->s, "zhang", FS_ROLE_REP, "north"));
    CHECK_OK(fs_replica_identity(fs_store_replica(sv->s), &id));
    memcpy(sv->pk, id->pk, FS_SIGN_PK_BYTES);
    fs_identity_free(id);
}

static void server_close(server *sv)
{
    fs_store_close(sv->s);
    test_rmtree(sv->dir);
}

/* A request from a new device carrying the secret of code. */
static void request(fs_enroll_request *req, const char *code, const char *device_name)
{
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    memset(req, 0, sizeof *req);
    CHECK_OK(fs_enroll_code_parse(code, pk, secret));
    fs_enroll_request_code(secret, req->code);
    randombytes_buf(req->device_pk, sizeof req->device_pk);
    snprintf(req->device_name, sizeof req->device_name, "%s", device_name);
}

static int count_kind(fs_store *s, const char *kind)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    sqlite3_prepare_v2(fs__replica_db(fs_store_replica(s)),
                       "SELECT count(*) FROM audit WHERE kind=?1", -1, &st, NULL);
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_create_parse_redeem(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1];
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    fs_enroll_request req;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    CHECK_EQ_INT(strlen(code), FS_ENROLL_CODE_CHARS);
    CHECK(strncmp(code, "FS1-", 4) == 0);
    CHECK_OK(fs_enroll_code_parse(code, pk, secret));
    CHECK_MEM(pk, sv.pk, FS_SIGN_PK_BYTES);
    request(&req, code, "zhang's phone");
    CHECK_EQ_INT(strlen(req.code), FS_ENROLL_REQ_CHARS);
    CHECK_ERR(fs_store_device_check(sv.s, req.device_pk), FS_ENOTFOUND);
    CHECK_OK(fs_enroll_code_redeem(sv.s, &req, clock_now + 1000));
    CHECK_OK(fs_store_device_check(sv.s, req.device_pk));
    CHECK_EQ_INT(count_kind(sv.s, "enroll"), 1);
    CHECK_EQ_INT(count_kind(sv.s, "enroll_refused"), 0);
    uint64_t n = 0, bad = 0;
    CHECK_OK(fs_audit_verify(fs_store_audit(sv.s), &n, &bad));
    server_close(&sv);
}

static void test_second_redeem_refused(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req, again;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    request(&req, code, "phone");
    CHECK_OK(fs_enroll_code_redeem(sv.s, &req, clock_now));
    request(&again, code, "another phone"); /* same code, another key */
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &again, clock_now), FS_ESTATE);
    CHECK_ERR(fs_store_device_check(sv.s, again.device_pk), FS_ENOTFOUND);
    CHECK_EQ_INT(count_kind(sv.s, "enroll_refused"), 1);
    server_close(&sv);
}

/* A code is spent at the first attempt to redeem it, whatever happens
 * next: an enrollment that fails after (here: the device's key is enrolled
 * already) does not leave it for another home to use. */
static void test_spent_at_first_attempt(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1], code2[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req, dup, other;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    request(&req, code, "phone");
    CHECK_OK(fs_enroll_code_redeem(sv.s, &req, clock_now));
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code2, sizeof code2));
    request(&dup, code2, "phone again");
    memcpy(dup.device_pk, req.device_pk, sizeof dup.device_pk); /* enrolled already */
    CHECK(fs_enroll_code_redeem(sv.s, &dup, clock_now) != 0);
    request(&other, code2, "a copied home");
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &other, clock_now), FS_ESTATE);
    CHECK_ERR(fs_store_device_check(sv.s, other.device_pk), FS_ENOTFOUND);
    server_close(&sv);
}

static void test_expired_refused(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 1000, sv.pk, code, sizeof code));
    request(&req, code, "phone");
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &req, clock_now + 1000), FS_ECLOCK);
    CHECK_ERR(fs_store_device_check(sv.s, req.device_pk), FS_ENOTFOUND);
    CHECK_EQ_INT(count_kind(sv.s, "enroll_refused"), 1);
    /* fs_enroll_device redeems at the store's clock: still expired. */
    clock_now += 5000;
    CHECK_ERR(fs_enroll_device(sv.s, &req), FS_ECLOCK);
    clock_now -= 5000;
    /* an expired code was not spent: just before expiry it still works */
    CHECK_OK(fs_enroll_code_redeem(sv.s, &req, clock_now + 999));
    /* 30 days after their expiry, codes are forgotten when a new one is made */
    char code2[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req2;
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 1000, sv.pk, code2, sizeof code2));
    request(&req2, code2, "phone 2");
    clock_now += 31ull * 24 * 3600 * 1000;
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 1000, sv.pk, code, sizeof code));
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &req2, clock_now), FS_EAUTH);
    server_close(&sv);
}

static void test_wrong_secret_refused(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    request(&req, code, "phone");
    req.code[0] = req.code[0] == 'A' ? 'B' : 'A'; /* another valid secret */
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &req, clock_now), FS_EAUTH);
    memcpy(req.code, "!!", 2); /* not base64url */
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &req, clock_now), FS_EAUTH);
    memset(req.code, 0, sizeof req.code);
    CHECK_ERR(fs_enroll_code_redeem(sv.s, &req, clock_now), FS_EAUTH);
    CHECK_ERR(fs_store_device_check(sv.s, req.device_pk), FS_ENOTFOUND);
    CHECK_EQ_INT(count_kind(sv.s, "enroll_refused"), 3);
    uint64_t n = 0, bad = 0;
    CHECK_OK(fs_audit_verify(fs_store_audit(sv.s), &n, &bad));
    CHECK_EQ_INT(n, 3);
    /* unknown user: no code */
    CHECK_ERR(fs_enroll_code_create(sv.s, "nobody", 3600000, sv.pk, code, sizeof code),
              FS_ENOTFOUND);
    CHECK_STR(code, "");
    CHECK_ERR(fs_enroll_code_create(sv.s, "zhang", 0, sv.pk, code, sizeof code), FS_EINVAL);
    CHECK_ERR(fs_enroll_code_create(sv.s, "zhang", 1000, sv.pk, code, 10), FS_EINVAL);
    server_close(&sv);
}

static void test_malformed_codes_refused(void)
{
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES], payload[48];
    char good[FS_ENROLL_CODE_CHARS + 1], bad[FS_ENROLL_CODE_CHARS + 8];
    randombytes_buf(payload, sizeof payload);
    memcpy(good, "FS1-", 4);
    sodium_bin2base64(good + 4, sizeof good - 4, payload, sizeof payload,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK_OK(fs_enroll_code_parse(good, pk, secret));
    CHECK_MEM(pk, payload, 32);
    CHECK_MEM(secret, payload + 32, 16);

    const char *cases[] = {"", "FS1-", "FS2-" /* + rest below */, "fs1-", "FS1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_ERR(fs_enroll_code_parse(cases[i], pk, secret), FS_EINVAL);
    CHECK_ERR(fs_enroll_code_parse(NULL, pk, secret), FS_EINVAL);

    snprintf(bad, sizeof bad, "%s", good); /* wrong prefix */
    bad[2] = '2';
    CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
    snprintf(bad, sizeof bad, "%s", good); /* one character short */
    bad[FS_ENROLL_CODE_CHARS - 1] = '\0';
    CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
    snprintf(bad, sizeof bad, "%sA", good); /* one too many */
    CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
    snprintf(bad, sizeof bad, "%s=", good); /* padding */
    CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
    const char alien[] = {'+', '/', '=', ' ', '.', '\n', (char)0xC3};
    for (size_t i = 0; i < sizeof alien; i++) {
        snprintf(bad, sizeof bad, "%s", good);
        bad[10] = alien[i];
        CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
        for (size_t k = 0; k < sizeof pk; k++)
            CHECK(pk[k] == 0); /* zeroed on failure */
    }
    snprintf(bad, sizeof bad, " %s", good); /* leading blank */
    CHECK_ERR(fs_enroll_code_parse(bad, pk, secret), FS_EINVAL);
}

/* Whether needle occurs in the file at path (absent file: no). */
static int file_contains(const char *path, const void *needle, size_t n)
{
    size_t len = 0;
    unsigned char *buf = test_read_file(path, &len);
    int found = 0;
    for (size_t i = 0; buf != NULL && n <= len && i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

static void test_secret_never_stored(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1], reqcode[FS_ENROLL_REQ_CHARS + 1], path[700];
    uint8_t pk[FS_SIGN_PK_BYTES], secret[FS_ENROLL_SECRET_BYTES];
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    CHECK_OK(fs_enroll_code_parse(code, pk, secret));
    fs_enroll_request_code(secret, reqcode);
    /* in the decrypted table: one row, no column holding the secret */
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(fs__replica_db(fs_store_replica(sv.s)),
                             "SELECT hash, user, expires_ms, used FROM enroll_codes", -1, &st,
                             NULL) == SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        CHECK_EQ_INT(sqlite3_column_bytes(st, 0), 32);
        const unsigned char *h = sqlite3_column_blob(st, 0);
        for (int i = 0; i + FS_ENROLL_SECRET_BYTES <= 32; i++)
            CHECK(memcmp(h + i, secret, FS_ENROLL_SECRET_BYTES) != 0);
        CHECK_STR((const char *)sqlite3_column_text(st, 1), "zhang");
        CHECK_EQ_INT(sqlite3_column_int64(st, 2), clock_now + 3600000);
        CHECK_EQ_INT(sqlite3_column_int(st, 3), 0);
    }
    sqlite3_finalize(st);
    CHECK_EQ_INT(rows, 1);
    fs_store_close(sv.s);
    sv.s = NULL;
    const char *files[] = {"replica.db", "replica.db-wal", "replica.db-journal", "replica.key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", sv.path, files[i]);
        CHECK(!file_contains(path, secret, sizeof secret));
        CHECK(!file_contains(path, reqcode, strlen(reqcode)));
        CHECK(!file_contains(path, code + 4, strlen(code) - 4));
    }
    snprintf(path, sizeof path, "%s/replica.db", sv.path);
    size_t n = 0;
    unsigned char *db = test_read_file(path, &n);
    CHECK(db != NULL && n > 0); /* the scan looked at a real file */
    free(db);
    server_close(&sv);
}

/* What fs_store_devices() delivered last. */
typedef struct listing {
    int n;
    fs_store_device d;
    char user[65], name[65];
} listing;

static int collect(const fs_store_device *d, void *ctx)
{
    listing *seen = ctx;
    seen->n++;
    seen->d = *d;
    snprintf(seen->user, sizeof seen->user, "%s", d->user);
    snprintf(seen->name, sizeof seen->name, "%s", d->name);
    return 0;
}

static void test_device_listing(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1];
    fs_enroll_request req;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    request(&req, code, "tablet");
    CHECK_OK(fs_enroll_device(sv.s, &req));
    listing seen = {0};
    CHECK_OK(fs_store_devices(sv.s, collect, &seen));
    CHECK_EQ_INT(seen.n, 1);
    CHECK_STR(seen.user, "zhang");
    CHECK_STR(seen.name, "tablet");
    CHECK_MEM(seen.d.pk, req.device_pk, FS_SIGN_PK_BYTES);
    CHECK_EQ_INT(seen.d.revoked, 0);
    CHECK_OK(fs_store_device_revoke(sv.s, req.device_pk));
    seen.n = 0;
    CHECK_OK(fs_store_devices(sv.s, collect, &seen));
    CHECK_EQ_INT(seen.d.revoked, 1);
    server_close(&sv);
}

/* The team's passphrase rule for a device about to enroll (issue 20.7,
 * POLICY_ASK): fs_enroll_policy looks the code up without spending it
 * (the device then enrolls with it), answers the built-in rule for a team
 * that sets none and the team's once set, and refuses an unknown, expired
 * or spent code as a redeem does. */
static void test_policy_without_spending(void)
{
    server sv;
    char code[FS_ENROLL_CODE_CHARS + 1], team[FS_USER_MAX + 1];
    fs_enroll_request req;
    uint32_t chars = 0, words = 0;
    server_open(&sv);
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 3600000, sv.pk, code, sizeof code));
    request(&req, code, "laptop");
    CHECK_OK(fs_enroll_policy(sv.s, &req, &chars, &words, team));
    CHECK_EQ_INT(chars, 12);
    CHECK_EQ_INT(words, 4);
    CHECK_STR(team, "north");
    CHECK_OK(fs_store_team_set(sv.s, "north", "passphrase_min_chars", "16"));
    CHECK_OK(fs_store_team_set(sv.s, "north", "passphrase_min_words", "6"));
    CHECK_OK(fs_enroll_policy(sv.s, &req, &chars, &words, team));
    CHECK_EQ_INT(chars, 16);
    CHECK_EQ_INT(words, 6);
    CHECK_EQ_INT(count_kind(sv.s, "enroll"), 0);
    /* a team can only make it stricter: the setting refuses less */
    CHECK(fs_store_team_set(sv.s, "north", "passphrase_min_chars", "11") != 0);
    CHECK(fs_store_team_set(sv.s, "north", "passphrase_min_words", "3") != 0);
    CHECK(fs_store_team_set(sv.s, "north", "passphrase_min_chars", "0x10") != 0);
    CHECK(fs_store_team_set(sv.s, "north", "passphrase_min_chars", "129") != 0);
    /* still good for the enrollment itself, and spent by it */
    CHECK_OK(fs_enroll_device(sv.s, &req));
    CHECK_ERR(fs_enroll_policy(sv.s, &req, &chars, &words, team), FS_ESTATE);
    /* unknown and expired codes: refused, audited */
    fs_enroll_request other;
    char code2[FS_ENROLL_CODE_CHARS + 1];
    CHECK_OK(fs_enroll_code_create(sv.s, "zhang", 1000, sv.pk, code2, sizeof code2));
    request(&other, code2, "laptop 2");
    clock_now += 1000;
    CHECK_ERR(fs_enroll_policy(sv.s, &other, &chars, &words, team), FS_ECLOCK);
    clock_now -= 1000;
    other.code[0] = other.code[0] == 'A' ? 'B' : 'A';
    CHECK_ERR(fs_enroll_policy(sv.s, &other, &chars, &words, team), FS_EAUTH);
    CHECK(count_kind(sv.s, "enroll_refused") >= 3);
    server_close(&sv);
}

TEST_LIST(TEST(create_parse_redeem) TEST(policy_without_spending) TEST(second_redeem_refused) TEST(spent_at_first_attempt) TEST(expired_refused)
              TEST(wrong_secret_refused) TEST(malformed_codes_refused) TEST(secret_never_stored)
                  TEST(device_listing))
