/*
 * The team's calendar on a device (teamcal.h): read from the
 * server-written `team_setting` rows of the device's team.
 */
#include <string.h>

#include "cli.h"
#include "fieldsync/rules.h"
#include "i18n.h"
#include "teamcal.h"

int teamcal_load(fs_replica *r, fs_calendar *cal, int *found, char team[FS_USER_MAX + 1])
{
    fs_calendar_default(cal);
    *found = 0;
    team[0] = '\0';
    int rc = fs_replica_setting(r, "team", team, FS_USER_MAX + 1);
    if (rc == FS_ENOTFOUND || rc == FS_ETOOBIG) {
        team[0] = '\0';
        return 0; /* never synced with a server that names the team */
    }
    if (rc != 0)
        return rc;
    int unusable = 0;
    rc = fs_team_calendar(r, team, cal, found, &unusable);
    if (rc == 0 && unusable > 0)
        cli_error(_("the team's time zone is not known on this machine (install tzdata); using "
                    "this machine's"));
    return rc;
}
