/*
 * Owner changes name real people (issue 25 point 6). A manager's laptop
 * holds the team's roster, written by the server (server/store/roster.c)
 * and synced like any record; `customer add|edit --owner` accepts a name
 * from it only. What was typed is folded first (surrounding spaces, case
 * of Latin letters: " Wang " is wang), a typo is answered with the nearest
 * name, and a rep of another team or a user who left is refused here with
 * the rule, exit 2, rather than by the server after the change was saved.
 * What the roster cannot know (a rep moved since the last sync) is still
 * the server's call; such a refusal is undone at once (client/refused.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "i18n.h"
#include "roster.h"

static unsigned min3(unsigned a, unsigned b, unsigned c)
{
    unsigned m = a < b ? a : b;
    return m < c ? m : c;
}

unsigned roster_distance(const char *a, const char *b, unsigned max)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na > FS_USER_MAX || nb > FS_USER_MAX)
        return max + 1;
    if ((na > nb ? na - nb : nb - na) > max)
        return max + 1;
    /* three rows: two letters swapped ("wnag") count as one edit */
    unsigned rows[3][FS_USER_MAX + 1];
    unsigned *two = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            cur[j] = min3(prev[j - 1] + (a[i - 1] != b[j - 1]), prev[j] + 1, cur[j - 1] + 1);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                two[j - 2] + 1 < cur[j])
                cur[j] = two[j - 2] + 1;
        }
        unsigned *t = two;
        two = prev;
        prev = cur;
        cur = t;
    }
    return prev[nb] > max ? max + 1 : prev[nb];
}

/* Surrounding spaces dropped, ASCII letters lowered: 0, or FS_EINVAL when
 * nothing (or too much) remains. */
static int fold(const char *typed, char out[FS_USER_MAX + 1])
{
    while (*typed != '\0' && isspace((unsigned char)*typed))
        typed++;
    size_t n = strlen(typed);
    while (n > 0 && isspace((unsigned char)typed[n - 1]))
        n--;
    if (n == 0 || n > FS_USER_MAX)
        return FS_EINVAL;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((typed[i] & 0x80) ? typed[i] : tolower((unsigned char)typed[i]));
    out[n] = '\0';
    return 0;
}

/* What the roster says of the folded name, and of the device's user. */
typedef struct roster_look {
    const char *want, *me;
    size_t rows, others;                /* rows; rows of users other than me */
    int found, active;                  /* want's row */
    char name[FS_USER_MAX + 1];         /* want as the roster spells it */
    char team[FS_USER_MAX + 1];         /* want's team */
    char my_team[FS_USER_MAX + 1];      /* me's team, when on it */
    char near[FS_USER_MAX + 1];         /* the nearest active name, when near */
    unsigned near_d;
} roster_look;

static void text_of(const fs_rows *it, const char *col, char out[FS_USER_MAX + 1])
{
    fs_value v;
    out[0] = '\0';
    if (fs_rows_get(it, col, &v) == 0 && v.type == FS_TEXT && v.n <= FS_USER_MAX) {
        memcpy(out, v.p, v.n);
        out[v.n] = '\0';
    }
}

static int look(fs_replica *r, roster_look *l)
{
    fs_rows *it = NULL;
    int rc = fs_rows_open(&it, r, "roster", NULL, NULL, "name");
    if (rc != 0)
        return rc;
    l->near_d = 3;
    while ((rc = fs_rows_next(it)) == 1) {
        char name[FS_USER_MAX + 1], folded[FS_USER_MAX + 1], team[FS_USER_MAX + 1];
        fs_value active;
        text_of(it, "name", name);
        text_of(it, "team", team);
        int on = fs_rows_get(it, "active", &active) == 0 && active.type == FS_INT && active.i != 0;
        l->rows++;
        if (strcmp(name, l->me) != 0)
            l->others++;
        else
            snprintf(l->my_team, sizeof l->my_team, "%s", team);
        if (fold(name, folded) != 0)
            continue;
        if (strcmp(folded, l->want) == 0) {
            l->found = 1;
            l->active = on;
            snprintf(l->name, sizeof l->name, "%s", name);
            snprintf(l->team, sizeof l->team, "%s", team);
        } else if (on) {
            /* one slip in a short name, two in a longer one: "wang" is
             * not a typo of "zhang" */
            unsigned max = strlen(l->want) <= 4 ? 1 : 2;
            unsigned d = roster_distance(folded, l->want, max);
            if (d <= max && d < l->near_d) {
                l->near_d = d;
                snprintf(l->near, sizeof l->near, "%s", name);
            }
        }
    }
    fs_rows_close(it);
    return rc < 0 ? rc : 0;
}

int roster_owner(fs_replica *r, const char *flag, const char *typed, char out[FS_USER_MAX + 1])
{
    char want[FS_USER_MAX + 1], me[FS_USER_MAX + 1] = "", shown[160];
    out[0] = '\0';
    if (fold(typed, want) != 0) {
        cli_error(_("%s: a user name is 1-%d bytes"), flag, FS_USER_MAX);
        return CLI_EUSAGE;
    }
    if (fs_replica_user(r, me) != 0)
        me[0] = '\0';
    roster_look l = {.want = want, .me = me};
    int rc = look(r, &l);
    if (rc != 0)
        return cli_fail(r, _("reading the team roster"), rc);
    if (l.others == 0) { /* no roster yet: the server decides */
        snprintf(out, FS_USER_MAX + 1, "%s", want);
        return CLI_OK;
    }
    if (!l.found && l.near[0] != '\0') {
        cli_error(_("%s: %s is not on your team's roster; did you mean %s?"), flag,
                  cli_typed(typed, shown, sizeof shown), l.near);
        return CLI_EUSAGE;
    }
    if (!l.found) {
        cli_error(_("%s: %s is not on your team's roster: a manager hands customers to reps of "
                    "their own team only ('fieldsync sync' brings the newest roster)"),
                  flag, cli_typed(typed, shown, sizeof shown));
        return CLI_EUSAGE;
    }
    char my_team[FS_USER_MAX + 1] = "";
    if (fs_replica_setting(r, "team", my_team, sizeof my_team) != 0)
        snprintf(my_team, sizeof my_team, "%s", l.my_team);
    if (my_team[0] != '\0' && strcmp(l.team, my_team) != 0) {
        cli_error(_("%s: %s is in team %s, not %s: a manager hands customers to reps of their own "
                    "team only"),
                  flag, l.name, l.team, my_team);
        return CLI_EUSAGE;
    }
    if (!l.active) {
        cli_error(_("%s: %s has left (the user is disabled): a customer goes to someone still on "
                    "the team"),
                  flag, l.name);
        return CLI_EUSAGE;
    }
    snprintf(out, FS_USER_MAX + 1, "%s", l.name);
    return CLI_OK;
}
