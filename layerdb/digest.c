/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * digest.c - XXH3-128 digests: of buffers, of file contents, of image chains,
 * and the canonical identity of a layer directory.
 *
 * Canonical bytes: XXH128_canonicalFromHash(), i.e. big-endian high64||low64,
 * printed as 32 lowercase hex digits.
 *
 * Canonical layer serialisation, version 1 (the input of ldb_digest_tree()):
 *
 *   "strata-layer-v1\n"
 *   then for each entry below the root, depth-first, siblings in strcmp()
 *   order of their *logical* names (".wh.x" and a 0/0 char device "x" are
 *   both the whiteout "x"):
 *     u8 'E', str path ("a/b"), u8 type
 *     type 'w' (whiteout): nothing more
 *     otherwise: u32 mode & 07777, u32 uid, u32 gid, then
 *       'd': u8 opaque (any of trusted.overlay.opaque, user.overlay.opaque,
 *            user.fuseoverlayfs.opaque = "y", or a .wh..wh..opq child)
 *       'f': u64 size, 16 bytes content digest
 *       'h': str path of the first name of the same inode (hard link)
 *       'l': str target
 *       'c','b': u32 major, u32 minor
 *       'p','s': nothing
 *       then u32 count and, sorted by name, str name, str value of every
 *       xattr except overlay/fuse-overlayfs/stratafs private ones and
 *       security.selinux (host policy, not content).
 *   A regular file or directory carrying user.containers.override_stat (or
 *   user.fuseoverlayfs.override_stat) "uid:gid:0mode[:type]" is hashed with
 *   that owner and mode, and the xattr itself is not hashed: a tar added by
 *   an unprivileged user (who cannot chown) gets the id it gets under root,
 *   as long as its symlinks belong to the user (they cannot carry the xattr).
 *   Integers are big-endian; str is u32 length + bytes.
 * The root directory's own attributes are not part of the identity: they
 * belong to whoever created the directory (a container's upper, a tmp dir).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <xxhash.h>

#include "ldb-internal.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

void ldb_digest_hex(const struct ldb_digest *d, char ret[LDB_DIGEST_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < sizeof(d->bytes); i++) {
		ret[2 * i] = hex[d->bytes[i] >> 4];
		ret[2 * i + 1] = hex[d->bytes[i] & 0xf];
	}
	ret[LDB_DIGEST_HEX_LEN] = '\0';
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ldb_digest_parse(const char *s, struct ldb_digest *ret)
{
	struct ldb_digest d;

	if (strncmp(s, LDB_ID_PREFIX, strlen(LDB_ID_PREFIX)) == 0)
		s += strlen(LDB_ID_PREFIX);
	if (strlen(s) != LDB_DIGEST_HEX_LEN)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(d.bytes); i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		d.bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	*ret = d;
	return 0;
}

static void from_hash(XXH128_hash_t h, struct ldb_digest *ret)
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(ret->bytes, c.digest, sizeof(ret->bytes));
}

void ldb_digest_buffer(const void *p, size_t n, struct ldb_digest *ret)
{
	from_hash(XXH3_128bits(p, n), ret);
}

void ldb_digest_chain(const struct ldb_digest *parent, const struct ldb_digest *layer,
		      struct ldb_digest *ret)
{
	static const char tag[] = "strata-chain-v1";
	uint8_t buf[sizeof(tag) + 32] = { 0 };

	memcpy(buf, tag, sizeof(tag));
	if (parent)
		memcpy(buf + sizeof(tag), parent->bytes, 16);
	memcpy(buf + sizeof(tag) + 16, layer->bytes, 16);
	ldb_digest_buffer(buf, sizeof(buf), ret);
}

static void statep(XXH3_state_t **s)
{
	if (*s)
		XXH3_freeState(*s);
}

int ldb_digest_fd(int fd, struct ldb_digest *ret, uint64_t *ret_size)
{
	_cleanup_(statep) XXH3_state_t *st = XXH3_createState();
	_cleanup_free_ char *buf = malloc(1 << 17);
	uint64_t total = 0;

	if (!st || !buf)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 17);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		XXH3_128bits_update(st, buf, (size_t)n);
		total += (uint64_t)n;
	}
	from_hash(XXH3_128bits_digest(st), ret);
	if (ret_size)
		*ret_size = total;
	return 0;
}

