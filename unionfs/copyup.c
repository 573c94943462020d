/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * copyup.c - bring an entry from a lower layer into the upper layer.
 *
 * Atomicity: the copy is built under a temporary name in workdir/work and
 * renamed into the upper layer only when complete (data, then xattrs, then
 * owner, then mode, then times; fsync before the rename unless fsync=0 or
 * volatile).  A crash leaves at most a temporary in workdir/work, which
 * the next mount removes; the upper layer never shows a half-copied file.
 *
 * Parents are copied up first, each with its own metadata.  A directory is
 * copied without its content: lower content keeps merging from below.
 *
 * Metadata-only copy-up (metacopy, as kernel overlayfs with metacopy=on):
 * chmod, chown, utimes and setxattr on a lower regular file create an upper
 * file of the right size with no data and the xattr
 * <prefix>.overlay.metacopy; reads keep going to the lower file.  The data
 * follows on the first open for writing or truncate, when the metacopy file
 * is replaced, again atomically, by a full copy carrying its metadata.
 *
 * Every copied-up non-directory carries <prefix>.overlay.sfs.origin so that
 * its inode number stays that of the lower file (inode.c).
 *
 * Lower hard links: the first data copy-up of a file whose lower link count
 * is above one also links the copy into workdir/sfs-index/<dev>-<ino>;
 * lookup of any other name of that lower inode then finds the copy there,
 * so every name shows the new content.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stratafs.h"

/* State of one copy-up, filled under the tree lock, used without it. */
struct copyup_ctx {
	struct sfs_fs *fs;
	struct sfs_node *n;
	bool meta_only;
	bool data_from_lower_of_upper; /* metacopy -> full */
	unsigned src_layer;            /* where the data is */
	char *src_path;
	unsigned meta_layer;           /* where the metadata is */
	char *meta_path;
	struct stat st;                /* metadata source stat */
	uid_t uid;                     /* owner to give the copy, on disk */
	gid_t gid;
	char tmp[64];                  /* temporary name in workdir/work */
	fuse_ino_t *aliases;           /* other names of a copied hard link */
	size_t n_aliases;
};

void sfs_work_tmpname(struct sfs_fs *fs, char *buf, size_t size)
{
	snprintf(buf, size, "#sfs-%d-%llu", (int)getpid(),
		 (unsigned long long)atomic_fetch_add(&fs->tmp_counter, 1));
}

int sfs_copy_xattrs(const char *src_path, int dst_fd, const char *dst_path)
{
	_cleanup_free_ char *list = NULL, *val = NULL;
	ssize_t len, vcap = 0;

	len = llistxattr(src_path, NULL, 0);
	if (len <= 0)
		return len < 0 && errno != ENOTSUP ? -errno : 0;
	list = malloc(len);
	if (!list)
		return -ENOMEM;
	len = llistxattr(src_path, list, len);
	if (len < 0)
		return -errno;
	for (char *x = list; x < list + len; x += strlen(x) + 1) {
		ssize_t vl;

		/* private, except the emulated ownership, which belongs to
		 * the file (xattr_permissions=) */
		if (sfs_xattr_is_private(x) && !sfs_xattr_is_override(x))
			continue;
		vl = lgetxattr(src_path, x, NULL, 0);
		if (vl < 0)
			continue;
		if (vl > vcap) {
			free(val);
			val = malloc(vl + 1);
			if (!val)
				return -ENOMEM;
			vcap = vl;
		}
		vl = lgetxattr(src_path, x, val, vl);
		if (vl < 0)
			continue;
		if ((dst_fd >= 0 ? fsetxattr(dst_fd, x, val, vl, 0)
				 : lsetxattr(dst_path, x, val, vl, 0)) < 0) {
			/* An unprivileged daemon cannot set trusted.* or
			 * security.*: the copy goes on without them. */
			if (errno == EPERM || errno == ENOTSUP || errno == EACCES) {
				sfs_log(SFS_LOG_DEBUG, "copy-up: xattr %s not copied: %m", x);
				continue;
			}
			return -errno;
		}
	}
	return 0;
}

