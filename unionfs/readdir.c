/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * readdir.c - opendir snapshot, readdir/readdirplus with stable offsets.
 *
 * opendir reads the directory of every layer the node merges (upper first,
 * then its lower entries down to an opaque one) and merges the names
 * (dirmerge.c) into a snapshot held by the handle.  An offset is an index
 * into that snapshot, so reading on, seeking back to a telldir() offset or
 * reading the same handle twice gives the same entries, whatever happens
 * to the directory meanwhile.  A rewind (offset 0) after a change takes a
 * new snapshot, as POSIX asks of rewinddir().  Entries are ordered lowest
 * layer first (dirmerge.c): a reopened directory lists unchanged lower
 * entries at the same offsets.
 *
 * Listings of big directories outlive their handles for a while (a few, by
 * node and generation, while the directory's version stays): a program that
 * lists a directory and then looks at each entry (ls -l, find, tar) sends a
 * LOOKUP for every entry past the first readdirplus batch, and the listing
 * already says which lower layer holds each name (sfs_listing_layer).
 *
 * d_ino equals the st_ino that lookup reports (inode.c): for an entry of
 * one lower layer it is computed from the layer's d_ino directly; entries
 * merged from several layers, or upper files that may carry an origin
 * marker, take the same path as lookup.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dirmerge.h"
#include "stratafs.h"

/* A merged listing, shared by a handle and the listing cache. */
struct sfs_listing {
	atomic_uint refs;
	struct sfs_dirmerge *m;
	bool indexed;                /* by name (fs->listing_lock) */
};

struct sfs_dirhandle {
	struct sfs_node *node;       /* referenced */
	pthread_mutex_t lock;        /* protects the snapshot */
	struct sfs_listing *l;
	struct sfs_dirmerge *m;      /* l->m */
	ino_t *inos;                 /* d_ino per entry, 0: not computed yet */
	uint64_t version;            /* node->dir_version of the snapshot */
	bool cold;                   /* the snapshot read from the disk */
};

/* Listings with fewer entries come whole in the first readdirplus reply;
 * bigger ones than the maximum are not kept (about 12 MiB each). */
#define SFS_LISTING_KEEP_MIN 256
#define SFS_LISTING_KEEP_MAX 100000

static void listing_put(struct sfs_listing *l)
{
	if (l && atomic_fetch_sub(&l->refs, 1) == 1) {
		sfs_dirmerge_free(l->m);
		free(l);
	}
}

/* Keep the listing of node n, taken at version, in the cache. */
static void listing_keep(struct sfs_fs *fs, struct sfs_node *n, uint64_t version,
			 struct sfs_listing *l)
{
	struct sfs_listing_slot *slot, *old = NULL;
	struct sfs_listing *drop;

	pthread_mutex_lock(&fs->listing_lock);
	for (unsigned i = 0; i < SFS_LISTING_CACHE; i++)
		if (fs->listings[i].node == n)
			old = &fs->listings[i];
	slot = old ? old : &fs->listings[fs->listing_next++ % SFS_LISTING_CACHE];
	drop = slot->l;
	atomic_fetch_add(&l->refs, 1);
	*slot = (struct sfs_listing_slot){ .node = n, .generation = n->generation,
					   .version = version, .l = l };
	pthread_mutex_unlock(&fs->listing_lock);
	listing_put(drop);
}

void sfs_listing_forget(struct sfs_fs *fs, const struct sfs_node *n)
{
	struct sfs_listing *drop = NULL;

	pthread_mutex_lock(&fs->listing_lock);
	for (unsigned i = 0; i < SFS_LISTING_CACHE; i++) {
		if (fs->listings[i].node == n) {
			drop = fs->listings[i].l;
			fs->listings[i] = (struct sfs_listing_slot){ 0 };
			break;
		}
	}
	pthread_mutex_unlock(&fs->listing_lock);
	listing_put(drop);
}

/*
 * The lower layer where a lookup of entry d of directory dir needs to look
 * alone, or -1: one non-directory of one lower layer, in a directory the
 * upper layer does not have.  Nothing made through the mount can then hide
 * the lower entry (a copy-up or any change there copies the directory up
 * first), and the lower layers never change.  tree_lock held.
 */
static int single_layer(const struct sfs_fs *fs, const struct sfs_node *dir,
			const struct sfs_dirent *d)
{
	if (fs->upper && dir->in_upper)
		return -1;
	if (d->n_layers != 1 || d->type == DT_DIR || d->type == DT_UNKNOWN ||
	    fs->layers[d->layer].upper)
		return -1;
	return (int)d->layer;
}

int sfs_listing_layer(struct sfs_fs *fs, const struct sfs_node *parent, const char *name)
{
	int layer = -1;

	if (fs->upper && parent->in_upper)
		return -1;
	pthread_mutex_lock(&fs->listing_lock);
	for (unsigned i = 0; i < SFS_LISTING_CACHE; i++) {
		struct sfs_listing_slot *s = &fs->listings[i];
		const struct sfs_dirent *d;

		if (s->node != parent || s->generation != parent->generation)
			continue;
		if (s->version != parent->dir_version)
			break;
		if (!s->l->indexed && sfs_dirmerge_index(s->l->m) == 0)
			s->l->indexed = true;
		d = s->l->indexed ? sfs_dirmerge_find(s->l->m, name) : NULL;
		if (d)
			layer = single_layer(fs, parent, d);
		break;
	}
	pthread_mutex_unlock(&fs->listing_lock);
	return layer;
}

void sfs_listing_cache_clear(struct sfs_fs *fs)
{
	for (unsigned i = 0; i < SFS_LISTING_CACHE; i++) {
		listing_put(fs->listings[i].l);
		fs->listings[i] = (struct sfs_listing_slot){ 0 };
	}
}

static unsigned char dtype_of(mode_t mode)
{
	return IFTODT(mode);
}

/*
 * An upper directory the caller made unreadable or unsearchable through the
 * mount (chmod 0 of an empty directory, then rmdir) is still the daemon's
 * own: an unprivileged daemon lends itself read and search permission while
 * it lists it.  Returns the mode to restore, or 0 when nothing was lent.
 */
static mode_t lend_upper_dir(struct sfs_fs *fs, unsigned layer, const char *path)
{
	int lfd = fs->layers[layer].fd;
	struct stat st;

	if (!fs->layers[layer].upper || fs->can_chown)
		return 0;
	if (sfs_fstatat(lfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & (S_IRUSR | S_IXUSR)) == (S_IRUSR | S_IXUSR))
		return 0;
	if (sfs_fchmodat(lfd, path, (st.st_mode & 07777) | S_IRUSR | S_IXUSR, 0) < 0)
		return 0;
	return S_IFDIR | (st.st_mode & 07777);
}

/* Add every entry of one layer's directory to the merge; *ret_whfiles
 * tells whether it holds ".wh.NAME" files. */
static int read_layer(struct sfs_fs *fs, struct sfs_dirmerge *m, unsigned layer,
		      const char *path, bool *ret_whfiles)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd, r;

	mode_t lent = lend_upper_dir(fs, layer, path);

	fd = sfs_openat(fs->layers[layer].fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
		goto out;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		goto out;
	}
	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name, *target;
		unsigned char type = de->d_type;
		unsigned flags = 0;

		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if (sfs_is_opaque_marker(name))
			continue;
		target = sfs_whiteout_target(name);
		if (target) {
			*ret_whfiles = true;
			r = sfs_dirmerge_add(m, layer, target, DT_UNKNOWN, 0, SFS_DE_WHITEOUT);
			if (r < 0)
				goto out;
			continue;
		}
		if (type == DT_CHR && fs->layers[layer].upper && de->d_ino &&
		    de->d_ino == atomic_load_explicit(&fs->shared_whiteout_ino,
						      memory_order_relaxed)) {
			/* a link of our shared whiteout: no need to look */
			flags |= SFS_DE_WHITEOUT;
		} else if (type == DT_CHR || type == DT_UNKNOWN) {
			struct stat st;

			if (sfs_fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue; /* vanished */
			type = dtype_of(st.st_mode);
			if (sfs_is_whiteout_stat(&st))
				flags |= SFS_DE_WHITEOUT;
		}
		r = sfs_dirmerge_add(m, layer, name, type, de->d_ino, flags);
		if (r < 0)
			goto out;
	}
	r = errno ? -errno : 0;
out:
	if (lent)
		sfs_fchmodat(fs->layers[layer].fd, path, lent & 07777, 0);
	return r;
}

