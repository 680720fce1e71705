/*
 * Replica API: the handbook tables, validation that writes nothing on error,
 * the change log and its guard, transactions, applying remote changes,
 * passphrase change, and exclusive use.
 */
#include <fcntl.h>
#include <locale.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <wchar.h>

#include "fieldsync/harden.h"

#include "fieldsync/records.h"
#include "fieldsync/replica.h"
#include "fieldsync/replica_server.h"
#include "fieldsync/rules.h"
#include "fieldsync/schema.h"
#include "records.h"
#include "replica_int.h"
#include "rng.h"
#include "test.h"

static char rdir[600];

static fs_replica *fresh(const char *name)
{
    char *dir = test_tmpdir();
    snprintf(rdir, sizeof rdir, "%s/%s", dir, name);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_create(&r, rdir, "pw", 2, &o));
    return r;
}

static fs_replica *open_again(const char *dir, const char *pass)
{
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_OK(fs_replica_open(&r, dir, pass, strlen(pass), &o));
    return r;
}

static uint64_t last_seq(fs_replica *r)
{
    uint64_t s = 0;
    CHECK_OK(fs_last_seq(r, &s));
    return s;
}

static size_t count_rows(fs_replica *r, const char *table)
{
    fs_rows *it = NULL;
    size_t n = 0;
    CHECK_OK(fs_rows_open(&it, r, table, NULL, NULL, NULL));
    while (fs_rows_next(it) == 1)
        n++;
    fs_rows_close(it);
    return n;
}

static void add_customer(fs_replica *r, const char *name, uint8_t id[16])
{
    fs_cell c[] = {{"name", fs_text(name)}, {"key_account", fs_int(1)}};
    CHECK_OK(fs_insert(r, "customer", c, 2, id));
}

/* Rows named by part of their name: CJK as typed, Latin in any case, an
 * exact name alone, deleted rows never, tables without a name refused. */
/* fs_match_name of text in table finds count rows, the first of them first
 * (NULL: not checked), shown as name (NULL: not checked). */
static void matches(fs_replica *r, const char *table, const char *text, size_t count,
                    const uint8_t *first, const char *name)
{
    fs_name_match m[2];
    size_t n = 99;
    CHECK_OK(fs_match_name(r, table, text, m, 2, &n));
    CHECK_EQ_INT(n, count);
    if (first != NULL)
        CHECK_MEM(m[0].id, first, 16);
    if (name != NULL)
        CHECK_STR(m[0].name, name);
}

static void test_match_name(void)
{
    fs_replica *r = fresh("r");
    uint8_t bj[16], sh[16], hx[16], ac[16], gone[16], id[16];
    add_customer(r, "北京华信科技", bj);
    add_customer(r, "上海华信", sh);
    add_customer(r, "华信", hx);
    add_customer(r, "Acme Trading", ac);
    add_customer(r, "华信旧户", gone);
    CHECK_OK(fs_delete(r, "customer", gone));
    fs_name_match m[2];
    size_t n = 0;
    CHECK_OK(fs_match_name(r, "customer", "华信科", m, 2, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_MEM(m[0].id, bj, 16);
    CHECK_STR(m[0].name, "北京华信科技");
    CHECK_OK(fs_match_name(r, "customer", "华信", m, 2, &n));
    CHECK_EQ_INT(n, 1); /* the exact one, not the three holding it */
    CHECK_MEM(m[0].id, hx, 16);
    CHECK_OK(fs_match_name(r, "customer", "华", m, 2, &n));
    CHECK_EQ_INT(n, 3); /* more than fit: counted, two returned, none deleted */
    CHECK(memcmp(m[0].id, gone, 16) != 0 && memcmp(m[1].id, gone, 16) != 0);
    CHECK_OK(fs_match_name(r, "customer", "aCME", m, 2, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_MEM(m[0].id, ac, 16);
    CHECK_OK(fs_match_name(r, "customer", "广州", m, 2, &n));
    CHECK_EQ_INT(n, 0);
    CHECK_OK(fs_match_name(r, "customer", "%", m, 2, &n)); /* no pattern characters */
    CHECK_EQ_INT(n, 0);
    fs_cell c[] = {{"customer", fs_blob(sh, 16)}, {"name", fs_text("王芳")}};
    CHECK_OK(fs_insert(r, "contact", c, 2, id));
    CHECK_OK(fs_match_name(r, "contact", "芳", m, 2, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_MEM(m[0].id, id, 16);
    CHECK_ERR(fs_match_name(r, "daily_report", "x", m, 2, &n), FS_EINVAL);
    /* Traditional and Simplified find each other. */
    CHECK_OK(fs_match_name(r, "customer", "華信科", m, 2, &n));
    CHECK_EQ_INT(n, 1);
    CHECK_MEM(m[0].id, bj, 16);
    /* A visit by part of its notes. */
    uint8_t vid[16];
    fs_cell v[] = {{"customer", fs_blob(bj, 16)}, {"time", fs_text("2026-12-03 10:00")},
                   {"place", fs_text("会议室")},  {"purpose", fs_text("演示")},
                   {"notes", fs_text("談了報價和交期")}};
    CHECK_OK(fs_insert(r, "visit", v, 5, vid));
    matches(r, "visit", "报价", 1, vid, "2026-12-03 10:00 北京华信科技");
    /* ... and by its customer's name, in either script: the latest first. */
    matches(r, "visit", "北京華信", 1, vid, NULL);
    uint8_t vid2[16];
    fs_cell v2[] = {{"customer", fs_blob(bj, 16)}, {"time", fs_text("2026-12-04 09:30")},
                    {"place", fs_text("工厂")},    {"purpose", fs_text("回访")},
                    {"notes", fs_text("看了产线")}};
    CHECK_OK(fs_insert(r, "visit", v2, 5, vid2));
    matches(r, "visit", "北京华信", 2, vid2, "2026-12-04 09:30 北京华信科技");
    matches(r, "visit", "产线", 1, vid2, NULL); /* notes still */
    matches(r, "visit", "华信", 2, NULL, NULL); /* no exact name for a visit */
    matches(r, "visit", "Acme", 0, NULL, NULL); /* another customer's */
    /* A question by its words or its customer's name, shown with both. */
    uint8_t qid[16];
    fs_cell q[] = {{"customer", fs_blob(sh, 16)},
                   {"question", fs_text("能否三周交货")},
                   {"asked_at", fs_text("2026-12-03 10:00")}};
    CHECK_OK(fs_insert(r, "customer_question", q, 3, qid));
    matches(r, "customer_question", "三周", 1, qid, "能否三周交货 · 上海华信");
    matches(r, "customer_question", "上海", 1, qid, NULL);
    matches(r, "customer_question", "北京", 0, NULL, NULL);
    /* A contact is a person: not found by its customer's name. */
    matches(r, "contact", "上海华信", 0, NULL, NULL);
    CHECK_ERR(fs_match_name(r, "customer", "", m, 2, &n), FS_EINVAL);
    CHECK_STR(fs_name_column("weekly_plan"), "goals");
    CHECK(fs_name_column("daily_report") == NULL);
    CHECK_STR(fs_name_column("commitment"), "text");
    CHECK_STR(fs_name_column("customer_question"), "question");
    CHECK_STR(fs_name_column("complaint"), "description");
    CHECK_STR(fs_name_column("visit_plan"), "purpose");
    CHECK_STR(fs_name_column("survey"), "quarter");
    fs_replica_close(r);
}

static void test_chinese_text_round_trips(void)
{
    fs_replica *r = fresh("r");
    const char *name = "XX科技有限公司 (XX Technology Co.) 𠮷 é";
    const char *notes = "1. 使用競品，覺得複雜，希望流程更簡單；\n2. 重視穩定性和售後響應；\n3. "
                        "預算50萬-80萬";
    uint8_t cid[16], vid[16];
    add_customer(r, name, cid);
    fs_cell v[] = {{"customer", fs_blob(cid, 16)},   {"time", fs_text("2023-10-10 14:00")},
                   {"place", fs_text("客戶會議室")}, {"purpose", fs_text("跟進XX項目需求")},
                   {"notes", fs_text(notes)},        {"contact", fs_text("*經理")}};
    CHECK_OK(fs_insert(r, "visit", v, 6, vid));
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    fs_rows *it = NULL;
    fs_value key = fs_blob(cid, 16);
    CHECK_OK(fs_rows_open(&it, r, "visit", "customer", &key, "time"));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    CHECK_MEM(fs_rows_id(it), vid, 16);
    fs_value got;
    CHECK_OK(fs_rows_get(it, "notes", &got));
    CHECK(got.type == FS_TEXT && got.n == strlen(notes));
    CHECK_MEM(got.p, notes, got.n);
    CHECK_ERR(fs_rows_get(it, "nope", &got), FS_ESCHEMA);
    CHECK_EQ_INT(fs_rows_next(it), 0);
    fs_rows_close(it);
    CHECK_OK(fs_rows_open(&it, r, "customer", NULL, NULL, "name"));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    CHECK_OK(fs_rows_get(it, "name", &got));
    CHECK(got.n == strlen(name) && memcmp(got.p, name, got.n) == 0);
    fs_rows_close(it);
    /* only some columns (the rules engine's scans): those read, in any
     * order asked and again from a buffer the caller rewrote; another one
     * is no column of the result; an unknown one fails at once */
    const char *cols[] = {"time", "customer", "time"};
    CHECK_OK(fs_rows_open_only(&it, r, "visit", "customer", &key, NULL, cols, 3));
    CHECK_EQ_INT(fs_rows_next(it), 1);
    CHECK_MEM(fs_rows_id(it), vid, 16);
    CHECK_OK(fs_rows_get(it, "customer", &got));
    CHECK(got.type == FS_BLOB && got.n == 16);
    CHECK_MEM(got.p, cid, 16);
    char col[16] = "time";
    CHECK_OK(fs_rows_get(it, col, &got));
    CHECK(got.type == FS_TEXT && got.n == 16 && memcmp(got.p, "2023-10-10 14:00", 16) == 0);
    memcpy(col, "place", 6);
    CHECK_ERR(fs_rows_get(it, col, &got), FS_ESCHEMA); /* not read, though the table has it */
    CHECK_ERR(fs_rows_get(it, "notes", &got), FS_ESCHEMA);
    memcpy(col, "time", 5);
    CHECK_OK(fs_rows_get(it, col, &got));
    CHECK(got.type == FS_TEXT && got.n == 16);
    CHECK_EQ_INT(fs_rows_next(it), 0);
    fs_rows_close(it);
    const char *bad[] = {"time", "nope"};
    CHECK_ERR(fs_rows_open_only(&it, r, "visit", NULL, NULL, NULL, bad, 2), FS_ESCHEMA);
    CHECK(it == NULL);
    fs_replica_close(r);
}

/* Every handbook record type can be recorded with its required fields. */
static void test_every_handbook_table(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16], vid[16], pid[16], id[16];
    add_customer(r, "Acme GmbH", cid);
    fs_value cust = fs_blob(cid, 16);
    fs_cell contact[] = {{"customer", cust}, {"name", fs_text("王經理")},
                         {"position", fs_text("采購總監")}, {"phone", fs_text("+86 21 5555")}};
    CHECK_OK(fs_insert(r, "contact", contact, 4, id));
    fs_cell visit[] = {{"customer", cust},
                       {"time", fs_text("2023-10-10 14:00")},
                       {"place", fs_text("meeting room")},
                       {"purpose", fs_text("demo")},
                       {"notes", fs_text("went well")}};
    CHECK_OK(fs_insert(r, "visit", visit, 5, vid));
    fs_cell commitment[] = {{"visit", fs_blob(vid, 16)},
                            {"customer", cust},
                            {"text", fs_text("send 3 success cases")},
                            {"due", fs_text("2023-10-12")},
                            {"status", fs_text("open")}};
    CHECK_OK(fs_insert(r, "commitment", commitment, 5, id));
    fs_cell plan[] = {{"rep", fs_text("zhang")},
                      {"period_start", fs_text("2023-10-09")},
                      {"period_end", fs_text("2023-10-15")},
                      {"goals", fs_text("sign 2 new customers")}};
    CHECK_OK(fs_insert(r, "weekly_plan", plan, 4, pid));
    fs_cell task[] = {{"plan", fs_blob(pid, 16)},
                      {"date", fs_text("2023-10-10")},
                      {"task", fs_text("visit XX Tech, demo")},
                      {"expected_time", fs_text("15:00-16:00")}};
    CHECK_OK(fs_insert(r, "plan_task", task, 4, id));
    fs_cell daily[] = {{"rep", fs_text("zhang")}, {"date", fs_text("2023-10-10")},
                       {"kind", fs_text("plan")}, {"submitted_at", fs_text("2023-10-10 08:40")}};
    CHECK_OK(fs_insert(r, "daily_report", daily, 4, id));
    fs_cell check[] = {{"rep", fs_text("zhang")},
                       {"date", fs_text("2023-10-10")},
                       {"appearance", fs_int(1)},
                       {"todos", fs_int(0)},
                       {"todos_fix", fs_text("send the SLA first thing tomorrow")}};
    CHECK_OK(fs_insert(r, "self_check", check, 5, id));
    fs_cell complaint[] = {{"customer", cust},
                           {"owner", fs_text("zhang")},
                           {"received_at", fs_text("2023-10-11 09:30")},
                           {"description", fs_text("late delivery")}};
    CHECK_OK(fs_insert(r, "complaint", complaint, 4, id));
    fs_cell req[] = {{"customer", cust},
                     {"description", fs_text("custom report")},
                     {"confirmed_at", fs_text("2023-10-11 10:00")}};
    CHECK_OK(fs_insert(r, "requirement_request", req, 3, id));
    fs_cell acc[] = {{"customer", cust}, {"delivered_at", fs_text("2023-10-20")}};
    CHECK_OK(fs_insert(r, "acceptance", acc, 2, id));
    fs_cell mkt[] = {{"rep", fs_text("zhang")},
                     {"event_date", fs_text("2023-11-01")},
                     {"goal", fs_text("trade fair leads")},
                     {"budget", fs_text("20k CNY")}};
    CHECK_OK(fs_insert(r, "marketing_request", mkt, 4, id));
    fs_cell q[] = {{"customer", cust},
                   {"question", fs_text("SLA terms?")},
                   {"asked_at", fs_text("2023-10-10 14:30")}};
    CHECK_OK(fs_insert(r, "customer_question", q, 3, id));
    fs_cell spot[] = {{"supervisor", fs_text("li")},
                      {"rep", fs_text("zhang")},
                      {"record_table", fs_text("visit")},
                      {"record_id", fs_blob(vid, 16)},
                      {"accurate", fs_int(1)},
                      {"checked_at", fs_text("2023-10-13 17:00")}};
    CHECK_OK(fs_insert(r, "spot_check", spot, 6, id));
    fs_cell ho[] = {{"customer", cust},
                    {"from_rep", fs_text("zhang")},
                    {"to_rep", fs_text("wang")},
                    {"at", fs_int(1697184000000)}};
    CHECK_OK(fs_insert(r, "handover", ho, 4, id));
    fs_cell charge[] = {{"rep", fs_text("zhang")},
                        {"rule", fs_text("commitment_due")},
                        {"record_table", fs_text("commitment")},
                        {"deadline", fs_text("2023-10-13 00:00")},
                        {"handed_at", fs_int(1697184000000)}};
    CHECK_OK(fs_insert(r, "charge", charge, 5, id));
    fs_cell tally[] = {{"rep", fs_text("zhang")},
                       {"device", fs_text("1fe8ed0b0f710df3")},
                       {"open", fs_int(3)},
                       {"reason", fs_int(12)},
                       {"at", fs_int(1697184000000)}};
    CHECK_OK(fs_insert(r, "refusal_tally", tally, 5, id));
    fs_cell roster[] = {{"name", fs_text("zhang")},
                        {"team", fs_text("north")},
                        {"role", fs_int(1)},
                        {"active", fs_int(1)}};
    CHECK_OK(fs_insert(r, "roster", roster, 4, id));
    fs_cell setting[] = {{"team", fs_text("north")},
                         {"setting", fs_text("tz")},
                         {"value", fs_text("Asia/Shanghai")}};
    CHECK_OK(fs_insert(r, "team_setting", setting, 3, id));
    /* schema 6: the sales records (issue 19.2) */
    uint8_t did[16];
    fs_cell deal[] = {{"customer", cust}, {"title", fs_text("ERP")},
                      {"amount", fs_int(30000050)}, {"opened_at", fs_text("2023-10-01")}};
    CHECK_OK(fs_insert(r, "deal", deal, 4, did));
    fs_cell payment[] = {{"deal", fs_blob(did, 16)}, {"customer", cust},
                         {"amount", fs_int(100)}, {"collected_at", fs_text("2023-10-02")}};
    CHECK_OK(fs_insert(r, "payment", payment, 4, id));
    fs_cell contract[] = {{"deal", fs_blob(did, 16)}, {"customer", cust},
                          {"amount", fs_int(30000050)}};
    CHECK_OK(fs_insert(r, "contract", contract, 3, id));
    fs_cell survey[] = {{"customer", cust},        {"quarter", fs_text("2023-Q4")},
                        {"attitude", fs_int(5)},   {"ability", fs_int(4)},
                        {"speed", fs_int(3)},      {"surveyed_at", fs_text("2023-10-03")}};
    CHECK_OK(fs_insert(r, "survey", survey, 6, id));
    uint8_t hash[32] = {7};
    fs_cell att[] = {{"customer", cust},
                     {"record_table", fs_text("customer")},
                     {"record_id", cust},
                     {"name", fs_text("名片.jpg")},
                     {"kind", fs_text("card")},
                     {"size", fs_int(1000)},
                     {"hash", fs_blob(hash, 32)}};
    CHECK_OK(fs_insert(r, "attachment", att, 7, id));
    fs_cell vplan[] = {{"customer", cust},
                      {"time", fs_text("2023-10-16 10:00")},
                      {"place", fs_text("客户办公室")},
                      {"purpose", fs_text("演示")},
                      {"route_note", fs_text("地铁10号线, 步行5分钟")},
                      {"confirmed_at", fs_text("2023-10-13 16:00")},
                      {"confirmed_how", fs_text("电话")}};
    CHECK_OK(fs_insert(r, "visit_plan", vplan, 7, id));
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    for (unsigned i = 0; i < nt; i++)
        if (!(t[i].flags & FS_TABLE_INTERNAL))
            CHECK_EQ_INT(count_rows(r, t[i].name), 1);
    /* The conflict table is the replica's own. */
    fs_cell cf[] = {{"tbl", fs_int(0)}};
    CHECK_ERR(fs_insert(r, "conflict", cf, 1, id), FS_EINVAL);
    size_t problems = 1;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
}

static void expect_refused(fs_replica *r, const char *table, const fs_cell *cells, size_t n,
                           int code, const char *mentions)
{
    uint64_t before = last_seq(r);
    int known = fs_schema_table_index(table) >= 0;
    size_t rows = known ? count_rows(r, table) : 0;
    uint8_t id[16];
    int rc = fs_insert(r, table, cells, n, id);
    if (rc != code)
        FAIL("%s insert: got %s (%s), expected %s", table, fs_errname(rc), fs_replica_errmsg(r),
             fs_errname(code));
    if (mentions && strstr(fs_replica_errmsg(r), mentions) == NULL)
        FAIL("message \"%s\" does not name %s", fs_replica_errmsg(r), mentions);
    CHECK_EQ_INT(last_seq(r), before);
    if (known)
        CHECK_EQ_INT(count_rows(r, table), rows);
}

static void test_bad_input_writes_nothing(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16], ghost[16];
    add_customer(r, "Acme", cid);
    randombytes_buf(ghost, 16);
    fs_value cust = fs_blob(cid, 16);
    fs_cell ok[] = {{"customer", cust},
                    {"time", fs_text("2023-10-10 14:00")},
                    {"place", fs_text("p")},
                    {"purpose", fs_text("p")},
                    {"notes", fs_text("n")}};
    fs_cell c[5];
    memcpy(c, ok, sizeof ok);
    c[1].value = fs_text("2023-02-29 14:00"); /* not a leap year */
    expect_refused(r, "visit", c, 5, FS_ETYPE, "visit.time");
    c[1].value = fs_text("2023-10-10 24:00");
    expect_refused(r, "visit", c, 5, FS_ETYPE, "visit.time");
    c[1].value = fs_text("10/10/2023 14:00");
    expect_refused(r, "visit", c, 5, FS_ETYPE, "visit.time");
    memcpy(c, ok, sizeof ok);
    c[4].value = fs_text("");
    expect_refused(r, "visit", c, 5, FS_EREQUIRED, "visit.notes");
    expect_refused(r, "visit", ok, 4, FS_EREQUIRED, "visit.notes");
    memcpy(c, ok, sizeof ok);
    c[0].value = fs_blob(ghost, 16);
    expect_refused(r, "visit", c, 5, FS_ENOTFOUND, "visit.customer");
    c[0].value = fs_text("Acme");
    expect_refused(r, "visit", c, 5, FS_ETYPE, "visit.customer");
    memcpy(c, ok, sizeof ok);
    c[2].column = "room";
    expect_refused(r, "visit", c, 5, FS_ESCHEMA, "room");
    expect_refused(r, "meeting", ok, 5, FS_ESCHEMA, "meeting");
    memcpy(c, ok, sizeof ok);
    c[3].value = fs_textn("\xff\xfe bad", 6);
    expect_refused(r, "visit", c, 5, FS_ETYPE, "UTF-8");
    char *big = malloc(FS_MAX_TEXT + 2);
    CHECK(big != NULL);
    memset(big, 'a', FS_MAX_TEXT + 1);
    big[FS_MAX_TEXT + 1] = '\0';
    c[3].value = fs_text(big);
    expect_refused(r, "visit", c, 5, FS_ETOOBIG, "visit.purpose");
    free(big);
    fs_cell dup[] = {{"name", fs_text("a")}, {"name", fs_text("b")}};
    expect_refused(r, "customer", dup, 2, FS_EINVAL, "twice");
    fs_cell boolean[] = {{"name", fs_text("a")}, {"key_account", fs_int(2)}};
    expect_refused(r, "customer", boolean, 2, FS_ETYPE, "key_account");
    /* Updates: unknown rows, required fields blanked. */
    fs_cell blank[] = {{"name", fs_text("")}};
    CHECK_ERR(fs_update(r, "customer", cid, blank, 1), FS_EREQUIRED);
    fs_cell rename[] = {{"name", fs_text("Acme 2")}};
    CHECK_ERR(fs_update(r, "customer", ghost, rename, 1), FS_ENOTFOUND);
    CHECK_OK(fs_delete(r, "customer", cid));
    CHECK_EQ_INT(fs_exists(r, "customer", cid), 0);
    CHECK_ERR(fs_update(r, "customer", cid, rename, 1), FS_ENOTFOUND);
    CHECK_ERR(fs_delete(r, "customer", cid), FS_ENOTFOUND);
    fs_replica_close(r);
}

static void test_change_log_records_every_write(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16], dev[16];
    fs_replica_device(r, dev);
    add_customer(r, "Acme", cid);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(r, 0, 100, &cs));
    CHECK_EQ_INT(cs->count, 2);
    CHECK_EQ_INT(cs->first_seq, 1);
    CHECK_EQ_INT(cs->last_seq, 2);
    for (size_t i = 0; i < cs->count; i++) {
        CHECK_MEM(cs->changes[i].row, cid, 16);
        CHECK_MEM(cs->changes[i].version.device, dev, 16);
        CHECK_EQ_INT(cs->changes[i].prev.hlc, 0);
    }
    fs_version first = cs->changes[0].version;
    fs_changeset_free(cs);
    fs_cell rename[] = {{"name", fs_text("Acme AG")}};
    CHECK_OK(fs_update(r, "customer", cid, rename, 1));
    CHECK_OK(fs_changes_since(r, 2, 100, &cs));
    CHECK_EQ_INT(cs->count, 1);
    CHECK_EQ_INT(cs->changes[0].column, 1);
    CHECK(cs->changes[0].value.n == 7 && memcmp(cs->changes[0].value.p, "Acme AG", 7) == 0);
    CHECK(fs_version_cmp(&cs->changes[0].prev, &first) == 0); /* written on top of it */
    CHECK(cs->changes[0].version.hlc > first.hlc);
    fs_changeset_free(cs);
    CHECK_OK(fs_delete(r, "customer", cid));
    CHECK_OK(fs_changes_since(r, 3, 100, &cs));
    CHECK_EQ_INT(cs->count, 1);
    CHECK_EQ_INT(cs->changes[0].column, 0);
    CHECK_EQ_INT(cs->changes[0].value.i, 1);
    fs_changeset_free(cs);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.last_seq, 4);
    CHECK_EQ_INT(st.pending, 4);
    CHECK_ERR(fs_changes_since(r, 0, 0, &cs), FS_EINVAL);
    fs_replica_close(r);
}

static int exec_rc(fs_replica *r, const char *sql)
{
    return sqlite3_exec(fs__replica_db(r), sql, NULL, NULL, NULL);
}

static void test_writes_bypassing_the_log_are_refused_or_flagged(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16];
    add_customer(r, "Acme", cid);
    uint64_t before = last_seq(r);
    const char *attempts[] = {
        "UPDATE customer SET name='tampered'",
        "DELETE FROM customer",
        "INSERT INTO customer(id, deleted, name, _ver) VALUES(randomblob(16), 0, 'x', x'')",
        "DELETE FROM changelog",
        "UPDATE changelog SET value='x'",
        "INSERT INTO changelog(tbl,col,row,value,hlc,prev_hlc,prev_dev) VALUES(0,1,x'00',1,1,0,0)",
    };
    for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        int rc = exec_rc(r, attempts[i]); /* refused as it is prepared */
        if (rc != SQLITE_AUTH)
            FAIL("\"%s\": %d (%s), expected SQLITE_AUTH", attempts[i], rc,
                 sqlite3_errmsg(fs__replica_db(r)));
    }
    /* Reading is not writing; tables outside the guard stay writable. */
    CHECK_EQ_INT(exec_rc(r, "SELECT count(*) FROM customer"), SQLITE_OK);
    CHECK_EQ_INT(exec_rc(r, "CREATE TABLE scratch(x); INSERT INTO scratch VALUES(1)"), SQLITE_OK);
    CHECK_EQ_INT(last_seq(r), before);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    /* Someone with raw access lifts the guard: the check flags the write. */
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL);
    CHECK_EQ_INT(exec_rc(r, "UPDATE customer SET name='tampered'"), SQLITE_OK);
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 1);
    CHECK(strstr(fs_replica_errmsg(r), "customer") != NULL);
    CHECK(strstr(fs_replica_errmsg(r), "name") != NULL);
    fs_replica_close(r);
}

