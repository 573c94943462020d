/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * inode.c - the inode table: fuse_ino_t <-> struct sfs_node.
 *
 * A node is one name in the merged tree (overlayfs's dentry+inode pair): it
 * is keyed by (parent node, name) in one hash table and its FUSE inode number
 * is its address (the root is FUSE_ROOT_ID).  The kernel holds nlookup
 * references; a node also stays while it has hashed children or open
 * handles.  When the last reference goes, the node is freed, so the daemon
 * forgets exactly what the kernel forgets and walking a huge tree does not
 * grow its memory.  No file descriptor is kept per node: operations reach a
 * layer through the layer's root fd and the node's relative path.
 *
 * Inode numbers (st_ino and readdir's d_ino, always equal):
 *   - the number comes from the entry's "origin": for a directory the
 *     bottom-most layer it is merged from, for a non-directory its top
 *     layer, or, for a file copied up to the upper layer (marker xattr
 *     <prefix>.overlay.sfs.origin), the lower file it was copied from.  So the
 *     number is stable across copy-up and across unmount/mount.
 *   - when every layer is on one device, that number is the layer's own
 *     st_ino.  Otherwise the device is folded into the high bits (as
 *     overlayfs's xino): st_ino = ino | (device index << (64 - bits)), with
 *     bits just large enough to number the distinct devices.  A layer whose
 *     inode numbers already use those bits gets them hashed in, and then
 *     uniqueness is best effort (no common filesystem does this).
 *   - generation numbers count node creations, so a recycled address never
 *     looks like the same inode to the kernel.
 */
#include <assert.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stratafs.h"

int sfs_itable_init(struct sfs_itable *t)
{
	t->nbuckets = 4096;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->ngroup_buckets = 1024;
	t->groups = calloc(t->ngroup_buckets, sizeof(*t->groups));
	return t->buckets && t->groups ? 0 : -ENOMEM;
}

static size_t bucket_of(const struct sfs_itable *t, const struct sfs_node *parent,
			const char *name)
{
	uint64_t h = 1469598103934665603ull ^ (uintptr_t)parent;

	for (const char *s = name; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (h ^ (h >> 29)) & (t->nbuckets - 1);
}

static void itable_grow(struct sfs_itable *t)
{
	size_t nb = t->nbuckets * 4;
	struct sfs_node **b = calloc(nb, sizeof(*b));
	struct sfs_itable nt = { .buckets = b, .nbuckets = nb };

	if (!b)
		return; /* keep the longer chains */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct sfs_node *n = t->buckets[i], *next;

		for (; n; n = next) {
			size_t k = bucket_of(&nt, n->parent, n->name);

			next = n->hnext;
			n->hnext = b[k];
			b[k] = n;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

struct sfs_node *sfs_itable_find(struct sfs_fs *fs, struct sfs_node *parent,
				 const char *name)
{
	struct sfs_itable *t = &fs->itable;
	struct sfs_node *n = t->buckets[bucket_of(t, parent, name)];

	for (; n; n = n->hnext)
		if (n->parent == parent && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

void sfs_itable_insert(struct sfs_fs *fs, struct sfs_node *n,
		       struct sfs_node *parent, const char *name)
{
	struct sfs_itable *t = &fs->itable;
	size_t k;

	assert(!n->hashed);
	if (t->count > t->nbuckets)
		itable_grow(t);
	/* name was set by the caller; parent keeps a reference per child */
	n->parent = parent;
	(void)name;
	parent->refs++;
	k = bucket_of(t, parent, n->name);
	n->hnext = t->buckets[k];
	t->buckets[k] = n;
	n->hashed = true;
	t->count++;
}

void sfs_itable_remove(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_itable *t = &fs->itable;
	struct sfs_node **pp;

	if (!n->hashed)
		return;
	pp = &t->buckets[bucket_of(t, n->parent, n->name)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			break;
		}
	}
	n->hnext = NULL;
	n->hashed = false;
	t->count--;
}

struct sfs_node *sfs_node_new(struct sfs_fs *fs, mode_t type)
{
	struct sfs_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->type = type & S_IFMT;
	n->generation = atomic_fetch_add(&fs->generation, 1) + 1;
	n->copy_fd = -1;
	pthread_mutex_init(&n->copyup_lock, NULL);
	return n;
}

void sfs_lents_free(struct sfs_lent *lents, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(lents[i].path);
	free(lents);
}

void sfs_node_set_lower(struct sfs_node *n, struct sfs_lent *lents, unsigned n_lower)
{
	sfs_lents_free(n->lower, n->n_lower);
	n->lower = lents;
	n->n_lower = n_lower;
}

void sfs_node_free(struct sfs_node *n)
{
	if (!n)
		return;
	sfs_lents_free(n->lower, n->n_lower);
	free(n->name);
	if (n->copy_fd >= 0)
		close(n->copy_fd);
	while (n->aliases) {
		struct sfs_alias *a = n->aliases;

		n->aliases = a->next;
		free(a);
	}
	pthread_mutex_destroy(&n->copyup_lock);
	free(n);
}

void sfs_node_ref(struct sfs_fs *fs, struct sfs_node *n)
{
	pthread_mutex_lock(&fs->itable_lock);
	n->refs++;
	pthread_mutex_unlock(&fs->itable_lock);
}

/* Drop one reference; itable_lock held.  Frees n and walks up to release the
 * parents that n kept alive. */
void sfs_node_unref_locked(struct sfs_fs *fs, struct sfs_node *n)
{
	while (n) {
		struct sfs_node *parent;

		assert(n->refs > 0);
		if (--n->refs > 0 || n == fs->root)
			return;
		parent = n->parent;
		sfs_itable_remove(fs, n);
		sfs_group_remove(fs, n);
		sfs_handle_drop_locked(fs, n);
		if (sfs_is_dir(n))
			sfs_listing_forget(fs, n);
		sfs_node_free(n);
		n = parent;
	}
}

void sfs_node_unref(struct sfs_fs *fs, struct sfs_node *n)
{
	pthread_mutex_lock(&fs->itable_lock);
	sfs_node_unref_locked(fs, n);
	pthread_mutex_unlock(&fs->itable_lock);
}

struct sfs_node *sfs_node_from_ino(struct sfs_fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	return (struct sfs_node *)(uintptr_t)ino;
}

ino_t sfs_xino(const struct sfs_fs *fs, unsigned layer, ino_t ino)
{
	unsigned shift;
	uint64_t high;

	if (fs->same_dev)
		return ino;
	shift = 64 - fs->xino_bits;
	high = (uint64_t)fs->layers[layer].xino_id << shift;
	if ((uint64_t)ino >> shift) /* does not fit: fold the high part in */
		ino = ((uint64_t)ino ^ ((uint64_t)ino >> shift)) & ((1ull << shift) - 1);
	return (ino_t)(high | (uint64_t)ino);
}

int sfs_path_join(const char *dir, const char *name, char **ret)
{
	char *p;

	if (strcmp(dir, ".") == 0)
		p = strdup(name);
	else if (asprintf(&p, "%s/%s", dir, name) < 0)
		p = NULL;
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

int sfs_node_upper_path(struct sfs_node *n, char **ret_path)
{
	size_t len = 0;
	char *p, *end;

	if (!n->parent) {
		p = strdup(".");
		if (!p)
			return -ENOMEM;
		*ret_path = p;
		return 0;
	}
	for (struct sfs_node *m = n; m->parent; m = m->parent)
		len += strlen(m->name) + 1;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	end = p + len - 1;
	*end = '\0';
	for (struct sfs_node *m = n; m->parent; m = m->parent) {
		size_t l = strlen(m->name);

		end -= l;
		memcpy(end, m->name, l);
		if (end > p)
			*--end = '/';
	}
	*ret_path = p;
	return 0;
}

static void forget_one(struct sfs_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct sfs_node *n = sfs_node_from_ino(fs, ino);

	pthread_mutex_lock(&fs->itable_lock);
	assert(n->nlookup >= nlookup);
	n->nlookup -= nlookup;
	if (n->nlookup == 0)
		sfs_node_unref_locked(fs, n);
	pthread_mutex_unlock(&fs->itable_lock);
}

void sfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(sfs_fs_from_req(req), ino, nlookup);
	fuse_reply_none(req);
}

/*
 * When the kernel drops its caches, it forgets nodes by the thousand, and
 * the daemon frees them; glibc keeps freed memory for reuse, so give it
 * back to the system after a big drop (at most every few seconds).
 */
static void trim_after_forgets(struct sfs_fs *fs, size_t before, size_t after)
{
	static size_t mark;
	static time_t last;
	time_t now;

	if (before > __atomic_load_n(&mark, __ATOMIC_RELAXED))
		__atomic_store_n(&mark, before, __ATOMIC_RELAXED);
	if (__atomic_load_n(&mark, __ATOMIC_RELAXED) < after + 8192)
		return;
	now = time(NULL);
	if (now < __atomic_load_n(&last, __ATOMIC_RELAXED) + 2)
		return;
	__atomic_store_n(&last, now, __ATOMIC_RELAXED);
	__atomic_store_n(&mark, after, __ATOMIC_RELAXED);
	malloc_trim(0);
}

void sfs_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	size_t before = __atomic_load_n(&fs->itable.count, __ATOMIC_RELAXED);

	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
	trim_after_forgets(fs, before, __atomic_load_n(&fs->itable.count, __ATOMIC_RELAXED));
}

void sfs_itable_destroy(struct sfs_fs *fs)
{
	struct sfs_itable *t = &fs->itable;

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct sfs_node *n = t->buckets[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			sfs_handle_drop_locked(fs, n); /* alone now: no lock needed */
			sfs_node_free(n);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	free(t->groups);
	t->groups = NULL;
}
