/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.c - fd helpers shared by the daemon: logging, data copy, recursive
 * removal of marker trees in the work directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stratafs.h"

/* Set once at start-up, before any thread exists; read-only afterwards. */
static int log_max_level = SFS_LOG_INFO;

void sfs_log_set_debug(bool debug)
{
	log_max_level = debug ? SFS_LOG_DEBUG : SFS_LOG_INFO;
}

bool sfs_log_debug_enabled(void)
{
	return log_max_level >= SFS_LOG_DEBUG;
}

void sfs_log(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fuse_log(level, "stratafs: %s\n", buf);
}

static int copy_range(int src, int dst, off_t off, off_t end)
{
	while (off < end) {
		loff_t in = off, out = off;
		ssize_t n = copy_file_range(src, &in, dst, &out, end - off, 0);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* source shrank under us */
		off += n;
	}
	return 0;
}

static int rw_range(int src, int dst, off_t off, off_t end)
{
	char buf[128 * 1024];

	while (off < end) {
		size_t want = end - off < (off_t)sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
		ssize_t n = pread(src, buf, want, off);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(dst, buf + done, n - done, off + done);

			if (w < 0)
				return -errno;
			done += w;
		}
		off += n;
	}
	return 0;
}

/* Across file systems: sendfile(2) moves the pages through a pipe in the
 * kernel (as overlayfs's copy-up does), with no copy through user memory.
 * It writes at dst's file position, which only the copy-up uses. */
static int send_range(int src, int dst, off_t off, off_t end)
{
	if (lseek(dst, off, SEEK_SET) < 0)
		return -errno;
	while (off < end) {
		ssize_t n = sendfile(dst, src, &off, end - off);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* source shrank under us */
	}
	return 0;
}

enum copy_way { COPY_RANGE, COPY_SEND, COPY_RW };

static bool way_unsupported(int r)
{
	return r == -EXDEV || r == -EOPNOTSUPP || r == -ENOSYS || r == -EINVAL;
}

/* Copy [off, end) with copy_file_range; where the two files' file systems
 * cannot (different ones), with sendfile, else with read and write. */
static int copy_extent(int src, int dst, off_t off, off_t end, enum copy_way *way)
{
	int r;

	if (*way == COPY_RANGE) {
		r = copy_range(src, dst, off, end);
		if (!way_unsupported(r))
			return r;
		*way = COPY_SEND;
	}
	if (*way == COPY_SEND) {
		r = send_range(src, dst, off, end);
		if (!way_unsupported(r))
			return r;
		*way = COPY_RW;
	}
	return rw_range(src, dst, off, end);
}

int sfs_copy_data(int src, int dst, off_t size)
{
	enum copy_way way = COPY_RANGE;
	off_t off = 0;
	int r;

	if (size == 0)
		return 0;
	/* A reflink shares the extents: instant, and sparse by nature. */
	if (ioctl(dst, FICLONE, src) == 0)
		return 0;

	/* Walk the data extents so holes stay holes. */
	while (off < size) {
		off_t data = lseek(src, off, SEEK_DATA);
		off_t hole;

		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole remains */
			/* No SEEK_DATA: copy everything. */
			r = copy_extent(src, dst, off, size, &way);
			if (r < 0)
				return r;
			break;
		}
		hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		r = copy_extent(src, dst, data, hole, &way);
		if (r < 0)
			return r;
		off = hole;
	}
	/* Trailing hole: set the size explicitly. */
	return neg_errno(ftruncate(dst, size));
}

int sfs_rm_rf_at(int atfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	r = neg_errno(sfs_unlinkat(atfd, name, 0));
	if (r != -EISDIR && r != -EPERM)
		return r == -ENOENT ? 0 : r;

	/* It goes anyway: make sure the daemon may list and empty it, even
	 * if it was made read-only or unsearchable through the mount. */
	sfs_fchmodat(atfd, name, S_IRWXU, 0);
	fd = sfs_openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = sfs_rm_rf_at(dirfd(d), de->d_name);
		if (r < 0)
			return r;
	}
	return neg_errno(sfs_unlinkat(atfd, name, AT_REMOVEDIR));
}

/* Run op on path, lending the daemon write permission on its own file
 * when the mode denies it (an unprivileged daemon has no override). */
static int with_write_access(const char *path, int (*op)(const char *path, void *payload),
			     void *payload)
{
	struct stat st;
	int r;

	r = op(path, payload);
	if (r != -EACCES)
		return r;
	if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & S_IWUSR))
		return r;
	if (chmod(path, (st.st_mode & 07777) | S_IWUSR) < 0)
		return r;
	r = op(path, payload);
	chmod(path, st.st_mode & 07777);
	return r;
}

struct xattr_args {
	const char *name;
	const void *value;
	size_t size;
	int flags;
	bool remove;
};

static int xattr_op(const char *path, void *payload)
{
	struct xattr_args *a = payload;

	if (a->remove)
		return neg_errno(lremovexattr(path, a->name));
	return neg_errno(lsetxattr(path, a->name, a->value, a->size, a->flags));
}

int sfs_set_marker_xattr(const char *path, const char *name, const void *value,
			 size_t size)
{
	struct xattr_args a = { .name = name, .value = value, .size = size };

	return with_write_access(path, xattr_op, &a);
}

int sfs_modify_xattr_path(const char *path, const char *name, const void *value,
			  size_t size, int flags, bool remove)
{
	struct xattr_args a = { .name = name, .value = value, .size = size,
				.flags = flags, .remove = remove };

	return with_write_access(path, xattr_op, &a);
}