/* The copy's xattrs: the source's, and for a non-directory the inode
 * number the mount reports, which travels with the file (across renames,
 * hard links and remounts).  On fd, or with fd < 0 on path (not
 * followed: a symlink or special file). */
static int copy_xattrs(struct copyup_ctx *c, int fd, const char *path)
{
	struct sfs_fs *fs = c->fs;
	char ppath[PATH_MAX + 64], num[32];
	const char *own = sfs_own_xattr(fs, SFS_XATTR_OWN_ORIGIN);
	int r, len;

	r = sfs_proc_path(fs, c->meta_layer, c->meta_path, ppath, sizeof(ppath));
	if (r < 0)
		return r;
	r = sfs_copy_xattrs(ppath, fd, path);
	if (r < 0 || S_ISDIR(c->st.st_mode))
		return r;
	len = snprintf(num, sizeof(num), "%llu", (unsigned long long)c->n->st_ino);
	/* user.* xattrs cannot go on symlinks: an unprivileged daemon's
	 * copied-up symlink gets its inode number from the upper layer */
	if ((fd >= 0 ? fsetxattr(fd, own, num, len, 0) : lsetxattr(path, own, num, len, 0)) < 0 &&
	    errno != ENOTSUP && errno != EPERM)
		return -errno;
	return 0;
}

static int set_metadata(struct copyup_ctx *c, int fd)
{
	struct sfs_fs *fs = c->fs;
	struct timespec ts[2] = { c->st.st_atim, c->st.st_mtim };
	int r;

	/* Data before xattrs: writing data drops security.capability. */
	r = copy_xattrs(c, fd, NULL);
	if (r < 0)
		return r;
	if (c->meta_only &&
	    fsetxattr(fd, sfs_ovl_xattr(fs, SFS_XATTR_METACOPY), "", 0, 0) < 0)
		return -errno;
	/* Owner before mode: chown clears the set-id bits. */
	if (fs->can_chown && fchown(fd, c->uid, c->gid) < 0)
		return -errno;
	/* A directory keeps its working mode until it is in place: moving a
	 * directory to another parent needs write permission on it. */
	if (S_ISDIR(c->st.st_mode))
		return 0;
	if (fchmod(fd, c->st.st_mode & 07777) < 0)
		return -errno;
	return neg_errno(futimens(fd, ts));
}