bool ldb__is_opaque_xattr(const char *name, const char *value, size_t len)
{
	if (strcmp(name, "trusted.overlay.opaque") != 0 &&
	    strcmp(name, "user.overlay.opaque") != 0 &&
	    strcmp(name, "user.fuseoverlayfs.opaque") != 0)
		return false;
	return len >= 1 && value[0] == 'y';
}

bool ldb__is_private_xattr(const char *name)
{
	static const char *const prefixes[] = {
		"trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.",
		"user.stratafs.", "security.selinux",
	};

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* ---- canonical walk ------------------------------------------------------- */

struct hardlink {
	dev_t dev;
	ino_t ino;
	char *path;
	struct ldb_digest digest;
};

struct walk_ctx {
	XXH3_state_t *st;
	ldb__entry_cb cb;
	ldb_progress_cb progress;
	void *payload;
	struct ldb_progress prog;
	struct hardlink *links;
	size_t n_links;
	char path[PATH_MAX];
};

struct child {
	char *logical;
	char *raw;
	bool whiteout;
};

static void put(struct walk_ctx *c, const void *p, size_t n)
{
	XXH3_128bits_update(c->st, p, n);
}

static void put_u8(struct walk_ctx *c, uint8_t v)
{
	put(c, &v, 1);
}

static void put_u32(struct walk_ctx *c, uint32_t v)
{
	uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

	put(c, b, 4);
}

static void put_u64(struct walk_ctx *c, uint64_t v)
{
	put_u32(c, (uint32_t)(v >> 32));
	put_u32(c, (uint32_t)v);
}

static void put_str(struct walk_ctx *c, const char *s, size_t n)
{
	put_u32(c, (uint32_t)n);
	put(c, s, n);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_child(const void *a, const void *b)
{
	return strcmp(((const struct child *)a)->logical, ((const struct child *)b)->logical);
}

/* Path usable with l*xattr() for @name inside @dirfd, without following it. */
static void proc_path(char *buf, size_t n, int dirfd, const char *name)
{
	snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, name);
}

/*
 * Hash the xattrs of @name in @dirfd; sets *ret_opaque if an opaque marker is
 * present.  Filesystems without xattr support count as "no xattrs".
 */
static int put_xattrs(struct walk_ctx *c, int dirfd, const char *name, bool *ret_opaque)
{
	_cleanup_free_ char *list = NULL;
	_cleanup_free_ char **names = NULL;
	char p[PATH_MAX + 64];
	ssize_t len;
	size_t n = 0, keep = 0;

	proc_path(p, sizeof(p), dirfd, name);
	len = llistxattr(p, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
		len = 0;
	if (len < 0)
		return -errno;
	if (len > 0) {
		list = malloc((size_t)len);
		if (!list)
			return -ENOMEM;
		len = llistxattr(p, list, (size_t)len);
		if (len < 0)
			return -errno;
	}
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1)
		n++;
	names = calloc(n + 1, sizeof(char *));
	if (!names)
		return -ENOMEM;
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		char v[8];
		ssize_t vl;

		if (ldb__is_private_xattr(list + i)) {
			vl = lgetxattr(p, list + i, v, sizeof(v));
			if (vl > 0 && ldb__is_opaque_xattr(list + i, v, (size_t)vl) && ret_opaque)
				*ret_opaque = true;
			continue;
		}
		if (ldb__is_override_xattr(list + i))
			continue; /* stands for the owner and mode, hashed as such */
		names[keep++] = list + i;
	}
	qsort(names, keep, sizeof(char *), cmp_str);
	put_u32(c, (uint32_t)keep);
	for (size_t i = 0; i < keep; i++) {
		_cleanup_free_ char *val = NULL;
		ssize_t vl = lgetxattr(p, names[i], NULL, 0);

		if (vl < 0)
			return -errno;
		val = malloc((size_t)vl + 1);
		if (!val)
			return -ENOMEM;
		vl = lgetxattr(p, names[i], val, (size_t)vl);
		if (vl < 0)
			return -errno;
		put_str(c, names[i], strlen(names[i]));
		put_str(c, val, (size_t)vl);
	}
	return 0;
}

static void free_children(struct child *ch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ch[i].logical);
		free(ch[i].raw);
	}
	free(ch);
}

