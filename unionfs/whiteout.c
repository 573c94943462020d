/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * whiteout.c - the on-disk markers of the overlay format (pure logic).
 *
 * Read, in every layer:
 *   - whiteout: a character device 0/0 named like the deleted entry (kernel
 *     overlayfs), or an empty file ".wh.NAME" (OCI layers, fuse-overlayfs
 *     without CAP_MKNOD, containers/storage for mount programs);
 *   - opaque directory: xattr trusted.overlay.opaque=y (kernel),
 *     user.overlay.opaque=y (kernel userxattr), user.fuseoverlayfs.opaque=y
 *     (fuse-overlayfs), or an entry ".wh..wh..opq" inside the directory (OCI).
 * Written by this mount: char 0/0 and trusted.overlay.* when the upper layer
 * permits mknod and trusted xattrs, otherwise ".wh.NAME" and user.overlay.*.
 * Markers are never visible through the mount; all overlay-private xattr
 * names are hidden from listxattr and refused by setxattr.
 * stratafs's own marker, <prefix>.overlay.sfs.origin, is one of them.
 */
#include <errno.h>
#include <string.h>

#include "whiteout.h"

const char *sfs_whiteout_target(const char *name)
{
	if (strncmp(name, SFS_WH_PREFIX, SFS_WH_PREFIX_LEN) != 0)
		return NULL;
	if (name[SFS_WH_PREFIX_LEN] == '\0' || sfs_is_opaque_marker(name))
		return NULL;
	return name + SFS_WH_PREFIX_LEN;
}

bool sfs_is_opaque_marker(const char *name)
{
	return strcmp(name, SFS_WH_OPAQUE) == 0;
}

int sfs_whiteout_name(const char *name, char *buf, size_t size)
{
	size_t len = strlen(name);

	if (len + SFS_WH_PREFIX_LEN + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, SFS_WH_PREFIX, SFS_WH_PREFIX_LEN);
	memcpy(buf + SFS_WH_PREFIX_LEN, name, len + 1);
	return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool sfs_xattr_is_private(const char *name)
{
	static const char *const private_prefixes[] = {
		SFS_XATTR_TRUSTED_PREFIX, SFS_XATTR_USER_PREFIX,
		"trusted.stratafs.", "user.stratafs.",
		"user.fuseoverlayfs.", "trusted.fuseoverlayfs.",
		"security.fuseoverlayfs.", "user.containers.override_stat",
	};

	for (size_t i = 0; i < sizeof(private_prefixes) / sizeof(*private_prefixes); i++)
		if (has_prefix(name, private_prefixes[i]))
			return true;
	return false;
}

bool sfs_opaque_value_is_set(const char *value, size_t len)
{
	return len >= 1 && (value[0] == 'y' || value[0] == 'Y');
}
