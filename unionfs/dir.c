/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dir.c - namespace operations in the upper layer: create, mkdir, mknod,
 * symlink, link, unlink, rmdir, rename.
 *
 * Every operation copies the parent directories up first, then takes the
 * tree lock for writing, re-reads the state of the names involved from
 * disk and changes the upper layer with single atomic steps where the
 * kernel offers them:
 *   - creating over a char-device whiteout builds the new entry in
 *     workdir/work and renames it over the whiteout (a directory is
 *     exchanged with it, RENAME_EXCHANGE, then the whiteout is removed);
 *     a directory created where a lower entry was deleted is opaque;
 *   - removing an entry that exists in a lower layer leaves a whiteout;
 *     when the entry is also in the upper layer, a whiteout made in
 *     workdir/work is exchanged with it, and the old entry (a directory
 *     holding only markers) is removed from workdir/work;
 *   - renaming an entry that exists in a lower layer leaves a whiteout at
 *     the old name (RENAME_WHITEOUT); a directory with lower content gets
 *     a redirect xattr to its lower path (overlayfs's redirect_dir), so
 *     renaming a lower directory never copies its tree and never fails
 *     with EXDEV; a directory without lower content that moves to where a
 *     lower entry may be gets the opaque xattr.
 * Without CAP_MKNOD whiteouts are ".wh.NAME" files (whiteout.c).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stratafs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
#ifndef RENAME_WHITEOUT
#define RENAME_WHITEOUT (1 << 2)
#endif

/* What creating one name involves; filled by prepare_create(). */
struct create_ctx {
	struct sfs_fs *fs;
	fuse_req_t req;
	struct sfs_node *parent;
	const char *name;
	char *ppath;          /* parent's upper path */
	char *path;           /* the new entry's upper path */
	bool over_whiteout;   /* a char-device whiteout sits at path */
	bool whname;          /* a ".wh.NAME" file sits beside it */
	struct stat parent_st;
};

static void create_ctx_done(struct create_ctx *c)
{
	free(c->ppath);
	free(c->path);
}

static int whname_path(const char *ppath, const char *name, char **ret)
{
	char whn[NAME_MAX + SFS_WH_PREFIX_LEN + 1];
	int r;

	r = sfs_whiteout_name(name, whn, sizeof(whn));
	if (r < 0)
		return r;
	return sfs_path_join(ppath, whn, ret);
}

/* The parent's upper directory.  tree_lock held (write); parent already
 * copied up. */
static int prepare_parent(struct create_ctx *c)
{
	int r;

	if (c->parent->unlinked)
		return -ENOENT;
	if (!c->parent->in_upper)
		return -EIO;
	r = sfs_node_upper_path(c->parent, &c->ppath);
	if (r < 0)
		return r;
	return neg_errno(sfs_fstatat(c->fs->upper->fd, c->ppath, &c->parent_st,
				     AT_SYMLINK_NOFOLLOW));
}

/* tree_lock held (write); parent already copied up. */
static int prepare_create(struct create_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	_cleanup_free_ char *whp = NULL;
	struct stat st;
	int r;

	r = prepare_parent(c);
	if (r < 0)
		return r;
	r = sfs_path_join(c->ppath, c->name, &c->path);
	if (r < 0)
		return r;
	if (sfs_fstatat(fs->upper->fd, c->path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!sfs_is_whiteout_stat(&st))
			return -EEXIST;
		c->over_whiteout = true;
	}
	if (!sfs_whfiles_possible(c->parent, 0))
		return 0;
	r = whname_path(c->ppath, c->name, &whp);
	if (r < 0)
		return r;
	c->whname = sfs_fstatat(fs->upper->fd, whp, &st, AT_SYMLINK_NOFOLLOW) == 0;
	return 0;
}

/* Remove the ".wh.NAME" beside a name that now exists. */
static void drop_whname(struct create_ctx *c)
{
	_cleanup_free_ char *whp = NULL;

	if (!c->whname || whname_path(c->ppath, c->name, &whp) < 0)
		return;
	SFS_TRACE("unlink %s", whp);
	if (sfs_unlinkat(c->fs->upper->fd, whp, 0) < 0)
		sfs_log(SFS_LOG_WARNING, "cannot remove whiteout %s: %m", whp);
}

/* Mark the directory at dirfd/name opaque. */
static int make_opaque(struct sfs_fs *fs, int dirfd, const char *name)
{
	char ppath[64 + PATH_MAX];
	int fd, r;

	snprintf(ppath, sizeof(ppath), "/proc/self/fd/%d/%s", dirfd, name);
	r = sfs_set_marker_xattr(ppath, sfs_ovl_xattr(fs, SFS_XATTR_OPAQUE), "y", 1);
	if (r != -ENOTSUP && r != -EPERM)
		return r;
	/* No xattrs on the upper filesystem: the OCI marker file. */
	snprintf(ppath, sizeof(ppath), "%s/%s", name, SFS_WH_OPAQUE);
	fd = sfs_openat(dirfd, ppath, O_CREAT | O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* How to make the new entry: one of these. */
struct new_entry {
	mode_t mode;        /* with type bits */
	dev_t rdev;
	void *acl_access;   /* inherited ACLs (malloc'd), for an entry made */
	size_t acl_access_len; /* in the work dir, away from its parent */
	void *acl_default;
	size_t acl_default_len;
	const char *target; /* symlink */
	const char *link;   /* hard link: upper path of the existing file, */
	bool link_follow;   /* or the /proc link of an fd of it */
	struct sfs_node *link_node; /* ... and its node, which the reply names */
	int open_flags;     /* create: -1 for none */
	int ret_fd;
	bool emulated_dev;  /* a device recorded in the override xattr */
};

/* The POSIX ACL xattr format the kernel exchanges (posix_acl_xattr.h). */
struct acl_xattr_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};
#define ACL_XATTR_HEADER 4
enum { ACL_TAG_USER_OBJ = 0x01, ACL_TAG_USER = 0x02, ACL_TAG_GROUP_OBJ = 0x04,
       ACL_TAG_GROUP = 0x08, ACL_TAG_MASK = 0x10, ACL_TAG_OTHER = 0x20 };

/*
 * The access ACL and mode a new entry gets from its parent's default ACL
 * (the kernel's posix_acl_create): every permission is limited by the
 * requested mode, the group class through the mask entry when there is
 * one.  acl is rewritten in place; returns the new mode bits and whether
 * the ACL says more than they do.
 */
static mode_t acl_create_masq(void *acl, size_t len, mode_t mode, bool *extended)
{
	struct acl_xattr_entry *e = (struct acl_xattr_entry *)((char *)acl + ACL_XATTR_HEADER);
	size_t n = (len - ACL_XATTR_HEADER) / sizeof(*e);
	struct acl_xattr_entry *group_obj = NULL, *mask = NULL, *group_class;

	*extended = false;
	for (size_t i = 0; i < n; i++) {
		switch (e[i].tag) {
		case ACL_TAG_USER_OBJ:
			e[i].perm &= (mode >> 6) & 7;
			mode &= (e[i].perm << 6) | ~S_IRWXU;
			break;
		case ACL_TAG_OTHER:
			e[i].perm &= mode & 7;
			mode &= e[i].perm | ~S_IRWXO;
			break;
		case ACL_TAG_GROUP_OBJ:
			group_obj = &e[i];
			break;
		case ACL_TAG_MASK:
			mask = &e[i];
			*extended = true;
			break;
		default:
			*extended = true;
			break;
		}
	}
	group_class = mask ? mask : group_obj;
	if (group_class) {
		group_class->perm &= (mode >> 3) & 7;
		mode &= (group_class->perm << 3) | ~S_IRWXG;
	}
	return mode;
}

/*
 * The mode of a new entry, since the kernel leaves the umask to us
 * (dont_mask): under a parent with a default ACL, that ACL instead of the
 * umask.  An entry made in the work dir (to replace a whiteout) cannot
 * inherit by itself: ne keeps the ACLs to set on it.  tree_lock held.
 */
static int inherit_mode(struct create_ctx *c, struct new_entry *ne)
{
	struct sfs_fs *fs = c->fs;
	mode_t umask_ = fuse_req_ctx(c->req)->umask;
	char ppath[PATH_MAX + 64];
	_cleanup_free_ void *acl = NULL;
	ssize_t len;
	bool extended;
	mode_t mode;

	if (!fs->dont_mask || S_ISLNK(ne->mode) || ne->link)
		return 0;
	if (sfs_proc_path(fs, 0, c->ppath, ppath, sizeof(ppath)) < 0)
		return -ENAMETOOLONG;
	if (sfs_xknown(c->parent, SFS_XK_NO_ACL_DEFAULT)) {
		ne->mode &= ~(umask_ & 0777);
		return 0;
	}
	len = lgetxattr(ppath, "system.posix_acl_default", NULL, 0);
	if (len < 0 && (errno == ENODATA || errno == ENOTSUP))
		sfs_xknown_set(c->parent, SFS_XK_NO_ACL_DEFAULT);
	if (len > 0) {
		acl = malloc(len);
		if (!acl)
			return -ENOMEM;
		len = lgetxattr(ppath, "system.posix_acl_default", acl, len);
	}
	if (len <= ACL_XATTR_HEADER) {
		if (len < 0 && errno != ENODATA && errno != ENOTSUP && errno != ERANGE)
			return -errno;
		ne->mode &= ~(umask_ & 0777);
		return 0;
	}
	if (c->over_whiteout || (S_ISDIR(ne->mode) && c->whname)) {
		if (S_ISDIR(ne->mode)) {
			ne->acl_default = malloc(len);
			if (!ne->acl_default)
				return -ENOMEM;
			memcpy(ne->acl_default, acl, len);
			ne->acl_default_len = len;
		}
		mode = acl_create_masq(acl, len, ne->mode & 0777, &extended);
		if (extended) {
			ne->acl_access = steal_pointer(&acl);
			ne->acl_access_len = len;
		}
	} else {
		mode = acl_create_masq(acl, len, ne->mode & 0777, &extended);
	}
	ne->mode = (ne->mode & ~0777) | mode;
	return 0;
}

/* Give an entry made in the work dir the ACLs its parent would have. */
static int set_inherited_acls(int dirfd, const char *name, const struct new_entry *ne)
{
	char path[PATH_MAX + 64];

	if (!ne->acl_access && !ne->acl_default)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	if (ne->acl_access &&
	    lsetxattr(path, "system.posix_acl_access", ne->acl_access, ne->acl_access_len, 0) < 0)
		return -errno;
	if (ne->acl_default &&
	    lsetxattr(path, "system.posix_acl_default", ne->acl_default, ne->acl_default_len, 0) < 0)
		return -errno;
	return 0;
}

/* mknod; a device the daemon may not create becomes an empty file that
 * says it is one (xattr_permissions=), as in a rootless container. */
static int make_node(struct sfs_fs *fs, int dirfd, const char *name, struct new_entry *ne)
{
	int fd, r;

	r = neg_errno(sfs_mknodat(dirfd, name, ne->mode, ne->rdev));
	if (r != -EPERM || !fs->cfg->xattr_permissions ||
	    !(S_ISCHR(ne->mode) || S_ISBLK(ne->mode)))
		return r;
	fd = sfs_openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	ne->emulated_dev = true;
	return 0;
}

static int make_at(struct create_ctx *c, int dirfd, const char *name,
		   struct new_entry *ne)
{
	struct sfs_fs *fs = c->fs;
	mode_t type = ne->mode & S_IFMT;
	int r;

	if (ne->link)
		return neg_errno(sfs_linkat(fs->upper->fd, ne->link, dirfd, name,
					    ne->link_follow ? AT_SYMLINK_FOLLOW : 0));
	if (type == S_IFDIR)
		r = neg_errno(sfs_mkdirat(dirfd, name, ne->mode & 07777));
	else if (type == S_IFLNK)
		r = neg_errno(sfs_symlinkat(ne->target, dirfd, name));
	else if (ne->open_flags >= 0) {
		r = ne->ret_fd = sfs_openat(dirfd, name,
					(ne->open_flags | O_CREAT | O_EXCL | O_CLOEXEC) & ~O_NOFOLLOW,
					ne->mode & 07777);
		r = r < 0 ? -errno : 0;
	} else
		r = make_node(fs, dirfd, name, ne);
	if (r < 0)
		return r;
	r = set_inherited_acls(dirfd, name, ne);
	if (r == 0)
		r = sfs_set_creator(fs, c->req, dirfd, name, &c->parent_st, ne->mode);
	if (r == 0 && ne->emulated_dev) {
		const struct fuse_ctx *ctx = fuse_req_ctx(c->req);
		struct sfs_override o = { .uid = ctx->uid, .gid = ctx->gid,
					  .mode = ne->mode, .rdev = ne->rdev,
					  .has_type = true };
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		r = sfs_override_write(fs, path, &o);
	}
	if (r < 0)
		goto undo;
	if (type == S_IFDIR && (c->over_whiteout || c->whname)) {
		r = make_opaque(fs, dirfd, name);
		if (r < 0)
			goto undo;
	}
	return 0;
undo:
	if (ne->ret_fd >= 0) {
		close(ne->ret_fd);
		ne->ret_fd = -1;
	}
	sfs_rm_rf_at(dirfd, name);
	return r;
}

/* Create the entry at c->path, atomically replacing a whiteout. */
static int create_in_upper(struct create_ctx *c, struct new_entry *ne)
{
	struct sfs_fs *fs = c->fs;
	char tmp[64];
	int r;

	if (!c->over_whiteout && !((ne->mode & S_IFMT) == S_IFDIR && c->whname)) {
		SFS_TRACE("create %s", c->path);
		r = make_at(c, fs->upper->fd, c->path, ne);
		if (r == 0)
			drop_whname(c);
		return r;
	}
	sfs_work_tmpname(fs, tmp, sizeof(tmp));
	r = make_at(c, fs->workfd, tmp, ne);
	if (r < 0)
		return r;
	SFS_TRACE("create %s over whiteout", c->path);
	if (c->over_whiteout && S_ISDIR(ne->mode)) {
		r = neg_errno(sfs_renameat2(fs->workfd, tmp, fs->upper->fd, c->path,
					RENAME_EXCHANGE));
		if (r == 0)
			sfs_unlinkat(fs->workfd, tmp, 0); /* the old whiteout */
	} else {
		r = neg_errno(sfs_renameat(fs->workfd, tmp, fs->upper->fd, c->path));
	}
	if (r < 0) {
		if (ne->ret_fd >= 0) {
			close(ne->ret_fd);
			ne->ret_fd = -1;
		}
		sfs_rm_rf_at(fs->workfd, tmp);
		return r;
	}
	drop_whname(c);
	return 0;
}

/* Remember that upath is another name of n's upper file (tree_lock held,
 * write).  Without memory, n just loses track of it. */
static void add_alias(struct sfs_fs *fs, struct sfs_node *n, const char *upath)
{
	struct sfs_alias *a;
	struct stat st;

	if (sfs_fstatat(fs->upper->fd, upath, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	a = malloc(sizeof(*a) + strlen(upath) + 1);
	if (!a)
		return;
	a->upper_ino = st.st_ino;
	strcpy(a->path, upath);
	a->next = n->aliases;
	n->aliases = a;
}

/* A hard link is one more name of the same inode: the reply names the
 * source's node, as the kernel expects, and the node remembers the name
 * (take_other_name).  tree_lock held (write). */
static int link_entry(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		      const char *upath, struct sfs_node *n, struct fuse_entry_param *e)
{
	struct stat st;
	int r;

	if (!n->tmpfile)
		add_alias(fs, n, upath);

	pthread_mutex_lock(&fs->itable_lock);
	{
		struct sfs_node *stale = sfs_itable_find(fs, parent, name);

		if (stale) {
			sfs_itable_remove(fs, stale);
			stale->unlinked = true;
		}
	}
	if (n->tmpfile) {
		/* an O_TMPFILE file's first name: from now on it is an
		 * upper file like any other */
		struct sfs_node *old_parent = n->parent;
		char *nm = strdup(name);

		if (nm) {
			free(n->name);
			n->name = nm;
			n->unlinked = n->tmpfile = false;
			sfs_itable_insert(fs, n, parent, nm);
			sfs_node_unref_locked(fs, old_parent);
		}
	}
	pthread_mutex_unlock(&fs->itable_lock);
	if (n->lower_group) {
		nlink_t nl;

		/* a group's recorded count goes up; without one, the upper
		 * file's own link count is right already */
		if (sfs_index_nlink_get(fs, n->st_ino, &nl) == 0) {
			r = sfs_index_nlink_set(fs, n->st_ino, nl + 1);
			if (r < 0)
				return r;
		}
	}
	r = sfs_node_stat(fs, n, &st);
	if (r < 0)
		return r;
	memset(e, 0, sizeof(*e));
	e->ino = sfs_node_ino(fs, n);
	e->generation = n->generation;
	e->attr = st;
	e->attr_timeout = sfs_attr_timeout(fs, n, &e->attr);
	e->entry_timeout = fs->timeout;
	pthread_mutex_lock(&fs->itable_lock);
	if (n->nlookup++ == 0)
		n->refs++;
	pthread_mutex_unlock(&fs->itable_lock);
	return 0;
}

static int do_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     struct new_entry *ne, struct fuse_entry_param *e)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct create_ctx c = { .fs = fs, .req = req, .name = name,
				.parent = sfs_node_from_ino(fs, parent) };
	int r;

	ne->ret_fd = -1;
	if (!fs->upper)
		return -EROFS;
	if (sfs_name_reserved(name))
		return -EINVAL;
	r = sfs_copyup(fs, c.parent, /* meta_only= */ true);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&fs->tree_lock);
	r = prepare_create(&c);
	if (r < 0)
		goto out;
	r = inherit_mode(&c, ne);
	if (r < 0)
		goto out;
	r = create_in_upper(&c, ne);
	if (r < 0)
		goto out;
	c.parent->dir_version++;
	if (ne->link_node)
		r = link_entry(fs, c.parent, name, c.path, ne->link_node, e);
	else
		r = sfs_entry_for_new(fs, c.parent, name, c.path,
				      S_ISDIR(ne->mode) && (c.over_whiteout || c.whname), e);
	if (r == 0 && !ne->link_node)
		sfs_xknown_set(sfs_node_from_ino(fs, e->ino), SFS_XK_CREATED);
out:
	pthread_rwlock_unlock(&fs->tree_lock);
	create_ctx_done(&c);
	free(ne->acl_access);
	free(ne->acl_default);
	return r;
}

static void reply_entry_or_err(fuse_req_t req, int r, struct fuse_entry_param *e)
{
	if (r < 0)
		sfs_reply_err(req, r);
	else
		fuse_reply_entry(req, e);
}

void sfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct new_entry ne = { .mode = S_IFDIR | (mode & 07777), .open_flags = -1 };
	struct fuse_entry_param e;

	reply_entry_or_err(req, do_create(req, parent, name, &ne, &e), &e);
}

void sfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, dev_t rdev)
{
	struct new_entry ne = { .mode = mode, .rdev = rdev, .open_flags = -1 };
	struct fuse_entry_param e;

	/* A char device 0/0 would read back as a whiteout. */
	if (S_ISCHR(mode) && rdev == 0) {
		fuse_reply_err(req, EPERM);
		return;
	}
	reply_entry_or_err(req, do_create(req, parent, name, &ne, &e), &e);
}

void sfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		    const char *name)
{
	struct new_entry ne = { .mode = S_IFLNK | 0777, .target = link, .open_flags = -1 };
	struct fuse_entry_param e;

	reply_entry_or_err(req, do_create(req, parent, name, &ne, &e), &e);
}

/*
 * O_TMPFILE (FUSE_TMPFILE, Linux 6.1): an unnamed file, made by the upper
 * file system's own O_TMPFILE in the parent's upper directory, which gives
 * it the directory's default ACL and set-group-id group as to any new
 * file.  Its node has no name and stands outside the namespace, as a file
 * removed while open: its attributes and xattrs come from its open handle,
 * until linkat(2) gives it a name (sfs_op_link).
 *
 * libfuse 3.14 does not know the request.  Its arguments and its answer
 * are those of CREATE, so the session loop lets libfuse serve it as one,
 * marked for sfs_op_create.  Not with libfuse's own loops (clone_fd=1):
 * there the kernel gets ENOSYS and answers O_TMPFILE with EOPNOTSUPP.
 */
