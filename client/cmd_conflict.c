/*
 * conflict list: the values that lost a last-writer-wins merge. When two
 * devices change the same field before they sync, every device keeps the
 * newer value and a conflict record holding the other one, so nothing a rep
 * typed is lost; this command shows them.
 *
 * conflict resolve ID: a person decides. --keep mine|theirs (the value this
 * device wrote, or the other one; kept|lost name them by the merge's
 * outcome, for a device that wrote neither) or --value V. The decision is
 * an ordinary local write with a new clock (the field, when its value
 * changes, and the conflict record's status), so it syncs like any change
 * and every replica that pulls it drops the conflict from its open ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "export.h"
#include "form.h"
#include "i18n.h"
#include "record.h"

typedef struct conflict_walk {
    cJSON *list;       /* every open conflict, as --json prints it */
    cli_recset shown;  /* the records they belong to (the export gate) */
} conflict_walk;

/* A value as one line of JSON (quoted and escaped text), for the plain
 * listing: control characters in a peer's text cannot drive the terminal. */
static int print_value(const cJSON *item)
{
    char *s = item != NULL ? cJSON_PrintUnformatted(item) : NULL;
    if (s == NULL)
        return FS_ENOMEM;
    fputs(s, stdout);
    cJSON_free(s);
    return 0;
}

/* Collects the conflicts first, so that the export gate knows how many
 * records' values would be printed before anything is. */
static int conflict_cb(const fs_conflict *c, void *ctx)
{
    conflict_walk *w = ctx;
    char rowhex[2 * FS_ID_BYTES + 1], idhex[2 * FS_ID_BYTES + 1];
    const char *table;
    const fs_column *col = rec_schema_column(c->table, c->column, &table);
    cJSON *obj;

    fs_id_to_hex(c->row, rowhex);
    fs_id_to_hex(c->id, idhex);
    if (cli_recset_add(&w->shown, c->table, c->row) != 0)
        return FS_ENOMEM;
    obj = cJSON_CreateObject();
    if (rec_json_add(w->list, NULL, obj) != 0)
        return FS_ENOMEM;
    if (rec_json_add(obj, "id", cJSON_CreateString(idhex)) != 0 ||
        rec_json_add(obj, "table", cJSON_CreateString(table)) != 0 ||
        rec_json_add(obj, "column", cJSON_CreateString(col->name)) != 0 ||
        rec_json_add(obj, "row", cJSON_CreateString(rowhex)) != 0 ||
        rec_json_add(obj, "kept", rec_value_json(col, &c->winner)) != 0 ||
        rec_json_add(obj, "lost", rec_value_json(col, &c->loser)) != 0)
        return FS_ENOMEM;
    return 0;
}

/* The plain listing: one line a conflict. */
static int print_lines(const cJSON *list)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
        const char *table = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "table"));
        const char *column = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "column"));
        const char *row = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "row"));
        if (id == NULL || table == NULL || column == NULL || row == NULL)
            return FS_ENOMEM;
        printf("%.8s  %s.%s (row %.8s): kept ", id, table, column, row);
        int rc = print_value(cJSON_GetObjectItemCaseSensitive(o, "kept"));
        if (rc == 0) {
            fputs(", lost ", stdout);
            rc = print_value(cJSON_GetObjectItemCaseSensitive(o, "lost"));
        }
        putchar('\n');
        if (rc != 0)
            return rc;
    }
    return 0;
}

int cmd_conflict_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    conflict_walk w;
    memset(&w, 0, sizeof w);
    fs_replica *r = NULL;
    int rc;

    rc = cli_parse(ctx, USAGE_CONFLICT_LIST, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if ((w.list = cJSON_CreateArray()) == NULL)
        return cli_fail(NULL, "conflict list", FS_ENOMEM);
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        goto done;
    rc = fs_conflicts(r, 0, conflict_cb, &w);
    if (rc != 0) {
        rc = cli_fail(rc == FS_ENOMEM ? NULL : r, "conflict list", rc);
        goto done;
    }
    /* both values of each field are the customer's: the fields of more
     * than one record to a file or pipe are an export (issue 20.4) */
    rc = cli_export_gate(r, "conflict", cli_recset_count(&w.shown));
    if (rc != CLI_OK)
        goto done;
    if (json) {
        rc = rec_json_print(w.list, stdout) == 0 ? CLI_OK
                                                 : cli_fail(NULL, "conflict list", FS_ENOMEM);
    } else {
        if (cJSON_GetArraySize(w.list) == 0)
            printf("%s", _("no open conflicts\n"));
        rc = print_lines(w.list) == 0 ? CLI_OK : cli_fail(NULL, "conflict list", FS_ENOMEM);
    }

done:
    cJSON_Delete(w.list);
    cli_recset_free(&w.shown);
    fs_replica_close(r);
    return rc;
}

