/*
 * The visits the benchmarks write: realistic, varied Form 1 visit records in
 * mixed Chinese and English (about 460 bytes of field values each), generated
 * from a fixed seed so every run and every benchmark writes the same ones.
 */
#ifndef FIELDSYNC_BENCH_VISITS_H
#define FIELDSYNC_BENCH_VISITS_H

#include <stddef.h>

/* The text fields of a visit, in the order of the schema (after "customer"). */
enum {
    VF_CONTACT,
    VF_POSITION,
    VF_TIME,
    VF_PLACE,
    VF_PURPOSE,
    VF_NOTES,
    VF_OBJECTIONS,
    VF_NEXT_STEPS,
    VF_VISITOR,
    VF_COUNT
};

/* The schema column of each field. */
extern const char *const field_column[VF_COUNT];

/* Upper bound of one field's length; a visit never exceeds VF_COUNT * this. */
#define FIELD_MAX 400

typedef struct visit_text {
    const char *field[VF_COUNT]; /* point into visit_set.arena, NUL-terminated */
    size_t len[VF_COUNT];
} visit_text;

typedef struct visit_set {
    visit_text *visits;
    size_t count;
    char *arena;        /* owns the text of every visit */
    size_t value_bytes; /* field values of all visits, the 16-byte customer id included */
    size_t min_bytes, max_bytes;
} visit_set;

/* Generates count visits; 0 or -1 (out of memory, message printed). */
int visit_set_make(visit_set *vs, size_t count);

/* The text the visits are made of: VISITS_POOLS, every field drawn from
 * small pools of phrases (what visit_set_make gives; zstd takes it to about
 * a sixth); VISITS_FREE, the text fields free text that does not repeat
 * (seeded: Chinese characters of 3,000, pseudo-English words, numbers),
 * about as many bytes per visit (issue 21.6). */
typedef enum visit_corpus { VISITS_POOLS, VISITS_FREE } visit_corpus;
int visit_set_make_corpus(visit_set *vs, size_t count, visit_corpus corpus);
/* "pools" or "free" as a corpus: 0, or -1 for anything else. */
int visit_corpus_parse(const char *arg, visit_corpus *out);
void visit_set_free(visit_set *vs);

#endif
