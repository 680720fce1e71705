/*
 * dump_visits N: the first N visits of the benchmarks' fixed-seed generator
 * (visits.c) as JSON lines, for the peer benchmarks (bench/peer/) that have to
 * replicate exactly the visits fieldsync does.
 *
 * stdout: one JSON object per visit, in generation order:
 *   {"id": "<32 hex>", "customer": "<32 hex>", "contact": "...", ... "visitor": "..."}
 * the text fields under fieldsync's visit column names (field_column[], schema
 * order). "id" and "customer" are 16-byte ids, hex-encoded, generated the way
 * bench_proto generates its row and customer ids (same seed, same order).
 *
 * stderr: one JSON object, the totals both sides of a comparison use:
 *   text_field_bytes   sum of the UTF-8 lengths of the 9 text fields
 *   customer_id_bytes  16 per visit (the binary id; it is 32 hex chars in the JSON)
 *   raw_field_bytes    their sum: visit_set.value_bytes, the "value bytes" of
 *                      bench_proto and bench_write
 * The row id is not a field value and is counted in neither.
 *
 * Exit status: 0, or 1 on a bad argument, out of memory or a write error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "fieldsync/replica.h"
#include "rng.h"
#include "visits.h"

#define CUSTOMERS 50 /* as bench_proto */

static void fill_id(rng *g, uint8_t id[FS_ID_BYTES])
{
    uint64_t a = rng_next(g), b = rng_next(g);
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
}

static void to_hex(const uint8_t id[FS_ID_BYTES], char out[2 * FS_ID_BYTES + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < FS_ID_BYTES; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * FS_ID_BYTES] = '\0';
}

/* One visit as a JSON object on one line; 0 or -1 (out of memory). */
static int print_visit(FILE *out, const visit_text *v, const uint8_t row[FS_ID_BYTES],
                       const uint8_t customer[FS_ID_BYTES])
{
    char hex[2 * FS_ID_BYTES + 1];
    cJSON *obj = cJSON_CreateObject();
    int ok = obj != NULL;

    to_hex(row, hex);
    ok = ok && cJSON_AddStringToObject(obj, "id", hex) != NULL;
    to_hex(customer, hex);
    ok = ok && cJSON_AddStringToObject(obj, "customer", hex) != NULL;
    for (int f = 0; ok && f < VF_COUNT; f++) {
        if (strlen(v->field[f]) != v->len[f]) {
            fprintf(stderr, "dump_visits: field %s holds a NUL byte\n", field_column[f]);
            cJSON_Delete(obj);
            return -1;
        }
        ok = cJSON_AddStringToObject(obj, field_column[f], v->field[f]) != NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL)
        return -1;
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    if (argc != 2 || bench_parse_size(argv[1], &count) != 0) {
        fprintf(stderr, "usage: dump_visits N   (N > 0 visits as JSON lines on stdout, totals "
                        "as JSON on stderr)\n");
        return 1;
    }

    visit_set vs;
    if (visit_set_make(&vs, count) != 0) {
        fprintf(stderr, "dump_visits: out of memory for %zu visits\n", count);
        return 1;
    }

    /* The ids, drawn as bench_proto's change_set_make() draws them. */
    rng g = {0xc4a17e5ull};
    uint8_t device[FS_ID_BYTES], customers[CUSTOMERS][FS_ID_BYTES];
    fill_id(&g, device); /* unused here; drawn to keep the sequence */
    for (size_t k = 0; k < CUSTOMERS; k++)
        fill_id(&g, customers[k]);

    size_t text_bytes = 0;
    int rc = 0;
    for (size_t i = 0; i < vs.count && rc == 0; i++) {
        uint8_t row[FS_ID_BYTES];
        const uint8_t *customer = customers[rng_below(&g, CUSTOMERS)];
        fill_id(&g, row);
        for (int f = 0; f < VF_COUNT; f++)
            text_bytes += vs.visits[i].len[f];
        if (print_visit(stdout, &vs.visits[i], row, customer) != 0) {
            fprintf(stderr, "dump_visits: out of memory\n");
            rc = 1;
        }
    }
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "dump_visits: write error on stdout\n");
        rc = 1;
    }
    if (rc == 0) {
        size_t id_bytes = count * FS_ID_BYTES;
        if (text_bytes + id_bytes != vs.value_bytes) {
            fprintf(stderr, "dump_visits: byte totals disagree with visits.c\n");
            rc = 1;
        } else {
            fprintf(stderr,
                    "{\"visits\":%zu,\"text_field_bytes\":%zu,\"customer_id_bytes\":%zu,"
                    "\"raw_field_bytes\":%zu,\"min_visit_bytes\":%zu,\"max_visit_bytes\":%zu}\n",
                    count, text_bytes, id_bytes, vs.value_bytes, vs.min_bytes, vs.max_bytes);
        }
    }
    visit_set_free(&vs);
    return rc;
}
