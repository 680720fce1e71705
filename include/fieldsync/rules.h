/*
 * The rules engine: the handbook's deadlines (HANDBOOK.md, "Deadlines and
 * rules the software checks") as one table of rules, evaluated against a
 * replica, a working-day calendar and a moment in time. Adding a rule is
 * adding a row to the table in core/rules_table.c; core/rules.c evaluates.
 *
 * TIME is civil minutes, and working days are a calendar's, as
 * fieldsync/calendar.h describes: a deadline is plain arithmetic on the
 * record's own fields; only "now" comes from a clock.
 *
 * STATUS of a record against a rule:
 *   ON_TIME   done by the deadline, or not done and more than the rule's
 *             "due soon" window left
 *   DUE_SOON  not done; the deadline is within the window (or is now)
 *   OVERDUE   not done; the deadline has passed (one minute after is late)
 *   MISSED    done, but after the deadline
 * Exactly on the deadline counts as in time, both for "done at" and "now".
 *
 * WHOSE DEADLINE. A deadline is charged to the rep who held the record when
 * it fell. Records that follow a customer (visits, commitments, complaints,
 * requests, acceptances, questions, and the customer's own key-account
 * visits) are held by the customer's owner. When the server accepts a
 * hand-over of a customer it writes, in the same transaction
 * (fieldsync/schema.h, schema 2):
 *   handover  customer, from_rep, to_rep, at (ms, the owner change's
 *             clock; a civil minute in the calendar evaluating): follows
 *             the customer, so its owners and their managers get it
 *   charge    one row per finding about the customer's records whose
 *             deadline fell before the hand-over and after any earlier one
 *             (fs_rules_eval_customer, in the server's calendar), frozen
 *             there: rule, rep (the previous owner, whose row it is),
 *             record, start, deadline, done (only when done by the
 *             hand-over), period
 * Evaluating, a record finding of a customer handed over after its
 * deadline is left out (a charge row holds it, on the old owner's replica
 * too, which no longer holds the record); every charge row is a finding of
 * its rep. A hand-over thus moves future deadlines and never past misses.
 *
 * REFUSED RECORDS. A record whose placing change (its customer link, its
 * rep or owner column) the server refused (the replica's refusals) is not
 * on the server: it is left out here as well, so the rep's laptop counts
 * what the manager's does.
 */
#ifndef FIELDSYNC_RULES_H
#define FIELDSYNC_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/calendar.h"
#include "fieldsync/replica.h"

/* ---- the rules ---- */

#define FS_RULE_WHO_CUSTOMER "customer.owner" /* fs_rule.who: the customer's holder */

typedef enum fs_rule_kind {
    FS_RULE_UNTRACKED = 0, /* the records hold nothing to judge it by (yet) */
    FS_RULE_RECORD,        /* each record: a deadline from one of its fields */
    FS_RULE_DAILY,         /* each working day, each rep: a record is due */
    FS_RULE_WEEKLY,        /* each week, each rep: a record is due */
    FS_RULE_MONTHLY,       /* each month, each key account: a visit is due */
    FS_RULE_FOLLOWUP,      /* a done commitment without a reply: follow up */
    FS_RULE_RATIO,         /* a share of accurate spot-checks, at least N per mille */
    FS_RULE_QUARTERLY,     /* each quarter, each key account: a record of table is due
                            * (its `quarter` column "YYYY-Qn"; done: its start) */
    FS_RULE_CHECKED        /* each record: done (when) only with the `checked` flags
                            * all 1 (a contract's identity check before signing) */
} fs_rule_kind;

typedef enum fs_deadline {
    FS_DL_HOURS,           /* start + amount hours */
    FS_DL_DAYS,            /* start + amount calendar days */
    FS_DL_WORKDAYS,        /* close of the amount-th working day after start */
    FS_DL_WORKDAYS_BEFORE, /* close of the amount-th working day before start */
    FS_DL_END_OF_DAY,      /* 24:00 of start's day */
    FS_DL_SAME_WORKDAY,    /* close of start's day (the next working day's if not one) */
    FS_DL_TIME_OF_DAY      /* start's day at amount minutes after midnight */
} fs_deadline;

