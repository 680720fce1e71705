/* Key file: wrapping, unwrapping, re-wrapping, and refusal of damaged files. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/passphrase.h"
#include "test.h"

/* Reads exactly n bytes of a file. */
static void read_file(const char *path, unsigned char *buf, size_t n)
{
    size_t got = 0;
    unsigned char *all = test_read_file(path, &got);
    CHECK(all != NULL && got == n);
    memcpy(buf, all, n);
    free(all);
}

static void test_create_unlock_roundtrip(void)
{
    CHECK(sodium_init() >= 0);
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/k", dir);
    fs_secret *a = NULL, *b = NULL;
    CHECK_OK(fs_keyfile_create(path, "correct horse", 13, &fs_kdf_minimum, &a));
    CHECK_OK(fs_keyfile_unlock(path, "correct horse", 13, &b));
    CHECK_MEM(a->key, b->key, FS_KEY_BYTES);
    CHECK_MEM(a->dbid, b->dbid, FS_DBID_BYTES);
    /* The key file does not contain the key. */
    unsigned char img[FS_KEYFILE_BYTES];
    read_file(path, img, sizeof img);
    for (size_t i = 0; i + FS_KEY_BYTES <= sizeof img; i++)
        CHECK(memcmp(img + i, a->key, FS_KEY_BYTES) != 0);
    fs_secret_free(a);
    fs_secret_free(b);
    CHECK_ERR(fs_keyfile_create(path, "x", 1, &fs_kdf_minimum, &a), FS_EEXIST);
    CHECK(a == NULL);
    test_rmtree(dir);
}

static void test_wrong_passphrase(void)
{
    CHECK(sodium_init() >= 0);
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/k", dir);
    fs_secret *a = NULL;
    CHECK_OK(fs_keyfile_create(path, "right", 5, &fs_kdf_minimum, &a));
    fs_secret_free(a);
    CHECK_ERR(fs_keyfile_unlock(path, "wrong", 5, &a), FS_EPASSPHRASE);
    CHECK(a == NULL);
    CHECK_ERR(fs_keyfile_unlock(path, "", 0, &a), FS_EPASSPHRASE);
    CHECK_ERR(fs_keyfile_create(path, "", 0, &fs_kdf_minimum, &a), FS_EINVAL);
    test_rmtree(dir);
}

static void test_rewrap_keeps_key(void)
{
    CHECK(sodium_init() >= 0);
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/k", dir);
    fs_secret *a = NULL, *b = NULL;
    CHECK_OK(fs_keyfile_create(path, "old", 3, &fs_kdf_minimum, &a));
    CHECK_ERR(fs_keyfile_rewrap(path, "bad", 3, "new", 3, NULL), FS_EPASSPHRASE);
    CHECK_ERR(fs_keyfile_rewrap(path, "old", 3, "", 0, NULL), FS_EINVAL);
    CHECK_OK(fs_keyfile_rewrap(path, "old", 3, "新しい密碼", strlen("新しい密碼"), NULL));
    CHECK_ERR(fs_keyfile_unlock(path, "old", 3, &b), FS_EPASSPHRASE);
    CHECK_OK(fs_keyfile_unlock(path, "新しい密碼", strlen("新しい密碼"), &b));
    CHECK_MEM(a->key, b->key, FS_KEY_BYTES);
    CHECK_MEM(a->dbid, b->dbid, FS_DBID_BYTES);
    fs_secret_free(a);
    fs_secret_free(b);
    test_rmtree(dir);
}

