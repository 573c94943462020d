/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oci-import.c - importing an image from an OCI layout, OCI archive or docker
 * archive into the store.
 *
 * Two passes, so that a bad blob stores nothing:
 *   1. verify: manifest and config were checked when read (oci.c); each layer
 *      blob is read once, its size and sha256 compared with the manifest and
 *      its decompressed stream's sha256 with the config's diff id;
 *   2. import: layers, base first, each through ldb_layer_add_fd() (which
 *      translates OCI whiteouts and refuses hostile tars) fed by a thread that
 *      hashes the blob again (so a blob changed between the passes is caught)
 *      and reports progress; a layer whose diff id the store already knows is
 *      not extracted again ("Already exists").
 * Archives are unpacked into a private work dir of the store (tmp/) first,
 * with the same path rules as layers: no absolute or ".." names; symlinks
 * (old docker archives link shared layer.tar files) are replaced by hard links
 * to their target when it stays inside.
 */
#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ldb-internal.h"

#define IO_BUF (128u << 10)

static const char *const layer_types[] = {
	"application/vnd.oci.image.layer.v1.tar",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+zstd",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	"application/vnd.docker.image.rootfs.diff.tar",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	"", /* no mediaType: read what the magic bytes say */
};

static void archive_readp(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static void short_id(const char *digest, char ret[13])
{
	snprintf(ret, 13, "%s", digest[0] ? digest + 7 : "------------");
}

static void emit(ldb_oci_cb cb, void *payload, const char *id, const char *status,
		 uint64_t done, uint64_t total)
{
	struct ldb_oci_event ev = { .id = id, .status = status, .done = done, .total = total };

	if (cb)
		cb(&ev, payload);
}

/* ---- pass 1: verify ------------------------------------------------------------- */

struct verify_ctx {
	int fd;
	int sock;           /* uncompressed stream out, for the tar scan */
	bool broken;        /* the scanner stopped reading */
	struct ldb__sha256 *blob, *diff;
	uint64_t size, total;
	int err;            /* read error */
	int rs;             /* decompression result */
	char msg[256];
	char buf[IO_BUF];
	const char *id;
	ldb_oci_cb cb;
	void *payload;
};

static la_ssize_t verify_read(struct archive *a, void *p, const void **ret)
{
	struct verify_ctx *v = p;
	ssize_t n = read(v->fd, v->buf, sizeof(v->buf));

	(void)a;
	if (n < 0) {
		v->err = -errno;
		return -1;
	}
	ldb__sha256_update(v->blob, v->buf, (size_t)n);
	v->size += (uint64_t)n;
	if (n > 0)
		emit(v->cb, v->payload, v->id, "Verifying", v->size, v->total);
	*ret = v->buf;
	return n;
}

static bool known_type(const char *mt)
{
	for (size_t i = 0; i < ELEMENTSOF(layer_types); i++)
		if (strcmp(mt, layer_types[i]) == 0)
			return true;
	return false;
}

static void send_all(struct verify_ctx *v, const void *p, size_t n)
{
	const char *c = p;

	while (!v->broken && n > 0) {
		ssize_t w = send(v->sock, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			v->broken = true;
			return;
		}
		c += w;
		n -= (size_t)w;
	}
}

/* Decompress the blob through libarchive ("raw" format): diff id, and the
 * uncompressed stream to the scanner. */
static int verify_stream(struct verify_ctx *v)
{
	_cleanup_(archive_readp) struct archive *a = archive_read_new();
	struct archive_entry *e;
	const void *buf;
	size_t len;
	la_int64_t off;
	int ar;

	if (!a)
		return -ENOMEM;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, v, NULL, verify_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto fail;
	for (;;) {
		ar = archive_read_data_block(a, &buf, &len, &off);
		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN)
			goto fail;
		ldb__sha256_update(v->diff, buf, len);
		send_all(v, buf, len);
	}
fail:
	snprintf(v->msg, sizeof(v->msg), "%s",
		 archive_error_string(a) ? archive_error_string(a) : "unreadable");
	return v->err < 0 ? v->err : -EBADMSG;
}

