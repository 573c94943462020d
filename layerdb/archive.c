/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * archive.c - layer archives: reading OCI-format tar streams (plain, gzip or
 * zstd) into a layer directory, and writing a layer back out as one.
 *
 * Reading refuses, with -EPERM and a message naming the entry:
 *   - absolute names and names with a ".." component;
 *   - entries whose path goes through a symlink (never followed: every open
 *     is confined with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS));
 *   - symlinks whose *relative* target climbs above the layer root (absolute
 *     targets are kept: they resolve inside the container's root, and real
 *     root file systems are full of them);
 *   - hard links whose target is absolute, climbs out, or is not an earlier
 *     non-directory entry of the same archive;
 *   - device nodes when the store is unprivileged.
 * Truncated or corrupt input (tar or compression) gives -EBADMSG.
 * OCI whiteouts are translated: ".wh.NAME" -> the store's whiteout for NAME,
 * ".wh..wh..opq" -> the store's opaque marker on the parent (fsutil.c).
 * Directory permissions are applied at the end, so a read-only directory
 * can still be filled by later entries.
 * Owners and modes the store cannot keep (unprivileged: other users' files,
 * set-id bits of foreign groups) are recorded on regular files and
 * directories in user.containers.override_stat, as fuse-overlayfs and
 * containers/storage do (fsutil.c); export writes them back into the headers.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "ldb-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

static void archive_readp(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static void archive_writep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static void entryp(struct archive_entry **e)
{
	if (*e)
		archive_entry_free(*e);
}

struct dir_fixup {
	char *path;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec mtime;
};

struct extract_ctx {
	struct ldb *db;
	struct archive *a;
	int root;
	struct ldb_progress prog;
	ldb_progress_cb progress;
	void *payload;
	struct dir_fixup *dirs;
	size_t n_dirs;
	char entry[PATH_MAX]; /* sanitized name of the current entry, for messages */
};

/* Normalise an archive name into "a/b/c" ("" for the root); refuse escapes. */
static int sanitize(struct ldb *db, const char *in, char *out, size_t n)
{
	size_t len = 0;
	const char *p = in;

	if (!in || !*in)
		return ldb__err(db, -EBADMSG, "archive entry without a name");
	if (in[0] == '/')
		return ldb__err(db, -EPERM, "archive entry '%s' has an absolute path", in);
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return ldb__err(db, -EPERM, "archive entry '%s' climbs out of the layer", in);
		if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			if (len + cl + 2 > n)
				return ldb__err(db, -ENAMETOOLONG, "archive entry name too long");
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, cl);
			len += cl;
		}
		p = *e ? e + 1 : e;
	}
	out[len] = '\0';
	return 0;
}

/* Does a relative symlink at @path pointing to @target leave the layer? */
static bool symlink_escapes(const char *path, const char *target)
{
	int depth = 0;
	const char *p;

	if (target[0] == '/')
		return false;
	for (p = path; *p; p++)
		if (*p == '/')
			depth++;
	for (p = target; *p;) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			depth++;
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

/* Open (creating missing directories) the parent directory of @rel. */
static int open_parent(struct extract_ctx *c, char *rel, const char **ret_base)
{
	char *slash = strrchr(rel, '/');
	_cleanup_close_ int cur = -EBADF;
	char *p;
	int r;

	r = cur = neg_errno(openat(c->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	if (!slash) {
		*ret_base = rel;
		return take_fd(cur);
	}
	*slash = '\0';
	for (p = rel;;) {
		char *e = strchrnul(p, '/');
		bool last = !*e;
		int next;

		*e = '\0';
		r = neg_errno(mkdirat(cur, p, 0755));
		if (r < 0 && r != -EEXIST)
			return r;
		next = ldb__open_beneath(cur, p, O_RDONLY | O_DIRECTORY, 0);
		if (!last)
			*e = '/';
		if (next == -ELOOP || next == -ENOTDIR || next == -EXDEV) {
			*slash = '/';
			return ldb__err(c->db, -EPERM, "archive entry '%s' goes through a symlink "
					"or a non-directory", rel);
		}
		if (next < 0)
			return next;
		close(cur);
		cur = next;
		if (last)
			break;
		p = e + 1;
	}
	*slash = '/';
	*ret_base = slash + 1;
	return take_fd(cur);
}

static void set_xattrs(struct archive_entry *e, int fd, int dirfd, const char *base)
{
	const char *name;
	const void *value;
	size_t size;
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, base);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		/* the header's owner and mode are authoritative (see ldb__set_owner_mode()) */
		if (ldb__is_private_xattr(name) || ldb__is_override_xattr(name))
			continue;
		/* Best effort: an unprivileged store cannot set trusted.* or security.*. */
		if (fd >= 0)
			(void)fsetxattr(fd, name, value, size, 0);
		else
			(void)lsetxattr(p, name, value, size, 0);
	}
}

static int write_data(struct extract_ctx *c, int fd)
{
	const void *buf;
	size_t size;
	la_int64_t off;

	for (;;) {
		int ar = archive_read_data_block(c->a, &buf, &size, &off);

		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN)
			return ldb__err(c->db, -EBADMSG, "archive entry '%s': %s", c->entry,
					archive_error_string(c->a));
		while (size > 0) {
			ssize_t w = pwrite(fd, buf, size, (off_t)off);

			if (w < 0)
				return -errno;
			buf = (const char *)buf + w;
			size -= (size_t)w;
			off += w;
			c->prog.bytes += (uint64_t)w;
		}
	}
}

