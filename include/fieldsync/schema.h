/*
 * The synced record types: one table per record the sales handbook names
 * (../shared/HANDBOOK.md), plus the conflict records of the replica itself.
 *
 * Every table's column 0 is "deleted", the tombstone: a versioned column like
 * the others, so deletes merge by the same rule. Columns are only ever
 * appended, so the indexes stored in change logs stay valid across versions.
 *
 * THE SCHEMA GROWS. Each table and column says in which schema version it
 * came (`since`; 0 and 1 are the first). A replica of an older version is
 * migrated when it is opened (fs_replica_open: new tables created, new
 * columns added, its pull cursor reset so the rows it could not receive
 * arrive). A device of an older version never receives a change it cannot
 * apply: a sync session's protocol version says which schema the peer knows
 * (fieldsync/msg.h, fs_proto_schema), and the server leaves the
 * newer tables and columns out of what it sends it.
 */
#ifndef FIELDSYNC_SCHEMA_H
#define FIELDSYNC_SCHEMA_H

#include <stddef.h>

#include "fieldsync/calendar.h" /* fs_date_valid, fs_datetime_valid */

typedef enum fs_coltype {
    FS_COL_TEXT,     /* UTF-8 text */
    FS_COL_INT,      /* 64-bit integer */
    FS_COL_BOOL,     /* integer 0 or 1 */
    FS_COL_REAL,     /* double */
    FS_COL_ID,       /* 16-byte row id (blob) of a row in `ref` */
    FS_COL_DATE,     /* text "YYYY-MM-DD" */
    FS_COL_DATETIME, /* text "YYYY-MM-DD HH:MM" (local time of the team) */
    FS_COL_BLOB,     /* opaque bytes */
    FS_COL_ANY       /* any of the above (conflict records) */
} fs_coltype;

#define FS_COL_REQUIRED 0x1u /* must be present and non-empty when a row is created */

typedef struct fs_column {
    const char *name;
    fs_coltype type;
    unsigned flags;
    const char *ref; /* for FS_COL_ID: the referenced table */
    unsigned since;  /* the schema version it came in; 0: the first */
} fs_column;

#define FS_TABLE_INTERNAL 0x1u /* written by the replica itself (conflict) */

typedef struct fs_table {
    const char *name;
    const fs_column *columns; /* columns[0] is "deleted" */
    unsigned ncolumns;
    unsigned flags;
    unsigned since; /* the schema version it came in; 0: the first */
} fs_table;

/* The schema version of this build: 2 added `handover` and `charge`, 3
 * added `refusal_tally` (protocol version 4, FS_PROTO_VERSION_SCHEMA3), 4
 * added `roster` (protocol version 5, FS_PROTO_VERSION_SCHEMA4), 5 added
 * `team_setting` (protocol version 6, FS_PROTO_VERSION_TEAM), 6 added
 * `deal`, `payment`, `contract` and `survey`, `attachment` and `visit_plan` (protocol version 7,
 * FS_PROTO_VERSION_SCHEMA6). */
#define FS_SCHEMA_VERSION 6u

/* Hard limits on what any column value may hold. */
#define FS_MAX_TEXT (64u * 1024u)
#define FS_MAX_BLOB (256u * 1024u)

/* All tables, in their fixed order. */
const fs_table *fs_schema_tables(unsigned *count);

/* Index of a table or column by name, or -1. */
int fs_schema_table_index(const char *name);
int fs_schema_column_index(const fs_table *t, const char *name);

const char *fs_coltype_name(fs_coltype type);

/* 1 if column of table exists in schema version `version` (a table or
 * column that came later, or one this build does not have: 0). */
int fs_schema_in_version(unsigned version, unsigned table, unsigned column);

/* DATE and DATETIME values are checked by fs_date_valid and
 * fs_datetime_valid (fieldsync/calendar.h). */
/* 1 if the n bytes are well-formed UTF-8 (no overlongs, no surrogates). */
int fs_utf8_valid(const void *s, size_t n);

#endif