/* Every single flipped bit, a truncation and an extension are refused. */
static void test_damaged_file_refused(void)
{
    CHECK(sodium_init() >= 0);
    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/k", dir);
    fs_secret *a = NULL;
    CHECK_OK(fs_keyfile_create(path, "pw", 2, &fs_kdf_minimum, &a));
    fs_secret_free(a);
    unsigned char good[FS_KEYFILE_BYTES], bad[FS_KEYFILE_BYTES + 1];
    read_file(path, good, sizeof good);
    for (size_t i = 0; i < sizeof good; i++) {
        memcpy(bad, good, sizeof good);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        test_write_file(path, bad, sizeof good);
        int rc = fs_keyfile_unlock(path, "pw", 2, &a);
        if (rc != FS_EFORMAT && rc != FS_EPASSPHRASE)
            FAIL("flipped byte %zu: got %s", i, fs_errname(rc));
        CHECK(a == NULL);
    }
    test_write_file(path, good, sizeof good - 1);
    CHECK_ERR(fs_keyfile_unlock(path, "pw", 2, &a), FS_EFORMAT);
    memcpy(bad, good, sizeof good);
    bad[sizeof good] = 0;
    test_write_file(path, bad, sizeof good + 1);
    CHECK_ERR(fs_keyfile_unlock(path, "pw", 2, &a), FS_EFORMAT);
    test_write_file(path, good, sizeof good);
    CHECK_OK(fs_keyfile_unlock(path, "pw", 2, &a));
    fs_secret_free(a);
    test_rmtree(dir);
}

static void test_parse_bounds_kdf_cost(void)
{
    unsigned char img[FS_KEYFILE_BYTES];
    fs_keyfile_hdr h;
    memset(img, 0, sizeof img);
    memcpy(img, "FSKEY\0\0\1", 8);
    img[8] = 1;
    img[12] = (unsigned char)crypto_pwhash_ALG_ARGON2ID13;
    img[16] = 1;
    /* memlimit 1 TiB: refused before anything is allocated */
    img[24 + 5] = 1;
    CHECK_ERR(fs_keyfile_parse(img, sizeof img, &h), FS_EFORMAT);
    memset(img + 24, 0, 8);
    img[24 + 2] = 1; /* 64 KiB */
    CHECK_OK(fs_keyfile_parse(img, sizeof img, &h));
    CHECK_EQ_INT(h.memlimit, 65536);
    img[16] = 200; /* opslimit */
    CHECK_ERR(fs_keyfile_parse(img, sizeof img, &h), FS_EFORMAT);
    CHECK_ERR(fs_keyfile_parse(img, 10, &h), FS_EFORMAT);
}

/* The policy for a new passphrase (issue 20.7). */
static void weakness(const char *p, fs_pass_weakness want)
{
    fs_pass_weakness got = fs_passphrase_weakness(p, strlen(p));
    if (got != want)
        fprintf(stderr, "passphrase \"%s\": weakness %d, expected %d\n", p, (int)got, (int)want);
    CHECK(got == want);
}

static void test_passphrase_policy(void)
{
    weakness("a", FS_PASS_SHORT);
    weakness("abcdefghijk", FS_PASS_SHORT);      /* 11 */
    weakness("Tr0ub4dor&3x", FS_PASS_OK);        /* 12 */
    weakness("ab cd ef gh", FS_PASS_OK);         /* 11 characters, but 4 words */
    weakness("a b c d e f", FS_PASS_SHORT);      /* no word of 2 */
    weakness("sun hat fog", FS_PASS_SHORT);      /* 3 words, 11 characters */
    weakness("销售团队的客户数据", FS_PASS_SHORT); /* 9 characters, 27 bytes */
    weakness("北京华信的客户拜访记录很重要", FS_PASS_OK); /* 14 characters */
    weakness("aaaaaaaaaaaaaaaa", FS_PASS_REPETITIVE);
    weakness("abababababababab", FS_PASS_REPETITIVE);
    weakness("密密密密密密密密密密密密", FS_PASS_REPETITIVE);
    weakness("123456789012", FS_PASS_COMMON);
    weakness("Password 1234!", FS_PASS_COMMON);
    weakness("correct horse battery staple", FS_PASS_COMMON);
    weakness("WoAiNi 1314520", FS_PASS_COMMON);
    weakness("correct horse battery stapler", FS_PASS_OK);
}

/* Under a team's rule (issue 20.7): 16 characters or 5 words; a rule
 * under the built-in one counts as the built-in one. */