/* The columns schema 5 added to older tables, taken away as a replica of
 * schema 4 never had them (each column's version: FS__VER_BYTES of _ver). */
#define SCHEMA_5_COLUMNS_DROPPED                                                                   \
    "ALTER TABLE commitment DROP COLUMN done_recorded_at;"                                         \
    "UPDATE commitment SET _ver=substr(_ver,1,length(_ver)-12);"                                   \
    "ALTER TABLE customer_question DROP COLUMN answered_recorded_at;"                              \
    "UPDATE customer_question SET _ver=substr(_ver,1,length(_ver)-12);"
_Static_assert(FS__VER_BYTES == 12, "SCHEMA_5_COLUMNS_DROPPED trims 12 bytes a column");

/* What a replica of schema 5 or older lacks: the sales records' tables. */
#define SCHEMA_6_TABLES_DROPPED                                                                    \
    "DROP TABLE deal; DROP TABLE payment; DROP TABLE contract; DROP TABLE survey;"\
    " DROP TABLE attachment; DROP TABLE visit_plan;"

/* A replica of schema 4 (published with protocol 5: before
 * `team_setting`) opened by this build: upgraded without losing a record
 * of any table or a change of its log, its cursor reset so the team's
 * settings arrive at the next pull (issue 17.7). */
static void test_schema_4_replica_keeps_every_record(void)
{
    fs_replica *r = fresh("r4");
    uint8_t cid[16], id[16];
    add_customer(r, "北京华信", cid);
    fs_cell visit[] = {{"customer", fs_blob(cid, 16)},
                       {"time", fs_text("2026-12-03 15:00")},
                       {"place", fs_text("客户办公室")},
                       {"purpose", fs_text("报价")},
                       {"notes", fs_text("谈了报价")}};
    CHECK_OK(fs_insert(r, "visit", visit, 5, id));
    fs_cell roster[] = {{"name", fs_text("zhang")},
                        {"team", fs_text("north")},
                        {"role", fs_int(1)},
                        {"active", fs_int(1)}};
    CHECK_OK(fs_insert(r, "roster", roster, 4, id));
    uint8_t promise[16];
    fs_cell cm[] = {{"customer", fs_blob(cid, 16)},
                    {"text", fs_text("寄样品")},
                    {"due", fs_text("2026-12-04")},
                    {"status", fs_text("done")},
                    {"done_at", fs_text("2026-12-04 17:00")}};
    CHECK_OK(fs_insert(r, "commitment", cm, 5, promise));
    uint64_t seq = last_seq(r);
    unsigned nt;
    const fs_table *t = fs_schema_tables(&nt);
    size_t before[64];
    CHECK(nt <= 64);
    for (unsigned i = 0; i < nt; i++)
        before[i] = strcmp(t[i].name, "team_setting") == 0 || t[i].since >= 6
                        ? 0
                        : count_rows(r, t[i].name);
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL); /* as schema 4 was made */
    CHECK_EQ_INT(exec_rc(r, SCHEMA_5_COLUMNS_DROPPED), SQLITE_OK);
    CHECK_EQ_INT(exec_rc(r, "DROP TABLE team_setting;" SCHEMA_6_TABLES_DROPPED
                            "UPDATE meta SET v=4 WHERE k='schema';"
                            "UPDATE meta SET v=42 WHERE k='cursor'"),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 0);
    CHECK_EQ_INT(last_seq(r), seq);
    for (unsigned i = 0; i < nt; i++)
        if (!(t[i].flags & FS_TABLE_INTERNAL))
            CHECK_EQ_INT(count_rows(r, t[i].name), before[i]);
    CHECK_EQ_INT(count_rows(r, "visit"), 1);
    CHECK_EQ_INT(count_rows(r, "roster"), 1);
    CHECK_EQ_INT(count_rows(r, "commitment"), 1);
    fs_cell rec[] = {{"done_recorded_at", fs_text("2026-12-06 20:00")}};
    CHECK_OK(fs_update(r, "commitment", promise, rec, 1)); /* the new column, written */
    fs_cell ts[] = {{"team", fs_text("north")},
                    {"setting", fs_text("tz")},
                    {"value", fs_text("Asia/Shanghai")}};
    CHECK_OK(fs_insert(r, "team_setting", ts, 3, id));
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
}

