/*
 * The sales figures of a period (issue 19.2, client/cmd_sales.c), for
 * `report sales` and the weekly meeting pack (`report meeting`).
 */
#ifndef FIELDSYNC_CLIENT_SALES_H
#define FIELDSYNC_CLIENT_SALES_H

#include <stdint.h>

#include <cJSON.h>

#include "fieldsync/replica.h"

/* What a weekly plan's goals state in numbers; -1 where they state none. */
typedef struct sales_goals {
    int64_t customers; /* new customers to sign */
    int64_t fen;       /* money to collect, in fen */
} sales_goals;

/* Reads goals as a rep writes them: "签约 2 个新客户，回款 30 万元",
 * "sign 2 new customers, collect 300,000 CNY". A number followed by 元,
 * CNY, RMB, yuan, 万 (x 10,000) or k (x 1,000), or after 回款, collect or
 * ¥, is money; one followed by 个新客户, 家客户, new customer(s), or after
 * 签约 or sign, is customers. The first of each counts. */
void sales_goals_parse(const char *goals, sales_goals *g);

#define SALES_MAX_REPS 64

typedef struct sales_figures {
    char rep[FS_USER_MAX + 1];
    unsigned opened, won, new_customers, payments, plans;
    int64_t won_fen, collected_fen;
    sales_goals goal; /* summed over the period's plans; -1: none stated */
} sales_figures;

typedef struct sales_report {
    sales_figures reps[SALES_MAX_REPS]; /* by name */
    size_t nreps;
    sales_figures team; /* every rep's together */
} sales_report;

/* The figures of every rep (only: that one rep; NULL: all) for the dates
 * [from, to) ("YYYY-MM-DD"): a rep is a customer's holder (its owner, else
 * the device's user), a plan's rep. 0 or the replica's error. */
int sales_report_get(fs_replica *r, const char *from, const char *to, const char *only,
                     sales_report *rep);

/* The period of --week YYYY-Www or --month YYYY-MM (neither: this week,
 * in the team's zone once the replica is open) as [from, to) and its
 * name. CLI_OK or CLI_EUSAGE with a message. */
int sales_period(const char *week, const char *month, char from[11], char to[11], char name[16]);

/* The per-rep table (and the team's total with more than one rep) on
 * stdout; the reps as a JSON array (NULL: out of memory). */
int sales_table(const sales_report *rep);
cJSON *sales_json(const sales_report *rep);

#endif
