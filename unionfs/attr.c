/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attr.c - getattr, setattr, statfs, access, readlink; ownership mapping.
 *
 * What stat reports: the top entry's metadata, with st_ino from the node
 * (inode.c), ids mapped through uidmapping=/gidmapping= or squashed, and
 * nlink 1 for directories merged from several layers (their link count is
 * unknown without reading every layer; find(1) and the kernel overlayfs do
 * the same) or for every directory with static_nlink.
 * setattr copies a lower entry up first: metadata only (metacopy) for
 * chmod, chown and utimes, the data too for truncate.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stratafs.h"

static uid_t uid_to_inside(const struct sfs_fs *fs, uid_t uid)
{
	const struct sfs_config *cfg = fs->cfg;

	if (cfg->squash_to_uid >= 0)
		return cfg->squash_to_uid;
	if (cfg->squash_to_root)
		return 0;
	if (cfg->n_uidmap)
		return sfs_idmap_apply(cfg->uidmap, cfg->n_uidmap, uid, false);
	return uid;
}

static gid_t gid_to_inside(const struct sfs_fs *fs, gid_t gid)
{
	const struct sfs_config *cfg = fs->cfg;

	if (cfg->squash_to_gid >= 0)
		return cfg->squash_to_gid;
	if (cfg->squash_to_root)
		return 0;
	if (cfg->n_gidmap)
		return sfs_idmap_apply(cfg->gidmap, cfg->n_gidmap, gid, false);
	return gid;
}

uid_t sfs_uid_to_disk(const struct sfs_fs *fs, uid_t uid)
{
	const struct sfs_config *cfg = fs->cfg;

	if (cfg->n_uidmap)
		return sfs_idmap_apply(cfg->uidmap, cfg->n_uidmap, uid, true);
	return uid;
}

gid_t sfs_gid_to_disk(const struct sfs_fs *fs, gid_t gid)
{
	const struct sfs_config *cfg = fs->cfg;

	if (cfg->n_gidmap)
		return sfs_idmap_apply(cfg->gidmap, cfg->n_gidmap, gid, true);
	return gid;
}

/* ------------------------------------------------------------------ */
/* emulated ownership (xattr_permissions=1|2) */

static const char *override_xattr(const struct sfs_fs *fs)
{
	return fs->cfg->xattr_permissions == 1 ? SFS_XATTR_OVERRIDE_SECURITY
						: SFS_XATTR_OVERRIDE_CONTAINERS;
}

/* Read the override of the file at path (a /proc path): ours first, then
 * the names other writers use.  -ENODATA if none. */
/* follow: path is a /proc/self/fd/N link to the file itself (an open
 * file's fd), which the l* calls would not go through. */
static int override_read(const struct sfs_fs *fs, const char *path, bool follow,
			 struct sfs_override *o)
{
	const char *names[] = { override_xattr(fs), SFS_XATTR_OVERRIDE_CONTAINERS,
				SFS_XATTR_OVERRIDE_USER, SFS_XATTR_OVERRIDE_SECURITY };
	char buf[128];

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		ssize_t n = follow ? getxattr(path, names[i], buf, sizeof(buf))
				   : lgetxattr(path, names[i], buf, sizeof(buf));

		if (n > 0)
			return sfs_override_parse(buf, n, o);
	}
	return -ENODATA;
}

int sfs_override_write(const struct sfs_fs *fs, const char *path,
		       const struct sfs_override *o)
{
	char buf[128];
	int n;

	n = sfs_override_format(o, buf, sizeof(buf));
	if (n < 0)
		return n;
	return sfs_set_marker_xattr(path, override_xattr(fs), buf, n);
}

/* The same through an open fd of the upper file (it may be unlinked). */
static int override_write_fd(const struct sfs_fs *fs, int fd, const struct sfs_override *o)
{
	char buf[128];
	int n;

	n = sfs_override_format(o, buf, sizeof(buf));
	if (n < 0)
		return n;
	return neg_errno(fsetxattr(fd, override_xattr(fs), buf, n, 0));
}