/* A replica of schema 5 (the published release, protocol 6) opened by this
 * build: `visit_plan` is created in the upgrade, the visits and the changes
 * pending (recorded offline before the upgrade) kept, the cursor reset so
 * the plans the server held back arrive (issue 19.1). */
static void test_schema_5_replica_gets_visit_plans(void)
{
    fs_replica *r = fresh("r5");
    uint8_t cid[16], id[16];
    add_customer(r, "北京华信", cid);
    fs_cell visit[] = {{"customer", fs_blob(cid, 16)},
                       {"time", fs_text("2026-12-03 15:00")},
                       {"place", fs_text("客户办公室")},
                       {"purpose", fs_text("报价")},
                       {"notes", fs_text("离线记录")}};
    CHECK_OK(fs_insert(r, "visit", visit, 5, id));
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    uint64_t pending = st.pending, seq = last_seq(r);
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL); /* as schema 5 was made */
    CHECK_EQ_INT(exec_rc(r, SCHEMA_6_TABLES_DROPPED
                            "UPDATE meta SET v=5 WHERE k='schema';"
                            "UPDATE meta SET v=42 WHERE k='cursor'"),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 0);
    CHECK_EQ_INT(st.pending, pending);
    CHECK_EQ_INT(last_seq(r), seq);
    CHECK_EQ_INT(count_rows(r, "visit"), 1);
    fs_cell plan[] = {{"customer", fs_blob(cid, 16)},
                      {"time", fs_text("2026-12-08 10:00")},
                      {"place", fs_text("客户办公室")},
                      {"purpose", fs_text("演示")}};
    CHECK_OK(fs_insert(r, "visit_plan", plan, 4, id));
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
}

/* The upgrade is one transaction (issue 19.1): a replica of schema 1
 * whose upgrade fails at each of its steps in turn (a new column, a new
 * table: fs__upgrade_fail_after, as a crash there would) is left as it
 * was each time: still schema 1 (the next open upgrades it from the start,
 * so no column of a failed attempt stayed: ALTER TABLE would refuse to add
 * it twice), its rows, its log, its pending changes and its cursor kept;
 * once a step no longer fails it is upgraded whole. */
static void test_failed_upgrade_leaves_replica_as_it_was(void)
{
    fs_replica *r = fresh("fu");
    uint8_t cid[16], vid[16];
    add_customer(r, "华东机电", cid);
    fs_cell visit[] = {{"customer", fs_blob(cid, 16)},
                       {"time", fs_text("2026-12-03 15:00")},
                       {"place", fs_text("客户办公室")},
                       {"purpose", fs_text("报价")},
                       {"notes", fs_text("离线记录, 升级前")}};
    CHECK_OK(fs_insert(r, "visit", visit, 5, vid));
    uint64_t seq = last_seq(r);
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    uint64_t pending = st.pending;
    CHECK(pending > 0);
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL); /* as schema 1 was made */
    CHECK_EQ_INT(exec_rc(r, SCHEMA_5_COLUMNS_DROPPED), SQLITE_OK);
    CHECK_EQ_INT(exec_rc(r, "DROP TABLE handover; DROP TABLE charge; DROP TABLE refusal_tally;"
                            "DROP TABLE roster; DROP TABLE team_setting;" SCHEMA_6_TABLES_DROPPED
                            
                            "UPDATE meta SET v=1 WHERE k='schema';"
                            "UPDATE meta SET v=42 WHERE k='cursor'"),
                 SQLITE_OK);
    fs_replica_close(r);
    /* schema 1 to this build's: one step per table and column since 1 */
    unsigned nt, steps = 0;
    const fs_table *t = fs_schema_tables(&nt);
    for (unsigned i = 0; i < nt; i++) {
        if (t[i].since > 1) {
            steps++;
            continue;
        }
        for (unsigned c = 0; c < t[i].ncolumns; c++)
            steps += t[i].columns[c].since > 1;
    }
    CHECK(steps >= 7);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    for (unsigned k = 1; k < steps; k++) {
        fs__upgrade_fail_after = k;
        fs_replica *failed = NULL;
        CHECK_ERR(fs_replica_open(&failed, rdir, "pw", 2, &o), FS_EIO);
        CHECK(failed == NULL);
        CHECK(strstr(fs_replica_errmsg(NULL), "upgrading the replica's schema") != NULL);
    }
    fs__upgrade_fail_after = steps; /* every step passes */
    r = open_again(rdir, "pw");
    fs__upgrade_fail_after = 0;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 0);
    CHECK_EQ_INT(st.pending, pending);
    CHECK_EQ_INT(last_seq(r), seq);
    CHECK_EQ_INT(count_rows(r, "customer"), 1);
    CHECK_EQ_INT(count_rows(r, "visit"), 1);
    CHECK_EQ_INT(count_rows(r, "team_setting"), 0);
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
}

/* A replica of schema 5 (published with protocol 6: before the sales
 * records) opened by this build: upgraded in place, every record and the
 * change log kept, the four new tables made and writable, the cursor reset
 * (issue 19.2). And a contract's sign action needs its checks: the rules
 * name the first one missing until all are recorded. */
static void test_schema_5_replica_takes_the_sales_records(void)
{
    fs_replica *r = fresh("r5");
    uint8_t cid[16], id[16];
    add_customer(r, "北京华信", cid);
    fs_cell visit[] = {{"customer", fs_blob(cid, 16)},
                       {"time", fs_text("2026-12-03 15:00")},
                       {"place", fs_text("客户办公室")},
                       {"purpose", fs_text("报价")},
                       {"notes", fs_text("谈了报价")}};
    CHECK_OK(fs_insert(r, "visit", visit, 5, id));
    uint64_t seq = last_seq(r);
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL); /* as schema 5 was made */
    CHECK_EQ_INT(exec_rc(r, SCHEMA_6_TABLES_DROPPED
                            "UPDATE meta SET v=5 WHERE k='schema';"
                            "UPDATE meta SET v=42 WHERE k='cursor'"),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 0);
    CHECK_EQ_INT(last_seq(r), seq);
    CHECK_EQ_INT(count_rows(r, "customer"), 1);
    CHECK_EQ_INT(count_rows(r, "visit"), 1);
    uint8_t deal[16], con[16];
    fs_cell d[] = {{"customer", fs_blob(cid, 16)}, {"title", fs_text("ERP")},
                   {"amount", fs_int(30000050)}, {"opened_at", fs_text("2026-12-01")}};
    CHECK_OK(fs_insert(r, "deal", d, 4, deal));
    fs_cell k[] = {{"deal", fs_blob(deal, 16)}, {"customer", fs_blob(cid, 16)},
                   {"amount", fs_int(30000050)}, {"status", fs_text("draft")},
                   {"licence_seen", fs_int(1)}};
    CHECK_OK(fs_insert(r, "contract", k, 5, con));
    const fs_record_action *sign = fs_record_find_action("contract", "sign");
    const char *want[] = {"legal_by", "legal_at", "authorisation_seen", NULL};
    fs_cell fill[] = {{"legal_by", fs_text("王律师")},
                      {"legal_at", fs_text("2026-12-04")},
                      {"authorisation_seen", fs_int(1)}};
    for (size_t i = 0; i < 4; i++) {
        fs_rows *it = NULL;
        fs_value eq = fs_blob(con, 16);
        const char *missing = "x";
        char why[96];
        CHECK_OK(fs_rows_open(&it, r, "contract", "id", &eq, NULL));
        CHECK_EQ_INT(fs_rows_next(it), 1);
        CHECK_EQ_INT(fs_record_check_needs(sign, it, &missing, why, sizeof why),
                     want[i] ? FS_RECORD_ENEEDS : FS_RECORD_OK);
        if (want[i] != NULL) {
            CHECK_STR(missing, want[i]);
            CHECK_OK(fs_update(r, "contract", con, &fill[i], 1));
        } else {
            CHECK(missing == NULL);
        }
        fs_rows_close(it);
    }
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);
}

/* The team's calendar read from its team_setting rows (issue 17.7): the
 * zone, the hours, a holiday on a working day and a Saturday worked; other
 * teams' rows and settings of a later fieldsync are left alone. */