static void test_team_passphrase_policy(void)
{
    fs_pass_policy pol = {16, 5}, lax = {4, 2}, def;
    fs_pass_policy_default(&def);
    CHECK_EQ_INT(def.min_chars, FS_PASSPHRASE_MIN_CHARS);
    CHECK_EQ_INT(def.min_words, FS_PASSPHRASE_MIN_WORDS);
    const char *p13 = "Kx9#mQ2$vL7pw", *p16 = "Kx9#mQ2$vL7pwZ4t";
    CHECK_EQ_INT(fs_passphrase_weakness_for(p13, strlen(p13), NULL), FS_PASS_OK);
    CHECK_EQ_INT(fs_passphrase_weakness_for(p13, strlen(p13), &pol), FS_PASS_SHORT);
    CHECK_EQ_INT(fs_passphrase_weakness_for(p16, strlen(p16), &pol), FS_PASS_OK);
    CHECK_EQ_INT(fs_passphrase_weakness_for("ab cd ef gh", 11, &pol), FS_PASS_SHORT);
    CHECK_EQ_INT(fs_passphrase_weakness_for("ab cd ef gh ij", 14, &pol), FS_PASS_OK);
    /* 16 Chinese characters count 16 */
    const char *cn = "春眠不觉晓处处闻啼鸟夜来风雨声花落";
    CHECK_EQ_INT(fs_passphrase_weakness_for(cn, strlen(cn), &pol), FS_PASS_OK);
    CHECK_EQ_INT(fs_passphrase_weakness_for(cn, strlen("春眠不觉晓处处闻啼鸟夜来风雨"), &pol),
                 FS_PASS_SHORT);
    /* never weaker than the built-in rule */
    CHECK_EQ_INT(fs_passphrase_weakness_for("abcdefghijk", 11, &lax), FS_PASS_SHORT);
    CHECK_EQ_INT(fs_passphrase_weakness_for("a b", 3, &lax), FS_PASS_SHORT);
    /* nor past what a team may set (a server that sent more) */
    fs_pass_policy huge = {4000000000u, 4000000000u};
    char p128[129];
    memset(p128, 'a', 128);
    for (int i = 0; i < 128; i++)
        p128[i] = (char)('a' + i % 26);
    p128[128] = '\0';
    CHECK_EQ_INT(fs_passphrase_weakness_for(p128, 128, &huge), FS_PASS_OK);
    CHECK_EQ_INT(fs_passphrase_weakness_for(p128, 127, &huge), FS_PASS_SHORT);
    fs_pass_policy_bound(&huge);
    CHECK_EQ_INT(huge.min_chars, FS_PASSPHRASE_TEAM_MAX_CHARS);
    CHECK_EQ_INT(huge.min_words, FS_PASSPHRASE_TEAM_MAX_WORDS);
    fs_pass_policy_bound(&lax);
    CHECK_EQ_INT(lax.min_chars, FS_PASSPHRASE_MIN_CHARS);
    CHECK_EQ_INT(lax.min_words, FS_PASSPHRASE_MIN_WORDS);
    /* and the other checks still apply */
    CHECK_EQ_INT(fs_passphrase_weakness_for("passwordpassword", 16, &pol), FS_PASS_COMMON);
}

/* The measure kept in the replica (issue 20.7: a team's rule made
 * stricter later, checked without the passphrase) says what the
 * passphrase itself says, under every rule. */
static void test_passphrase_measure(void)
{
    static const char *const ps[] = {"Kx9#mQ2$vL7pw", "Kx9#mQ2$vL7pwZ4t", "Kx9#mQ2$vL7pwZ4tR8yN",
                                     "ab cd ef gh", "blue kettle windy pier", "aaaaaaaaaaaaaaaa",
                                     "Password 1234!", "春眠不觉晓处处闻啼鸟夜来风雨", "a"};
    static const fs_pass_policy rules[] = {{12, 4}, {16, 4}, {20, 4}, {12, 5}, {128, 32}};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        fs_pass_measure m;
        fs_passphrase_measure(ps[i], strlen(ps[i]), &m);
        CHECK_EQ_INT(fs_pass_measure_check(&m, NULL),
                     fs_passphrase_weakness_for(ps[i], strlen(ps[i]), NULL));
        for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
            CHECK_EQ_INT(fs_pass_measure_check(&m, &rules[k]),
                         fs_passphrase_weakness_for(ps[i], strlen(ps[i]), &rules[k]));
    }
    fs_pass_measure m;
    fs_passphrase_measure("Kx9#mQ2$vL7pwZ4t", 16, &m);
    CHECK_EQ_INT(m.chars, 16);
    CHECK_EQ_INT(m.words, 1);
    CHECK_EQ_INT(m.other, FS_PASS_OK);
    fs_passphrase_measure("blue kettle windy pier", 22, &m);
    CHECK_EQ_INT(m.words, 4);
    fs_passphrase_measure("春眠不觉晓处处闻啼鸟夜来风雨", strlen("春眠不觉晓处处闻啼鸟夜来风雨"), &m);
    CHECK_EQ_INT(m.chars, 14);
    fs_passphrase_measure("Password 1234!", 14, &m);
    CHECK_EQ_INT(m.other, FS_PASS_COMMON);
    fs_passphrase_measure("aaaaaaaaaaaaaaaa", 16, &m);
    CHECK_EQ_INT(m.other, FS_PASS_REPETITIVE);
}