#define SFS_FUSE_CREATE 35
#define SFS_FUSE_TMPFILE 51

static _Thread_local bool serving_tmpfile;

void sfs_tmpfile_peek(struct fuse_buf *buf)
{
	struct sfs_fuse_in_header *h = buf->mem;

	if ((buf->flags & FUSE_BUF_IS_FD) || buf->size < sizeof(*h) ||
	    h->opcode != SFS_FUSE_TMPFILE)
		return;
	h->opcode = SFS_FUSE_CREATE;
	serving_tmpfile = true;
}

void sfs_tmpfile_done(void)
{
	serving_tmpfile = false;
}

static int make_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, int flags,
			struct fuse_entry_param *e)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct create_ctx c = { .fs = fs, .req = req, .name = "",
				.parent = sfs_node_from_ino(fs, parent) };
	struct new_entry ne = { .mode = S_IFREG | (mode & 07777), .open_flags = -1 };
	int fd = -1, r;

	if (!fs->upper)
		return -EROFS;
	/* zero-message opens: no RELEASE would ever close its only fd */
	if (fs->cfg->zero_open)
		return -EOPNOTSUPP;
	r = sfs_copyup(fs, c.parent, /* meta_only= */ true);
	if (r < 0)
		return r;
	flags = (sfs_open_flags(fs, flags) &
		 ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_TMPFILE | O_DIRECT)) |
		O_TMPFILE | O_CLOEXEC;
	pthread_rwlock_wrlock(&fs->tree_lock);
	r = prepare_parent(&c);
	if (r == 0)
		r = inherit_mode(&c, &ne);
	if (r == 0) {
		fd = sfs_openat(fs->upper->fd, c.ppath, flags, ne.mode & 07777);
		r = fd < 0 ? -errno : 0;
	}
	if (r == 0)
		r = sfs_set_creator(fs, req, fd, "", &c.parent_st, ne.mode);
	if (r == 0)
		r = sfs_entry_for_tmpfile(fs, c.parent, fd, e);
	if (r == 0)
		sfs_xknown_set(sfs_node_from_ino(fs, e->ino), SFS_XK_CREATED);
	pthread_rwlock_unlock(&fs->tree_lock);
	create_ctx_done(&c);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r == -EISDIR ? -EOPNOTSUPP : r; /* no O_TMPFILE below */
	}
	return fd;
}

void sfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct new_entry ne = { .mode = S_IFREG | (mode & 07777),
				.open_flags = sfs_open_flags(fs, fi->flags) & ~(O_CREAT | O_EXCL) };
	struct fuse_entry_param e;
	struct sfs_file *f;
	int r;

	f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (serving_tmpfile) {
		r = make_tmpfile(req, parent, mode, fi->flags, &e);
	} else {
		if (ne.open_flags & O_DIRECT) {
			/* O_DIRECT on a fresh file: open it once created */
			ne.open_flags &= ~O_DIRECT;
		} else if (fs->cfg->zero_open) {
			/* the fd becomes the node's handle for reads and
			 * writes, and the kernel gives the offsets, also of
			 * appending writes */
			ne.open_flags = (ne.open_flags & ~(O_ACCMODE | O_APPEND | O_TRUNC)) | O_RDWR;
		}
		r = do_create(req, parent, name, &ne, &e);
		if (r == 0)
			r = ne.ret_fd;
	}
	if (r < 0) {
		free(f);
		sfs_reply_err(req, r);
		return;
	}
	f->fd = r;
	f->upper = true;
	f->flags = fi->flags;
	if (fs->cfg->zero_open && !(fi->flags & O_DIRECT)) {
		/* no RELEASE will come: the node keeps the fd (handle.c);
		 * an unnamed file is refused in this mode (make_tmpfile) */
		free(f);
		sfs_handle_adopt(fs, sfs_node_from_ino(fs, e.ino), r);
		fi->fh = 0;
		fi->keep_cache = 1;
		fi->noflush = 1;
		if (fuse_reply_create(req, &e, fi) == -ENOENT) {
			/* interrupted: the kernel forgets the entry itself */
		}
		return;
	}
	sfs_file_attach(fs, sfs_node_from_ino(fs, e.ino), f);
	if (fi->flags & O_DIRECT) {
		fi->direct_io = 1;
		fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) | O_DIRECT);
	}
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 0;
	fi->noflush = 1;
	sfs_passthrough_open(fs, sfs_node_from_ino(fs, e.ino), f);
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		sfs_file_release(fs, f); /* interrupted: nobody will release it */
}

void sfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		 const char *newname)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	_cleanup_free_ char *src = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct new_entry ne = { .open_flags = -1 };
	struct fuse_entry_param e;
	int r;

	if (!fs->upper) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = sfs_copyup(fs, n, /* meta_only= */ false);
	if (r == 0) {
		pthread_rwlock_rdlock(&fs->tree_lock);
		if (n->tmpfile) {
			/* no name yet: link the file its handle holds */
			fd = sfs_node_dup_upper_fd(fs, n);
			r = fd < 0 ? -ENOENT : asprintf(&src, "/proc/self/fd/%d", fd) < 0 ? -ENOMEM : 0;
			ne.link_follow = true;
		} else {
			r = sfs_node_upper_path(n, &src);
		}
		pthread_rwlock_unlock(&fs->tree_lock);
	}
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	/* TODO: a rename of the source between here and the link makes
	 * the link fail with ENOENT; the caller may retry. */
	ne.link = src;
	ne.link_node = n;
	/* its names may become several nodes: none knows the xattrs alone */
	sfs_xknown_clear(n, SFS_XK_CREATED);
	ne.mode = n->type;
	r = do_create(req, newparent, newname, &ne, &e);
	if (r == 0 && n->lower_group) {
		fuse_ino_t *inos;
		size_t k = sfs_group_members(fs, n->st_ino, n, &inos, NULL, NULL);

		sfs_invalidate_inos(fs, inos, k);
	}
	reply_entry_or_err(req, r, &e);
}

/* ---------------------------------------------------------------- */
/* removal */

/* The inode of the shared whiteout (below): listings know its links by
 * their d_ino, without a stat. */