static int extract_regular(struct extract_ctx *c, struct archive_entry *e, int pfd,
			   const char *base)
{
	_cleanup_close_ int fd = -EBADF;
	struct timespec ts[2] = {
		{ archive_entry_atime(e), archive_entry_atime_nsec(e) },
		{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
	};
	int r;

	r = fd = neg_errno(openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				  0600));
	if (r < 0)
		return r;
	r = write_data(c, fd);
	if (r < 0)
		return r;
	r = neg_errno(ftruncate(fd, archive_entry_size(e)));
	if (r < 0)
		return r;
	set_xattrs(e, fd, pfd, base);
	r = ldb__set_owner_mode(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
				archive_entry_perm(e));
	if (r < 0)
		return r;
	(void)futimens(fd, ts);
	return 0;
}

static int remember_dir(struct extract_ctx *c, const char *rel, struct archive_entry *e)
{
	struct dir_fixup *nd = realloc(c->dirs, (c->n_dirs + 1) * sizeof(*nd));

	if (!nd)
		return -ENOMEM;
	c->dirs = nd;
	nd[c->n_dirs] = (struct dir_fixup){
		.path = strdup(rel), .mode = archive_entry_perm(e),
		.uid = archive_entry_uid(e), .gid = archive_entry_gid(e),
		.mtime = { archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
	};
	if (!nd[c->n_dirs].path)
		return -ENOMEM;
	c->n_dirs++;
	return 0;
}

static int extract_link(struct extract_ctx *c, const char *target, int pfd, const char *base)
{
	char tgt[PATH_MAX];
	const char *tbase;
	_cleanup_close_ int tfd = -EBADF;
	struct stat st;
	int r;

	if (target[0] == '/')
		return ldb__err(c->db, -EPERM, "hard link '%s' has an absolute target '%s'",
				c->entry, target);
	r = sanitize(c->db, target, tgt, sizeof(tgt));
	if (r < 0)
		return ldb__err(c->db, r, "hard link '%s' leads out of the layer ('%s')", c->entry,
				target);
	if (!tgt[0])
		return ldb__err(c->db, -EPERM, "hard link '%s' points at the layer root", c->entry);
	r = tfd = open_parent(c, tgt, &tbase);
	if (r < 0)
		return r;
	r = neg_errno(fstatat(tfd, tbase, &st, AT_SYMLINK_NOFOLLOW));
	if (r < 0 || S_ISDIR(st.st_mode))
		return ldb__err(c->db, -EPERM, "hard link '%s' to '%s': not an earlier file of "
				"the archive", c->entry, target);
	return neg_errno(linkat(tfd, tbase, pfd, base, 0));
}

/* Create a non-hardlink entry @base in @pfd (rel name in c->entry). */
static int extract_node(struct extract_ctx *c, struct archive_entry *e, int pfd, const char *base)
{
	mode_t type = archive_entry_filetype(e);
	const char *rel = c->entry;
	int r;

	switch (type) {
	case AE_IFDIR:
		r = neg_errno(mkdirat(pfd, base, 0700));
		if (r < 0 && r != -EEXIST)
			return r;
		if (archive_entry_xattr_count(e) > 0) {
			_cleanup_close_ int dfd = neg_errno(openat(pfd, base, O_RDONLY | O_DIRECTORY |
									      O_NOFOLLOW | O_CLOEXEC));
			if (dfd >= 0)
				set_xattrs(e, dfd, pfd, base);
		}
		return remember_dir(c, rel, e);
	case AE_IFREG:
		return extract_regular(c, e, pfd, base);
	case AE_IFLNK: {
		const char *t = archive_entry_symlink(e);

		if (!t || !*t)
			return ldb__err(c->db, -EBADMSG, "symlink '%s' without a target", rel);
		if (symlink_escapes(rel, t))
			return ldb__err(c->db, -EPERM, "symlink '%s' leads out of the layer ('%s')",
					rel, t);
		r = neg_errno(symlinkat(t, pfd, base));
		if (r < 0)
			return r;
		(void)fchownat(pfd, base, archive_entry_uid(e), archive_entry_gid(e),
			       AT_SYMLINK_NOFOLLOW);
		(void)utimensat(pfd, base, (struct timespec[]){
			{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
			{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) } }, AT_SYMLINK_NOFOLLOW);
		return 0;
	}
	case AE_IFCHR:
	case AE_IFBLK:
		if (type == AE_IFCHR && archive_entry_rdev(e) == 0)
			return ldb__make_whiteout(c->db, pfd, base);
		if (!c->db->privileged)
			return ldb__err(c->db, -EPERM, "archive entry '%s' is a device node and the "
					"store is unprivileged", rel);
		/* fallthrough */
	case AE_IFIFO:
		r = neg_errno(mknodat(pfd, base, type | archive_entry_perm(e),
				      archive_entry_rdev(e)));
		if (r < 0)
			return r;
		(void)fchownat(pfd, base, archive_entry_uid(e), archive_entry_gid(e),
			       AT_SYMLINK_NOFOLLOW);
		(void)fchmodat(pfd, base, archive_entry_perm(e), 0);
		return 0;
	default:
		return 0; /* sockets are not content */
	}
}

static int extract_entry(struct extract_ctx *c, struct archive_entry *e)
{
	char rel[PATH_MAX];
	const char *base, *hl;
	_cleanup_close_ int pfd = -EBADF;
	mode_t type = archive_entry_filetype(e);
	struct stat st;
	int r;

	r = sanitize(c->db, archive_entry_pathname(e), rel, sizeof(rel));
	if (r < 0)
		return r;
	snprintf(c->entry, sizeof(c->entry), "%s", rel);
	if (!rel[0])
		return 0; /* "./": the layer root belongs to the store */
	hl = archive_entry_hardlink(e);
	r = pfd = open_parent(c, rel, &base);
	if (r < 0)
		return r;
	if (strcmp(base, WH_OPAQUE) == 0)
		return ldb__make_opaque(c->db, pfd);
	if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0 && base[strlen(WH_PREFIX)])
		return ldb__make_whiteout(c->db, pfd, base + strlen(WH_PREFIX));
	/* A later entry replaces an earlier one (tar semantics), except dir on dir. */
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !hl)) {
		r = ldb__rm_rf_at(pfd, base);
		if (r < 0)
			return r;
	}
	if (hl)
		return extract_link(c, hl, pfd, base);
	return extract_node(c, e, pfd, base);
}