/* ---- conflict resolve ---- */

/* The open conflict being decided: where it is, who wrote which value, and
 * both values as one line of JSON each (for the message; malloc'd). */
typedef struct conflict_pick {
    uint8_t id[FS_ID_BYTES];
    int found;
    uint16_t table, column;
    uint8_t row[FS_ID_BYTES];
    uint8_t winner_device[FS_ID_BYTES], loser_device[FS_ID_BYTES];
    char *kept, *lost;
} conflict_pick;

static char *value_line(const fs_column *col, const fs_value *v)
{
    cJSON *item = rec_value_json(col, v);
    char *s = item != NULL ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    return s;
}

static int pick_cb(const fs_conflict *c, void *ctx)
{
    conflict_pick *p = ctx;
    if (memcmp(c->id, p->id, FS_ID_BYTES) != 0)
        return 0;
    const char *table;
    const fs_column *col = rec_schema_column(c->table, c->column, &table);
    p->found = 1;
    p->table = c->table;
    p->column = c->column;
    memcpy(p->row, c->row, FS_ID_BYTES);
    memcpy(p->winner_device, c->winner_version.device, FS_ID_BYTES);
    memcpy(p->loser_device, c->loser_version.device, FS_ID_BYTES);
    p->kept = value_line(col, &c->winner);
    p->lost = value_line(col, &c->loser);
    return p->kept != NULL && p->lost != NULL ? 1 : FS_ENOMEM; /* 1: found, stop */
}

/* --value's text as a value of col (a NULL for "" where the field may be
 * empty). id holds an id's bytes. CLI_OK or CLI_EUSAGE (said why). */
static int parse_value(const fs_column *col, const char *text, uint8_t id[FS_ID_BYTES],
                       fs_value *out)
{
    char *end = NULL;
    if (text[0] == '\0') {
        if (col->flags & FS_COL_REQUIRED) {
            cli_error(_("--value: %s must not be empty"), col->name);
            return CLI_EUSAGE;
        }
        *out = fs_null();
        return CLI_OK;
    }
    switch (col->type) {
    case FS_COL_INT:
    case FS_COL_BOOL: {
        if (col->type == FS_COL_BOOL && (form_is_yes(text) || strcmp(text, "no") == 0)) {
            *out = fs_int(form_is_yes(text));
            return CLI_OK;
        }
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno != 0 || end == text || *end != '\0' ||
            (col->type == FS_COL_BOOL && v != 0 && v != 1)) {
            cli_error(_("--value: %s takes %s, got \"%s\""), col->name,
                      col->type == FS_COL_BOOL ? "yes or no" : "a whole number", text);
            return CLI_EUSAGE;
        }
        *out = fs_int(v);
        return CLI_OK;
    }
    case FS_COL_REAL: {
        errno = 0;
        double v = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0') {
            cli_error(_("--value: %s takes a number, got \"%s\""), col->name, text);
            return CLI_EUSAGE;
        }
        *out = fs_real(v);
        return CLI_OK;
    }
    case FS_COL_ID:
        if (fs_id_from_hex(text, id) != 0) {
            cli_error(_("--value: %s takes a record id (32 hex digits)"), col->name);
            return CLI_EUSAGE;
        }
        *out = fs_blob(id, FS_ID_BYTES);
        return CLI_OK;
    case FS_COL_DATE:
        if (cli_check_date("--value", text) != CLI_OK)
            return CLI_EUSAGE;
        break;
    case FS_COL_DATETIME:
        if (cli_check_datetime("--value", text) != CLI_OK)
            return CLI_EUSAGE;
        break;
    case FS_COL_TEXT:
    case FS_COL_ANY:
        if (cli_check_text("--value", text) != CLI_OK)
            return CLI_EUSAGE;
        break;
    case FS_COL_BLOB:
        cli_error(_("--value: %s holds bytes; keep one of the two values with --keep"), col->name);
        return CLI_EUSAGE;
    }
    *out = fs_text(text);
    return CLI_OK;
}

/* --keep's word as a decision: mine and theirs by who wrote the value,
 * kept and lost by the merge's outcome. CLI_OK or CLI_EUSAGE. */
