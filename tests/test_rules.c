/*
 * The rules engine: civil time, the working-day calendar, every rule of the
 * handbook's deadline table at its boundaries (exactly on the deadline, one
 * minute after, across a weekend and a holiday, in another time zone), and
 * a compliance tally against a fixture week counted by hand.
 */
#include <stdio.h>
#include <string.h>

#include "fieldsync/reason.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "test.h"

static int64_t civ(const char *s)
{
    int64_t c = -1;
    CHECK_OK(fs_civil_parse(s, strlen(s), &c));
    return c;
}

/* The wall clock the replicas write with (ms since the epoch): records
 * are made in 2022, before the periods the tests judge, unless a test
 * moves it (a customer recorded after the months it is judged in). */
#define CLOCK_2022 1654041600000ull /* 2022-06-01 00:00 UTC */
static uint64_t write_clock_ms = CLOCK_2022;

static uint64_t write_clock(void *ctx)
{
    (void)ctx;
    return write_clock_ms;
}

static fs_replica *fresh(char **dir)
{
    *dir = test_tmpdir();
    char path[700];
    snprintf(path, sizeof path, "%s/r", *dir);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = write_clock};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    return r;
}

static void done_with(fs_replica *r, char *dir)
{
    fs_replica_close(r);
    test_rmtree(dir);
}

static void customer(fs_replica *r, const char *owner, int key, uint8_t id[16])
{
    fs_cell c[] = {{"name", fs_text("Rules Test Co.")},
                   {"owner", fs_text(owner)},
                   {"key_account", fs_int(key)}};
    CHECK_OK(fs_insert(r, "customer", c, 3, id));
}

static void visit(fs_replica *r, const uint8_t cid[16], const char *time, const char *recorded,
                  uint8_t id[16])
{
    fs_cell c[] = {{"customer", fs_blob(cid, 16)}, {"time", fs_text(time)},
                   {"place", fs_text("p")},        {"purpose", fs_text("p")},
                   {"notes", fs_text("n")},        {"recorded_at", fs_text(recorded)}};
    CHECK_OK(fs_insert(r, "visit", c, recorded ? 6 : 5, id));
}

typedef struct got {
    int n;
    fs_finding f[1024];
} got;

static int collect(const fs_finding *f, void *ctx)
{
    got *g = ctx;
    if (g->n < 1024)
        g->f[g->n] = *f;
    g->n++;
    return 0;
}

/* fs_compliance_weeks_each over nweeks weeks from `from` agrees with a
 * fs_compliance_get per week (every rep's every tally), and the findings
 * it passes on are those of fs_rules_eval over the last week, in the same
 * order. The number of weeks in which anything was found. */
static int weeks_agree(fs_replica *r, const fs_calendar *cal, int64_t now, int64_t from,
                       size_t nweeks, const char *const *reps, size_t nreps)
{
    static got each, one_eval;
    fs_compliance weeks[8], one;
    CHECK(nweeks <= 8);
    each.n = one_eval.n = 0;
    CHECK_OK(fs_compliance_weeks_each(r, cal, now, from, nweeks, reps, nreps, weeks, collect,
                                      &each));
    int differ = 0, found = 0;
    for (size_t k = 0; k < nweeks; k++) {
        int64_t start = from + (int64_t)k * 7 * FS_MIN_PER_DAY;
        CHECK_OK(fs_compliance_get(r, cal, now, start, start + 7 * FS_MIN_PER_DAY, reps, nreps,
                                   &one));
        differ += weeks[k].nreps != one.nreps || weeks[k].nrules != one.nrules;
        found += one.nreps > 0;
        for (size_t i = 0; i < one.nreps && i < weeks[k].nreps; i++) {
            differ += strcmp(weeks[k].reps[i].rep, one.reps[i].rep) != 0;
            differ += weeks[k].reps[i].checks != one.reps[i].checks ||
                      weeks[k].reps[i].accurate != one.reps[i].accurate;
            for (size_t q = 0; q < one.nrules; q++)
                differ += memcmp(&weeks[k].reps[i].by_rule[q], &one.reps[i].by_rule[q],
                                 sizeof one.reps[i].by_rule[q]) != 0;
        }
        fs_compliance_free(&one);
        fs_compliance_free(&weeks[k]);
    }
    CHECK_EQ_INT(differ, 0);
    int64_t last = from + (int64_t)(nweeks - 1) * 7 * FS_MIN_PER_DAY;
    CHECK_OK(fs_rules_eval(r, cal, now, last, last + 7 * FS_MIN_PER_DAY, reps, nreps, collect,
                           &one_eval));
    CHECK_EQ_INT(each.n, one_eval.n);
    int unlike = 0;
    for (int i = 0; i < each.n && i < one_eval.n && i < 1024; i++) {
        const fs_finding *a = &each.f[i], *b = &one_eval.f[i];
        unlike += a->rule != b->rule || strcmp(a->who, b->who) != 0 || a->has_row != b->has_row ||
                  memcmp(a->row, b->row, 16) != 0 || a->start != b->start ||
                  a->deadline != b->deadline || a->done != b->done || a->status != b->status ||
                  a->period != b->period;
    }
    CHECK_EQ_INT(unlike, 0);
    /* naming the reps reads only their records: the findings are those of
     * an evaluation of everyone's records that are about them */
    static got everyone;
    everyone.n = 0;
    CHECK_OK(fs_rules_eval(r, cal, now, last, last + 7 * FS_MIN_PER_DAY, NULL, 0, collect,
                           &everyone));
    int theirs = 0, matched = 0;
    static char used[1024];
    memset(used, 0, sizeof used);
    for (int i = 0; i < everyone.n && i < 1024; i++) {
        size_t k = 0;
        while (k < nreps && strcmp(reps[k], everyone.f[i].who) != 0)
            k++;
        if (k == nreps)
            continue;
        theirs++;
        for (int j = 0; j < one_eval.n && j < 1024; j++) {
            const fs_finding *a = &everyone.f[i], *b = &one_eval.f[j];
            if (!used[j] && a->rule == b->rule && strcmp(a->who, b->who) == 0 &&
                a->has_row == b->has_row && memcmp(a->row, b->row, 16) == 0 &&
                a->start == b->start && a->deadline == b->deadline && a->done == b->done &&
                a->status == b->status && a->period == b->period) {
                used[j] = 1;
                matched++;
                break;
            }
        }
    }
    CHECK_EQ_INT(theirs, one_eval.n);
    CHECK_EQ_INT(matched, one_eval.n);
    return found;
}

static const fs_calendar *default_cal(void)
{
    static fs_calendar cal;
    fs_calendar_default(&cal);
    return &cal;
}

/* The status rule_id gives the record row (or, row NULL, the expected
 * record of rep for the day/week/month starting at period) at now; -1 when
 * the rule says nothing about it. The period: the autumn of 2023. */
static int judge_cal(fs_replica *r, const fs_calendar *cal, const char *rule_id, const uint8_t *row,
                     const char *rep, const char *period, const char *now)
{
    static got g;
    const char *reps[] = {rep != NULL ? rep : "zhang"};
    g.n = 0;
    CHECK_OK(fs_rules_eval(r, cal, civ(now), civ("2023-09-01"), civ("2024-01-01"), reps, 1, collect,
                           &g));
    CHECK(g.n <= 1024);
    for (int i = 0; i < g.n; i++) {
        const fs_finding *f = &g.f[i];
        if (strcmp(f->rule->id, rule_id) != 0)
            continue;
        if (row != NULL && f->has_row && memcmp(f->row, row, 16) == 0 &&
            (period == NULL || f->period == fs_civil_day(civ(period))))
            return (int)f->status;
        if (row == NULL && period != NULL && f->period == fs_civil_day(civ(period)) &&
            strcmp(f->who, rep) == 0)
            return (int)f->status;
    }
    return -1;
}

static int judge(fs_replica *r, const char *rule_id, const uint8_t *row, const char *now)
{
    return judge_cal(r, default_cal(), rule_id, row, NULL, NULL, now);
}

#define ON_TIME  FS_ST_ON_TIME
#define DUE_SOON FS_ST_DUE_SOON
#define OVERDUE  FS_ST_OVERDUE
#define MISSED   FS_ST_MISSED