/* List @dirfd: children sorted by logical name, and whether .wh..wh..opq is there. */
static int list_children(int dirfd, struct child **ret, size_t *ret_n, bool *ret_opq)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct child *ch = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	*ret_opq = false;
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		bool wh = false;

		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		if (strcmp(nm, WH_OPAQUE) == 0) {
			*ret_opq = true;
			continue;
		}
		if (strncmp(nm, WH_PREFIX, strlen(WH_PREFIX)) == 0 && nm[strlen(WH_PREFIX)]) {
			wh = true;
			nm += strlen(WH_PREFIX);
		} else if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
				wh = true;
		}
		if (n == cap) {
			struct child *nc = realloc(ch, (cap = cap ? cap * 2 : 16) * sizeof(*ch));

			if (!nc) {
				free_children(ch, n);
				return -ENOMEM;
			}
			ch = nc;
		}
		ch[n].logical = strdup(nm);
		ch[n].raw = strdup(de->d_name);
		ch[n].whiteout = wh;
		n++;
		if (!ch[n - 1].logical || !ch[n - 1].raw) {
			free_children(ch, n);
			return -ENOMEM;
		}
	}
	if (errno) {
		int r = -errno;

		free_children(ch, n);
		return r;
	}
	if (n)
		qsort(ch, n, sizeof(*ch), cmp_child);
	*ret = ch;
	*ret_n = n;
	return 0;
}

static int emit(struct walk_ctx *c, const struct ldb__entry *e)
{
	c->prog.files++;
	if (e->type == 'f')
		c->prog.bytes += e->size;
	if (c->progress && (c->prog.files & 63) == 0)
		c->progress(&c->prog, c->payload);
	return c->cb ? c->cb(e, c->payload) : 0;
}

static int walk_dir(struct walk_ctx *c, int dirfd, size_t plen, const struct stat *dst);