typedef struct fs_rule {
    const char *id;   /* "complaint_outcome" */
    const char *text; /* the handbook's row, in words */
    fs_rule_kind kind;
    const char *table;       /* the records judged */
    const char *who;         /* the accountable rep: a column of table, or
                              * FS_RULE_WHO_CUSTOMER (the customer's holder) */
    const char *start;       /* the column the clock starts from */
    const char *done;        /* the column saying when it was done */
    const char *done_if_col; /* ... which counts only when done_if_col equals done_if_val */
    const char *done_if_val;
    fs_deadline deadline;
    int amount;
    int soon_minutes;       /* the "due soon" window */
    const char *filter_col; /* only rows whose filter_col equals filter_val */
    const char *filter_val;
    const char *skip_col; /* rows whose skip_col equals skip_val are not judged */
    const char *skip_val;
    const char *why_untracked; /* FS_RULE_UNTRACKED: what the records lack */
    const char *checked[2];    /* FS_RULE_CHECKED: boolean columns that must be 1 */
    /* a record counts as done only with an attachment of this kind
     * (fieldsync/attach.h; issue 19.3: the customer's signed document) */
    const char *needs_attachment;
    /* FS_RULE_RECORD: a row whose closed_col is set and that was never done
     * is done too late, at its start: missed, not overdue for ever (a visit
     * plan the visit closed without the confirmation). NULL: none. */
    const char *closed_col;
} fs_rule;

/* The table of rules, one row per row of the handbook's deadline table. */
const fs_rule *fs_rules(size_t *count);

typedef enum fs_rule_status {
    FS_ST_ON_TIME = 0,
    FS_ST_DUE_SOON = 1,
    FS_ST_OVERDUE = 2,
    FS_ST_MISSED = 3
} fs_rule_status;
#define FS_ST_COUNT 4
const char *fs_rule_status_name(fs_rule_status s); /* "on time", ... */

/* One record (or, for the daily, weekly and monthly rules, one expected
 * record) judged by one rule. */
typedef struct fs_finding {
    const fs_rule *rule;
    char who[65];             /* the rep */
    uint8_t row[FS_ID_BYTES]; /* the record (zero when none exists) */
    int has_row;
    int64_t start, deadline; /* civil minutes */
    int64_t done;            /* civil minutes, -1 when not done */
    fs_rule_status status;
    int64_t period; /* the day, week or month judged (its first day), else -1 */
} fs_finding;

/* The table f->row is a row of: the rule's, except for a quarterly rule,
 * whose finding is about the key account (its row is the customer's, as a
 * monthly rule's), not about the survey that meets it. */
const char *fs_finding_table(const fs_finding *f);

/* Judges the replica's records by every rule at civil minute now, for the
 * period [from, to) (civil minutes): records whose deadline falls in it or
 * that were done in it, and older ones still not done; every working day,
 * week and month of the period up to now for the daily, weekly and monthly
 * rules. reps (may be NULL): the reps judged (findings about anyone else
 * are left out) and from whom the daily and weekly rules expect records;
 * NULL judges every rep named in the records. A customer without an owner
 * (recorded before the device had a user) counts as the device's user's
 * (fs_replica_user), if one is set. cb returns 0 to
 * go on. Errors: the replica's, FS_ENOMEM, or cb's value. */
int fs_rules_eval(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                  const char *const *reps, size_t nreps, int (*cb)(const fs_finding *f, void *ctx),
                  void *ctx);

/* What a finding's record says, for the people it is shown to: its own
 * words (a commitment's text; NULL when its table has none), its customer
 * (the record's, or the customer a customer rule judges) and who made it
 * when the record names someone other than the finding's rep (a visit's
 * visitor, a complaint's receiver, the visitor of the visit a commitment
 * was made at): a customer handed over brings open work made by its
 * former owner (issue 24). */
typedef struct fs_finding_record {
    char *text; /* malloc'd */
    uint8_t customer[FS_ID_BYTES];
    int has_customer;
    char made_by[FS_USER_MAX + 1]; /* "" when not said */
    /* A record with no column naming its maker (a customer question):
     * the device of its first write (fs_row_maker), which made_by names
     * when the replica can tell; a server looks its user up. */
    uint8_t maker_device[FS_ID_BYTES];
    int has_maker_device;
} fs_finding_record;

