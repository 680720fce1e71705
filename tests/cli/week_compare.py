"""Compares the four outputs of one week for tests/cli/test_week.sh.

    week_compare.py DIR

DIR holds, for each rep R (zhang, wang): R.rep.json / R.rep.txt (R's own
`report rep R`), R.comp.json / R.comp.txt (R's own `report compliance`),
li.rep.R.json (the manager's `report rep R --json`), dash.rep.R.html (the
dashboard's page of R); and li.comp.json / li.comp.txt (the manager's
`report compliance`) and dash.team.html (the dashboard's team page).
Prints "ok NAME" or "FAIL NAME" with both values, one line per figure
compared, and the figures of the week.
"""
import html
import json
import re
import sys

d = sys.argv[1]
REPS = ["zhang", "wang"]
STATUSES = ["on time", "due soon", "overdue", "missed"]
KEYS = ["on_time", "due_soon", "overdue", "missed"]
WORDS = {"on time": "on time", "due soon": "DUE SOON", "overdue": "OVERDUE", "missed": "missed"}


def read(name):
    with open(f"{d}/{name}", encoding="utf-8") as f:
        return f.read()


def check(name, got, want):
    if got == want:
        print(f"ok   {name}")
    else:
        print(f"FAIL {name}\n       got:      {got}\n       expected: {want}")


def tally(findings):
    """report rep --json findings -> {rule: {on_time,...}} and the accuracy."""
    t = {}
    for f in findings:
        r = t.setdefault(f["rule"], dict.fromkeys(KEYS, 0))
        r[KEYS[STATUSES.index(f["status"])]] += 1
    return t


def nonzero(rules):
    return {k: v for k, v in rules.items() if any(v.values())}


def comp_entry(comp, rep):
    for e in comp["reps"]:
        if e["rep"] == rep:
            return e
    return None


def finding_key(f):
    return (f["rule"], f["status"], f["due"], f["done"] or "", f["record"] or "")


def text_rows(txt):
    """The rows of a CLI table after its header, split at runs of 2+ spaces."""
    lines = [l for l in txt.splitlines() if l.strip()]
    for i, l in enumerate(lines):
        if l.startswith("STATUS") or l.startswith("REP"):
            return [re.split(r"\s{2,}", r.strip()) for r in lines[i + 1:]]
    return []


def share(t):
    n = sum(t.values())
    return "-" if n == 0 else f"{t['on_time']}/{n}"


def late(t):
    return t["overdue"] + t["missed"]


def compliance_row(e):
    """The row report compliance prints for entry e, as cmd_report.c words it."""
    r = e["rules"]
    acc = e["accuracy"]
    if acc["checks"] == 0:
        a = "-"
    else:
        ok = acc["accurate"] * 1000 >= acc["checks"] * 980
        a = f"{100.0 * acc['accurate'] / acc['checks']:.1f}% " + ("ok" if ok else "BELOW 98%")
    wp = r["weekly_plan_approved"]
    weekly = ("NOT APPROVED" if wp["overdue"] else "approved late" if wp["missed"]
              else "approved" if wp["on_time"] else "awaiting" if wp["due_soon"] else "-")
    items = sum(late(r[k]) for k in ["complaint_outcome", "requirement_request",
                                     "acceptance_documents", "marketing_request",
                                     "question_answered"])
    key = r["key_account_monthly"]
    return [e["rep"], share(r["contact_recorded"]), a, str(late(r["commitment_due"])),
            str(late(r["commitment_followup"])), f"{key['overdue'] + key['due_soon']} missed",
            share(r["daily_plan"]), share(r["daily_summary"]), share(r["self_check"]), weekly,
            str(items), share(r["visit_confirmed"]),
            "yes" if r["spot_check_weekly"]["on_time"] > 0 else "NO",
            str(late(r["contract_checked"])),
            str(late(r["satisfaction_survey"]) + r["satisfaction_survey"]["due_soon"]),
            "-" if e["refused_open"] is None else str(e["refused_open"])]