static void *verify_main(void *p)
{
	struct verify_ctx *v = p;
	ssize_t n;

	v->rs = verify_stream(v);
	close(v->sock);
	v->sock = -EBADF;
	/* The blob digest covers every byte, also any after the compressed stream. */
	while (v->err == 0 && (n = verify_read(NULL, v, &(const void *){ NULL })) > 0)
		;
	return NULL;
}

/* Does relative symlink target @t at @path climb above the layer root? */
static bool climbs_out(const char *path, const char *t)
{
	int depth = 0;

	for (const char *p = path; *p; p++)
		depth += *p == '/';
	for (const char *p = t; *p;) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			depth++;
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

static bool has_dotdot(const char *p)
{
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');

		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s = *e ? e + 1 : e;
	}
	return false;
}

/* The names of a layer tar, checked with the rules of archive.c before
 * anything is extracted: -EPERM for escapes, -EBADMSG for a broken tar. */
static int scan_tar(struct ldb *db, int fd, const char *blob)
{
	_cleanup_(archive_readp) struct archive *a = archive_read_new();
	struct archive_entry *e;

	if (!a)
		return -ENOMEM;
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, IO_BUF) != ARCHIVE_OK)
		return ldb__err(db, -EBADMSG, "layer blob %s: %s", blob, archive_error_string(a));
	for (;;) {
		int ar = archive_read_next_header(a, &e);
		const char *name, *hl, *sl;

		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN)
			return ldb__err(db, -EBADMSG, "layer blob %s: corrupt or truncated tar: %s",
					blob, archive_error_string(a));
		name = archive_entry_pathname(e);
		hl = archive_entry_hardlink(e);
		sl = archive_entry_symlink(e);
		if (!name || name[0] == '/')
			return ldb__err(db, -EPERM, "archive entry '%s' has an absolute path",
					name ? name : "");
		if (has_dotdot(name))
			return ldb__err(db, -EPERM, "archive entry '%s' climbs out of the layer", name);
		if (hl && (hl[0] == '/' || has_dotdot(hl)))
			return ldb__err(db, -EPERM, "hard link '%s' leads out of the layer ('%s')",
					name, hl);
		if (sl && archive_entry_filetype(e) == AE_IFLNK && sl[0] != '/' &&
		    climbs_out(name, sl))
			return ldb__err(db, -EPERM, "symlink '%s' leads out of the layer ('%s')",
					name, sl);
		for (;;) {
			const void *buf;
			size_t len;
			la_int64_t off;

			ar = archive_read_data_block(a, &buf, &len, &off);
			if (ar == ARCHIVE_EOF)
				break;
			if (ar < ARCHIVE_WARN)
				return ldb__err(db, -EBADMSG, "layer blob %s: corrupt or truncated "
						"tar: %s", blob, archive_error_string(a));
		}
	}
}

