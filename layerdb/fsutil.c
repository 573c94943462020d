/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsutil.c - file-system helpers of the store: confined opens, recursive
 * removal and copy, the whiteout/opaque encodings the store writes, mount
 * detection.
 *
 * Encodings written (DESIGN.md, contract 2): a whiteout is a 0/0 character
 * device when the kernel lets us create one (root, or any user since Linux
 * 5.8), else an empty `.wh.NAME` file; an opaque directory gets
 * trusted.overlay.opaque=y when trusted xattrs can be set (CAP_SYS_ADMIN),
 * else user.overlay.opaque=y (and a `.wh..wh..opq` file when the file system
 * has no xattrs).  Every encoding is recognised when reading (digest.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "config.h"
#include "ldb-internal.h"

#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* Component-wise fallback of openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS). */
static int open_walk(int rootfd, const char *path, int flags, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int cur = -EBADF;
	char *p, *slash;
	int r;

	if (!copy)
		return -ENOMEM;
	r = cur = neg_errno(openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	for (p = copy; (slash = strchr(p, '/')); p = slash + 1) {
		int next;

		*slash = '\0';
		if (!*p || strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0)
			return -EXDEV;
		r = next = neg_errno(openat(cur, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
		if (r < 0)
			return r == -ENOTDIR ? -ELOOP : r;
		close(cur);
		cur = next;
	}
	if (strcmp(p, "..") == 0)
		return -EXDEV;
	return neg_errno(openat(cur, *p ? p : ".", flags | O_NOFOLLOW | O_CLOEXEC, mode));
}

int ldb__open_beneath(int rootfd, const char *path, int flags, mode_t mode)
{
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int r = neg_errno((int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how)));

	if (r != -ENOSYS && r != -EPERM)
		return r;
#endif
	return open_walk(rootfd, path, flags, mode);
}

int ldb__rm_rf_at(int parentfd, const char *name)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	r = neg_errno(unlinkat(parentfd, name, 0));
	if (r == 0 || r == -ENOENT)
		return 0;
	if (r != -EISDIR && r != -EPERM)
		return r;
	r = fd = neg_errno(openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (r < 0)
		return r;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = ldb__rm_rf_at(dirfd(d), de->d_name);
		if (r < 0)
			return r;
	}
	r = neg_errno(unlinkat(parentfd, name, AT_REMOVEDIR));
	return r == -ENOENT ? 0 : r;
}

int ldb__mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	int r;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		r = neg_errno(mkdir(p, mode));
		if (r < 0 && r != -EEXIST)
			return r;
		*s = '/';
	}
	r = neg_errno(mkdir(p, mode));
	return r == -EEXIST ? 0 : r;
}

int ldb__make_whiteout(struct ldb *db, int dirfd, const char *name)
{
	char wh[NAME_MAX + 1];
	int fd, r;

	(void)ldb__rm_rf_at(dirfd, name);
	if (db->chardev_whiteouts)
		return neg_errno(mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)));
	if (snprintf(wh, sizeof(wh), WH_PREFIX "%s", name) >= (int)sizeof(wh))
		return -ENAMETOOLONG;
	r = fd = neg_errno(openat(dirfd, wh, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				  0));
	if (r < 0)
		return r;
	close(fd);
	return 0;
}

int ldb__make_opaque(struct ldb *db, int dirfd)
{
	const char *name = db->trusted_xattrs ? "trusted.overlay.opaque" : "user.overlay.opaque";
	int fd, r;

	r = neg_errno(fsetxattr(dirfd, name, "y", 1, 0));
	if (r != -ENOTSUP)
		return r;
	r = fd = neg_errno(openat(dirfd, WH_OPAQUE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0));
	if (r < 0)
		return r;
	close(fd);
	return 0;
}

int ldb__copy_xattrs(int src, int dst)
{
	_cleanup_free_ char *list = NULL;
	ssize_t len;

	len = flistxattr(src, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP ? -errno : 0;
	list = malloc((size_t)len);
	if (!list)
		return -ENOMEM;
	len = flistxattr(src, list, (size_t)len);
	if (len < 0)
		return -errno;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		_cleanup_free_ char *val = NULL;
		ssize_t vl;

		if (ldb__is_private_xattr(list + i))
			continue;
		vl = fgetxattr(src, list + i, NULL, 0);
		if (vl < 0)
			continue;
		val = malloc((size_t)vl + 1);
		if (!val)
			return -ENOMEM;
		vl = fgetxattr(src, list + i, val, (size_t)vl);
		if (vl < 0)
			continue;
		/* An unprivileged store cannot keep trusted.* or security.*: skip them. */
		if (fsetxattr(dst, list + i, val, (size_t)vl, 0) < 0 && errno != EPERM &&
		    errno != ENOTSUP)
			return -errno;
	}
	return 0;
}

