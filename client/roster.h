/*
 * The team roster on a device (client/roster.c): a new owner named with
 * --owner must be a user on it.
 */
#ifndef FIELDSYNC_CLIENT_ROSTER_H
#define FIELDSYNC_CLIENT_ROSTER_H

#include "cli.h"
#include "fieldsync/replica.h"

/* The user typed for flag (--owner), folded (surrounding spaces dropped,
 * Latin letters in lower case) and checked against the roster the server
 * sent (the `roster` table, schema 4) into out: CLI_OK with the roster's
 * spelling of the name; CLI_EUSAGE, said, for a name not on it ("did you
 * mean wang?" when one is near), a user in another team than the device's
 * user, or a user who left (disabled). Before a roster has come (an older
 * server, or no sync yet: no row other than the device's user's own), the
 * folded name is taken as typed and the server decides. CLI_ERUNTIME when
 * the replica cannot be read. */
int roster_owner(fs_replica *r, const char *flag, const char *typed, char out[FS_USER_MAX + 1]);

/* Edit distance of a and b (bytes; a swap of two neighbours is one edit),
 * or max + 1 when above max. */
unsigned roster_distance(const char *a, const char *b, unsigned max);

#endif
