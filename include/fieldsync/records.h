/*
 * The record rules: for every record kind (every table of fieldsync/schema.h)
 * who may write which column, the statuses a record goes through, the
 * actions that move it from one to the next, the columns an action sets
 * together, and who signs. One table, in core/records.c: the CLI checks an
 * action against it before it writes, the server enforces it on push and in
 * the dashboard's writes, and the dashboard reads it for the buttons it
 * offers. The columns themselves are the schema's; the rules only name them.
 *
 * WRITERS. Scope decides whose rows a user reaches at all (the row's owner,
 * the managers of the owner's team, never an admin: fieldsync/store.h).
 * Within scope a column is written by
 *   FS_BY_OWNER       the row's owner (the rep it belongs to)
 *   FS_BY_SUPERVISOR  a manager whose team holds the row
 * A table names who writes its columns; a column rule narrows one column,
 * and says when it applies: always, for values other than NULL only (a
 * signature anyone may clear), or only when the value changes on an
 * existing row (handing a customer to another rep).
 *
 * STATUSES AND ACTIONS. A record kind with a status column starts in its
 * initial status; an action moves it from one of its "from" statuses to its
 * "to" status (or keeps it, to NULL) and sets its columns together, in the
 * order listed: the status, who signs (the acting user's name), the time it
 * was done (today for a date column, now for a date and time), values the
 * actor gives, or a flag set to 1. A status that only supervisors' actions
 * lead to is itself a supervisor's value. Actions of kinds without a status
 * (a complaint's outcome) have no "from" and no "to".
 *
 * THE TABLE (core/records.c)
 *   kind          columns written by            status: action  from -> to
 *   customer      owner and supervisor; a new
 *                 owner on an existing row:
 *                 supervisor
 *   weekly_plan   owner and supervisor;         draft (initial)
 *                 approved_by, approved_at,     submit   draft|returned -> submitted  owner
 *                 review_comment, when set:     approve  submitted -> approved        supervisor,
 * signs supervisor                    return   submitted -> returned        supervisor, signs
 *   commitment    owner and supervisor          open (initial)
 *                                               done     open -> done                 anyone
 *                                               cancel   open -> cancelled            anyone
 *                                               replied  done (stays)                 anyone
 *   complaint     owner and supervisor          outcome
 *   acceptance    owner and supervisor          collect
 *   customer_question  owner and supervisor     answer
 *   spot_check    supervisor (every column); its rep is the rep who holds
 *                 the record checked (the CLI fills it, the server refuses
 *                 another)
 *   handover      the server only (no device writes it: FS_BY_* 0)
 *   charge        the server only (fieldsync/rules.h)
 *   every other   owner and supervisor
 * A supervisor's signature is never on their own record: approve and return
 * refuse the plan's own rep (the CLI checks it; the server's scope and role
 * checks are as before).
 *
 * COLUMN GROUPS (issue 25.7). Columns that only mean something together:
 *   commitment    status, done_at
 *   weekly_plan   status, approved_by, approved_at
 *   complaint     outcome, outcome_at
 * A local update of one of them writes the others too, with their current
 * values (NULL included), at the same clock, so a group travels as one write;
 * merging decides a group as a whole: the write with the highest clock among
 * its columns wins all of them (core/merge.c).
 */
#ifndef FIELDSYNC_RECORDS_H
#define FIELDSYNC_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/replica.h"

/* ---- statuses: the only place these strings are spelled ---- */

#define FS_STATUS_DRAFT     "draft"
#define FS_STATUS_SUBMITTED "submitted"
#define FS_STATUS_APPROVED  "approved"
#define FS_STATUS_RETURNED  "returned"
#define FS_STATUS_OPEN      "open"
#define FS_STATUS_DONE      "done"
#define FS_STATUS_CANCELLED "cancelled"
/* schema 6: a deal's stage, a contract's status */
#define FS_STATUS_LEAD        "lead"
#define FS_STATUS_NEGOTIATING "negotiating"
#define FS_STATUS_WON         "won"
#define FS_STATUS_LOST        "lost"
#define FS_STATUS_SIGNED      "signed"

/* ---- who ---- */

/* A user's role, as the server's users table holds it (the values of
 * fs_role). FS_RECORD_ANYONE is a device's CLI, which does not know its
 * user's role: checks that need a role pass, and the server decides. */
typedef enum fs_record_role {
    FS_RECORD_ANYONE = 0,
    FS_RECORD_REP = 1,
    FS_RECORD_MANAGER = 2,
    FS_RECORD_ADMIN = 3
} fs_record_role;