static int copy_regular(struct copyup_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	_cleanup_close_ int src = -EBADF, dst = -EBADF;
	int r;

	dst = sfs_openat(fs->workfd, c->tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (dst < 0)
		return -errno;
	if (c->meta_only) {
		r = neg_errno(ftruncate(dst, c->st.st_size));
	} else {
		sfs_loop_may_block(); /* reads, writes and syncs the data */
		src = sfs_openat(fs->layers[c->src_layer].fd, c->src_path,
			     O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return -errno;
		r = sfs_copy_data(src, dst, c->st.st_size);
	}
	if (r < 0)
		return r;
	r = set_metadata(c, dst);
	if (r < 0)
		return r;
	if (fs->cfg->fsync && !c->meta_only && fsync(dst) < 0)
		return -errno;
	return 0;
}

static int copy_dir(struct copyup_ctx *c)
{
	_cleanup_close_ int fd = -EBADF;

	if (sfs_mkdirat(c->fs->workfd, c->tmp, 0700) < 0)
		return -errno;
	fd = sfs_openat(c->fs->workfd, c->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return set_metadata(c, fd);
}

/* Symlinks and special files: no fd to hang metadata on, use paths. */
static int copy_other(struct copyup_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	struct timespec ts[2] = { c->st.st_atim, c->st.st_mtim };
	char path[PATH_MAX + 64];
	int r;

	if (S_ISLNK(c->st.st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t len = sfs_readlinkat(fs->layers[c->src_layer].fd, c->src_path,
					 target, sizeof(target) - 1);

		if (len < 0)
			return -errno;
		target[len] = '\0';
		r = neg_errno(sfs_symlinkat(target, fs->workfd, c->tmp));
	} else {
		r = neg_errno(sfs_mknodat(fs->workfd, c->tmp, c->st.st_mode, c->st.st_rdev));
	}
	if (r < 0)
		return r;
	if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->workfd, c->tmp) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	r = copy_xattrs(c, -EBADF, path);
	if (r < 0)
		return r;
	if (fs->can_chown) {
		r = neg_errno(sfs_fchownat(fs->workfd, c->tmp, c->uid, c->gid,
				       AT_SYMLINK_NOFOLLOW));
		if (r < 0)
			return r;
	}
	if (!S_ISLNK(c->st.st_mode)) {
		r = neg_errno(sfs_fchmodat(fs->workfd, c->tmp, c->st.st_mode & 07777, 0));
		if (r < 0)
			return r;
	}
	return neg_errno(sfs_utimensat(fs->workfd, c->tmp, ts, AT_SYMLINK_NOFOLLOW));
}

/* Record the copy of a lower hard-linked file in the index (index.c). */
static void index_hardlink(struct copyup_ctx *c, const char *upath)
{
	struct sfs_fs *fs = c->fs;
	nlink_t nl;
	char name[64];

	sfs_index_name(c->n->st_ino, name, sizeof(name));
	atomic_store(&fs->index_data_used, true);
	if (sfs_linkat(fs->upper->fd, upath, fs->indexfd, name, 0) < 0 && errno != EEXIST) {
		sfs_log(SFS_LOG_WARNING, "copy-up: cannot index hard link %s: %m", upath);
		return;
	}
	/* From now on the upper link count says nothing about the group. */
	if (sfs_index_nlink_get(fs, c->n->st_ino, &nl) < 0 &&
	    sfs_index_nlink_set(fs, c->n->st_ino, c->st.st_nlink) < 0)
		sfs_log(SFS_LOG_WARNING, "copy-up: cannot record link count of %s", upath);
}

static bool mark_index_hit(struct sfs_node *m, void *payload)
{
	if (m->in_upper)
		return false;
	/* its handles on the lower file switch at their next use (file.c) */
	__atomic_store_n(&m->index_hit, true, __ATOMIC_RELEASE);
	return true;
}

static int parent_times(struct sfs_fs *fs, struct sfs_node *n, struct stat *st)
{
	_cleanup_free_ char *ppath = NULL;
	int r;

	r = sfs_node_upper_path(n->parent, &ppath);
	if (r < 0)
		return r;
	return neg_errno(sfs_fstatat(fs->upper->fd, ppath, st, AT_SYMLINK_NOFOLLOW));
}

static void restore_parent_times(struct sfs_fs *fs, struct sfs_node *n,
				 const struct stat *st)
{
	_cleanup_free_ char *ppath = NULL;
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (sfs_node_upper_path(n->parent, &ppath) == 0)
		sfs_utimensat(fs->upper->fd, ppath, ts, AT_SYMLINK_NOFOLLOW);
}

/*
 * Put a finished copy at upath: rename the temporary from the work dir,
 * or (link) link an index entry.  The parent may be a copy of a read-only
 * lower directory: an unprivileged daemon cannot add to it, though the
 * copy-up is legitimate (the caller may chmod a file it owns there).  Then
 * the daemon lends itself write permission on its own directory for the
 * moment of the rename.  tree_lock held (write).
 */
static int place_copy(struct sfs_fs *fs, struct sfs_node *n, int fromfd, const char *from,
		      const char *upath, bool link, const struct stat *pst)
{
	_cleanup_free_ char *ppath = NULL;
	int r;

	for (int lent = 0;; lent++) {
		if (link)
			r = neg_errno(sfs_linkat(fromfd, from, fs->upper->fd, upath, 0));
		else
			r = neg_errno(sfs_renameat(fromfd, from, fs->upper->fd, upath));
		if (lent) {
			sfs_fchmodat(fs->upper->fd, ppath, pst->st_mode & 07777, 0);
			return r;
		}
		if (r != -EACCES || pst->st_uid != geteuid() || (pst->st_mode & S_IWUSR))
			return r;
		r = sfs_node_upper_path(n->parent, &ppath);
		if (r < 0)
			return r;
		if (sfs_fchmodat(fs->upper->fd, ppath, (pst->st_mode & 07777) | S_IWUSR | S_IXUSR, 0) < 0)
			return -EACCES;
	}
}

/* Move the finished temporary into place.  tree_lock held (write). */
static int install(struct copyup_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	struct sfs_node *n = c->n;
	_cleanup_free_ char *upath = NULL;
	struct stat pst;
	int r;

	if (n->unlinked || !n->parent || !n->parent->in_upper)
		return -ENOENT;
	r = sfs_node_upper_path(n, &upath);
	if (r < 0)
		return r;
	SFS_TRACE("copy-up %s%s", upath, c->meta_only ? " (metadata)" : "");
	r = parent_times(fs, n, &pst);
	if (r < 0)
		return r;
	r = place_copy(fs, n, fs->workfd, c->tmp, upath, /* link= */ false, &pst);
	if (r < 0)
		return r;
	if (S_ISDIR(c->st.st_mode)) {
		struct timespec ts[2] = { c->st.st_atim, c->st.st_mtim };

		r = neg_errno(sfs_fchmodat(fs->upper->fd, upath, c->st.st_mode & 07777, 0));
		if (r == 0)
			r = neg_errno(sfs_utimensat(fs->upper->fd, upath, ts, AT_SYMLINK_NOFOLLOW));
		if (r < 0)
			sfs_log(SFS_LOG_WARNING, "copy-up: cannot set mode/times of %s: %s",
				upath, strerror(-r));
	}
	/* A copy-up is not a change of the parent directory: keep its times. */
	restore_parent_times(fs, n, &pst);
	n->in_upper = true;
	n->metacopy = c->meta_only;
	/* the fresh upper directory holds no ".wh.NAME" files yet */
	if (S_ISDIR(c->st.st_mode) && !(n->whfile_known & 1)) {
		__atomic_fetch_and(&n->whfile_present, ~1ull, __ATOMIC_RELAXED);
		__atomic_fetch_or(&n->whfile_known, 1ull, __ATOMIC_RELAXED);
	}
	if (!c->meta_only && S_ISREG(c->st.st_mode) && c->st.st_nlink > 1 &&
	    n->lower_group && !c->data_from_lower_of_upper) {
		index_hardlink(c, upath);
		/* the other names now show the copy */
		c->n_aliases = sfs_group_members(fs, n->st_ino, n, &c->aliases,
						 mark_index_hit, NULL);
	}
	return 0;
}

/* Collect sources under the tree lock (read). */
static int prepare(struct copyup_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	struct sfs_node *n = c->n;
	int r;

	if (n->unlinked)
		return -ENOENT;
	if (n->n_lower == 0)
		return -ESTALE;
	c->src_layer = n->lower[0].layer;
	c->src_path = strdup(n->lower[0].path);
	if (!c->src_path)
		return -ENOMEM;
	if (n->in_upper) {
		/* metacopy -> full copy: metadata from the upper file */
		c->data_from_lower_of_upper = true;
		c->meta_layer = 0;
		r = sfs_node_upper_path(n, &c->meta_path);
	} else {
		c->meta_layer = c->src_layer;
		c->meta_path = strdup(c->src_path);
		r = c->meta_path ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	r = neg_errno(sfs_fstatat(fs->layers[c->meta_layer].fd, c->meta_path, &c->st,
			      AT_SYMLINK_NOFOLLOW));
	if (r < 0)
		return r;
	/* A name of a lower hard-link group is copied with its data, into
	 * the index, so that a chmod shows on every name (index.c). */
	if (c->meta_only && (!S_ISREG(c->st.st_mode) || !fs->metacopy || n->in_upper ||
			     n->lower_group))
		c->meta_only = false;
	c->uid = c->st.st_uid;
	c->gid = c->st.st_gid;
	if (fs->layers[c->meta_layer].idmapped) {
		/* ids seen through an idmapped mount: back to what the upper
		 * layer stores */
		c->uid = sfs_uid_to_disk(fs, c->uid);
		c->gid = sfs_gid_to_disk(fs, c->gid);
	}
	if (S_ISREG(c->st.st_mode) && n->in_upper) {
		struct stat dst;

		/* st_nlink of the lower decides about the index */
		if (sfs_fstatat(fs->layers[c->src_layer].fd, c->src_path, &dst,
			    AT_SYMLINK_NOFOLLOW) == 0)
			c->st.st_nlink = dst.st_nlink;
	}
	return 0;
}

static int copy_one(struct copyup_ctx *c)
{
	if (S_ISREG(c->st.st_mode))
		return copy_regular(c);
	if (S_ISDIR(c->st.st_mode))
		return copy_dir(c);
	return copy_other(c);
}

static bool is_done(struct sfs_fs *fs, struct sfs_node *n, bool meta_only)
{
	bool done;

	pthread_rwlock_rdlock(&fs->tree_lock);
	done = n->in_upper && (meta_only || !n->metacopy);
	pthread_rwlock_unlock(&fs->tree_lock);
	return done;
}

static int copyup_parent(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_node *parent;
	int r;

	pthread_rwlock_rdlock(&fs->tree_lock);
	parent = n->parent;
	if (parent)
		sfs_node_ref(fs, parent);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (!parent)
		return 0;
	r = sfs_copyup(fs, parent, /* meta_only= */ true);
	sfs_node_unref(fs, parent);
	return r;
}

/* Another name of this lower inode was copied up already: link to it. */
static int copyup_from_index(struct sfs_fs *fs, struct sfs_node *n)
{
	_cleanup_free_ char *upath = NULL;
	struct stat pst;
	char name[64];
	int r;

	pthread_rwlock_wrlock(&fs->tree_lock);
	if (n->in_upper || !n->index_hit) {
		r = 0;
		goto out;
	}
	r = -ENOENT;
	if (n->unlinked || !n->parent || !n->parent->in_upper)
		goto out;
	r = sfs_node_upper_path(n, &upath);
	if (r < 0)
		goto out;
	sfs_index_name(n->st_ino, name, sizeof(name));
	SFS_TRACE("copy-up %s (link from index)", upath);
	r = parent_times(fs, n, &pst);
	if (r < 0)
		goto out;
	r = place_copy(fs, n, fs->indexfd, name, upath, /* link= */ true, &pst);
	restore_parent_times(fs, n, &pst);
	if (r == 0) {
		n->in_upper = true;
		n->index_hit = false;
	}
out:
	pthread_rwlock_unlock(&fs->tree_lock);
	return r;
}

int sfs_copyup(struct sfs_fs *fs, struct sfs_node *n, bool meta_only)
{
	struct copyup_ctx c = { .fs = fs, .n = n, .meta_only = meta_only };
	int r;

	if (!fs->upper)
		return -EROFS;
	if (is_done(fs, n, meta_only))
		return 0;
	r = copyup_parent(fs, n);
	if (r < 0)
		return r;

	pthread_mutex_lock(&n->copyup_lock);
	if (is_done(fs, n, meta_only)) {
		r = 0;
		goto out_unlock;
	}
	if (n->index_hit) {
		r = copyup_from_index(fs, n);
		goto out_unlock;
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	r = prepare(&c);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r < 0)
		goto out;

	sfs_work_tmpname(fs, c.tmp, sizeof(c.tmp));
	r = copy_one(&c);
	if (r < 0)
		goto fail;

	pthread_rwlock_wrlock(&fs->tree_lock);
	r = install(&c);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r < 0)
		goto fail;
	goto out;
fail:
	sfs_log(SFS_LOG_WARNING, "copy-up of %s failed: %s", c.src_path ? c.src_path : "?",
		strerror(-r));
	sfs_rm_rf_at(fs->workfd, c.tmp);
out:
	free(c.src_path);
	free(c.meta_path);
out_unlock:
	pthread_mutex_unlock(&n->copyup_lock);
	sfs_invalidate_inos(fs, c.aliases, c.n_aliases);
	return r;
}
