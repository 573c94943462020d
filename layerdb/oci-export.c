/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oci-export.c - writing an image as an OCI image layout (directory or tar).
 *
 * Each layer: ldb_layer_export() (archive.c: sorted entries, .wh. whiteouts,
 * .wh..wh..opq opaque markers) runs in a thread into a socket; we read that
 * stream back and rewrite every header canonically (no atime, ctime,
 * birthtime, device/inode numbers or user/group names, xattrs sorted), so
 * the same layer always gives the same bytes.  The canonical tar is hashed
 * (the diff id) and compressed (zstd with workers, gzip through zlib with a
 * zero timestamp, or none), and the compressed blob hashed (the digest).
 * zstd's multi-threaded output does not depend on the number of workers
 * (>= 1), so the blob is the same on any machine.
 *
 * The config is the one recorded at import (ldb_image_get_config()) with
 * rootfs replaced, or a minimal one; its history is kept when it matches the
 * layers and rebuilt from the image chain otherwise.  Documents are JSON in a
 * fixed key order.  Blobs are written to a temporary name and renamed to
 * their digest; index.json last, so a reader never sees a half-written image.
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
#include <time.h>
#include <zlib.h>
#include <zstd.h>

#include "ldb-internal.h"

#define IO_BUF (128u << 10)
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define ANN_REF_NAME "org.opencontainers.image.ref.name"

enum compression { COMP_NONE, COMP_GZIP, COMP_ZSTD };

/* ---- the blob sink: diff id, compression, digest, file ------------------------ */

struct sink {
	struct ldb *db;
	enum compression comp;
	int fd;
	struct ldb__sha256 *diff, *blob;
	uint64_t size, raw;
	uint64_t expect; /* content bytes of the layer, for progress */
	ZSTD_CCtx *zc;
	z_stream gz;
	bool gz_init;
	unsigned char out[IO_BUF];
	int err;
	const char *id;
	ldb_oci_cb cb;
	void *payload;
};

