/*
 * The customer's own parts of its row in the form table (form_table.c): a
 * customer is one row of table "customer" (core/schema.c); add and edit are
 * the form engine's, and the list shows each customer's latest visit, since
 * the handbook wants key accounts contacted at least once a month.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "export.h"
#include "form.h"
#include "i18n.h"
#include "record.h"
#include "table.h"

int cmd_customer_add(cli_ctx *ctx, int argc, char **argv)
{
    return form_run(ctx, "customer", "add", argc, argv);
}

int cmd_customer_edit(cli_ctx *ctx, int argc, char **argv)
{
    return form_run(ctx, "customer", "edit", argc, argv);
}

int cmd_customer_list(cli_ctx *ctx, int argc, char **argv)
{
    return form_run(ctx, "customer", "list", argc, argv);
}

static int list_json(fs_replica *r)
{
    cJSON *all = cJSON_CreateArray();
    fs_rows *it = NULL;
    int rc;

    if (all == NULL)
        return cli_fail(NULL, "customer list", FS_ENOMEM);
    rc = fs_rows_open(&it, r, "customer", NULL, NULL, "name");
    if (rc != 0)
        goto fail;
    for (;;) {
        cJSON *obj;
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        rc = rec_json(it, "customer", &obj);
        if (rc == 0)
            rc = rec_json_add(all, NULL, obj);
        if (rc != 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    fs_rows_close(it);
    it = NULL;
    rc = cli_export_gate(r, "customer", (size_t)cJSON_GetArraySize(all));
    if (rc != CLI_OK) {
        cJSON_Delete(all);
        return rc;
    }
    rc = rec_json_print(all, stdout);
    if (rc != 0)
        goto fail;
    cJSON_Delete(all);
    return CLI_OK;

fail:
    if (it != NULL)
        fs_rows_close(it);
    cJSON_Delete(all);
    return cli_fail(r, "customer list", rc);
}

static int list_table(fs_replica *r)
{
    static const cli_column cols[] = {
        {N_("ID"), 0},          {N_("NAME"), 36},  {N_("INDUSTRY"), 16},
        {N_("KEY ACCOUNT"), 0}, {N_("OWNER"), 16}, {N_("LAST VISIT"), 0},
    };
    rec_index last_visit = {NULL, 0};
    cli_table *t = NULL;
    fs_rows *it = NULL;
    char *name = NULL, *industry = NULL, *owner = NULL;
    int rc;

    rc = rec_index_load(&last_visit, r, "visit", "customer", "time");
    if (rc != 0)
        goto fail;
    rc = cli_table_new(&t, cols, sizeof cols / sizeof cols[0]);
    if (rc != 0)
        goto fail;
    rc = fs_rows_open(&it, r, "customer", NULL, NULL, "name");
    if (rc != 0)
        goto fail;
    for (;;) {
        fs_value key = fs_null();
        char hex[2 * FS_ID_BYTES + 1];
        rc = fs_rows_next(it);
        if (rc <= 0)
            break;
        rc = rec_text(it, "name", &name);
        if (rc == 0)
            rc = rec_text(it, "industry", &industry);
        if (rc == 0)
            rc = rec_text(it, "owner", &owner);
        if (rc == 0)
            rc = fs_rows_get(it, "key_account", &key);
        if (rc != 0)
            goto fail;
        fs_id_to_hex(fs_rows_id(it), hex);
        hex[8] = '\0';
        const char *key_cell = key.type == FS_INT && key.i != 0 ? _("yes") : "";
        const char *last = rec_index_find(&last_visit, fs_rows_id(it));
        const char *cells[] = {hex, name, industry, key_cell, owner, last};
        rc = cli_table_add(t, cells);
        free(name);
        free(industry);
        free(owner);
        name = industry = owner = NULL;
        if (rc != 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    if (cli_table_rows(t) == 0)
        printf(_("no customers yet; add one with 'fieldsync customer add --name NAME'\n"));
    else if ((rc = cli_export_gate(r, "customer", cli_table_rows(t))) != CLI_OK)
        goto done;
    else
        cli_table_print(t, stdout);
    rc = CLI_OK;
    goto done;

fail:
    rc = cli_fail(r, "customer list", rc);
done:
    free(name);
    free(industry);
    free(owner);
    if (it != NULL)
        fs_rows_close(it);
    cli_table_free(t);
    rec_index_free(&last_visit);
    return rc;
}

int customer_list_rows(fs_replica *r, int json)
{
    return json ? list_json(r) : list_table(r);
}
