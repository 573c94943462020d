/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * longpath.h - the *at() calls for paths longer than the kernel takes.
 *
 * The daemon names an entry by its path inside a layer.  A tree made with
 * relative paths can be deeper than PATH_MAX, which the kernel refuses in
 * one call.  Each sfs_X() below behaves as X() (same arguments, -1 and errno
 * on error) and, for such a path, opens the directories on the way in
 * pieces and calls X() on the last piece.  Everyday paths cost one strlen().
 */
#ifndef STRATAFS_LONGPATH_H
#define STRATAFS_LONGPATH_H

#include <sys/stat.h>
#include <sys/types.h>

struct sfs_at {
	int dirfd;        /* where path starts */
	const char *path; /* shorter than PATH_MAX */
	int own_fd;       /* dirfd when opened here, else -1 */
};

/* Resolve (dirfd, path) into at; sfs_at_close() it.  -1 and errno on error. */
int sfs_at_open(int dirfd, const char *path, struct sfs_at *at);
/* Close what sfs_at_open opened; errno is kept. */
void sfs_at_close(struct sfs_at *at);

int sfs_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int sfs_openat(int dirfd, const char *path, int flags, ...); /* mode with O_CREAT, O_TMPFILE */
int sfs_mkdirat(int dirfd, const char *path, mode_t mode);
int sfs_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev);
int sfs_symlinkat(const char *target, int dirfd, const char *path);
ssize_t sfs_readlinkat(int dirfd, const char *path, char *buf, size_t size);
int sfs_unlinkat(int dirfd, const char *path, int flags);
int sfs_fchmodat(int dirfd, const char *path, mode_t mode, int flags);
int sfs_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags);
int sfs_utimensat(int dirfd, const char *path, const struct timespec times[2], int flags);
int sfs_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		  unsigned int flags);
int sfs_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
int sfs_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	       int flags);

#endif