static void test_civil_time(void)
{
    char out[17];
    fs_civil_format(civ("2023-10-10 14:00"), out);
    CHECK_STR(out, "2023-10-10 14:00");
    fs_civil_format(civ("2024-02-29"), out);
    CHECK_STR(out, "2024-02-29 00:00");
    fs_civil_format(civ("1999-12-31 23:59") + 1, out);
    CHECK_STR(out, "2000-01-01 00:00");
    CHECK_EQ_INT(fs_civil_weekday(fs_civil_day(civ("2023-10-10"))), 2); /* a Tuesday */
    CHECK_EQ_INT(fs_civil_weekday(fs_civil_day(civ("1970-01-01"))), 4);
    CHECK_EQ_INT(civ("1970-01-02 00:01"), 1441);
    int64_t c;
    const char *bad[] = {"",          "2023-10-10 24:00", "2023-02-29", "2023-10-10T14:00",
                         "2023-1-10", "2023-10-10 14:0",  "1899-12-31"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(fs_civil_parse(bad[i], strlen(bad[i]), &c), FS_ETYPE);
}

static void test_working_days(void)
{
    fs_calendar cal;
    fs_calendar_default(&cal);
    char out[17];
    /* Friday + 3 working days: across the weekend to Wednesday's close. */
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-13")), 3), out);
    CHECK_STR(out, "2023-10-18 18:00");
    /* With Monday a holiday: Thursday. */
    CHECK_OK(fs_calendar_add_holiday(&cal, "2023-10-16"));
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-13")), 3), out);
    CHECK_STR(out, "2023-10-19 18:00");
    CHECK(!fs_calendar_is_working(&cal, fs_civil_day(civ("2023-10-16"))));
    CHECK(!fs_calendar_is_working(&cal, fs_civil_day(civ("2023-10-14"))));
    CHECK(fs_calendar_is_working(&cal, fs_civil_day(civ("2023-10-17"))));
    /* Three working days before Tuesday 10-17 (Monday a holiday): Wed 10-11. */
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-17")), -3), out);
    CHECK_STR(out, "2023-10-11 18:00");
    /* The same day, on a Saturday: the next working day (Monday is off). */
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-14")), 0), out);
    CHECK_STR(out, "2023-10-17 18:00");
    /* Working hours are the calendar's. */
    cal.work_end = 17 * 60 + 30;
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-10")), 0), out);
    CHECK_STR(out, "2023-10-10 17:30");
    /* A six-day week. */
    fs_calendar_default(&cal);
    cal.weekend = 1u << 0;
    fs_civil_format(fs_calendar_close(&cal, fs_civil_day(civ("2023-10-13")), 1), out);
    CHECK_STR(out, "2023-10-14 18:00");
    CHECK_ERR(fs_calendar_add_holiday(&cal, "2023-13-01"), FS_ETYPE);
    for (int i = 0; i < FS_CAL_MAX_HOLIDAYS; i++)
        CHECK_OK(fs_calendar_add_holiday(&cal, "2030-01-01"));
    CHECK_ERR(fs_calendar_add_holiday(&cal, "2030-01-02"), FS_ETOOBIG);
}

static void test_time_zones(void)
{
    fs_calendar sh, utc, ny;
    fs_calendar_default(&sh);
    fs_calendar_default(&utc);
    fs_calendar_default(&ny);
    CHECK_OK(fs_calendar_set_tz(&sh, "Asia/Shanghai"));
    CHECK_OK(fs_calendar_set_tz(&ny, "America/New_York"));
    CHECK_OK(fs_calendar_set_tz(&utc, "UTC"));
    CHECK_ERR(fs_calendar_set_tz(&ny, "Mars/Olympus_Mons"), FS_EINVAL);
    CHECK_ERR(fs_calendar_set_tz(&ny, "../../etc/passwd"), FS_EINVAL);
    CHECK_STR(ny.tz, "America/New_York"); /* unchanged by a refusal */
    /* 2023-10-10 01:30 UTC is 09:30 in Shanghai and 21:30 the day before
     * in New York (EDT, UTC-4). */
    int64_t epoch_ms = INT64_C(1696901400) * 1000, now;
    char out[17];
    CHECK_OK(fs_calendar_now(&sh, epoch_ms, &now));
    fs_civil_format(now, out);
    CHECK_STR(out, "2023-10-10 09:30");
    CHECK_OK(fs_calendar_now(&utc, epoch_ms, &now));
    fs_civil_format(now, out);
    CHECK_STR(out, "2023-10-10 01:30");
    CHECK_OK(fs_calendar_now(&ny, epoch_ms, &now));
    fs_civil_format(now, out);
    CHECK_STR(out, "2023-10-09 21:30");

    /* The same instant, the same replica: zhang's daily plan for 10-10 (not
     * submitted) is overdue in Shanghai, still hours away in UTC. */
    char *dir;
    fs_replica *r = fresh(&dir);
    char sh_now[17], utc_now[17];
    CHECK_OK(fs_calendar_now(&sh, epoch_ms, &now));
    fs_civil_format(now, sh_now);
    CHECK_OK(fs_calendar_now(&utc, epoch_ms, &now));
    fs_civil_format(now, utc_now);
    CHECK_EQ_INT(judge_cal(r, &sh, "daily_plan", NULL, "zhang", "2023-10-10", sh_now), OVERDUE);
    CHECK_EQ_INT(judge_cal(r, &utc, "daily_plan", NULL, "zhang", "2023-10-10", utc_now), ON_TIME);
    done_with(r, dir);
}

/* A record rule at its boundaries: done exactly at the deadline is on
 * time, a minute later missed; not done, due soon up to the deadline
 * itself, overdue a minute after. */
static void test_record_rules_at_their_boundaries(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    uint8_t c[16], v1[16], v2[16], v3[16], v4[16];
    customer(r, "zhang", 0, c);

    /* contact recorded within 24 h */
    visit(r, c, "2023-10-10 14:00", "2023-10-11 14:00", v1);
    visit(r, c, "2023-10-10 14:00", "2023-10-11 14:01", v2);
    visit(r, c, "2023-10-10 14:00", NULL, v3);
    CHECK_EQ_INT(judge(r, "contact_recorded", v1, "2023-10-20 00:00"), ON_TIME);
    CHECK_EQ_INT(judge(r, "contact_recorded", v2, "2023-10-20 00:00"), MISSED);
    CHECK_EQ_INT(judge(r, "contact_recorded", v3, "2023-10-11 09:59"), ON_TIME);
    CHECK_EQ_INT(judge(r, "contact_recorded", v3, "2023-10-11 10:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "contact_recorded", v3, "2023-10-11 14:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "contact_recorded", v3, "2023-10-11 14:01"), OVERDUE);

    /* visit record the same working day; one on a Saturday is due Monday */
    CHECK_EQ_INT(judge(r, "visit_same_day", v3, "2023-10-10 18:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "visit_same_day", v3, "2023-10-10 18:01"), OVERDUE);
    CHECK_EQ_INT(judge(r, "visit_same_day", v1, "2023-10-20 00:00"), MISSED);
    visit(r, c, "2023-10-14 10:00", "2023-10-16 18:00", v4);
    CHECK_EQ_INT(judge(r, "visit_same_day", v4, "2023-10-20 00:00"), ON_TIME);

    /* customer question answered within 24 h */
    uint8_t q[16];
    fs_cell qc[] = {{"customer", fs_blob(c, 16)},
                    {"question", fs_text("q")},
                    {"asked_at", fs_text("2023-10-10 14:00")}};
    CHECK_OK(fs_insert(r, "customer_question", qc, 3, q));
    CHECK_EQ_INT(judge(r, "question_answered", q, "2023-10-11 14:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "question_answered", q, "2023-10-11 14:01"), OVERDUE);
    fs_cell qa[] = {{"answered_at", fs_text("2023-10-11 14:00")}};
    CHECK_OK(fs_update(r, "customer_question", q, qa, 1));
    CHECK_EQ_INT(judge(r, "question_answered", q, "2023-10-30 00:00"), ON_TIME);
    fs_cell qb[] = {{"answered_at", fs_text("2023-10-11 14:01")}};
    CHECK_OK(fs_update(r, "customer_question", q, qb, 1));
    CHECK_EQ_INT(judge(r, "question_answered", q, "2023-10-30 00:00"), MISSED);
    done_with(r, dir);
}

static void test_working_day_rules(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    uint8_t c[16], k1[16], k2[16], rq[16], ac[16], mk[16];
    customer(r, "zhang", 0, c);
    fs_calendar hol;
    fs_calendar_default(&hol);
    CHECK_OK(fs_calendar_add_holiday(&hol, "2023-10-16"));

    /* complaint received Friday 16:00: 3 working days end Wednesday 18:00,
     * Thursday 18:00 with Monday a holiday */
    fs_cell k[] = {{"customer", fs_blob(c, 16)},
                   {"owner", fs_text("zhang")},
                   {"received_at", fs_text("2023-10-13 16:00")},
                   {"description", fs_text("d")},
                   {"outcome_at", fs_text("2023-10-18 18:00")}};
    CHECK_OK(fs_insert(r, "complaint", k, 5, k1));
    k[4].value = fs_text("2023-10-18 18:01");
    CHECK_OK(fs_insert(r, "complaint", k, 5, k2));
    CHECK_EQ_INT(judge(r, "complaint_outcome", k1, "2023-11-01 00:00"), ON_TIME);
    CHECK_EQ_INT(judge(r, "complaint_outcome", k2, "2023-11-01 00:00"), MISSED);
    CHECK_EQ_INT(judge_cal(r, &hol, "complaint_outcome", k2, NULL, NULL, "2023-11-01 00:00"),
                 ON_TIME);

    /* requirement request: 1 working day after a Friday confirmation */
    fs_cell q[] = {{"customer", fs_blob(c, 16)},
                   {"description", fs_text("d")},
                   {"confirmed_at", fs_text("2023-10-13 10:00")}};
    CHECK_OK(fs_insert(r, "requirement_request", q, 3, rq));
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-10-16 18:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-10-16 18:01"), OVERDUE);
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-10-14 10:00"), ON_TIME);
    CHECK_EQ_INT(judge_cal(r, &hol, "requirement_request", rq, NULL, NULL, "2023-10-17 14:00"),
                 DUE_SOON);
    CHECK_EQ_INT(judge_cal(r, &hol, "requirement_request", rq, NULL, NULL, "2023-10-17 18:01"),
                 OVERDUE);
    /* submitted on time, but done only with the customer's signed
     * requirement document attached (issue 19.3): another kind is not it */
    fs_cell sub[] = {{"submitted_at", fs_text("2023-10-13 12:00")}};
    CHECK_OK(fs_update(r, "requirement_request", rq, sub, 1));
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-11-01 00:00"), OVERDUE);
    uint8_t at[16];
    uint8_t hash[32] = {1};
    fs_cell att[] = {{"customer", fs_blob(c, 16)},
                     {"record_table", fs_text("requirement_request")},
                     {"record_id", fs_blob(rq, 16)},
                     {"name", fs_text("card.jpg")},
                     {"kind", fs_text("card")},
                     {"size", fs_int(10)},
                     {"hash", fs_blob(hash, 32)}};
    CHECK_OK(fs_insert(r, "attachment", att, 7, at));
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-11-01 00:00"), OVERDUE);
    att[4].value = fs_text("signed-requirement");
    att[3].value = fs_text("req.pdf");
    CHECK_OK(fs_insert(r, "attachment", att, 7, at));
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-11-01 00:00"), ON_TIME);
    CHECK_OK(fs_delete(r, "attachment", at)); /* deleted: not attached any more */
    CHECK_EQ_INT(judge(r, "requirement_request", rq, "2023-11-01 00:00"), OVERDUE);

    /* acceptance documents: 5 working days after a Monday delivery */
    fs_cell a[] = {{"customer", fs_blob(c, 16)},
                   {"delivered_at", fs_text("2023-10-09")},
                   {"collected_at", fs_text("2023-10-16")}};
    CHECK_OK(fs_insert(r, "acceptance", a, 3, ac));
    /* collected, but done only with the signed acceptance attached */
    CHECK_EQ_INT(judge(r, "acceptance_documents", ac, "2023-11-01 00:00"), OVERDUE);
    att[1].value = fs_text("acceptance");
    att[2].value = fs_blob(ac, 16);
    att[4].value = fs_text("signed-acceptance");
    CHECK_OK(fs_insert(r, "attachment", att, 7, at));
    CHECK_EQ_INT(judge(r, "acceptance_documents", ac, "2023-11-01 00:00"), ON_TIME);
    fs_cell a2[] = {{"collected_at", fs_text("2023-10-17")}};
    CHECK_OK(fs_update(r, "acceptance", ac, a2, 1));
    CHECK_EQ_INT(judge(r, "acceptance_documents", ac, "2023-11-01 00:00"), MISSED);

    /* marketing request: 3 working days before a Monday event is the
     * Wednesday before, at its close */
    fs_cell m[] = {{"rep", fs_text("zhang")},
                   {"event_date", fs_text("2023-10-16")},
                   {"goal", fs_text("g")},
                   {"submitted_at", fs_text("2023-10-11 18:00")}};
    CHECK_OK(fs_insert(r, "marketing_request", m, 4, mk));
    CHECK_EQ_INT(judge(r, "marketing_request", mk, "2023-11-01 00:00"), ON_TIME);
    fs_cell m2[] = {{"submitted_at", fs_text("2023-10-11 18:01")}};
    CHECK_OK(fs_update(r, "marketing_request", mk, m2, 1));
    CHECK_EQ_INT(judge(r, "marketing_request", mk, "2023-11-01 00:00"), MISSED);
    done_with(r, dir);
}

static void test_commitments_and_follow_ups(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    uint8_t c[16], k1[16], k2[16], k3[16], v[16];
    customer(r, "zhang", 0, c);
    fs_cell k[] = {{"customer", fs_blob(c, 16)},
                   {"text", fs_text("send 3 cases")},
                   {"due", fs_text("2023-10-12")},
                   {"status", fs_text("open")}};
    CHECK_OK(fs_insert(r, "commitment", k, 4, k1));
    /* by its due date: the whole day */
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-11 23:59"), ON_TIME);
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-12 00:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-13 00:00"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-13 00:01"), OVERDUE);
    /* done_at counts only once the status says done */
    fs_cell d1[] = {{"done_at", fs_text("2023-10-12 23:59")}};
    CHECK_OK(fs_update(r, "commitment", k1, d1, 1));
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-13 00:01"), OVERDUE);
    fs_cell d2[] = {{"status", fs_text("done")}};
    CHECK_OK(fs_update(r, "commitment", k1, d2, 1));
    CHECK_EQ_INT(judge(r, "commitment_due", k1, "2023-10-13 00:01"), ON_TIME);
    /* cancelled: not judged */
    k[3].value = fs_text("cancelled");
    CHECK_OK(fs_insert(r, "commitment", k, 4, k2));
    CHECK_EQ_INT(judge(r, "commitment_due", k2, "2023-11-01 00:00"), -1);

    /* follow-up: done 10-12 23:59 without a reply: a visit within 3 days */
    CHECK_EQ_INT(judge(r, "commitment_followup", k1, "2023-10-15 23:59"), DUE_SOON);
    CHECK_EQ_INT(judge(r, "commitment_followup", k1, "2023-10-16 00:00"), OVERDUE);
    visit(r, c, "2023-10-15 23:59", "2023-10-15 23:59", v);
    CHECK_EQ_INT(judge(r, "commitment_followup", k1, "2023-10-20 00:00"), ON_TIME);
    fs_cell late[] = {{"time", fs_text("2023-10-16 00:00")}};
    CHECK_OK(fs_update(r, "visit", v, late, 1));
    CHECK_EQ_INT(judge(r, "commitment_followup", k1, "2023-10-20 00:00"), MISSED);
    /* the customer replied: nothing to follow up */
    k[3].value = fs_text("done");
    fs_cell k3c[] = {{"customer", fs_blob(c, 16)},
                     {"text", fs_text("t")},
                     {"due", fs_text("2023-10-12")},
                     {"status", fs_text("done")},
                     {"done_at", fs_text("2023-10-12 10:00")},
                     {"customer_replied", fs_int(1)}};
    CHECK_OK(fs_insert(r, "commitment", k3c, 6, k3));
    CHECK_EQ_INT(judge(r, "commitment_followup", k3, "2023-11-01 00:00"), -1);
    /* the weeks at once (the dashboard's trends) judge them as week by week */
    const char *zhang[] = {"zhang"};
    CHECK(weeks_agree(r, default_cal(), civ("2023-11-01 00:00"), civ("2023-09-18"), 8, zhang, 1) >
          0);
    CHECK(weeks_agree(r, default_cal(), civ("2023-10-14 00:00"), civ("2023-10-02"), 2, zhang, 1) >
          0);
    done_with(r, dir);
}

static void test_daily_weekly_monthly(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    const char *cal_now = "2023-10-20 23:00";
    /* daily plan before 09:00: on the dot is on time, a minute later missed */
    fs_cell p[] = {{"rep", fs_text("zhang")},
                   {"date", fs_text("2023-10-10")},
                   {"kind", fs_text("plan")},
                   {"submitted_at", fs_text("2023-10-10 09:00")}};
    uint8_t id[16];
    CHECK_OK(fs_insert(r, "daily_report", p, 4, id));
    p[1].value = fs_text("2023-10-11");
    p[3].value = fs_text("2023-10-11 09:01");
    CHECK_OK(fs_insert(r, "daily_report", p, 4, id));
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-10", cal_now),
                 ON_TIME);
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-11", cal_now),
                 MISSED);
    /* none for Thursday: overdue after 09:00, due soon from 08:00 */
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-12", cal_now),
                 OVERDUE);
    CHECK_EQ_INT(
        judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-12", "2023-10-12 08:00"),
        DUE_SOON);
    CHECK_EQ_INT(
        judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-12", "2023-10-12 07:59"),
        ON_TIME);
    /* not expected on a weekend, nor on a holiday, nor before the day */
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-14", cal_now),
                 -1);
    fs_calendar hol;
    fs_calendar_default(&hol);
    CHECK_OK(fs_calendar_add_holiday(&hol, "2023-10-12"));
    CHECK_EQ_INT(judge_cal(r, &hol, "daily_plan", NULL, "zhang", "2023-10-12", cal_now), -1);
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_plan", NULL, "zhang", "2023-10-23", cal_now),
                 -1);
    /* the summary and the self-check: by the close of the working day */
    fs_cell s[] = {{"rep", fs_text("zhang")},
                   {"date", fs_text("2023-10-10")},
                   {"kind", fs_text("summary")},
                   {"submitted_at", fs_text("2023-10-10 18:00")}};
    CHECK_OK(fs_insert(r, "daily_report", s, 4, id));
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_summary", NULL, "zhang", "2023-10-10", cal_now),
                 ON_TIME);
    s[1].value = fs_text("2023-10-11");
    s[3].value = fs_text("2023-10-11 18:01");
    CHECK_OK(fs_insert(r, "daily_report", s, 4, id));
    CHECK_EQ_INT(judge_cal(r, default_cal(), "daily_summary", NULL, "zhang", "2023-10-11", cal_now),
                 MISSED);
    fs_cell sc[] = {{"rep", fs_text("zhang")},
                    {"date", fs_text("2023-10-10")},
                    {"submitted_at", fs_text("2023-10-10 18:01")}};
    CHECK_OK(fs_insert(r, "self_check", sc, 3, id));
    CHECK_EQ_INT(judge_cal(r, default_cal(), "self_check", NULL, "zhang", "2023-10-10", cal_now),
                 MISSED);

    /* weekly spot-check of the rep's records, by the week's last working day */
    CHECK_EQ_INT(judge_cal(r, default_cal(), "spot_check_weekly", NULL, "zhang", "2023-10-09",
                           "2023-10-13 18:00"),
                 DUE_SOON);
    CHECK_EQ_INT(judge_cal(r, default_cal(), "spot_check_weekly", NULL, "zhang", "2023-10-09",
                           "2023-10-13 18:01"),
                 OVERDUE);
    fs_cell k[] = {{"supervisor", fs_text("li")},
                   {"rep", fs_text("zhang")},
                   {"record_table", fs_text("visit")},
                   {"accurate", fs_int(1)},
                   {"checked_at", fs_text("2023-10-11 10:00")}};
    CHECK_OK(fs_insert(r, "spot_check", k, 5, id));
    CHECK_EQ_INT(
        judge_cal(r, default_cal(), "spot_check_weekly", NULL, "zhang", "2023-10-09", cal_now),
        ON_TIME);

    /* weekly plan approved by the close of its first working day */
    uint8_t wp[16];
    fs_cell w[] = {{"rep", fs_text("zhang")},
                   {"period_start", fs_text("2023-10-09")},
                   {"period_end", fs_text("2023-10-15")},
                   {"goals", fs_text("g")},
                   {"status", fs_text("returned")},
                   {"approved_at", fs_text("2023-10-09")}};
    CHECK_OK(fs_insert(r, "weekly_plan", w, 6, wp));
    CHECK_EQ_INT(judge(r, "weekly_plan_approved", wp, "2023-10-09 18:01"), OVERDUE);
    fs_cell ok[] = {{"status", fs_text("approved")}};
    CHECK_OK(fs_update(r, "weekly_plan", wp, ok, 1));
    CHECK_EQ_INT(judge(r, "weekly_plan_approved", wp, "2023-10-09 18:01"), ON_TIME);
    /* approved the next day: late (the approval carries a date) */
    fs_cell next[] = {{"approved_at", fs_text("2023-10-10")}};
    CHECK_OK(fs_update(r, "weekly_plan", wp, next, 1));
    CHECK_EQ_INT(judge(r, "weekly_plan_approved", wp, "2023-10-20 00:00"), MISSED);

    /* a key account: a visit in the month */
    uint8_t c[16], v[16];
    customer(r, "zhang", 1, c);