int ldb__copy_data(int src, int dst, uint64_t size)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t done = 0;

	if (ioctl(dst, FICLONE, src) == 0)
		return 0;
	while (done < size) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, size - done, 0);

		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			      errno == EOPNOTSUPP))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* shrank while copying: caller's stability check sees it */
		done += (uint64_t)n;
	}
	buf = malloc(1 << 16);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		char *p = buf;
		ssize_t n = pread(src, buf, 1 << 16, (off_t)done);

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		done += (uint64_t)n;
		while (n > 0) {
			ssize_t w = write(dst, p, (size_t)n);

			if (w < 0)
				return -errno;
			p += w;
			n -= w;
		}
	}
}

/* ---- emulated ownership: user.containers.override_stat ------------------- */

bool ldb__is_override_xattr(const char *name)
{
	return strcmp(name, LDB__OVERRIDE_XATTR) == 0 ||
	       strcmp(name, "user.fuseoverlayfs.override_stat") == 0;
}

int ldb__override_parse(const char *value, size_t len, uid_t *ret_uid, gid_t *ret_gid,
			mode_t *ret_perm)
{
	char buf[128], *p, *end;
	unsigned long uid, gid, mode;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	p = buf;
	errno = 0;
	uid = strtoul(p, &end, 10);
	if (end == p || *end != ':' || errno)
		return -EINVAL;
	p = end + 1;
	gid = strtoul(p, &end, 10);
	if (end == p || *end != ':' || errno)
		return -EINVAL;
	p = end + 1;
	mode = strtoul(p, &end, 8);
	if (end == p || (*end != ':' && *end != '\0') || errno)
		return -EINVAL;
	if (uid > UINT32_MAX || gid > UINT32_MAX)
		return -EINVAL;
	*ret_uid = (uid_t)uid;
	*ret_gid = (gid_t)gid;
	*ret_perm = (mode_t)(mode & 07777);
	return 0;
}

void ldb__override_apply(int dirfd, const char *name, struct stat *st)
{
	static const char *const names[] = { LDB__OVERRIDE_XATTR,
					     "user.fuseoverlayfs.override_stat" };
	char p[PATH_MAX + 64], v[128];

	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return; /* symlinks cannot carry user.* xattrs; devices are refused */
	if (name && dirfd == AT_FDCWD)
		snprintf(p, sizeof(p), "%s", name);
	else if (name)
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		ssize_t n = name ? lgetxattr(p, names[i], v, sizeof(v))
				 : fgetxattr(dirfd, names[i], v, sizeof(v));
		uid_t uid;
		gid_t gid;
		mode_t perm;

		if (n > 0 && ldb__override_parse(v, (size_t)n, &uid, &gid, &perm) == 0) {
			st->st_uid = uid;
			st->st_gid = gid;
			st->st_mode = (st->st_mode & S_IFMT) | perm;
			return;
		}
	}
}

int ldb__set_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;
	char v[128];
	int n, r;

	mode &= 07777;
	(void)fchown(fd, uid, gid); /* EPERM/EINVAL when unprivileged: see below */
	r = neg_errno(fchmod(fd, mode));
	if (r < 0)
		return r;
	r = neg_errno(fstat(fd, &st));
	if (r < 0)
		return r;
	if (st.st_uid == uid && st.st_gid == gid && (st.st_mode & 07777) == mode) {
		/* kept for real: an override copied from a source would only lie */
		(void)fremovexattr(fd, LDB__OVERRIDE_XATTR);
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return 0;
	n = snprintf(v, sizeof(v), "%u:%u:0%o", (unsigned)uid, (unsigned)gid, (unsigned)mode);
	/* Setting a user.* xattr needs write permission on the inode. */
	if (!(st.st_mode & S_IWUSR))
		(void)fchmod(fd, (st.st_mode & 07777) | S_IWUSR);
	r = neg_errno(fsetxattr(fd, LDB__OVERRIDE_XATTR, v, (size_t)n, 0));
	if (!(st.st_mode & S_IWUSR))
		(void)fchmod(fd, mode);
	/* Best effort: a file system without user xattrs keeps today's behaviour. */
	if (r == -ENOTSUP || r == -EPERM || r == -EACCES)
		return 0;
	return r;
}

