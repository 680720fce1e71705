/* Local sockets of one user (fieldsync/unixsock.h). */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fieldsync/error.h"
#include "fieldsync/unixsock.h"

int fs_unix_path(struct sockaddr_un *sa, const char *dir, const char *name)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof sa->sun_path ? 0 : FS_EINVAL;
}

int fs_unix_same_user(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred &&
           cred.uid == geteuid();
}

void fs_unix_timeouts(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int fs_unix_read(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = recv(fd, p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int fs_unix_write(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

int fs_unix_connect(const struct sockaddr_un *sa, int *fd)
{
    *fd = -1;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return FS_EIO;
    if (connect(s, (const struct sockaddr *)sa, sizeof *sa) != 0) {
        int e = errno;
        close(s);
        return e == ENOENT || e == ECONNREFUSED || e == ENOTSOCK || e == ENOTDIR ? FS_ENOTFOUND
                                                                                 : FS_EIO;
    }
    if (!fs_unix_same_user(s)) {
        close(s);
        return FS_EAUTH;
    }
    *fd = s;
    return 0;
}

int fs_unix_listen(const struct sockaddr_un *sa, int *fd, struct stat *st)
{
    struct stat old;
    *fd = -1;
    if (lstat(sa->sun_path, &old) == 0) {
        if (!S_ISSOCK(old.st_mode))
            return FS_EEXIST;
        unlink(sa->sun_path);
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return FS_EIO;
    mode_t mask = umask(077);
    int bad = bind(s, (const struct sockaddr *)sa, sizeof *sa) != 0;
    umask(mask);
    if (bad || chmod(sa->sun_path, 0600) != 0 || listen(s, 16) != 0 ||
        stat(sa->sun_path, st) != 0) {
        int e = errno;
        close(s);
        errno = e;
        return FS_EIO;
    }
    *fd = s;
    return 0;
}

void fs_unix_unlink(const struct sockaddr_un *sa, const struct stat *st)
{
    struct stat now;
    if (stat(sa->sun_path, &now) == 0 && now.st_ino == st->st_ino && now.st_dev == st->st_dev)
        unlink(sa->sun_path);
}