int ldb__oci_verify_layer(struct ldb *db, int dirfd, const struct ldb__oci_desc *d,
			  const char *diff_id, ldb_oci_cb cb, void *payload)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ struct verify_ctx *v = calloc(1, sizeof(*v));
	char got[LDB__SHA256_LEN + 1], gotdiff[LDB__SHA256_LEN + 1], id[13];
	int sv[2], r, rscan;
	pthread_t th;

	short_id(d->digest[0] ? d->digest : diff_id, id);
	if (!v)
		return -ENOMEM;
	if (!known_type(d->media_type))
		return ldb__err(db, -EPROTONOSUPPORT, "layer %s: unsupported media type '%s'",
				d->path, d->media_type);
	r = fd = ldb__oci_open(db, dirfd, d->path);
	if (r < 0)
		return r;
	*v = (struct verify_ctx){ .fd = fd, .blob = ldb__sha256_new(), .diff = ldb__sha256_new(),
				  .id = id, .cb = cb, .payload = payload,
				  .total = d->size > 0 ? (uint64_t)d->size : 0 };
	if (!v->blob || !v->diff) {
		r = -ENOMEM;
		goto out;
	}
	r = neg_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	if (r < 0)
		goto out;
	v->sock = sv[1];
	r = -pthread_create(&th, NULL, verify_main, v);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	db->errmsg[0] = '\0';
	rscan = scan_tar(db, sv[0], d->path);
	close(sv[0]);
	pthread_join(th, NULL);
	ldb__sha256_final(v->blob, got);
	ldb__sha256_final(v->diff, gotdiff);
	if (v->err < 0)
		r = ldb__err(db, v->err, "cannot read blob %s: %s", d->path, strerror(-v->err));
	else if (d->size >= 0 && (uint64_t)d->size != v->size)
		r = ldb__err(db, -EBADMSG, "layer blob %s: size %llu, the manifest says %lld "
			     "(truncated or changed)", d->path, (unsigned long long)v->size,
			     (long long)d->size);
	else if (d->digest[0] && strcmp(got, d->digest) != 0)
		r = ldb__err(db, -EBADMSG, "layer blob %s: digest mismatch (got %s, expected %s)",
			     d->path, got, d->digest);
	else if (v->rs < 0)
		r = ldb__err(db, -EBADMSG, "layer blob %s: corrupt compressed stream: %s",
			     d->path, v->msg);
	else if (strcmp(gotdiff, diff_id) != 0)
		r = ldb__err(db, -EBADMSG, "layer blob %s: uncompressed digest %s does not match "
			     "the config's diff id %s", d->path, gotdiff, diff_id);
	else
		r = rscan; /* its message is already in db->errmsg */
	if (r >= 0)
		emit(cb, payload, id, "Verified", v->size, v->size);
out:
	ldb__sha256_free(v->blob);
	ldb__sha256_free(v->diff);
	return r;
}

/* ---- pass 2: import ------------------------------------------------------------- */

struct feed {
	int in, out;
	struct ldb__sha256 *h;
	uint64_t done, total;
	const char *id;
	ldb_oci_cb cb;
	void *payload;
	int r;
};

/* Copy the blob into the socket, hashing it; keep hashing if the reader stops. */
static void *feed_main(void *p)
{
	struct feed *f = p;
	_cleanup_free_ char *buf = malloc(IO_BUF);
	bool broken = false;

	if (!buf) {
		f->r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(f->in, buf, IO_BUF);

		if (n < 0) {
			f->r = -errno;
			break;
		}
		if (n == 0)
			break;
		ldb__sha256_update(f->h, buf, (size_t)n);
		for (ssize_t off = 0; !broken && off < n;) {
			ssize_t w = send(f->out, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				broken = true;
				break;
			}
			off += w;
		}
		f->done += (uint64_t)n;
		emit(f->cb, f->payload, f->id, "Extracting", f->done, f->total);
	}
out:
	close(f->out);
	f->out = -EBADF;
	return NULL;
}

/* The layer with this diff id, if the store has one. */
static int layer_by_diff_id(struct ldb *db, const char *diff_id, struct ldb_digest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT id FROM layers WHERE diff_id = ? LIMIT 1", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, diff_id, -1, SQLITE_STATIC);
	r = ldb__step(db, s);
	if (r <= 0)
		return r;
	return ldb__column_digest(s, 0, ret) < 0 ? 0 : 1;
}

/* An image for a layer the store already has (no extraction). */
static int reuse_layer(struct ldb *db, const struct ldb_add_opts *opts, const char *diff_id,
		       struct ldb_digest *ret_image)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	struct ldb__record rec = { .opts = opts };
	int r;

	if (opts->parent) {
		rec.parent = *opts->parent;
		rec.has_parent = true;
	}
	r = ldb__store_lock(db, false);
	if (r < 0)
		return r;
	r = ldb__tx_begin(db);
	if (r < 0)
		goto out;
	tx = db;
	r = layer_by_diff_id(db, diff_id, &rec.layer);
	if (r <= 0)
		goto out; /* gone meanwhile: extract after all */
	r = ldb__record_insert(db, &rec, ret_image);
	if (r < 0)
		goto out;
	r = ldb__tx_commit(db);
	if (r < 0)
		goto out;
	tx = NULL;
	r = 1;