static void set_meta(int dirfd, const char *name, int fd, const struct stat *st)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	/* Ownership is kept when permitted; an unprivileged store owns its files
	 * and records the owner and mode in user.containers.override_stat. */
	if (fd >= 0) {
		(void)ldb__set_owner_mode(fd, st->st_uid, st->st_gid, st->st_mode);
		(void)futimens(fd, ts);
	} else {
		(void)fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
		(void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	}
}

struct copy_link {
	dev_t dev;
	ino_t ino;
	char *path; /* relative to the destination root */
};

struct copy_ctx {
	struct ldb *db;
	struct ldb__copy_opts *o;
	int dst_root;
	struct copy_link *links;
	size_t n_links;
	char path[PATH_MAX]; /* current destination path, relative */
};

static int copy_regular(struct copy_ctx *c, int srcd, int dstd, const char *name,
			const struct stat *st)
{
	_cleanup_close_ int src = -EBADF, dst = -EBADF;
	struct stat a = *st, b;
	int r;

	if (st->st_nlink > 1) {
		for (size_t i = 0; i < c->n_links; i++)
			if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino)
				return neg_errno(linkat(c->dst_root, c->links[i].path, dstd, name, 0));
	}
	r = src = neg_errno(openat(srcd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
	if (r < 0)
		return r;
	r = dst = neg_errno(openat(dstd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				   0600));
	if (r < 0)
		return r;
	for (int tries = 0;; tries++) {
		r = neg_errno(fstat(src, &a));
		if (r < 0)
			return r;
		r = ldb__copy_data(src, dst, (uint64_t)a.st_size);
		if (r < 0)
			return r;
		r = neg_errno(fstat(src, &b));
		if (r < 0)
			return r;
		/* A writer through the mount changes size, mtime or ctime: copy again. */
		if (!c->o->stable ||
		    (a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
		     a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec &&
		     a.st_ctim.tv_sec == b.st_ctim.tv_sec))
			break;
		if (tries >= 20)
			return ldb__err(c->db, -EAGAIN, "'%s' keeps changing while copied", c->path);
		r = neg_errno(ftruncate(dst, 0));
		if (r < 0)
			return r;
		usleep(10000);
	}
	r = ldb__copy_xattrs(src, dst);
	if (r < 0)
		return r;
	ldb__override_apply(src, NULL, &a); /* the source's own emulated owner, if any */
	set_meta(-1, NULL, dst, &a);
	c->o->bytes += (uint64_t)a.st_size;
	if (st->st_nlink > 1) {
		struct copy_link *nl = realloc(c->links, (c->n_links + 1) * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		c->links = nl;
		nl[c->n_links] = (struct copy_link){ st->st_dev, st->st_ino, strdup(c->path) };
		if (!nl[c->n_links].path)
			return -ENOMEM;
		c->n_links++;
	}
	return 0;
}

static bool has_opaque_xattr(int fd)
{
	static const char *const names[] = { "trusted.overlay.opaque", "user.overlay.opaque",
					     "user.fuseoverlayfs.opaque" };
	char v[8];

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		ssize_t n = fgetxattr(fd, names[i], v, sizeof(v));

		if (n > 0 && ldb__is_opaque_xattr(names[i], v, (size_t)n))
			return true;
	}
	return false;
}

static int copy_dir(struct copy_ctx *c, int srcd, int dstd, size_t plen);

static int copy_subdir(struct copy_ctx *c, int srcd, int dstd, const char *name,
		       const struct stat *st)
{
	_cleanup_close_ int s = -EBADF, d = -EBADF;
	struct stat eff;
	int r;

	r = neg_errno(mkdirat(dstd, name, 0700));
	if (r < 0)
		return r;
	r = s = neg_errno(openat(srcd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (r < 0)
		return r;
	r = d = neg_errno(openat(dstd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (r < 0)
		return r;
	r = copy_dir(c, s, d, strlen(c->path));
	if (r < 0)
		return r;
	r = ldb__copy_xattrs(s, d);
	if (r < 0)
		return r;
	/* normalise the opaque marker to the store's encoding */
	if (has_opaque_xattr(s)) {
		r = ldb__make_opaque(c->db, d);
		if (r < 0)
			return r;
	}
	eff = *st;
	ldb__override_apply(s, NULL, &eff); /* the source's own emulated owner, if any */
	set_meta(-1, NULL, d, &eff); /* last: children changed the times */
	return 0;
}

static int copy_special(struct copy_ctx *c, int dstd, const char *name, const struct stat *st)
{
	int r;

	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0))
		return ldb__make_whiteout(c->db, dstd, name);
	if (!S_ISFIFO(st->st_mode) && !c->db->privileged)
		return ldb__err(c->db, -EPERM, "'%s' is a device node and the store "
				"is unprivileged", c->path);
	r = neg_errno(mknodat(dstd, name, st->st_mode & (S_IFMT | 07777), st->st_rdev));
	if (r < 0)
		return r;
	set_meta(dstd, name, -1, st);
	(void)fchmodat(dstd, name, st->st_mode & 07777, 0);
	return 0;
}

static int copy_entry(struct copy_ctx *c, int srcd, int dstd, size_t plen, const char *name)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t tl;
	int r;

	if (strcmp(name, WH_OPAQUE) == 0)
		return ldb__make_opaque(c->db, dstd);
	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0 && name[strlen(WH_PREFIX)])
		return ldb__make_whiteout(c->db, dstd, name + strlen(WH_PREFIX));
	r = neg_errno(fstatat(srcd, name, &st, AT_SYMLINK_NOFOLLOW));
	if (r < 0)
		return r;
	snprintf(c->path + plen, sizeof(c->path) - plen, "%s%s", plen ? "/" : "", name);
	c->o->files++;
	if (c->o->progress && (c->o->files & 63) == 0)
		c->o->progress(&(struct ldb_progress){ "copy", c->o->bytes, c->o->files },
			       c->o->payload);
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		return copy_subdir(c, srcd, dstd, name, &st);
	case S_IFREG:
		return copy_regular(c, srcd, dstd, name, &st);
	case S_IFLNK:
		tl = readlinkat(srcd, name, target, sizeof(target) - 1);
		if (tl < 0)
			return -errno;
		target[tl] = '\0';
		r = neg_errno(symlinkat(target, dstd, name));
		if (r < 0)
			return r;
		set_meta(dstd, name, -1, &st);
		return 0;
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
		return copy_special(c, dstd, name, &st);
	default:
		return 0; /* sockets are not content */
	}
}

