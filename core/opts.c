/*
 * The command-line option parser of both binaries (fieldsync/opts.h): one
 * pass over argv against a table, reporting the first problem as data so
 * that each binary words it itself.
 */
#include <stdlib.h>
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/opts.h"

int fs_opt_list_append(fs_opt_list *l, const char *item)
{
    const char **grown = realloc(l->items, (l->count + 1) * sizeof *grown);
    if (grown == NULL)
        return FS_ENOMEM;
    l->items = grown;
    l->items[l->count++] = item;
    return 0;
}

void fs_opt_list_free(fs_opt_list *l)
{
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static const fs_opt *find_opt(const fs_opt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int problem(fs_opts_error *err, fs_opts_problem what, int index, const char *name,
                   size_t namelen, const fs_opt *opt)
{
    if (err != NULL) {
        err->problem = what;
        err->index = index;
        err->name = name;
        err->namelen = (int)namelen;
        err->opt = opt;
    }
    return FS_EINVAL;
}

/* head: stop at the first argument that does not start with '-' (*next). */
static int parse(const fs_opt *opts, size_t nopts, int argc, char **argv, int head, int *next,
                 fs_opts_error *err)
{
    fs_opts_error unused;
    if (err == NULL)
        err = &unused;
    memset(err, 0, sizeof *err);
    int i;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return FS_OPTS_HELP;
        if (head && arg[0] != '-')
            break;
        const char *eq = strchr(arg, '=');
        size_t namelen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (!head && (strncmp(arg, "--", 2) != 0 || arg[2] == '\0'))
            return problem(err, FS_OPTS_STRAY, i, arg, namelen, NULL);
        const fs_opt *opt = find_opt(opts, nopts, arg, namelen);
        if (opt == NULL)
            return problem(err, FS_OPTS_UNKNOWN, i, arg, namelen, NULL);
        if (opt->kind == FS_OPT_FLAG) {
            if (eq != NULL)
                return problem(err, FS_OPTS_HASVALUE, i, arg, namelen, opt);
            *opt->flag = 1;
            continue;
        }

        const char *value;
        int at = i;
        if (eq != NULL)
            value = eq + 1;
        else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
            value = argv[++i];
        else
            return problem(err, FS_OPTS_MISSING, i, arg, namelen, opt);
        if (opt->kind == FS_OPT_VALUE) {
            if (*opt->value != NULL)
                return problem(err, FS_OPTS_TWICE, at, arg, namelen, opt);
            *opt->value = value;
        } else if (fs_opt_list_append(opt->list, value) != 0) {
            return FS_ENOMEM;
        }
    }
    if (next != NULL)
        *next = i;
    return 0;
}

int fs_opts_parse(const fs_opt *opts, size_t nopts, int argc, char **argv, fs_opts_error *err)
{
    return parse(opts, nopts, argc, argv, 0, NULL, err);
}

int fs_opts_parse_head(const fs_opt *opts, size_t nopts, int argc, char **argv, int *next,
                       fs_opts_error *err)
{
    *next = argc;
    return parse(opts, nopts, argc, argv, 1, next, err);
}
