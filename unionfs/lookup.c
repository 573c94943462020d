/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lookup.c - find one name in the layer stack, top to bottom (overlayfs's
 * namei.c).
 *
 * For each layer, from the upper layer down:
 *   - a whiteout (char 0/0, or ".wh.NAME" beside it) ends the search: the
 *     name does not exist below;
 *   - the first entry found is the top entry: it gives the type and the
 *     metadata;
 *   - a non-directory ends the search, except an upper file that was copied
 *     up (origin marker) or holds metadata only (metacopy): for those the
 *     next entry below is kept, as inode-number origin and data source;
 *   - directories merge with the directories below them until an opaque
 *     one, or a non-directory, is met;
 *   - a directory with a redirect xattr (it was renamed) is continued below
 *     at the redirect path: absolute ("/a/b", from the layer root) or
 *     relative (a name in the same parent).
 * The lower entries found are recorded with their own paths in the node,
 * so later lookups of children never depend on the merged path.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "stratafs.h"

/* Markers carried by one entry in one layer. */
struct markers {
	bool opaque;
	bool metacopy;
	bool origin;
	ino_t origin_ino; /* reported inode number recorded at copy-up; 0: none */
	char *redirect; /* malloc'd */
};

struct lookup_ctx {
	struct sfs_fs *fs;
	struct sfs_node *parent;
	const char *name;
	struct sfs_found *f;
	bool found;
	bool stop;
	unsigned top_layer;
	/* where to continue below a redirected directory */
	char *redir_dir;  /* directory path in the lower layers; NULL: parent's */
	char *redir_name; /* entry name there */
	unsigned cap;
};

/*
 * The path-based calls (the l*xattr family) take no directory descriptor,
 * so they name an entry "/proc/self/fd/<layer fd>/<path>".  Where that is
 * longer than the kernel takes (PATH_MAX), the entry's directory is opened
 * and the name alone follows its descriptor.  Such descriptors stay open in
 * a small ring per thread (a caller uses at most two such paths at once) and
 * are closed when the ring comes round or the thread ends.
 */
#define PROC_RING 4

struct proc_ring {
	int fd[PROC_RING];
	unsigned next;
};

static pthread_key_t proc_ring_key;
static pthread_once_t proc_ring_once = PTHREAD_ONCE_INIT;

static void proc_ring_free(void *p)
{
	struct proc_ring *ring = p;

	for (unsigned i = 0; i < PROC_RING; i++)
		if (ring->fd[i] >= 0)
			close(ring->fd[i]);
	free(ring);
}

static void proc_ring_init(void)
{
	if (pthread_key_create(&proc_ring_key, proc_ring_free) != 0)
		abort();
}

/* Keep fd open for a while on this thread; the oldest one kept is closed. */
static int proc_ring_keep(int fd)
{
	struct proc_ring *ring;

	pthread_once(&proc_ring_once, proc_ring_init);
	ring = pthread_getspecific(proc_ring_key);
	if (!ring) {
		ring = malloc(sizeof(*ring));
		if (!ring || pthread_setspecific(proc_ring_key, ring) != 0) {
			free(ring);
			close(fd);
			return -ENOMEM;
		}
		for (unsigned i = 0; i < PROC_RING; i++)
			ring->fd[i] = -1;
		ring->next = 0;
	}
	if (ring->fd[ring->next] >= 0)
		close(ring->fd[ring->next]);
	ring->fd[ring->next] = fd;
	ring->next = (ring->next + 1) % PROC_RING;
	return 0;
}

