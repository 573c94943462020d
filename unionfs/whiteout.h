/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * whiteout.h - names and encodings of overlay markers (pure, no FUSE).
 */
#ifndef SFS_WHITEOUT_H
#define SFS_WHITEOUT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

/* How this mount writes whiteouts: probed once at mount time. */
enum sfs_whiteout_style {
	SFS_WHITEOUT_CHARDEV, /* kernel format: character device 0/0 */
	SFS_WHITEOUT_WHNAME,  /* unprivileged: empty file ".wh.NAME" */
};

#define SFS_WH_PREFIX ".wh."
#define SFS_WH_PREFIX_LEN 4
#define SFS_WH_OPAQUE ".wh..wh..opq"

/* Overlay xattrs we read.  "trusted." is the kernel's privileged namespace,
 * "user." its userxattr namespace; fuse-overlayfs adds its own opaque name. */
#define SFS_XATTR_TRUSTED_PREFIX "trusted.overlay."
#define SFS_XATTR_USER_PREFIX "user.overlay."
#define SFS_XATTR_FOVL_OPAQUE "user.fuseoverlayfs.opaque"
#define SFS_XATTR_OPAQUE "opaque"
#define SFS_XATTR_REDIRECT "redirect"
#define SFS_XATTR_METACOPY "metacopy"
#define SFS_XATTR_ORIGIN "origin"
/* Our own marker: "this upper non-directory was copied up; it reports this
 * inode number"; keeps st_ino stable across copy-up, rename and remount.
 * It lives under the overlay prefix so that kernel overlayfs hides it too
 * and drops it when it copies a file up itself. */
#define SFS_XATTR_OWN_TRUSTED_PREFIX "trusted.overlay.sfs."
#define SFS_XATTR_OWN_USER_PREFIX "user.overlay.sfs."
#define SFS_XATTR_OWN_ORIGIN "origin"

/* True for a stat result that is a kernel-format whiteout (char 0/0). */
static inline bool sfs_is_whiteout_stat(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

/* ".wh.NAME" -> "NAME"; NULL when name is not a whiteout name (or is the
 * opaque marker, or is exactly ".wh."). */
const char *sfs_whiteout_target(const char *name);

/* True for ".wh..wh..opq". */
bool sfs_is_opaque_marker(const char *name);

/* Write ".wh.NAME" into buf (size bytes).  -ENAMETOOLONG if it does not fit. */
int sfs_whiteout_name(const char *name, char *buf, size_t size);

/*
 * True when an xattr name is private to overlay implementations and must
 * never be shown or set through the mount.
 */
bool sfs_xattr_is_private(const char *name);

/* An opaque xattr value means "opaque" ("y"); anything else does not. */
bool sfs_opaque_value_is_set(const char *value, size_t len);

/*
 * Emulated ownership (xattr_permissions=, fuse-overlayfs and
 * containers/storage): "uid:gid:0mode[:type]", type one of file, dir,
 * symlink, pipe, socket, block-MAJOR-MINOR, char-MAJOR-MINOR.
 */
#define SFS_XATTR_OVERRIDE_SECURITY "security.fuseoverlayfs.override_stat"
#define SFS_XATTR_OVERRIDE_USER "user.fuseoverlayfs.override_stat"
#define SFS_XATTR_OVERRIDE_CONTAINERS "user.containers.override_stat"

struct sfs_override {
	unsigned uid, gid;
	mode_t mode;      /* permission bits, and type bits when has_type */
	dev_t rdev;
	bool has_type;
};

/* One of the override_stat xattr names? */
static inline bool sfs_xattr_is_override(const char *name)
{
	return strcmp(name, SFS_XATTR_OVERRIDE_SECURITY) == 0 ||
	       strcmp(name, SFS_XATTR_OVERRIDE_USER) == 0 ||
	       strcmp(name, SFS_XATTR_OVERRIDE_CONTAINERS) == 0;
}

/* Parse a value (len bytes, not NUL-terminated).  -EINVAL if malformed. */
int sfs_override_parse(const char *value, size_t len, struct sfs_override *ret);
/* Format o into buf; returns the length, or -ENAMETOOLONG. */
int sfs_override_format(const struct sfs_override *o, char *buf, size_t size);

#endif /* SFS_WHITEOUT_H */