out:
	ldb__tx_rollback(db);
	tx = NULL;
	ldb__store_unlock(db);
	return r;
}

static int add_layer(struct ldb *db, int dirfd, const struct ldb__oci_desc *d,
		     const char *diff_id, const struct ldb_add_opts *opts,
		     const struct ldb_oci_opts *o, struct ldb_digest *ret_image)
{
	struct feed f = { .in = -EBADF, .out = -EBADF, .cb = o->progress, .payload = o->payload };
	struct ldb_digest layer;
	char id[13], got[LDB__SHA256_LEN + 1];
	int sv[2], r, rf;
	pthread_t th;

	short_id(d->digest, id);
	r = reuse_layer(db, opts, diff_id, ret_image);
	if (r != 0) {
		if (r > 0)
			emit(o->progress, o->payload, id, "Already exists", 0, 0);
		return r < 0 ? r : 0;
	}
	r = f.in = ldb__oci_open(db, dirfd, d->path);
	if (r < 0)
		return r;
	f.h = ldb__sha256_new();
	if (!f.h || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = f.h ? -errno : -ENOMEM;
		goto out;
	}
	f.out = sv[1];
	f.id = id;
	f.total = d->size > 0 ? (uint64_t)d->size : 0;
	r = -pthread_create(&th, NULL, feed_main, &f);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	r = ldb_layer_add_fd(db, sv[0], opts, ret_image, &layer);
	close(sv[0]);
	pthread_join(th, NULL);
	ldb__sha256_final(f.h, got);
	rf = f.r;
	if (r >= 0 && rf < 0)
		r = ldb__err(db, rf, "cannot read blob %s: %s", d->path, strerror(-rf));
	else if (r >= 0 && d->digest[0] && strcmp(got, d->digest) != 0)
		r = ldb__err(db, -EBADMSG, "layer blob %s changed while it was imported", d->path);
	if (r >= 0)
		r = ldb_layer_set_diff_id(db, &layer, diff_id);
	if (r >= 0)
		emit(o->progress, o->payload, id, "Pull complete", f.done, f.total);
out:
	ldb__sha256_free(f.h);
	if (f.in >= 0)
		close(f.in);
	return r;
}

/* ---- archives ---------------------------------------------------------------------- */