static int sink_write(struct sink *s, const void *p, size_t n)
{
	const char *c = p;

	ldb__sha256_update(s->blob, p, n);
	s->size += n;
	while (n > 0) {
		ssize_t w = write(s->fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int sink_zstd(struct sink *s, const void *p, size_t n, ZSTD_EndDirective end)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t left;
	int r;

	do {
		ZSTD_outBuffer out = { s->out, sizeof(s->out), 0 };

		left = ZSTD_compressStream2(s->zc, &out, &in, end);
		if (ZSTD_isError(left))
			return ldb__err(s->db, -EIO, "zstd: %s", ZSTD_getErrorName(left));
		r = sink_write(s, s->out, out.pos);
		if (r < 0)
			return r;
	} while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static int sink_gzip(struct sink *s, const void *p, size_t n, int flush)
{
	int zr, r;

	s->gz.next_in = (Bytef *)(uintptr_t)p;
	s->gz.avail_in = (uInt)n;
	do {
		s->gz.next_out = s->out;
		s->gz.avail_out = sizeof(s->out);
		zr = deflate(&s->gz, flush);
		if (zr == Z_STREAM_ERROR)
			return ldb__err(s->db, -EIO, "gzip: stream error");
		r = sink_write(s, s->out, sizeof(s->out) - s->gz.avail_out);
		if (r < 0)
			return r;
	} while (s->gz.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static int sink_feed(struct sink *s, const void *p, size_t n)
{
	ldb__sha256_update(s->diff, p, n);
	s->raw += n;
	switch (s->comp) {
	case COMP_ZSTD:
		return sink_zstd(s, p, n, ZSTD_e_continue);
	case COMP_GZIP:
		return sink_gzip(s, p, n, Z_NO_FLUSH);
	case COMP_NONE:
		break;
	}
	return sink_write(s, p, n);
}

static int sink_finish(struct sink *s)
{
	switch (s->comp) {
	case COMP_ZSTD:
		return sink_zstd(s, NULL, 0, ZSTD_e_end);
	case COMP_GZIP:
		return sink_gzip(s, NULL, 0, Z_FINISH);
	case COMP_NONE:
		break;
	}
	return 0;
}

static int sink_init(struct sink *s, enum compression comp)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	s->comp = comp;
	s->diff = ldb__sha256_new();
	s->blob = ldb__sha256_new();
	if (!s->diff || !s->blob)
		return -ENOMEM;
	if (comp == COMP_ZSTD) {
		s->zc = ZSTD_createCCtx();
		if (!s->zc)
			return -ENOMEM;
		(void)ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, 3);
		/* Workers on every machine (1 on a single core): MT output is the
		 * same for any count >= 1, single-threaded mode's may differ. */
		(void)ZSTD_CCtx_setParameter(s->zc, ZSTD_c_nbWorkers,
					     cpus > 1 ? (int)(cpus < 8 ? cpus : 8) : 1);
	} else if (comp == COMP_GZIP) {
		if (deflateInit2(&s->gz, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		s->gz_init = true;
	}
	return 0;
}

static void sink_done(struct sink *s)
{
	ldb__sha256_free(s->diff);
	ldb__sha256_free(s->blob);
	ZSTD_freeCCtx(s->zc);
	if (s->gz_init)
		deflateEnd(&s->gz);
}

/* ---- canonical layer tar ----------------------------------------------------------- */

struct producer {
	struct ldb *db;
	const struct ldb_digest *layer;
	int fd;
	int r;
};

static void *produce_main(void *p)
{
	struct producer *pr = p;

	pr->r = ldb_layer_export(pr->db, pr->layer, pr->fd, "none");
	close(pr->fd);
	return NULL;
}

static la_ssize_t canon_write(struct archive *a, void *p, const void *buf, size_t n)
{
	struct sink *s = p;
	int r;

	(void)a;
	r = sink_feed(s, buf, n);
	if (r < 0) {
		s->err = r;
		return -1;
	}
	if (s->cb) {
		struct ldb_oci_event ev = { .id = s->id, .status = "Exporting", .done = s->raw,
					    .total = s->expect > s->raw ? s->expect : s->raw };

		s->cb(&ev, s->payload);
	}
	return (la_ssize_t)n;
}

struct xattr_kv {
	const char *name;
	const void *value;
	size_t size;
};

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct xattr_kv *)a)->name, ((const struct xattr_kv *)b)->name);
}

/* Drop what varies between exports of the same content; sort xattrs. */
static int canonicalize(struct archive_entry *e)
{
	int n = archive_entry_xattr_reset(e);
	_cleanup_free_ struct xattr_kv *kv = NULL;
	struct archive_entry *copy;
	int i = 0;

	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	archive_entry_set_dev(e, 0);
	archive_entry_set_ino(e, 0);
	archive_entry_set_uname(e, NULL);
	archive_entry_set_gname(e, NULL);
	if (n <= 1)
		return 0;
	kv = calloc((size_t)n, sizeof(*kv));
	copy = archive_entry_clone(e); /* owns the xattr values while we re-add them */
	if (!kv || !copy) {
		archive_entry_free(copy);
		return -ENOMEM;
	}
	archive_entry_xattr_reset(copy);
	while (i < n && archive_entry_xattr_next(copy, &kv[i].name, &kv[i].value,
						 &kv[i].size) == ARCHIVE_OK)
		i++;
	qsort(kv, (size_t)i, sizeof(*kv), cmp_xattr);
	archive_entry_xattr_clear(e);
	for (int j = 0; j < i; j++)
		archive_entry_xattr_add_entry(e, kv[j].name, kv[j].value, kv[j].size);
	archive_entry_free(copy);
	return 0;
}

static int canon_copy(struct ldb *db, int in, struct sink *s)
{
	struct archive *rd = archive_read_new(), *wr = archive_write_new();
	_cleanup_free_ char *buf = malloc(IO_BUF);
	struct archive_entry *e;
	int r = 0;

	if (!rd || !wr || !buf) {
		r = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(rd);
	archive_write_set_format_pax_restricted(wr);
	archive_write_add_filter_none(wr);
	if (archive_read_open_fd(rd, in, IO_BUF) != ARCHIVE_OK ||
	    archive_write_open2(wr, s, NULL, canon_write, NULL, NULL) != ARCHIVE_OK) {
		r = ldb__err(db, -EIO, "cannot export layer: %s", archive_error_string(rd));
		goto out;
	}
	for (;;) {
		int ar = archive_read_next_header(rd, &e);
		ssize_t n;

		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = ldb__err(db, -EIO, "cannot export layer: %s", archive_error_string(rd));
			goto out;
		}
		r = canonicalize(e);
		if (r < 0)
			goto out;
		if (archive_write_header(wr, e) < ARCHIVE_WARN)
			goto werr;
		while ((n = archive_read_data(rd, buf, IO_BUF)) > 0)
			if (archive_write_data(wr, buf, (size_t)n) < 0)
				goto werr;
		if (n < 0) {
			r = ldb__err(db, -EIO, "cannot export layer: %s", archive_error_string(rd));
			goto out;
		}
	}
	if (archive_write_close(wr) != ARCHIVE_OK)
		goto werr;
	goto out;
werr:
	r = s->err < 0 ? s->err : -EIO;
	ldb__err(db, r, "cannot write layer: %s", s->err < 0 ? strerror(-s->err) :
		 archive_error_string(wr));
out:
	if (rd)
		archive_read_free(rd);
	if (wr)
		archive_write_free(wr);
	return r;
}

/* ---- blobs ---------------------------------------------------------------------------- */

static int tmp_blob(int blobs, char name[64])
{
	for (int i = 0; i < 64; i++) {
		int fd;

		snprintf(name, 64, ".tmp-%d-%d", (int)getpid(), i);
		fd = openat(blobs, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

static int publish_blob(struct ldb *db, int blobs, int fd, const char *tmp, const char *digest)
{
	int r;

	r = neg_errno(fsync(fd));
	if (r >= 0)
		r = neg_errno(renameat(blobs, tmp, blobs, digest + 7));
	if (r < 0) {
		(void)unlinkat(blobs, tmp, 0);
		return ldb__err(db, r, "cannot write blob %s: %s", digest, strerror(-r));
	}
	return 0;
}

static int write_blob(struct ldb *db, int blobs, const char *data, size_t len, char *ret_digest)
{
	_cleanup_close_ int fd = -EBADF;
	char tmp[64];
	int r;

	ldb__sha256_buffer(data, len, ret_digest);
	r = fd = tmp_blob(blobs, tmp);
	if (r < 0)
		return ldb__err(db, r, "cannot write blob: %s", strerror(-r));
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			r = -errno;
			(void)unlinkat(blobs, tmp, 0);
			return ldb__err(db, r, "cannot write blob: %s", strerror(-r));
		}
		off += (size_t)w;
	}
	return publish_blob(db, blobs, fd, tmp, ret_digest);
}

struct layer_out {
	char digest[LDB__SHA256_LEN + 1];
	char diff_id[LDB__SHA256_LEN + 1];
	uint64_t size;
};

static int export_layer(struct ldb *db, const struct ldb_digest *layer, int blobs,
			enum compression comp, const struct ldb_oci_opts *o,
			struct layer_out *ret)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct producer pr = { .db = db, .layer = layer };
	char tmp[64], hex[LDB_DIGEST_HEX_LEN + 1], id[13];
	_cleanup_close_ int fd = -EBADF;
	int sv[2] = { -1, -1 }, r;
	pthread_t th;

	if (!s)
		return -ENOMEM;
	ldb_digest_hex(layer, hex);
	snprintf(id, sizeof(id), "%.12s", hex);
	*s = (struct sink){ .db = db, .id = id, .cb = o->progress, .payload = o->payload };
	{
		struct ldb_layer_info li;

		if (ldb_layer_get(db, layer, &li) >= 0)
			s->expect = li.size;
	}
	r = sink_init(s, comp);
	if (r < 0)
		goto out;
	r = fd = tmp_blob(blobs, tmp);
	if (r < 0) {
		ldb__err(db, r, "cannot write blob: %s", strerror(-r));
		goto out;
	}
	s->fd = fd;
	r = neg_errno(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	if (r < 0)
		goto fail;
	pr.fd = sv[1];
	r = -pthread_create(&th, NULL, produce_main, &pr);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	r = canon_copy(db, sv[0], s);
	close(sv[0]);
	pthread_join(th, NULL);
	if (r >= 0 && pr.r < 0)
		r = pr.r;
	if (r >= 0)
		r = sink_finish(s);
	if (r < 0)
		goto fail;
	ldb__sha256_final(s->diff, ret->diff_id);
	ldb__sha256_final(s->blob, ret->digest);
	ret->size = s->size;
	r = publish_blob(db, blobs, fd, tmp, ret->digest);
	if (r >= 0 && o->progress) {
		struct ldb_oci_event ev = { .id = id, .status = "Export complete",
					    .done = s->raw, .total = s->raw };

		o->progress(&ev, o->payload);
	}
	goto out;
fail:
	(void)unlinkat(blobs, tmp, 0);
out:
	sink_done(s);
	free(s);
	return r;
}

/* ---- documents -------------------------------------------------------------------------- */

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static const char *to_text(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

static json_object *jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static json_object *rfc3339(int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[64];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_object_new_string(buf);
}

static json_object *descriptor(const char *mt, const char *digest, uint64_t size)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "mediaType", jstr(mt));
	json_object_object_add(d, "digest", jstr(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

static size_t count_layer_history(json_object *cfg)
{
	json_object *h, *el;
	size_t n = 0;

	if (!json_object_object_get_ex(cfg, "history", &h) || !json_object_is_type(h, json_type_array))
		return SIZE_MAX;
	for (size_t i = 0; i < json_object_array_length(h); i++) {
		json_object *e = json_object_array_get_idx(h, i);

		if (!(json_object_object_get_ex(e, "empty_layer", &el) && json_object_get_boolean(el)))
			n++;
	}
	return n;
}

/* History from the chain (base first), for configs that did not come with one. */
static int chain_history(struct ldb *db, const struct ldb_digest *images, size_t n,
			 json_object *cfg)
{
	json_object *h = json_object_new_array();

	for (size_t i = n; i-- > 0;) {
		_cleanup_(ldb_image_info_clear) struct ldb_image_info info = { 0 };
		json_object *e = json_object_new_object();
		int r = ldb_image_get(db, &images[i], &info);

		if (r < 0) {
			json_object_put(e);
			json_object_put(h);
			return r;
		}
		json_object_object_add(e, "created", rfc3339(info.created));
		if (info.created_by)
			json_object_object_add(e, "created_by", jstr(info.created_by));
		if (info.author)
			json_object_object_add(e, "author", jstr(info.author));
		if (info.comment)
			json_object_object_add(e, "comment", jstr(info.comment));
		json_object_array_add(h, e);
	}
	json_object_object_add(cfg, "history", h);
	return 0;
}

static const char *oci_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__i386__)
	return "386";
#elif defined(__arm__)
	return "arm";
#elif defined(__powerpc64__)
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#elif defined(__riscv)
	return "riscv64";
#else
	return "unknown";
#endif
}

static int build_config(struct ldb *db, const struct ldb_digest *image,
			const struct ldb_digest *images, size_t n, const struct layer_out *lo,
			json_object **ret)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_object *cfg = NULL;
	json_object *rootfs, *ids;
	int r;

	r = ldb_image_get_config(db, image, &text);
	if (r < 0 && r != -ENOENT)
		return r;
	if (text)
		cfg = json_tokener_parse(text);
	if (!cfg || !json_object_is_type(cfg, json_type_object)) {
		_cleanup_(ldb_image_info_clear) struct ldb_image_info info = { 0 };

		json_object_put(cfg);
		r = ldb_image_get(db, image, &info);
		if (r < 0)
			return r;
		cfg = json_object_new_object();
		json_object_object_add(cfg, "created", rfc3339(info.created));
		if (info.author)
			json_object_object_add(cfg, "author", jstr(info.author));
		json_object_object_add(cfg, "architecture", jstr(oci_arch()));
		json_object_object_add(cfg, "os", jstr("linux"));
		json_object_object_add(cfg, "config", json_object_new_object());
	}
	rootfs = json_object_new_object();
	ids = json_object_new_array();
	json_object_object_add(rootfs, "type", jstr("layers"));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(ids, jstr(lo[i].diff_id));
	json_object_object_add(rootfs, "diff_ids", ids);
	json_object_object_add(cfg, "rootfs", rootfs);
	if (count_layer_history(cfg) != n) {
		r = chain_history(db, images, n, cfg);
		if (r < 0)
			return r;
	}
	*ret = steal_pointer(&cfg);
	return 0;
}

static int write_file(struct ldb *db, int dirfd, const char *name, const char *text)
{
	_cleanup_close_ int fd = -EBADF;
	char tmp[256];
	size_t len = strlen(text);
	int r;

	snprintf(tmp, sizeof(tmp), ".%s.tmp-%d", name, (int)getpid());
	r = fd = neg_errno(openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
	if (r < 0)
		return ldb__err(db, r, "cannot write %s: %s", name, strerror(-r));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
	    renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		(void)unlinkat(dirfd, tmp, 0);
		return ldb__err(db, r, "cannot write %s: %s", name, strerror(-r));
	}
	return 0;
}

/* index.json: keep other images of the layout, replace the one named @ref. */
static int write_index(struct ldb *db, int dirfd, const char *digest, size_t size,
		       const char *ref)
{
	_cleanup_json_ json_object *old = NULL, *idx = json_object_new_object();
	json_object *ms = json_object_new_array(), *oms, *d;
	_cleanup_close_ int fd = openat(dirfd, "index.json", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		struct stat st;
		_cleanup_free_ char *buf = NULL;

		if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (16 << 20) &&
		    (buf = malloc((size_t)st.st_size + 1)) &&
		    read(fd, buf, (size_t)st.st_size) == st.st_size) {
			buf[st.st_size] = '\0';
			old = json_tokener_parse(buf);
		}
	}
	if (old && json_object_object_get_ex(old, "manifests", &oms) &&
	    json_object_is_type(oms, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(oms); i++) {
			json_object *m = json_object_array_get_idx(oms, i), *ann, *nm;
			const char *name = NULL;

			if (json_object_object_get_ex(m, "annotations", &ann) &&
			    json_object_object_get_ex(ann, ANN_REF_NAME, &nm))
				name = json_object_get_string(nm);
			if (ref ? (name && strcmp(name, ref) == 0) :
				  (!name && json_object_object_get_ex(m, "digest", &nm) &&
				   strcmp(json_object_get_string(nm), digest) == 0))
				continue;
			json_object_array_add(ms, json_object_get(m));
		}
	}
	d = descriptor(MT_MANIFEST, digest, size);
	if (ref) {
		json_object *ann = json_object_new_object();

		json_object_object_add(ann, ANN_REF_NAME, jstr(ref));
		json_object_object_add(d, "annotations", ann);
	}
	json_object_array_add(ms, d);
	json_object_object_add(idx, "schemaVersion", json_object_new_int(2));
	json_object_object_add(idx, "mediaType", jstr(MT_INDEX));
	json_object_object_add(idx, "manifests", ms);
	return write_file(db, dirfd, "index.json", to_text(idx));
}