/* Header fields of a key file: its Argon2id opslimit and memlimit. */
static void key_cost(const char *path, unsigned long long *ops, unsigned long long *mem)
{
    unsigned char img[FS_KEYFILE_BYTES];
    fs_keyfile_hdr h;
    read_file(path, img, sizeof img);
    CHECK_OK(fs_keyfile_parse(img, sizeof img, &h));
    *ops = h.opslimit;
    *mem = h.memlimit;
}

/* Argon2id MODERATE (issue 20.7): the default for a new key file and for a
 * new passphrase; a key file of INTERACTIVE cost (every one release 0.2.0
 * made) keeps opening with the cost it names, and re-wrapped at the
 * default it is MODERATE. FIELDSYNC_TEST_KDF is honoured only by a build
 * configured with FS_TEST_KDF. */
static void test_moderate_default(void)
{
    CHECK(sodium_init() >= 0);
    unsetenv(FS_TEST_KDF_ENV);
    CHECK(fs_kdf_default() == &fs_kdf_moderate);
    CHECK_EQ_INT(fs_kdf_moderate.opslimit, crypto_pwhash_OPSLIMIT_MODERATE);
    CHECK_EQ_INT(fs_kdf_moderate.memlimit, crypto_pwhash_MEMLIMIT_MODERATE);
    setenv(FS_TEST_KDF_ENV, "minimum", 1);
    CHECK(fs_kdf_default() == (fs_kdf_test_build() ? &fs_kdf_minimum : &fs_kdf_moderate));
    setenv(FS_TEST_KDF_ENV, "interactive", 1);
    CHECK(fs_kdf_default() == (fs_kdf_test_build() ? &fs_kdf_interactive : &fs_kdf_moderate));
    setenv(FS_TEST_KDF_ENV, "something else", 1);
    CHECK(fs_kdf_default() == &fs_kdf_moderate);
    unsetenv(FS_TEST_KDF_ENV);

    char *dir = test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/k", dir);
    fs_secret *a = NULL, *b = NULL;
    unsigned long long ops, mem;
    CHECK_OK(fs_keyfile_create(path, "an old laptop's words", 21, &fs_kdf_interactive, &a));
    key_cost(path, &ops, &mem);
    CHECK_EQ_INT(ops, crypto_pwhash_OPSLIMIT_INTERACTIVE);
    CHECK_EQ_INT(mem, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    CHECK_OK(fs_keyfile_unlock(path, "an old laptop's words", 21, &b));
    CHECK_MEM(a->key, b->key, FS_KEY_BYTES);
    fs_secret_free(b);
    CHECK_OK(fs_keyfile_rewrap(path, "an old laptop's words", 21, "its new words, longer", 21,
                               fs_kdf_default()));
    key_cost(path, &ops, &mem);
    CHECK_EQ_INT(ops, crypto_pwhash_OPSLIMIT_MODERATE);
    CHECK_EQ_INT(mem, crypto_pwhash_MEMLIMIT_MODERATE);
    CHECK_OK(fs_keyfile_unlock(path, "its new words, longer", 21, &b));
    CHECK_MEM(a->key, b->key, FS_KEY_BYTES);
    fs_secret_free(a);
    fs_secret_free(b);
    test_rmtree(dir);
}

TEST_LIST(TEST(create_unlock_roundtrip) TEST(wrong_passphrase) TEST(rewrap_keeps_key)
              TEST(damaged_file_refused) TEST(parse_bounds_kdf_cost) TEST(passphrase_policy)
                  TEST(team_passphrase_policy) TEST(passphrase_measure) TEST(moderate_default))