/* Remember what a listing showed about ".wh.NAME" files (lookup.c). */
static void note_whfiles(struct sfs_node *n, unsigned layer, bool present)
{
	uint64_t bit;

	if (layer >= 64)
		return;
	bit = 1ull << layer;
	__atomic_fetch_or(&n->whfile_known, bit, __ATOMIC_RELAXED);
	if (present)
		__atomic_fetch_or(&n->whfile_present, bit, __ATOMIC_RELAXED);
}

/* Merge the layers of directory n.  tree_lock held. */
static int merge_dir(struct sfs_fs *fs, struct sfs_node *n, struct sfs_dirmerge **ret)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	bool whfiles;
	int r;

	if (!m)
		return -ENOMEM;
	if (n->in_upper) {
		_cleanup_free_ char *upath = NULL;

		r = sfs_node_upper_path(n, &upath);
		if (r < 0)
			return r;
		whfiles = false;
		r = read_layer(fs, m, 0, upath, &whfiles);
		if (r < 0)
			return r;
		note_whfiles(n, 0, whfiles);
	}
	for (unsigned i = 0; i < n->n_lower; i++) {
		whfiles = false;
		r = read_layer(fs, m, n->lower[i].layer, n->lower[i].path, &whfiles);
		if (r < 0)
			return r;
		note_whfiles(n, n->lower[i].layer, whfiles);
	}
	sfs_dirmerge_finish(m);
	*ret = steal_pointer(&m);
	return 0;
}