static void test_team_calendar(void)
{
    fs_replica *r = fresh("tc");
    uint8_t id[16];
    const char *rows[][3] = {{"north", "tz", "Asia/Shanghai"},
                             {"north", "hours", "08:30-17:30"},
                             {"north", "holidays", "2026-12-08,2026-12-09"},
                             {"north", "workdays", "2026-12-12"},
                             {"north", "export_policy", "none"},
                             {"south", "tz", "UTC"},
                             {"south", "holidays", "2026-12-10"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        fs_cell c[] = {{"team", fs_text(rows[i][0])},
                       {"setting", fs_text(rows[i][1])},
                       {"value", fs_text(rows[i][2])}};
        CHECK_OK(fs_insert(r, "team_setting", c, 3, id));
    }
    fs_calendar cal;
    fs_calendar_default(&cal);
    CHECK_OK(fs_calendar_add_holiday(&cal, "2026-12-24")); /* the device's own */
    int found = 0, unusable = 0;
    CHECK_OK(fs_team_calendar(r, "north", &cal, &found, &unusable));
    CHECK_EQ_INT(found, 4);
    CHECK_EQ_INT(unusable, 0);
    CHECK_STR(cal.tz, "Asia/Shanghai");
    CHECK_EQ_INT(cal.work_start, 8 * 60 + 30);
    CHECK_EQ_INT(cal.work_end, 17 * 60 + 30);
    int64_t d8 = fs_days_from_civil(2026, 12, 8);
    CHECK_EQ_INT(fs_calendar_is_working(&cal, d8), 0);     /* Tuesday, a holiday */
    CHECK_EQ_INT(fs_calendar_is_working(&cal, d8 + 2), 1); /* south's holiday */
    CHECK_EQ_INT(fs_calendar_is_working(&cal, d8 + 4), 1); /* Saturday worked */
    CHECK_EQ_INT(fs_calendar_is_working(&cal, d8 + 5), 0); /* Sunday */
    CHECK_EQ_INT(fs_calendar_is_working(&cal, fs_days_from_civil(2026, 12, 24)), 1);
    /* one working day after Monday the 7th: the 10th, the holidays skipped */
    CHECK_EQ_INT(fs_calendar_close(&cal, d8 - 1, 1), (d8 + 2) * FS_MIN_PER_DAY + 17 * 60 + 30);
    /* 2026-12-06 20:00 UTC is 2026-12-07 04:00 in Beijing */
    int64_t now = 0;
    CHECK_OK(fs_calendar_now(&cal, 1796587200000LL, &now));
    char shown[17];
    fs_civil_format(now, shown);
    CHECK_STR(shown, "2026-12-07 04:00");
    char v[64];
    CHECK_OK(fs_team_setting_get(r, "south", "holidays", v, sizeof v));
    CHECK_STR(v, "2026-12-10");
    CHECK_ERR(fs_team_setting_get(r, "east", "tz", v, sizeof v), FS_ENOTFOUND);
    fs_calendar_default(&cal);
    CHECK_OK(fs_team_calendar(r, "east", &cal, &found, NULL));
    CHECK_EQ_INT(found, 0);
    /* what the server may write */
    const char *why = NULL;
    CHECK_OK(fs_team_setting_check("tz", "Asia/Shanghai", &why));
    CHECK_ERR(fs_team_setting_check("tz", "Mars/Base", &why), FS_EINVAL);
    CHECK_ERR(fs_team_setting_check("hours", "18:00-09:00", &why), FS_EINVAL);
    CHECK_ERR(fs_team_setting_check("holidays", "2026-12-32", &why), FS_EINVAL);
    CHECK_ERR(fs_team_setting_check("holidays", "2026-12-08,", &why), FS_EINVAL);
    CHECK_OK(fs_team_setting_check("holidays", "", &why));
    CHECK_ERR(fs_team_setting_check("colour", "red", &why), FS_EINVAL);
    fs_replica_close(r);
}

/* A replica of schema 1 (before `handover`) is upgraded when it is opened:
 * the table is created, rows and the log are kept, and the pull cursor goes
 * back to 0 so that the device receives the rows the server could not send
 * it before. One of a schema newer than this build is refused by name. */
static void test_schema_1_replica_is_upgraded(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16];
    add_customer(r, "华东机电", cid);
    uint64_t seq = last_seq(r);
    sqlite3_set_authorizer(fs__replica_db(r), NULL, NULL); /* as schema 1 was made */
    CHECK_EQ_INT(exec_rc(r, SCHEMA_5_COLUMNS_DROPPED), SQLITE_OK);
    CHECK_EQ_INT(exec_rc(r, "DROP TABLE handover; DROP TABLE charge; DROP TABLE refusal_tally;"
                            "DROP TABLE roster; DROP TABLE team_setting;" SCHEMA_6_TABLES_DROPPED
                            "UPDATE meta SET v=1 WHERE k='schema';"
                            "UPDATE meta SET v=42 WHERE k='cursor'"),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    fs_replica_status st;
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 0);
    CHECK_EQ_INT(last_seq(r), seq);
    CHECK_EQ_INT(count_rows(r, "customer"), 1);
    uint8_t id[16];
    fs_cell ho[] = {{"customer", fs_blob(cid, 16)},
                    {"to_rep", fs_text("wang")},
                    {"at", fs_int(1700000000000)}};
    CHECK_OK(fs_insert(r, "handover", ho, 3, id));
    size_t problems = 9;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    /* Opened again: nothing more to do, the cursor stays. */
    CHECK_EQ_INT(exec_rc(r, "UPDATE meta SET v=7 WHERE k='cursor'"), SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    CHECK_OK(fs_replica_status_get(r, &st));
    CHECK_EQ_INT(st.cursor, 7);
    CHECK_EQ_INT(count_rows(r, "handover"), 1);
    /* Made by a newer fieldsync: refused, the file untouched. */
    CHECK_EQ_INT(exec_rc(r, "UPDATE meta SET v=99 WHERE k='schema'"), SQLITE_OK);
    fs_replica_close(r);
    fs_replica *newer = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_ERR(fs_replica_open(&newer, rdir, "pw", 2, &o), FS_EFORMAT);
    CHECK(newer == NULL);
}

/* Replicas made before the authorizer guarded with triggers, which cost a
 * program run per row: opening drops them, and writing goes on. */
static void test_old_guard_triggers_are_dropped_on_open(void)
{
    fs_replica *r = fresh("r");
    uint8_t cid[16];
    add_customer(r, "Acme", cid);
    CHECK_EQ_INT(exec_rc(r,
                         "CREATE TRIGGER customer_guard_1 BEFORE UPDATE ON customer"
                         " BEGIN SELECT RAISE(ABORT, 'old guard'); END;"
                         "CREATE TRIGGER changelog_guard_0 BEFORE INSERT ON changelog"
                         " BEGIN SELECT RAISE(ABORT, 'old guard'); END;"
                         "CREATE TRIGGER my_own_trigger AFTER INSERT ON meta BEGIN SELECT 1; END;"),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(
        sqlite3_prepare_v2(fs__replica_db(r),
                           "SELECT group_concat(name) FROM sqlite_master WHERE type='trigger'", -1,
                           &st, NULL),
        SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    const char *left = (const char *)sqlite3_column_text(st, 0);
    CHECK_STR(left ? left : "", "my_own_trigger"); /* only the guards went */
    sqlite3_finalize(st);
    fs_cell c[] = {{"name", fs_text("Acme 2")}};
    CHECK_OK(fs_update(r, "customer", cid, c, 1));
    CHECK_EQ_INT(exec_rc(r, "UPDATE customer SET name='tampered'"), SQLITE_AUTH);
    fs_replica_close(r);
}

static void test_transactions_commit_or_roll_back_whole(void)
{
    fs_replica *r = fresh("r");
    uint8_t a[16], b[16];
    CHECK_OK(fs_begin(r));
    CHECK_ERR(fs_begin(r), FS_ESTATE);
    add_customer(r, "one", a);
    add_customer(r, "two", b);
    fs_rollback(r);
    CHECK_EQ_INT(count_rows(r, "customer"), 0);
    CHECK_EQ_INT(last_seq(r), 0);
    CHECK_OK(fs_begin(r));
    add_customer(r, "one", a);
    add_customer(r, "two", b);
    CHECK_OK(fs_commit(r));
    CHECK_EQ_INT(count_rows(r, "customer"), 2);
    /* A write that fails validation inside a transaction leaves the rest. */
    CHECK_OK(fs_begin(r));
    add_customer(r, "three", a);
    fs_cell bad[] = {{"name", fs_text("")}};
    CHECK_ERR(fs_insert(r, "customer", bad, 1, b), FS_EREQUIRED);
    CHECK_OK(fs_commit(r));
    CHECK_EQ_INT(count_rows(r, "customer"), 3);
    CHECK_ERR(fs_commit(r), FS_ESTATE);
    fs_replica_close(r);
}

static void test_apply_is_idempotent_and_order_free(void)
{
    fs_replica *src = fresh("src");
    char srcdir[600];
    snprintf(srcdir, sizeof srcdir, "%s", rdir);
    uint8_t id[16];
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "客戶 %d", i);
        add_customer(src, name, id);
        fs_cell c[] = {{"industry", fs_text("制造")}, {"size", fs_text("500+")}};
        CHECK_OK(fs_update(src, "customer", id, c, 2));
        if (i % 5 == 0)
            CHECK_OK(fs_delete(src, "customer", id));
    }
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(src, 0, 1000, &cs));
    uint8_t h0[32], h1[32], h2[32], h3[32];
    CHECK_OK(fs_replica_state_hash(src, h0));

    fs_replica *a = fresh("a");
    fs_apply_stats st;
    CHECK_OK(fs_apply(a, cs->changes, cs->count, &st));
    CHECK_EQ_INT(st.applied, cs->count);
    CHECK_OK(fs_replica_state_hash(a, h1));
    CHECK_MEM(h0, h1, 32);
    CHECK_OK(fs_apply(a, cs->changes, cs->count, &st)); /* again */
    CHECK_EQ_INT(st.applied, 0);
    CHECK_EQ_INT(st.ignored, cs->count);
    CHECK_OK(fs_replica_state_hash(a, h2));
    CHECK_MEM(h0, h2, 32);
    CHECK_EQ_INT(last_seq(a), 0); /* remote changes are not this device's log */

    fs_replica *b = fresh("b");
    fs_change *rev = malloc(cs->count * sizeof *rev);
    CHECK(rev != NULL);
    for (size_t i = 0; i < cs->count; i++)
        rev[i] = cs->changes[cs->count - 1 - i];
    for (size_t i = 0; i < cs->count; i += 7)
        CHECK_OK(fs_apply(b, rev + i, cs->count - i < 7 ? cs->count - i : 7, NULL));
    CHECK_OK(fs_replica_state_hash(b, h3));
    CHECK_MEM(h0, h3, 32);
    CHECK_EQ_INT(count_rows(b, "customer"), 16);
    free(rev);

    /* Bad changes are refused whole. */
    fs_change bad = cs->changes[0];
    bad.table = 999;
    CHECK_ERR(fs_apply(b, &bad, 1, NULL), FS_ESCHEMA);
    bad = cs->changes[0];
    CHECK_EQ_INT(bad.column, 1);
    bad.value = fs_int(7); /* name is text */
    CHECK_ERR(fs_apply(b, &bad, 1, NULL), FS_ETYPE);
    CHECK(strstr(fs_replica_errmsg(b), "customer.name") != NULL);
    bad = cs->changes[1];
    bad.version.hlc = ((uint64_t)(1700000000000ull + 3600000ull * 24 * 365 * 100) << 16);
    CHECK_ERR(fs_apply(b, &bad, 1, NULL), FS_ECLOCK);
    CHECK_OK(fs_replica_state_hash(b, h3));
    CHECK_MEM(h0, h3, 32);
    fs_changeset_free(cs);
    fs_replica_close(src);
    fs_replica_close(a);
    fs_replica_close(b);
}

static void test_passphrase_change_leaves_database_untouched(void)
{
    fs_replica *r = fresh("r");
    uint8_t id[16];
    add_customer(r, "Acme", id);
    fs_replica_close(r);
    char db[700];
    snprintf(db, sizeof db, "%s/replica.db", rdir);
    unsigned char h_before[32], h_after[32];
    FILE *f = fopen(db, "rb");
    CHECK(f != NULL);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    crypto_generichash(h_before, 32, buf, n, NULL, 0);
    CHECK_ERR(fs_replica_change_passphrase(rdir, "bad", 3, "new", 3), FS_EPASSPHRASE);
    CHECK_OK(fs_replica_change_passphrase(rdir, "pw", 2, "new passphrase", 14));
    f = fopen(db, "rb");
    CHECK(f != NULL);
    CHECK_EQ_INT(fread(buf, 1, sizeof buf, f), n);
    fclose(f);
    crypto_generichash(h_after, 32, buf, n, NULL, 0);
    CHECK_MEM(h_before, h_after, 32);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_ERR(fs_replica_open(&r, rdir, "pw", 2, &o), FS_EPASSPHRASE);
    CHECK(r == NULL);
    CHECK(strstr(fs_replica_errmsg(NULL), "wrong passphrase") != NULL);
    r = open_again(rdir, "new passphrase");
    CHECK_EQ_INT(fs_exists(r, "customer", id), 1);
    fs_replica_close(r);
    struct stat st;
    CHECK(stat(db, &st) == 0 && (st.st_mode & 077) == 0); /* owner only */
}

static void test_create_and_open_errors(void)
{
    fs_replica *r = fresh("r");
    fs_replica_close(r);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_ERR(fs_replica_create(&r, rdir, "pw", 2, &o), FS_EEXIST);
    CHECK(strstr(fs_replica_errmsg(NULL), "already exists") != NULL);
    char other[700];
    snprintf(other, sizeof other, "%s-none", rdir);
    CHECK_ERR(fs_replica_open(&r, other, "pw", 2, &o), FS_ENOTFOUND);
    CHECK_ERR(fs_replica_create(&r, other, "", 0, &o), FS_EINVAL);
}

static void test_second_process_is_refused(void)
{
    fs_replica *r = fresh("r");
    int to_child[2], to_parent[2];
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    fs_replica_close(r);
    pid_t pid = fork();
    if (pid == 0) {
        fs_replica *c = open_again(rdir, "pw");
        uint8_t id[16];
        add_customer(c, "held", id);
        char x = 'r';
        if (write(to_parent[1], &x, 1) != 1 || read(to_child[0], &x, 1) != 1)
            _exit(2);
        fs_replica_close(c);
        _exit(0);
    }
    char x;
    CHECK_EQ_INT(read(to_parent[0], &x, 1), 1);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    int rc = fs_replica_open(&r, rdir, "pw", 2, &o);
    CHECK_EQ_INT(write(to_child[1], &x, 1), 1);
    int wst;
    waitpid(pid, &wst, 0);
    CHECK_ERR(rc, FS_EBUSY);
    CHECK(strstr(fs_replica_errmsg(NULL), "another process") != NULL);
    r = open_again(rdir, "pw");
    CHECK_EQ_INT(count_rows(r, "customer"), 1);
    fs_replica_close(r);
}

/* Two processes opening one replica at the same instant both get in, one
 * after the other. To make the collision certain rather than lucky, this
 * process holds a read lock on SQLite's shared-lock bytes while both start,
 * so each gets its shared lock and is refused the exclusive one; then it
 * lets go. Holding on to the shared lock while waiting for the exclusive
 * one, as SQLite's busy handler does, deadlocks the two until the timeout. */
static void test_two_processes_opening_at_once_both_get_in(void)
{
    fs_replica_close(fresh("twice"));
    char dbpath[700];
    snprintf(dbpath, sizeof dbpath, "%s/replica.db", rdir);
    int fd = open(dbpath, O_RDWR);
    CHECK(fd >= 0);
    struct flock fl = {
        .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0x40000002, .l_len = 510};
    CHECK(fcntl(fd, F_SETLK, &fl) == 0);
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            fs_replica *c = NULL;
            fs_replica_opts o = {.kdf = &fs_kdf_minimum, .busy_ms = 5000};
            if (fs_replica_open(&c, rdir, "pw", 2, &o) != 0) {
                fprintf(stderr, "child %d: %s\n", i, fs_replica_errmsg(NULL));
                _exit(1);
            }
            uint8_t id[16];
            add_customer(c, i ? "second" : "first", id);
            fs_replica_close(c);
            _exit(0);
        }
    }
    struct timespec held = {0, 400 * 1000000L};
    nanosleep(&held, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    close(fd); /* lets go of the read lock */
    for (int i = 0; i < 2; i++) {
        int wst = 0;
        CHECK(waitpid(pids[i], &wst, 0) == pids[i]);
        CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms < 3000); /* not the whole busy timeout */
    fs_replica *r = open_again(rdir, "pw");
    CHECK_EQ_INT(count_rows(r, "customer"), 2);
    fs_replica_close(r);
}

/* fs_utf8_valid against the C library's UTF-8 decoder (mbrtowc in
 * C.UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF), on
 * 50,000 strings of ASCII runs (across the 8-byte fast path's edges), valid
 * 2-4 byte characters and random bytes. */
static int utf8_by_libc(const unsigned char *p, size_t n)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < n;) {
        if (p[i] == 0) {
            i++;
            continue;
        }
        size_t k = mbrtowc(NULL, (const char *)p + i, n - i, &st);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
            return 0;
        i += k;
    }
    return 1;
}

static void test_utf8_check_agrees_with_libc(void)
{
    CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL);
    static const char *const pieces[] = {"a",
                                         "abcdefg",
                                         "0123456789abcdef",
                                         "\xc3\xa9",
                                         "\xe5\xae\xa2",
                                         "\xf0\x9f\x98\x80",
                                         "\xed\x9f\xbf",
                                         "\xef\xbf\xbd"};
    rng g = {20231010};
    unsigned char buf[64];
    int valid = 0;
    for (int t = 0; t < 50000; t++) {
        size_t n = 0;
        while (n < 40) {
            unsigned pick = rng_below(&g, 10);
            if (pick < 8) {
                size_t len = strlen(pieces[pick]);
                memcpy(buf + n, pieces[pick], len);
                n += len;
            } else {
                buf[n++] = (unsigned char)rng_below(&g, 256);
            }
            if (rng_below(&g, 6) == 0)
                break;
        }
        int want = utf8_by_libc(buf, n);
        valid += want;
        if (fs_utf8_valid(buf, n) != want)
            FAIL("string %d (%zu bytes): fs_utf8_valid says %d, libc %d", t, n, !want, want);
    }
    CHECK(valid > 5000 && valid < 45000); /* both kinds were tried */
}

static void test_resolve_id_prefix(void)
{
    fs_replica *r = fresh("r");
    uint8_t id[16], got[16];
    add_customer(r, "Acme", id);
    char hex[33];
    fs_id_to_hex(id, hex);
    char prefix[9];
    memcpy(prefix, hex, 8);
    prefix[8] = '\0';
    CHECK_OK(fs_resolve_id(r, "customer", prefix, got));
    CHECK_MEM(got, id, 16);
    CHECK_OK(fs_resolve_id(r, "customer", hex, got));
    CHECK_ERR(fs_resolve_id(r, "customer", "abc", got), FS_EINVAL);
    CHECK_ERR(fs_resolve_id(r, "customer", "zzzzzzzz", got), FS_EINVAL);
    CHECK_ERR(fs_resolve_id(r, "visit", prefix, got), FS_ENOTFOUND);
    uint8_t back[16];
    CHECK_OK(fs_id_from_hex(hex, back));
    CHECK_MEM(back, id, 16);
    CHECK_ERR(fs_id_from_hex("12", back), FS_EINVAL);
    fs_replica_close(r);
}

static uint64_t fixed_clock(void *ctx)
{
    return *(const uint64_t *)ctx;
}

/* New rows' ids start with the clock's milliseconds (so they sort by
 * creation, which keeps B-tree writes at the right edge) and end in random
 * bytes; the text form leads with the random bytes, so records made in the
 * same second still differ in the 8 digits `list` shows, and those digits
 * find them. */
