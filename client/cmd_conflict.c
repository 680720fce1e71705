/*
 * conflict list: the values that lost a last-writer-wins merge. When two
 * devices change the same field before they sync, every device keeps the
 * newer value and a conflict record holding the other one, so nothing a rep
 * typed is lost; this command shows them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "record.h"

typedef struct conflict_walk {
    cJSON *list; /* JSON output, or NULL: print lines on stdout */
    size_t count;
} conflict_walk;

/* A value as one line of JSON (quoted and escaped text), for the plain
 * listing: control characters in a peer's text cannot drive the terminal. */
static int print_value(const fs_column *col, const fs_value *v)
{
    cJSON *item = rec_value_json(col, v);
    char *s = item != NULL ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (s == NULL)
        return FS_ENOMEM;
    fputs(s, stdout);
    cJSON_free(s);
    return 0;
}

static int conflict_cb(const fs_conflict *c, void *ctx)
{
    conflict_walk *w = ctx;
    char rowhex[2 * FS_ID_BYTES + 1], idhex[2 * FS_ID_BYTES + 1];
    const char *table;
    const fs_column *col = rec_schema_column(c->table, c->column, &table);
    cJSON *obj;

    fs_id_to_hex(c->row, rowhex);
    fs_id_to_hex(c->id, idhex);
    w->count++;
    if (w->list == NULL) {
        int rc;
        printf("%.8s  %s.%s (row %.8s): kept ", idhex, table, col->name, rowhex);
        rc = print_value(col, &c->winner);
        if (rc == 0) {
            fputs(", lost ", stdout);
            rc = print_value(col, &c->loser);
        }
        putchar('\n');
        return rc;
    }
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

int cmd_conflict_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    conflict_walk w = {NULL, 0};
    fs_replica *r = NULL;
    int rc;

    rc = cli_parse(ctx, USAGE_CONFLICT_LIST, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (json && (w.list = cJSON_CreateArray()) == NULL)
        return cli_fail(NULL, "conflict list", FS_ENOMEM);
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        goto done;
    rc = fs_conflicts(r, 0, conflict_cb, &w);
    if (rc != 0) {
        rc = cli_fail(r, "conflict list", rc);
        goto done;
    }
    if (json) {
        rc = rec_json_print(w.list, stdout) == 0 ? CLI_OK
                                                 : cli_fail(NULL, "conflict list", FS_ENOMEM);
    } else {
        if (w.count == 0)
            printf("no open conflicts\n");
        rc = CLI_OK;
    }

done:
    cJSON_Delete(w.list);
    fs_replica_close(r);
    return rc;
}