#define KA(now) judge_cal(r, default_cal(), "key_account_monthly", c, NULL, "2023-10-01", now)
    CHECK_EQ_INT(KA("2023-10-24 23:59"), ON_TIME);
    CHECK_EQ_INT(KA("2023-10-25 00:00"), DUE_SOON);
    CHECK_EQ_INT(KA("2023-11-01 00:00"), DUE_SOON);
    CHECK_EQ_INT(KA("2023-11-01 00:01"), OVERDUE);
    visit(r, c, "2023-10-31 23:59", "2023-10-31 23:59", v);
    CHECK_EQ_INT(KA("2023-11-01 00:01"), ON_TIME);
    /* ... and November's is a new month to contact it in */
    CHECK_EQ_INT(judge_cal(r, default_cal(), "key_account_monthly", c, NULL, "2023-11-01",
                           "2023-12-01 00:01"),
                 OVERDUE);
#undef KA
    done_with(r, dir);
}

/* A fixture week counted by hand: 2023-10-09 (Mon) .. 10-15, now Friday
 * 10-13 20:00, reps zhang and wang. */
static void test_compliance_week_by_hand(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    uint8_t cz[16], cw[16], id[16];
    customer(r, "zhang", 1, cz);
    customer(r, "wang", 0, cw);
    /* zhang: 3 visits, recorded after 2 h, 23 h and 30 h */
    visit(r, cz, "2023-10-09 10:00", "2023-10-09 12:00", id);
    visit(r, cz, "2023-10-10 10:00", "2023-10-11 09:00", id);
    visit(r, cz, "2023-10-11 10:00", "2023-10-12 16:00", id);
    /* wang: 1 visit recorded at once, and one on Sunday evening recorded an
     * hour later: its deadline is next week, but it was done in this one */
    visit(r, cw, "2023-10-12 15:00", "2023-10-12 15:00", id);
    visit(r, cw, "2023-10-15 20:00", "2023-10-15 21:00", id);
    /* zhang's daily plans: Mon 08:50, Tue 09:30, Wed-Fri none; wang every
     * day at 08:00 */
    const char *days[] = {"2023-10-09", "2023-10-10", "2023-10-11", "2023-10-12", "2023-10-13"};
    for (int i = 0; i < 5; i++) {
        char at[17];
        snprintf(at, sizeof at, "%s 08:00", days[i]);
        fs_cell p[] = {{"rep", fs_text("wang")},
                       {"date", fs_text(days[i])},
                       {"kind", fs_text("plan")},
                       {"submitted_at", fs_text(at)}};
        CHECK_OK(fs_insert(r, "daily_report", p, 4, id));
    }
    fs_cell p1[] = {{"rep", fs_text("zhang")},
                    {"date", fs_text("2023-10-09")},
                    {"kind", fs_text("plan")},
                    {"submitted_at", fs_text("2023-10-09 08:50")}};
    CHECK_OK(fs_insert(r, "daily_report", p1, 4, id));
    p1[1].value = fs_text("2023-10-10");
    p1[3].value = fs_text("2023-10-10 09:30");
    CHECK_OK(fs_insert(r, "daily_report", p1, 4, id));
    /* spot-checks of zhang: 49 accurate, 1 not (98 %); of wang: 1 of 2 */
    for (int i = 0; i < 50; i++) {
        fs_cell k[] = {{"supervisor", fs_text("li")},
                       {"rep", fs_text("zhang")},
                       {"record_table", fs_text("visit")},
                       {"accurate", fs_int(i != 7)},
                       {"checked_at", fs_text("2023-10-12 10:00")}};
        CHECK_OK(fs_insert(r, "spot_check", k, 5, id));
    }
    for (int i = 0; i < 2; i++) {
        fs_cell k[] = {{"supervisor", fs_text("li")},
                       {"rep", fs_text("wang")},
                       {"record_table", fs_text("visit")},
                       {"accurate", fs_int(i == 0)},
                       {"checked_at", fs_text("2023-10-12 11:00")}};
        CHECK_OK(fs_insert(r, "spot_check", k, 5, id));
    }

    fs_compliance c;
    const char *reps[] = {"wang", "zhang"};
    CHECK_OK(fs_compliance_get(r, default_cal(), civ("2023-10-13 20:00"), civ("2023-10-09"),
                               civ("2023-10-16"), reps, 2, &c));
    CHECK_EQ_INT(c.nreps, 2);
    CHECK_STR(c.reps[0].rep, "wang");
    CHECK_STR(c.reps[1].rep, "zhang");
    const fs_rep_metrics *w = &c.reps[0], *z = &c.reps[1];
    const fs_rule_tally *t;
    /* contacts recorded within 24 h: zhang 2 of 3, wang 1 of 1 */
    t = fs_compliance_rule(&c, z, "contact_recorded");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 2);
    CHECK_EQ_INT(t->n[FS_ST_MISSED], 1);
    t = fs_compliance_rule(&c, w, "contact_recorded");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 2);
    /* the same working day: only zhang's Monday visit */
    t = fs_compliance_rule(&c, z, "visit_same_day");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 1);
    CHECK_EQ_INT(t->n[FS_ST_MISSED], 2);
    /* daily plans, Mon-Fri: zhang 1 on time, 1 late, 3 overdue; wang 5 */
    t = fs_compliance_rule(&c, z, "daily_plan");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 1);
    CHECK_EQ_INT(t->n[FS_ST_MISSED], 1);
    CHECK_EQ_INT(t->n[FS_ST_OVERDUE], 3);
    t = fs_compliance_rule(&c, w, "daily_plan");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 5);
    /* no summary from anyone: 5 each, all overdue (Friday's closed at 18:00) */
    t = fs_compliance_rule(&c, w, "daily_summary");
    CHECK_EQ_INT(t->n[FS_ST_OVERDUE], 5);
    /* accuracy: zhang 49/50 = 98 %, at the threshold; wang 1/2 */
    CHECK_EQ_INT(z->checks, 50);
    CHECK_EQ_INT(z->accurate, 49);
    CHECK(z->accurate * 1000 >= z->checks * 980);
    CHECK_EQ_INT(w->checks, 2);
    CHECK(!(w->accurate * 1000 >= w->checks * 980));
    /* spot-checked this week: both */
    t = fs_compliance_rule(&c, z, "spot_check_weekly");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 1);
    /* zhang's key account was visited this month */
    t = fs_compliance_rule(&c, z, "key_account_monthly");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 1);
    CHECK(fs_compliance_rule(&c, z, "no_such_rule") == NULL);
    fs_compliance_free(&c);
    /* Naming the reps leaves everyone else out (a manager's report on the
     * server's replica, which holds every team). */
    const char *only_wang[] = {"wang"};
    CHECK_OK(fs_compliance_get(r, default_cal(), civ("2023-10-13 20:00"), civ("2023-10-09"),
                               civ("2023-10-16"), only_wang, 1, &c));
    CHECK_EQ_INT(c.nreps, 1);
    CHECK_STR(c.reps[0].rep, "wang");
    fs_compliance_free(&c);
    /* Several weeks over one load (the dashboard's 8-week trend): the
     * same figures as a call per week, the week with the data and the
     * ones around it (deadlines carried over, none at all). */
    fs_compliance weeks[3], one;
    CHECK_OK(fs_compliance_weeks(r, default_cal(), civ("2023-10-13 20:00"), civ("2023-10-02"), 3,
                                 reps, 2, weeks));
    int differ = 0;
    for (int k = 0; k < 3; k++) {
        int64_t start = civ("2023-10-02") + (int64_t)k * 7 * FS_MIN_PER_DAY;
        CHECK_OK(fs_compliance_get(r, default_cal(), civ("2023-10-13 20:00"), start,
                                   start + 7 * FS_MIN_PER_DAY, reps, 2, &one));
        CHECK_EQ_INT(weeks[k].nreps, one.nreps);
        CHECK_EQ_INT(weeks[k].nrules, one.nrules);
        for (size_t i = 0; i < one.nreps && i < weeks[k].nreps; i++) {
            differ += strcmp(weeks[k].reps[i].rep, one.reps[i].rep) != 0;
            differ += weeks[k].reps[i].checks != one.reps[i].checks ||
                      weeks[k].reps[i].accurate != one.reps[i].accurate;
            for (size_t q = 0; q < one.nrules; q++)
                differ += memcmp(&weeks[k].reps[i].by_rule[q], &one.reps[i].by_rule[q],
                                 sizeof one.reps[i].by_rule[q]) != 0;
        }
        fs_compliance_free(&one);
    }
    CHECK_EQ_INT(differ, 0);
    t = fs_compliance_rule(&weeks[1], &weeks[1].reps[1], "daily_plan");
    CHECK_EQ_INT(t->n[FS_ST_ON_TIME], 1); /* the week by hand, as above */
    for (int k = 0; k < 3; k++)
        fs_compliance_free(&weeks[k]);
    /* ... and with the last week's findings passed on (a rep's page), for
     * one rep and both, ending with the week of the data or after it */
    CHECK(weeks_agree(r, default_cal(), civ("2023-10-13 20:00"), civ("2023-09-25"), 3, reps, 2) > 0);
    CHECK(weeks_agree(r, default_cal(), civ("2023-10-13 20:00"), civ("2023-10-02"), 3, reps, 2) > 0);
    CHECK(weeks_agree(r, default_cal(), civ("2023-10-20 20:00"), civ("2023-09-04"), 8, reps + 1, 1) >
          0);
    done_with(r, dir);
}