static int copy_dir(struct copy_ctx *c, int srcd, int dstd, size_t plen)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	r = fd = neg_errno(openat(srcd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = copy_entry(c, srcd, dstd, plen, de->d_name);
		c->path[plen] = '\0';
		if (r < 0) {
			if (!c->db->errmsg[0])
				ldb__err(c->db, r, "cannot copy '%s/%s': %s", c->path,
					 de->d_name, strerror(-r));
			return r;
		}
	}
	return errno ? -errno : 0;
}

int ldb__copy_tree(struct ldb *db, int srcfd, int dstfd, struct ldb__copy_opts *o)
{
	struct copy_ctx c = { .db = db, .o = o, .dst_root = dstfd };
	int r;

	db->errmsg[0] = '\0';
	r = copy_dir(&c, srcfd, dstfd, 0);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	return r;
}

static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
			*w++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

int ldb__is_mountpoint(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok;
		int i = 0;

		for (tok = strtok_r(line, " ", &save); tok && i < 4; tok = strtok_r(NULL, " ", &save))
			i++;
		if (!tok)
			continue;
		unescape_mountinfo(tok);
		if (strcmp(tok, path) == 0)
			return 1;
	}
	return 0;
}

int ldb__fsync_dir(int dirfd)
{
	_cleanup_close_ int fd = neg_errno(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));

	if (fd < 0)
		return fd;
	return neg_errno(fsync(fd));
}

uint64_t ldb__du(int topfd)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	uint64_t total = 0;
	int fd;

	fd = openat(topfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
		if (S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd(d), de->d_name,
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
								 O_CLOEXEC);

			if (sub >= 0)
				total += ldb__du(sub);
		}
	}
	return total;
}

bool ldb__dir_is_empty(int dirfd, const char *path)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			return false;
	return true;
}