/* Reads f's record from r into *out (zeroed first; a finding without a
 * record, or whose record is gone, says nothing). Free with
 * fs_finding_record_free. Errors: the replica's, FS_ENOMEM. */
int fs_finding_record_read(fs_replica *r, const fs_finding *f, fs_finding_record *out);
void fs_finding_record_free(fs_finding_record *fr);

/* What is to be done on this replica: fs_rules_eval of every rep, except
 * that a record of a customer handed over after its deadline is a finding
 * of the customer's present owner (an open commitment is inherited with the
 * customer) and charges are not findings (nothing is left to do about
 * them). For `today`, not for counting. */
int fs_rules_eval_todo(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                       int (*cb)(const fs_finding *f, void *ctx), void *ctx);

/* The findings about one customer's records by the rules whose duty
 * follows the customer, whose deadline fell before `before` (civil) and
 * after the customer's last recorded hand-over, judged at `before`: what a
 * hand-over at `before` freezes as charges (a record done after `before`
 * counts as not done). The key-account rule looks back 12 months. who in
 * each finding is the customer's owner in r. Errors: the replica's,
 * FS_ENOMEM, or cb's value. */
int fs_rules_eval_customer(fs_replica *r, const fs_calendar *cal,
                           const uint8_t customer[FS_ID_BYTES], int64_t before,
                           int (*cb)(const fs_finding *f, void *ctx), void *ctx);

/* The cells of the `charge` row that freezes finding f for rep, handed over
 * at handed_at_ms: n cells into c (at most FS_CHARGE_CELLS), their text in
 * buf, which must outlive them. The store writes these; tests build the
 * same rows. */
#define FS_CHARGE_CELLS 9
typedef struct fs_charge_text {
    char start[17], deadline[17], done[17], period[17];
} fs_charge_text;
size_t fs_charge_cells(const fs_finding *f, const char *rep, int64_t handed_at_ms,
                       fs_charge_text *buf, fs_cell c[FS_CHARGE_CELLS]);

/* Per rep, per rule: how many findings had each status. */
typedef struct fs_rule_tally {
    uint32_t n[FS_ST_COUNT];
} fs_rule_tally;

typedef struct fs_rep_metrics {
    char rep[65];
    fs_rule_tally *by_rule;    /* indexed like fs_rules() */
    uint32_t checks, accurate; /* spot-checks of the rep's records in the period */
} fs_rep_metrics;

typedef struct fs_compliance {
    fs_rep_metrics *reps;
    size_t nreps;
    size_t nrules;
} fs_compliance;

/* Runs fs_rules_eval and tallies the findings per rep. Free with
 * fs_compliance_free. */
int fs_compliance_get(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from, int64_t to,
                      const char *const *reps, size_t nreps, fs_compliance *out);
/* As fs_compliance_get for nweeks weeks one after the other, the first
 * starting at from, into out[0 .. nweeks - 1] (each freed with
 * fs_compliance_free; all of them already on failure): the same figures
 * as a call per week, the tables read once for all of them. */
int fs_compliance_weeks(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from,
                        size_t nweeks, const char *const *reps, size_t nreps, fs_compliance *out);
/* As fs_compliance_weeks, and each finding of the last week passed to cb
 * as fs_rules_eval over that week passes them (the same findings, in the
 * same order; cb may be NULL): a rep's page charts the weeks and lists the
 * week's deadlines from one reading of the tables. A non-zero return of cb
 * ends it with that code. */
int fs_compliance_weeks_each(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from,
                             size_t nweeks, const char *const *reps, size_t nreps,
                             fs_compliance *out, int (*cb)(const fs_finding *f, void *ctx),
                             void *ctx);

/* Evaluations kept between calls (a server's dashboard): the tables read by
 * one call of fs_compliance_weeks_kept serve the next ones with the same
 * replica, calendar and reps for as long as the replica's records and
 * refusals are unchanged (fs_replica_generation); a few sets of reps are
 * kept, the least recently used giving way. Not to be shared between
 * threads. */
typedef struct fs_rules_memo fs_rules_memo;
fs_rules_memo *fs_rules_memo_new(void); /* NULL: out of memory */
void fs_rules_memo_free(fs_rules_memo *m);
/* fs_compliance_weeks_each, with m keeping the tables read (m NULL: as
 * fs_compliance_weeks_each). Inside a transaction nothing is kept. */