#define FS_BY_OWNER      0x1u /* the row's owner */
#define FS_BY_SUPERVISOR 0x2u /* a manager whose team holds the row */
#define FS_BY_ANYONE     (FS_BY_OWNER | FS_BY_SUPERVISOR)

typedef enum fs_record_when {
    FS_WHEN_ALWAYS, /* every write of the column */
    FS_WHEN_SET,    /* writes of a value other than NULL */
    FS_WHEN_CHANGED /* a different value on an existing row (a handover) */
} fs_record_when;

typedef struct fs_record_column {
    const char *column;
    unsigned by; /* FS_BY_* */
    fs_record_when when;
} fs_record_column;

/* ---- actions ---- */

typedef enum fs_record_fill {
    FS_FILL_STATUS, /* the action's "to" status */
    FS_FILL_SIGNER, /* the acting user's name: who signs */
    FS_FILL_NOW,    /* today (a date column) or now (date and time) */
    FS_FILL_GIVEN,  /* a value the actor gives (left alone when not given) */
    FS_FILL_TRUE    /* the integer 1 */
} fs_record_fill;

typedef struct fs_record_set {
    const char *column;
    fs_record_fill fill;
    int required; /* FS_FILL_GIVEN: the action needs the value */
} fs_record_set;

#define FS_RECORD_MAX_FROM 3
#define FS_RECORD_MAX_SETS 4
#define FS_RECORD_MAX_NEEDS 4

typedef struct fs_record_action {
    const char *name;                       /* "approve": the CLI's and dashboard's verb */
    const char *from[FS_RECORD_MAX_FROM];   /* statuses it starts from; {NULL}: any */
    const char *to;                         /* the status it sets; NULL: unchanged */
    unsigned by;                            /* FS_BY_*: who may do it */
    int not_owner;                          /* never by the row's owner (a signature) */
    fs_record_set sets[FS_RECORD_MAX_SETS]; /* the columns it sets, in order; ends at NULL */
    /* columns the record must hold before the action (a value other than
     * NULL, empty text or a boolean 0): a contract is signed only after its
     * legal review and identity check (fs_record_check_needs); ends at NULL */
    const char *needs[FS_RECORD_MAX_NEEDS];
} fs_record_action;

/* ---- a record kind ---- */

typedef struct fs_record_rules {
    const char *table;
    const char *owner;  /* the column naming the row's owner; NULL: it follows a parent */
    const char *signer; /* the column a new record is signed in (the creating user's
                           name), or NULL */
    unsigned by;        /* FS_BY_*: who writes a column without a rule of its own */
    const fs_record_column *columns; /* the columns with rules of their own */
    size_t ncolumns;
    const char *status;          /* the status column, or NULL */
    const char *initial;         /* the status of a new record */
    const char *const *statuses; /* every status, NULL-terminated; NULL without */
    const fs_record_action *actions;
    size_t nactions;
} fs_record_rules;

/* The rules of a table by name or by schema index, or NULL for a table the
 * schema does not have (every table of the schema has rules). */
const fs_record_rules *fs_record_rules_of(const char *table);
const fs_record_rules *fs_record_rules_at(unsigned table);

/* The action of table called name, or NULL. */
const fs_record_action *fs_record_find_action(const char *table, const char *name);

/* The first action of table that leads to status to, or NULL. */
const fs_record_action *fs_record_action_to(const char *table, const char *to);

/* 1 if the action starts from status (NULL: a record without one): always
 * for an action without "from" statuses. */
int fs_record_action_from(const fs_record_action *a, const char *status);

/* 1 if a user of role, owning the row or not, may write column of table in
 * the case its rule covers (for a FS_WHEN_SET column a non-NULL value, for
 * FS_WHEN_CHANGED a new value on an existing row); 0 if not, or for a
 * table or column the schema does not have. */
int fs_record_may_write(const char *table, const char *column, fs_record_role role, int is_owner);

/* 1 if some action of table moves a record from status from to status to
 * (from == to for an action that keeps it) and a user of role may do it. */
int fs_record_transition_ok(const char *table, const char *from, const char *to,
                            fs_record_role role);

/* ---- column groups ---- */

#define FS_RECORD_MAX_GROUP 4

typedef struct fs_record_group {
    const char *table;
    const char *columns[FS_RECORD_MAX_GROUP]; /* ends at NULL */
} fs_record_group;

/* The group of column (a schema index) of table (a schema index): a mask
 * with bit c set for every column c of the group, column itself included;
 * 0 for a column in no group (or out of range). */
uint32_t fs_record_group_of(unsigned table, unsigned column);

/* The groups of the table, for listing: *n of them (none: NULL). */
const fs_record_group *fs_record_groups(size_t *n);

