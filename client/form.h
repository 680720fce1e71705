/*
 * The form engine's shared types: a form names its table, its fields (flag,
 * column, kind, required or not, default), its child items and its actions.
 * The forms themselves are rows of form_table.c; the engine that adds,
 * edits, lists, shows and runs actions on them is cmd_form.c (writes),
 * form_input.c (checking what was typed) and form_view.c (lists and show).
 * What a form may write, which status an action needs and what it sets are
 * the record rules' (fieldsync/records.h), not the form's.
 */
#ifndef FIELDSYNC_CLIENT_FORM_H
#define FIELDSYNC_CLIENT_FORM_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "fieldsync/replica.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define FORM_MAX_FIELDS 16

typedef enum fkind {
    FK_TEXT,
    FK_DATE,
    FK_DATETIME,
    FK_BOOL,
    FK_CUSTOMER,
    FK_REF,
    FK_INT,
    FK_CHOICE,
    FK_FLAG, /* a flag without a value: 1 when given, else 0 (always written) */
    FK_NOW,  /* no option: the time the record is written, in its place among the columns */
    FK_USER, /* a user on the team's roster (client/roster.c), folded to its spelling there */
    FK_MONEY /* an amount in CNY, "300000" or "300,000.50": integer fen (form_sales.c) */
} fkind;

typedef struct ffield {
    const char *flag;   /* "--name" (NULL for FK_NOW) */
    const char *column; /* "name" */
    fkind kind;
    int required;
    const char *label; /* the prompt */
    const char *extra; /* FK_CHOICE: "a|b|c"; FK_REF: the table, or the flag naming it;
                          FK_INT: "min-max"; FK_BOOL: the flag required when "no" */
    int now_default;   /* FK_DATE: today, FK_DATETIME: now, when not given */
} ffield;

/* Values of a form's fields, by index; owned strings are the answers typed. */
typedef struct values {
    const char *v[FORM_MAX_FIELDS];
    char *typed[FORM_MAX_FIELDS];
    int flag[FORM_MAX_FIELDS]; /* FK_FLAG fields */
    char nowbuf[17], today[11];
    char user[FS_USER_MAX + 1]; /* the FK_USER field's name, as the roster spells it */
    /* 1 while the replica is not open: "now" may be another zone's than the
     * team's, so "not in the future" waits for form_now_in_team_zone */
    int zone_later;
} values;
/* After the replica is open: "now" (nowbuf, today) again, in the team's
 * zone when it has come (cli_now), and the checks that depend on it. */
void form_now_in_team_zone(values *vs);

struct fform;

/* A child item given with a repeatable flag (a plan's tasks, a visit's
 * commitments), written with its parent in one transaction. */
typedef struct fchild {
    const char *flag, *table, *parent_col, *format;
    const char *cols[3];
    fkind kinds[3];
    int required[3];
    const char *copy_col; /* a column copied from the parent (a commitment's customer) */
    int no_show;          /* show leaves the items out (a visit's commitments) */
    /* Splits and checks the index-th (from 1) item into parts (malloc'd, NULL
     * for none), printing its own message: CLI_OK, CLI_EUSAGE, or
     * CLI_ERUNTIME when out of memory. NULL: "A|B|C" split at each "|". */
    int (*split)(const struct fform *fm, const values *vs, size_t index, const char *item,
                 char *parts[3]);
    const char *labels[3]; /* each column's, asked for on a terminal (form_ask_all) */
} fchild;

/* What a careful supervisor checks in a form beyond each value's own form
 * (issue 17 point 5): each refusal names the flag and the rule, exit 2. */
