/*
 * The connection budget's decisions (net/conn_budget.c, issue 20.2): which
 * connection is closed first, what is refused, what devices keep. The
 * budget over real processes: tests/cli/test_connbudget.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../net/conn_budget.h"
#include "test.h"

static fs__budget_net_key v4(const char *addr)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &s.sin_addr);
    fs__budget_net_key k;
    CHECK_EQ_INT(fs__budget_net_of(&s, sizeof s, &k), 0);
    return k;
}

static fs__budget_net_key v6(const char *addr)
{
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &s.sin6_addr);
    fs__budget_net_key k;
    CHECK_EQ_INT(fs__budget_net_of(&s, sizeof s, &k), 0);
    return k;
}

/* A connection arrives on fd: what the transport does. Returns the fd
 * closed first (-1: none), or -2 when fd was refused. */
static int arrive(fs__budget *b, int fd, fs__budget_net_key net)
{
    int v = fs__budget_victim(b, &net);
    if (v >= 0)
        fs__budget_forget(b, v); /* the close, synchronous */
    if (fs__budget_admit(b, fd, &net) != 0)
        return -2;
    return v;
}

static void test_networks(void)
{
    fs__budget_net_key a = v4("10.1.2.3"), b = v4("10.1.2.200"), c = v4("10.1.3.3");
    CHECK(memcmp(&a, &b, sizeof a) == 0); /* one /24 */
    CHECK(memcmp(&a, &c, sizeof a) != 0);
    fs__budget_net_key m = v6("::ffff:10.1.2.77"); /* IPv4 on a dual socket */
    CHECK(memcmp(&a, &m, sizeof a) == 0);
    fs__budget_net_key x = v6("2001:db8:1:2:aaaa::1"), y = v6("2001:db8:1:2:bbbb::9"),
                       z = v6("2001:db8:1:3::1");
    CHECK(memcmp(&x, &y, sizeof x) == 0); /* one /64 */
    CHECK(memcmp(&x, &z, sizeof x) != 0);
    struct sockaddr sa = {.sa_family = AF_UNIX};
    CHECK_EQ_INT(fs__budget_net_of(&sa, sizeof sa, &x), -1);
}

static void test_limits(void)
{
    fs__budget_limits l;
    fs__budget_limits_for(1024, &l);
    CHECK_EQ_INT(l.total, 960);
    CHECK_EQ_INT(l.unauth, 720);
    CHECK_EQ_INT(l.per_net, 90);
    fs__budget_limits_for(20000, &l);
    CHECK_EQ_INT(l.total, 18750);
    CHECK_EQ_INT(l.unauth, FS__BUDGET_MAX_UNAUTH);
    CHECK_EQ_INT(l.per_net, 256);
    fs__budget_limits_for(1u << 20, &l); /* a huge limit: as 65,536 */
    CHECK_EQ_INT(l.total, FS__BUDGET_MAX_FDS - FS__BUDGET_MAX_FDS / 16);
    CHECK_EQ_INT(l.unauth, FS__BUDGET_MAX_UNAUTH);
    CHECK_EQ_INT(l.per_net, 256);
    fs__budget_limits_for(40, &l); /* tiny: still some */
    CHECK(l.total >= 16 && l.unauth > 0 && l.per_net >= 4);
}

/* One network past its cap: its oldest goes, others' stay. */
static void test_per_network_oldest_first(void)
{
    fs__budget_limits lim = {100, 50, 4};
    fs__budget *b = fs__budget_new(200, &lim);
    CHECK(b != NULL);
    fs__budget_net_key n1 = v4("127.0.0.2"), n2 = v4("127.0.1.2");
    CHECK_EQ_INT(arrive(b, 10, n2), -1);
    for (int fd = 20; fd < 24; fd++)
        CHECK_EQ_INT(arrive(b, fd, n1), -1);
    CHECK_EQ_INT(fs__budget_net_count(b, &n1), 4);
    CHECK_EQ_INT(arrive(b, 24, n1), 20); /* the oldest of its network */
    CHECK_EQ_INT(arrive(b, 25, n1), 21);
    fs__budget_forget(b, 23); /* closed by its peer */
    CHECK_EQ_INT(arrive(b, 26, n1), -1);
    CHECK_EQ_INT(arrive(b, 27, n1), 22);
    CHECK_EQ_INT(fs__budget_net_count(b, &n1), 4);
    CHECK_EQ_INT(fs__budget_net_count(b, &n2), 1); /* the other network's is kept */
    /* authenticated, a device leaves the network's count: a NAT's devices are not capped */
    fs__budget_authenticated(b, 24);
    fs__budget_authenticated(b, 25);
    CHECK_EQ_INT(fs__budget_net_count(b, &n1), 2);
    CHECK_EQ_INT(arrive(b, 28, n1), -1);
    CHECK_EQ_INT(arrive(b, 29, n1), -1);
    CHECK_EQ_INT(arrive(b, 30, n1), 26);
    fs__budget_counts c;
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.authenticated, 2);
    CHECK_EQ_INT(c.unauth, 5);
    CHECK_EQ_INT(c.evicted, 4);
    fs__budget_free(b);
}

/* Many networks past the unauthenticated cap: the oldest of all goes, and
 * authenticated devices keep a reserve no flood can take. */
