/*
 * The team's calendar on a device (client/teamcal.c, issue 17 point 7):
 * the time zone, working hours, holidays and weekend days worked that the
 * server set for the device's team (`fieldsync-server team set`), received
 * as `team_setting` rows (schema 5). Once they have come they are the
 * calendar of every view (today, report, calendar, status); the device's
 * own `fieldsync calendar` setting serves only before.
 */
#ifndef FIELDSYNC_CLIENT_TEAMCAL_H
#define FIELDSYNC_CLIENT_TEAMCAL_H

#include "fieldsync/calendar.h"
#include "fieldsync/replica.h"

/* cal set to the defaults and the team's settings; *found: how many the
 * team has on this device (0: none received yet, the device's own apply),
 * team: the device's team ("" when unknown). A zone this machine lacks is
 * skipped with a warning on stderr. 0 or the replica's error. */
int teamcal_load(fs_replica *r, fs_calendar *cal, int *found, char team[FS_USER_MAX + 1]);

#endif
