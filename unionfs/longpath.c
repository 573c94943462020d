/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * longpath.c - the *at() calls for paths longer than PATH_MAX (longpath.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "longpath.h"

int sfs_at_open(int dirfd, const char *path, struct sfs_at *at)
{
	size_t off = 0; /* of the part of path not opened yet */
	int cur = dirfd;

	at->own_fd = -1;
	/* each round opens the longest piece of whole names the kernel takes */
	while (strnlen(path + off, PATH_MAX) == PATH_MAX) {
		const char *cut = memrchr(path + off, '/', PATH_MAX - 1);
		size_t len = cut ? (size_t)(cut - (path + off)) : 0;
		char *piece;
		int next;

		if (len == 0) {
			errno = ENAMETOOLONG; /* one name longer than that */
			goto fail;
		}
		piece = strndup(path + off, len);
		if (!piece)
			goto fail;
		next = openat(cur, piece, O_PATH | O_DIRECTORY | O_CLOEXEC);
		free(piece);
		if (next < 0)
			goto fail;
		if (at->own_fd >= 0)
			close(at->own_fd);
		cur = at->own_fd = next;
		off += len + 1;
	}
	at->dirfd = cur;
	at->path = path + off;
	return 0;
fail:
	sfs_at_close(at);
	return -1;
}

void sfs_at_close(struct sfs_at *at)
{
	int e = errno;

	if (at->own_fd >= 0)
		close(at->own_fd);
	at->own_fd = -1;
	errno = e;
}

/* r = call(at.dirfd, at.path, ...) for (dirfd, path) */
#define AT_CALL(type, dirfd, path, call)               \
	do {                                           \
		struct sfs_at at;                      \
		type r;                                \
                                                       \
		if (sfs_at_open(dirfd, path, &at) < 0) \
			return -1;                     \
		r = call;                              \
		sfs_at_close(&at);                     \
		return r;                              \
	} while (0)

int sfs_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	AT_CALL(int, dirfd, path, fstatat(at.dirfd, at.path, st, flags));
}

int sfs_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	AT_CALL(int, dirfd, path, openat(at.dirfd, at.path, flags, mode));
}

int sfs_mkdirat(int dirfd, const char *path, mode_t mode)
{
	AT_CALL(int, dirfd, path, mkdirat(at.dirfd, at.path, mode));
}

int sfs_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	AT_CALL(int, dirfd, path, mknodat(at.dirfd, at.path, mode, dev));
}

int sfs_symlinkat(const char *target, int dirfd, const char *path)
{
	AT_CALL(int, dirfd, path, symlinkat(target, at.dirfd, at.path));
}

ssize_t sfs_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
	AT_CALL(ssize_t, dirfd, path, readlinkat(at.dirfd, at.path, buf, size));
}

int sfs_unlinkat(int dirfd, const char *path, int flags)
{
	AT_CALL(int, dirfd, path, unlinkat(at.dirfd, at.path, flags));
}

int sfs_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	AT_CALL(int, dirfd, path, fchmodat(at.dirfd, at.path, mode, flags));
}

int sfs_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	AT_CALL(int, dirfd, path, fchownat(at.dirfd, at.path, uid, gid, flags));
}

int sfs_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	AT_CALL(int, dirfd, path, utimensat(at.dirfd, at.path, times, flags));
}

/* Resolve two (dirfd, path) pairs; on error nothing stays open. */
static int at_open_two(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		       struct sfs_at *from, struct sfs_at *to)
{
	if (sfs_at_open(olddirfd, oldpath, from) < 0)
		return -1;
	if (sfs_at_open(newdirfd, newpath, to) < 0) {
		sfs_at_close(from);
		return -1;
	}
	return 0;
}

int sfs_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  unsigned int flags)
{
	struct sfs_at from, to;
	int r;

	if (at_open_two(olddirfd, oldpath, newdirfd, newpath, &from, &to) < 0)
		return -1;
	r = renameat2(from.dirfd, from.path, to.dirfd, to.path, flags);
	sfs_at_close(&to);
	sfs_at_close(&from);
	return r;
}

int sfs_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	return sfs_renameat2(olddirfd, oldpath, newdirfd, newpath, 0);
}

int sfs_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	       int flags)
{
	struct sfs_at from, to;
	int r;

	if (at_open_two(olddirfd, oldpath, newdirfd, newpath, &from, &to) < 0)
		return -1;
	r = linkat(from.dirfd, from.path, to.dirfd, to.path, flags);
	sfs_at_close(&to);
	sfs_at_close(&from);
	return r;
}