int sfs_dir_check_empty(struct sfs_fs *fs, struct sfs_node *n)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = NULL;
	int r;

	r = merge_dir(fs, n, &m);
	if (r < 0)
		return r;
	return sfs_dirmerge_count(m) == 0 ? 0 : -ENOTEMPTY;
}

static void dirhandle_free(struct sfs_fs *fs, struct sfs_dirhandle *h)
{
	if (!h)
		return;
	listing_put(h->l);
	free(h->inos);
	pthread_mutex_destroy(&h->lock);
	if (h->node)
		sfs_node_unref(fs, h->node);
	free(h);
}

/* (Re)take the snapshot.  h->lock held. */
static int snapshot(struct sfs_fs *fs, struct sfs_dirhandle *h)
{
	struct sfs_listing *l = calloc(1, sizeof(*l));
	uint64_t disk_reads = sfs_prefetch_disk_reads();
	int r;

	if (!l)
		return -ENOMEM;
	atomic_init(&l->refs, 1);
	pthread_rwlock_rdlock(&fs->tree_lock);
	h->version = h->node->dir_version;
	r = merge_dir(fs, h->node, &l->m);
	if (r == 0) {
		bool cold = sfs_prefetch_disk_reads() != disk_reads;

		if (atomic_exchange_explicit(&h->node->looked_up_cold, false, memory_order_relaxed))
			cold = true;
		sfs_prefetch_listed(fs, h->node, l->m, cold);
		h->cold = cold;
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r < 0) {
		free(l);
		return r;
	}
	listing_put(h->l);
	free(h->inos);
	h->l = l;
	h->m = l->m;
	h->inos = calloc(sfs_dirmerge_count(l->m) + 1, sizeof(*h->inos));
	if (!h->inos)
		return -ENOMEM;
	if (sfs_dirmerge_count(l->m) >= SFS_LISTING_KEEP_MIN &&
	    sfs_dirmerge_count(l->m) <= SFS_LISTING_KEEP_MAX)
		listing_keep(fs, h->node, h->version, l);
	return 0;
}

void sfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_dirhandle *h;
	int r;

	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->node = sfs_node_from_ino(fs, ino);
	sfs_node_ref(fs, h->node);
	/* The snapshot is taken by the first readdir: with cache_readdir the
	 * kernel often answers from its cache and never asks. */
	(void)r;
	fi->fh = (uintptr_t)h;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dirhandle_free(fs, h);
}

/* The d_ino of entry i.  tree_lock held. */
static ino_t entry_ino(struct sfs_fs *fs, struct sfs_dirhandle *h, size_t i)
{
	const struct sfs_dirent *d = sfs_dirmerge_get(h->m, i);
	struct sfs_node *child;
	struct sfs_found f;
	ino_t ino = 0;

	if (h->inos[i])
		return h->inos[i];
	pthread_mutex_lock(&fs->itable_lock);
	child = sfs_itable_find(fs, h->node, d->name);
	if (child)
		ino = child->st_ino;
	pthread_mutex_unlock(&fs->itable_lock);
	/* A non-directory of one lower layer is its own origin; a directory
	 * may carry a redirect to content elsewhere, which decides its
	 * number: lookup knows. */
	if (!ino && d->n_layers == 1 && d->type != DT_DIR && d->type != DT_UNKNOWN &&
	    (d->layer > 0 || !fs->upper))
		ino = sfs_xino(fs, d->layer, d->ino);
	if (!ino && sfs_lookup_name(fs, h->node, d->name, &f) == 0) {
		ino = f.st_ino;
		sfs_lents_free(f.lower, f.n_lower);
	}
	if (!ino)
		ino = sfs_xino(fs, d->layer, d->ino); /* vanished meanwhile */
	h->inos[i] = ino;
	return ino;
}

