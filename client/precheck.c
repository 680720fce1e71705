/*
 * Refusing early, in the rep's words: every write of the form engine is
 * checked against the record rules (fieldsync/records.h, the same table the
 * server's push runs) before it is saved. What the server would refuse
 * whatever happens meanwhile (a rep handing a customer to another rep, a
 * rep signing a plan approval or a spot-check) ends the command with exit
 * status 2 and a message naming the rule. What the device cannot know (who
 * is in the team, a customer handed away since the last sync) stays the
 * server's call, and a refusal then is kept and shown (refused.c).
 *
 * THE DEVICE'S ROLE. The setting "role" (rep or manager) says it: a server
 * of protocol version 4 sets it at every sync, enrollment included (READY,
 * sync/client.c). Without it (a server older than that), once the device
 * has synced, a device that holds a record owned by someone else is a
 * manager's (a rep's scope holds their own records only, and this check
 * keeps a rep from making another's), any other a rep's. Without a user
 * name, or before the first sync, nothing is checked here: the server
 * decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fieldsync/records.h"
#include "fieldsync/schema.h"

#include "precheck.h"

/* The rules in the rep's words, by table and column (NULL: any column). */
static const struct {
    const char *table, *column, *words;
} rule_words[] = {
    {"customer", "owner", "only a manager can hand a customer to another rep"},
    {"weekly_plan", NULL, "only a manager can approve or return a weekly plan"},
    {"spot_check", NULL, "only a manager can record a spot-check"},
};

#define SAY_REFUSED "%s: %s (this device's user %s is a rep; the server would refuse it)"
#define SAY_NEW_OWNER                                                                              \
    "%s: a rep records their own customers: only a manager can give a customer to another rep"     \
    " (leave --owner out, or give your own name %s)"

static const char *words_for(const char *table, const char *column, const char *why)
{
    for (size_t i = 0; i < sizeof rule_words / sizeof rule_words[0]; i++)
        if (strcmp(rule_words[i].table, table) == 0 &&
            (rule_words[i].column == NULL || strcmp(rule_words[i].column, column) == 0))
            return rule_words[i].words;
    return why;
}

/* 1 if some live row here with an owner of its own (a customer, a plan, a
 * report: the record rules' owner column) belongs to a user other than me. */
static int holds_others(fs_replica *r, const char *me, int *out)
{
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int rc = 0;
    *out = 0;
    for (unsigned t = 0; rc == 0 && !*out && t < nt; t++) {
        const fs_record_rules *rr = fs_record_rules_at(t);
        if (rr == NULL || rr->owner == NULL || rr->by == 0)
            continue; /* the server's own records (the roster: the whole team's) say nothing */
        fs_rows *it = NULL;
        rc = fs_rows_open(&it, r, tables[t].name, NULL, NULL, NULL);
        while (rc == 0 && !*out && (rc = fs_rows_next(it)) == 1) {
            fs_value v;
            rc = fs_rows_get(it, rr->owner, &v);
            if (rc == 0 && v.type == FS_TEXT && v.n > 0 &&
                !(v.n == strlen(me) && memcmp(v.p, me, v.n) == 0))
                *out = 1;
        }
        fs_rows_close(it);
    }
    return rc < 0 ? rc : 0;
}