typedef enum fcheck_kind {
    CK_NOT_FUTURE,   /* flag's date or time is not after now (5 minutes' grace) */
    CK_NOT_BEFORE,   /* flag's date is not before other's */
    CK_PHONE,        /* flag is a phone number: digits, spaces, + - ( ) . / */
    CK_EMAIL,        /* flag is an e-mail address */
    CK_ONE_PER_DAY,  /* one record per rep and flag's date (of the form's kind) */
    CK_UNIQUE_NAME,  /* no other live record of the table has flag's name,
                        unless other (a flag without a value) is given */
    CK_TASKS_WITHIN, /* the child items' dates lie within flag .. other */
    CK_NO_OVERLAP,   /* no other live record of this rep's spans a day of
                        flag .. other (one weekly plan a week) */
    CK_QUARTER,      /* flag is a quarter, "YYYY-Qn" (n 1 to 4) */
    CK_NEAR_NOW,     /* flag's time, when given (add or edit), is within
                        30 days of now (FORM_NEAR_DAYS), past or future,
                        unless other (a flag without a value) is given */
    CK_SAME_TIME     /* another live record of the table for --customer at
                        flag's time (one typed twice?): a note, unless other
                        is given; recorded either way */
} fcheck_kind;

#define FORM_NEAR_DAYS 30 /* the message says 30 in words */

typedef struct fcheck {
    fcheck_kind kind;
    const char *flag, *other;
} fcheck;

/* A state change: an action of the record rules (fieldsync/records.h),
 * which say from which status, to which, and what it sets. */
typedef struct faction {
    const char *name;    /* "approve": the rules' action */
    const ffield *flags; /* the action's own options: the values it is given */
    size_t nflags;
    const char *usage;
} faction;

typedef struct fform {
    const char *group, *table, *title;
    const char *add_name; /* "add" (NULL: no add here) */
    const ffield *fields;
    size_t nfields;
    const char *stamp_col;           /* set to now */
    const char *init_col, *init_val; /* a starting kind (the status is the rules') */
    const char *list_cols[8];        /* NULL-terminated; "customer" shows the name */
    const fchild *child;
    const faction *actions;
    size_t nactions;
    int list; /* has list (here) */
    const char *usage;
    /* The customer and visit commands keep the ways they had before they
     * were rows here: */
    const char *usage_full; /* add's usage as printed (cmd.h); NULL: from usage */
    int by_command;         /* messages name the command ("visit add: --place is
                               required"), every required field is asked for before
                               any is checked, blank optional fields are left out,
                               and a failed save says which write failed */
    const char *what;       /* "the visit": what add and edit save */
    const char *me_default; /* a column the device's user fills when not given and known */
    const char *edit_name;  /* "edit" (NULL: no edit) */
    const char *edit_id;    /* the edit's option naming the record ("--customer") */
    const ffield *edit_fields;
    size_t nedit_fields;
    const char *edit_usage_full;
    int (*list_rows)(fs_replica *r, int json); /* a list of its own; NULL: list_cols */
    /* a list of its own taking --limit N and --all (visit list): limit 0
     * every row; NULL: none */
    int (*list_page)(fs_replica *r, int json, size_t limit);
    /* Completes or refuses a new record's cells once the replica is open
     * (a spot-check's rep); held: a buffer the cells may point into. */
    int (*complete)(fs_replica *r, fs_cell *cells, size_t *nc, char held[FS_USER_MAX + 1]);
    const fcheck *checks; /* what add checks beyond each value (form_input.c) */
    size_t nchecks;
    /* Called by add once the record (id, its cells) and its child items are
     * inserted, in their transaction: more writes that go with it (a visit
     * closes the visit plans it fulfils). fieldsync error code. */
    int (*written)(fs_replica *r, const uint8_t id[FS_ID_BYTES], const fs_cell *cells, size_t nc);
} fform;

/* Runs sub (add, edit, list, show or an action; NULL: none given) of the
 * forms of group with the arguments that follow it (cmd_form.c). */
int form_run(cli_ctx *ctx, const char *group, const char *sub, int argc, char **argv);

/* ---- the table (form_table.c) ---- */

extern const fform form_table[];
extern const size_t form_count;

/* A spot-check's rep (form_spotcheck.c): filled from the record checked,
 * or CLI_EUSAGE with a message when --rep names another rep than the one
 * who holds it. cells has room for one more. */
int form_spotcheck_rep(fs_replica *r, fs_cell *cells, size_t *nc, char held[FS_USER_MAX + 1]);

/* ---- the sales records (form_sales.c) ---- */

