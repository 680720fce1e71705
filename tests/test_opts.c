/*
 * The option parser of both binaries (fieldsync/opts.h): values in both
 * forms, flags, repeated options, --help, and every kind of bad command
 * line reported with the argument and the option it concerns.
 */
#include <string.h>

#include "fieldsync/error.h"
#include "fieldsync/opts.h"
#include "test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The table of a typical command: a value, a flag, a repeatable option. */
typedef struct cmdline {
    const char *name, *time;
    int json;
    fs_opt_list tags;
    fs_opt opts[4];
} cmdline;

static void cmdline_init(cmdline *c)
{
    memset(c, 0, sizeof *c);
    c->opts[0] = (fs_opt){"--name", FS_OPT_VALUE, NULL, &c->name, NULL};
    c->opts[1] = (fs_opt){"--time", FS_OPT_VALUE, NULL, &c->time, NULL};
    c->opts[2] = (fs_opt){"--json", FS_OPT_FLAG, &c->json, NULL, NULL};
    c->opts[3] = (fs_opt){"--tag", FS_OPT_LIST, NULL, NULL, &c->tags};
}

static int parse(cmdline *c, char **argv, int argc, fs_opts_error *e)
{
    return fs_opts_parse(c->opts, N(c->opts), argc, argv, e);
}

/* Checks that the error names want (the option as written, without "=..."). */
static void check_named(const fs_opts_error *e, const char *want)
{
    CHECK_EQ_INT(e->namelen, strlen(want));
    CHECK_MEM(e->name, want, strlen(want));
}

static void test_values(void)
{
    cmdline c;
    fs_opts_error e;
    char *argv[] = {"--name", "Acme Ltd", "--time=2023-10-10 14:00"};
    cmdline_init(&c);
    CHECK_OK(parse(&c, argv, N(argv), &e));
    CHECK_STR(c.name, "Acme Ltd");
    CHECK_STR(c.time, "2023-10-10 14:00");
    CHECK_EQ_INT(c.json, 0);
    CHECK_EQ_INT(c.tags.count, 0);
    CHECK_EQ_INT(e.problem, FS_OPTS_NONE);
}

static void test_equals_form(void)
{
    cmdline c;
    /* "=" passes a value that starts with "--", an empty one, and one with
     * another "=" in it. */
    char *argv[] = {"--name=--odd", "--time=", "--tag=a=b"};
    cmdline_init(&c);
    CHECK_OK(parse(&c, argv, N(argv), NULL));
    CHECK_STR(c.name, "--odd");
    CHECK_STR(c.time, "");
    CHECK_EQ_INT(c.tags.count, 1);
    CHECK_STR(c.tags.items[0], "a=b");
    fs_opt_list_free(&c.tags);
}

static void test_flags(void)
{
    cmdline c;
    char *argv[] = {"--json", "--json"}; /* a flag twice does no harm */
    cmdline_init(&c);
    CHECK_OK(parse(&c, argv, N(argv), NULL));
    CHECK_EQ_INT(c.json, 1);

    fs_opts_error e;
    char *bad[] = {"--json=yes"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, bad, N(bad), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_HASVALUE);
    CHECK_EQ_INT(e.index, 0);
    check_named(&e, "--json");
    CHECK(e.opt == &c.opts[2]);
    CHECK_EQ_INT(c.json, 0);
}

static void test_repeated(void)
{
    cmdline c;
    char *argv[] = {"--tag", "one", "--name", "n", "--tag=two", "--tag", "three"};
    cmdline_init(&c);
    CHECK_OK(parse(&c, argv, N(argv), NULL));
    CHECK_EQ_INT(c.tags.count, 3);
    CHECK_STR(c.tags.items[0], "one");
    CHECK_STR(c.tags.items[1], "two");
    CHECK_STR(c.tags.items[2], "three");
    CHECK(c.tags.items[0] == argv[1]); /* pointers into argv, not copies */
    fs_opt_list_free(&c.tags);
    CHECK(c.tags.items == NULL);
    CHECK_EQ_INT(c.tags.count, 0);
    fs_opt_list_free(&c.tags); /* an empty list again */
}

static void test_value_twice(void)
{
    cmdline c;
    fs_opts_error e;
    char *argv[] = {"--name", "a", "--json", "--name=b"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, argv, N(argv), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_TWICE);
    CHECK_EQ_INT(e.index, 3);
    check_named(&e, "--name");
    CHECK(e.opt == &c.opts[0]);
    CHECK_STR(c.name, "a"); /* the first one stays */
}

static void test_missing_value(void)
{
    cmdline c;
    fs_opts_error e;
    /* At the end. */
    char *end[] = {"--json", "--name"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, end, N(end), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_MISSING);
    CHECK_EQ_INT(e.index, 1);
    check_named(&e, "--name");
    CHECK(c.name == NULL);

    /* Followed by another option, which is not taken for the value. */
    char *before[] = {"--time", "--name", "n"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, before, N(before), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_MISSING);
    CHECK_EQ_INT(e.index, 0);
    check_named(&e, "--time");

    /* A repeatable one too. */
    char *list[] = {"--tag", "a", "--tag"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, list, N(list), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_MISSING);
    CHECK_EQ_INT(e.index, 2);
    check_named(&e, "--tag");
    CHECK_EQ_INT(c.tags.count, 1); /* what came before is the caller's to free */
    fs_opt_list_free(&c.tags);
}