void sfs_shared_whiteout_update(struct sfs_fs *fs)
{
	struct stat st;

	if (sfs_fstatat(fs->workfd, SFS_SHARED_WHITEOUT, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sfs_is_whiteout_stat(&st))
		atomic_store(&fs->shared_whiteout_ino, st.st_ino);
	else
		atomic_store(&fs->shared_whiteout_ino, 0);
}

/*
 * A char-device whiteout at dirfd/name.  Whiteouts are hard links to one
 * shared whiteout inode in workdir/work (as kernel overlayfs does): a link
 * is far cheaper than a new inode, which matters to rm -rf of a lower tree.
 */
static int make_chardev_whiteout(struct sfs_fs *fs, int dirfd, const char *name)
{
	int r;

	r = neg_errno(sfs_linkat(fs->workfd, SFS_SHARED_WHITEOUT, dirfd, name, 0));
	if (r == -EMLINK || r == -ENOENT) {
		/* the shared inode is full (or gone): start a new one */
		char tmp[64];

		sfs_work_tmpname(fs, tmp, sizeof(tmp));
		if (sfs_mknodat(fs->workfd, tmp, S_IFCHR, makedev(0, 0)) == 0 &&
		    sfs_renameat(fs->workfd, tmp, fs->workfd, SFS_SHARED_WHITEOUT) < 0)
			sfs_unlinkat(fs->workfd, tmp, 0);
		sfs_shared_whiteout_update(fs);
		r = neg_errno(sfs_linkat(fs->workfd, SFS_SHARED_WHITEOUT, dirfd, name, 0));
	}
	if (r == -EEXIST || r == 0)
		return r;
	return neg_errno(sfs_mknodat(dirfd, name, S_IFCHR, makedev(0, 0)));
}

/* Put a whiteout at path (nothing in the upper layer there yet). */
static int create_whiteout(struct sfs_fs *fs, struct sfs_node *parent, const char *ppath,
			   const char *name, const char *path)
{
	_cleanup_free_ char *whp = NULL;
	int fd, r;

	SFS_TRACE("whiteout %s", path);
	if (fs->wh_style == SFS_WHITEOUT_CHARDEV)
		return make_chardev_whiteout(fs, fs->upper->fd, path);
	r = whname_path(ppath, name, &whp);
	if (r < 0)
		return r;
	/* lookups must probe for ".wh.NAME" in this directory again */
	if (parent)
		__atomic_fetch_or(&parent->whfile_present, 1ull, __ATOMIC_RELAXED);
	fd = sfs_openat(fs->upper->fd, whp, O_CREAT | O_WRONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Move the upper entry at path out of the way, into workdir/work, and
 * delete it there (a directory may hold whiteouts). */
static int remove_upper(struct sfs_fs *fs, const char *path, bool is_dir)
{
	char tmp[64];
	int r;

	SFS_TRACE("remove %s", path);
	r = neg_errno(sfs_unlinkat(fs->upper->fd, path, is_dir ? AT_REMOVEDIR : 0));
	if (r != -ENOTEMPTY && r != -EEXIST)
		return r;
	sfs_work_tmpname(fs, tmp, sizeof(tmp));
	r = neg_errno(sfs_renameat(fs->upper->fd, path, fs->workfd, tmp));
	if (r < 0)
		return r;
	return sfs_rm_rf_at(fs->workfd, tmp);
}

/* Replace the upper entry at path by a whiteout, atomically when the
 * whiteout is a char device. */
static int replace_with_whiteout(struct sfs_fs *fs, struct sfs_node *parent,
				 const char *ppath, const char *name, const char *path,
				 bool is_dir)
{
	char tmp[64];
	int r;

	if (fs->wh_style == SFS_WHITEOUT_WHNAME) {
		r = create_whiteout(fs, parent, ppath, name, path);
		if (r < 0)
			return r;
		return remove_upper(fs, path, is_dir);
	}
	sfs_work_tmpname(fs, tmp, sizeof(tmp));
	r = make_chardev_whiteout(fs, fs->workfd, tmp);
	if (r < 0)
		return r;
	SFS_TRACE("whiteout %s (exchange)", path);
	r = neg_errno(sfs_renameat2(fs->workfd, tmp, fs->upper->fd, path, RENAME_EXCHANGE));
	if (r == -EACCES && is_dir) {
		/* moving a directory needs write permission on it; this one
		 * (ours, made read-only through the mount) is going away */
		if (sfs_fchmodat(fs->upper->fd, path, S_IRWXU, 0) == 0)
			r = neg_errno(sfs_renameat2(fs->workfd, tmp, fs->upper->fd, path,
						RENAME_EXCHANGE));
	}
	if (r < 0) {
		sfs_unlinkat(fs->workfd, tmp, 0);
		return r;
	}
	/* The name is gone already; what cannot be removed now is garbage in
	 * workdir/work, which the next mount removes. */
	r = sfs_rm_rf_at(fs->workfd, tmp);
	if (r < 0)
		sfs_log(SFS_LOG_WARNING, "cannot remove %s from the work directory: %s",
			path, strerror(-r));
	return 0;
}

/* The hashed directory node of an upper path's parent, and the path's last
 * component.  itable_lock held. */
static struct sfs_node *parent_node_of(struct sfs_fs *fs, const char *path,
				       const char **base)
{
	struct sfs_node *d = fs->root;
	const char *p = path, *slash;

	while (d && (slash = strchr(p, '/'))) {
		char comp[NAME_MAX + 1];
		size_t len = slash - p;

		if (len == 0 || len > NAME_MAX)
			return NULL;
		memcpy(comp, p, len);
		comp[len] = '\0';
		d = sfs_itable_find(fs, d, comp);
		p = slash + 1;
	}
	*base = p;
	return d;
}

/*
 * n's name is gone.  If link(2) gave its file other names through n, the
 * kernel's dentries of those still lead to n: n takes the first that still
 * names the file (a link made through it, not moved since), and stays
 * reachable by path.  Else it is left to its open files.  tree_lock
 * (write) and itable_lock held.
 */
static bool take_other_name(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_alias *a;

	while ((a = n->aliases)) {
		struct sfs_node *parent, *old_parent = n->parent;
		const char *base;
		struct stat st;
		char *name;

		n->aliases = a->next;
		if (sfs_fstatat(fs->upper->fd, a->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_ino == a->upper_ino && (parent = parent_node_of(fs, a->path, &base)) &&
		    !sfs_itable_find(fs, parent, base) && (name = strdup(base))) {
			free(n->name);
			n->name = name;
			sfs_itable_insert(fs, n, parent, name);
			sfs_node_unref_locked(fs, old_parent);
			free(a);
			return true;
		}
		free(a);
	}
	return false;
}

/* The hashed node of (parent, name) has lost that name. */
static void forget_name(struct sfs_fs *fs, struct sfs_node *parent, const char *name)
{
	struct sfs_node *n;

	pthread_mutex_lock(&fs->itable_lock);
	n = sfs_itable_find(fs, parent, name);
	if (n) {
		sfs_itable_remove(fs, n);
		if (!take_other_name(fs, n))
			n->unlinked = true;
	}
	pthread_mutex_unlock(&fs->itable_lock);
}

/* An open file may still use the upper file about to lose this name: keep
 * it reachable (handle.c).  tree_lock held (write). */
static void pin_name(struct sfs_fs *fs, struct sfs_node *parent, const char *name)
{
	struct sfs_node *n;

	if (!fs->no_open)
		return;
	pthread_mutex_lock(&fs->itable_lock);
	n = sfs_itable_find(fs, parent, name);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&fs->itable_lock);
	if (!n)
		return;
	sfs_handle_pin(fs, n);
	sfs_node_unref(fs, n);
}

/* A transient node describing what lookup found, for emptiness checks. */
static int check_dir_empty(struct sfs_fs *fs, struct sfs_node *parent,
			   const char *name, struct sfs_found *f)
{
	struct sfs_node tmp = {
		.parent = parent, .name = (char *)name, .in_upper = f->in_upper,
		.opaque = f->opaque, .n_lower = f->n_lower, .lower = f->lower,
		.type = S_IFDIR,
	};

	return sfs_dir_check_empty(fs, &tmp);
}

/* A member of a link group that still has its name: the kernel updates
 * the inode of the name just removed itself. */
static bool still_named(struct sfs_node *member, void *payload)
{
	(void)payload;
	return !member->unlinked;
}

static int remove_entry(struct sfs_fs *fs, struct sfs_node *parent,
			const char *name, bool is_dir)
{
	_cleanup_free_ char *ppath = NULL, *path = NULL;
	struct sfs_found f = { 0 };
	fuse_ino_t *inos = NULL;
	size_t n_inos = 0;
	int r;

	if (!fs->upper)
		return -EROFS;
	r = sfs_copyup(fs, parent, /* meta_only= */ true);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&fs->tree_lock);
	r = sfs_lookup_name(fs, parent, name, &f);
	if (r < 0)
		goto out;
	if (is_dir != S_ISDIR(f.st.st_mode)) {
		r = is_dir ? -ENOTDIR : -EISDIR;
		goto out;
	}
	if (is_dir) {
		r = check_dir_empty(fs, parent, name, &f);
		if (r < 0)
			goto out;
	}
	r = sfs_node_upper_path(parent, &ppath);
	if (r < 0)
		goto out;
	r = sfs_path_join(ppath, name, &path);
	if (r < 0)
		goto out;
	if (!is_dir && f.in_upper)
		pin_name(fs, parent, name);
	/* an entry lookup found only below is there, of course */
	if (f.in_upper && !sfs_lower_exists(fs, parent, name))
		r = remove_upper(fs, path, is_dir);
	else if (f.in_upper)
		r = replace_with_whiteout(fs, parent, ppath, name, path, is_dir);
	else
		r = create_whiteout(fs, parent, ppath, name, path);
	if (r < 0)
		goto out;
	forget_name(fs, parent, name);
	parent->dir_version++;
	if (f.lower_group) {
		/* the other names of a lower inode count one link less */
		r = sfs_index_nlink_adjust(fs, f.st_ino, f.st.st_nlink, -1);
		n_inos = sfs_group_members(fs, f.st_ino, NULL, &inos, still_named, NULL);
	}
out:
	pthread_rwlock_unlock(&fs->tree_lock);
	sfs_lents_free(f.lower, f.n_lower);
	sfs_invalidate_inos(fs, inos, n_inos);
	return r;
}

void sfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);

	sfs_reply_err(req, remove_entry(fs, sfs_node_from_ino(fs, parent), name,
					/* is_dir= */ false));
}

void sfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);

	sfs_reply_err(req, remove_entry(fs, sfs_node_from_ino(fs, parent), name,
					/* is_dir= */ true));
}

/* ---------------------------------------------------------------- */
/* rename */