#define MONEY_BUF 40
/* An amount in CNY as typed ("300000", "300,000.50", "¥300,000.50" or
 * "￥…", "300000元"; at most two decimals and 12 digits of yuan; or in 万,
 * ten thousand, as Chinese amounts are written: "30万", "1.5万元", at most
 * six decimals) to fen: 0, or -1 when it is none. */
int money_parse(const char *s, int64_t *fen);
/* fen as shown: "¥300,000.50"; returns buf. */
const char *money_format(int64_t fen, char buf[MONEY_BUF]);
/* A payment's or contract's customer: its deal's (the form's "deal" cell),
 * appended to cells; CLI_EUSAGE when this device holds no such deal. */
int form_deal_customer(fs_replica *r, fs_cell *cells, size_t *nc, char held[FS_USER_MAX + 1]);

/* ---- input (form_input.c) ---- */

/* The form's checks (fm->checks) that need no replica: over the values
 * given (vs) and the child items' parts (nchildren of them; their first
 * part a date where a check says so). CLI_OK or CLI_EUSAGE with a message. */
/* A field's name as a rep reads it (client/cmd_history.c): the label its
 * form asks for it with, translated, without the hint of how to type it;
 * into buf, which it returns. */
const char *form_field_name(const char *table, const char *column, char *buf, size_t size);

/* A record's status, a deal's stage or a daily report's kind in the
 * reader's words (form_view.c); any other text as it is. */
const char *form_status_words(const char *status);

int form_check_given(const fform *fm, const values *vs, char *(*parts)[3], size_t nchildren);

/* The form's checks that read the replica (one per day, a unique name);
 * me: the device's user. CLI_OK, CLI_EUSAGE with a message, CLI_ERUNTIME. */
int form_check_stored(fs_replica *r, const fform *fm, const values *vs, const char *me);
/* The same, leaving out the record self (NULL: none), which an edit
 * changes: its own date or name is no duplicate. */
int form_check_stored_except(fs_replica *r, const fform *fm, const values *vs, const char *me,
                             const uint8_t *self);
/* Splits the k-th (from 0) child item "A|B|C" of fm into parts and checks
 * them as the child's columns (cmd_form.c). */
int form_split_parts(const fform *fm, size_t k, const char *s, char *parts[3]);
/* GROUP edit ID [add's options] and GROUP delete ID [--with-records] of
 * every form (form_edit.c). */
int form_edit_record(cli_ctx *ctx, const char *group, int argc, char **argv);
int form_delete(cli_ctx *ctx, const char *group, int argc, char **argv);

int form_is_yes(const char *v);
/* 1 if v is one of choices ("a|b|c"). */
int form_in_choices(const char *v, const char *choices);
/* Checks one value against its field; CLI_OK or CLI_EUSAGE with the flag
 * named. Ids are resolved later, with the replica open. */
int form_check_value(const ffield *f, const char *v);
/* A form given nothing on the command line, at a terminal: asks for each of
 * its fields in order, the ones that may stay empty too ("Enter to skip"),
 * then for its child items one at a time (a visit's promises, a plan's
 * tasks) into *asked, whose strings *items points to and the caller frees
 * with form_asked_free. So a rep can record a whole form with nothing about
 * the customer on the command line, where the shell's history file would
 * keep it in plaintext. CLI_OK, or CLI_ERUNTIME when out of memory. */
int form_ask_all(const struct fform *fm, values *vs, fs_opt_list *items, char ***asked,
                 size_t *nasked);
void form_asked_free(char **asked, size_t nasked);
/* A record corrected at a terminal (an edit given no field): each of fields
 * asked for with its value now, shown[i] (as typed, NULL for none), in
 * brackets: Enter keeps it, a lone - empties an optional one, anything else
 * replaces it once it passes its checks (asked again up to three times).
 * The changes go into vs->v (NULL: kept); the end of input keeps the rest.
 * fm's checks of each field apply. CLI_OK or CLI_EUSAGE. */
int form_ask_edit(const struct fform *fm, const ffield *fields, size_t n, char *const shown[],
                  values *vs);