static int fixup_dirs(struct extract_ctx *c)
{
	/* Deepest first does not matter for modes; it does for mtimes, which
	 * creating children touches, so walk backwards. */
	for (size_t i = c->n_dirs; i-- > 0;) {
		struct dir_fixup *d = &c->dirs[i];
		_cleanup_close_ int fd = ldb__open_beneath(c->root, d->path, O_RDONLY | O_DIRECTORY, 0);
		struct timespec ts[2] = { d->mtime, d->mtime };

		if (fd < 0)
			continue; /* replaced by a later entry */
		(void)ldb__set_owner_mode(fd, d->uid, d->gid, d->mode);
		(void)futimens(fd, ts);
	}
	return 0;
}

int ldb__archive_extract(struct ldb *db, int fd, int dstfd, ldb_progress_cb progress,
			 void *payload)
{
	_cleanup_(archive_readp) struct archive *a = archive_read_new();
	struct extract_ctx c = {
		.db = db, .a = a, .root = dstfd, .progress = progress, .payload = payload,
		.prog = { .phase = "extract" },
	};
	struct archive_entry *e;
	int r = 0;

	if (!a)
		return -ENOMEM;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK)
		return ldb__err(db, -EBADMSG, "cannot read archive: %s", archive_error_string(a));
	for (;;) {
		int ar = archive_read_next_header(a, &e);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = ldb__err(db, -EBADMSG, "corrupt or truncated archive: %s",
				     archive_error_string(a));
			break;
		}
		r = extract_entry(&c, e);
		if (r < 0) {
			if (r != -EPERM && r != -EBADMSG && r != -ENAMETOOLONG)
				ldb__err(db, r, "cannot extract '%s': %s", c.entry,
					 strerror(-r));
			break;
		}
		c.prog.files++;
		if (progress && (c.prog.files & 63) == 0)
			progress(&c.prog, payload);
	}
	if (r >= 0)
		r = fixup_dirs(&c);
	for (size_t i = 0; i < c.n_dirs; i++)
		free(c.dirs[i].path);
	free(c.dirs);
	return r;
}