static int mkdir_parents(int dfd, char *rel)
{
	for (char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		int r;

		*s = '\0';
		r = neg_errno(mkdirat(dfd, rel, 0700));
		*s = '/';
		if (r < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}

/* "./a//b/" -> "a/b"; false for absolute names, ".." and empty results. */
static bool normalize(const char *in, char *out, size_t n)
{
	size_t len = 0;

	if (!in || in[0] == '/')
		return false;
	for (const char *p = in; *p;) {
		const char *e = strchrnul(p, '/');
		size_t cl = (size_t)(e - p);

		if (cl == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (cl > 0 && !(cl == 1 && p[0] == '.')) {
			if (len + cl + 2 > n)
				return false;
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, cl);
			len += cl;
		}
		p = *e ? e + 1 : e;
	}
	out[len] = '\0';
	return len > 0;
}

struct link_fix {
	char *path, *target;
};

static int unpack_entry(struct ldb *db, struct archive *a, struct archive_entry *e, int dfd,
			struct link_fix **links, size_t *n_links)
{
	char rel[PATH_MAX], tgt[PATH_MAX];
	_cleanup_close_ int fd = -EBADF;
	const char *name = archive_entry_pathname(e), *hl = archive_entry_hardlink(e);
	int r;

	if (name && (strcmp(name, ".") == 0 || strcmp(name, "./") == 0))
		return 0;
	if (!normalize(name, rel, sizeof(rel)))
		return ldb__err(db, -EPERM, "archive entry '%s' leaves the archive", name ? name : "");
	r = mkdir_parents(dfd, rel);
	if (r < 0)
		return ldb__err(db, r, "cannot unpack '%s': %s", rel, strerror(-r));
	if (hl) {
		if (!normalize(hl, tgt, sizeof(tgt)))
			return ldb__err(db, -EPERM, "hard link '%s' leaves the archive", rel);
		return neg_errno(linkat(dfd, tgt, dfd, rel, 0));
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		r = neg_errno(mkdirat(dfd, rel, 0700));
		return r == -EEXIST ? 0 : r;
	case AE_IFLNK: {
		/* resolved against the link's directory, fixed up at the end */
		const char *t = archive_entry_symlink(e), *slash = strrchr(rel, '/');
		char joined[PATH_MAX * 2];
		struct link_fix *nl;

		snprintf(joined, sizeof(joined), "%.*s%s%s", slash ? (int)(slash - rel) : 0, rel,
			 slash ? "/" : "", t ? t : "");
		if (!t || t[0] == '/' || !normalize(joined, tgt, sizeof(tgt)))
			return 0; /* pointing outside: ignored, a missing blob if used */
		nl = realloc(*links, (*n_links + 1) * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		*links = nl;
		nl[*n_links] = (struct link_fix){ strdup(rel), strdup(tgt) };
		(*n_links)++;
		return 0;
	}
	case AE_IFREG:
		break;
	default:
		return 0;
	}
	r = fd = neg_errno(openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				  0600));
	if (r < 0)
		return ldb__err(db, r, "cannot unpack '%s': %s", rel, strerror(-r));
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int ar = archive_read_data_block(a, &buf, &size, &off);

		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar < ARCHIVE_WARN)
			return ldb__err(db, -EBADMSG, "truncated or corrupt archive: %s",
					archive_error_string(a));
		if (pwrite(fd, buf, size, (off_t)off) != (ssize_t)size)
			return ldb__err(db, -errno, "cannot unpack '%s': %m", rel);
	}
}

static int unpack_archive(struct ldb *db, const char *file, int dfd)
{
	_cleanup_(archive_readp) struct archive *a = archive_read_new();
	struct link_fix *links = NULL;
	size_t n_links = 0;
	struct archive_entry *e;
	int r = 0;

	if (!a)
		return -ENOMEM;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_filename(a, file, IO_BUF) != ARCHIVE_OK)
		return ldb__err(db, -errno ? -errno : -EBADMSG, "cannot read '%s': %s", file,
				archive_error_string(a));
	for (;;) {
		int ar = archive_read_next_header(a, &e);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = ldb__err(db, -EBADMSG, "'%s' is truncated or not a tar archive: %s",
				     file, archive_error_string(a));
			break;
		}
		r = unpack_entry(db, a, e, dfd, &links, &n_links);
		if (r < 0)
			break;
	}
	for (size_t i = 0; i < n_links; i++) {
		if (r >= 0 && links[i].path && links[i].target)
			(void)linkat(dfd, links[i].target, dfd, links[i].path, 0);
		free(links[i].path);
		free(links[i].target);
	}
	free(links);
	return r;
}

/* ---- the whole import ------------------------------------------------------------- */

