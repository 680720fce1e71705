/*
 * Command-line options: one table-driven parser for fieldsync and
 * fieldsync-server.
 *
 * A command describes its options as an array of fs_opt rows (the name with
 * its dashes, what kind of option it is, where the result goes) and hands
 * argv to fs_opts_parse(), which walks it once:
 *
 *   form                 kind           effect
 *   --name               FS_OPT_FLAG    *flag = 1 (again: no harm)
 *   --name VALUE         FS_OPT_VALUE   *value = VALUE (a second one: error)
 *   --name=VALUE         FS_OPT_VALUE   the same; the only way to pass a
 *                                       value that starts with "--"
 *   --name VALUE ...     FS_OPT_LIST    appended to *list, in argv order
 *   --help, -h           (any table)    parsing stops: FS_OPTS_HELP
 *
 * A VALUE or LIST option followed by nothing, or by an argument that starts
 * with "--", is missing its value. Values point into argv; nothing is
 * copied except the arrays of lists.
 *
 * The parser prints nothing. On a bad command line it fills an
 * fs_opts_error (what went wrong, which argument, which option) and each
 * binary words the message in its own voice, on its own stream, with its
 * own usage text.
 */
#ifndef FIELDSYNC_OPTS_H
#define FIELDSYNC_OPTS_H

#include <stddef.h>

/* Returned by the parsers when argv asked for help (--help or -h). */
#define FS_OPTS_HELP 1

/* The values of a repeatable option in command-line order; the strings
 * point into argv (or wherever the caller's appends point). Starts as
 * {NULL, 0}; free with fs_opt_list_free(). */
typedef struct fs_opt_list {
    const char **items;
    size_t count;
} fs_opt_list;

/* Appends item (not copied). 0, or FS_ENOMEM with the list unchanged. */
int fs_opt_list_append(fs_opt_list *l, const char *item);

/* Frees the array (not the strings) and empties the list; accepts an
 * empty one. */
void fs_opt_list_free(fs_opt_list *l);

typedef enum fs_opt_kind {
    FS_OPT_FLAG,  /* --x: sets *flag to 1 */
    FS_OPT_VALUE, /* --x VALUE or --x=VALUE, at most once: sets *value */
    FS_OPT_LIST   /* --x VALUE or --x=VALUE, repeatable: appends to *list */
} fs_opt_kind;

/* One row of a command's table. Only the destination of its kind is used:
 * flag for FS_OPT_FLAG, value for FS_OPT_VALUE (which must hold NULL before
 * parsing: a default is applied afterwards), list for FS_OPT_LIST. */
typedef struct fs_opt {
    const char *name; /* with the dashes: "--name" */
    fs_opt_kind kind;
    int *flag;
    const char **value;
    fs_opt_list *list;
} fs_opt;

typedef enum fs_opts_problem {
    FS_OPTS_NONE = 0,
    FS_OPTS_STRAY,    /* an argument that is not an option ("x", "-x", "--") */
    FS_OPTS_UNKNOWN,  /* --x is not in the table */
    FS_OPTS_HASVALUE, /* --flag=VALUE: a flag takes no value */
    FS_OPTS_MISSING,  /* --x at the end, or followed by another --option */
    FS_OPTS_TWICE     /* an FS_OPT_VALUE option given a second time */
} fs_opts_problem;

/* What was wrong with a command line. name points into argv at the option
 * as written, up to but not including any "=VALUE" (namelen bytes; not
 * NUL-terminated there); opt is its table row when it has one. */
typedef struct fs_opts_error {
    fs_opts_problem problem;
    int index; /* of the offending argument in argv */
    const char *name;
    int namelen;
    const fs_opt *opt;
} fs_opts_error;

/* Parses argv[0..argc), all of which must be options of the table (opts
 * may be NULL when nopts is 0). err (may be NULL) is zeroed first and
 * filled on FS_EINVAL. Returns:
 *   0             every argument stored
 *   FS_OPTS_HELP  --help or -h met before any error; stopped there
 *   FS_EINVAL     a bad command line, described in *err
 *   FS_ENOMEM     appending to a list failed
 * Destinations written before an error keep what they got; lists are the
 * caller's to free in every case. */
int fs_opts_parse(const fs_opt *opts, size_t nopts, int argc, char **argv, fs_opts_error *err);

/* The options in front of a command word (a binary's global options):
 * like fs_opts_parse, but parsing ends at the first argument that does not
 * start with '-', and *next is its index (argc when there is none). Before
 * it, an argument starting with '-' that is not in the table ("-x", "--")
 * is FS_OPTS_UNKNOWN. */
int fs_opts_parse_head(const fs_opt *opts, size_t nopts, int argc, char **argv, int *next,
                       fs_opts_error *err);

#endif