/* A calendar in UTC: a hand-over's `at` (ms) is then civil minutes * 60000. */
static const fs_calendar *utc_cal(void)
{
    static fs_calendar cal;
    fs_calendar_default(&cal);
    CHECK_OK(fs_calendar_set_tz(&cal, "UTC"));
    return &cal;
}

/* Writes what the store writes when it accepts a hand-over of customer
 * from `from` to `to` at civil time `at` (server/store/holder.c): the
 * previous owner's deadlines frozen as charges, the hand-over, the new
 * owner. Into each of the replicas given (the old owner's device gets the
 * charges only). */
static void hand_over(fs_replica *r, fs_replica *old_device, const uint8_t customer[16],
                      const char *from, const char *to, const char *at)
{
    static got g;
    g.n = 0;
    CHECK_OK(fs_rules_eval_customer(r, utc_cal(), customer, civ(at), collect, &g));
    for (int i = 0; i < g.n && i < 1024; i++) {
        fs_charge_text buf;
        fs_cell c[FS_CHARGE_CELLS];
        size_t n = fs_charge_cells(&g.f[i], from, civ(at) * 60000, &buf, c);
        uint8_t id[16];
        CHECK_OK(fs_insert(r, "charge", c, n, id));
        if (old_device != NULL)
            CHECK_OK(fs_insert(old_device, "charge", c, n, id));
    }
    fs_cell h[] = {{"customer", fs_blob(customer, 16)},
                   {"from_rep", fs_text(from)},
                   {"to_rep", fs_text(to)},
                   {"at", fs_int(civ(at) * 60000)}}; /* ms; civil is UTC here */
    uint8_t id[16];
    CHECK_OK(fs_insert(r, "handover", h, 4, id));
    fs_cell o[] = {{"owner", fs_text(to)}};
    CHECK_OK(fs_update(r, "customer", customer, o, 1));
}

