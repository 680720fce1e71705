/*
 * Helpers every benchmark uses: a monotonic clock, the median of repeated
 * runs, thousands separators, the CPU model for the report header, and option counts.
 */
#ifndef FIELDSYNC_BENCH_COMMON_H
#define FIELDSYNC_BENCH_COMMON_H

#include <stddef.h>

double bench_now(void);                                            /* seconds, monotonic */
double bench_median(const double *v, size_t n);                    /* of at most 64 values */
const char *bench_fmt_count(char *buf, size_t size, double value); /* "12,345" */
void bench_cpu_model(char *out, size_t size); /* from /proc/cpuinfo, or "unknown" */
/* A positive decimal count (an option's value): 0, or -1 for anything else. */
int bench_parse_size(const char *arg, size_t *out);

#endif
