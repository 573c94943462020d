/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * handle.c - file handles for operations that come without one.
 *
 * Zero-message opens (zero_open=1): the first open(2) answers ENOSYS, and from then on
 * the kernel sends neither OPEN nor RELEASE for regular files (it keeps
 * their page cache across opens, which is right here: every change goes
 * through the daemon).  Reading a cached file then costs no request at
 * all.  READ, WRITE and the other file operations arrive with fh 0 and use
 * a handle cached in the node: [0] reads the top entry, [1] writes the
 * upper file, which the first write copies up (O_TRUNC arrives as a
 * truncating setattr, since the daemon does not claim atomic O_TRUNC).
 *
 * Bounds: at most SFS_HANDLE_CACHE cached handles, replaced first in
 * first out; a node's handles also go when the kernel forgets the node.
 * A file unlinked while open keeps its data through a handle pinned at
 * the unlink (sfs_handle_pin), which eviction skips.
 *
 * The price: a file is copied up at its first write, not when opened for
 * writing, and a lower file deleted while open for writing but before any
 * write cannot be written any more; hence opt-in.
 *
 * A handle is reference counted: the cache holds one reference, every
 * operation using it another, so an eviction never closes an fd in use.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stratafs.h"

/* Enough for every file a busy program has open at once; far below the
 * descriptor limit. */
#define SFS_HANDLE_CACHE 1024