static void override_apply(const struct sfs_override *o, struct stat *st)
{
	st->st_uid = o->uid;
	st->st_gid = o->gid;
	if (o->has_type) {
		st->st_mode = o->mode;
		st->st_rdev = o->rdev;
	} else {
		st->st_mode = (st->st_mode & S_IFMT) | (o->mode & 07777);
	}
}

/* fd >= 0: read the override there, else at n's top entry. */
static void apply_node_override(struct sfs_fs *fs, struct sfs_node *n, int fd,
				 struct stat *st)
{
	char path[PATH_MAX + 64];
	_cleanup_close_ int dup_fd = -EBADF;
	struct sfs_override o;

	if (!fs->cfg->xattr_permissions || S_ISLNK(st->st_mode))
		return;
	if (fd >= 0)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	else if (sfs_node_proc_path(fs, n, path, sizeof(path), &dup_fd) < 0)
		return;
	if (override_read(fs, path, fd >= 0 || dup_fd >= 0, &o) == 0)
		override_apply(&o, st);
}

void sfs_stat_finish(struct sfs_fs *fs, struct sfs_node *n, int fd, struct stat *st)
{
	sfs_stat_fixup(fs, n, st);
	apply_node_override(fs, n, fd, st);
}

/* ------------------------------------------------------------------ */

/* Is n's metadata read from a layer on an idmapped mount? */
static bool from_idmapped(const struct sfs_fs *fs, const struct sfs_node *n)
{
	return !n->in_upper && !n->index_hit && n->n_lower > 0 &&
	       fs->layers[n->lower[0].layer].idmapped;
}

void sfs_stat_fixup(struct sfs_fs *fs, struct sfs_node *n, struct stat *st)
{
	st->st_ino = n->st_ino;
	if (S_ISDIR(st->st_mode) &&
	    (fs->cfg->static_nlink || n->n_lower + (n->in_upper ? 1 : 0) > 1))
		st->st_nlink = 1;
	if (n->lower_group && !S_ISDIR(st->st_mode)) {
		nlink_t nl;

		if (sfs_index_nlink_get(fs, n->st_ino, &nl) == 0)
			st->st_nlink = nl;
	}
	if (from_idmapped(fs, n) && !fs->cfg->squash_to_root &&
	    fs->cfg->squash_to_uid < 0 && fs->cfg->squash_to_gid < 0)
		return; /* the idmapped mount did the mapping already */
	st->st_uid = uid_to_inside(fs, st->st_uid);
	st->st_gid = gid_to_inside(fs, st->st_gid);
}

int sfs_node_stat(struct sfs_fs *fs, struct sfs_node *n, struct stat *st)
{
	int r;

	if (n->unlinked && n->in_upper) {
		/* gone from the namespace: what its open handles hold.  The
		 * readers of a node replaced at copy-up read the lower file,
		 * whose size is theirs; the rest is the copy's, where their
		 * changes go (passthrough.c). */
		_cleanup_close_ int fd = sfs_node_dup_upper_fd(fs, n);
		_cleanup_close_ int rfd = -EBADF;
		struct stat rst;

		if (fd < 0 || n->copy_fd >= 0)
			rfd = sfs_node_dup_file_fd(fs, n);
		if (fd < 0 && rfd < 0)
			return -ESTALE;
		r = neg_errno(fstat(fd >= 0 ? fd : rfd, st));
		if (r == 0 && fd >= 0 && rfd >= 0 && fstat(rfd, &rst) == 0) {
			st->st_size = rst.st_size;
			st->st_blocks = rst.st_blocks;
		}
		if (r == 0)
			sfs_stat_finish(fs, n, fd >= 0 ? fd : rfd, st);
		return r;
	}
	if (n->in_upper) {
		_cleanup_free_ char *path = NULL;

		r = sfs_node_upper_path(n, &path);
		if (r < 0)
			return r;
		r = neg_errno(sfs_fstatat(fs->upper->fd, path, st, AT_SYMLINK_NOFOLLOW));
		if (r == 0 && n->metacopy && n->n_lower > 0) {
			struct stat lst;

			/* Blocks are where the data is: in the lower file. */
			if (sfs_fstatat(fs->layers[n->lower[0].layer].fd, n->lower[0].path,
				    &lst, AT_SYMLINK_NOFOLLOW) == 0)
				st->st_blocks = lst.st_blocks;
		}
	} else if (n->index_hit) {
		char iname[64];

		sfs_index_name(n->st_ino, iname, sizeof(iname));
		r = neg_errno(sfs_fstatat(fs->indexfd, iname, st, AT_SYMLINK_NOFOLLOW));
	} else if (n->n_lower > 0) {
		r = neg_errno(sfs_fstatat(fs->layers[n->lower[0].layer].fd,
				      n->lower[0].path, st, AT_SYMLINK_NOFOLLOW));
	} else {
		r = -ENOENT;
	}
	if (r < 0)
		return r == -ENOENT ? -ESTALE : r;
	sfs_stat_finish(fs, n, -1, st);
	return 0;
}

