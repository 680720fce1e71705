/*
 * agent_peer: a raw client of the unlock agent's socket for
 * tests/cli/test_agent.sh, which needs what the fieldsync client never
 * does: unknown requests, the daemon's request, and a connection from
 * another user.
 *
 *   agent_peer [--as UID] SOCKET OP
 *
 * Switches to UID first if given (needs root), connects, sends the one byte
 * OP and prints what came back: "reply N C", N the number of bytes and C
 * the first (the key itself is never printed), "closed 0" when the agent
 * closed without answering, or "connect-error REASON".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int a = 1;
    if (argc >= 3 && strcmp(argv[1], "--as") == 0) {
        uid_t uid = (uid_t)strtoul(argv[2], NULL, 10);
        if (setgid(uid) != 0 || setuid(uid) != 0) {
            perror("agent_peer: setuid");
            return 2;
        }
        a = 3;
    }
    if (argc - a != 2 || strlen(argv[a + 1]) != 1) {
        fprintf(stderr, "usage: agent_peer [--as UID] SOCKET OP\n");
        return 2;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[a]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        printf("connect-error %s\n", strerror(errno));
        return 0;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* The agent may close before reading from another user: no SIGPIPE. */
    if (send(fd, argv[a + 1], 1, MSG_NOSIGNAL) != 1) {
        printf("closed 0\n");
        return 0;
    }
    unsigned char buf[256];
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, sizeof buf - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        if (n == sizeof buf)
            break;
    }
    close(fd);
    if (n == 0)
        printf("closed 0\n");
    else
        printf("reply %zu %c\n", n, buf[0] >= 0x20 && buf[0] < 0x7F ? buf[0] : '?');
    return 0;
}