static void test_row_ids_sort_by_creation_and_read_apart(void)
{
    char *dir = test_tmpdir();
    snprintf(rdir, sizeof rdir, "%s/ids", dir);
    uint64_t now = 1700000000123ull;
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .clock_ms = fixed_clock, .clock_ctx = &now};
    CHECK_OK(fs_replica_create(&r, rdir, "pw", 2, &o));
    enum { N = 40 };
    uint8_t ids[N][16];
    char text[N][33];
    for (int i = 0; i < N; i++) {
        now += i % 4 == 0; /* four rows in each millisecond */
        add_customer(r, "Acme", ids[i]);
        uint64_t ms = 0;
        for (int k = 0; k < FS_ID_CLOCK_BYTES; k++)
            ms = ms << 8 | ids[i][k];
        CHECK_EQ_INT(ms, now);
        fs_id_to_hex(ids[i], text[i]);
        /* text: bytes 6..15, then the clock */
        char clock[13];
        snprintf(clock, sizeof clock, "%012llx", (unsigned long long)now);
        CHECK_STR(text[i] + 20, clock);
        uint8_t back[16];
        CHECK_OK(fs_id_from_hex(text[i], back));
        CHECK_MEM(back, ids[i], 16);
        if (i > 0 && i % 4 != 0)
            CHECK(memcmp(ids[i - 1], ids[i], FS_ID_CLOCK_BYTES) == 0);
        if (i > 0 && i % 4 == 0)
            CHECK(memcmp(ids[i - 1], ids[i], 16) < 0); /* a later millisecond sorts after */
    }
    size_t distinct = 0;
    for (int i = 0; i < N; i++) {
        int dup = 0;
        for (int k = 0; k < i; k++)
            dup |= strncmp(text[i], text[k], 8) == 0;
        distinct += !dup;
        char shown[9];
        memcpy(shown, text[i], 8);
        shown[8] = '\0';
        uint8_t got[16];
        if (!dup) {
            CHECK_OK(fs_resolve_id(r, "customer", shown, got));
            CHECK_MEM(got, ids[i], 16);
        }
        CHECK_OK(fs_resolve_id(r, "customer", text[i], got));
        CHECK_MEM(got, ids[i], 16);
    }
    CHECK(distinct >= N - 1); /* 32 random bits in the 8 digits */
    fs_replica_close(r);
}

/* No core dump may carry decrypted pages or keys to disk. */
static void test_process_hardening(void)
{
    struct rlimit rl;
    CHECK_OK(fs_harden_process());
    CHECK(getrlimit(RLIMIT_CORE, &rl) == 0);
    CHECK_EQ_INT(rl.rlim_cur, 0);
    CHECK_EQ_INT(rl.rlim_max, 0);
    CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

/* The device's signing identity lives in the encrypted replica and names the
 * device: the id in its versions is derived from the public key. */
static void test_identity_is_kept_and_names_the_device(void)
{
    fs_replica *r = fresh("r");
    fs_identity *id = NULL, *again = NULL;
    uint8_t dev[16], derived[16];
    CHECK_OK(fs_replica_identity(r, &id));
    fs_replica_device(r, dev);
    fs_device_id_from_pk(id->pk, derived);
    CHECK_MEM(dev, derived, 16);
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (const unsigned char *)"hello", 5, id->sk);
    CHECK_EQ_INT(crypto_sign_verify_detached(sig, (const unsigned char *)"hello", 5, id->pk), 0);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    CHECK_OK(fs_replica_identity(r, &again));
    CHECK_MEM(again->pk, id->pk, 32);
    fs_replica_close(r);
    /* The seed (the first half of the secret key) is nowhere on disk. */
    char db[700];
    snprintf(db, sizeof db, "%s/replica.db", rdir);
    size_t n = 0;
    unsigned char *bytes = test_read_file(db, &n);
    CHECK(bytes != NULL);
    for (size_t i = 0; i + 32 <= n; i++)
        CHECK(memcmp(bytes + i, id->sk, 32) != 0);
    free(bytes);
    /* An identity swapped for another under the device id is refused. */
    r = open_again(rdir, "pw");
    CHECK_EQ_INT(sqlite3_exec(fs__replica_db(r),
                              "UPDATE meta SET v=randomblob(32) WHERE k='identity'", NULL, NULL,
                              NULL),
                 SQLITE_OK);
    fs_replica_close(r);
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_ERR(fs_replica_open(&r, rdir, "pw", 2, &o), FS_EFORMAT);
    CHECK(strstr(fs_replica_errmsg(NULL), "identity") != NULL);
    fs_identity_free(id);
    fs_identity_free(again);
}

/* A wiped replica is gone: key destroyed, files removed, nothing opens. */
static void test_wipe_destroys_the_replica(void)
{
    fs_replica *r = fresh("r");
    uint8_t id[16];
    add_customer(r, "Wiped Co.", id);
    fs_replica_close(r);
    CHECK_OK(fs_replica_wipe(rdir));
    char path[700];
    static const char *const files[] = {"replica.key", "replica.db", "replica.db-wal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", rdir, files[i]);
        CHECK(access(path, F_OK) != 0);
    }
    fs_replica_opts o = {.kdf = &fs_kdf_minimum};
    CHECK_ERR(fs_replica_open(&r, rdir, "pw", 2, &o), FS_ENOTFOUND);
    CHECK_ERR(fs_replica_wipe(rdir), FS_ENOTFOUND);
}

/* Opening with an unwrapped key (the unlock agent's way): the replica's own
 * key opens it; another replica's key, or none, is refused by name. */
static void test_open_with_a_key(void)
{
    fs_replica *r = fresh("a");
    uint8_t id[FS_ID_BYTES];
    fs_cell c[] = {{"name", fs_text("keyed")}};
    CHECK_OK(fs_insert(r, "customer", c, 1, id));
    fs_replica_close(r);
    char a[600], keypath[700];
    snprintf(a, sizeof a, "%s", rdir);
    fs_replica_close(fresh("b"));
    snprintf(keypath, sizeof keypath, "%s/replica.key", rdir);
    fs_secret *kb = NULL, *ka = NULL;
    CHECK_OK(fs_keyfile_unlock(keypath, "pw", 2, &kb));
    snprintf(keypath, sizeof keypath, "%s/replica.key", a);
    CHECK_OK(fs_keyfile_unlock(keypath, "pw", 2, &ka));

    CHECK_OK(fs_replica_open_secret(&r, a, ka, NULL));
    CHECK_EQ_INT(count_rows(r, "customer"), 1);
    fs_replica_close(r);
    CHECK_ERR(fs_replica_open_secret(&r, a, kb, NULL), FS_EPASSPHRASE);
    CHECK(r == NULL);
    CHECK(strstr(fs_replica_errmsg(NULL), "not the key") != NULL);
    CHECK_ERR(fs_replica_open_secret(&r, a, NULL, NULL), FS_EPASSPHRASE);
    /* Same database id, wrong key bytes: page authentication refuses it. */
    kb->key[0] ^= 1;
    memcpy(kb->dbid, ka->dbid, sizeof kb->dbid);
    CHECK(fs_replica_open_secret(&r, a, kb, NULL) != 0);
    CHECK(r == NULL);
    fs_secret_free(ka);
    fs_secret_free(kb);
}

/* The text of a row's column ("" when not text). */
static void cell_text(fs_replica *r, const char *table, const uint8_t id[16], const char *col,
                      char *out, size_t cap)
{
    fs_rows *it = NULL;
    out[0] = '\0';
    CHECK_OK(fs_rows_open(&it, r, table, NULL, NULL, NULL));
    while (fs_rows_next(it) == 1) {
        fs_value v;
        if (memcmp(fs_rows_id(it), id, 16) != 0)
            continue;
        CHECK_OK(fs_rows_get(it, col, &v));
        if (v.type == FS_TEXT)
            snprintf(out, cap, "%.*s", (int)v.n, (const char *)v.p);
    }
    fs_rows_close(it);
}

/* The device adopts the user and team the server knows it by: records made
 * under another local name are re-attributed while nothing has reached a
 * server, not after; adopting the same names again writes nothing. */
static void test_adopt_user_from_the_server(void)
{
    fs_replica *r = fresh("adopt");
    uint8_t mine[16], other[16], report[16], spot[16];
    char buf[80], prev[FS_USER_MAX + 1];
    size_t n = 99;
    CHECK_OK(fs_replica_set_user(r, "zhang"));
    fs_cell c1[] = {{"name", fs_text("A")}, {"owner", fs_text("zhang")}};
    fs_cell c2[] = {{"name", fs_text("B")}, {"owner", fs_text("wang")}};
    CHECK_OK(fs_insert(r, "customer", c1, 2, mine));
    CHECK_OK(fs_insert(r, "customer", c2, 2, other));
    fs_cell dr[] = {{"rep", fs_text("zhang")}, {"kind", fs_text("plan")},
                    {"date", fs_text("2023-10-10")}, {"content", fs_text("visits")}};
    CHECK_OK(fs_insert(r, "daily_report", dr, 4, report));
    fs_cell sc[] = {{"supervisor", fs_text("zhang")}, {"rep", fs_text("wang")},
                    {"record_table", fs_text("visit")}, {"accurate", fs_int(1)},
                    {"checked_at", fs_text("2023-10-13 17:00")}};
    CHECK_OK(fs_insert(r, "spot_check", sc, 5, spot));
    uint64_t before = last_seq(r);
    CHECK_ERR(fs_replica_adopt_user(r, "", "east", prev, sizeof prev, &n), FS_EINVAL);
    CHECK_EQ_INT(last_seq(r), before);
    CHECK_OK(fs_replica_adopt_user(r, "zhangwei", "east", prev, sizeof prev, &n));
    CHECK_STR(prev, "zhang");
    CHECK_EQ_INT(n, 3); /* the customer's owner, the report's rep, the spot-check's signer */
    CHECK_EQ_INT(last_seq(r), before + 3);
    cell_text(r, "customer", mine, "owner", buf, sizeof buf);
    CHECK_STR(buf, "zhangwei");
    cell_text(r, "customer", other, "owner", buf, sizeof buf);
    CHECK_STR(buf, "wang");
    cell_text(r, "daily_report", report, "rep", buf, sizeof buf);
    CHECK_STR(buf, "zhangwei");
    cell_text(r, "spot_check", spot, "supervisor", buf, sizeof buf);
    CHECK_STR(buf, "zhangwei");
    CHECK_OK(fs_replica_user(r, buf));
    CHECK_STR(buf, "zhangwei");
    CHECK_OK(fs_replica_setting(r, "team", buf, sizeof buf));
    CHECK_STR(buf, "east");
    /* the same names again: nothing to do */
    CHECK_OK(fs_replica_adopt_user(r, "zhangwei", "east", prev, sizeof prev, &n));
    CHECK_STR(prev, "");
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(last_seq(r), before + 3);
    /* once enrolled, records stay as they are (an upgrade may reset the
     * cursor; the recorded server still says the device has synced) */
    uint8_t spk[32] = {1};
    CHECK_OK(fs_replica_set_server(r, "ws://127.0.0.1:9", spk));
    CHECK_OK(fs_replica_adopt_user(r, "zw", NULL, prev, sizeof prev, &n));
    CHECK_STR(prev, "zhangwei");
    CHECK_EQ_INT(n, 0);
    cell_text(r, "customer", mine, "owner", buf, sizeof buf);
    CHECK_STR(buf, "zhangwei");
    CHECK_OK(fs_replica_user(r, buf));
    CHECK_STR(buf, "zw");
    fs_replica_close(r);
}

/* ---- column groups (issue 25.7) ---- */

static uint64_t clock_of(void *ctx)
{
    return *(uint64_t *)ctx;
}

static fs_replica *clocked(const char *name, uint64_t *clock, int keep_feed)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    fs_replica *r = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum,
                         .clock_ms = clock_of,
                         .clock_ctx = clock,
                         .keep_feed = keep_feed};
    CHECK_OK(fs_replica_create(&r, path, "pw", 2, &o));
    return r;
}

/* Applies everything from's change log holds to to (a device's push, or a
 * peer's changes reaching another). */
static void send_log(fs_replica *from, fs_replica *to)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(from, 0, 100000, &cs));
    CHECK_OK(fs_apply(to, cs->changes, cs->count, NULL));
    fs_changeset_free(cs);
}

/* A device's pull of a server's whole feed. */
static void pull_feed(fs_replica *server, fs_replica *to)
{
    fs_changeset *cs = NULL;
    CHECK_OK(fs_feed_since(server, 0, 100000, &cs));
    CHECK_OK(fs_apply(to, cs->changes, cs->count, NULL));
    fs_changeset_free(cs);
}

typedef struct lost_values {
    int status;  /* a conflict keeps the losing status */
    int done_at; /* ... and the losing done_at */
    const char *status_text, *done_at_text;
    uint8_t id[16]; /* the conflict of the lost status */
} lost_values;

static int count_open(const fs_conflict *c, void *ctx)
{
    (void)c;
    (*(size_t *)ctx)++;
    return 0;
}

static int find_lost(const fs_conflict *c, void *ctx)
{
    lost_values *lv = ctx;
    const char *want[2] = {lv->status_text, lv->done_at_text};
    int *seen[2] = {&lv->status, &lv->done_at};
    for (int k = 0; k < 2; k++)
        if (want[k] != NULL && c->loser.type == FS_TEXT && c->loser.n == strlen(want[k]) &&
            memcmp(c->loser.p, want[k], c->loser.n) == 0) {
            (*seen[k])++;
            if (k == 0)
                memcpy(lv->id, c->id, 16);
        }
    return 0;
}

/* A commitment (open) made on r, in id. */
static void add_commitment(fs_replica *r, uint8_t id[16])
{
    uint8_t cust[16];
    add_customer(r, "Acme", cust);
    fs_cell c[] = {{"customer", fs_blob(cust, 16)},
                   {"text", fs_text("send the SLA")},
                   {"due", fs_text("2025-10-12")},
                   {"status", fs_text("open")}};
    CHECK_OK(fs_insert(r, "commitment", c, 4, id));
}

/* The finding of issue 25.7: one laptop marks a commitment done, the other
 * cancels it; a third replica receives both, in either order. Every replica
 * ends with the state one writer made (never "cancelled" with the other's
 * done_at), the same state hash, and the loser's values in conflicts. */