/* The record of fields' form with id asked for at the terminal, each field
 * with its value now (form_ask_edit), then the customers and users named
 * looked up (form_ask_refs). */
int form_ask_record(fs_replica *r, const struct fform *fm, const ffield *fields, size_t n,
                    const uint8_t id[FS_ID_BYTES], values *vs);
/* Which record of table an edit (correcting) or an action given nothing at
 * a terminal is about, asked for: 1 and a malloc'd answer in *out, 0 when
 * none was typed. */
int form_ask_which(const char *table, int correcting, char **out);
/* A stored value of table's row for people, as show shows it (yes/no and
 * amounts in words, an id's first digits), a customer or a deal by its
 * name: malloc'd, NULL for none. */
int form_stored_text(fs_replica *r, const fs_rows *it, const char *table, const ffield *f,
                     char **out);
/* A column's value as show and the lists show it (form_view.c). */
int form_value_text(const fs_rows *it, const char *table, const char *col, char **out);
/* After form_ask_all, with the replica open: each customer, record or user
 * named in an answer is looked up, and one that is not found, or names
 * several (cli_resolve and roster_owner say which), is asked for again (an
 * optional one may then be left empty), so a whole form typed is not lost
 * to one name. CLI_OK, or cli_resolve's code once the rep gives up. */
int form_ask_refs(fs_replica *r, const ffield *fields, size_t n, values *vs);
/* Fills defaults, asks for missing required fields, checks everything. */
int form_complete(const ffield *fields, size_t n, values *vs);
/* The same, the customer and visit commands' way (fform.by_command). */
int form_complete_by_command(const char *command, const ffield *fields, size_t n, values *vs);
void form_values_free(values *vs);
/* Reads the one text field given as "-" from standard input (a customer's
 * words never on the command line): add, the actions and edit alike. */
int form_stdin_text(const ffield *fields, size_t n, values *vs);
/* form_stdin_text, then each date and time as people write it in China
 * too (fs_civil_normalize), and yes or no as 是 or 否 (or in capitals), in
 * the form the checks expect: what every command taking a form's values
 * (add, actions, edit) calls first. */
int form_take(const ffield *fields, size_t n, values *vs);
/* The field's value as a cell; ids resolved in the replica into idbuf. */
int form_to_cell(fs_replica *r, const ffield *f, const char *v, values *vs,
                 const ffield *fields, size_t n, uint8_t idbuf[FS_ID_BYTES], fs_cell *out);
/* The device's user, or CLI_EUSAGE saying how to set it. */
int form_need_user(fs_replica *r, char me[FS_USER_MAX + 1]);

/* ---- views (form_view.c) ---- */

/* Finds the row hex resolves to in table and opens an iterator on it. */
int form_open_one(fs_replica *r, const char *table, const char *hex, fs_rows **it,
                  uint8_t id[FS_ID_BYTES]);
int form_list(cli_ctx *ctx, const fform *fm, int argc, char **argv);
int form_show(cli_ctx *ctx, const fform *fm, int argc, char **argv);

/* ---- the customer and visit rows' own parts ---- */

/* visit add's --commit "TEXT|YYYY-MM-DD" (cmd_visit.c). */
int visit_split_commit(const fform *fm, const values *vs, size_t index, const char *item,
                       char *parts[3]);
/* visit list and customer list (cmd_visit.c, cmd_customer.c). */
int visit_list_rows(fs_replica *r, int json);
/* visit list's page (issue 21.6): the newest limit visits, newest first,
 * through the replica's index on a visit's time (limit 0: every visit,
 * oldest first, as visit_list_rows). */
#define VISIT_PAGE_DEFAULT 50
#define VISIT_PAGE_MAX     1000000
int visit_list_page(fs_replica *r, int json, size_t limit);
/* A new visit closes the open visit plans of its customer on its day: their
 * `visit` column names it (cmd_visit.c; fform.written). */
int visit_close_plans(fs_replica *r, const uint8_t id[FS_ID_BYTES], const fs_cell *cells,
                      size_t nc);
int customer_list_rows(fs_replica *r, int json);

#endif
