/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * index.c - hard links of lower files (overlayfs's index=on, in our format).
 *
 * Names of one lower inode (a "link group") all report one inode number
 * (inode.c).  Two things keep the group consistent through the mount:
 *
 *   workdir/sfs-index/<ino>   the upper copy of the group's data, hard-linked
 *                             to every copied-up name; made by the first data
 *                             copy-up of any name (copyup.c); names not
 *                             copied up yet read it instead of the lower file.
 *   workdir/sfs-index/nlinks  the groups' link counts as the mount shows
 *                             them, kept from the first copy-up, unlink or
 *                             link of a member (without an entry, the lower
 *                             link count holds): an append-only log of
 *                             "<ino> <count>" lines, the last line for an
 *                             inode winning, held in memory and compacted at
 *                             every mount.  Appending never allocates an
 *                             inode, so rm -rf of a tree of hard links stays
 *                             cheap.
 *
 * <ino> is the reported inode number in hex.  Nodes of group members are
 * also hashed by that number, so a change to one name can update and
 * invalidate the kernel's view of the others without a table walk.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stratafs.h"

struct sfs_nlinks {
	pthread_mutex_t lock;   /* protects everything below */
	struct { ino_t ino; nlink_t n; } *slots;
	size_t nslots, count;
	int logfd;
};

void sfs_index_name(ino_t ino, char *buf, size_t size)
{
	snprintf(buf, size, "%llx", (unsigned long long)ino);
}

static size_t nl_slot(const struct sfs_nlinks *t, ino_t ino)
{
	size_t k = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) >> 20;

	for (k &= t->nslots - 1; t->slots[k].ino && t->slots[k].ino != ino;
	     k = (k + 1) & (t->nslots - 1))
		;
	return k;
}

static int nl_put(struct sfs_nlinks *t, ino_t ino, nlink_t n)
{
	size_t k;

	if ((t->count + 1) * 2 > t->nslots) {
		struct sfs_nlinks nt = { .nslots = t->nslots ? t->nslots * 2 : 256 };

		nt.slots = calloc(nt.nslots, sizeof(*nt.slots));
		if (!nt.slots)
			return -ENOMEM;
		for (size_t i = 0; i < t->nslots; i++)
			if (t->slots[i].ino)
				nt.slots[nl_slot(&nt, t->slots[i].ino)] = t->slots[i];
		free(t->slots);
		t->slots = nt.slots;
		t->nslots = nt.nslots;
	}
	k = nl_slot(t, ino);
	if (!t->slots[k].ino)
		t->count++;
	t->slots[k].ino = ino;
	t->slots[k].n = n;
	return 0;
}

static int nl_line(char *buf, size_t size, ino_t ino, nlink_t n)
{
	return snprintf(buf, size, "%llx %lu\n", (unsigned long long)ino, (unsigned long)n);
}

int sfs_index_nlink_get(struct sfs_fs *fs, ino_t ino, nlink_t *ret)
{
	struct sfs_nlinks *t = fs->nlinks;
	int r = -ENOENT;

	if (!t || !atomic_load(&fs->index_nlink_used))
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	if (t->nslots) {
		size_t k = nl_slot(t, ino);

		if (t->slots[k].ino) {
			*ret = t->slots[k].n;
			r = 0;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

int sfs_index_nlink_set(struct sfs_fs *fs, ino_t ino, nlink_t value)
{
	struct sfs_nlinks *t = fs->nlinks;
	char line[64];
	int len, r;

	if (!t)
		return -EROFS;
	len = nl_line(line, sizeof(line), ino, value);
	pthread_mutex_lock(&t->lock);
	r = nl_put(t, ino, value);
	/* one write(2) of one short line with O_APPEND: never interleaved */
	if (r == 0 && write(t->logfd, line, len) != len)
		r = -EIO;
	pthread_mutex_unlock(&t->lock);
	atomic_store(&fs->index_nlink_used, true);
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

/* Read the link-count log into t, then write it back compacted. */
static int nlinks_load(struct sfs_fs *fs, struct sfs_nlinks *t)
{
	_cleanup_fclose_ FILE *f = NULL;
	unsigned long long ino;
	unsigned long n;
	char tmp[64];
	int fd, r;

	fd = sfs_openat(fs->indexfd, "nlinks", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		f = fdopen(fd, "r");
		if (!f) {
			close(fd);
			return -errno;
		}
		while (fscanf(f, "%llx %lu\n", &ino, &n) == 2) {
			r = nl_put(t, ino, n);
			if (r < 0)
				return r;
		}
	}
	sfs_work_tmpname(fs, tmp, sizeof(tmp));
	fd = sfs_openat(fs->workfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < t->nslots; i++) {
		char line[64];
		int len;

		if (!t->slots[i].ino)
			continue;
		len = nl_line(line, sizeof(line), t->slots[i].ino, t->slots[i].n);
		if (write(fd, line, len) != len) {
			close(fd);
			sfs_unlinkat(fs->workfd, tmp, 0);
			return -EIO;
		}
	}
	if (fsync(fd) < 0 || sfs_renameat(fs->workfd, tmp, fs->indexfd, "nlinks") < 0) {
		r = -errno;
		close(fd);
		sfs_unlinkat(fs->workfd, tmp, 0);
		return r;
	}
	close(fd);
	t->logfd = sfs_openat(fs->indexfd, "nlinks", O_WRONLY | O_APPEND | O_CLOEXEC);
	return t->logfd < 0 ? -errno : 0;
}

int sfs_index_open(struct sfs_fs *fs)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct sfs_nlinks *t;
	struct dirent *de;
	int fd, r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->logfd = -1;
	r = nlinks_load(fs, t);
	if (r < 0) {
		free(t->slots);
		free(t);
		return r;
	}
	fs->nlinks = t;
	atomic_store(&fs->index_nlink_used, t->count > 0);

	fd = sfs_openat(fs->indexfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "nlinks") == 0)
			continue;
		atomic_store(&fs->index_data_used, true);
		break;
	}
	return 0;
}

int sfs_index_logfd(const struct sfs_fs *fs)
{
	return fs->nlinks ? fs->nlinks->logfd : -1;
}

void sfs_index_close(struct sfs_fs *fs)
{
	struct sfs_nlinks *t = fs->nlinks;

	if (!t)
		return;
	if (t->logfd >= 0)
		close(t->logfd);
	pthread_mutex_destroy(&t->lock);
	free(t->slots);
	free(t);
	fs->nlinks = NULL;
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