static void test_group_is_decided_whole(void)
{
    const char *at = "2025-10-09 12:00";
    for (int cancel_wins = 0; cancel_wins < 2; cancel_wins++) {
        for (int order = 0; order < 2; order++) {
            uint64_t clk[3] = {1760000000000ull, 1760000000000ull, 1760000000000ull};
            char name[3][32];
            fs_replica *r[3];
            for (int i = 0; i < 3; i++) {
                snprintf(name[i], sizeof name[i], "g%d%d%d", cancel_wins, order, i);
                r[i] = clocked(name[i], &clk[i], 0);
            }
            uint8_t id[16];
            add_commitment(r[0], id);
            send_log(r[0], r[1]);
            send_log(r[0], r[2]);
            /* r0 marks it done, r1 cancels it (as the CLI does: the status
             * alone); the later clock wins */
            clk[0] += cancel_wins ? 1000 : 3000;
            clk[1] += cancel_wins ? 3000 : 1000;
            fs_cell done[] = {{"status", fs_text("done")}, {"done_at", fs_text(at)}};
            CHECK_OK(fs_update(r[0], "commitment", id, done, 2));
            fs_cell cancel[] = {{"status", fs_text("cancelled")}};
            CHECK_OK(fs_update(r[1], "commitment", id, cancel, 1));
            send_log(r[order ? 1 : 0], r[2]);
            send_log(r[order ? 0 : 1], r[2]);
            send_log(r[1], r[0]);
            send_log(r[0], r[1]);
            for (int round = 0; round < 2; round++) /* the conflict records travel too */
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        if (i != j)
                            send_log(r[i], r[j]);
            uint8_t h[3][32];
            for (int i = 0; i < 3; i++) {
                char state[96];
                test_group_state(r[i], id, state, sizeof state);
                CHECK_STR(state, cancel_wins ? "cancelled|NULL" : "done|2025-10-09 12:00");
                CHECK_OK(fs_replica_state_hash(r[i], h[i]));
                lost_values lv = {0, 0, cancel_wins ? "done" : "cancelled",
                                  cancel_wins ? at : NULL, {0}};
                CHECK_OK(fs_conflicts(r[i], 0, find_lost, &lv));
                CHECK_EQ_INT(lv.status, 1);
                CHECK_EQ_INT(lv.done_at, cancel_wins ? 1 : 0);
            }
            CHECK(memcmp(h[0], h[1], 32) == 0);
            CHECK(memcmp(h[0], h[2], 32) == 0);
            /* Restoring the lost status brings back its group whole. */
            lost_values lv = {0, 0, cancel_wins ? "done" : "cancelled", NULL, {0}};
            CHECK_OK(fs_conflicts(r[2], 0, find_lost, &lv));
            CHECK_OK(fs_conflict_resolve(r[2], lv.id, FS_CONFLICT_RESTORED));
            char state[96];
            test_group_state(r[2], id, state, sizeof state);
            CHECK_STR(state, cancel_wins ? "done|2025-10-09 12:00" : "cancelled|NULL");
            size_t open = 0;
            CHECK_OK(fs_conflicts(r[2], 0, count_open, &open));
            CHECK_EQ_INT(open, 0);
            for (int i = 0; i < 3; i++)
                fs_replica_close(r[i]);
        }
    }
}

/* Older devices write a group a column at a time and merge column by column.
 * The server decides the group and writes its decision again at a fresh
 * clock, so every replica lands on it whichever order the server got the
 * two writes in; the done_at that lost is kept in a conflict. */
static void test_server_decides_groups_for_older_devices(void)
{
    const char *at = "2025-10-09 12:00";
    for (int order = 0; order < 2; order++) {
        uint64_t clk[4] = {1760000000000ull, 1760000000000ull, 1760000000000ull,
                           1760000000000ull};
        char name[4][32];
        fs_replica *r[4]; /* r[3] is the server */
        for (int i = 0; i < 4; i++) {
            snprintf(name[i], sizeof name[i], "o%d%d", order, i);
            r[i] = clocked(name[i], &clk[i], i == 3);
        }
        uint8_t id[16];
        add_commitment(r[0], id);
        send_log(r[0], r[3]);
        pull_feed(r[3], r[1]);
        pull_feed(r[3], r[2]);
        clk[0] += 1000;
        clk[1] += 3000;
        clk[3] += 5000;
        fs_cell done[] = {{"status", fs_text("done")}, {"done_at", fs_text(at)}};
        CHECK_OK(fs_update(r[0], "commitment", id, done, 2));
        test_old_partial_write(r[1], id, "status", "cancelled");
        send_log(r[order ? 1 : 0], r[3]);
        send_log(r[order ? 0 : 1], r[3]);
        char state[96];
        test_group_state(r[3], id, state, sizeof state);
        CHECK_STR(state, "cancelled|NULL");
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < 3; i++) {
                pull_feed(r[3], r[i]);
                send_log(r[i], r[3]);
            }
        uint8_t h[4][32];
        for (int i = 0; i < 4; i++) {
            test_group_state(r[i], id, state, sizeof state);
            CHECK_STR(state, "cancelled|NULL");
            CHECK_OK(fs_replica_state_hash(r[i], h[i]));
            lost_values lv = {0, 0, "done", at, {0}};
            CHECK_OK(fs_conflicts(r[i], 0, find_lost, &lv));
            CHECK_EQ_INT(lv.status, 1);
            CHECK_EQ_INT(lv.done_at, 1);
        }
        for (int i = 1; i < 4; i++)
            CHECK(memcmp(h[0], h[i], 32) == 0);
        for (int i = 0; i < 4; i++)
            fs_replica_close(r[i]);
    }
}

typedef struct hist {
    size_t n, local;
    char seen[16][48]; /* "column=value" in the order given */
    uint64_t last_hlc;
    int ordered;
} hist;

static int hist_cb(const fs_history_entry *e, void *ctx)
{
    hist *h = ctx;
    unsigned nt;
    const fs_table *t = &fs_schema_tables(&nt)[fs_schema_table_index("customer")];
    if (h->n < 16)
        snprintf(h->seen[h->n], sizeof h->seen[0], "%s=%.*s", t->columns[e->column].name,
                 e->value.type == FS_TEXT ? (int)e->value.n : 0,
                 e->value.type == FS_TEXT ? (const char *)e->value.p : "");
    h->ordered &= e->version.hlc >= h->last_hlc;
    h->last_hlc = e->version.hlc;
    h->local += e->local;
    h->n++;
    return 0;
}

/* Issue 17.3: a record's history holds every write of this device's (its
 * change log) and, of another device's, the one each field holds now;
 * oldest first; a deleted record has one too; ids are found in any table,
 * deleted rows included. */
static void test_row_history(void)
{
    fs_replica *a = fresh("ha");
    uint8_t id[16], found[16];
    add_customer(a, "华信", id);
    fs_cell c1[] = {{"industry", fs_text("制造")}};
    CHECK_OK(fs_update(a, "customer", id, c1, 1));
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(a, 0, 1000, &cs));
    fs_replica *b = fresh("hb");
    CHECK_OK(fs_apply(b, cs->changes, cs->count, NULL));
    fs_changeset_free(cs);
    fs_cell c2[] = {{"industry", fs_text("物流")}};
    CHECK_OK(fs_update(b, "customer", id, c2, 1));
    unsigned tix = 99;
    char hex[33];
    fs_id_to_hex(id, hex);
    hex[8] = '\0';
    CHECK_OK(fs_find_row(b, hex, &tix, found));
    CHECK_EQ_INT(tix, (unsigned)fs_schema_table_index("customer"));
    CHECK_MEM(found, id, 16);
    hist h = {.ordered = 1};
    CHECK_OK(fs_row_history(b, tix, id, hist_cb, &h));
    CHECK_EQ_INT(h.local, 1);
    CHECK(h.ordered);
    CHECK_STR(h.seen[h.n - 1], "industry=物流"); /* newest last */
    int name_seen = 0;
    for (size_t i = 0; i < h.n && i < 16; i++)
        name_seen |= strcmp(h.seen[i], "name=华信") == 0;
    CHECK(name_seen); /* a's write, as b holds it */
    /* on a: its two writes of industry, both kept in its log */
    hist ha = {.ordered = 1};
    CHECK_OK(fs_row_history(a, tix, id, hist_cb, &ha));
    CHECK_EQ_INT(ha.local, ha.n);
    int industry = 0;
    for (size_t i = 0; i < ha.n && i < 16; i++)
        industry += strncmp(ha.seen[i], "industry=", 9) == 0;
    CHECK_EQ_INT(industry, 1);
    /* deleted: still found, its tombstone last */
    CHECK_OK(fs_delete(b, "customer", id));
    CHECK_OK(fs_find_row(b, hex, &tix, found));
    hist hd = {.ordered = 1};
    CHECK_OK(fs_row_history(b, tix, id, hist_cb, &hd));
    CHECK_STR(hd.seen[hd.n - 1], "deleted=");
    CHECK_EQ_INT(hd.n, h.n + 1);
    CHECK_ERR(fs_find_row(b, "zz", &tix, found), FS_EINVAL);
    CHECK_ERR(fs_find_row(b, "000000", &tix, found), FS_ENOTFOUND);
    uint8_t none[16] = {0};
    CHECK_ERR(fs_row_history(b, tix, none, hist_cb, &hd), FS_ENOTFOUND);
    fs_replica_close(a);
    fs_replica_close(b);
}

/* Who made a row (fs_row_maker, issue 24): this device's user for its own
 * rows; another device's user from what the records it wrote signed in
 * their first write; nothing when nothing says it or two names do. */
static void test_row_maker(void)
{
    fs_replica *z = fresh("mz"), *w = fresh("mw"), *l = fresh("ml");
    CHECK_OK(fs_replica_set_user(z, "zhang"));
    CHECK_OK(fs_replica_set_user(w, "wang"));
    uint8_t cust[16], q[16], c[16], dev[16], zdev[16], ldev[16];
    char user[FS_USER_MAX + 1];
    unsigned qt = (unsigned)fs_schema_table_index("customer_question");
    add_customer(z, "华信", cust);
    fs_cell qc[] = {{"customer", fs_blob(cust, 16)},
                    {"question", fs_text("能否分期付款")},
                    {"asked_at", fs_text("2026-12-05 10:00")}};
    CHECK_OK(fs_insert(z, "customer_question", qc, 3, q));
    fs_replica_device(z, zdev);
    fs_replica_device(l, ldev);
    /* on its own device: its user */
    CHECK_OK(fs_row_maker(z, qt, q, dev, user));
    CHECK_MEM(dev, zdev, 16);
    CHECK_STR(user, "zhang");
    /* on another, with nothing zhang's device signed: the device only */
    send_log(z, w);
    CHECK_OK(fs_row_maker(w, qt, q, dev, user));
    CHECK_MEM(dev, zdev, 16);
    CHECK_STR(user, "");
    /* an answer written later does not make wang its maker */
    fs_cell ans[] = {{"answer", fs_text("可以")}};
    CHECK_OK(fs_update(w, "customer_question", q, ans, 1));
    CHECK_OK(fs_row_maker(w, qt, q, dev, user));
    CHECK_MEM(dev, zdev, 16);
    /* a complaint zhang's device signed (its receiver) names him */
    fs_cell cc[] = {{"customer", fs_blob(cust, 16)},
                    {"owner", fs_text("zhang")},
                    {"received_at", fs_text("2026-12-05 11:00")},
                    {"description", fs_text("延迟")}};
    CHECK_OK(fs_insert(z, "complaint", cc, 4, c));
    send_log(z, w);
    CHECK_OK(fs_row_maker(w, qt, q, dev, user));
    CHECK_STR(user, "zhang");
    /* a receiver written later, by another device, says nothing of li's */
    fs_cell lq[] = {{"customer", fs_blob(cust, 16)},
                    {"question", fs_text("交期")},
                    {"asked_at", fs_text("2026-12-05 12:00")}};
    uint8_t q2[16];
    send_log(z, l);
    CHECK_OK(fs_insert(l, "customer_question", lq, 3, q2));
    fs_cell own[] = {{"owner", fs_text("chen")}};
    CHECK_OK(fs_update(l, "complaint", c, own, 1));
    send_log(l, w);
    CHECK_OK(fs_row_maker(w, qt, q2, dev, user));
    CHECK_MEM(dev, ldev, 16);
    CHECK_STR(user, "");
    /* a visit li's device made, visitor li, names her */
    uint8_t v1[16], v2[16];
    fs_cell vc[] = {{"customer", fs_blob(cust, 16)}, {"time", fs_text("2026-12-03 10:00")},
                    {"place", fs_text("p")},         {"purpose", fs_text("p")},
                    {"notes", fs_text("n")},         {"visitor", fs_text("li")}};
    CHECK_OK(fs_insert(l, "visit", vc, 6, v1));
    send_log(l, w);
    CHECK_OK(fs_row_maker(w, qt, q2, dev, user));
    CHECK_STR(user, "li");
    /* two names for one device: nothing said */
    vc[5].value = fs_text("zhou");
    CHECK_OK(fs_insert(l, "visit", vc, 6, v2));
    send_log(l, w);
    CHECK_OK(fs_row_maker(w, qt, q2, dev, user));
    CHECK_STR(user, "");
    uint8_t none[16] = {0};
    CHECK_ERR(fs_row_maker(w, qt, none, dev, user), FS_ENOTFOUND);
    fs_replica_close(z);
    fs_replica_close(w);
    fs_replica_close(l);
}

/* ---- search (core/search.c) ---- */

static void add_visit(fs_replica *r, const uint8_t cust[16], const char *notes, uint8_t id[16])
{
    fs_cell v[] = {{"customer", fs_blob(cust, 16)}, {"time", fs_text("2026-12-03 10:00")},
                   {"place", fs_text("会议室")},     {"purpose", fs_text("演示")},
                   {"notes", fs_text(notes)}};
    CHECK_OK(fs_insert(r, "visit", v, 5, id));
}

/* Number of hits of q (kind or NULL); *first the first hit's id. */
static size_t found(fs_replica *r, const char *q, const char *kind, uint8_t first[16])
{
    fs_search_hit h[16];
    size_t n = 0;
    CHECK_OK(fs_search(r, q, kind, h, 16, &n));
    if (n > 0 && first != NULL)
        memcpy(first, h[0].id, 16);
    return n;
}

/* Local writes: Chinese substrings (short and long), Traditional and
 * Simplified folded alike, Latin in any case, an edit's old text and a
 * deleted record gone, the kind filter, ranking, bad queries. */