static void test_global_cap_and_reserve(void)
{
    fs__budget_limits lim = {12, 8, 4};
    fs__budget *b = fs__budget_new(100, &lim);
    CHECK(b != NULL);
    char addr[32];
    for (int i = 0; i < 8; i++) {
        snprintf(addr, sizeof addr, "10.0.%d.1", i);
        CHECK_EQ_INT(arrive(b, 10 + i, v4(addr)), -1);
    }
    CHECK_EQ_INT(arrive(b, 18, v4("10.0.50.1")), 10);
    CHECK_EQ_INT(arrive(b, 19, v4("10.0.51.1")), 11);
    /* devices authenticate: the unauthenticated cap no longer counts them */
    fs__budget_authenticated(b, 12);
    fs__budget_authenticated(b, 13);
    fs__budget_authenticated(b, 14);
    fs__budget_authenticated(b, 15);
    /* 4 authenticated + 4 unauthenticated: four more before the cap */
    CHECK_EQ_INT(arrive(b, 20, v4("10.0.52.1")), -1);
    CHECK_EQ_INT(arrive(b, 21, v4("10.0.53.1")), -1);
    CHECK_EQ_INT(arrive(b, 22, v4("10.0.54.1")), -1);
    CHECK_EQ_INT(arrive(b, 23, v4("10.0.55.1")), -1);
    CHECK_EQ_INT(arrive(b, 24, v4("10.0.56.1")), 16);
    fs__budget_counts c;
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.total, 12);
    /* at the total below the unauthenticated cap: a new one closes the
     * oldest unauthenticated and is taken */
    fs__budget_authenticated(b, 17);
    fs__budget_authenticated(b, 18);
    CHECK_EQ_INT(arrive(b, 25, v4("10.0.57.1")), 19);
    for (int fd = 20; fd < 26; fd++)
        fs__budget_authenticated(b, fd);
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.unauth, 0);
    CHECK_EQ_INT(c.total, 12);
    /* all authenticated and full: no one to close, the new one is refused */
    CHECK_EQ_INT(arrive(b, 30, v4("10.0.58.1")), -2);
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.refused, 1);
    fs__budget_free(b);
}

/* A victim whose close lingers (dying) still holds its descriptor: counted
 * in the total, never chosen twice; a descriptor reused is the new one's. */
static void test_dying_and_reuse(void)
{
    fs__budget_limits lim = {3, 2, 2};
    fs__budget *b = fs__budget_new(50, &lim);
    CHECK(b != NULL);
    fs__budget_net_key n = v4("192.168.1.5");
    CHECK_EQ_INT(fs__budget_admit(b, 5, &n), 0);
    CHECK_EQ_INT(fs__budget_admit(b, 6, &n), 0);
    CHECK_EQ_INT(fs__budget_victim(b, &n), 5); /* not forgotten: dying */
    CHECK_EQ_INT(fs__budget_admit(b, 7, &n), 0);
    CHECK_EQ_INT(fs__budget_victim(b, &n), 6);
    fs__budget_counts c;
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.dying, 2);
    CHECK_EQ_INT(fs__budget_admit(b, 8, &n), -1); /* 2 dying + 1: the total */
    fs__budget_forget(b, 5);
    fs__budget_forget(b, 5); /* twice: nothing */
    CHECK_EQ_INT(fs__budget_admit(b, 8, &n), 0);
    int h = 1;
    fs__budget_set_handle(b, 8, &h);
    CHECK(fs__budget_handle(b, 8) == &h);
    /* fd 8 closed unseen and accepted again: the old entry is dropped */
    CHECK_EQ_INT(fs__budget_admit(b, 8, &n), 0);
    CHECK(fs__budget_handle(b, 8) == NULL);
    fs__budget_counts_get(b, &c);
    CHECK_EQ_INT(c.unauth, 2);
    CHECK_EQ_INT(fs__budget_admit(b, 50, &n), -1); /* beyond the table */
    CHECK_EQ_INT(fs__budget_admit(b, -1, &n), -1);
    fs__budget_free(b);
}

/* Thousands of networks come and go: the hash and its free list hold. */
static void test_churn(void)
{
    fs__budget_limits lim = {3000, 2000, 3};
    fs__budget *b = fs__budget_new(4000, &lim);
    CHECK(b != NULL);
    char addr[32];
    for (int round = 0; round < 5; round++) {
        for (int fd = 0; fd < 3500; fd++) {
            snprintf(addr, sizeof addr, "10.%d.%d.1", (fd / 256) % 256, fd % 256);
            int v = arrive(b, fd, v4(addr));
            CHECK(v != -2);
        }
        fs__budget_counts c;
        fs__budget_counts_get(b, &c);
        CHECK_EQ_INT(c.unauth, 2000);
        for (int fd = 0; fd < 3500; fd++)
            fs__budget_forget(b, fd);
        fs__budget_counts_get(b, &c);
        CHECK_EQ_INT(c.total, 0);
    }
    fs__budget_free(b);
}

TEST_LIST(TEST(networks) TEST(limits) TEST(per_network_oldest_first)
              TEST(global_cap_and_reserve) TEST(dying_and_reuse) TEST(churn))