int sfs_set_creator(struct sfs_fs *fs, fuse_req_t req, int dirfd,
		    const char *name, const struct stat *parent_st, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	uid_t uid;
	gid_t gid;

	/* user.* xattrs exist only on regular files and directories */
	if (fs->cfg->xattr_permissions && (S_ISREG(mode) || S_ISDIR(mode))) {
		struct sfs_override o = {
			.uid = ctx->uid, .gid = ctx->gid, .mode = mode & 07777,
		};
		char path[PATH_MAX + 64];

		if (!name[0]) /* dirfd is the file itself (O_TMPFILE) */
			return override_write_fd(fs, dirfd, &o);
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		return sfs_override_write(fs, path, &o);
	}
	if (!fs->can_chown)
		return 0;
	uid = sfs_uid_to_disk(fs, ctx->uid);
	/* BSD group semantics of a set-group-id directory */
	gid = parent_st && (parent_st->st_mode & S_ISGID) ? parent_st->st_gid
							   : sfs_gid_to_disk(fs, ctx->gid);
	/* what the kernel gave it already: the daemon's ids, or the group
	 * of a set-group-id parent */
	if (uid == geteuid() &&
	    gid == (parent_st && (parent_st->st_mode & S_ISGID) ? parent_st->st_gid : getegid()))
		return 0;
	return neg_errno(sfs_fchownat(dirfd, name, uid, gid,
				  AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)));
}

void sfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	struct stat st;
	int r;

	if (fi && fi->fh && !sfs_is_dir(n) && n->copy_fd < 0) {
		/* fstat: the open file, even if it was unlinked since (a
		 * replaced node's readers also see its copy: sfs_node_stat) */
		struct sfs_file *f = (struct sfs_file *)(uintptr_t)fi->fh;
		int fd = sfs_file_fd(fs, f);

		r = fd < 0 ? fd : neg_errno(fstat(fd, &st));
		if (r == 0) {
			pthread_rwlock_rdlock(&fs->tree_lock);
			sfs_stat_finish(fs, n, fd, &st);
			pthread_rwlock_unlock(&fs->tree_lock);
		}
	} else {
		pthread_rwlock_rdlock(&fs->tree_lock);
		r = sfs_node_stat(fs, n, &st);
		pthread_rwlock_unlock(&fs->tree_lock);
	}
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	fuse_reply_attr(req, &st, sfs_attr_timeout(fs, n, &st));
}

/* Internal flag for apply_times(): dirfd is the file itself. */
#define SFS_SET_ATTR_EMPTY_PATH (1 << 30)

static int apply_times(int dirfd, const char *path, const struct stat *attr,
		       int to_set)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT },
	};

	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		ts[0] = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		ts[1] = attr->st_mtim;
	if (ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT)
		return 0;
	if (to_set & SFS_SET_ATTR_EMPTY_PATH)
		return neg_errno(futimens(dirfd, ts));
	return neg_errno(sfs_utimensat(dirfd, path, ts, AT_SYMLINK_NOFOLLOW));
}

