/*
 * The record rules checked before a write is saved (client/precheck.c):
 * what the server would refuse is refused here, in the rep's words.
 */
#ifndef FIELDSYNC_CLIENT_PRECHECK_H
#define FIELDSYNC_CLIENT_PRECHECK_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "fieldsync/records.h"
#include "fieldsync/replica.h"

/* The device's user into me ("" when not set) and the role the checks
 * assume: the "role" setting, or what the replica shows (precheck.c).
 * FS_RECORD_ANYONE when not known. 0 or an FS_E* code. */
int precheck_role(fs_replica *r, char me[FS_USER_MAX + 1], fs_record_role *role);

/* Checks the cells about to be written to table (a new row: id NULL)
 * against the record rules, as the server will. CLI_OK; CLI_EUSAGE with a
 * message "COMMAND: only a manager can ..." printed; CLI_ERUNTIME when the
 * replica cannot be read. */
/* CLI_EUSAGE, with a message "WHAT: customer ... was handed to another
 * rep", when this device knows the customer left its user's scope (it was
 * purged, or its purge waits for this device's work to be sent; issue 24);
 * CLI_OK when not; CLI_ERUNTIME when the replica cannot be read. */
int precheck_handed_away(fs_replica *r, const char *what, const uint8_t customer[FS_ID_BYTES]);

int precheck_write(fs_replica *r, const char *command, const char *table, const uint8_t *id,
                   const fs_cell *cells, size_t n);

#endif
