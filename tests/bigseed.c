/*
 * bigseed: records many visits with long text fields in a device's replica,
 * for tests/cli/test_bigrecords.sh (issue 25: records near the size limits).
 * Recording hundreds of them through the CLI (one process, one unlock each)
 * would take most of the test's time; this writes them in one process,
 * through the replica's own write path, as the CLI would.
 *
 *   bigseed HOME CUSTOMER_ID COUNT FIELDS BYTES TAG [random]
 *
 * Opens the replica in HOME with the passphrase in FIELDSYNC_PASSPHRASE
 * and records COUNT visits to CUSTOMER_ID (hex), each with FIELDS of its
 * eight text fields (notes first) BYTES bytes long, the required place and
 * purpose short if not among them, the other fields left out. The
 * text is generated (TAG, the visit and the field repeated), so every value
 * differs and a copy that lost or cut one is seen; with "random", TAG and a
 * space, then letters drawn from a generator seeded by TAG, which compress
 * little (a test that
 * cuts a connection after so many bytes knows how far a sync got). Exit 0,
 * or 1 with the library's message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldsync/error.h"
#include "fieldsync/keyfile.h"
#include "fieldsync/replica.h"

/* The visit's text columns, the long ones first; place and purpose (the
 * last two) are required. */
static const char *const text_columns[8] = {"notes",      "objections", "next_steps", "contact",
                                            "position",   "visitor",    "place",      "purpose"};

static unsigned long long rng_state = 88172645463325252ull;

/* Fills buf (n bytes, then a NUL) with random lowercase letters. */
static void fill_random(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        buf[i] = (char)('a' + rng_state % 26);
    }
    buf[n] = '\0';
}

/* Fills buf (n bytes, then a NUL) with "TAG visit V field F " repeated. */
static void fill(char *buf, size_t n, const char *tag, size_t visit, size_t field)
{
    char unit[128];
    int u = snprintf(unit, sizeof unit, "%s visit %zu field %zu; ", tag, visit, field);
    for (size_t i = 0; i < n; i++)
        buf[i] = unit[i % (size_t)u];
    buf[n] = '\0';
}

int main(int argc, char **argv)
{
    if (argc != 7 && !(argc == 8 && strcmp(argv[7], "random") == 0)) {
        fprintf(stderr, "usage: bigseed HOME CUSTOMER_ID COUNT FIELDS BYTES TAG [random]\n");
        return 2;
    }
    const char *home = argv[1], *tag = argv[6];
    int random = argc == 8;
    for (const char *t = tag; *t; t++)
        rng_state = rng_state * 31 + (unsigned char)*t;
    size_t count = strtoul(argv[3], NULL, 10), fields = strtoul(argv[4], NULL, 10),
           bytes = strtoul(argv[5], NULL, 10);
    const char *pass = getenv("FIELDSYNC_PASSPHRASE");
    if (sodium_init() < 0) {
        fprintf(stderr, "bigseed: libsodium did not start\n");
        return 1;
    }
    uint8_t customer[FS_ID_BYTES];
    if (pass == NULL || fields > 8 || bytes < 1 || bytes > 65536 ||
        fs_id_from_hex(argv[2], customer) != 0) {
        fprintf(stderr, "bigseed: bad arguments (FIELDSYNC_PASSPHRASE set?)\n");
        return 2;
    }
    char keypath[4096];
    snprintf(keypath, sizeof keypath, "%s/replica.key", home);
    fs_secret *key = NULL;
    fs_replica *r = NULL;
    int rc = fs_keyfile_unlock(keypath, pass, strlen(pass), &key);
    if (rc == 0)
        rc = fs_replica_open_secret(&r, home, key, NULL);
    fs_secret_free(key);
    if (rc != 0) {
        fprintf(stderr, "bigseed: opening %s: %s\n", home, fs_strerror(rc));
        return 1;
    }
    char *text[8];
    for (size_t f = 0; f < 8; f++)
        text[f] = malloc(bytes + 1);
    for (size_t v = 0; rc == 0 && v < count; v++) {
        if (v % 100 == 0)
            rc = fs_begin(r);
        fs_cell cells[10];
        size_t n = 0;
        cells[n].column = "customer";
        cells[n++].value = fs_blob(customer, FS_ID_BYTES);
        cells[n].column = "time"; /* fixed: written to the replica directly,
                                   * not through the client's 30-day check */
        cells[n++].value = fs_text("2026-11-30 10:00");
        for (size_t f = 0; f < 8; f++) {
            if (text[f] == NULL) {
                rc = FS_ENOMEM;
                break;
            }
            if (f >= fields && f < 6)
                continue; /* left out: a visit of few columns packs more into a batch */
            if (random && f < fields) {
                fill_random(text[f], bytes);
                size_t t = strlen(tag); /* "TAG " first: whose visit it is */
                if (t < bytes) {
                    memcpy(text[f], tag, t);
                    text[f][t] = ' ';
                }
            } else
                fill(text[f], f < fields ? bytes : 20, tag, v, f);
            cells[n].column = text_columns[f];
            cells[n++].value = fs_text(text[f]);
        }
        uint8_t id[FS_ID_BYTES];
        if (rc == 0)
            rc = fs_insert(r, "visit", cells, n, id);
        if (rc == 0 && (v % 100 == 99 || v + 1 == count))
            rc = fs_commit(r);
    }
    if (rc != 0)
        fprintf(stderr, "bigseed: %s\n", fs_replica_errmsg(r));
    for (size_t f = 0; f < 8; f++)
        free(text[f]);
    fs_replica_close(r);
    return rc == 0 ? 0 : 1;
}