/*
 * A mount without xattr_permissions= changed the owner or mode of an upper
 * file for real (`strata run` as a user): an override_stat xattr copied up
 * from a lower layer would undo that for whoever reads it later (a commit,
 * a mount with xattr_permissions=), so it follows the change.  path: a /proc
 * path of the upper file, or NULL for the open upper file fd.
 */
static bool is_dir(int fd, const char *path)
{
	struct stat st;

	return (path ? lstat(path, &st) : fstat(fd, &st)) == 0 && S_ISDIR(st.st_mode);
}

static void override_follow(const struct sfs_fs *fs, struct sfs_node *n, int fd,
			    const char *path, const struct stat *attr, int to_set)
{
	static const char *const names[] = { SFS_XATTR_OVERRIDE_CONTAINERS,
					     SFS_XATTR_OVERRIDE_USER };
	struct sfs_override o;
	char buf[128];

	if (fs->cfg->xattr_permissions || sfs_xknown(n, SFS_XK_CREATED) ||
	    !(to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE)))
		return;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		ssize_t len_read = path ? lgetxattr(path, names[i], buf, sizeof(buf))
					: fgetxattr(fd, names[i], buf, sizeof(buf));
		int len;

		if (len_read <= 0 || sfs_override_parse(buf, (size_t)len_read, &o) < 0)
			continue;
		if (to_set & FUSE_SET_ATTR_UID)
			o.uid = sfs_uid_to_disk(fs, attr->st_uid);
		if (to_set & FUSE_SET_ATTR_GID)
			o.gid = sfs_gid_to_disk(fs, attr->st_gid);
		if (to_set & FUSE_SET_ATTR_MODE)
			o.mode = (o.has_type ? o.mode & S_IFMT : 0) | (attr->st_mode & 07777);
		else if (!is_dir(fd, path))
			o.mode &= ~(mode_t)(S_ISUID | S_ISGID); /* chown clears them */
		len = sfs_override_format(&o, buf, sizeof(buf));
		if (len > 0 && path)
			(void)sfs_set_marker_xattr(path, names[i], buf, (size_t)len);
		else if (len > 0)
			(void)fsetxattr(fd, names[i], buf, (size_t)len, 0);
	}
}

/*
 * chown(2) to -1:-1 changes nothing but the ctime, and then the kernel
 * asks for no attribute at all.  Kernel overlayfs passes such a change on
 * to the upper file, whose file system updates its ctime: so does the
 * daemon.
 */
#define SETATTR_ANY (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | \
		     FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |  \
		     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)

/* setattr through an fd on the upper file: an open handle's, or one of
 * the node's handles when the node was unlinked meanwhile. */