int precheck_role(fs_replica *r, char me[FS_USER_MAX + 1], fs_record_role *role)
{
    char set[FS_USER_MAX + 1];
    *role = FS_RECORD_ANYONE;
    me[0] = '\0';
    int rc = fs_replica_user(r, me);
    if (rc == FS_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    rc = fs_replica_setting(r, "role", set, sizeof set);
    if (rc == 0) {
        *role = strcmp(set, "manager") == 0 ? FS_RECORD_MANAGER
                : strcmp(set, "rep") == 0   ? FS_RECORD_REP
                                            : FS_RECORD_ANYONE;
        return 0;
    }
    if (rc != FS_ENOTFOUND)
        return rc;
    fs_replica_status st;
    rc = fs_replica_status_get(r, &st);
    if (rc != 0 || st.last_sync_ms == 0)
        return rc; /* never synced: the replica shows nothing of the server's yet */
    int others = 0;
    rc = holds_others(r, me, &others);
    if (rc == 0)
        *role = others ? FS_RECORD_MANAGER : FS_RECORD_REP;
    return rc;
}

/* The text of column of the live row id into out; "" when none. */
static int current_text(fs_replica *r, const char *table, const uint8_t id[FS_ID_BYTES],
                        const char *column, char *out, size_t cap, int *found)
{
    fs_rows *it = NULL;
    out[0] = '\0';
    *found = 0;
    int rc = fs_rows_open(&it, r, table, NULL, NULL, NULL);
    while (rc == 0 && (rc = fs_rows_next(it)) == 1) {
        if (memcmp(fs_rows_id(it), id, FS_ID_BYTES) != 0) {
            rc = 0;
            continue;
        }
        fs_value v;
        *found = 1;
        rc = fs_rows_get(it, column, &v);
        if (rc == 0 && v.type == FS_TEXT)
            snprintf(out, cap, "%.*s", (int)(v.n < cap ? v.n : cap - 1), (const char *)v.p);
        break;
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

static int text_is(const fs_value *v, const char *s)
{
    size_t n = strlen(s);
    return v->type == FS_TEXT && v->n == n && memcmp(v->p, s, n) == 0;
}

#define SAY_HANDED_AWAY                                                                            \
    "%s: customer %.8s was handed to another rep, as this device learnt at its last sync;"         \
    " records for it are no longer this device's user's to make (the server would refuse them)"

int precheck_handed_away(fs_replica *r, const char *what, const uint8_t customer[FS_ID_BYTES])
{
    int cust = fs_schema_table_index("customer");
    int away = 0;
    int rc = cust < 0 ? 0 : fs_replica_handed_away(r, (unsigned)cust, customer, &away);
    if (rc != 0)
        return cli_fail(r, what, rc);
    if (!away)
        return CLI_OK;
    char hex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(customer, hex);
    cli_error(SAY_HANDED_AWAY, what, hex);
    return CLI_EUSAGE;
}

/* A record for a customer this device knows was handed away (purged, or
 * its purge waiting for this device's work to be sent: issue 24) is
 * refused at once, whatever the role: the server refuses what a device
 * writes under it once told. CLI_OK, CLI_EUSAGE (said), CLI_ERUNTIME. */
static int precheck_customer(fs_replica *r, const char *command, const char *table,
                             const fs_cell *cells, size_t n)
{
    int cust = fs_schema_table_index("customer");
    int tix = fs_schema_table_index(table);
    if (cust < 0 || tix < 0 || tix == cust)
        return CLI_OK;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cells[i].column, "customer") != 0 || cells[i].value.type != FS_BLOB ||
            cells[i].value.n != FS_ID_BYTES)
            continue;
        int rc = precheck_handed_away(r, command, cells[i].value.p);
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

int precheck_write(fs_replica *r, const char *command, const char *table, const uint8_t *id,
                   const fs_cell *cells, size_t n)
{
    char me[FS_USER_MAX + 1], owner[FS_USER_MAX + 1] = "", why[160];
    fs_record_role role;
    int rc = precheck_customer(r, command, table, cells, n);
    if (rc != CLI_OK)
        return rc;
    rc = precheck_role(r, me, &role);
    if (rc != 0)
        return cli_fail(r, command, rc);
    const fs_record_rules *rr = fs_record_rules_of(table);
    if (role != FS_RECORD_REP || rr == NULL)
        return CLI_OK; /* a manager, or not known: the server decides */
    unsigned nt;
    const fs_table *tables = fs_schema_tables(&nt);
    int tix = fs_schema_table_index(table);
    const fs_table *t = &tables[tix];
    /* Whose row it is: a rep's device holds the rep's rows only, so a row
     * without an owner column of its own (it follows its customer) is the
     * rep's. */
    int is_owner = 1;
    if (rr->owner != NULL && id != NULL) {
        int found = 0;
        rc = current_text(r, table, id, rr->owner, owner, sizeof owner, &found);
        if (rc != 0)
            return cli_fail(r, command, rc);
        is_owner = !found || owner[0] == '\0' || strcmp(owner, me) == 0;
    }
    for (size_t i = 0; i < n; i++) {
        int col = fs_schema_column_index(t, cells[i].column);
        if (col < 0)
            continue; /* the library names it when it refuses the write */
        if (fs_record_check_write((unsigned)tix, (unsigned)col, &cells[i].value, role, is_owner,
                                  why, sizeof why) != FS_RECORD_OK) {
            cli_error(SAY_REFUSED, command, words_for(table, cells[i].column, why), me);
            return CLI_EUSAGE;
        }
        if (rr->owner == NULL || strcmp(cells[i].column, rr->owner) != 0)
            continue;
        /* The owner column: a new row is the rep's own (or says nobody's:
         * the server makes the creator its owner); a new owner on a row
         * that has one is a handover, which the rules give to managers. */
        int blank = cells[i].value.type == FS_NULL ||
                    (cells[i].value.type == FS_TEXT && cells[i].value.n == 0);
        if (id == NULL && !blank && !text_is(&cells[i].value, me)) {
            cli_error(SAY_NEW_OWNER, command, me);
            return CLI_EUSAGE;
        }
        if (id != NULL && owner[0] != '\0' && !text_is(&cells[i].value, owner) &&
            !fs_record_may_write(table, cells[i].column, role, is_owner)) {
            cli_error(SAY_REFUSED, command, words_for(table, cells[i].column, ""), me);
            return CLI_EUSAGE;
        }
    }
    return CLI_OK;
}