/* The status of rule_id's finding about row for rep in the week starting
 * monday, judged at now: -1 when there is none. */
static int week_status(fs_replica *r, const char *rep, const char *rule_id, const uint8_t *row,
                       const char *monday, const char *now)
{
    static got g;
    const char *reps[] = {rep};
    g.n = 0;
    CHECK_OK(fs_rules_eval(r, utc_cal(), civ(now), civ(monday),
                           civ(monday) + 7 * FS_MIN_PER_DAY, reps, 1, collect, &g));
    for (int i = 0; i < g.n && i < 1024; i++)
        if (strcmp(g.f[i].rule->id, rule_id) == 0 && strcmp(g.f[i].who, rep) == 0 &&
            g.f[i].has_row && memcmp(g.f[i].row, row, 16) == 0)
            return (int)g.f[i].status;
    return -1;
}

static int same_finding(const fs_finding *a, const fs_finding *b)
{
    return a->rule == b->rule && strcmp(a->who, b->who) == 0 && a->has_row == b->has_row &&
           memcmp(a->row, b->row, 16) == 0 && a->deadline == b->deadline &&
           a->done == b->done && a->status == b->status && a->period == b->period;
}

/* A deadline is the rep's who held the customer when it fell: a hand-over
 * moves the later ones and freezes the earlier ones as charges, which the
 * old owner's device counts the same way without the records. */
