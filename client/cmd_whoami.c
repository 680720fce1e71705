/*
 * fieldsync whoami: the device's user, who signs the forms (the record
 * rules name the column), and the team. Enrolling sets both from the
 * server, and each sync sets them again (servers of protocol version 3 on:
 * fs_replica_adopt_user); --set is for a laptop that has not enrolled yet.
 */
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "cmd.h"
#include "form.h"
#include "i18n.h"
#include "record.h"

int cmd_whoami(cli_ctx *ctx, int argc, char **argv)
{
    const char *set = NULL, *team = NULL;
    int json = 0;
    const cli_opt opts[] = {{"--set", CLI_VALUE, NULL, &set, NULL},
                            {"--team", CLI_VALUE, NULL, &team, NULL},
                            {"--json", CLI_FLAG, &json, NULL, NULL}};
    int rc = cli_parse(ctx, USAGE_WHOAMI, opts, N(opts), argc, argv);
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    const struct {
        const char *flag, *value;
    } given[] = {{"--set", set}, {"--team", team}};
    for (size_t i = 0; rc == CLI_OK && i < N(given); i++) {
        if (given[i].value == NULL)
            continue;
        rc = cli_require("whoami", given[i].flag, given[i].value);
        if (rc == CLI_OK)
            rc = cli_check_text(given[i].flag, given[i].value);
        if (rc == CLI_OK && strlen(given[i].value) > FS_USER_MAX) {
            cli_error(_("%s: at most %d bytes"), given[i].flag, FS_USER_MAX);
            rc = CLI_EUSAGE;
        }
    }
    if (rc != CLI_OK)
        return rc;
    fs_replica *r = NULL;
    rc = cli_open(ctx, &r);
    if (rc != CLI_OK)
        return rc;
    int frc = 0;
    char url[FS_SERVER_URL_MAX + 1];
    uint8_t pk[32];
    if (set != NULL && fs_replica_server(r, url, pk) == 0)
        fprintf(stderr, "fieldsync: %s\n",
                _("note: this device is enrolled: its next sync sets the user name and team the "
                  "server knows it by"));
    if (set != NULL)
        frc = fs_replica_set_user(r, set);
    if (frc == 0 && team != NULL)
        frc = fs_replica_set_setting(r, "team", team);
    char me[FS_USER_MAX + 1], myteam[FS_USER_MAX + 1];
    if (frc == 0)
        frc = fs_replica_user(r, me);
    int has_team = frc == 0 && fs_replica_setting(r, "team", myteam, sizeof myteam) == 0;
    char role[16]; /* as the server said (READY, protocol version 4 on) */
    int has_role = frc == 0 && fs_replica_setting(r, "role", role, sizeof role) == 0;
    if (frc == FS_ENOTFOUND) {
        cli_error(_("no user name set on this device: enrolling sets it from the server, or set "
                    "it with fieldsync whoami --set NAME [--team TEAM]"));
        rc = CLI_ERUNTIME;
    } else if (frc != 0) {
        rc = cli_fail(r, "whoami", frc);
    } else if (json) {
        cJSON *o = cJSON_CreateObject();
        int bad =
            o == NULL || rec_json_add(o, "user", cJSON_CreateString(me)) ||
            rec_json_add(o, "team", has_team ? cJSON_CreateString(myteam) : cJSON_CreateNull()) ||
            rec_json_add(o, "role", has_role ? cJSON_CreateString(role) : cJSON_CreateNull());
        rc = !bad && rec_json_print(o, stdout) == 0 ? CLI_OK : cli_fail(NULL, "whoami", FS_ENOMEM);
        cJSON_Delete(o);
    } else {
        const char *said = has_role ? cli_role_words(role) : NULL;
        if (has_team && said != NULL)
            printf(_("%s (team %s, %s)\n"), me, myteam, said);
        else if (has_team)
            printf(_("%s (team %s)\n"), me, myteam);
        else if (said != NULL)
            printf(_("%s (%s)\n"), me, said);
        else
            printf("%s\n", me);
    }
    fs_replica_close(r);
    return rc;
}