/* ---- export --------------------------------------------------------------- */

struct export_ctx {
	struct ldb *db;
	struct archive *a;
	struct { dev_t dev; ino_t ino; char *path; } *links;
	size_t n_links;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_header(struct export_ctx *c, struct archive_entry *e)
{
	if (archive_write_header(c->a, e) < ARCHIVE_WARN)
		return ldb__err(c->db, -EIO, "cannot write archive: %s", archive_error_string(c->a));
	return 0;
}

static int export_whiteout(struct export_ctx *c, const char *dir, const char *name)
{
	_cleanup_(entryp) struct archive_entry *e = archive_entry_new();
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s%s" WH_PREFIX "%s", dir, *dir ? "/" : "", name);
	archive_entry_set_pathname(e, p);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	return write_header(c, e);
}

static int export_dir(struct export_ctx *c, int dfd, const char *dir);

/* Hard links: the first name carries the data, later ones point at it. */
static int export_hardlink(struct export_ctx *c, const struct stat *st, const char *p,
			   struct archive_entry *e)
{
	void *nl;

	for (size_t i = 0; i < c->n_links; i++) {
		if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino) {
			archive_entry_set_hardlink(e, c->links[i].path);
			archive_entry_set_size(e, 0);
			return 1;
		}
	}
	nl = realloc(c->links, (c->n_links + 1) * sizeof(*c->links));
	if (!nl)
		return -ENOMEM;
	c->links = nl;
	c->links[c->n_links].dev = st->st_dev;
	c->links[c->n_links].ino = st->st_ino;
	c->links[c->n_links].path = strdup(p);
	if (!c->links[c->n_links].path)
		return -ENOMEM;
	c->n_links++;
	return 0;
}

/* Copy the content xattrs of @fd to @e; true if an opaque marker is among them. */
static bool export_xattrs(int fd, struct archive_entry *e)
{
	_cleanup_free_ char *list = NULL, *v = NULL;
	bool opaque = false;
	ssize_t len;

	len = flistxattr(fd, NULL, 0);
	if (len <= 0 || !(list = malloc((size_t)len)) || !(v = malloc(65536)))
		return false;
	len = flistxattr(fd, list, (size_t)len);
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		ssize_t vl = fgetxattr(fd, list + i, v, 65536);

		if (vl < 0)
			continue;
		if (ldb__is_opaque_xattr(list + i, v, (size_t)vl))
			opaque = true;
		if (!ldb__is_private_xattr(list + i) && !ldb__is_override_xattr(list + i))
			archive_entry_xattr_add_entry(e, list + i, v, (size_t)vl);
	}
	return opaque;
}