static void test_search_local_writes(void)
{
    fs_replica *r = fresh("r");
    CHECK_STR(fs_fold_kind(), "t2s-char");
    uint8_t bj[16], sh[16], v1[16], v2[16], got[16];
    add_customer(r, "北京華信科技", bj);
    add_customer(r, "Acme Trading", sh);
    add_visit(r, bj, "客户关心数据安全，要求下周提供加密方案的详细说明", v1);
    add_visit(r, sh, "價格偏高，需要再談折扣", v2);
    CHECK_EQ_INT(found(r, "加密方案", NULL, got), 1);
    CHECK_MEM(got, v1, 16);
    CHECK_EQ_INT(found(r, "华信", NULL, got), 1); /* two characters: the scan */
    CHECK_MEM(got, bj, 16);
    CHECK_EQ_INT(found(r, "華信科技", NULL, got), 1); /* Traditional query, index */
    CHECK_MEM(got, bj, 16);
    CHECK_EQ_INT(found(r, "价格偏高", NULL, got), 1); /* Simplified query, Traditional text */
    CHECK_MEM(got, v2, 16);
    CHECK_EQ_INT(found(r, "加密 說明", NULL, got), 1); /* words ANDed, one short */
    CHECK_EQ_INT(found(r, "加密 折扣", NULL, NULL), 0);
    CHECK_EQ_INT(found(r, "ACME", NULL, got), 1);
    CHECK_MEM(got, sh, 16);
    CHECK_EQ_INT(found(r, "acme", "visit", NULL), 0);
    CHECK_EQ_INT(found(r, "数据安全", "visit", NULL), 1);
    CHECK_EQ_INT(found(r, "数据安全", "customer", NULL), 0);
    /* Ranked: the record saying it twice first. */
    uint8_t v3[16];
    add_visit(r, sh, "方案一、方案二、方案三都讨论了方案", v3);
    CHECK_EQ_INT(found(r, "方案", NULL, NULL), 2);
    CHECK_EQ_INT(found(r, "讨论了方案", NULL, got), 1);
    CHECK_EQ_INT(found(r, "的方案", NULL, NULL), 0);
    /* An edit: the old text is gone, the new one found. */
    fs_cell e[] = {{"notes", fs_text("改为线下演示")}};
    CHECK_OK(fs_update(r, "visit", v1, e, 1));
    CHECK_EQ_INT(found(r, "加密方案", NULL, NULL), 0);
    CHECK_EQ_INT(found(r, "线下演示", NULL, got), 1);
    CHECK_MEM(got, v1, 16);
    /* A write of other columns leaves the text as it was. */
    fs_cell p[] = {{"place", fs_text("线上会议")}};
    CHECK_OK(fs_update(r, "visit", v1, p, 1));
    CHECK_EQ_INT(found(r, "线下演示", NULL, NULL), 1);
    CHECK_EQ_INT(found(r, "线上会议", NULL, NULL), 1);
    /* Deleted: not found, by either path. */
    CHECK_OK(fs_delete(r, "visit", v1));
    CHECK_EQ_INT(found(r, "线下演示", NULL, NULL), 0);
    CHECK_OK(fs_delete(r, "customer", bj));
    CHECK_EQ_INT(found(r, "华信", NULL, NULL), 0);
    fs_search_hit h[2];
    size_t n = 0;
    CHECK_ERR(fs_search(r, "", NULL, h, 2, &n), FS_EINVAL);
    CHECK_ERR(fs_search(r, "   ", NULL, h, 2, &n), FS_EINVAL);
    CHECK_ERR(fs_search(r, "x", "weekly_plan", h, 2, &n), FS_EINVAL);
    char longq[600];
    memset(longq, 'a', sizeof longq - 1);
    longq[sizeof longq - 1] = '\0';
    CHECK_ERR(fs_search(r, longq, NULL, h, 2, &n), FS_EINVAL);
    CHECK_ERR(fs_search(r, "a b c d e f g h i", NULL, h, 2, &n), FS_EINVAL);
    CHECK_EQ_INT(found(r, "\"方案\" OR x", NULL, NULL), 0); /* no query syntax */
    CHECK_EQ_INT(found(r, "讨论了\"方案", NULL, NULL), 0);
    /* Writes queued and not yet searched survive a close; a record written
     * and deleted before any search is never found; in a transaction, a
     * search sees the transaction's own writes. */
    char dir[600];
    snprintf(dir, sizeof dir, "%s", rdir);
    uint8_t v4[16], v5[16];
    add_visit(r, sh, "关门前写下的备忘", v4);
    add_visit(r, sh, "写了又删掉的内容", v5);
    CHECK_OK(fs_delete(r, "visit", v5));
    fs_replica_close(r);
    r = open_again(dir, "pw");
    CHECK_EQ_INT(found(r, "写下的备忘", NULL, got), 1);
    CHECK_MEM(got, v4, 16);
    CHECK_EQ_INT(found(r, "又删掉", NULL, NULL), 0);
    CHECK_OK(fs_begin(r));
    add_visit(r, sh, "事务里的记录", v5);
    CHECK_EQ_INT(found(r, "事务里的", NULL, got), 1);
    fs_rollback(r);
    CHECK_EQ_INT(found(r, "事务里的", NULL, NULL), 0);
    fs_replica_close(r);
}

/* Changes pulled from another replica keep the index: new records found,
 * edited ones by their new text only, deleted and purged ones not at all. */
static uint64_t sql_u64(fs_replica *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r), sql, -1, &st, NULL), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    uint64_t v = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A local write queues nothing of its own: its change-log entries above
 * meta 'search_log' are the queue's tail. Counted as queued, found by a
 * search; through a new identity (the log's acknowledged entries deleted,
 * the rest numbered again from 1) every record stays findable and the
 * writes after it too; a replica of a build that queued every write (no
 * mark, records in the queue) has its queue kept at open. */
/* fs_replica_stmt: one statement per text, kept reset between uses; a
 * second use while lent out gets its own; a buffer whose text changed is
 * prepared anew; more texts than it keeps give way in turn. */
static void test_statements_kept_by_text(void)
{
    fs_replica *r = fresh("r");
    static const char q1[] = "SELECT ?1 + 1";
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(fs_replica_stmt(r, q1, &a));
    sqlite3_bind_int(a, 1, 41);
    CHECK_EQ_INT(sqlite3_step(a), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(a, 0), 42);
    CHECK_OK(fs_replica_stmt(r, q1, &b)); /* a is still lent out */
    CHECK(b != a);
    fs_replica_stmt_done(r, b);
    fs_replica_stmt_done(r, a);
    CHECK_EQ_INT(sqlite3_stmt_busy(a), 0);
    CHECK_OK(fs_replica_stmt(r, q1, &c));
    CHECK(c == a || c == b); /* kept, its binding cleared */
    CHECK_EQ_INT(sqlite3_step(c), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_type(c, 0), SQLITE_NULL);
    fs_replica_stmt_done(r, c);

    char buf[64];
    snprintf(buf, sizeof buf, "SELECT 7");
    CHECK_OK(fs_replica_stmt(r, buf, &a));
    CHECK_EQ_INT(sqlite3_step(a), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(a, 0), 7);
    fs_replica_stmt_done(r, a);
    snprintf(buf, sizeof buf, "SELECT 8"); /* same address, other text */
    CHECK_OK(fs_replica_stmt(r, buf, &b));
    CHECK_STR(sqlite3_sql(b), "SELECT 8");
    CHECK_EQ_INT(sqlite3_step(b), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(b, 0), 8);
    fs_replica_stmt_done(r, b);

    /* more texts than kept: each still right, the oldest prepared again */
    static char texts[FS__STMTS_KEPT + 8][32];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < FS__STMTS_KEPT + 8; i++) {
            snprintf(texts[i], sizeof texts[i], "SELECT %d", 1000 + i);
            CHECK_OK(fs_replica_stmt(r, texts[i], &a));
            CHECK_EQ_INT(sqlite3_step(a), SQLITE_ROW);
            CHECK_EQ_INT(sqlite3_column_int(a, 0), 1000 + i);
            fs_replica_stmt_done(r, a);
        }
    /* a failure names the statement's trouble, nothing is kept */
    CHECK(fs_replica_stmt(r, "SELECT FROM nowhere", &a) != 0);
    CHECK(a == NULL);
    fs_replica_close(r);
}

static void test_search_queue_is_the_change_log(void)
{
    fs_replica *r = fresh("r");
    uint8_t c[16], v1[16], v2[16], v3[16], v4[16], got[16];
    add_customer(r, "杭州青禾茶业", c);
    add_visit(r, c, "第一次拜访 品鉴会 alpha", v1);
    add_visit(r, c, "第二次拜访 报价单 bravo", v2);
    CHECK_EQ_INT(sql_u64(r, "SELECT count(*) FROM search_pending"), 0);
    uint64_t q = 0;
    CHECK_OK(fs_search_queued(r, &q));
    CHECK_EQ_INT(q, 3);
    CHECK_EQ_INT(found(r, "品鉴会", NULL, got), 1);
    CHECK_MEM(got, v1, 16);
    CHECK_OK(fs_search_queued(r, &q));
    CHECK_EQ_INT(q, 0);
    CHECK_EQ_INT(sql_u64(r, "SELECT v FROM meta WHERE k='search_log'"), last_seq(r));

    /* written, not searched; the first entries acknowledged; a new identity */
    add_visit(r, c, "第三次拜访 合同 charlie", v3);
    uint64_t acked = last_seq(r) - 2; /* v3's entries partly acknowledged */
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta(k,v) VALUES('acked_seq',%llu)",
             (unsigned long long)acked);
    CHECK_EQ_INT(sqlite3_exec(fs__replica_db(r), sql, NULL, NULL, NULL), SQLITE_OK);
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    uint64_t kept = 0;
    CHECK_OK(fs_replica_fork(r, seed, &kept));
    CHECK_EQ_INT(kept, 2);
    CHECK_EQ_INT(last_seq(r), 2); /* numbered from 1 */
    CHECK_EQ_INT(sql_u64(r, "SELECT v FROM meta WHERE k='search_log'"), 2);
    add_visit(r, c, "第四次拜访 回款 delta", v4);
    CHECK_EQ_INT(found(r, "合同", NULL, got), 1);
    CHECK_MEM(got, v3, 16);
    CHECK_EQ_INT(found(r, "回款", NULL, got), 1);
    CHECK_MEM(got, v4, 16);
    CHECK_EQ_INT(found(r, "bravo", NULL, got), 1);
    CHECK_MEM(got, v2, 16);

    /* as a build before the mark left it: a queued record, no mark */
    CHECK_OK(fs_update(r, "visit", v2, (fs_cell[]){{"notes", fs_text("改期 echo")}}, 1));
    char old[200];
    snprintf(old, sizeof old,
             "DELETE FROM meta WHERE k='search_log';"
             "INSERT INTO search_pending(tbl,row) SELECT %d, id FROM visit WHERE notes LIKE '改期%%'",
             fs_schema_table_index("visit"));
    CHECK_EQ_INT(sqlite3_exec(fs__replica_db(r), old, NULL, NULL, NULL), SQLITE_OK);
    fs_replica_close(r);
    r = open_again(rdir, "pw");
    CHECK_EQ_INT(sql_u64(r, "SELECT v FROM meta WHERE k='search_log'"), last_seq(r));
    CHECK_EQ_INT(found(r, "改期", NULL, got), 1);
    CHECK_MEM(got, v2, 16);
    CHECK_EQ_INT(found(r, "bravo", NULL, NULL), 0);
    fs_replica_close(r);
}

/* What a large pull queued is brought into the index a few hundred records
 * a transaction (a daemon does it after a sync): every record once,
 * deleted ones out, the queue empty, and a search after it finds them. */
static void test_search_caught_up_in_chunks(void)
{
    fs_replica *r = fresh("r");
    uint8_t c[16], v[16], gone[16], got[16];
    add_customer(r, "深圳远航物流", c);
    char notes[64];
    CHECK_OK(fs_begin(r));
    for (int i = 0; i < 600; i++) { /* more than two chunks */
        snprintf(notes, sizeof notes, "第%d次拜访，讨论仓储方案 no.%04d", i, i);
        add_visit(r, c, notes, i == 0 ? gone : v);
    }
    CHECK_OK(fs_commit(r));
    CHECK_OK(fs_delete(r, "visit", gone));
    uint64_t q = 0, n = 0;
    CHECK_OK(fs_search_queued(r, &q));
    CHECK_EQ_INT(q, 601); /* 600 visits (one deleted since) and the customer */
    CHECK_OK(fs_begin(r));
    CHECK_ERR(fs_search_catch_up(r, &n), FS_ESTATE); /* not inside a transaction */
    CHECK_OK(fs_commit(r));
    CHECK_OK(fs_search_catch_up(r, &n));
    CHECK_EQ_INT(n, 601);
    CHECK_OK(fs_search_queued(r, &q));
    CHECK_EQ_INT(q, 0);
    CHECK_OK(fs_search_catch_up(r, &n)); /* nothing left: nothing done */
    CHECK_EQ_INT(n, 0);
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r), "SELECT count(*) FROM search_doc", -1, &st,
                                    NULL),
                 SQLITE_OK);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), 600); /* the customer and 599 visits */
    sqlite3_finalize(st);
    CHECK_EQ_INT(found(r, "no.0599", NULL, got), 1);
    CHECK_MEM(got, v, 16);
    CHECK_EQ_INT(found(r, "no.0000", NULL, NULL), 0); /* the deleted one */
    CHECK_EQ_INT(found(r, "仓储方案", "visit", NULL), 16); /* (at most 16 asked) */
    fs_replica_close(r);
}

static void test_search_kept_on_pulled_changes(void)
{
    fs_replica *src = fresh("src");
    fs_replica *dst = fresh("dst");
    uint8_t c[16], v[16], got[16];
    add_customer(src, "廣州宏達", c);
    add_visit(src, c, "客户希望试用三个月再决定", v);
    fs_changeset *cs = NULL;
    CHECK_OK(fs_changes_since(src, 0, 1000, &cs));
    uint64_t seq = cs->last_seq;
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 1, NULL));
    fs_changeset_free(cs);
    CHECK_EQ_INT(found(dst, "试用三个月", NULL, got), 1);
    CHECK_MEM(got, v, 16);
    CHECK_EQ_INT(found(dst, "广州宏达", NULL, got), 1);
    CHECK_MEM(got, c, 16);

    fs_cell e[] = {{"notes", fs_text("客户决定直接采购")}};
    CHECK_OK(fs_update(src, "visit", v, e, 1));
    CHECK_OK(fs_changes_since(src, seq, 1000, &cs));
    seq = cs->last_seq;
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 2, NULL));
    fs_changeset_free(cs);
    CHECK_EQ_INT(found(dst, "试用三个月", NULL, NULL), 0);
    CHECK_EQ_INT(found(dst, "直接采购", NULL, got), 1);

    CHECK_OK(fs_delete(src, "visit", v));
    CHECK_OK(fs_changes_since(src, seq, 1000, &cs));
    CHECK_OK(fs_apply_pulled(dst, cs->changes, cs->count, 3, NULL));
    fs_changeset_free(cs);
    CHECK_EQ_INT(found(dst, "直接采购", NULL, NULL), 0);

    fs_row_ref ref = {(uint16_t)fs_schema_table_index("customer"), {0}};
    memcpy(ref.row, c, 16);
    CHECK_OK(fs_replica_purge(dst, &ref, 1));
    CHECK_EQ_INT(found(dst, "宏达", NULL, NULL), 0);
    CHECK_EQ_INT(found(src, "宏达", NULL, NULL), 1);
    fs_replica_close(src);
    fs_replica_close(dst);
}

/* A replica made before the index (no search tables, no meta 'search') has
 * it built at open, its records untouched; a server's replica has none. */