static int setattr_fd(struct sfs_fs *fs, struct sfs_node *n, int fd,
		      const struct stat *attr, int to_set, struct stat *ret_st)
{
	int r;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		r = neg_errno(ftruncate(fd, attr->st_size));
		if (r < 0)
			return r;
	}
	if (fs->cfg->xattr_permissions &&
	    (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE))) {
		/* emulated owners: recorded in the xattr, as by path */
		struct sfs_override o;
		struct stat st;

		r = neg_errno(fstat(fd, &st));
		if (r < 0)
			return r;
		pthread_rwlock_rdlock(&fs->tree_lock);
		sfs_stat_finish(fs, n, fd, &st);
		pthread_rwlock_unlock(&fs->tree_lock);
		o = (struct sfs_override){ .uid = st.st_uid, .gid = st.st_gid,
					   .mode = st.st_mode & 07777 };
		if (to_set & FUSE_SET_ATTR_UID)
			o.uid = attr->st_uid;
		if (to_set & FUSE_SET_ATTR_GID)
			o.gid = attr->st_gid;
		if (to_set & FUSE_SET_ATTR_MODE)
			o.mode = attr->st_mode & 07777;
		else if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
			o.mode &= ~(S_ISUID | S_ISGID); /* chown clears the set-id bits */
		r = override_write_fd(fs, fd, &o);
		if (r < 0)
			return r;
		/* the mode on disk follows, as by path */
		if ((to_set & FUSE_SET_ATTR_MODE) &&
		    fchmod(fd, o.mode | (S_ISDIR(st.st_mode) ? S_IRWXU : S_IRUSR | S_IWUSR)) < 0)
			return -errno;
		to_set &= ~(FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE);
	}
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) || !(to_set & SETATTR_ANY)) {
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? sfs_uid_to_disk(fs, attr->st_uid) : (uid_t)-1;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? sfs_gid_to_disk(fs, attr->st_gid) : (gid_t)-1;

		r = neg_errno(fchown(fd, uid, gid));
		if (r < 0)
			return r;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		r = neg_errno(fchmod(fd, attr->st_mode & 07777));
		if (r < 0)
			return r;
	}
	if (!fs->cfg->xattr_permissions && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
						      FUSE_SET_ATTR_MODE)))
		override_follow(fs, n, fd, NULL, attr, to_set);
	r = apply_times(fd, "", attr, to_set | SFS_SET_ATTR_EMPTY_PATH);
	if (r < 0)
		return r;
	r = neg_errno(fstat(fd, ret_st));
	if (r == 0) {
		pthread_rwlock_rdlock(&fs->tree_lock);
		sfs_stat_finish(fs, n, fd, ret_st);
		pthread_rwlock_unlock(&fs->tree_lock);
	}
	return r;
}

static int setattr_path(struct sfs_fs *fs, struct sfs_node *n, const char *path,
			const struct stat *attr, int to_set)
{
	int dfd = fs->upper->fd, r;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		_cleanup_close_ int fd = sfs_openat(dfd, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return -errno;
		r = neg_errno(ftruncate(fd, attr->st_size));
		if (r < 0)
			return r;
	}
	if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) || !(to_set & SETATTR_ANY)) {
		uid_t uid = to_set & FUSE_SET_ATTR_UID ? sfs_uid_to_disk(fs, attr->st_uid) : (uid_t)-1;
		gid_t gid = to_set & FUSE_SET_ATTR_GID ? sfs_gid_to_disk(fs, attr->st_gid) : (gid_t)-1;

		SFS_TRACE("chown %s %d:%d", path, (int)uid, (int)gid);
		r = neg_errno(sfs_fchownat(dfd, path, uid, gid, AT_SYMLINK_NOFOLLOW));
		if (r < 0)
			return r;
	}
	if (to_set & FUSE_SET_ATTR_MODE) {
		SFS_TRACE("chmod %s %o", path, attr->st_mode & 07777);
		r = neg_errno(sfs_fchmodat(dfd, path, attr->st_mode & 07777, 0));
		if (r < 0)
			return r;
	}
	if (!fs->cfg->xattr_permissions && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
						      FUSE_SET_ATTR_MODE))) {
		char ppath[PATH_MAX + 64];

		if (sfs_proc_path(fs, 0, path, ppath, sizeof(ppath)) == 0)
			override_follow(fs, n, -1, ppath, attr, to_set);
	}
	return apply_times(dfd, path, attr, to_set);
}

/* chown/chmod recorded in the override xattr instead of the file. */
static int setattr_override(struct sfs_fs *fs, struct sfs_node *n, const char *path,
			    const struct stat *attr, int to_set)
{
	char ppath[PATH_MAX + 64];
	struct sfs_override o;
	struct stat st;
	int r;

	r = sfs_proc_path(fs, 0, path, ppath, sizeof(ppath));
	if (r < 0)
		return r;
	r = sfs_node_stat(fs, n, &st); /* with any override already applied */
	if (r < 0)
		return r;
	o = (struct sfs_override){ .uid = st.st_uid, .gid = st.st_gid,
				   .mode = st.st_mode, .rdev = st.st_rdev };
	o.has_type = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
	if (!o.has_type)
		o.mode &= 07777;
	if (to_set & FUSE_SET_ATTR_UID)
		o.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		o.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_MODE)
		o.mode = (o.mode & S_IFMT) | (attr->st_mode & 07777);
	else if ((to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && !S_ISDIR(st.st_mode))
		o.mode &= ~(S_ISUID | S_ISGID); /* chown clears the set-id bits */
	r = sfs_override_write(fs, ppath, &o);
	if (r < 0 || !(to_set & FUSE_SET_ATTR_MODE) || S_ISLNK(st.st_mode))
		return r;
	/* The mode on disk follows too (tools that read the upper layer, such
	 * as containers/storage's diff, see it), keeping the daemon's own
	 * access to its file. */
	return neg_errno(sfs_fchmodat(fs->upper->fd, path, (attr->st_mode & 07777) |
				  (S_ISDIR(st.st_mode) ? S_IRWXU : S_IRUSR | S_IWUSR), 0));
}