/* ---- locks (issue 17 point 3) ----
 * A record in one of its kind's locked statuses keeps its content: the
 * columns no action sets (a weekly plan's period, goals, help needed, its
 * rep) and its tombstone are not written, by anyone, until an action moves
 * it out (a submitted plan is edited or deleted only after the manager
 * returns it; an approved one stays as approved). The status, the columns
 * the actions set and a new record are not locked. The CLI checks it before
 * an edit or delete, the server on every push.
 *   weekly_plan   locked while submitted or approved (open: draft, returned)
 */

/* 1 if column (a schema index) of table (a schema index) is locked when
 * the record's status is status (NULL: not set): the status is one of the
 * kind's locked ones and no action of the kind sets the column. 0 otherwise,
 * and for a kind without locks or an index out of range. */
int fs_record_locked(unsigned table, unsigned column, const char *status);

/* The statuses in which table's records may be changed, "draft|returned",
 * for a message; "" for a kind without locks. */
const char *fs_record_open_statuses(const char *table);

/* ---- checks with a reason ---- */

#define FS_RECORD_MAP(X)                                                                           \
    X(EUNKNOWN, -1, "no such record kind, column or action")                                       \
    X(ESTATE, -2, "the record's status does not allow it")                                         \
    X(EROLE, -3, "a supervisor writes this")                                                       \
    X(ESELF, -4, "a supervisor does not sign their own record")                                    \
    X(ENEEDS, -5, "the record lacks what the action needs")

typedef enum fs_record_verdict {
    FS_RECORD_OK = 0,
#define FS__RECORD_ENUM(name, code, text) FS_RECORD_##name = code,
    FS_RECORD_MAP(FS__RECORD_ENUM)
#undef FS__RECORD_ENUM
} fs_record_verdict;

/* A static description of a verdict; never NULL. */
const char *fs_record_strerror(int verdict);

/* 1 if column of table (schema indexes) is a hand-over's: its rule is
 * FS_WHEN_CHANGED (customer.owner); 0 otherwise. A device undoes a
 * hand-over the server refused (fs_refusals_revert_handovers). */
int fs_record_is_handover(unsigned table, unsigned column);

/* 1 for a table only the server writes (no device may write any of its
 * columns: handover, charge, refusal_tally, roster), else 0. A device holds
 * such rows only as the server fed them, so one that re-syncs from a
 * restored server drops them and takes them again from the feed (issue
 * 25.2, fs_replica_resync). */
int fs_record_server_only(unsigned table);

/* The push check of one written value: the column's rule (FS_WHEN_CHANGED
 * columns are judged where the owner change is known, with
 * fs_record_may_write) and, on a status column, the statuses only a
 * supervisor's action leads to. table and column are schema indexes.
 * Returns FS_RECORD_OK, FS_RECORD_EUNKNOWN or FS_RECORD_EROLE, with a
 * one-line message naming the rule in why (whylen bytes, may be NULL). */
int fs_record_check_write(unsigned table, unsigned column, const fs_value *value,
                          fs_record_role role, int is_owner, char *why, size_t whylen);

/* The check of action a on a record of table whose status is status (NULL
 * when not set) and whose owner the actor is (is_owner 1), is not (0) or
 * may be (-1: not known yet; the owner rule is then not checked). Returns
 * FS_RECORD_OK, FS_RECORD_ESTATE ("the status is draft; it must be
 * submitted"), FS_RECORD_EROLE or FS_RECORD_ESELF ("the rep is you; a
 * supervisor does this"), with that message in why. */
int fs_record_check_action(const char *table, const fs_record_action *a, const char *status,
                           fs_record_role role, int is_owner, char *why, size_t whylen);

/* The check of action a's needs on the record under it (an iterator on
 * its row): FS_RECORD_OK, or FS_RECORD_ENEEDS with *missing the first
 * column it lacks (a name of the schema) and that in why; FS_RECORD_EUNKNOWN
 * for a column the row cannot read. */
int fs_record_check_needs(const fs_record_action *a, fs_rows *it, const char **missing, char *why,
                          size_t whylen);

/* A supervisor's write made outside any device (the dashboard's): an update
 * (update 1) may set only the columns the table's supervisor actions set; a
 * new row is only of a kind supervisors write whole (a spot-check).
 * Returns FS_RECORD_OK, FS_RECORD_EUNKNOWN for a kind with no such write,
 * or FS_RECORD_EROLE for a column outside them, with why. */
int fs_record_check_supervisor_cells(const char *table, int update, const fs_cell *cells, size_t n,
                                     char *why, size_t whylen);

#endif