static int walk_regular(struct walk_ctx *c, int dirfd, const char *raw, const struct stat *st,
			struct ldb__entry *e)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	if (st->st_nlink > 1) {
		for (size_t i = 0; i < c->n_links; i++) {
			if (c->links[i].dev != st->st_dev || c->links[i].ino != st->st_ino)
				continue;
			e->digest = c->links[i].digest;
			put_u8(c, 'h');
			put_u32(c, st->st_mode & 07777);
			put_u32(c, st->st_uid);
			put_u32(c, st->st_gid);
			put_str(c, c->links[i].path, strlen(c->links[i].path));
			return 1; /* a hard link: xattrs belong to the first name */
		}
	}
	r = fd = neg_errno(openat(dirfd, raw, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
	if (r < 0)
		return r;
	r = ldb_digest_fd(fd, &e->digest, &e->size);
	if (r < 0)
		return r;
	put_u8(c, 'f');
	put_u32(c, st->st_mode & 07777);
	put_u32(c, st->st_uid);
	put_u32(c, st->st_gid);
	put_u64(c, e->size);
	put(c, e->digest.bytes, 16);
	if (st->st_nlink > 1) {
		struct hardlink *nl = realloc(c->links, (c->n_links + 1) * sizeof(*nl));

		if (!nl)
			return -ENOMEM;
		c->links = nl;
		nl[c->n_links] = (struct hardlink){ st->st_dev, st->st_ino, strdup(e->path + 1),
						    e->digest };
		if (!nl[c->n_links].path)
			return -ENOMEM;
		c->n_links++;
	}
	return 0;
}

static int walk_child(struct walk_ctx *c, int dirfd, size_t plen, const struct child *ch)
{
	struct ldb__entry e = { .path = c->path };
	size_t nlen = strlen(ch->logical);
	struct stat st;
	char target[PATH_MAX];
	ssize_t tl;
	int r;

	if (plen + 1 + nlen >= sizeof(c->path))
		return -ENAMETOOLONG;
	c->path[plen] = '/';
	memcpy(c->path + plen + 1, ch->logical, nlen + 1);
	put_u8(c, 'E');
	put_str(c, c->path + 1, plen + nlen);
	if (ch->whiteout) {
		put_u8(c, 'w');
		e.type = 'w';
		return emit(c, &e);
	}
	r = neg_errno(fstatat(dirfd, ch->raw, &st, AT_SYMLINK_NOFOLLOW));
	if (r < 0)
		return r;
	ldb__override_apply(dirfd, ch->raw, &st);
	if (S_ISDIR(st.st_mode)) {
		_cleanup_close_ int fd = -EBADF;

		r = fd = neg_errno(openat(dirfd, ch->raw,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
		if (r < 0)
			return r;
		return walk_dir(c, fd, plen + 1 + nlen, &st);
	}
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		e.type = 'f';
		r = walk_regular(c, dirfd, ch->raw, &st, &e);
		if (r < 0)
			return r;
		if (r > 0)
			return emit(c, &e);
		break;
	case S_IFLNK:
		e.type = 'l';
		tl = readlinkat(dirfd, ch->raw, target, sizeof(target));
		if (tl < 0)
			return -errno;
		put_u8(c, 'l');
		put_u32(c, st.st_mode & 07777);
		put_u32(c, st.st_uid);
		put_u32(c, st.st_gid);
		put_str(c, target, (size_t)tl);
		break;
	case S_IFCHR:
	case S_IFBLK:
		e.type = S_ISCHR(st.st_mode) ? 'c' : 'b';
		put_u8(c, (uint8_t)e.type);
		put_u32(c, st.st_mode & 07777);
		put_u32(c, st.st_uid);
		put_u32(c, st.st_gid);
		put_u32(c, major(st.st_rdev));
		put_u32(c, minor(st.st_rdev));
		break;
	default:
		e.type = S_ISFIFO(st.st_mode) ? 'p' : 's';
		put_u8(c, (uint8_t)e.type);
		put_u32(c, st.st_mode & 07777);
		put_u32(c, st.st_uid);
		put_u32(c, st.st_gid);
		break;
	}
	r = put_xattrs(c, dirfd, ch->raw, NULL);
	if (r < 0)
		return r;
	return emit(c, &e);
}

static bool dir_is_opaque(int dirfd)
{
	static const char *const names[] = {
		"trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque",
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		char v[8];
		ssize_t n = fgetxattr(dirfd, names[i], v, sizeof(v));

		if (n > 0 && ldb__is_opaque_xattr(names[i], v, (size_t)n))
			return true;
	}
	return false;
}

static int walk_dir(struct walk_ctx *c, int dirfd, size_t plen, const struct stat *dst)
{
	struct child *ch = NULL;
	size_t n = 0;
	bool opq = false;
	int r;

	r = list_children(dirfd, &ch, &n, &opq);
	if (r < 0)
		return r;
	if (dst) {
		struct ldb__entry e = { .path = c->path, .type = 'd' };

		put_u8(c, 'd');
		put_u32(c, dst->st_mode & 07777);
		put_u32(c, dst->st_uid);
		put_u32(c, dst->st_gid);
		put_u8(c, opq || dir_is_opaque(dirfd));
		r = put_xattrs(c, dirfd, ".", NULL);
		if (r < 0)
			goto out;
		r = emit(c, &e);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = walk_child(c, dirfd, plen, &ch[i]);
		if (r < 0)
			goto out;
	}
	c->path[plen] = '\0';
	r = 0;
out:
	free_children(ch, n);
	return r;
}

int ldb__digest_tree(int dirfd, struct ldb_digest *ret, ldb__entry_cb cb,
		     ldb_progress_cb progress, void *payload)
{
	_cleanup_(statep) XXH3_state_t *st = XXH3_createState();
	_cleanup_close_ int fd = -EBADF;
	struct walk_ctx c = {
		.st = st, .cb = cb, .progress = progress, .payload = payload,
		.prog = { .phase = "digest" },
	};
	static const char magic[] = "strata-layer-v1\n";
	int r;

	if (!st)
		return -ENOMEM;
	r = fd = neg_errno(openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	XXH3_128bits_reset(st);
	put(&c, magic, strlen(magic));
	r = walk_dir(&c, fd, 0, NULL);
	for (size_t i = 0; i < c.n_links; i++)
		free(c.links[i].path);
	free(c.links);
	if (r < 0)
		return r;
	if (progress)
		progress(&c.prog, payload);
	from_hash(XXH3_128bits_digest(st), ret);
	return 0;
}

int ldb_digest_tree(int dirfd, struct ldb_digest *ret)
{
	return ldb__digest_tree(dirfd, ret, NULL, NULL, NULL);
}
