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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

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

static const struct {
	const char *name;
	mode_t type;
} override_types[] = {
	{ "file", S_IFREG }, { "dir", S_IFDIR }, { "symlink", S_IFLNK },
	{ "pipe", S_IFIFO }, { "socket", S_IFSOCK },
};

int sfs_override_parse(const char *value, size_t len, struct sfs_override *ret)
{
	char buf[128], *type, *end;
	unsigned long maj, min;
	struct sfs_override o = { 0 };

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, value, len);
	buf[len] = '\0';
	o.uid = strtoul(buf, &end, 10);
	if (end == buf || *end != ':')
		return -EINVAL;
	type = end + 1;
	o.gid = strtoul(type, &end, 10);
	if (end == type || *end != ':')
		return -EINVAL;
	type = end + 1;
	o.mode = strtoul(type, &end, 8) & 07777;
	if (end == type || (*end != ':' && *end != '\0'))
		return -EINVAL;
	if (*end == ':') {
		type = end + 1;
		o.has_type = true;
		if (sscanf(type, "block-%lu-%lu", &maj, &min) == 2) {
			o.mode |= S_IFBLK;
			o.rdev = makedev(maj, min);
		} else if (sscanf(type, "char-%lu-%lu", &maj, &min) == 2) {
			o.mode |= S_IFCHR;
			o.rdev = makedev(maj, min);
		} else {
			size_t i;

			for (i = 0; i < sizeof(override_types) / sizeof(*override_types); i++)
				if (strcmp(type, override_types[i].name) == 0)
					break;
			if (i == sizeof(override_types) / sizeof(*override_types))
				return -EINVAL;
			o.mode |= override_types[i].type;
		}
	}
	*ret = o;
	return 0;
}

int sfs_override_format(const struct sfs_override *o, char *buf, size_t size)
{
	const char *type = NULL;
	char dev[64];
	int n;

	if (o->has_type) {
		switch (o->mode & S_IFMT) {
		case S_IFBLK:
		case S_IFCHR:
			snprintf(dev, sizeof(dev), "%s-%u-%u",
				 S_ISBLK(o->mode) ? "block" : "char",
				 major(o->rdev), minor(o->rdev));
			type = dev;
			break;
		default:
			for (size_t i = 0; i < sizeof(override_types) / sizeof(*override_types); i++)
				if (override_types[i].type == (o->mode & S_IFMT))
					type = override_types[i].name;
		}
	}
	if (type)
		n = snprintf(buf, size, "%u:%u:0%o:%s", o->uid, o->gid, o->mode & 07777, type);
	else
		n = snprintf(buf, size, "%u:%u:0%o", o->uid, o->gid, o->mode & 07777);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : n;
}