struct rename_ctx {
	struct sfs_fs *fs;
	struct sfs_node *oldparent, *newparent;
	const char *oldname, *newname;
	unsigned flags;
	struct sfs_node *src;     /* referenced */
	struct sfs_node *dst;     /* referenced, RENAME_EXCHANGE only */
	char *opath, *npath, *nppath, *oppath;
	struct sfs_found df;      /* what is at the new name now */
	bool dst_exists;
};

/* The node of (parent, name), created if needed, with a temporary ref. */
static int get_node(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		    struct sfs_node **ret)
{
	struct fuse_entry_param e;
	struct sfs_node *n;
	int r;

	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_lookup_entry(fs, parent, name, &e);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r < 0)
		return r;
	n = sfs_node_from_ino(fs, e.ino);
	/* turn the lookup reference into a plain one */
	pthread_mutex_lock(&fs->itable_lock);
	n->refs++;
	n->nlookup--;
	if (n->nlookup == 0)
		n->refs--;
	pthread_mutex_unlock(&fs->itable_lock);
	*ret = n;
	return 0;
}

/* Make a directory that moves keep (redirect) or hide (opaque) what lower
 * layers have at its new name.  tree_lock held (write). */
static int fix_moved_dir(struct sfs_fs *fs, struct sfs_node *n, const char *path)
{
	char ppath[PATH_MAX + 64];
	int r;

	r = sfs_proc_path(fs, 0, path, ppath, sizeof(ppath));
	if (r < 0)
		return r;
	if (n->n_lower > 0) {
		_cleanup_free_ char *redirect = NULL;

		if (!fs->cfg->redirect_dir)
			return -EXDEV;
		if (asprintf(&redirect, "/%s", strcmp(n->lower[0].path, ".") == 0 ? "" :
			     n->lower[0].path) < 0)
			return -ENOMEM;
		SFS_TRACE("redirect %s -> %s", path, redirect);
		return sfs_set_marker_xattr(ppath, sfs_ovl_xattr(fs, SFS_XATTR_REDIRECT),
					    redirect, strlen(redirect));
	}
	if (n->opaque)
		return 0;
	r = sfs_set_marker_xattr(ppath, sfs_ovl_xattr(fs, SFS_XATTR_OPAQUE), "y", 1);
	if (r == 0)
		n->opaque = true;
	return r;
}

/* A metacopy file about to move: its redirect leads to its data in the
 * lower layer, as kernel overlayfs's does.  tree_lock held (write). */
static int fix_moved_file(struct sfs_fs *fs, struct sfs_node *n, const char *path)
{
	_cleanup_free_ char *redirect = NULL;
	char ppath[PATH_MAX + 64];
	int r;

	if (!n->metacopy || n->n_lower == 0)
		return 0;
	if (!fs->cfg->redirect_dir)
		return -EXDEV; /* not reached: such a file is copied whole first */
	r = sfs_proc_path(fs, 0, path, ppath, sizeof(ppath));
	if (r < 0)
		return r;
	if (asprintf(&redirect, "/%s", n->lower[0].path) < 0)
		return -ENOMEM;
	SFS_TRACE("redirect %s -> %s", path, redirect);
	return sfs_set_marker_xattr(ppath, sfs_ovl_xattr(fs, SFS_XATTR_REDIRECT),
				    redirect, strlen(redirect));
}

/* What a moved entry needs to keep showing what it showed. */
static int fix_moved(struct sfs_fs *fs, struct sfs_node *n, const char *path)
{
	return sfs_is_dir(n) ? fix_moved_dir(fs, n, path) : fix_moved_file(fs, n, path);
}

/* Re-key a node under its new (parent, name).  tree_lock held (write). */
static int move_node(struct sfs_fs *fs, struct sfs_node *n, struct sfs_node *parent,
		     const char *name)
{
	char *nn = strdup(name);
	struct sfs_node *old_parent;

	if (!nn)
		return -ENOMEM;
	pthread_mutex_lock(&fs->itable_lock);
	sfs_itable_remove(fs, n);
	old_parent = n->parent;
	free(n->name);
	n->name = nn;
	n->unlinked = false;
	sfs_itable_insert(fs, n, parent, nn);
	sfs_node_unref_locked(fs, old_parent);
	pthread_mutex_unlock(&fs->itable_lock);
	return 0;
}

static int rename_paths(struct rename_ctx *c)
{
	int r;

	r = sfs_node_upper_path(c->oldparent, &c->oppath);
	if (r < 0)
		return r;
	r = sfs_node_upper_path(c->newparent, &c->nppath);
	if (r < 0)
		return r;
	r = sfs_path_join(c->oppath, c->oldname, &c->opath);
	if (r < 0)
		return r;
	return sfs_path_join(c->nppath, c->newname, &c->npath);
}

static int rename_exchange(struct rename_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	int r;

	if (!c->dst_exists)
		return -ENOENT;
	r = fix_moved(fs, c->src, c->opath);
	if (r == 0)
		r = fix_moved(fs, c->dst, c->npath);
	if (r < 0)
		return r;
	SFS_TRACE("exchange %s %s", c->opath, c->npath);
	r = neg_errno(sfs_renameat2(fs->upper->fd, c->opath, fs->upper->fd, c->npath,
				RENAME_EXCHANGE));
	if (r < 0)
		return r;
	/* swap the two nodes' names */
	r = move_node(fs, c->src, c->newparent, "\x01sfs-swap");
	if (r < 0)
		return r;
	r = move_node(fs, c->dst, c->oldparent, c->oldname);
	if (r < 0)
		return r;
	return move_node(fs, c->src, c->newparent, c->newname);
}

