/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xattr.c - get/set/list/removexattr through the mount.
 *
 * Reads come from the top entry (the upper file holds the metadata of a
 * metacopy file); writes copy the entry up first, metadata only.  The
 * overlay implementations' private names (trusted.overlay.*,
 * user.overlay.*, *.stratafs.*, *.fuseoverlayfs.*) are never listed, read
 * or set through the mount: they are the on-disk format, not user data.
 */
#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "stratafs.h"

const char *sfs_ovl_xattr(const struct sfs_fs *fs, const char *suffix)
{
	static const char *const names[][3] = {
		{ SFS_XATTR_OPAQUE, "trusted.overlay.opaque", "user.overlay.opaque" },
		{ SFS_XATTR_REDIRECT, "trusted.overlay.redirect", "user.overlay.redirect" },
		{ SFS_XATTR_METACOPY, "trusted.overlay.metacopy", "user.overlay.metacopy" },
		{ SFS_XATTR_ORIGIN, "trusted.overlay.origin", "user.overlay.origin" },
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(names[i][0], suffix) == 0)
			return names[i][fs->trusted_xattrs ? 1 : 2];
	assert(!"unknown overlay xattr");
	return NULL;
}

const char *sfs_own_xattr(const struct sfs_fs *fs, const char *suffix)
{
	assert(strcmp(suffix, SFS_XATTR_OWN_ORIGIN) == 0);
	return fs->trusted_xattrs ? "trusted.overlay.sfs.origin" : "user.overlay.sfs.origin";
}

int sfs_node_proc_path(struct sfs_fs *fs, struct sfs_node *n, char *buf, size_t size,
		       int *fd)
{
	_cleanup_free_ char *upath = NULL;
	int r;

	*fd = -EBADF;
	if (n->unlinked && n->in_upper) {
		*fd = sfs_node_dup_upper_fd(fs, n);
		if (*fd >= 0) {
			snprintf(buf, size, "/proc/self/fd/%d", *fd);
			return 1;
		}
		/* An unnamed file always has its handle, and so has a node
		 * replaced at copy-up (its copy). */
		return -ESTALE;
	}
	if (n->in_upper) {
		r = sfs_node_upper_path(n, &upath);
		if (r < 0)
			return r;
		return sfs_proc_path(fs, 0, upath, buf, size);
	}
	if (n->index_hit) {
		char iname[64];

		sfs_index_name(n->st_ino, iname, sizeof(iname));
		return snprintf(buf, size, "/proc/self/fd/%d/%s", fs->indexfd, iname) < (int)size ?
			0 : -ENAMETOOLONG;
	}
	if (n->n_lower == 0)
		return -ESTALE;
	return sfs_proc_path(fs, n->lower[0].layer, n->lower[0].path, buf, size);
}

void sfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	ssize_t len;
	int r;

	if (fs->cfg->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	/* the kernel asks before every write whether it must drop file
	 * capabilities: a file made here has none */
	if (sfs_xattr_is_private(name) ||
	    (sfs_xknown(n, SFS_XK_CREATED) && strcmp(name, "security.capability") == 0)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size > 0) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_node_proc_path(fs, n, path, sizeof(path), &fd);
	len = r < 0 ? r : neg_errno_ssize(r ? getxattr(path, name, buf, size)
					     : lgetxattr(path, name, buf, size));
	pthread_rwlock_unlock(&fs->tree_lock);
	if (len < 0)
		sfs_reply_err(req, (int)len);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else
		fuse_reply_buf(req, buf, len);
}

/* Remove private names from a listxattr result in place; new length. */
static size_t filter_list(char *list, size_t len)
{
	char *out = list;

	for (char *x = list; x < list + len;) {
		size_t l = strlen(x) + 1;

		if (!sfs_xattr_is_private(x)) {
			memmove(out, x, l);
			out += l;
		}
		x += l;
	}
	return out - list;
}

void sfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	ssize_t len;
	int r;

	if (fs->cfg->noxattrs) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_node_proc_path(fs, n, path, sizeof(path), &fd);
	len = r < 0 ? r : neg_errno_ssize(r ? listxattr(path, NULL, 0) : llistxattr(path, NULL, 0));
	if (len > 0) {
		buf = malloc(len);
		len = !buf ? -ENOMEM :
		      neg_errno_ssize(r ? listxattr(path, buf, len) : llistxattr(path, buf, len));
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (len < 0) {
		sfs_reply_err(req, (int)len);
		return;
	}
	len = filter_list(buf, len);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if ((size_t)len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

/* n is not in the upper layer and its entry there has no xattr name. */
static bool lower_lacks_xattr(struct sfs_fs *fs, struct sfs_node *n, const char *name)
{
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -EBADF;
	bool lacks;

	pthread_rwlock_rdlock(&fs->tree_lock);
	lacks = !n->in_upper && sfs_node_proc_path(fs, n, path, sizeof(path), &fd) == 0 &&
		lgetxattr(path, name, NULL, 0) < 0 && errno == ENODATA;
	pthread_rwlock_unlock(&fs->tree_lock);
	return lacks;
}

/* Copy up (metadata) and run fn on the upper entry's /proc path. */
static int modify_xattr(struct sfs_fs *fs, struct sfs_node *n, const char *name,
			const char *value, size_t size, int flags, bool remove)
{
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (fs->cfg->noxattrs)
		return -ENOTSUP;
	if (sfs_xattr_is_private(name))
		return -EPERM;
	if (!fs->upper)
		return -EROFS;
	/* Removing a name a lower entry does not have changes nothing:
	 * ENODATA, and no copy-up (as kernel overlayfs). */
	if (remove && lower_lacks_xattr(fs, n, name))
		return -ENODATA;
	r = sfs_copyup(fs, n, /* meta_only= */ true);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&fs->tree_lock);
	sfs_xknown_clear(n, SFS_XK_CREATED | SFS_XK_NO_ACL_DEFAULT);
	r = sfs_node_proc_path(fs, n, path, sizeof(path), &fd);
	if (r == 0)
		r = sfs_modify_xattr_path(path, name, value, size, flags, remove);
	else if (r == 1)
		r = neg_errno(remove ? fremovexattr(fd, name) : fsetxattr(fd, name, value, size, flags));
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r == 0)
		sfs_passthrough_copy_changed(fs, n); /* an ACL may change the mode */
	return r;
}

void sfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     const char *value, size_t size, int flags)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);

	sfs_reply_err(req, modify_xattr(fs, sfs_node_from_ino(fs, ino), name, value,
					size, flags, /* remove= */ false));
}

void sfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);

	sfs_reply_err(req, modify_xattr(fs, sfs_node_from_ino(fs, ino), name, NULL,
					0, 0, /* remove= */ true));
}