static void handle_free(struct sfs_file *f)
{
	close(f->fd);
	for (size_t i = 0; i < f->n_old_fds; i++)
		close(f->old_fds[i]);
	free(f->old_fds);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void sfs_handle_put(struct sfs_fs *fs, struct sfs_file *f)
{
	if (f && f->implicit && atomic_fetch_sub(&f->refs, 1) == 1)
		handle_free(f);
}

/* Make room in the ring at its current position and take the slot for
 * (n, slot).  itable_lock held.  Returns the evicted handle, to put once
 * unlocked, or NULL.  Returns with *stored false when every slot is held
 * by a pinned handle: then nothing is cached. */
static struct sfs_file *ring_insert(struct sfs_fs *fs, struct sfs_node *n, unsigned slot,
				    bool *stored)
{
	*stored = false;
	if (!fs->handle_ring) {
		fs->handle_ring = calloc(SFS_HANDLE_CACHE, sizeof(*fs->handle_ring));
		if (!fs->handle_ring)
			return NULL;
		fs->ring_size = SFS_HANDLE_CACHE;
	}
	for (unsigned tries = 0; tries < fs->ring_size; tries++) {
		unsigned pos = fs->ring_pos;
		struct sfs_node *v = fs->handle_ring[pos].node;
		unsigned vs = fs->handle_ring[pos].slot;
		struct sfs_file *victim = NULL;

		fs->ring_pos = (pos + 1) % fs->ring_size;
		if (v && v->implicit[vs] && v->unlinked)
			continue; /* pinned: an open file may still need it */
		if (v && v->implicit[vs]) {
			victim = v->implicit[vs];
			v->implicit[vs] = NULL;
		}
		fs->handle_ring[pos].node = n;
		fs->handle_ring[pos].slot = slot;
		n->ring_idx[slot] = pos;
		*stored = true;
		return victim;
	}
	return NULL;
}

void sfs_handle_drop_locked(struct sfs_fs *fs, struct sfs_node *n)
{
	for (unsigned s = 0; s < 2; s++) {
		struct sfs_file *f = n->implicit[s];

		if (!f)
			continue;
		n->implicit[s] = NULL;
		if (fs->handle_ring && fs->handle_ring[n->ring_idx[s]].node == n)
			fs->handle_ring[n->ring_idx[s]].node = NULL;
		sfs_handle_put(fs, f);
	}
}

/* A cached handle of n on fd (taken), one reference; NULL without memory. */
static struct sfs_file *handle_new(struct sfs_node *n, int fd, int flags, bool upper)
{
	struct sfs_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fd = fd;
	f->upper = upper;
	f->flags = flags;
	f->implicit = true;
	f->node = n;
	atomic_init(&f->refs, 1);
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

/* Open a new handle of n.  No lock held. */
static int handle_open(struct sfs_fs *fs, struct sfs_node *n, bool write,
		       struct sfs_file **ret)
{
	struct sfs_file *f;
	bool upper;
	int fd;

	pthread_rwlock_rdlock(&fs->tree_lock);
	fd = sfs_open_node(fs, n, write ? O_RDWR : O_RDONLY);
	if (fd == -EACCES && write)
		fd = sfs_open_node(fs, n, O_WRONLY); /* a write-only file */
	upper = sfs_node_opens_upper(n, write ? O_RDWR : O_RDONLY);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (fd < 0)
		return fd;
	f = handle_new(n, fd, write ? O_RDWR : O_RDONLY, upper);
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

/* Put f in n's slot, which the ring already names or gets.  itable_lock held. */
static int slot_set(struct sfs_fs *fs, struct sfs_node *n, unsigned slot, struct sfs_file *f,
		    struct sfs_file **old)
{
	bool stored = true;

	*old = NULL;
	if (n->implicit[slot])
		*old = n->implicit[slot];
	else
		*old = ring_insert(fs, n, slot, &stored);
	if (!stored)
		return -EMFILE;
	n->implicit[slot] = f;
	return 0;
}

/*
 * Without opens, the daemon cannot know that a lower file it unlinks is
 * still open for writing somewhere.  The lower file itself stays where it
 * is (layers never change), so the first write to such a file copies it
 * into an unnamed file in the work dir (O_TMPFILE), which from then on
 * holds the node's data for reads and writes, pinned until the kernel
 * forgets the node.  A name of a lower hard link copied to the index
 * writes to the index copy, which it shares with its other names.
 */
static int copyup_unlinked(struct sfs_fs *fs, struct sfs_node *n)
{
	_cleanup_close_ int src = -EBADF, data = -EBADF;
	struct sfs_file *w = NULL, *rd = NULL, *old0 = NULL, *old1 = NULL;
	struct stat st;
	int r;

	pthread_mutex_lock(&n->copyup_lock);
	if (__atomic_load_n(&n->in_upper, __ATOMIC_ACQUIRE)) {
		r = 0;
		goto out;
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	src = sfs_open_node(fs, n, n->index_hit ? O_RDWR : O_RDONLY);
	pthread_rwlock_unlock(&fs->tree_lock);
	r = src;
	if (r < 0)
		goto out;
	if (n->index_hit) {
		data = src;
		src = -EBADF;
	} else {
		struct timespec ts[2];

		r = neg_errno(fstat(src, &st));
		if (r < 0)
			goto out;
		data = sfs_openat(fs->workfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
			      (st.st_mode & 07777) | S_IRUSR | S_IWUSR);
		r = data < 0 ? -errno : sfs_copy_data(src, data, st.st_size);
		if (r < 0)
			goto out;
		if (fs->can_chown)
			(void)fchown(data, st.st_uid, st.st_gid);
		(void)fchmod(data, st.st_mode & 07777);
		ts[0] = st.st_atim;
		ts[1] = st.st_mtim;
		(void)futimens(data, ts);
	}
	r = fcntl(data, F_DUPFD_CLOEXEC, 3);
	if (r < 0) {
		r = -errno;
		goto out;
	}
	rd = handle_new(n, r, O_RDWR, true);
	if (!rd)
		close(r);
	w = rd ? handle_new(n, data, O_RDWR, true) : NULL;
	if (!w) {
		if (rd)
			handle_free(rd);
		r = -ENOMEM;
		goto out;
	}
	data = -EBADF;
	pthread_rwlock_wrlock(&fs->tree_lock);
	pthread_mutex_lock(&fs->itable_lock);
	r = slot_set(fs, n, 1, w, &old1);
	if (r == 0)
		r = slot_set(fs, n, 0, rd, &old0);
	if (r == 0) {
		__atomic_store_n(&n->in_upper, true, __ATOMIC_RELEASE);
		n->metacopy = false;
	}
	pthread_mutex_unlock(&fs->itable_lock);
	pthread_rwlock_unlock(&fs->tree_lock);
	sfs_handle_put(fs, old0);
	sfs_handle_put(fs, old1);
	if (r < 0) {
		if (n->implicit[1] != w)
			handle_free(w);
		if (n->implicit[0] != rd)
			handle_free(rd);
	}
out:
	pthread_mutex_unlock(&n->copyup_lock);
	return r;
}

static int implicit_get(struct sfs_fs *fs, struct sfs_node *n, bool write,
			struct sfs_file **ret)
{
	struct sfs_file *f, *victim = NULL;
	unsigned slot = write;
	bool stored;
	int r;

	if (write) {
		if (__atomic_load_n(&n->unlinked, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&n->in_upper, __ATOMIC_ACQUIRE))
			r = copyup_unlinked(fs, n);
		else
			r = sfs_copyup(fs, n, /* meta_only= */ false);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&fs->itable_lock);
	f = n->implicit[slot];
	/* an unlinked file can no longer be opened by name: its pinned
	 * read-write handle serves reads too */
	if (!f && !write && n->unlinked && n->implicit[1] && n->implicit[1]->flags == O_RDWR)
		f = n->implicit[1];
	if (f)
		atomic_fetch_add(&f->refs, 1);
	pthread_mutex_unlock(&fs->itable_lock);
	if (f) {
		*ret = f;
		return 0;
	}

	r = handle_open(fs, n, write, &f);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->itable_lock);
	if (n->implicit[slot]) {
		/* another thread was quicker: use its handle */
		struct sfs_file *other = n->implicit[slot];

		atomic_fetch_add(&other->refs, 1);
		pthread_mutex_unlock(&fs->itable_lock);
		handle_free(f);
		*ret = other;
		return 0;
	}
	victim = ring_insert(fs, n, slot, &stored);
	if (stored) {
		n->implicit[slot] = f;
		atomic_fetch_add(&f->refs, 1); /* the cache's reference */
	}
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_handle_put(fs, victim);
	*ret = f;
	return 0;
}

int sfs_handle_get(struct sfs_fs *fs, struct sfs_node *n, struct fuse_file_info *fi,
		   bool write, struct sfs_file **ret)
{
	if (fi && fi->fh) {
		*ret = (struct sfs_file *)(uintptr_t)fi->fh;
		return 0;
	}
	if (write && !fs->upper)
		return -EROFS;
	return implicit_get(fs, n, write, ret);
}

void sfs_handle_pin(struct sfs_fs *fs, struct sfs_node *n)
{
	struct sfs_file *f, *victim;
	bool stored;
	int fd;

	if (!fs->no_open || !S_ISREG(n->type) || !n->in_upper || n->implicit[1] ||
	    __atomic_load_n(&n->nlookup, __ATOMIC_RELAXED) == 0)
		return;
	/* The caller holds the tree lock for writing: open directly. */
	fd = sfs_open_node(fs, n, O_RDWR);
	if (fd < 0)
		return;
	f = handle_new(n, fd, O_RDWR, true);
	if (!f) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&fs->itable_lock);
	victim = ring_insert(fs, n, 1, &stored);
	if (stored)
		n->implicit[1] = f;
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_handle_put(fs, victim);
	if (!stored)
		handle_free(f);
}

void sfs_handle_adopt(struct sfs_fs *fs, struct sfs_node *n, int fd)
{
	struct sfs_file *f, *victim = NULL;
	bool stored = false;

	f = handle_new(n, fd, O_RDWR, true);
	if (!f) {
		close(fd);
		return;
	}
	pthread_mutex_lock(&fs->itable_lock);
	if (!n->implicit[1]) {
		victim = ring_insert(fs, n, 1, &stored);
		if (stored)
			n->implicit[1] = f;
	}
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_handle_put(fs, victim);
	if (!stored)
		handle_free(f);
}

/*
 * Without opens the kernel keeps every file's pages (FOPEN_KEEP_CACHE):
 * after a change of the data of one name of a lower hard link, drop what
 * it caches for the group's other names (which are other FUSE inodes).
 */
void sfs_handle_changed(struct sfs_fs *fs, struct sfs_node *n)
{
	fuse_ino_t *inos = NULL;
	size_t count;

	if (!fs->no_open || !n->lower_group)
		return;
	count = sfs_group_members(fs, n->st_ino, n, &inos, NULL, NULL);
	sfs_invalidate_inos(fs, inos, count);
}