static ino_t parent_ino(struct sfs_fs *fs, struct sfs_node *n)
{
	return n->parent ? n->parent->st_ino : n->st_ino;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_dirhandle *h = (struct sfs_dirhandle *)(uintptr_t)fi->fh;
	_cleanup_free_ char *buf = malloc(size);
	size_t pos = 0, count;
	bool names_only;
	int r = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (!h->m || (off == 0 && h->version != h->node->dir_version))
		r = snapshot(fs, h);
	if (r < 0)
		goto out;
	count = sfs_dirmerge_count(h->m) + 2;
	/*
	 * The kernel asks for the first batch of every listing with
	 * attributes, and for later ones only once something looked entries
	 * of the directory up.  A program that stats what it lists reads
	 * those inodes from the disk either way, by LOOKUP if not here; one
	 * that only lists (ls -f, a shell glob) would wait here for a few
	 * hundred inodes read from the disk for nothing.  The first batch of
	 * a big cold listing therefore carries names only: a zero node id
	 * tells the kernel there are no attributes, and the entries still
	 * reach the caller.  (Cold ls -f of 20k entries: 1.27x the kernel's
	 * time before, 1.11x after; cold find and ls -l: unchanged.)
	 */
	names_only = plus && off == 0 && h->cold && count - 2 >= SFS_LISTING_KEEP_MIN;
	pthread_rwlock_rdlock(&fs->tree_lock);
	for (size_t i = off; i < count; i++) {
		struct fuse_entry_param e = { 0 };
		const char *name;
		size_t len;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			e.attr.st_ino = i == 0 ? h->node->st_ino : parent_ino(fs, h->node);
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct sfs_dirent *d = sfs_dirmerge_get(h->m, i - 2);

			name = d->name;
			if (plus && !names_only) {
				r = sfs_lookup_entry_hint(fs, h->node, name,
							  single_layer(fs, h->node, d), &e);
				if (r == -ENOENT || r == -ESTALE) {
					r = 0;
					continue; /* gone since the snapshot */
				}
				if (r < 0)
					break;
			} else {
				e.attr.st_ino = entry_ino(fs, h, i - 2);
				e.attr.st_mode = DTTOIF(d->type);
			}
		}
		if (plus)
			len = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e, i + 1);
		else
			len = fuse_add_direntry(req, buf + pos, size - pos, name, &e.attr, i + 1);
		if (len > size - pos) {
			if (plus && e.ino) {
				struct fuse_forget_data fg = { .ino = e.ino, .nlookup = 1 };
				struct sfs_node *n = sfs_node_from_ino(fs, fg.ino);

				pthread_mutex_lock(&fs->itable_lock);
				if (--n->nlookup == 0)
					sfs_node_unref_locked(fs, n);
				pthread_mutex_unlock(&fs->itable_lock);
			}
			break;
		}
		pos += len;
	}
	pthread_rwlock_unlock(&fs->tree_lock);
out:
	pthread_mutex_unlock(&h->lock);
	if (r < 0 && pos == 0)
		sfs_reply_err(req, r);
	else
		fuse_reply_buf(req, buf, pos);
}

void sfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, /* plus= */ false);
}

void sfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, /* plus= */ true);
}

void sfs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dirhandle_free(sfs_fs_from_req(req), (struct sfs_dirhandle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void sfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_dirhandle *h = (struct sfs_dirhandle *)(uintptr_t)fi->fh;
	_cleanup_free_ char *upath = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r = 0;

	if (!fs->cfg->fsync || !fs->upper) {
		fuse_reply_err(req, 0);
		return;
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	if (h->node->in_upper) {
		r = sfs_node_upper_path(h->node, &upath);
		if (r == 0) {
			fd = sfs_openat(fs->upper->fd, upath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			r = fd < 0 ? -errno : 0;
		}
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (r == 0 && fd >= 0) {
		sfs_loop_may_block();
		r = neg_errno(datasync ? fdatasync(fd) : fsync(fd));
	}
	sfs_reply_err(req, r);
}