static void test_unknown(void)
{
    cmdline c;
    fs_opts_error e;
    char *argv[] = {"--json", "--mood=happy"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, argv, N(argv), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);
    CHECK_EQ_INT(e.index, 1);
    check_named(&e, "--mood");
    CHECK(e.opt == NULL);

    /* A prefix of a known name is not that name. */
    char *prefix[] = {"--nam", "x"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, prefix, N(prefix), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);
    check_named(&e, "--nam");

    /* No table at all. */
    char *none[] = {"--json"};
    CHECK_ERR(fs_opts_parse(NULL, 0, 1, none, &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);
    CHECK_OK(fs_opts_parse(NULL, 0, 0, NULL, &e));
}

static void test_stray(void)
{
    cmdline c;
    fs_opts_error e;
    const char *strays[] = {"value", "-n", "--", "-"};
    for (size_t i = 0; i < N(strays); i++) {
        char *argv[] = {"--json", (char *)strays[i]};
        cmdline_init(&c);
        CHECK_ERR(parse(&c, argv, N(argv), &e), FS_EINVAL);
        CHECK_EQ_INT(e.problem, FS_OPTS_STRAY);
        CHECK_EQ_INT(e.index, 1);
    }
}

static void test_help(void)
{
    cmdline c;
    fs_opts_error e;
    char *argv[] = {"--json", "--help", "--mood"};
    cmdline_init(&c);
    CHECK_EQ_INT(parse(&c, argv, N(argv), &e), FS_OPTS_HELP);
    CHECK_EQ_INT(c.json, 1); /* what came before was stored */
    CHECK_EQ_INT(e.problem, FS_OPTS_NONE);

    char *h[] = {"-h"};
    cmdline_init(&c);
    CHECK_EQ_INT(parse(&c, h, N(h), &e), FS_OPTS_HELP);

    /* An error before --help is the answer. */
    char *late[] = {"--mood", "--help"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, late, N(late), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);

    /* --help=x is not --help. */
    char *eq[] = {"--help=x"};
    cmdline_init(&c);
    CHECK_ERR(parse(&c, eq, N(eq), &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);
    check_named(&e, "--help");
}

/* The global options in front of a command word. */
static void test_head(void)
{
    const char *home = NULL;
    int version = 0, next = -1;
    fs_opts_error e;
    const fs_opt opts[] = {{"--home", FS_OPT_VALUE, NULL, &home, NULL},
                           {"--version", FS_OPT_FLAG, &version, NULL, NULL}};

    char *argv[] = {"--home", "/tmp/h", "customer", "add", "--name", "x"};
    CHECK_OK(fs_opts_parse_head(opts, N(opts), N(argv), argv, &next, &e));
    CHECK_STR(home, "/tmp/h");
    CHECK_EQ_INT(next, 2);

    char *none[] = {"--version"};
    home = NULL;
    CHECK_OK(fs_opts_parse_head(opts, N(opts), N(none), none, &next, &e));
    CHECK_EQ_INT(version, 1);
    CHECK_EQ_INT(next, 1); /* no command word */

    char *cmd_first[] = {"sync", "--bogus"};
    CHECK_OK(fs_opts_parse_head(opts, N(opts), N(cmd_first), cmd_first, &next, &e));
    CHECK_EQ_INT(next, 0);

    const char *unknown[] = {"-x", "--", "-", "--bogus=1"};
    for (size_t i = 0; i < N(unknown); i++) {
        char *bad[] = {(char *)unknown[i], "sync"};
        CHECK_ERR(fs_opts_parse_head(opts, N(opts), N(bad), bad, &next, &e), FS_EINVAL);
        CHECK_EQ_INT(e.problem, FS_OPTS_UNKNOWN);
        CHECK_EQ_INT(e.index, 0);
    }
    check_named(&e, "--bogus");

    char *missing[] = {"--home"};
    home = NULL;
    CHECK_ERR(fs_opts_parse_head(opts, N(opts), N(missing), missing, &next, &e), FS_EINVAL);
    CHECK_EQ_INT(e.problem, FS_OPTS_MISSING);
    check_named(&e, "--home");

    char *help[] = {"-h", "sync"};
    CHECK_EQ_INT(fs_opts_parse_head(opts, N(opts), N(help), help, &next, &e), FS_OPTS_HELP);
}

static void test_list_append(void)
{
    fs_opt_list l = {NULL, 0};
    for (int i = 0; i < 100; i++)
        CHECK_OK(fs_opt_list_append(&l, i % 2 ? "odd" : "even"));
    CHECK_EQ_INT(l.count, 100);
    CHECK_STR(l.items[99], "odd");
    fs_opt_list_free(&l);
}

TEST_LIST(TEST(values) TEST(equals_form) TEST(flags) TEST(repeated) TEST(value_twice)
              TEST(missing_value) TEST(unknown) TEST(stray) TEST(help) TEST(head) TEST(list_append))