def dash_team(page):
    """{rep: {rule: {on_time,...}}} from the team page's data attributes."""
    out = {}
    for row in re.findall(r"<tr><td><a href=\"/rep\?name=[^\"]*\">([^<]*)</a></td>(.*?)</tr>",
                          page):
        rep, cells = html.unescape(row[0]), row[1]
        rules = {}
        for m in re.finditer(r'data-rule="([a-z_]+)" data-on-time="(\d+)" data-due-soon="(\d+)" '
                             r'data-overdue="(\d+)" data-missed="(\d+)"', cells):
            rules[m.group(1)] = dict(zip(KEYS, map(int, m.groups()[1:])))
        out[rep] = rules
    return out


def dash_rep(page):
    """The findings of a rep page: (rule, status, due, done, record)."""
    rows = re.findall(r'<tr class="[a-z]+" data-rule="([a-z_]+)" data-record="([0-9a-f]*)">'
                      r"<td>([a-z ]+)</td><td>.*?</td><td>.*?</td><td>([0-9: -]+)</td><td>([^<]*)</td></tr>",
                      page)
    return sorted((r[0], r[2], r[3], "" if r[4] == "\u2013" else r[4], r[1]) for r in rows)


manager = json.loads(read("li.comp.json"))
manager_text = {r[0]: r for r in text_rows(read("li.comp.txt"))}
team = dash_team(read("dash.team.html"))
check("the dashboard lists the team's reps", sorted(team), sorted(REPS))
for rep in REPS:
    own = json.loads(read(f"{rep}.rep.json"))
    mine = comp_entry(json.loads(read(f"{rep}.comp.json")), rep)
    theirs = comp_entry(manager, rep)
    if theirs is None or mine is None:
        check(f"{rep} is in both compliance reports", (mine is None, theirs is None),
              (False, False))
        continue
    # 1. the rep's findings, tallied, are the manager's figures
    check(f"{rep}: own report rep, tallied == manager's report compliance",
          nonzero(tally(own)), nonzero(theirs["rules"]))
    # 2. the same findings, record by record, on both laptops
    check(f"{rep}: own report rep --json == manager's report rep --json",
          sorted(map(finding_key, own)),
          sorted(map(finding_key, json.loads(read(f"li.rep.{rep}.json")))))
    # 3. the rep's own compliance report == the manager's, every figure
    check(f"{rep}: own report compliance --json == manager's", mine, theirs)
    # 4. the dashboard's cells == the manager's JSON, rule by rule
    for rule, t in sorted(team.get(rep, {}).items()):
        check(f"{rep}: dashboard {rule} == report compliance --json", t, theirs["rules"][rule])
    # 5. the dashboard's rep page == report rep --json, finding by finding
    check(f"{rep}: dashboard rep page == report rep --json",
          dash_rep(read(f"dash.rep.{rep}.html")),
          sorted((f["rule"], f["status"], f["due"], f["done"] or "", f["record"] or "")
                 for f in own))
    # 6. the plain text: the compliance rows, and report rep line by line
    want = compliance_row(theirs)
    check(f"{rep}: manager's report compliance text row", manager_text.get(rep), want)
    own_text = {r[0]: r for r in text_rows(read(f"{rep}.comp.txt"))}
    check(f"{rep}: own report compliance text row", own_text.get(rep), want)
    lines = sorted((r[0], r[-3], r[-2], r[-1]) for r in text_rows(read(f"{rep}.rep.txt")))
    check(f"{rep}: report rep text, line by line",
          lines, sorted((WORDS[f["status"]], f["due"], f["done"] or "-",
                         (f["record"] or "-")[:8]) for f in own))
    acc = theirs["accuracy"]
    print(f"#    {rep}: {' | '.join(want[1:])}; accuracy {acc['accurate']}/{acc['checks']}; "
          f"{len(own)} findings")
