/*
 * No plaintext export (issue 20 point 4): a read command writing more than
 * one record's customer data to a file or pipe (not a terminal) needs
 * --export, and the team's policy (team settings export_rep /
 * export_manager, fieldsync/rules.h) decides what it writes: nothing
 * (forbidden), a file sealed to the company's export key, or plaintext.
 * Each export is recorded in the device's export audit (export_log).
 */
#ifndef FIELDSYNC_CLIENT_EXPORT_H
#define FIELDSYNC_CLIENT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "fieldsync/replica.h"

/* Set by main when the command line holds --export (anywhere after the
 * command word) or FIELDSYNC_EXPORT is 1. */
extern int cli_export_wanted;

/* Called by a read command before it prints n records of table kind (a
 * schema table's name, or "search"). Returns CLI_OK to print (stdout may
 * now be a sealing stream) or CLI_EUSAGE / CLI_ERUNTIME, message printed. */
int cli_export_gate(fs_replica *r, const char *kind, size_t n);

/* The records a command is about to print, to count them for the gate: the
 * same record named twice (two conflicts on one visit, a refused change and
 * a due commitment) is one record. Zero it to start. */
typedef struct cli_recset {
    struct cli_rec {
        unsigned table;
        uint8_t id[FS_ID_BYTES];
    } *v;
    size_t n, cap;
} cli_recset;

/* Adds the record (a schema table's index, its id): 0 or FS_ENOMEM. */
int cli_recset_add(cli_recset *s, unsigned table, const uint8_t id[FS_ID_BYTES]);
/* The same with the table by name (an unknown name counts under its own
 * index past the schema's). */
int cli_recset_add_named(cli_recset *s, const char *table, const uint8_t id[FS_ID_BYTES]);
/* How many distinct records were added (sorts the set). */
size_t cli_recset_count(cli_recset *s);
void cli_recset_free(cli_recset *s);

/* Ends a sealed export (main, after the command): the last chunk is
 * written when ok, else the file is left without its end (it will not
 * open). Returns 0, or -1 when writing failed. */
int cli_export_finish(int ok);

#endif