int sfs_proc_path(const struct sfs_fs *fs, unsigned layer, const char *path,
		  char *buf, size_t size)
{
	_cleanup_free_ char *dir = NULL;
	const char *slash;
	int n, fd;

	n = snprintf(buf, size, "/proc/self/fd/%d/%s", fs->layers[layer].fd, path);
	if (n < 0)
		return -ENAMETOOLONG;
	if ((size_t)n < size && n < PATH_MAX)
		return 0;
	/* too long for the kernel: name the entry through its directory */
	slash = strrchr(path, '/');
	if (!slash || !(dir = strndup(path, (size_t)(slash - path))))
		return slash ? -ENOMEM : -ENAMETOOLONG;
	fd = sfs_openat(fs->layers[layer].fd, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, size, "/proc/self/fd/%d/%s", fd, slash + 1);
	if (n < 0 || (size_t)n >= size || n >= PATH_MAX) {
		close(fd);
		return -ENAMETOOLONG;
	}
	return proc_ring_keep(fd);
}

static bool xattr_is(const char *name, const char *suffix)
{
	size_t tl = strlen(SFS_XATTR_TRUSTED_PREFIX), ul = strlen(SFS_XATTR_USER_PREFIX);

	if (strncmp(name, SFS_XATTR_TRUSTED_PREFIX, tl) == 0)
		return strcmp(name + tl, suffix) == 0;
	if (strncmp(name, SFS_XATTR_USER_PREFIX, ul) == 0)
		return strcmp(name + ul, suffix) == 0;
	return false;
}

static bool own_xattr_is(const char *name, const char *suffix)
{
	size_t tl = strlen(SFS_XATTR_OWN_TRUSTED_PREFIX), ul = strlen(SFS_XATTR_OWN_USER_PREFIX);

	if (strncmp(name, SFS_XATTR_OWN_TRUSTED_PREFIX, tl) == 0)
		return strcmp(name + tl, suffix) == 0;
	if (strncmp(name, SFS_XATTR_OWN_USER_PREFIX, ul) == 0)
		return strcmp(name + ul, suffix) == 0;
	return false;
}

static int read_value(const char *path, const char *name, char **ret)
{
	char buf[PATH_MAX + 1];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf) - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