static void test_handover_keeps_past_deadlines(void)
{
    char *dir, *dir2;
    fs_replica *r = fresh(&dir), *old = fresh(&dir2);
    uint8_t a[16], v1[16], v2[16], k1[16], k2[16];
    customer(r, "zhang", 1, a);
    visit(r, a, "2023-10-09 10:00", "2023-10-11 09:00", v1); /* recorded late */
    fs_cell k[] = {{"customer", fs_blob(a, 16)},
                   {"text", fs_text("send cases")},
                   {"due", fs_text("2023-10-10")},
                   {"status", fs_text("open")}};
    CHECK_OK(fs_insert(r, "commitment", k, 4, k1)); /* missed by zhang */
    k[2].value = fs_text("2023-10-18");
    CHECK_OK(fs_insert(r, "commitment", k, 4, k2)); /* falls after the hand-over */
    /* before: zhang's */
    CHECK_EQ_INT(week_status(r, "zhang", "commitment_due", k1, "2023-10-09", "2023-10-12 11:00"),
                 OVERDUE);

    /* what the hand-over freezes: deadlines before it, all zhang's */
    static got g;
    g.n = 0;
    CHECK_OK(fs_rules_eval_customer(r, utc_cal(), a, civ("2023-10-12 12:00"), collect, &g));
    int k1_seen = 0, k2_seen = 0, months = 0, contact = 0;
    for (int i = 0; i < g.n; i++) {
        CHECK_STR(g.f[i].who, "zhang");
        CHECK(g.f[i].deadline < civ("2023-10-12 12:00"));
        k1_seen += g.f[i].has_row && memcmp(g.f[i].row, k1, 16) == 0;
        k2_seen += g.f[i].has_row && memcmp(g.f[i].row, k2, 16) == 0;
        months += strcmp(g.f[i].rule->id, "key_account_monthly") == 0;
        contact += strcmp(g.f[i].rule->id, "contact_recorded") == 0 &&
                   g.f[i].status == MISSED;
    }
    CHECK_EQ_INT(k1_seen, 1);
    CHECK_EQ_INT(k2_seen, 0);
    CHECK_EQ_INT(contact, 1);
    CHECK(months >= 11 && months <= 13); /* the year before, month by month */

    hand_over(r, old, a, "zhang", "wang", "2023-10-12 12:00");
    /* to be done: the open commitment is wang's now; the old device has
     * nothing left to do about its charges */
    g.n = 0;
    CHECK_OK(fs_rules_eval_todo(r, utc_cal(), civ("2023-10-12 13:00"), civ("2023-10-12"),
                                civ("2023-10-20"), collect, &g));
    k1_seen = 0;
    for (int i = 0; i < g.n; i++)
        if (g.f[i].has_row && memcmp(g.f[i].row, k1, 16) == 0) {
            k1_seen++;
            CHECK_STR(g.f[i].who, "wang");
        }
    CHECK_EQ_INT(k1_seen, 1);
    g.n = 0;
    CHECK_OK(fs_rules_eval_todo(old, utc_cal(), civ("2023-10-12 13:00"), civ("2023-10-12"),
                                civ("2023-10-20"), collect, &g));
    for (int i = 0; i < g.n; i++) /* zhang's own daily duties only */
        CHECK(g.f[i].rule->kind == FS_RULE_DAILY || g.f[i].rule->kind == FS_RULE_WEEKLY);
    /* wang keeps K1 after the hand-over: still zhang's miss, never wang's */
    fs_cell d[] = {{"status", fs_text("done")}, {"done_at", fs_text("2023-10-12 15:00")}};
    CHECK_OK(fs_update(r, "commitment", k1, d, 2));
    CHECK_EQ_INT(week_status(r, "zhang", "commitment_due", k1, "2023-10-09", "2023-10-13 20:00"),
                 OVERDUE);
    CHECK_EQ_INT(week_status(r, "wang", "commitment_due", k1, "2023-10-09", "2023-10-13 20:00"),
                 -1);
    CHECK_EQ_INT(week_status(r, "zhang", "contact_recorded", v1, "2023-10-09", "2023-10-13 20:00"),
                 MISSED);
    CHECK_EQ_INT(week_status(r, "wang", "contact_recorded", v1, "2023-10-09", "2023-10-13 20:00"),
                 -1);
    /* the later deadline moved with the customer */
    CHECK_EQ_INT(week_status(r, "wang", "commitment_due", k2, "2023-10-16", "2023-10-17 10:00"),
                 ON_TIME);
    CHECK_EQ_INT(week_status(r, "zhang", "commitment_due", k2, "2023-10-16", "2023-10-17 10:00"),
                 -1);
    /* wang's own visit after the hand-over is his */
    visit(r, a, "2023-10-13 10:00", "2023-10-13 11:00", v2);
    CHECK_EQ_INT(week_status(r, "wang", "contact_recorded", v2, "2023-10-09", "2023-10-13 20:00"),
                 ON_TIME);

    /* zhang's device holds the charges only: the same findings for zhang */
    static got on_server, on_device;
    const char *zhang[] = {"zhang"};
    on_server.n = on_device.n = 0;
    CHECK_OK(fs_rules_eval(r, utc_cal(), civ("2023-10-13 20:00"), civ("2023-10-09"),
                           civ("2023-10-16"), zhang, 1, collect, &on_server));
    CHECK_OK(fs_rules_eval(old, utc_cal(), civ("2023-10-13 20:00"), civ("2023-10-09"),
                           civ("2023-10-16"), zhang, 1, collect, &on_device));
    CHECK_EQ_INT(on_device.n, on_server.n);
    for (int i = 0; i < on_server.n && i < 1024; i++) {
        int found = 0;
        for (int j = 0; j < on_device.n && !found; j++)
            found = same_finding(&on_server.f[i], &on_device.f[j]);
        CHECK(found);
    }

    /* a second hand-over freezes only what fell since the first */
    g.n = 0;
    CHECK_OK(fs_rules_eval_customer(r, utc_cal(), a, civ("2023-10-20 12:00"), collect, &g));
    for (int i = 0; i < g.n; i++)
        CHECK(g.f[i].deadline >= civ("2023-10-12 12:00") ||
              strcmp(g.f[i].rule->id, "key_account_monthly") == 0);
    k2_seen = 0;
    for (int i = 0; i < g.n; i++)
        k2_seen += g.f[i].has_row && memcmp(g.f[i].row, k2, 16) == 0;
    CHECK_EQ_INT(k2_seen, 1);
    /* the weeks at once, with hand-overs and charges, as week by week */
    const char *both[] = {"wang", "zhang"};
    CHECK(weeks_agree(r, utc_cal(), civ("2023-10-20 12:00"), civ("2023-09-04"), 8, both, 2) > 0);
    CHECK(weeks_agree(old, utc_cal(), civ("2023-10-20 12:00"), civ("2023-09-04"), 8, zhang, 1) >
          0);
    done_with(old, dir2);
    done_with(r, dir);
}

/* A record whose placing change the server refused is not on the server:
 * the device leaves it out; a refused edit of another column does not. */
