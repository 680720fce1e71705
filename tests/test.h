/*
 * Minimal test harness: a table of tests per executable, assertion macros that
 * print both sides on failure, each test run in a forked child with a timeout
 * so one crash or hang fails that test only.
 *
 *   static void test_x(void) { CHECK_EQ_INT(1 + 1, 2); }
 *   TEST_LIST(TEST(x))
 */
#ifndef FIELDSYNC_TEST_H
#define FIELDSYNC_TEST_H

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* Each test ends with _exit(), which skips LeakSanitizer's check at exit:
 * run it explicitly (it exits non-zero when something leaked). */
#define TEST_LEAK_CHECK() __lsan_do_leak_check()
#else
#define TEST_LEAK_CHECK() ((void)0)
#endif

#define FAIL(...)                                                                        \
    do {                                                                                 \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                  \
        fprintf(stderr, __VA_ARGS__);                                                    \
        fputc('\n', stderr);                                                             \
        exit(1);                                                                         \
    } while (0)

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            FAIL("check failed: %s", #cond);                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                               \
    do {                                                                                 \
        long long a_ = (long long)(a), b_ = (long long)(b);                              \
        if (a_ != b_)                                                                    \
            FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                              \
    } while (0)

#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ != 0)                                                                    \
            FAIL("%s returned %d (%s)", #expr, rc_, fs_errname(rc_));                    \
    } while (0)

#define CHECK_ERR(expr, code)                                                            \
    do {                                                                                 \
        int rc_ = (expr);                                                                \
        if (rc_ != (code))                                                               \
            FAIL("%s returned %d (%s), expected %s", #expr, rc_, fs_errname(rc_), #code);  \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *a_ = (a), *b_ = (b);                                                 \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                             \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",               \
                 b_ ? b_ : "(null)");                                                    \
    } while (0)

#define CHECK_MEM(a, b, n)                                                               \
    do {                                                                                 \
        if (memcmp((a), (b), (n)) != 0)                                                  \
            FAIL("%s and %s differ in their first %zu bytes", #a, #b, (size_t)(n));      \
    } while (0)

typedef struct test_entry {
    const char *name;
    void (*fn)(void);
} test_entry;

#define TEST(name) {#name, test_##name},

#ifndef TEST_TIMEOUT_SECONDS
#define TEST_TIMEOUT_SECONDS 300
#endif

/* `test_x` runs every case; `test_x NAME` runs that one; `test_x --except NAME`
 * runs all but that one, so that a long case can be its own ctest entry with
 * its own timeout, run beside the rest (tests/CMakeLists.txt). */
static inline int test_run_all(const test_entry *tests, size_t n, int argc, char **argv)
{
    int failed = 0, ran = 0;
    int except = argc > 2 && strcmp(argv[1], "--except") == 0;
    const char *name = except ? argv[2] : argc > 1 ? argv[1] : NULL;
    if (except) { /* a misspelt name would run the long case twice */
        size_t k = 0;
        while (k < n && strcmp(name, tests[k].name) != 0)
            k++;
        if (k == n) {
            printf("no test named %s\n", name);
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (name != NULL && (strcmp(name, tests[i].name) == 0) == except)
            continue;
        ran++;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            const char *limit = getenv("FS_TEST_TIMEOUT"); /* seconds, for long modes */
            alarm(limit != NULL && atoi(limit) > 0 ? (unsigned)atoi(limit) : TEST_TIMEOUT_SECONDS);
            tests[i].fn();
            fflush(NULL);
            TEST_LEAK_CHECK();
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(st))
                printf("FAIL %s (signal %d%s)\n", tests[i].name, WTERMSIG(st),
                       WTERMSIG(st) == SIGALRM ? ": timeout" : "");
            else
                printf("FAIL %s (exit %d)\n", tests[i].name, WEXITSTATUS(st));
        }
    }
    if (ran == 0) {
        printf("no test named %s\n", name != NULL ? name : "(none)");
        return 1;
    }
    printf("%d passed, %d failed\n", ran - failed, failed);
    return failed ? 1 : 0;
}

#define TEST_LIST(...)                                                                   \
    static const test_entry test_table_[] = {__VA_ARGS__};                               \
    int main(int argc, char **argv)                                                      \
    {                                                                                    \
        return test_run_all(test_table_, sizeof(test_table_) / sizeof(test_table_[0]),   \
                            argc, argv);                                                 \
    }

/* A fresh temporary directory under $TMPDIR (or /tmp); the caller removes it. */
static inline char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    static char path[512];
    snprintf(path, sizeof path, "%s/fieldsync-test-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(path) == NULL)
        FAIL("mkdtemp failed");
    return path;
}

static inline void test_rmtree(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Reads a whole file into a malloc'd buffer (caller frees); NULL if it does
 * not exist. */
static inline unsigned char *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *n = 0;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        FAIL("cannot seek in %s", path);
    long len = ftell(f);
    rewind(f);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf == NULL || len < 0 || fread(buf, 1, (size_t)len, f) != (size_t)len)
        FAIL("cannot read %s", path);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Replaces a file's contents. */
static inline void test_write_file(const char *path, const unsigned char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
        FAIL("cannot write %s", path);
}

#endif