static int export_data(struct export_ctx *c, int fd)
{
	_cleanup_free_ char *buf = malloc(1 << 16);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 16);

		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (archive_write_data(c->a, buf, (size_t)n) < 0)
			return ldb__err(c->db, -EIO, "cannot write archive: %s",
					archive_error_string(c->a));
	}
}

/* A directory or a regular file: xattrs, then children or data. */
static int export_inode(struct export_ctx *c, int dfd, const char *name, const char *p,
			const struct stat *st, struct archive_entry *e)
{
	_cleanup_close_ int fd = neg_errno(openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
	bool opaque;
	int r;

	if (fd < 0)
		return fd;
	opaque = export_xattrs(fd, e);
	r = write_header(c, e);
	if (r < 0)
		return r;
	if (!S_ISDIR(st->st_mode))
		return export_data(c, fd);
	if (opaque || faccessat(fd, WH_OPAQUE, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		/* the OCI opaque marker: ".wh..wh..opq" inside the directory */
		r = export_whiteout(c, p, WH_OPAQUE + strlen(WH_PREFIX));
		if (r < 0)
			return r;
	}
	return export_dir(c, fd, p);
}

static int export_one(struct export_ctx *c, int dfd, const char *dir, const char *name)
{
	_cleanup_(entryp) struct archive_entry *e = archive_entry_new();
	struct stat st;
	char p[PATH_MAX], target[PATH_MAX];
	ssize_t tl;
	int r;

	if (strcmp(name, WH_OPAQUE) == 0)
		return 0; /* emitted with its directory */
	if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
		return export_whiteout(c, dir, name + strlen(WH_PREFIX));
	r = neg_errno(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW));
	if (r < 0)
		return r;
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
		return export_whiteout(c, dir, name);
	snprintf(p, sizeof(p), "%s%s%s", dir, *dir ? "/" : "", name);
	/* an unprivileged store's emulated owner and mode are the real ones */
	ldb__override_apply(dfd, name, &st);
	archive_entry_copy_stat(e, &st);
	archive_entry_set_pathname(e, p);
	if (S_ISLNK(st.st_mode)) {
		tl = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (tl < 0)
			return -errno;
		target[tl] = '\0';
		archive_entry_set_symlink(e, target);
		return write_header(c, e);
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		r = export_hardlink(c, &st, p, e);
		if (r < 0)
			return r;
		if (r > 0)
			return write_header(c, e);
	}
	if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
		return export_inode(c, dfd, name, p, &st, e);
	return write_header(c, e);
}

static int export_dir(struct export_ctx *c, int dfd, const char *dir)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_free_ char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd, r = 0;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof(char *));

			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[n++] = strdup(de->d_name);
	}
	if (n)
		qsort(names, n, sizeof(char *), cmp_name);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = export_one(c, dirfd(d), dir, names[i]);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

int ldb_layer_export(struct ldb *db, const struct ldb_digest *id, int fd, const char *compression)
{
	_cleanup_(archive_writep) struct archive *a = archive_write_new();
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int dfd = -EBADF;
	struct export_ctx c = { .db = db, .a = a };
	int r;

	if (!a)
		return -ENOMEM;
	r = ldb_layer_path(db, id, &path);
	if (r < 0)
		return r;
	r = dfd = neg_errno(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot open layer '%s': %s", path, strerror(-r));
	archive_write_set_format_pax_restricted(a);
	if (!compression || strcmp(compression, "none") == 0)
		archive_write_add_filter_none(a);
	else if (strcmp(compression, "gzip") == 0)
		archive_write_add_filter_gzip(a);
	else if (strcmp(compression, "zstd") == 0)
		archive_write_add_filter_zstd(a);
	else
		return ldb__err(db, -EINVAL, "unknown compression '%s'", compression);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK)
		return ldb__err(db, -EIO, "cannot write archive: %s", archive_error_string(a));
	r = export_dir(&c, dfd, "");
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	if (r < 0)
		return r;
	if (archive_write_close(a) != ARCHIVE_OK)
		return ldb__err(db, -EIO, "cannot write archive: %s", archive_error_string(a));
	return 0;
}