static void test_refused_records_left_out(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    uint8_t b[16], v1[16], v2[16], sc[16];
    customer(r, "zhang", 0, b);
    visit(r, b, "2023-10-09 10:00", "2023-10-09 12:00", v1);
    visit(r, b, "2023-10-10 10:00", "2023-10-10 12:00", v2);
    fs_cell k[] = {{"supervisor", fs_text("zhang")},
                   {"rep", fs_text("zhang")},
                   {"record_table", fs_text("visit")},
                   {"accurate", fs_int(1)},
                   {"checked_at", fs_text("2023-10-12 10:00")}};
    CHECK_OK(fs_insert(r, "spot_check", k, 5, sc));
    CHECK_EQ_INT(judge(r, "contact_recorded", v1, "2023-10-13 20:00"), ON_TIME);
    CHECK_EQ_INT(judge(r, "crm_accuracy", sc, "2023-10-13 20:00"), ON_TIME);
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    int tv = fs_schema_table_index("visit"), ts = fs_schema_table_index("spot_check");
    /* v1 refused whole (its customer link among its changes), v2's notes only */
    CHECK_OK(fs_replica_record_refusal(r, (uint16_t)tv, v1,
                                       (uint16_t)fs_schema_column_index(&t[tv], "customer"), 7,
                                       FS_REASON_SCOPE, NULL, 0));
    CHECK_OK(fs_replica_record_refusal(r, (uint16_t)tv, v2,
                                       (uint16_t)fs_schema_column_index(&t[tv], "notes"), 8,
                                       FS_REASON_SCOPE, NULL, 0));
    CHECK_OK(fs_replica_record_refusal(r, (uint16_t)ts, sc,
                                       (uint16_t)fs_schema_column_index(&t[ts], "rep"), 9,
                                       FS_REASON_SCOPE, NULL, 0));
    CHECK_EQ_INT(judge(r, "contact_recorded", v1, "2023-10-13 20:00"), -1);
    CHECK_EQ_INT(judge(r, "contact_recorded", v2, "2023-10-13 20:00"), ON_TIME);
    CHECK_EQ_INT(judge(r, "crm_accuracy", sc, "2023-10-13 20:00"), -1);
    done_with(r, dir);
}

/* Issue 19.2: each key account surveyed once a quarter (the survey naming
 * the quarter; due by the quarter's end, due soon in its last 14 days), and
 * a signed contract reviewed by legal no later than the signing with both
 * identity papers seen (overdue while anything is missing, missed when
 * the review came after the stamp, a draft not judged). */
static void test_survey_and_contract_rules(void)
{
    char *dir = NULL;
    fs_replica *r = fresh(&dir);
    uint8_t key[16], plain[16], id[16];
    customer(r, "zhang", 1, key);
    customer(r, "zhang", 0, plain);
#define SV(now) judge_cal(r, default_cal(), "satisfaction_survey", key, NULL, "2023-10-01", now)
    CHECK_EQ_INT(SV("2023-12-17 00:00"), ON_TIME);
    CHECK_EQ_INT(SV("2023-12-18 00:00"), DUE_SOON);
    CHECK_EQ_INT(SV("2024-01-01 00:01"), OVERDUE);
    CHECK_EQ_INT(judge_cal(r, default_cal(), "satisfaction_survey", plain, NULL, "2023-10-01",
                           "2024-01-01 00:01"),
                 -1); /* not a key account: no survey due */
    /* a survey naming another quarter does not count for this one */
    fs_cell q3[] = {{"customer", fs_blob(key, 16)}, {"quarter", fs_text("2023-Q3")},
                    {"attitude", fs_int(5)},        {"ability", fs_int(5)},
                    {"speed", fs_int(5)},           {"surveyed_at", fs_text("2023-10-02")}};
    CHECK_OK(fs_insert(r, "survey", q3, 6, id));
    CHECK_EQ_INT(SV("2024-01-01 00:01"), OVERDUE);
    fs_cell q4[] = {{"customer", fs_blob(key, 16)}, {"quarter", fs_text("2023-Q4")},
                    {"attitude", fs_int(4)},        {"ability", fs_int(3)},
                    {"speed", fs_int(5)},           {"surveyed_at", fs_text("2023-11-20")}};
    CHECK_OK(fs_insert(r, "survey", q4, 6, id));
    CHECK_EQ_INT(SV("2024-01-01 00:01"), ON_TIME);
#undef SV
    /* contracts */
    uint8_t deal[16], k1[16], k2[16], k3[16];
    fs_cell d[] = {{"customer", fs_blob(key, 16)}, {"title", fs_text("ERP")},
                   {"amount", fs_int(100)}, {"opened_at", fs_text("2023-10-01")}};
    CHECK_OK(fs_insert(r, "deal", d, 4, deal));
    fs_cell signed_ok[] = {{"deal", fs_blob(deal, 16)},   {"customer", fs_blob(key, 16)},
                           {"amount", fs_int(100)},        {"status", fs_text("signed")},
                           {"signed_at", fs_text("2023-10-10")}, {"legal_by", fs_text("王律师")},
                           {"legal_at", fs_text("2023-10-09")}, {"licence_seen", fs_int(1)},
                           {"authorisation_seen", fs_int(1)}};
    CHECK_OK(fs_insert(r, "contract", signed_ok, 9, k1));
    CHECK_EQ_INT(judge(r, "contract_checked", k1, "2023-10-11 10:00"), ON_TIME);
    /* the authorisation not seen: a violation until it is */
    fs_cell no_auth[] = {{"deal", fs_blob(deal, 16)},   {"customer", fs_blob(key, 16)},
                         {"amount", fs_int(100)},        {"status", fs_text("signed")},
                         {"signed_at", fs_text("2023-10-10")}, {"legal_by", fs_text("王律师")},
                         {"legal_at", fs_text("2023-10-10")}, {"licence_seen", fs_int(1)}};
    CHECK_OK(fs_insert(r, "contract", no_auth, 8, k2));
    CHECK_EQ_INT(judge(r, "contract_checked", k2, "2023-10-11 10:00"), OVERDUE);
    fs_cell seen[] = {{"authorisation_seen", fs_int(1)}};
    CHECK_OK(fs_update(r, "contract", k2, seen, 1));
    CHECK_EQ_INT(judge(r, "contract_checked", k2, "2023-10-11 10:00"), ON_TIME);
    /* reviewed the day after the stamp: missed; a draft: not judged */
    fs_cell later[] = {{"legal_at", fs_text("2023-10-11")}};
    CHECK_OK(fs_update(r, "contract", k2, later, 1));
    CHECK_EQ_INT(judge(r, "contract_checked", k2, "2023-10-12 10:00"), MISSED);
    fs_cell draft[] = {{"deal", fs_blob(deal, 16)}, {"customer", fs_blob(key, 16)},
                       {"amount", fs_int(100)}, {"status", fs_text("draft")}};
    CHECK_OK(fs_insert(r, "contract", draft, 4, k3));
    CHECK_EQ_INT(judge(r, "contract_checked", k3, "2023-10-12 10:00"), -1);
    done_with(r, dir);
}

/* One rule per row of the handbook's deadline table; rules the records
 * cannot judge yet say why. */
/* A key account is judged from when it is known: its first write, or
 * an earlier visit recorded with it. A month or quarter that ended before
 * expects nothing (a customer recorded today has not missed last month's
 * visit); the month it was recorded in does. */
static void test_key_account_known_since(void)
{
    char *dir = NULL;
    fs_replica *r = fresh(&dir);
    uint8_t late[16], early[16], v[16];
    write_clock_ms = 1697760000000ull; /* 2023-10-20 00:00 UTC */
    customer(r, "zhang", 1, late);
    customer(r, "zhang", 1, early);
    visit(r, early, "2023-08-15 10:00", "2023-10-20 09:00", v); /* made before, recorded now */
    write_clock_ms = CLOCK_2022;
#define KM(row, month) \
    judge_cal(r, default_cal(), "key_account_monthly", row, NULL, month, "2023-12-20 10:00")
#define KQ(row, quarter) \
    judge_cal(r, default_cal(), "satisfaction_survey", row, NULL, quarter, "2023-12-20 10:00")
    CHECK_EQ_INT(KM(late, "2023-09-01"), -1); /* September ended before it was recorded */
    CHECK_EQ_INT(KM(late, "2023-10-01"), OVERDUE); /* recorded in October: judged */
    CHECK_EQ_INT(KM(late, "2023-11-01"), OVERDUE);
    CHECK_EQ_INT(KM(early, "2023-09-01"), OVERDUE); /* its August visit: known since then */
    CHECK_EQ_INT(KQ(late, "2023-07-01"), -1);
    CHECK_EQ_INT(KQ(late, "2023-10-01"), DUE_SOON);
    CHECK_EQ_INT(KQ(early, "2023-07-01"), OVERDUE);
    /* a week judged before it was known counts neither its month nor its
     * quarter, even once both are done */
    uint8_t v2[16];
    visit(r, late, "2023-10-25 10:00", "2023-10-25 12:00", v2);
    static got wk;
    const char *reps[] = {"zhang"};
    wk.n = 0;
    CHECK_OK(fs_rules_eval(r, default_cal(), civ("2023-12-20 10:00"), civ("2023-10-02"),
                           civ("2023-10-09"), reps, 1, collect, &wk));
    int about_late = 0;
    for (int i = 0; i < wk.n; i++)
        about_late += wk.f[i].has_row && memcmp(wk.f[i].row, late, 16) == 0;
    CHECK_EQ_INT(about_late, 0);
    CHECK_EQ_INT(KM(late, "2023-10-01"), ON_TIME); /* judged in the weeks after */
    /* an edit of its name later moves nothing: the first write counts */
    write_clock_ms = 1702000000000ull; /* 2023-12-08 */
    fs_cell name[] = {{"name", fs_text("Rules Test Co., Ltd.")}};
    CHECK_OK(fs_update(r, "customer", late, name, 1));
    write_clock_ms = CLOCK_2022;
    CHECK_EQ_INT(KM(late, "2023-11-01"), OVERDUE);
#undef KM
#undef KQ
    done_with(r, dir);
}

