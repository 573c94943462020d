/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oci-flatten.c - the merged root file system of an image as one tar, merged
 * in-process with the overlay rules (no mount needed):
 *   - for each directory, layers are read top first; the first layer that has
 *     a name decides it (a whiteout hides it: 0/0 char device or .wh.NAME);
 *   - an opaque directory (overlay xattrs or .wh..wh..opq) hides every layer
 *     below it; a non-directory hides lower directories of the same name;
 *   - a directory is merged with the directories of the same name below it.
 * Entries are written sorted, without atime/ctime or device/inode numbers, so
 * the tar is reproducible; hard links of one layer stay hard links.
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

struct flat_link {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct flat_ctx {
	struct ldb *db;
	struct archive *a;
	struct flat_link *links;
	size_t n_links;
};

struct flat_name {
	char *name;
	int layer;   /* deciding layer; -1 = whited out */
};

static bool dir_is_opaque(int dfd)
{
	char list[4096], v[8];
	ssize_t len = flistxattr(dfd, list, sizeof(list));

	for (ssize_t i = 0; i > -1 && i < len; i += (ssize_t)strlen(list + i) + 1) {
		ssize_t vl = fgetxattr(dfd, list + i, v, sizeof(v));

		if (vl > 0 && ldb__is_opaque_xattr(list + i, v, (size_t)vl))
			return true;
	}
	return faccessat(dfd, WH_OPAQUE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static int cmp_flat(const void *a, const void *b)
{
	return strcmp(((const struct flat_name *)a)->name, ((const struct flat_name *)b)->name);
}

static int find_name(struct flat_name *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Gather the names of one merged directory; returns the count or -errno. */
static int gather(const int *fds, size_t n_layers, struct flat_name **ret, size_t *ret_limit)
{
	struct flat_name *v = NULL;
	size_t n = 0, limit = n_layers;

	for (size_t l = 0; l < n_layers; l++) {
		_cleanup_closedir_ DIR *d = NULL;
		struct dirent *de;
		int fd;

		if (fds[l] < 0)
			continue;
		fd = openat(fds[l], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		d = fd >= 0 ? fdopendir(fd) : NULL;
		if (!d) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		while ((de = readdir(d))) {
			const char *name = de->d_name;
			int layer = (int)l;
			struct stat st;
			struct flat_name *nv;

			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
			    strcmp(name, WH_OPAQUE) == 0)
				continue;
			if (strncmp(name, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
				name += strlen(WH_PREFIX);
				layer = -1;
			} else if (fstatat(fds[l], name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				   S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
				layer = -1;
			}
			if (find_name(v, n, name) >= 0)
				continue;
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv)
				goto nomem;
			v = nv;
			v[n].name = strdup(name);
			v[n].layer = layer;
			if (!v[n++].name)
				goto nomem;
		}
		if (dir_is_opaque(fds[l])) {
			limit = l + 1;
			break;
		}
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_flat);
	*ret = v;
	*ret_limit = limit;
	return (int)n;
nomem:
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return -ENOMEM;
}

static int put_header(struct flat_ctx *c, struct archive_entry *e)
{
	if (archive_write_header(c->a, e) < ARCHIVE_WARN)
		return ldb__err(c->db, -EIO, "cannot write tar: %s", archive_error_string(c->a));
	return 0;
}

static void add_xattrs(int fd, struct archive_entry *e)
{
	char list[65536];
	_cleanup_free_ char *v = malloc(65536);
	ssize_t len = flistxattr(fd, list, sizeof(list));
	const char *names[512];
	size_t n = 0;

	for (ssize_t i = 0; v && i < len && n < ELEMENTSOF(names); i += (ssize_t)strlen(list + i) + 1)
		if (!ldb__is_private_xattr(list + i) && !ldb__is_override_xattr(list + i))
			names[n++] = list + i;
	for (size_t i = 1; i < n; i++) /* insertion sort: few names */
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			const char *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = fgetxattr(fd, names[i], v, 65536);

		if (vl >= 0)
			archive_entry_xattr_add_entry(e, names[i], v, (size_t)vl);
	}
}

static int copy_data(struct flat_ctx *c, int fd)
{
	_cleanup_free_ char *buf = malloc(1 << 17);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = read(fd, buf, 1 << 17)) > 0)
		if (archive_write_data(c->a, buf, (size_t)n) < 0)
			return ldb__err(c->db, -EIO, "cannot write tar: %s", archive_error_string(c->a));
	return n < 0 ? -errno : 0;
}

static int flatten_dir(struct flat_ctx *c, const int *fds, size_t n_layers, const char *dir);

/* The layers' fds of merged directory @name, from @top down. */
static int flatten_subdir(struct flat_ctx *c, const int *fds, size_t limit, size_t top,
			  const char *name, const char *p)
{
	_cleanup_free_ int *sub = malloc(limit * sizeof(int));
	int r;

	if (!sub)
		return -ENOMEM;
	for (size_t l = 0; l < limit; l++)
		sub[l] = -EBADF;
	for (size_t l = top; l < limit; l++) {
		struct stat st;
		char wh[NAME_MAX + 8];

		if (fds[l] < 0)
			continue;
		snprintf(wh, sizeof(wh), WH_PREFIX "%s", name);
		if (l > top && faccessat(fds[l], wh, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			break;
		if (fstatat(fds[l], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(st.st_mode))
			break;
		sub[l] = openat(fds[l], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	r = flatten_dir(c, sub, limit, p);
	for (size_t l = 0; l < limit; l++)
		if (sub[l] >= 0)
			close(sub[l]);
	return r;
}

static int flatten_one(struct flat_ctx *c, const int *fds, size_t limit,
		       const struct flat_name *fn, const char *dir)
{
	struct archive_entry *e = archive_entry_new();
	_cleanup_close_ int fd = -EBADF;
	int dfd = fds[fn->layer];
	char p[PATH_MAX], target[PATH_MAX];
	struct stat st;
	int r;

	if (!e)
		return -ENOMEM;
	snprintf(p, sizeof(p), "%s%s%s", dir, *dir ? "/" : "", fn->name);
	r = neg_errno(fstatat(dfd, fn->name, &st, AT_SYMLINK_NOFOLLOW));
	if (r < 0)
		goto out;
	ldb__override_apply(dfd, fn->name, &st); /* an unprivileged store's owners */
	archive_entry_copy_stat(e, &st);
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_set_dev(e, 0);
	archive_entry_set_ino(e, 0);
	archive_entry_set_pathname(e, p);
	if (S_ISLNK(st.st_mode)) {
		ssize_t tl = readlinkat(dfd, fn->name, target, sizeof(target) - 1);

		if (tl < 0) {
			r = -errno;
			goto out;
		}
		target[tl] = '\0';
		archive_entry_set_symlink(e, target);
		r = put_header(c, e);
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < c->n_links; i++) {
			if (c->links[i].dev == st.st_dev && c->links[i].ino == st.st_ino) {
				archive_entry_set_hardlink(e, c->links[i].path);
				archive_entry_set_size(e, 0);
				r = put_header(c, e);
				goto out;
			}
		}
		struct flat_link *nl = realloc(c->links, (c->n_links + 1) * sizeof(*nl));

		if (!nl) {
			r = -ENOMEM;
			goto out;
		}
		c->links = nl;
		nl[c->n_links++] = (struct flat_link){ st.st_dev, st.st_ino, strdup(p) };
	}
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		r = fd = neg_errno(openat(dfd, fn->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
		if (r < 0)
			goto out;
		add_xattrs(fd, e);
	}
	r = put_header(c, e);
	if (r < 0)
		goto out;
	if (S_ISREG(st.st_mode))
		r = copy_data(c, fd);
	else if (S_ISDIR(st.st_mode))
		r = flatten_subdir(c, fds, limit, (size_t)fn->layer, fn->name, p);
out:
	archive_entry_free(e);
	return r;
}

static int flatten_dir(struct flat_ctx *c, const int *fds, size_t n_layers, const char *dir)
{
	struct flat_name *v = NULL;
	size_t limit;
	int n, r = 0;

	n = gather(fds, n_layers, &v, &limit);
	if (n < 0)
		return n;
	for (int i = 0; i < n && r >= 0; i++)
		if (v[i].layer >= 0 && (size_t)v[i].layer < limit)
			r = flatten_one(c, fds, limit, &v[i], dir);
	for (int i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	return r;
}

int ldb_image_flatten(struct ldb *db, const struct ldb_digest *image, int fd)
{
	_cleanup_free_ struct ldb_digest *layers = NULL;
	_cleanup_free_ int *fds = NULL;
	struct flat_ctx c = { .db = db };
	size_t n;
	int r;

	db->errmsg[0] = '\0';
	r = ldb_image_chain(db, image, NULL, &layers, &n);
	if (r < 0)
		return r;
	fds = malloc((n ? n : 1) * sizeof(int));
	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fds[i] = -EBADF;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;

		r = ldb_layer_path(db, &layers[i], &path);
		if (r >= 0)
			r = fds[i] = neg_errno(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (r < 0) {
			ldb__err(db, r, "cannot open layer '%s': %s", path ? path : "",
				 strerror(-r));
			goto out;
		}
	}
	c.a = archive_write_new();
	if (!c.a) {
		r = -ENOMEM;
		goto out;
	}
	archive_write_set_format_pax_restricted(c.a);
	archive_write_add_filter_none(c.a);
	if (archive_write_open_fd(c.a, fd) != ARCHIVE_OK) {
		r = ldb__err(db, -EIO, "cannot write tar: %s", archive_error_string(c.a));
		goto out;
	}
	r = flatten_dir(&c, fds, n, "");
	if (r >= 0 && archive_write_close(c.a) != ARCHIVE_OK)
		r = ldb__err(db, -EIO, "cannot write tar: %s", archive_error_string(c.a));
out:
	if (c.a)
		archive_write_free(c.a);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}