static int keep_how(const char *keep, const conflict_pick *p, const uint8_t me[FS_ID_BYTES],
                    fs_conflict_status *how)
{
    int mine_won = memcmp(p->winner_device, me, FS_ID_BYTES) == 0;
    int mine_lost = !mine_won && memcmp(p->loser_device, me, FS_ID_BYTES) == 0;
    if (strcmp(keep, "kept") == 0 || strcmp(keep, "lost") == 0) {
        *how = keep[0] == 'k' ? FS_CONFLICT_KEPT : FS_CONFLICT_RESTORED;
        return CLI_OK;
    }
    if (!mine_won && !mine_lost) {
        cli_error(_("--keep %s: this device wrote neither value; choose --keep kept (the value "
                  "the field holds now), --keep lost, or --value V"),
                  keep);
        return CLI_EUSAGE;
    }
    int keep_mine = strcmp(keep, "mine") == 0;
    *how = keep_mine == mine_won ? FS_CONFLICT_KEPT : FS_CONFLICT_RESTORED;
    return CLI_OK;
}

int cmd_conflict_resolve(cli_ctx *ctx, int argc, char **argv)
{
    const char *keep = NULL, *value = NULL;
    const cli_opt opts[] = {{"--keep", CLI_VALUE, NULL, &keep, NULL},
                            {"--value", CLI_VALUE, NULL, &value, NULL}};
    conflict_pick p;
    fs_replica *r = NULL;
    int rc, frc;
    memset(&p, 0, sizeof p);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        cli_usage(stdout, USAGE_CONFLICT_RESOLVE);
        return CLI_OK;
    }
    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        cli_error(_("conflict resolve: give the conflict's id first (fieldsync conflict list "
                  "shows it)"));
        cli_usage(stderr, USAGE_CONFLICT_RESOLVE);
        return CLI_EUSAGE;
    }
    const char *hex = argv[0];
    rc = cli_parse(ctx, USAGE_CONFLICT_RESOLVE, opts, N(opts), argc - 1, argv + 1);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if ((keep == NULL) == (value == NULL)) {
        cli_error(_("conflict resolve: give either --keep mine|theirs or --value V"));
        return CLI_EUSAGE;
    }
    if (keep != NULL && strcmp(keep, "mine") != 0 && strcmp(keep, "theirs") != 0 &&
        strcmp(keep, "kept") != 0 && strcmp(keep, "lost") != 0) {
        cli_error(_("--keep: expected mine or theirs (or kept or lost), got \"%s\""), keep);
        return CLI_EUSAGE;
    }
    rc = cli_check_idprefix("ID", hex);
    if (rc == CLI_OK)
        rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    rc = cli_resolve(r, "conflict", "ID", hex, p.id);
    if (rc != CLI_OK)
        goto done;
    frc = fs_conflicts(r, 0, pick_cb, &p);
    if (frc < 0) {
        rc = cli_fail(frc == FS_ENOMEM ? NULL : r, "conflict resolve", frc);
        goto done;
    }
    char idhex[2 * FS_ID_BYTES + 1], rowhex[2 * FS_ID_BYTES + 1];
    fs_id_to_hex(p.id, idhex);
    if (!p.found) {
        cli_error(_("conflict %.8s is decided already"), idhex);
        rc = CLI_EUSAGE;
        goto done;
    }
    const char *table;
    const fs_column *col = rec_schema_column(p.table, p.column, &table);
    fs_id_to_hex(p.row, rowhex);
    uint8_t me[FS_ID_BYTES], idbuf[FS_ID_BYTES];
    fs_value v = fs_null();
    fs_conflict_status how = FS_CONFLICT_DECIDED;
    fs_replica_device(r, me);
    rc = value != NULL ? parse_value(col, value, idbuf, &v) : keep_how(keep, &p, me, &how);
    if (rc != CLI_OK)
        goto done;
    frc = value != NULL ? fs_conflict_decide(r, p.id, &v) : fs_conflict_resolve(r, p.id, how);
    if (frc == FS_ETYPE || frc == FS_ETOOBIG) {
        cli_error(_("--value: does not fit %s.%s: %s"), table, col->name, fs_replica_errmsg(r));
        rc = CLI_EUSAGE;
        goto done;
    }
    if (frc != 0) {
        rc = cli_fail(r, "conflict resolve", frc);
        goto done;
    }
    printf(_("conflict %.8s decided: %s.%s of %.8s "), idhex, table, col->name, rowhex);
    if (how == FS_CONFLICT_KEPT) {
        printf(_("keeps %s (%s dropped)\n"), p.kept, p.lost);
    } else if (how == FS_CONFLICT_RESTORED) {
        printf(_("is %s again (%s dropped)\n"), p.lost, p.kept);
    } else {
        char *line = value_line(col, &v);
        printf(_("is now %s\n"), line != NULL ? line : _("(the value given)"));
        cJSON_free(line);
    }
    printf("%s", _("the decision goes to the server with the next sync\n"));
    rc = CLI_OK;

done:
    cJSON_free(p.kept);
    cJSON_free(p.lost);
    fs_replica_close(r);
    return rc;
}
