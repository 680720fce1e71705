/*
 * customer add / edit / list. A customer is one row of table "customer"
 * (core/schema.c); the list shows each customer's latest visit, since the
 * handbook wants key accounts contacted at least once a month.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "record.h"
#include "table.h"

int cmd_customer_add(cli_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL, *industry = NULL, *owner = NULL;
    int key_account = 0;
    const cli_opt opts[] = {
        {"--name", CLI_VALUE, NULL, &name, NULL},
        {"--industry", CLI_VALUE, NULL, &industry, NULL},
        {"--owner", CLI_VALUE, NULL, &owner, NULL},
        {"--key-account", CLI_FLAG, &key_account, NULL, NULL},
    };
    fs_cell cells[4];
    size_t ncells = 0;
    fs_replica *r = NULL;
    uint8_t id[FS_ID_BYTES];
    char hex[2 * FS_ID_BYTES + 1];
    int rc;

    rc = cli_parse(ctx, USAGE_CUSTOMER_ADD, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    char *typed = NULL;
    rc = cli_require_ask("customer add", "--name", "Company name", &name, &typed);
    if (rc == CLI_OK)
        rc = cli_check_text("--name", name);
    if (rc == CLI_OK)
        rc = cli_check_text("--industry", industry);
    if (rc == CLI_OK)
        rc = cli_check_text("--owner", owner);
    if (rc != CLI_OK) {
        free(typed);
        return rc;
    }

    cells[ncells++] = (fs_cell){"name", fs_text(name)};
    cells[ncells++] = (fs_cell){"key_account", fs_int(key_account)};
    /* An optional field given as "" is left unset. */
    if (!cli_blank(industry))
        cells[ncells++] = (fs_cell){"industry", fs_text(industry)};
    if (!cli_blank(owner))
        cells[ncells++] = (fs_cell){"owner", fs_text(owner)};

    rc = cli_open(ctx, &r);
    if (rc != CLI_OK) {
        free(typed);
        return rc;
    }
    /* No --owner: the device's user owns what they record (the server
     * makes the creator the owner as well); without a name set, none. */
    char me[FS_USER_MAX + 1];
    if (cli_blank(owner) && fs_replica_user(r, me) == 0)
        cells[ncells++] = (fs_cell){"owner", fs_text(me)};
    rc = fs_insert(r, "customer", cells, ncells, id);
    if (rc != 0) {
        rc = cli_fail(r, "customer add: saving the customer", rc);
        goto done;
    }
    fs_id_to_hex(id, hex);
    printf("%s\n", hex);
    rc = CLI_OK;

done:
    fs_replica_close(r);
    free(typed);
    return rc;
}

int cmd_customer_edit(cli_ctx *ctx, int argc, char **argv)
{
    const char *customer = NULL, *name = NULL, *industry = NULL, *key = NULL, *owner = NULL;
    const cli_opt opts[] = {
        {"--customer", CLI_VALUE, NULL, &customer, NULL},
        {"--name", CLI_VALUE, NULL, &name, NULL},
        {"--industry", CLI_VALUE, NULL, &industry, NULL},
        {"--key-account", CLI_VALUE, NULL, &key, NULL},
        {"--owner", CLI_VALUE, NULL, &owner, NULL},
    };
    fs_cell cells[4];
    size_t ncells = 0;
    fs_replica *r = NULL;
    uint8_t id[FS_ID_BYTES];
    int rc;

    rc = cli_parse(ctx, USAGE_CUSTOMER_EDIT, opts, sizeof opts / sizeof opts[0], argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_require("customer edit", "--customer", customer);
    if (rc == CLI_OK)
        rc = cli_check_idprefix("--customer", customer);
    if (rc == CLI_OK && name != NULL)
        rc = cli_require("customer edit", "--name", name); /* a customer keeps a name */
    if (rc == CLI_OK)
        rc = cli_check_text("--name", name);
    if (rc == CLI_OK)
        rc = cli_check_text("--industry", industry);
    if (rc == CLI_OK && owner != NULL)
        rc = cli_require("customer edit", "--owner", owner); /* a user name */
    if (rc == CLI_OK)
        rc = cli_check_text("--owner", owner);
    if (rc != CLI_OK)
        return rc;
    if (key != NULL && strcmp(key, "yes") != 0 && strcmp(key, "no") != 0) {
        cli_error("customer edit: --key-account takes yes or no");
        return CLI_EUSAGE;
    }
    if (name == NULL && industry == NULL && key == NULL && owner == NULL) {
        cli_error("customer edit: nothing to change; give --name, --industry, --key-account or "
                  "--owner");
        return CLI_EUSAGE;
    }
    if (name != NULL)
        cells[ncells++] = (fs_cell){"name", fs_text(name)};
    if (industry != NULL) /* "" clears it */
        cells[ncells++] =
            (fs_cell){"industry", cli_blank(industry) ? fs_null() : fs_text(industry)};
    if (key != NULL)
        cells[ncells++] = (fs_cell){"key_account", fs_int(strcmp(key, "yes") == 0)};
    /* Handing a customer to another rep: the server accepts it from a
     * manager of the team only, and refuses it (kept, with the reason, in
     * status) from anyone else. */
    if (owner != NULL)
        cells[ncells++] = (fs_cell){"owner", fs_text(owner)};

    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    rc = cli_resolve(r, "customer", "--customer", customer, id);
    if (rc != CLI_OK)
        goto done;
    rc = fs_update(r, "customer", id, cells, ncells);
    rc = rc == 0 ? CLI_OK : cli_fail(r, "customer edit: saving the customer", rc);

done:
    fs_replica_close(r);
    return rc;
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
        {"ID", 0},          {"NAME", 36},  {"INDUSTRY", 16},
        {"KEY ACCOUNT", 0}, {"OWNER", 16}, {"LAST VISIT", 0},
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
        const char *key_cell = key.type == FS_INT && key.i != 0 ? "yes" : "";
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
        printf("no customers yet; add one with 'fieldsync customer add --name NAME'\n");
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

int cmd_customer_list(cli_ctx *ctx, int argc, char **argv)
{
    int json = 0;
    const cli_opt opts[] = {{"--json", CLI_FLAG, &json, NULL, NULL}};
    fs_replica *r = NULL;
    int rc;

    rc = cli_parse(ctx, USAGE_CUSTOMER_LIST, opts, 1, argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    rc = json ? list_json(r) : list_table(r);
    fs_replica_close(r);
    return rc;
}