int fs_compliance_weeks_kept(fs_rules_memo *m, fs_replica *r, const fs_calendar *cal,
                             int64_t now, int64_t from, size_t nweeks, const char *const *reps,
                             size_t nreps, fs_compliance *out,
                             int (*cb)(const fs_finding *f, void *ctx), void *ctx);
void fs_compliance_free(fs_compliance *c);
/* The tally of rule id for m (NULL for an unknown id). */
const fs_rule_tally *fs_compliance_rule(const fs_compliance *c, const fs_rep_metrics *m,
                                        const char *rule_id);

/* ---- the team's calendar (core/teamcal.c, issue 17 point 7) ----
 *
 * A team's time zone, working hours and holidays are set on the server
 * (`fieldsync-server team set`) and kept as the server-written record
 * `team_setting` (schema 5): one row per team and setting, every member's
 * device holding its team's rows. The device, the server's rules and its
 * dashboard evaluate with the same calendar. */
#define FS_TEAM_TZ       "tz"       /* an IANA zone, "Asia/Shanghai" */
#define FS_TEAM_HOURS    "hours"    /* "HH:MM-HH:MM", the end after the start */
#define FS_TEAM_HOLIDAYS "holidays" /* dates "YYYY-MM-DD" joined by ',' (or "") */
#define FS_TEAM_WORKDAYS "workdays" /* weekend dates worked, the same form */
/* Export policy (issue 20 point 4): what `--export` may write for a rep
 * and for a manager (a device's role setting: an admin's device is a rep's): "forbidden", "sealed"
 * (to the company's export key) or "plaintext". Unset: a rep's forbidden,
 * a manager's sealed. export_pk: the export key's public half, 64 hex
 * digits, written by `fieldsync-server export-key` and `team set --export`. */
#define FS_TEAM_EXPORT_REP     "export_rep"
#define FS_TEAM_EXPORT_MANAGER "export_manager"
#define FS_TEAM_EXPORT_PK      "export_pk"
/* The team's passphrase rule (issue 20.7): at least this many characters
 * or words (decimal), never under the built-in rule
 * (FS_PASSPHRASE_MIN_CHARS / _WORDS, fieldsync/passphrase.h), at most
 * FS_PASSPHRASE_TEAM_MAX_*. Unset: the built-in number. A device learns
 * it before it enrolls (POLICY, fieldsync/msg.h) and from the team_setting
 * rows it syncs after; init, enroll and passwd hold a new passphrase to it.
 * Devices of release 0.2.0 and before skip these rows (a setting they do
 * not know). */
#define FS_TEAM_PASS_CHARS "passphrase_min_chars"
#define FS_TEAM_PASS_WORDS "passphrase_min_words"
/* The longest value a setting may hold (FS_CAL_MAX_HOLIDAYS dates). */
#define FS_TEAM_VALUE_MAX (FS_CAL_MAX_HOLIDAYS * 11)

/* 0 if value is what setting may hold (a setting this build does not know
 * is refused), else FS_EINVAL with *why set to a static reason. */
int fs_team_setting_check(const char *setting, const char *value, const char **why);
/* The value of one of the team's settings into out (size bytes with the
 * NUL): 0, FS_ENOTFOUND when the team has none, FS_ETOOBIG. */
int fs_team_setting_get(fs_replica *r, const char *team, const char *setting, char *out,
                        size_t size);
/* Applies team's settings held in r onto cal (what was there stays where
 * the team says nothing): *found is how many settings it has (0: none, as
 * on a device before its first sync with a server of protocol 6). A value
 * this machine cannot use (a zone without its zone file here) is skipped
 * and counted in *unusable (may be NULL). Errors: the replica's. */
int fs_team_calendar(fs_replica *r, const char *team, fs_calendar *cal, int *found,
                     int *unusable);
/* The team's passphrase rule held in r into *out: the built-in rule where
 * the team sets nothing (or nothing usable; team NULL or ""). Errors: the
 * replica's. */
struct fs_pass_policy;
int fs_team_pass_policy(fs_replica *r, const char *team, struct fs_pass_policy *out);

#endif
