/*
 * The changes the server refused, as the rep sees them (client/refused.c):
 * named by their records (a customer by its name, a visit by its customer
 * and time), with the reason in words. The commands `refused list|show|
 * revert|retry` and the lines `status` and `today` open with.
 */
#ifndef FIELDSYNC_CLIENT_REFUSED_H
#define FIELDSYNC_CLIENT_REFUSED_H

#include <stddef.h>
#include <stdio.h>

#include "fieldsync/replica.h"

/* A record's name for people: "customer XX科技有限公司", "visit of
 * XX科技有限公司 (2026-12-01 10:00)", or "visit 510334a1 (no longer on this
 * device)". 0, or an FS_E* code from the replica. */
int refused_record_name(fs_replica *r, unsigned table, const uint8_t row[FS_ID_BYTES], char *out,
                        size_t cap);

/* The refused changes' lines for status, sync and the first lines of today:
 * their number, and the records they belong to (at most a few, then how
 * many more); nothing when there are none. names 0: each record by its kind
 * and id only, never a customer's name or a record's words (status and sync
 * to a file or pipe: issue 20.4; today's lines go through the export gate
 * with the rest of today). 0 or an FS_E* code. */
int refused_summary(fs_replica *r, FILE *f, int names);

/* The records refused_summary names, added to set (export.h: the export
 * gate counts them). 0 or an FS_E* code. */
struct cli_recset;
int refused_summary_records(fs_replica *r, struct cli_recset *set);

/* How many refused changes this device undid itself (hand-overs the server
 * refused: fs_refusals_revert_handovers), into *n; 0 or an FS_E* code. And
 * the line sync prints when there are new ones. */
int refused_undone(fs_replica *r, uint64_t *n);
void refused_say_undone(uint64_t n, FILE *f);

/* The rep's words for a reason code (the server's text when it is one this
 * build does not know). Never NULL. */
const char *refused_reason_words(uint32_t reason);

#endif