static void test_search_index_built_for_old_replicas(void)
{
    fs_replica *r = fresh("old");
    char dir[600];
    snprintf(dir, sizeof dir, "%s", rdir);
    uint8_t c[16], v[16], got[16];
    add_customer(r, "深圳恒通", c);
    for (int i = 0; i < 50; i++) {
        char notes[64];
        snprintf(notes, sizeof notes, "第%d次拜访：讨论了付款条件", i);
        add_visit(r, c, notes, v);
    }
    uint8_t h0[32], h1[32];
    CHECK_OK(fs_replica_state_hash(r, h0));
    CHECK_EQ_INT(sqlite3_exec(fs__replica_db(r),
                              "DROP TABLE search_fts; DROP TABLE search_doc;"
                              " DELETE FROM meta WHERE k='search';",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    fs_replica_close(r);
    r = open_again(dir, "pw");
    CHECK_EQ_INT(found(r, "第49次拜访", NULL, got), 1);
    CHECK_MEM(got, v, 16);
    CHECK_EQ_INT(found(r, "付款条件", "visit", NULL), 16); /* the array's size */
    CHECK_EQ_INT(found(r, "恒通", "customer", NULL), 1);
    CHECK_OK(fs_replica_state_hash(r, h1));
    CHECK_MEM(h0, h1, 32);
    size_t problems = 1;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);

    /* A server's replica. */
    fs_replica *s = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .keep_feed = 1};
    char sdir[700];
    snprintf(sdir, sizeof sdir, "%s-server", dir);
    CHECK_OK(fs_replica_create(&s, sdir, "pw", 2, &o));
    add_customer(s, "深圳恒通", c);
    fs_search_hit h[1];
    size_t n = 0;
    CHECK_ERR(fs_search(s, "恒通", NULL, h, 1, &n), FS_ESTATE);
    fs_replica_close(s);
}

/* The query plan of an open fs_rows: 1 if it walks index `index` and sorts
 * nothing (no temp B-tree), else 0 with the plan printed. */
static int plan_walks(fs_replica *r, fs_rows *it, const char *index)
{
    char sql[2200];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", fs__rows_sql(it));
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r), sql, -1, &st, NULL), SQLITE_OK);
    int uses = 0, sorts = 0;
    char plan[1024] = "";
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        if (d == NULL)
            continue;
        snprintf(plan + strlen(plan), sizeof plan - strlen(plan), "%s; ", d);
        if (strstr(d, "INDEX") != NULL && strstr(d, index) != NULL)
            uses = 1;
        if (strstr(d, "TEMP B-TREE") != NULL)
            sorts = 1;
    }
    sqlite3_finalize(st);
    if (!uses || sorts)
        fprintf(stderr, "plan of %s: %s\n", fs__rows_sql(it), plan);
    return uses && !sorts;
}

/* 1 if the plan of an open fs_rows reads index `index` at all. */
static int plan_names(fs_replica *r, fs_rows *it, const char *index)
{
    char sql[2200];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", fs__rows_sql(it));
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r), sql, -1, &st, NULL), SQLITE_OK);
    int uses = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        if (d != NULL && strstr(d, index) != NULL)
            uses = 1;
    }
    sqlite3_finalize(st);
    if (uses)
        fprintf(stderr, "the plan of %s reads %s\n", fs__rows_sql(it), index);
    return uses;
}

static int has_index(fs_replica *r, const char *name)
{
    sqlite3_stmt *st = NULL;
    CHECK_EQ_INT(sqlite3_prepare_v2(fs__replica_db(r),
                                    "SELECT 1 FROM sqlite_master WHERE type='index' AND name=?1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int got = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return got;
}

/* Reads the visits in time order (fs_rows_open, `visit list --all`'s
 * read): times never go back, ties by id, deleted visits left out; n
 * visits. *plan_ok: the newest-first read (visit list's page) walks the
 * index and sorts nothing, and the whole listing's does not read it at all
 * (a scan and a sort: fetching every row through the index costs 7x). */
static size_t visits_in_time_order(fs_replica *r, int *plan_ok)
{
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open(&it, r, "visit", NULL, NULL, "-time"));
    *plan_ok = plan_walks(r, it, FS__VISIT_TIME_INDEX);
    fs_rows_close(it);
    it = NULL;
    CHECK_OK(fs_rows_open(&it, r, "visit", NULL, NULL, "time"));
    if (*plan_ok && plan_names(r, it, FS__VISIT_TIME_INDEX))
        *plan_ok = 0;
    char prev[32] = "";
    uint8_t prev_id[16] = {0};
    size_t n = 0;
    while (fs_rows_next(it) == 1) {
        fs_value t;
        CHECK_OK(fs_rows_get(it, "time", &t));
        CHECK_EQ_INT(t.type, FS_TEXT);
        char now[32];
        snprintf(now, sizeof now, "%.*s", (int)t.n, (const char *)t.p);
        int c = strcmp(prev, now);
        if (c > 0 || (c == 0 && n > 0 && memcmp(prev_id, fs_rows_id(it), 16) >= 0))
            FAIL("visit %zu at %s after one at %s", n, now, prev);
        snprintf(prev, sizeof prev, "%s", now);
        memcpy(prev_id, fs_rows_id(it), 16);
        n++;
    }
    fs_rows_close(it);
    return n;
}

/* Issue 21.6: `visit list` of a device reads its page of the newest
 * visits through an index on their time (the first screen of 1,000,000
 * visits without sorting them all): the plan walks it and sorts nothing,
 * the whole listing's plan does not use it, the order and the deleted
 * visits left out are as before; a replica without it (0.3.0's) gets it at
 * open, its records unchanged; the server's store has none. */
/* fs_replica_first_pull_begin drops the time index of a replica that holds
 * no visit, and only then; fs_replica_first_pull_end makes it when it is
 * missing (and the list walks it again); neither runs inside a
 * transaction. */
static void test_first_pull_leaves_the_time_index_to_its_end(void)
{
    fs_replica *r = fresh("fp");
    int dropped = -1;
    CHECK_OK(fs_begin(r));
    CHECK_ERR(fs_replica_first_pull_begin(r, &dropped), FS_ESTATE);
    CHECK_ERR(fs_replica_first_pull_end(r), FS_ESTATE);
    fs_rollback(r);
    CHECK_OK(fs_replica_first_pull_begin(r, &dropped));
    CHECK_EQ_INT(dropped, 1);
    CHECK(!has_index(r, FS__VISIT_TIME_INDEX));
    CHECK_OK(fs_replica_first_pull_begin(r, &dropped)); /* already gone */
    CHECK_EQ_INT(dropped, 0);
    uint8_t c[16], v[16];
    add_customer(r, "苏州明德", c);
    add_visit(r, c, "第一次", v);
    CHECK_OK(fs_replica_first_pull_end(r));
    CHECK(has_index(r, FS__VISIT_TIME_INDEX));
    CHECK_OK(fs_replica_first_pull_end(r)); /* there: nothing to do */
    int plan_ok = 0;
    CHECK_EQ_INT(visits_in_time_order(r, &plan_ok), 1);
    CHECK(plan_ok);
    CHECK_OK(fs_replica_first_pull_begin(r, &dropped)); /* holds a visit: kept */
    CHECK_EQ_INT(dropped, 0);
    CHECK(has_index(r, FS__VISIT_TIME_INDEX));
    fs_replica_close(r);
}

static void test_visits_listed_through_the_time_index(void)
{
    fs_replica *r = fresh("vt");
    char dir[600];
    snprintf(dir, sizeof dir, "%s", rdir);
    uint8_t c[16], v[16];
    add_customer(r, "深圳恒通", c);
    CHECK(has_index(r, FS__VISIT_TIME_INDEX));
    for (int i = 0; i < 60; i++) {
        char when[32];
        /* out of time order, and ties (the same minute twice) */
        snprintf(when, sizeof when, "2026-%02d-%02d 09:%02d", 1 + (i * 7) % 12, 1 + (i * 11) % 28,
                 (i / 2) % 60);
        fs_cell cells[] = {{"customer", fs_blob(c, 16)}, {"time", fs_text(when)},
                           {"place", fs_text("会议室")},     {"purpose", fs_text("演示")},
                           {"notes", fs_text("谈了价格")}};
        CHECK_OK(fs_insert(r, "visit", cells, 5, v));
        if (i % 10 == 3)
            CHECK_OK(fs_delete(r, "visit", v));
    }
    int plan_ok = 0;
    CHECK_EQ_INT(visits_in_time_order(r, &plan_ok), 54);
    CHECK(plan_ok);
    /* newest first ("-time", visit list's page): the reverse order */
    {
        fs_rows *asc = NULL, *desc = NULL;
        CHECK_OK(fs_rows_open(&desc, r, "visit", NULL, NULL, "-time"));
        CHECK(plan_walks(r, desc, FS__VISIT_TIME_INDEX));
        uint8_t ids[60][16];
        size_t n = 0;
        while (fs_rows_next(desc) == 1 && n < 60)
            memcpy(ids[n++], fs_rows_id(desc), 16);
        fs_rows_close(desc);
        CHECK_EQ_INT(n, 54);
        CHECK_OK(fs_rows_open(&asc, r, "visit", NULL, NULL, "time"));
        for (size_t k = 0; k < n; k++) {
            CHECK_EQ_INT(fs_rows_next(asc), 1);
            CHECK_MEM(fs_rows_id(asc), ids[n - 1 - k], 16);
        }
        fs_rows_close(asc);
    }
    /* the columns-only reader (bench_first's) too */
    static const char *const cols[] = {"time", "customer"};
    fs_rows *it = NULL;
    CHECK_OK(fs_rows_open_only(&it, r, "visit", NULL, NULL, "-time", cols, 2));
    CHECK(plan_walks(r, it, FS__VISIT_TIME_INDEX));
    fs_rows_close(it);

    /* As 0.3.0 made it: no index. Opened by this build, it has one. */
    uint8_t h0[32], h1[32];
    CHECK_OK(fs_replica_state_hash(r, h0));
    CHECK_EQ_INT(exec_rc(r, "DROP INDEX " FS__VISIT_TIME_INDEX), SQLITE_OK);
    CHECK(!has_index(r, FS__VISIT_TIME_INDEX));
    CHECK_EQ_INT(visits_in_time_order(r, &plan_ok), 54); /* the same rows, sorted */
    CHECK(!plan_ok);
    fs_replica_close(r);
    r = open_again(dir, "pw");
    CHECK(has_index(r, FS__VISIT_TIME_INDEX));
    CHECK_EQ_INT(visits_in_time_order(r, &plan_ok), 54);
    CHECK(plan_ok);
    CHECK_OK(fs_replica_state_hash(r, h1));
    CHECK_MEM(h0, h1, 32);
    size_t problems = 1;
    CHECK_OK(fs_replica_check(r, &problems));
    CHECK_EQ_INT(problems, 0);
    fs_replica_close(r);

    /* The server's store keeps no such index (its visits are not listed). */
    fs_replica *s = NULL;
    fs_replica_opts o = {.kdf = &fs_kdf_minimum, .keep_feed = 1};
    char sdir[700];
    snprintf(sdir, sizeof sdir, "%s-server", dir);
    CHECK_OK(fs_replica_create(&s, sdir, "pw", 2, &o));
    CHECK(!has_index(s, FS__VISIT_TIME_INDEX));
    fs_replica_close(s);
    CHECK_OK(fs_replica_open(&s, sdir, "pw", 2, &o));
    CHECK(!has_index(s, FS__VISIT_TIME_INDEX));
    fs_replica_close(s);
}

/* The index is inside the sealed pages: a marker written, indexed and
 * searched is in none of the replica's files, folded or not. Every piece
 * looked for is 8 bytes or more: the WAL holds about 6 MB of ciphertext,
 * where two given 4-byte strings turned up by chance about once in 300
 * runs (one CI run failed so). */
static void test_search_leaves_no_plaintext(void)
{
    fs_replica *r = fresh("plain");
    char dir[600];
    snprintf(dir, sizeof dir, "%s", rdir);
    const char *marker = "搜索標記甲乙丙丁QZXWVKJB";
    uint8_t c[16], v[16];
    add_customer(r, "标记客户", c);
    for (int i = 0; i < 200; i++)
        add_visit(r, c, marker, v);
    CHECK_EQ_INT(found(r, "標記甲乙", NULL, NULL), 16);
    char *folded = NULL;
    CHECK_OK(fs_fold(marker, strlen(marker), &folded));
    CHECK(strcmp(folded, marker) != 0); /* 標記 -> 标记, QZXWVKJB -> qzxwvkjb */
    const char *pieces[] = {marker, folded, "甲乙丙", "qzxwvkjb", "QZXWVKJB"};
    for (int pass = 0; pass < 2; pass++) {
        const char *files[] = {"replica.db", "replica.db-wal", "replica.db-journal"};
        for (size_t f = 0; f < 3; f++) {
            char path[700];
            snprintf(path, sizeof path, "%s/%s", dir, files[f]);
            size_t n = 0;
            unsigned char *buf = test_read_file(path, &n);
            for (size_t k = 0; buf != NULL && k < 5; k++) {
                size_t m = strlen(pieces[k]);
                for (size_t i = 0; i + m <= n; i++)
                    if (memcmp(buf + i, pieces[k], m) == 0)
                        FAIL("plaintext \"%s\" in %s", pieces[k], files[f]);
            }
            free(buf);
        }
        fs_replica_close(r); /* then the files as closing left them */
        if (pass == 0)
            r = open_again(dir, "pw");
    }
    free(folded);
}

TEST_LIST(
    TEST(schema_4_replica_keeps_every_record) TEST(schema_5_replica_takes_the_sales_records) TEST(schema_5_replica_gets_visit_plans) TEST(failed_upgrade_leaves_replica_as_it_was) TEST(team_calendar) TEST(row_history) TEST(row_maker) TEST(search_local_writes) TEST(search_kept_on_pulled_changes) TEST(search_caught_up_in_chunks) TEST(search_queue_is_the_change_log) TEST(statements_kept_by_text)
        TEST(search_index_built_for_old_replicas) TEST(search_leaves_no_plaintext) TEST(visits_listed_through_the_time_index) TEST(first_pull_leaves_the_time_index_to_its_end) TEST(
            group_is_decided_whole) TEST(server_decides_groups_for_older_devices) TEST(match_name)
            TEST(open_with_a_key) TEST(adopt_user_from_the_server) TEST(wipe_destroys_the_replica)
                TEST(identity_is_kept_and_names_the_device) TEST(process_hardening)
                    TEST(chinese_text_round_trips) TEST(every_handbook_table)
                        TEST(bad_input_writes_nothing) TEST(change_log_records_every_write)
                            TEST(writes_bypassing_the_log_are_refused_or_flagged)
                                TEST(transactions_commit_or_roll_back_whole)
                                    TEST(apply_is_idempotent_and_order_free)
                                        TEST(passphrase_change_leaves_database_untouched) TEST(
                                            create_and_open_errors) TEST(second_process_is_refused)
                                            TEST(two_processes_opening_at_once_both_get_in) TEST(
                                                utf8_check_agrees_with_libc) TEST(resolve_id_prefix)
                                                TEST(row_ids_sort_by_creation_and_read_apart)
                                                    TEST(old_guard_triggers_are_dropped_on_open)
                                                        TEST(schema_1_replica_is_upgraded))