/* Clear the new name in the upper layer for an overwriting rename. */
static int clear_target(struct rename_ctx *c, bool *ret_whiteout_at_new)
{
	struct sfs_fs *fs = c->fs;
	bool src_dir = sfs_is_dir(c->src);
	struct stat st;
	int r;

	*ret_whiteout_at_new = false;
	if (c->dst_exists) {
		bool dst_dir = S_ISDIR(c->df.st.st_mode);

		if (src_dir && !dst_dir)
			return -ENOTDIR;
		if (!src_dir && dst_dir)
			return -EISDIR;
		if (!dst_dir && c->df.in_upper)
			pin_name(fs, c->newparent, c->newname);
		if (dst_dir) {
			r = check_dir_empty(fs, c->newparent, c->newname, &c->df);
			if (r < 0)
				return r;
			/* an upper directory may hold whiteouts */
			if (c->df.in_upper) {
				r = remove_upper(fs, c->npath, true);
				if (r < 0)
					return r;
			}
		}
		return 0;
	}
	if (sfs_fstatat(fs->upper->fd, c->npath, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    sfs_is_whiteout_stat(&st))
		*ret_whiteout_at_new = true;
	return 0;
}

static int rename_plain(struct rename_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	bool src_lower = sfs_lower_exists(fs, c->oldparent, c->oldname), wh_at_new;
	_cleanup_free_ char *whp = NULL;
	struct stat st;
	int r;

	r = clear_target(c, &wh_at_new);
	if (r < 0)
		return r;
	if (!sfs_is_dir(c->src) || src_lower || c->newparent->n_lower > 0) {
		r = fix_moved(fs, c->src, c->opath);
		if (r < 0)
			return r;
	}
	SFS_TRACE("rename %s %s", c->opath, c->npath);
	if (wh_at_new) {
		/* Exchange with the whiteout: it lands at the old name, where
		 * a whiteout is wanted if a lower entry is there. */
		r = neg_errno(sfs_renameat2(fs->upper->fd, c->opath, fs->upper->fd,
					c->npath, RENAME_EXCHANGE));
		if (r == 0 && !src_lower)
			r = neg_errno(sfs_unlinkat(fs->upper->fd, c->opath, 0));
	} else if (src_lower && fs->wh_style == SFS_WHITEOUT_CHARDEV) {
		r = neg_errno(sfs_renameat2(fs->upper->fd, c->opath, fs->upper->fd,
					c->npath, RENAME_WHITEOUT));
		if (r == -EINVAL) {
			/* the upper filesystem cannot: two steps */
			r = neg_errno(sfs_renameat(fs->upper->fd, c->opath, fs->upper->fd, c->npath));
			if (r == 0)
				r = create_whiteout(fs, c->oldparent, c->oppath, c->oldname, c->opath);
		}
	} else {
		r = neg_errno(sfs_renameat(fs->upper->fd, c->opath, fs->upper->fd, c->npath));
		if (r == 0 && src_lower)
			r = create_whiteout(fs, c->oldparent, c->oppath, c->oldname, c->opath);
	}
	if (r < 0)
		return r;
	/* a ".wh.NEWNAME" beside the new name is obsolete now */
	if (whname_path(c->nppath, c->newname, &whp) == 0 &&
	    sfs_fstatat(fs->upper->fd, whp, &st, AT_SYMLINK_NOFOLLOW) == 0)
		sfs_unlinkat(fs->upper->fd, whp, 0);
	forget_name(fs, c->newparent, c->newname);
	return move_node(fs, c->src, c->newparent, c->newname);
}

static int do_rename(struct rename_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	int r;

	if (c->flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL;
	if (sfs_name_reserved(c->newname))
		return -EINVAL;
	if (!fs->upper)
		return -EROFS;
	r = sfs_copyup(fs, c->oldparent, true);
	if (r < 0)
		return r;
	r = sfs_copyup(fs, c->newparent, true);
	if (r < 0)
		return r;
	r = get_node(fs, c->oldparent, c->oldname, &c->src);
	if (r < 0)
		return r;
	if (!(c->flags & RENAME_NOREPLACE) && !sfs_is_dir(c->src)) {
		/* Two names of one file: rename(2) does nothing (POSIX).  The
		 * kernel cannot tell, since each name is its own FUSE inode. */
		struct sfs_node *d;

		if (get_node(fs, c->newparent, c->newname, &d) == 0) {
			bool same = !sfs_is_dir(d) && d->st_ino == c->src->st_ino;

			sfs_node_unref(fs, d);
			if (same)
				return 0;
		}
	}
	/* A file moves with its metadata only when a redirect can lead to
	 * its data (metacopy=on, redirect_dir=on: fix_moved_file) */
	r = sfs_copyup(fs, c->src, /* meta_only= */ sfs_is_dir(c->src) || fs->cfg->redirect_dir);
	if (r < 0)
		return r;
	if (c->flags & RENAME_EXCHANGE) {
		r = get_node(fs, c->newparent, c->newname, &c->dst);
		if (r < 0)
			return r;
		r = sfs_copyup(fs, c->dst, sfs_is_dir(c->dst) || fs->cfg->redirect_dir);
		if (r < 0)
			return r;
	}

	pthread_rwlock_wrlock(&fs->tree_lock);
	if (c->src->unlinked || c->src->parent != c->oldparent ||
	    (c->dst && (c->dst->unlinked || c->dst->parent != c->newparent))) {
		r = -ENOENT; /* raced with another rename or unlink */
		goto out;
	}
	r = rename_paths(c);
	if (r < 0)
		goto out;
	r = sfs_lookup_name(fs, c->newparent, c->newname, &c->df);
	if (r < 0 && r != -ENOENT)
		goto out;
	c->dst_exists = r == 0;
	if (c->dst_exists && (c->flags & RENAME_NOREPLACE)) {
		r = -EEXIST;
		goto out;
	}
	if (c->flags & RENAME_EXCHANGE)
		r = rename_exchange(c);
	else
		r = rename_plain(c);
	if (r == 0) {
		c->oldparent->dir_version++;
		c->newparent->dir_version++;
	}
out:
	pthread_rwlock_unlock(&fs->tree_lock);
	return r;
}

void sfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		   fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct rename_ctx c = {
		.fs = fs, .oldparent = sfs_node_from_ino(fs, parent),
		.newparent = sfs_node_from_ino(fs, newparent),
		.oldname = name, .newname = newname, .flags = flags,
	};
	int r;

	if (c.oldparent == c.newparent && strcmp(name, newname) == 0) {
		fuse_reply_err(req, 0);
		return;
	}
	r = do_rename(&c);
	if (c.src)
		sfs_node_unref(fs, c.src);
	if (c.dst)
		sfs_node_unref(fs, c.dst);
	free(c.opath);
	free(c.npath);
	free(c.oppath);
	free(c.nppath);
	sfs_lents_free(c.df.lower, c.df.n_lower);
	sfs_reply_err(req, r);
}
