/*
 * The PostgreSQL store's tests (issue 21.2): FIELDSYNC_TEST_PG_URL, set by
 * tests/pg/with_cluster.sh (which starts a throw-away cluster and stops it
 * after), names the cluster's database; each store gets a database of its
 * own in it (pgtest_new_db). A test that needs PostgreSQL and finds no URL
 * fails, naming what to run.
 */
#ifndef FIELDSYNC_PGTEST_H
#define FIELDSYNC_PGTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "test.h"

static inline const char *pgtest_url(void)
{
    const char *u = getenv("FIELDSYNC_TEST_PG_URL");
    return u != NULL && u[0] != '\0' ? u : NULL;
}

/* A new, empty database in the cluster: its URL in out. */
static inline void pgtest_new_db(char *out, size_t cap)
{
    static unsigned n;
    const char *base = pgtest_url();
    if (base == NULL) {
        fprintf(stderr, "FIELDSYNC_TEST_PG_URL is not set: run this test through "
                        "tests/pg/with_cluster.sh (needs the packages postgresql and "
                        "libpq-dev)\n");
        CHECK(base != NULL);
        return;
    }
    const char *slash = strrchr(base, '/');
    CHECK(slash != NULL && (size_t)(slash - base) + 40 < cap);
    char name[40];
    snprintf(name, sizeof name, "t%ld_%u", (long)getpid(), ++n);
    PGconn *c = PQconnectdb(base);
    CHECK(PQstatus(c) == CONNECTION_OK);
    char sql[80];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s", PQresultErrorMessage(res));
    CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    snprintf(out, cap, "%.*s/%s", (int)(slash - base), base, name);
}

#endif