/* History entries that made layers, in order (NULL-padded), from the config. */
static json_object *layer_history(json_object *cfg, size_t i)
{
	json_object *h, *e;
	size_t k = 0;

	if (!json_object_object_get_ex(cfg, "history", &h) ||
	    !json_object_is_type(h, json_type_array))
		return NULL;
	for (size_t j = 0; j < json_object_array_length(h); j++) {
		e = json_object_array_get_idx(h, j);
		if (json_object_object_get_ex(e, "empty_layer", &(json_object *){ NULL }) &&
		    json_object_get_boolean(json_object_object_get(e, "empty_layer")))
			continue;
		if (k++ == i)
			return e;
	}
	return NULL;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int import_layers(struct ldb *db, int dirfd, struct ldb__oci_image *img,
			 const struct ldb_oci_opts *o, struct ldb_digest *ret_top)
{
	json_object *cfg = json_tokener_parse(img->config_json);
	struct ldb_digest parent;
	int r = 0;

	for (size_t i = 0; i < img->n_layers && r >= 0; i++) {
		json_object *h = layer_history(cfg, i);
		struct ldb_add_opts ao = {
			.version = LDB_ADD_OPTS_VERSION,
			.parent = i ? &parent : NULL,
			.comment = jstr(h, "comment"),
			.author = jstr(h, "author") ? jstr(h, "author") : jstr(cfg, "author"),
			.created_by = jstr(h, "created_by"),
		};

		r = add_layer(db, dirfd, &img->layers[i], img->diff_ids[i], &ao, o, &parent);
	}
	json_object_put(cfg);
	if (r >= 0)
		*ret_top = parent;
	return r;
}

/* The name to give: the caller's, or the layout's when it is a full name. */
static const char *pick_name(const struct ldb_oci_opts *o, const struct ldb__oci_image *img)
{
	_cleanup_free_ char *n = NULL, *t = NULL;

	if (o->name)
		return o->name;
	if (!img->ref_name || !strpbrk(img->ref_name, ":/"))
		return NULL;
	return ldb_parse_name(img->ref_name, &n, &t) < 0 ? NULL : img->ref_name;
}

static int import_dir(struct ldb *db, int dirfd, const struct ldb_oci_opts *o,
		      struct ldb_digest *ret_image)
{
	_cleanup_(ldb__oci_image_clear) struct ldb__oci_image img = { 0 };
	struct ldb_digest top;
	const char *name;
	int r;

	r = ldb__oci_load(db, dirfd, o->transport, o->ref, &img);
	if (r < 0)
		return r;
	if (img.n_layers == 0)
		return ldb__err(db, -EINVAL, "the image has no layers");
	for (size_t i = 0; i < img.n_layers; i++) {
		r = ldb__oci_verify_layer(db, dirfd, &img.layers[i], img.diff_ids[i], o->progress,
					  o->payload);
		if (r < 0)
			return r;
	}
	r = import_layers(db, dirfd, &img, o, &top);
	if (r < 0)
		return r;
	r = ldb_image_set_config(db, &top, img.config_json);
	if (r < 0)
		return r;
	name = pick_name(o, &img);
	if (name) {
		r = ldb_image_tag(db, &top, name);
		if (r < 0)
			return r;
	}
	*ret_image = top;
	return 0;
}

int ldb_oci_import(struct ldb *db, const struct ldb_oci_opts *o, struct ldb_digest *ret_image)
{
	_cleanup_close_ int dirfd = -EBADF;
	struct ldb__tmp t = { .fd = -EBADF };
	struct ldb_digest image;
	int r;

	assert(o && o->path);
	db->errmsg[0] = '\0';
	if (o->name) {
		_cleanup_free_ char *n = NULL, *tg = NULL;

		if (ldb_parse_name(o->name, &n, &tg) < 0)
			return ldb__err(db, -EINVAL, "invalid reference format: '%s'", o->name);
	}
	if (o->transport == LDB_OCI_DIR) {
		r = dirfd = neg_errno(open(o->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (r < 0)
			return ldb__err(db, r, "cannot open '%s': %s", o->path, strerror(-r));
		r = import_dir(db, dirfd, o, &image);
	} else {
		r = ldb__tmp_create(db, &t);
		if (r < 0)
			return r;
		r = unpack_archive(db, o->path, t.fd);
		if (r >= 0)
			r = import_dir(db, t.fd, o, &image);
		ldb__tmp_destroy(db, &t);
	}
	if (r >= 0 && ret_image)
		*ret_image = image;
	return r;
}