static int do_setattr(struct sfs_fs *fs, struct sfs_node *n, struct stat *attr,
		      int to_set, struct fuse_file_info *fi, struct stat *ret_st)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (!fs->upper)
		return -EROFS;
	if (fi && fi->fh && ((struct sfs_file *)(uintptr_t)fi->fh)->upper)
		fd = fcntl(((struct sfs_file *)(uintptr_t)fi->fh)->fd, F_DUPFD_CLOEXEC, 3);
	else if (n->unlinked)
		fd = sfs_node_dup_upper_fd(fs, n);
	if (fd >= 0) {
		r = setattr_fd(fs, n, fd, attr, to_set, ret_st);
		if (r == 0 && n->copy_fd >= 0) {
			/* a reader's view of its replaced node */
			sfs_passthrough_copy_changed(fs, n);
			r = sfs_node_stat(fs, n, ret_st);
		}
		return r;
	}
	if (n->unlinked)
		return -ESTALE;

	r = sfs_copyup(fs, n, /* meta_only= */ !(to_set & FUSE_SET_ATTR_SIZE));
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_node_upper_path(n, &path);
	if (r == 0 && fs->cfg->xattr_permissions &&
	    (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE))) {
		r = setattr_override(fs, n, path, attr, to_set);
		to_set &= ~(FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE);
	}
	if (r == 0)
		r = setattr_path(fs, n, path, attr, to_set);
	if (r == 0)
		r = sfs_node_stat(fs, n, ret_st);
	pthread_rwlock_unlock(&fs->tree_lock);
	return r;
}

void sfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		    int to_set, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	struct stat st;
	int r;

	r = do_setattr(fs, n, attr, to_set, fi, &st);
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		sfs_handle_changed(fs, n);
	fuse_reply_attr(req, &st, sfs_attr_timeout(fs, n, &st));
}

void sfs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	char path[64];
	struct statvfs sv;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fs->layers[0].fd);
	if (statvfs(path, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fuse_reply_statfs(req, &sv);
}

void sfs_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	struct stat st;
	int r;

	/* Permission checks are the kernel's (default_permissions); what is
	 * left is existence and the read-only mount. */
	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_node_stat(fs, n, &st);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r == 0 && (mask & W_OK) && !fs->upper)
		r = -EROFS;
	sfs_reply_err(req, r);
}

void sfs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	_cleanup_free_ char *upath = NULL;
	char buf[PATH_MAX + 1];
	ssize_t len = -ENOENT;

	pthread_rwlock_rdlock(&fs->tree_lock);
	if (n->in_upper) {
		if (sfs_node_upper_path(n, &upath) == 0)
			len = neg_errno_ssize(sfs_readlinkat(fs->upper->fd, upath, buf, sizeof(buf) - 1));
		else
			len = -ENOMEM;
	} else if (n->n_lower > 0) {
		len = neg_errno_ssize(sfs_readlinkat(fs->layers[n->lower[0].layer].fd,
						 n->lower[0].path, buf, sizeof(buf) - 1));
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (len < 0) {
		sfs_reply_err(req, (int)len);
		return;
	}
	buf[len] = '\0';
	fuse_reply_readlink(req, buf);
}