static int open_layout(struct ldb *db, int dirfd, int *ret_blobs)
{
	int r;

	(void)mkdirat(dirfd, "blobs", 0755);
	(void)mkdirat(dirfd, "blobs/sha256", 0755);
	r = *ret_blobs = neg_errno(openat(dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY |
					  O_NOFOLLOW | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot create blobs/sha256: %s", strerror(-r));
	return write_file(db, dirfd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
}

static int parse_compression(struct ldb *db, const char *c, enum compression *ret)
{
	if (!c || strcmp(c, "zstd") == 0)
		*ret = COMP_ZSTD;
	else if (strcmp(c, "gzip") == 0)
		*ret = COMP_GZIP;
	else if (strcmp(c, "none") == 0)
		*ret = COMP_NONE;
	else
		return ldb__err(db, -EINVAL, "unknown compression '%s' (zstd, gzip or none)", c);
	return 0;
}

static const char *layer_type(enum compression c)
{
	return c == COMP_ZSTD ? MT_LAYER "+zstd" : c == COMP_GZIP ? MT_LAYER "+gzip" : MT_LAYER;
}

/* Layers (base first), config, manifest, index into the layout at @dirfd. */
static int export_into(struct ldb *db, const struct ldb_digest *image, int dirfd,
		       const struct ldb_oci_opts *o, char *ret_digest)
{
	_cleanup_free_ struct ldb_digest *images = NULL, *layers = NULL;
	_cleanup_free_ struct layer_out *lo = NULL;
	_cleanup_json_ json_object *cfg = NULL, *man = NULL;
	_cleanup_close_ int blobs = -EBADF;
	char cfg_digest[LDB__SHA256_LEN + 1], man_digest[LDB__SHA256_LEN + 1];
	json_object *ls;
	enum compression comp = COMP_ZSTD;
	const char *text;
	size_t n;
	int r;

	r = parse_compression(db, o->compression, &comp);
	if (r < 0)
		return r;
	r = ldb_image_chain(db, image, &images, &layers, &n);
	if (r < 0)
		return r;
	lo = calloc(n ? n : 1, sizeof(*lo));
	if (!lo)
		return -ENOMEM;
	r = open_layout(db, dirfd, &blobs);
	if (r < 0)
		return r;
	/* chain is top first; OCI lists the base first */
	for (size_t i = 0; i < n; i++) {
		r = export_layer(db, &layers[n - 1 - i], blobs, comp, o, &lo[i]);
		if (r < 0)
			return r;
		r = ldb_layer_set_diff_id(db, &layers[n - 1 - i], lo[i].diff_id);
		if (r < 0)
			return r;
	}
	r = build_config(db, image, images, n, lo, &cfg);
	if (r < 0)
		return r;
	text = to_text(cfg);
	r = write_blob(db, blobs, text, strlen(text), cfg_digest);
	if (r < 0)
		return r;
	man = json_object_new_object();
	json_object_object_add(man, "schemaVersion", json_object_new_int(2));
	json_object_object_add(man, "mediaType", jstr(MT_MANIFEST));
	json_object_object_add(man, "config", descriptor(MT_CONFIG, cfg_digest, strlen(text)));
	ls = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(ls, descriptor(layer_type(comp), lo[i].digest, lo[i].size));
	json_object_object_add(man, "layers", ls);
	text = to_text(man);
	r = write_blob(db, blobs, text, strlen(text), man_digest);
	if (r < 0)
		return r;
	r = write_index(db, dirfd, man_digest, strlen(text), o->ref);
	if (r < 0)
		return r;
	if (ret_digest)
		snprintf(ret_digest, LDB__SHA256_LEN + 1, "%s", man_digest);
	return 0;
}

/* ---- oci-archive: the layout as one reproducible tar ---------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file (or directory) @path below @dirfd as the entry @name. */
static int tar_add_as(struct ldb *db, struct archive *a, int dirfd, const char *path,
		      const char *name, bool dir)
{
	struct archive_entry *e = archive_entry_new();
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	int r = 0;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_mtime(e, 0, 0);
	if (!dir) {
		r = fd = neg_errno(openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
		if (r >= 0)
			r = neg_errno(fstat(fd, &st));
		if (r < 0)
			goto out;
		archive_entry_set_size(e, st.st_size);
	}
	if (archive_write_header(a, e) < ARCHIVE_WARN) {
		r = ldb__err(db, -EIO, "cannot write archive: %s", archive_error_string(a));
		goto out;
	}
	buf = dir ? NULL : malloc(IO_BUF);
	for (ssize_t n; !dir && (n = read(fd, buf, IO_BUF)) != 0;) {
		if (n < 0 || archive_write_data(a, buf, (size_t)n) < 0) {
			r = ldb__err(db, -EIO, "cannot write archive: %s",
				     n < 0 ? strerror(errno) : archive_error_string(a));
			goto out;
		}
	}
out:
	archive_entry_free(e);
	return r;
}

static int tar_add(struct ldb *db, struct archive *a, int dirfd, const char *path, bool dir)
{
	return tar_add_as(db, a, dirfd, path, path, dir);
}

/* A reproducible tar written to "@file.tmp-PID" (*ret_tmp), renamed by
 * archive_end(). */
static int archive_begin(struct ldb *db, const char *file, struct archive **ret,
			 char **ret_tmp)
{
	struct archive *a = archive_write_new();

	if (!a || asprintf(ret_tmp, "%s.tmp-%d", file, (int)getpid()) < 0) {
		if (a)
			archive_write_free(a);
		*ret_tmp = NULL;
		return -ENOMEM;
	}
	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_none(a);
	if (archive_write_open_filename(a, *ret_tmp) != ARCHIVE_OK) {
		int r = ldb__err(db, -EIO, "cannot write '%s': %s", file, archive_error_string(a));

		archive_write_free(a);
		free(*ret_tmp);
		*ret_tmp = NULL;
		return r;
	}
	*ret = a;
	return 0;
}

/* Close the archive and put it in place when r >= 0; else remove it. */
static int archive_end(struct ldb *db, struct archive *a, char *tmp, const char *file, int r)
{
	if (r >= 0 && archive_write_close(a) != ARCHIVE_OK)
		r = ldb__err(db, -EIO, "cannot write '%s': %s", file, archive_error_string(a));
	if (r >= 0 && rename(tmp, file) < 0)
		r = ldb__err(db, -errno, "cannot write '%s': %m", file);
	archive_write_free(a);
	if (r < 0)
		(void)unlink(tmp);
	free(tmp);
	return r;
}

static int write_oci_archive(struct ldb *db, int dirfd, const char *file)
{
	struct archive *a = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	char *tmp = NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int fd, r = 0;

	fd = openat(dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		char **nn;

		if (de->d_name[0] == '.')
			continue;
		nn = realloc(names, (n + 1) * sizeof(char *));
		if (!nn)
			break;
		names = nn;
		if (asprintf(&names[n], "blobs/sha256/%s", de->d_name) >= 0)
			n++;
	}
	qsort(names, n, sizeof(char *), cmp_str);
	r = archive_begin(db, file, &a, &tmp);
	if (r < 0)
		goto out;
	r = tar_add(db, a, dirfd, "blobs", true);
	if (r >= 0)
		r = tar_add(db, a, dirfd, "blobs/sha256", true);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = tar_add(db, a, dirfd, names[i], false);
	if (r >= 0)
		r = tar_add(db, a, dirfd, "index.json", false);
	if (r >= 0)
		r = tar_add(db, a, dirfd, "oci-layout", false);
	r = archive_end(db, a, tmp, file, r);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* ---- docker-archive: the layout rewritten as `docker save` writes it -------------------- */

static json_object *read_json_at(int dirfd, const char *path)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (16 << 20))
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size)
		return NULL;
	buf[st.st_size] = '\0';
	return json_tokener_parse(buf);
}

static const char *digest_hex(const char *digest)
{
	const char *colon = strchr(digest, ':');

	return colon ? colon + 1 : digest;
}

/* "name:tag" as docker's RepoTags want it: ":latest" for a bare name. */
static char *repo_tag(const char *ref)
{
	const char *slash = strrchr(ref, '/'), *colon = strrchr(ref, ':');
	char *t;

	if (colon && (!slash || colon > slash))
		return strdup(ref);
	return asprintf(&t, "%s:latest", ref) < 0 ? NULL : t;
}

/*
 * The image exported (uncompressed) into the layout at @dirfd, as a
 * docker-archive: the config as <hex>.json, each layer as <diff id hex>.tar
 * and manifest.json naming them with the image's RepoTags ([] without
 * @ref), which `docker load`, `podman load` and skopeo read.
 */
static int write_docker_archive(struct ldb *db, int dirfd, const char *man_digest,
				const char *ref, const char *file)
{
	_cleanup_json_ json_object *man = NULL, *out = json_object_new_array();
	_cleanup_free_ char *tag = ref ? repo_tag(ref) : NULL;
	json_object *cfg, *cfg_digest, *layers, *entry, *tags, *names;
	struct archive *a = NULL;
	char path[128], name[128], cfg_name[128], *tmp = NULL;
	size_t n;
	int r;

	snprintf(path, sizeof(path), "blobs/sha256/%s", digest_hex(man_digest));
	man = read_json_at(dirfd, path);
	if (!out || (ref && !tag))
		return -ENOMEM;
	if (!man || !json_object_object_get_ex(man, "config", &cfg) ||
	    !json_object_object_get_ex(cfg, "digest", &cfg_digest) ||
	    !json_object_object_get_ex(man, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return ldb__err(db, -EIO, "cannot read back the exported manifest");
	n = json_object_array_length(layers);
	entry = json_object_new_object();
	json_object_array_add(out, entry);
	snprintf(cfg_name, sizeof(cfg_name), "%s.json",
		 digest_hex(json_object_get_string(cfg_digest)));
	json_object_object_add(entry, "Config", jstr(cfg_name));
	tags = json_object_new_array();
	if (tag)
		json_object_array_add(tags, jstr(tag));
	json_object_object_add(entry, "RepoTags", tags);
	names = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *d, *l = json_object_array_get_idx(layers, i);

		if (!json_object_object_get_ex(l, "digest", &d))
			return ldb__err(db, -EIO, "cannot read back the exported manifest");
		snprintf(name, sizeof(name), "%s.tar", digest_hex(json_object_get_string(d)));
		json_object_array_add(names, jstr(name));
	}
	json_object_object_add(entry, "Layers", names);
	r = write_file(db, dirfd, "manifest.json", to_text(out));
	if (r < 0)
		return r;

	r = archive_begin(db, file, &a, &tmp);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "blobs/sha256/%s",
		 digest_hex(json_object_get_string(cfg_digest)));
	r = tar_add_as(db, a, dirfd, path, cfg_name, false);
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *layer = json_object_get_string(json_object_array_get_idx(names, i));
		bool seen = false;

		/* an image may hold one layer twice: one entry */
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(layer, json_object_get_string(
						     json_object_array_get_idx(names, j))) == 0;
		if (seen)
			continue;
		snprintf(path, sizeof(path), "blobs/sha256/%.*s", (int)(strlen(layer) - 4), layer);
		r = tar_add_as(db, a, dirfd, path, layer, false);
	}
	if (r >= 0)
		r = tar_add(db, a, dirfd, "manifest.json", false);
	return archive_end(db, a, tmp, file, r);
}

int ldb_oci_export(struct ldb *db, const struct ldb_digest *image, const struct ldb_oci_opts *o,
		   char *ret_digest)
{
	_cleanup_close_ int dirfd = -EBADF;
	struct ldb__tmp t = { .fd = -EBADF };
	int r;

	assert(o && o->path);
	db->errmsg[0] = '\0';
	if (o->transport == LDB_OCI_DIR) {
		r = neg_errno(mkdir(o->path, 0755));
		if (r < 0 && r != -EEXIST)
			return ldb__err(db, r, "cannot create '%s': %s", o->path, strerror(-r));
		r = dirfd = neg_errno(open(o->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (r < 0)
			return ldb__err(db, r, "cannot open '%s': %s", o->path, strerror(-r));
		return export_into(db, image, dirfd, o, ret_digest);
	}
	if (o->transport == LDB_DOCKER_ARCHIVE) {
		/* docker's layers are plain tars: their digest is the diff id */
		struct ldb_oci_opts plain = *o;
		char digest[LDB__SHA256_LEN + 1];

		if (o->compression && strcmp(o->compression, "none") != 0)
			return ldb__err(db, -EINVAL, "docker-archive layers are not compressed");
		plain.compression = "none";
		plain.ref = NULL;
		r = ldb__tmp_create(db, &t);
		if (r < 0)
			return r;
		r = export_into(db, image, t.fd, &plain, digest);
		if (r >= 0)
			r = write_docker_archive(db, t.fd, digest, o->ref, o->path);
		if (r >= 0 && ret_digest)
			snprintf(ret_digest, LDB__SHA256_LEN + 1, "%s", digest);
		ldb__tmp_destroy(db, &t);
		return r;
	}
	r = ldb__tmp_create(db, &t);
	if (r < 0)
		return r;
	r = export_into(db, image, t.fd, o, ret_digest);
	if (r >= 0)
		r = write_oci_archive(db, t.fd, o->path);
	ldb__tmp_destroy(db, &t);
	return r;
}