static void test_the_table_of_rules(void)
{
    size_t n;
    const fs_rule *rl = fs_rules(&n);
    CHECK(n >= 16);
    for (size_t i = 0; i < n; i++) {
        CHECK(rl[i].id != NULL && rl[i].text != NULL && rl[i].table != NULL);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(rl[i].id, rl[j].id) != 0);
        if (rl[i].kind == FS_RULE_UNTRACKED)
            CHECK(rl[i].why_untracked != NULL);
        else
            CHECK(rl[i].who != NULL);
    }
    CHECK_STR(fs_rule_status_name(FS_ST_OVERDUE), "overdue");
}

/* fs_compliance_weeks_kept against fs_compliance_weeks_each: every tally
 * of every week and the last week's findings alike. The findings' count. */
static int kept_agree(fs_rules_memo *m, fs_replica *r, int64_t now, int64_t from,
                      const char *const *reps, size_t nreps, const uint8_t *row, int *has_row)
{
    static got kept, each;
    fs_compliance a[4], b[4];
    kept.n = each.n = 0;
    CHECK_OK(fs_compliance_weeks_kept(m, r, default_cal(), now, from, 4, reps, nreps, a, collect,
                                      &kept));
    CHECK_OK(fs_compliance_weeks_each(r, default_cal(), now, from, 4, reps, nreps, b, collect,
                                      &each));
    int differ = 0;
    for (size_t w = 0; w < 4; w++) {
        differ += a[w].nreps != b[w].nreps;
        for (size_t i = 0; i < a[w].nreps && i < b[w].nreps; i++) {
            differ += strcmp(a[w].reps[i].rep, b[w].reps[i].rep) != 0;
            for (size_t q = 0; q < a[w].nrules; q++)
                differ += memcmp(&a[w].reps[i].by_rule[q], &b[w].reps[i].by_rule[q],
                                 sizeof a[w].reps[i].by_rule[q]) != 0;
        }
        fs_compliance_free(&a[w]);
        fs_compliance_free(&b[w]);
    }
    CHECK_EQ_INT(differ, 0);
    CHECK_EQ_INT(kept.n, each.n);
    *has_row = 0;
    for (int i = 0; i < kept.n && i < each.n && i < 1024; i++) {
        const fs_finding *x = &kept.f[i], *y = &each.f[i];
        differ += x->rule != y->rule || strcmp(x->who, y->who) != 0 ||
                  memcmp(x->row, y->row, 16) != 0 || x->start != y->start ||
                  x->deadline != y->deadline || x->done != y->done || x->status != y->status;
        *has_row |= row != NULL && x->has_row && memcmp(x->row, row, 16) == 0;
    }
    CHECK_EQ_INT(differ, 0);
    return kept.n;
}

extern unsigned long fs__rules_kept_hits;

/* Issue 18: the dashboard keeps the tables it read between views
 * (fs_rules_memo); a write, a refusal or another set of reps is read
 * afresh, a write rolled back leaves nothing behind, and every view agrees
 * with an evaluation that keeps nothing. */
static void test_kept_evaluations_follow_writes(void)
{
    char *dir;
    fs_replica *r = fresh(&dir);
    fs_rules_memo *m = fs_rules_memo_new();
    CHECK(m != NULL);
    uint8_t c1[16], c2[16], v1[16], v2[16], v3[16], k1[16];
    customer(r, "zhang", 1, c1);
    customer(r, "wang", 0, c2);
    visit(r, c1, "2023-10-09 10:00", "2023-10-09 12:00", v1);
    visit(r, c2, "2023-10-10 10:00", "2023-10-11 12:00", v2);
    fs_cell k[] = {{"customer", fs_blob(c1, 16)},
                   {"text", fs_text("t")},
                   {"due", fs_text("2023-10-12")},
                   {"status", fs_text("open")}};
    CHECK_OK(fs_insert(r, "commitment", k, 4, k1));
    const char *both[] = {"zhang", "wang"}, *one[] = {"zhang"};
    int64_t now = civ("2023-10-20 12:00"), from = civ("2023-09-25");
    int seen;
    unsigned long hits = fs__rules_kept_hits;
    int n0 = kept_agree(m, r, now, from, both, 2, NULL, &seen);
    CHECK(n0 > 0);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 0); /* read */
    CHECK_EQ_INT(kept_agree(m, r, now, from, both, 2, NULL, &seen), n0);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 1); /* kept */
    /* another now: the same records, the statuses of that time */
    kept_agree(m, r, civ("2023-10-12 20:00"), from, both, 2, NULL, &seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 2);
    /* a new visit: read afresh, and found */
    visit(r, c2, "2023-10-16 10:00", "2023-10-18 12:00", v3);
    CHECK(kept_agree(m, r, now, from, both, 2, v3, &seen) > n0);
    CHECK(seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 2);
    CHECK(kept_agree(m, r, now, from, both, 2, v3, &seen) > n0);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 3);
    /* an edit: the commitment done, the kept one not shown */
    fs_cell done[] = {{"status", fs_text("done")}, {"done_at", fs_text("2023-10-11 09:00")}};
    CHECK_OK(fs_update(r, "commitment", k1, done, 2));
    kept_agree(m, r, now, from, both, 2, k1, &seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 3);
    /* one rep: kept apart from the two */
    kept_agree(m, r, now, from, one, 1, NULL, &seen);
    kept_agree(m, r, now, from, one, 1, NULL, &seen);
    kept_agree(m, r, now, from, both, 2, NULL, &seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 5);
    /* inside a transaction nothing is kept; rolled back, nothing shows */
    uint8_t v4[16];
    CHECK_OK(fs_begin(r));
    visit(r, c1, "2023-10-17 10:00", "2023-10-17 11:00", v4);
    kept_agree(m, r, now, from, both, 2, v4, &seen);
    CHECK(seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 5);
    fs_rollback(r);
    kept_agree(m, r, now, from, both, 2, v4, &seen);
    CHECK(!seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 5);
    /* a refused placing: the visit left out at the next view */
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    int tv = fs_schema_table_index("visit");
    kept_agree(m, r, now, from, both, 2, v3, &seen);
    CHECK(seen);
    CHECK_OK(fs_replica_record_refusal(r, (uint16_t)tv, v3,
                                       (uint16_t)fs_schema_column_index(&t[tv], "customer"), 7,
                                       FS_REASON_SCOPE, NULL, 0));
    kept_agree(m, r, now, from, both, 2, v3, &seen);
    CHECK(!seen);
    CHECK_EQ_INT((int)(fs__rules_kept_hits - hits), 6);
    fs_rules_memo_free(m);
    done_with(r, dir);
}

TEST_LIST(TEST(civil_time) TEST(working_days) TEST(time_zones)
              TEST(record_rules_at_their_boundaries) TEST(working_day_rules)
                  TEST(commitments_and_follow_ups) TEST(daily_weekly_monthly)
                      TEST(compliance_week_by_hand) TEST(the_table_of_rules)
                          TEST(handover_keeps_past_deadlines) TEST(refused_records_left_out)
                              TEST(survey_and_contract_rules) TEST(key_account_known_since)
                                  TEST(kept_evaluations_follow_writes))