/* Read the overlay markers of the entry at path in layer. */
/* want_opq: also look for a ".wh..wh..opq" entry in a directory. */
static int read_markers(struct sfs_fs *fs, unsigned layer, const char *path,
			bool is_dir, bool want_opq, struct markers *m)
{
	char ppath[PATH_MAX + 64], list[4096], val[8];
	ssize_t len;
	int r;

	r = sfs_proc_path(fs, layer, path, ppath, sizeof(ppath));
	if (r < 0)
		return r;
	len = llistxattr(ppath, list, sizeof(list));
	if (len < 0 && errno == ERANGE)
		len = 0; /* a huge list of user xattrs: markers are not there */
	if (len < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (char *x = list; x < list + len; x += strlen(x) + 1) {
		if (is_dir && (xattr_is(x, SFS_XATTR_OPAQUE) ||
			       strcmp(x, SFS_XATTR_FOVL_OPAQUE) == 0)) {
			ssize_t vl = lgetxattr(ppath, x, val, sizeof(val));

			if (vl > 0 && sfs_opaque_value_is_set(val, vl))
				m->opaque = true;
		} else if (xattr_is(x, SFS_XATTR_REDIRECT) && !m->redirect) {
			/* directories, and metacopy files renamed by the kernel */
			r = read_value(ppath, x, &m->redirect);
			if (r < 0 && r != -ENODATA)
				return r;
		} else if (!is_dir && xattr_is(x, SFS_XATTR_METACOPY)) {
			m->metacopy = true;
		} else if (!is_dir && own_xattr_is(x, SFS_XATTR_OWN_ORIGIN)) {
			char num[32];
			ssize_t vl = lgetxattr(ppath, x, num, sizeof(num) - 1);

			m->origin = true;
			if (vl > 0) {
				num[vl] = '\0';
				m->origin_ino = strtoull(num, NULL, 10);
			}
		} else if (!is_dir && xattr_is(x, SFS_XATTR_ORIGIN)) {
			m->origin = true;
		}
	}
	if (is_dir && !m->opaque && want_opq) {
		_cleanup_free_ char *opq = NULL;
		struct stat st;

		r = sfs_path_join(path, SFS_WH_OPAQUE, &opq);
		if (r < 0)
			return r;
		if (sfs_fstatat(fs->layers[layer].fd, opq, &st, AT_SYMLINK_NOFOLLOW) == 0)
			m->opaque = true;
	}
	return 0;
}

bool sfs_whfiles_possible(const struct sfs_node *dir, unsigned layer)
{
	uint64_t bit = layer < 64 ? 1ull << layer : 0;

	if (!bit || !dir || !(__atomic_load_n(&dir->whfile_known, __ATOMIC_RELAXED) & bit))
		return true;
	return __atomic_load_n(&dir->whfile_present, __ATOMIC_RELAXED) & bit;
}

/* Does ".wh.NAME" exist in dir of layer? */
static bool has_whname(struct sfs_fs *fs, unsigned layer, const char *dir,
		       const char *name)
{
	char whn[NAME_MAX + SFS_WH_PREFIX_LEN + 1];
	_cleanup_free_ char *p = NULL;
	struct stat st;

	if (sfs_whiteout_name(name, whn, sizeof(whn)) < 0)
		return false;
	if (sfs_path_join(dir, whn, &p) < 0)
		return false;
	return sfs_fstatat(fs->layers[layer].fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       !S_ISDIR(st.st_mode);
}

static int add_lent(struct lookup_ctx *c, unsigned layer, char *path,
		    const struct stat *st)
{
	struct sfs_found *f = c->f;

	if (f->n_lower == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 2;
		struct sfs_lent *l = realloc(f->lower, cap * sizeof(*l));

		if (!l) {
			free(path);
			return -ENOMEM;
		}
		f->lower = l;
		c->cap = cap;
	}
	f->lower[f->n_lower++] = (struct sfs_lent){
		.layer = layer, .path = path, .ino = st->st_ino, .dev = st->st_dev,
		.size = st->st_size,
	};
	return 0;
}

/* A redirect found on a directory applies to every layer below it. */
static int apply_redirect(struct lookup_ctx *c, char *redirect)
{
	char *slash;

	if (redirect[0] != '/') {
		/* relative: a name in the same directory (of this layer) */
		free(c->redir_name);
		c->redir_name = redirect;
		return 0;
	}
	free(c->redir_dir);
	free(c->redir_name);
	c->redir_dir = c->redir_name = NULL;
	slash = strrchr(redirect, '/');
	if (slash == redirect) {
		c->redir_dir = strdup(".");
	} else {
		*slash = '\0';
		c->redir_dir = strdup(redirect + 1);
	}
	c->redir_name = strdup(slash + 1);
	free(redirect);
	if (!c->redir_dir || !c->redir_name)
		return -ENOMEM;
	return 0;
}

/* Handle an entry found at path in layer (st its stat). */
static int found_entry(struct lookup_ctx *c, unsigned layer, char *path,
		       const struct stat *st)
{
	struct sfs_found *f = c->f;
	struct markers m = { 0 };
	bool is_dir = S_ISDIR(st->st_mode);
	int r;

	if (c->found && S_ISDIR(f->st.st_mode) != is_dir) {
		/* A non-directory below a directory (or the reverse) ends
		 * the merge; it is not part of this entry. */
		free(path);
		c->stop = true;
		return 0;
	}
	if (c->found && !is_dir && (st->st_mode & S_IFMT) != (f->st.st_mode & S_IFMT)) {
		free(path);
		c->stop = true;
		return 0;
	}
	if (is_dir) {
		r = read_markers(c->fs, layer, path, true, true, &m);
		if (r < 0) {
			free(path);
			return r;
		}
	}
	if (!c->found) {
		c->found = true;
		c->top_layer = layer;
		f->st = *st;
	} else if (!is_dir) {
		c->stop = true; /* the origin of a copied-up file */
	}
	r = add_lent(c, layer, path, st);
	if (r < 0) {
		free(m.redirect);
		return r;
	}
	if (!is_dir)
		c->stop = true;
	if (m.opaque) {
		c->stop = true;
		if (f->n_lower == 1 && c->top_layer == layer)
			f->opaque = true;
	}
	if (m.redirect)
		return apply_redirect(c, m.redirect);
	return 0;
}

/* The parent's entry in layer, or NULL. */
static const struct sfs_lent *parent_lent(const struct sfs_node *parent, unsigned layer)
{
	for (unsigned i = 0; i < parent->n_lower; i++)
		if (parent->lower[i].layer == layer)
			return &parent->lower[i];
	return NULL;
}

/*
 * A redirect names a path from the layer root, which nothing has checked
 * yet: walk it one component at a time, as overlayfs does, without
 * following symlinks.  A missing component: not in this layer (and a
 * ".wh." file for it hides it below too).  A whiteout or a non-directory
 * cuts the path for this layer and every layer below.  An opaque component
 * still lets this layer hold the entry, but hides the layers below.  A
 * component that carries a redirect itself moves the path for the layers
 * below: *below gets the rewritten directory path (malloc'd), else NULL.
 * 1: the directory is there; 0: not in this layer.
 */
static int redirect_walk(struct lookup_ctx *c, unsigned layer, const char *dir,
			 char **below)
{
	struct sfs_fs *fs = c->fs;
	char path[PATH_MAX], moved[PATH_MAX];
	size_t len = 0;
	bool redirected = false;
	const char *p = dir;
	int r;

	*below = NULL;
	if (strcmp(dir, ".") == 0)
		return 1;
	moved[0] = '\0';
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t n = e - p, plen = len, off;
		char name[NAME_MAX + 1];
		struct markers m = { 0 };
		struct stat st;

		if (n == 0) {
			p = *e ? e + 1 : e;
			continue;
		}
		if (len + n + 2 > sizeof(path))
			return -ENAMETOOLONG;
		if (len)
			path[len++] = '/';
		memcpy(path + len, p, n);
		len += n;
		path[len] = '\0';
		if (sfs_fstatat(fs->layers[layer].fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			if (n > NAME_MAX)
				return 0;
			memcpy(name, p, n);
			name[n] = '\0';
			path[plen] = '\0';
			if (has_whname(fs, layer, plen ? path : ".", name))
				c->stop = true;
			return 0;
		}
		if (!S_ISDIR(st.st_mode) || sfs_is_whiteout_stat(&st)) {
			c->stop = true;
			return 0;
		}
		r = read_markers(fs, layer, path, true, true, &m);
		if (r < 0)
			return r;
		if (m.opaque)
			c->stop = true;
		/* where this component's directory is in the layers below:
		 * moved holds its parent's, the component is added or, moved
		 * itself, replaced by its redirect */
		off = strlen(moved);
		if (m.redirect && m.redirect[0] == '/') {
			redirected = true;
			off = 0;
			r = snprintf(moved, sizeof(moved), "%s", m.redirect + 1);
		} else {
			redirected |= m.redirect != NULL;
			r = snprintf(moved + off, sizeof(moved) - off, "%s%.*s", off ? "/" : "",
				     m.redirect ? (int)strlen(m.redirect) : (int)n,
				     m.redirect ? m.redirect : p);
		}
		if (r >= 0)
			r += off;
		free(m.redirect);
		if (r < 0 || (size_t)r >= sizeof(moved))
			return -ENAMETOOLONG;
		p = *e ? e + 1 : e;
	}
	if (redirected) {
		*below = strdup(moved[0] ? moved : ".");
		if (!*below)
			return -ENOMEM;
	}
	return 1;
}

/* Look name up in dir of one lower layer. */
static int lookup_in(struct lookup_ctx *c, unsigned layer, const char *dir, const char *name)
{
	struct sfs_fs *fs = c->fs;
	char *path;
	struct stat st;
	int r;

	r = sfs_path_join(dir, name, &path);
	if (r < 0)
		return r;
	if (sfs_fstatat(fs->layers[layer].fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		free(path);
		if (r == -ENOENT || r == -ENOTDIR) {
			if ((c->redir_dir || sfs_whfiles_possible(c->parent, layer)) &&
			    has_whname(fs, layer, dir, name))
				c->stop = true;
			return 0;
		}
		return r;
	}
	if (sfs_is_whiteout_stat(&st)) {
		free(path);
		c->stop = true;
		return 0;
	}
	return found_entry(c, layer, path, &st);
}

static int lookup_lower(struct lookup_ctx *c, unsigned layer)
{
	const char *name = c->redir_name ? c->redir_name : c->name;
	_cleanup_free_ char *below = NULL;
	char *dir;
	int r;

	if (!c->redir_dir) {
		const struct sfs_lent *pl = parent_lent(c->parent, layer);

		return pl ? lookup_in(c, layer, pl->path, name) : 0;
	}
	dir = c->redir_dir;
	r = redirect_walk(c, layer, dir, &below);
	if (r > 0)
		r = lookup_in(c, layer, dir, name);
	/* The layers below follow a redirect met on the way, unless the entry
	 * itself was moved from elsewhere (an absolute redirect of its own). */
	if (r >= 0 && below && c->redir_dir == dir) {
		free(c->redir_dir);
		c->redir_dir = steal_pointer(&below);
	}
	return r;
}

static int lookup_upper(struct lookup_ctx *c)
{
	struct sfs_fs *fs = c->fs;
	struct sfs_found *f = c->f;
	_cleanup_free_ char *dir = NULL, *path = NULL;
	struct markers m = { 0 };
	struct stat st;
	int r;

	r = sfs_node_upper_path(c->parent, &dir);
	if (r < 0)
		return r;
	r = sfs_path_join(dir, c->name, &path);
	if (r < 0)
		return r;
	if (sfs_fstatat(fs->upper->fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		if (r != -ENOENT)
			return r;
		if (sfs_whfiles_possible(c->parent, 0) && has_whname(fs, 0, dir, c->name))
			return -ENOENT;
		return 0;
	}
	if (sfs_is_whiteout_stat(&st))
		return -ENOENT;
	c->found = true;
	c->top_layer = 0;
	f->st = st;
	f->in_upper = true;
	/* Under a parent without lower layers, a directory can still carry a
	 * redirect (it was moved there), though being opaque means nothing. */
	r = read_markers(fs, 0, path, S_ISDIR(st.st_mode), c->parent->n_lower > 0, &m);
	if (r < 0)
		return r;
	if (S_ISDIR(st.st_mode)) {
		f->opaque = m.opaque;
		c->stop = m.opaque;
		if (m.redirect)
			return apply_redirect(c, m.redirect);
		return 0;
	}
	f->metacopy = m.metacopy;
	f->copied_up = m.origin || m.metacopy;
	f->origin_ino = m.origin_ino;
	if (m.metacopy && m.redirect) {
		r = apply_redirect(c, m.redirect);
		if (r < 0)
			return r;
	} else {
		free(m.redirect);
	}
	/* Only a metacopy file needs what is below: its data, at its name
	 * in the parent's lower directories or where its redirect says (a
	 * parent made in the upper layer has none).  (Whether anything
	 * else is below matters only to removals and renames, which ask
	 * sfs_lower_exists().) */
	c->stop = !m.metacopy || (c->parent->n_lower == 0 && !c->redir_dir);
	return 0;
}

bool sfs_lower_exists(struct sfs_fs *fs, struct sfs_node *parent, const char *name)
{
	for (unsigned i = 0; i < parent->n_lower; i++) {
		const struct sfs_lent *pl = &parent->lower[i];
		_cleanup_free_ char *path = NULL;
		struct stat st;

		if (sfs_path_join(pl->path, name, &path) < 0)
			return true; /* when in doubt, hide it */
		if (sfs_fstatat(fs->layers[pl->layer].fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return !sfs_is_whiteout_stat(&st);
		if (errno != ENOENT && errno != ENOTDIR)
			return true;
		if (has_whname(fs, pl->layer, pl->path, name))
			return false;
	}
	return false;
}

static ino_t found_ino(struct sfs_fs *fs, const struct sfs_found *f)
{
	const struct sfs_lent *origin = NULL;

	if (!S_ISDIR(f->st.st_mode) && f->in_upper && f->origin_ino)
		return f->origin_ino;
	if (S_ISDIR(f->st.st_mode)) {
		if (f->n_lower > 0)
			origin = &f->lower[f->n_lower - 1];
	} else if (f->n_lower > 0 && (!f->in_upper || f->copied_up)) {
		origin = &f->lower[0];
	}
	if (!origin)
		return sfs_xino(fs, 0, f->st.st_ino);
	return sfs_xino(fs, origin->layer, origin->ino);
}

/* What follows from the entries found: inode number, link group, index. */
static void finish_found(struct sfs_fs *fs, struct sfs_found *ret)
{
	/* An upper file that says it was copied up but has nothing below
	 * (the lower changed): it stands alone. */
	if (ret->metacopy && ret->n_lower == 0)
		ret->metacopy = false;
	ret->st_ino = found_ino(fs, ret);
	/* A name of a lower inode with several names: lower, or copied up
	 * with the group's copy in the index (index.c). */
	if (!S_ISDIR(ret->st.st_mode) && ret->st.st_nlink > 1) {
		if (!ret->in_upper && ret->n_lower > 0) {
			ret->lower_group = true;
		} else if (ret->copied_up && atomic_load(&fs->index_data_used)) {
			char iname[64];
			struct stat ist;

			sfs_index_name(ret->st_ino, iname, sizeof(iname));
			ret->lower_group = sfs_fstatat(fs->indexfd, iname, &ist, AT_SYMLINK_NOFOLLOW) == 0;
		}
	}
	/* A lower hard link whose inode was copied up under another name:
	 * that copy, in the index, is what this name shows now. */
	if (ret->lower_group && !ret->in_upper && fs->upper && S_ISREG(ret->st.st_mode) &&
	    atomic_load(&fs->index_data_used)) {
		char iname[64];
		struct stat ist;

		sfs_index_name(ret->st_ino, iname, sizeof(iname));
		if (sfs_fstatat(fs->indexfd, iname, &ist, AT_SYMLINK_NOFOLLOW) == 0) {
			ret->index_hit = true;
			ret->st = ist;
		}
	}
}

int sfs_lookup_name(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		    struct sfs_found *ret)
{
	struct lookup_ctx c = { .fs = fs, .parent = parent, .name = name, .f = ret };
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (sfs_name_reserved(name))
		return -ENOENT;
	if (fs->upper && parent->in_upper) {
		r = lookup_upper(&c);
		if (r < 0)
			goto out;
	}
	for (unsigned l = fs->upper ? 1 : 0; l < fs->n_layers && !c.stop; l++) {
		r = lookup_lower(&c, l);
		if (r < 0)
			goto out;
	}
	if (!c.found) {
		r = -ENOENT;
		goto out;
	}
	finish_found(fs, ret);
	r = 0;
out:
	free(c.redir_dir);
	free(c.redir_name);
	if (r < 0) {
		sfs_lents_free(ret->lower, ret->n_lower);
		ret->lower = NULL;
		ret->n_lower = 0;
	}
	return r;
}

static void fill_entry(struct sfs_fs *fs, struct sfs_node *n, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = sfs_node_ino(fs, n);
	e->generation = n->generation;
	e->attr = *st;
	e->attr_timeout = sfs_attr_timeout(fs, n, &e->attr);
	e->entry_timeout = fs->timeout;
}

/* Take one kernel reference on n, which the caller holds a temporary
 * reference to (dropped here). */
static void take_lookup_ref(struct sfs_fs *fs, struct sfs_node *n)
{
	pthread_mutex_lock(&fs->itable_lock);
	if (n->nlookup++ == 0)
		n->refs++;
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_node_unref(fs, n);
}

static int new_node(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		    struct sfs_found *f, struct sfs_node **ret)
{
	struct sfs_node *n, *other;

	n = sfs_node_new(fs, f->st.st_mode);
	if (!n)
		return -ENOMEM;
	n->name = strdup(name);
	if (!n->name) {
		sfs_node_free(n);
		return -ENOMEM;
	}
	n->in_upper = f->in_upper;
	n->opaque = f->opaque;
	n->metacopy = f->metacopy;
	n->index_hit = f->index_hit;
	n->lower_group = f->lower_group;
	n->st_ino = f->st_ino;
	n->lower = steal_pointer(&f->lower);
	n->n_lower = f->n_lower;
	f->n_lower = 0;

	pthread_mutex_lock(&fs->itable_lock);
	other = sfs_itable_find(fs, parent, name);
	if (other) {
		/* Another thread raced us to it: use theirs. */
		other->refs++;
		pthread_mutex_unlock(&fs->itable_lock);
		sfs_node_free(n);
		*ret = other;
		return 0;
	}
	sfs_itable_insert(fs, n, parent, name);
	if (n->lower_group)
		sfs_group_insert(fs, n);
	n->refs++; /* the caller's temporary reference */
	pthread_mutex_unlock(&fs->itable_lock);
	*ret = n;
	return 0;
}

/*
 * The readdir fast path: the merge already says that name is a
 * non-directory held by one lower layer only, so only that layer is asked.
 */
static int lookup_single_lower(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
			       unsigned layer, struct sfs_found *ret)
{
	const struct sfs_lent *pl = parent_lent(parent, layer);
	char *path;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!pl)
		return sfs_lookup_name(fs, parent, name, ret);
	r = sfs_path_join(pl->path, name, &path);
	if (r < 0)
		return r;
	if (sfs_fstatat(fs->layers[layer].fd, path, &ret->st, AT_SYMLINK_NOFOLLOW) < 0) {
		free(path);
		return -ENOENT;
	}
	if (S_ISDIR(ret->st.st_mode) || sfs_is_whiteout_stat(&ret->st)) {
		/* changed since the listing: the slow way */
		free(path);
		return sfs_lookup_name(fs, parent, name, ret);
	}
	ret->lower = calloc(1, sizeof(*ret->lower));
	if (!ret->lower) {
		free(path);
		return -ENOMEM;
	}
	ret->lower[0] = (struct sfs_lent){ .layer = layer, .path = path,
					   .ino = ret->st.st_ino, .dev = ret->st.st_dev,
					   .size = ret->st.st_size };
	ret->n_lower = 1;
	finish_found(fs, ret);
	return 0;
}

int sfs_lookup_entry(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		     struct fuse_entry_param *e)
{
	return sfs_lookup_entry_hint(fs, parent, name, -1, e);
}

int sfs_lookup_entry_hint(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
			  int single_lower, struct fuse_entry_param *e)
{
	struct sfs_node *n;
	struct stat st;
	int r = 0;

	pthread_mutex_lock(&fs->itable_lock);
	n = sfs_itable_find(fs, parent, name);
	if (n)
		n->refs++;
	pthread_mutex_unlock(&fs->itable_lock);

	if (!n) {
		struct sfs_found f;

		if (single_lower >= 0)
			r = lookup_single_lower(fs, parent, name, single_lower, &f);
		else
			r = sfs_lookup_name(fs, parent, name, &f);
		if (r < 0)
			return r;
		st = f.st;
		r = new_node(fs, parent, name, &f, &n);
		sfs_lents_free(f.lower, f.n_lower);
		if (r < 0)
			return r;
		/* the lookup just stat'ed the top entry: no need to again */
		if (n->metacopy)
			r = sfs_node_stat(fs, n, &st);
		else
			sfs_stat_finish(fs, n, -1, &st);
	} else {
		r = sfs_node_stat(fs, n, &st);
	}
	if (r < 0) {
		sfs_node_unref(fs, n);
		return r;
	}
	fill_entry(fs, n, &st, e);
	take_lookup_ref(fs, n);
	return 0;
}

void sfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *p = sfs_node_from_ino(fs, parent);
	struct fuse_entry_param e;
	int r;

	uint64_t start = sfs_now_ns();

	pthread_rwlock_rdlock(&fs->tree_lock);
	r = sfs_lookup_entry_hint(fs, p, name, sfs_listing_layer(fs, p, name), &e);
	pthread_rwlock_unlock(&fs->tree_lock);
	/* A directory whose lookup waited (for the disk, most likely) is
	 * cold: its listing will read ahead below it (prefetch.c). */
	if (r == 0 && S_ISDIR(e.attr.st_mode) && sfs_now_ns() - start > SFS_LOOKUP_COLD_NS)
		atomic_store_explicit(&sfs_node_from_ino(fs, e.ino)->looked_up_cold, true,
				      memory_order_relaxed);
	if (r == -ENOENT && fs->timeout > 0) {
		/* Negative entry: valid as long as every change goes
		 * through this daemon. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	fuse_reply_entry(req, &e);
}

int sfs_entry_for_tmpfile(struct sfs_fs *fs, struct sfs_node *parent, int fd,
			  struct fuse_entry_param *e)
{
	struct sfs_found f = { .in_upper = true };
	struct sfs_node *n;

	if (fstat(fd, &f.st) < 0)
		return -errno;
	finish_found(fs, &f);
	n = sfs_node_new(fs, f.st.st_mode);
	if (!n)
		return -ENOMEM;
	n->name = strdup("");
	if (!n->name) {
		sfs_node_free(n);
		return -ENOMEM;
	}
	/* outside the namespace, as an open file removed: its open handle
	 * holds it, and linkat(2) gives it a name (dir.c) */
	n->in_upper = true;
	n->unlinked = true;
	n->tmpfile = true;
	n->st_ino = f.st_ino;
	pthread_mutex_lock(&fs->itable_lock);
	n->parent = parent;
	parent->refs++;
	n->refs++; /* the temporary reference take_lookup_ref drops */
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_stat_finish(fs, n, fd, &f.st);
	fill_entry(fs, n, &f.st, e);
	take_lookup_ref(fs, n);
	return 0;
}

int sfs_entry_for_new(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		      const char *upath, bool opaque, struct fuse_entry_param *e)
{
	struct sfs_node *stale, *n;
	struct sfs_found f = { .in_upper = true, .opaque = opaque };
	int r;

	/* A node left hashed under this name is gone now. */
	pthread_mutex_lock(&fs->itable_lock);
	stale = sfs_itable_find(fs, parent, name);
	if (stale) {
		sfs_itable_remove(fs, stale);
		stale->unlinked = true;
	}
	pthread_mutex_unlock(&fs->itable_lock);
	/* Made just now in the upper layer: no markers and nothing below that
	 * shows (a whiteout or an opaque directory hides it), so one stat
	 * says all that lookup would. */
	if (sfs_fstatat(fs->upper->fd, upath, &f.st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	finish_found(fs, &f);
	r = new_node(fs, parent, name, &f, &n);
	if (r < 0)
		return r;
	/* a new directory holds no ".wh.NAME" files: lookups need not probe */
	if (S_ISDIR(f.st.st_mode))
		__atomic_fetch_or(&n->whfile_known, 1ull, __ATOMIC_RELAXED);
	sfs_stat_finish(fs, n, -1, &f.st);
	fill_entry(fs, n, &f.st, e);
	take_lookup_ref(fs, n);
	return 0;
}
