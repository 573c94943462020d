/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of longpath.c: *at() calls on paths longer than PATH_MAX. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "longpath.h"
#include "macro.h"
#include "tap.h"

#define DEPTH 30 /* names of 200 bytes: 6030 bytes deep */

static char tmpdir[] = "/tmp/test-longpath.XXXXXX";
static int root = -1;

/* "d...d/d...d/..." of n names of 200 'd's, then "/tail" when tail */
static char *deep_path(unsigned n, const char *tail)
{
	size_t len = n * 201 + (tail ? strlen(tail) : 0) + 1;
	char *p = malloc(len), *q = p;

	if (!p)
		abort();
	for (unsigned i = 0; i < n; i++) {
		memset(q, 'd', 200);
		q[200] = '/';
		q += 201;
	}
	if (tail)
		strcpy(q, tail);
	else
		q[q > p ? -1 : 0] = '\0';
	return p;
}

static void test_short_paths_pass_through(void)
{
	struct sfs_at at;

	TAP_ASSERT_OK(sfs_at_open(root, "a/b", &at));
	TAP_ASSERT(at.dirfd == root);
	TAP_ASSERT_STR(at.path, ==, "a/b");
	TAP_ASSERT(at.own_fd == -1);
	sfs_at_close(&at);
}

static void test_deep_tree(void)
{
	_cleanup_free_ char *dir = NULL, *file = NULL, *other = NULL, *link = NULL;
	char buf[16];
	struct stat st;
	int fd;

	for (unsigned i = 1; i <= DEPTH; i++) {
		_cleanup_free_ char *d = deep_path(i, NULL);

		TAP_ASSERT_OK(sfs_mkdirat(root, d, 0755));
	}
	dir = deep_path(DEPTH, NULL);
	TAP_ASSERT(strlen(dir) > PATH_MAX);
	/* the kernel itself refuses it */
	TAP_ASSERT(fstatat(root, dir, &st, 0) < 0 && errno == ENAMETOOLONG);
	TAP_ASSERT_OK(sfs_fstatat(root, dir, &st, 0));
	TAP_ASSERT(S_ISDIR(st.st_mode));

	file = deep_path(DEPTH, "f");
	fd = sfs_openat(root, file, O_CREAT | O_WRONLY | O_CLOEXEC, 0640);
	TAP_ASSERT_OK(fd);
	TAP_ASSERT(write(fd, "x", 1) == 1);
	close(fd);
	TAP_ASSERT_OK(sfs_fstatat(root, file, &st, AT_SYMLINK_NOFOLLOW));
	TAP_ASSERT_INT(st.st_mode & 07777, ==, 0640);
	TAP_ASSERT_INT(st.st_size, ==, 1);
	TAP_ASSERT_OK(sfs_fchmodat(root, file, 0600, 0));
	TAP_ASSERT_OK(sfs_fchownat(root, file, getuid(), getgid(), AT_SYMLINK_NOFOLLOW));
	TAP_ASSERT_OK(sfs_utimensat(root, file, (struct timespec[2]){ { 5, 0 }, { 7, 0 } },
				    AT_SYMLINK_NOFOLLOW));
	TAP_ASSERT_OK(sfs_fstatat(root, file, &st, 0));
	TAP_ASSERT_INT(st.st_mode & 07777, ==, 0600);
	TAP_ASSERT_INT(st.st_mtim.tv_sec, ==, 7);

	/* two long paths at once; a move to the top and back */
	other = deep_path(DEPTH - 1, "g");
	TAP_ASSERT_OK(sfs_linkat(root, file, root, other, 0));
	TAP_ASSERT_OK(sfs_fstatat(root, other, &st, 0));
	TAP_ASSERT_INT(st.st_nlink, ==, 2);
	TAP_ASSERT_OK(sfs_renameat(root, other, root, "top"));
	TAP_ASSERT_OK(sfs_renameat2(root, "top", root, other, RENAME_NOREPLACE));
	TAP_ASSERT_OK(sfs_unlinkat(root, other, 0));

	link = deep_path(DEPTH, "s");
	TAP_ASSERT_OK(sfs_symlinkat("f", root, link));
	TAP_ASSERT_INT(sfs_readlinkat(root, link, buf, sizeof(buf)), ==, 1);
	TAP_ASSERT_OK(sfs_fstatat(root, link, &st, 0)); /* follows to f */
	TAP_ASSERT(S_ISREG(st.st_mode));
	TAP_ASSERT_OK(sfs_unlinkat(root, link, 0));
	TAP_ASSERT_OK(sfs_mknodat(root, link, S_IFIFO | 0600, 0));
	TAP_ASSERT_OK(sfs_unlinkat(root, link, 0));
	TAP_ASSERT_OK(sfs_unlinkat(root, file, 0));
	for (unsigned i = DEPTH; i >= 1; i--) {
		_cleanup_free_ char *d = deep_path(i, NULL);

		TAP_ASSERT_OK(sfs_unlinkat(root, d, AT_REMOVEDIR));
	}
}

static void test_errors_keep_errno(void)
{
	_cleanup_free_ char *missing = deep_path(DEPTH, "f");
	char name[NAME_MAX + 2];
	struct stat st;

	errno = 0;
	TAP_ASSERT(sfs_fstatat(root, missing, &st, 0) < 0 && errno == ENOENT);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	TAP_ASSERT(sfs_mkdirat(root, name, 0755) < 0 && errno == ENAMETOOLONG);
}

static void test_one_name_longer_than_path_max(void)
{
	char *p = malloc(PATH_MAX + 10);
	struct sfs_at at;

	TAP_ASSERT(p != NULL);
	memset(p, 'x', PATH_MAX + 9);
	p[PATH_MAX + 9] = '\0';
	TAP_ASSERT(sfs_at_open(root, p, &at) < 0 && errno == ENAMETOOLONG);
	free(p);
}

int main(void)
{
	if (!mkdtemp(tmpdir) || (root = open(tmpdir, O_RDONLY | O_DIRECTORY)) < 0) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	TAP_TEST(test_short_paths_pass_through);
	TAP_TEST(test_deep_tree);
	TAP_TEST(test_errors_keep_errno);
	TAP_TEST(test_one_name_longer_than_path_max);
	close(root);
	rmdir(tmpdir);
	return tap_done();
}
