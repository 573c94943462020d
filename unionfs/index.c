/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index.c - hard links of lower files (overlayfs's index=on, in our format).
 *
 * Names of one lower inode (a "link group") all report one inode number
 * (inode.c).  Two things keep the group consistent through the mount:
 *
 *   workdir/sfs-index/<ino>         the upper copy of the group's data,
 *                                   hard-linked to every copied-up name;
 *                                   made by the first data copy-up of any
 *                                   name (copyup.c); names not copied up
 *                                   yet read it instead of the lower file.
 *   workdir/sfs-index/<ino>.nlink   the group's link count as the mount
 *                                   shows it (text), kept from the first
 *                                   copy-up, unlink or link of a member;
 *                                   without it, the lower link count holds.
 *
 * <ino> is the reported inode number in hex.  Nodes of group members are
 * also hashed by that number, so a change to one name can update and
 * invalidate the kernel's view of the others without a table walk.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stratafs.h"

void sfs_index_name(ino_t ino, char *buf, size_t size)
{
	snprintf(buf, size, "%llx", (unsigned long long)ino);
}

int sfs_index_nlink_get(struct sfs_fs *fs, ino_t ino, nlink_t *ret)
{
	char name[64], buf[32];
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	if (!atomic_load(&fs->index_nlink_used))
		return -ENOENT;
	snprintf(name, sizeof(name), "%llx.nlink", (unsigned long long)ino);
	fd = openat(fs->indexfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	*ret = strtoul(buf, NULL, 10);
	return 0;
}

int sfs_index_nlink_set(struct sfs_fs *fs, ino_t ino, nlink_t value)
{
	char name[64], tmp[64], buf[32];
	_cleanup_close_ int fd = -EBADF;
	int len, r;

	atomic_store(&fs->index_nlink_used, true);
	snprintf(name, sizeof(name), "%llx.nlink", (unsigned long long)ino);
	sfs_work_tmpname(fs, tmp, sizeof(tmp));
	fd = openat(fs->workfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%lu\n", (unsigned long)value);
	if (write(fd, buf, len) != len) {
		unlinkat(fs->workfd, tmp, 0);
		return -EIO;
	}
	r = neg_errno(renameat(fs->workfd, tmp, fs->indexfd, name));
	if (r < 0)
		unlinkat(fs->workfd, tmp, 0);
	return r;
}

int sfs_index_nlink_adjust(struct sfs_fs *fs, ino_t ino, nlink_t current, int delta)
{
	nlink_t v;

	if (sfs_index_nlink_get(fs, ino, &v) < 0)
		v = current;
	if (delta < 0 && v < (nlink_t)-delta)
		v = 0;
	else
		v += delta;
	return sfs_index_nlink_set(fs, ino, v);
}

bool sfs_index_probe(struct sfs_fs *fs)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd = openat(fs->indexfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l > 6 && strcmp(de->d_name + l - 6, ".nlink") == 0)
			return true;
	}
	return false;
}

/* --- the table of group members by inode number (itable_lock held) --- */

static size_t group_bucket(const struct sfs_itable *t, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull;

	return (h >> 17) & (t->ngroup_buckets - 1);
}

void sfs_group_insert(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_itable *t = &fs->itable;
	size_t k;

	if (n->in_group)
		return;
	k = group_bucket(t, n->st_ino);
	n->gnext = t->groups[k];
	t->groups[k] = n;
	n->in_group = true;
}

void sfs_group_remove(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_itable *t = &fs->itable;
	struct sfs_node **pp;

	if (!n->in_group)
		return;
	for (pp = &t->groups[group_bucket(t, n->st_ino)]; *pp; pp = &(*pp)->gnext) {
		if (*pp == n) {
			*pp = n->gnext;
			break;
		}
	}
	n->in_group = false;
	n->gnext = NULL;
}

size_t sfs_group_members(struct sfs_fs *fs, ino_t ino, struct sfs_node *except,
			 fuse_ino_t **ret,
			 bool (*fn)(struct sfs_node *member, void *payload), void *payload)
{
	struct sfs_itable *t = &fs->itable;
	fuse_ino_t *v = NULL;
	size_t count = 0;

	pthread_mutex_lock(&fs->itable_lock);
	for (struct sfs_node *m = t->groups[group_bucket(t, ino)]; m; m = m->gnext) {
		fuse_ino_t *nv;

		if (m == except || m->st_ino != ino)
			continue;
		if (fn && !fn(m, payload))
			continue;
		nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[count++] = sfs_node_ino(fs, m);
	}
	pthread_mutex_unlock(&fs->itable_lock);
	*ret = v;
	return count;
}
