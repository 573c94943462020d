/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oci.c - reading OCI image layouts and docker archives (the JSON side), sha256
 * digests, and the image config kept in the store.
 *
 * A layout (https://github.com/opencontainers/image-spec, image-layout.md):
 *   oci-layout            {"imageLayoutVersion": "1.0.0"}
 *   index.json            manifests[] (each may carry the annotation
 *                         org.opencontainers.image.ref.name), or nested indexes
 *   blobs/sha256/<hex>    manifests, configs and layers, named by digest
 * A `docker save` archive has manifest.json: [{Config, RepoTags[], Layers[]}]
 * with paths instead of digests; its layers are checked against the config's
 * rootfs.diff_ids and the config against its file name.
 *
 * Trust: only index.json and docker's manifest.json are unauthenticated; every
 * other document is read through ldb__oci_read_blob(), which checks size and
 * sha256 before parsing.  Layer blobs are checked by oci-import.c.
 * Only sha256 digests are read (-EPROTONOSUPPORT for others).
 */
#include <assert.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "ldb-internal.h"

#define OCI_BLOB_MAX (16u << 20) /* manifests and configs are small; refuse floods */
#define ANN_REF_NAME "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"

/* ---- sha256 ------------------------------------------------------------------ */

struct ldb__sha256 {
	EVP_MD_CTX *ctx;
};

struct ldb__sha256 *ldb__sha256_new(void)
{
	struct ldb__sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		ldb__sha256_free(h);
		return NULL;
	}
	return h;
}

void ldb__sha256_update(struct ldb__sha256 *h, const void *p, size_t n)
{
	(void)EVP_DigestUpdate(h->ctx, p, n);
}

void ldb__sha256_final(struct ldb__sha256 *h, char *ret)
{
	unsigned char md[32];
	unsigned len = 0;

	(void)EVP_DigestFinal_ex(h->ctx, md, &len);
	memcpy(ret, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++)
		snprintf(ret + 7 + 2 * i, 3, "%02x", md[i]);
}

void ldb__sha256_free(struct ldb__sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void ldb__sha256_buffer(const void *p, size_t n, char *ret)
{
	struct ldb__sha256 *h = ldb__sha256_new();

	assert(h);
	ldb__sha256_update(h, p, n);
	ldb__sha256_final(h, ret);
	ldb__sha256_free(h);
}

int ldb__oci_check_digest(const char *digest)
{
	const char *colon = digest ? strchr(digest, ':') : NULL;

	if (!colon || colon == digest)
		return -EBADMSG;
	if ((size_t)(colon - digest) != 6 || strncmp(digest, "sha256", 6) != 0)
		return -EPROTONOSUPPORT;
	if (strlen(colon + 1) != 64 || strspn(colon + 1, "0123456789abcdef") != 64)
		return -EBADMSG;
	return 0;
}

/* ---- descriptors --------------------------------------------------------------- */

void ldb__oci_desc_clear(struct ldb__oci_desc *d)
{
	free(d->media_type);
	free(d->path);
	*d = (struct ldb__oci_desc){ .size = -1 };
}

void ldb__oci_image_clear(struct ldb__oci_image *img)
{
	ldb__oci_desc_clear(&img->manifest);
	ldb__oci_desc_clear(&img->config);
	for (size_t i = 0; i < img->n_layers; i++)
		ldb__oci_desc_clear(&img->layers[i]);
	free(img->layers);
	if (img->diff_ids)
		for (size_t i = 0; img->diff_ids[i]; i++)
			free(img->diff_ids[i]);
	free(img->diff_ids);
	free(img->config_json);
	free(img->ref_name);
	*img = (struct ldb__oci_image){ 0 };
}

static void json_putp(json_object **o)
{
	if (*o)
		json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static json_object *parse_json(struct ldb *db, const char *what, const char *text)
{
	enum json_tokener_error jerr = json_tokener_success;
	json_object *o = json_tokener_parse_verbose(text, &jerr);

	if (!o || !json_object_is_type(o, json_type_object)) {
		ldb__err(db, -EBADMSG, "%s is not a JSON object%s%s", what,
			 jerr != json_tokener_success ? ": " : "",
			 jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "");
		json_object_put(o);
		return NULL;
	}
	return o;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Fill @ret from an OCI descriptor object; the blob lives at blobs/<alg>/<hex>. */
static int parse_desc(struct ldb *db, const char *what, json_object *o, struct ldb__oci_desc *ret)
{
	const char *mt = get_str(o, "mediaType"), *dg = get_str(o, "digest");
	json_object *sz;
	int r;

	if (!dg || !json_object_object_get_ex(o, "size", &sz) ||
	    !json_object_is_type(sz, json_type_int) || json_object_get_int64(sz) < 0)
		return ldb__err(db, -EBADMSG, "%s: descriptor without digest or size", what);
	r = ldb__oci_check_digest(dg);
	if (r == -EPROTONOSUPPORT)
		return ldb__err(db, r, "%s: unsupported digest algorithm in '%s'", what, dg);
	if (r < 0)
		return ldb__err(db, r, "%s: malformed digest '%s'", what, dg);
	*ret = (struct ldb__oci_desc){ .size = json_object_get_int64(sz) };
	snprintf(ret->digest, sizeof(ret->digest), "%s", dg);
	ret->media_type = strdup(mt ? mt : "");
	if (asprintf(&ret->path, "blobs/sha256/%s", dg + 7) < 0)
		ret->path = NULL;
	if (!ret->media_type || !ret->path)
		return -ENOMEM;
	return 0;
}

/* ---- index.json ------------------------------------------------------------------ */

static const char *host_arch(void)
{
	static const struct { const char *uname, *oci; } map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" },
		{ "armv7l", "arm" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	static struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (strcmp(u.machine, map[i].uname) == 0)
			return map[i].oci;
	return u.machine;
}

static bool is_index_type(const char *mt)
{
	return strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
	       strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0;
}

/* Does manifest entry @m match @ref (by ref.name annotation or digest)? */
static bool entry_matches(json_object *m, const char *ref)
{
	json_object *ann;
	const char *name, *dg = get_str(m, "digest");

	if (dg && strcmp(dg, ref) == 0)
		return true;
	if (!json_object_object_get_ex(m, "annotations", &ann))
		return false;
	name = get_str(ann, ANN_REF_NAME);
	if (name && strcmp(name, ref) == 0)
		return true;
	name = get_str(ann, ANN_CONTAINERD_NAME);
	return name && strcmp(name, ref) == 0;
}

/* For a nested index: the entry for linux/<host arch>, if any. */
static bool platform_matches(json_object *m)
{
	json_object *p;
	const char *os, *arch;

	if (!json_object_object_get_ex(m, "platform", &p))
		return true;
	os = get_str(p, "os");
	arch = get_str(p, "architecture");
	return (!os || strcmp(os, "linux") == 0) && (!arch || strcmp(arch, host_arch()) == 0);
}

int ldb__oci_parse_index(struct ldb *db, const char *json, const char *ref,
			 struct ldb__oci_desc *ret, char **ret_ref_name)
{
	_cleanup_json_ json_object *o = parse_json(db, "index.json", json);
	json_object *ms, *found = NULL;
	size_t n, matches = 0;
	int r;

	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array))
		return ldb__err(db, -EBADMSG, "index.json has no manifests");
	n = json_object_array_length(ms);
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(ms, i);

		if (ref ? !entry_matches(m, ref) : !platform_matches(m))
			continue;
		if (!found)
			found = m;
		matches++;
	}
	if (!found && ref)
		return ldb__err(db, -ENOENT, "no image '%s' in the layout", ref);
	if (!found)
		return ldb__err(db, -ENOENT, "no image for linux/%s in the layout", host_arch());
	if (matches > 1 && !ref)
		return ldb__err(db, -ENOTUNIQ, "the layout holds %zu images: name one with :REF",
				matches);
	r = parse_desc(db, "index.json", found, ret);
	if (r < 0)
		return r;
	if (ret_ref_name) {
		json_object *ann;
		const char *name = NULL;

		if (json_object_object_get_ex(found, "annotations", &ann)) {
			name = get_str(ann, ANN_CONTAINERD_NAME);
			if (!name)
				name = get_str(ann, ANN_REF_NAME);
		}
		*ret_ref_name = name ? strdup(name) : NULL;
	}
	return 0;
}

/* ---- manifest and config ------------------------------------------------------- */

int ldb__oci_parse_manifest(struct ldb *db, const char *json, struct ldb__oci_image *img)
{
	_cleanup_json_ json_object *o = parse_json(db, "manifest", json);
	json_object *cfg, *ls, *sv;
	size_t n;
	int r;

	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "schemaVersion", &sv) || json_object_get_int(sv) != 2)
		return ldb__err(db, -EPROTONOSUPPORT, "manifest: only schemaVersion 2 is supported");
	if (!json_object_object_get_ex(o, "config", &cfg) ||
	    !json_object_object_get_ex(o, "layers", &ls) ||
	    !json_object_is_type(ls, json_type_array))
		return ldb__err(db, -EBADMSG, "manifest without config or layers");
	r = parse_desc(db, "manifest config", cfg, &img->config);
	if (r < 0)
		return r;
	n = json_object_array_length(ls);
	img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img->layers)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = parse_desc(db, "manifest layer", json_object_array_get_idx(ls, i),
			       &img->layers[i]);
		if (r < 0)
			return r;
		img->n_layers++;
	}
	return 0;
}

int ldb__oci_parse_config(struct ldb *db, const char *json, struct ldb__oci_image *img)
{
	_cleanup_json_ json_object *o = parse_json(db, "image config", json);
	json_object *rootfs, *ids;
	size_t n;

	if (!o)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "rootfs", &rootfs) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &ids) ||
	    !json_object_is_type(ids, json_type_array))
		return ldb__err(db, -EBADMSG, "image config without rootfs.diff_ids");
	n = json_object_array_length(ids);
	if (n != img->n_layers)
		return ldb__err(db, -EBADMSG, "image config lists %zu diff ids for %zu layers", n,
				img->n_layers);
	img->diff_ids = calloc(n + 1, sizeof(char *));
	if (!img->diff_ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *d = json_object_get_string(json_object_array_get_idx(ids, i));
		int r = ldb__oci_check_digest(d);

		if (r < 0)
			return ldb__err(db, r, "image config: bad diff id '%s'", d ? d : "");
		img->diff_ids[i] = strdup(d);
		if (!img->diff_ids[i])
			return -ENOMEM;
	}
	free(img->config_json);
	img->config_json = strdup(json);
	return img->config_json ? 0 : -ENOMEM;
}

/* A relative path inside the archive: no absolute path, no "..". */
static bool safe_relpath(const char *p)
{
	if (!p || !*p || p[0] == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');

		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

/* The sha256 a docker-archive file name carries ("<hex>.json", "blobs/sha256/<hex>"). */
static void digest_from_name(const char *path, char *ret)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strcspn(base, ".");
	ret[0] = '\0';
	if (len == 64 && strspn(base, "0123456789abcdef") >= 64)
		snprintf(ret, LDB__SHA256_LEN + 1, "sha256:%.64s", base);
}

static bool docker_entry_matches(json_object *m, const char *ref)
{
	json_object *tags;

	if (!json_object_object_get_ex(m, "RepoTags", &tags) ||
	    !json_object_is_type(tags, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(tags); i++) {
		const char *t = json_object_get_string(json_object_array_get_idx(tags, i));
		size_t rl = strlen(ref);

		/* "busybox" matches "busybox:latest" and "docker.io/library/busybox:latest" */
		if (t && (strcmp(t, ref) == 0 ||
			  (strncmp(t, ref, rl) == 0 && strcmp(t + rl, ":latest") == 0)))
			return true;
	}
	return false;
}

int ldb__oci_parse_docker(struct ldb *db, const char *json, const char *ref,
			  struct ldb__oci_image *img)
{
	enum json_tokener_error jerr = json_tokener_success;
	_cleanup_json_ json_object *o = json_tokener_parse_verbose(json, &jerr);
	json_object *m = NULL, *ls, *tags;
	const char *cfg;
	size_t n;

	if (!o || !json_object_is_type(o, json_type_array) || json_object_array_length(o) == 0)
		return ldb__err(db, -EBADMSG, "manifest.json is not a docker archive manifest");
	n = json_object_array_length(o);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(o, i);

		if (ref && !docker_entry_matches(e, ref))
			continue;
		if (m && !ref)
			return ldb__err(db, -ENOTUNIQ, "the archive holds %zu images: name one with "
					":REF", n);
		m = m ? m : e;
	}
	if (!m)
		return ldb__err(db, -ENOENT, "no image '%s' in the archive", ref);
	cfg = get_str(m, "Config");
	if (!safe_relpath(cfg) || !json_object_object_get_ex(m, "Layers", &ls) ||
	    !json_object_is_type(ls, json_type_array))
		return ldb__err(db, -EBADMSG, "manifest.json: bad Config or Layers");
	img->config = (struct ldb__oci_desc){ .size = -1, .path = strdup(cfg) };
	img->config.media_type = strdup("application/vnd.docker.container.image.v1+json");
	digest_from_name(cfg, img->config.digest);
	n = json_object_array_length(ls);
	img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img->layers || !img->config.path || !img->config.media_type)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p = json_object_get_string(json_object_array_get_idx(ls, i));
		struct ldb__oci_desc *d = &img->layers[i];

		if (!safe_relpath(p))
			return ldb__err(db, -EPERM, "manifest.json: layer path '%s' leaves the "
					"archive", p ? p : "");
		*d = (struct ldb__oci_desc){ .size = -1, .path = strdup(p) };
		d->media_type = strdup("application/vnd.docker.image.rootfs.diff.tar");
		img->n_layers++;
		if (!d->path || !d->media_type)
			return -ENOMEM;
	}
	if (json_object_object_get_ex(m, "RepoTags", &tags) &&
	    json_object_is_type(tags, json_type_array) && json_object_array_length(tags) > 0) {
		const char *t = json_object_get_string(json_object_array_get_idx(tags, 0));

		img->ref_name = t ? strdup(t) : NULL;
	}
	return 0;
}

/* ---- blobs ----------------------------------------------------------------------- */

int ldb__oci_open(struct ldb *db, int dirfd, const char *path)
{
	int r;

	if (!safe_relpath(path))
		return ldb__err(db, -EPERM, "'%s' leaves the image layout", path);
	r = ldb__open_beneath(dirfd, path, O_RDONLY, 0);
	if (r == -ELOOP || r == -EXDEV)
		return ldb__err(db, -EPERM, "'%s' goes through a symlink", path);
	if (r == -ENOENT)
		return ldb__err(db, r, "blob '%s' is missing from the layout", path);
	if (r < 0)
		return ldb__err(db, r, "cannot open '%s': %s", path, strerror(-r));
	return r;
}

static int read_small(struct ldb *db, int fd, const char *what, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *nb;

			if (cap >= OCI_BLOB_MAX)
				return ldb__err(db, -EFBIG, "'%s' is larger than %u bytes", what,
						OCI_BLOB_MAX);
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0)
			return ldb__err(db, -errno, "cannot read '%s': %m", what);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strlen(buf) != len)
		return ldb__err(db, -EBADMSG, "'%s' contains NUL bytes", what);
	*ret_len = len;
	*ret = steal_pointer(&buf);
	return 0;
}

int ldb__oci_read_blob(struct ldb *db, int dirfd, const struct ldb__oci_desc *d, char **ret)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	char got[LDB__SHA256_LEN + 1];
	size_t len;
	int r;

	r = fd = ldb__oci_open(db, dirfd, d->path);
	if (r < 0)
		return r;
	r = read_small(db, fd, d->path, &buf, &len);
	if (r < 0)
		return r;
	if (d->size >= 0 && (uint64_t)d->size != len)
		return ldb__err(db, -EBADMSG, "blob %s: size %zu, the manifest says %lld", d->path,
				len, (long long)d->size);
	if (d->digest[0]) {
		ldb__sha256_buffer(buf, len, got);
		if (strcmp(got, d->digest) != 0)
			return ldb__err(db, -EBADMSG, "blob %s: digest mismatch (got %s, expected "
					"%s)", d->path, got, d->digest);
	}
	*ret = steal_pointer(&buf);
	return 0;
}

static int load_oci(struct ldb *db, int dirfd, const char *ref, struct ldb__oci_image *img)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *index = NULL, *manifest = NULL, *config = NULL;
	size_t len;
	int r;

	r = fd = ldb__oci_open(db, dirfd, "index.json");
	if (r < 0)
		return r == -ENOENT ? ldb__err(db, r, "not an OCI image layout (no index.json)") : r;
	r = read_small(db, fd, "index.json", &index, &len);
	if (r < 0)
		return r;
	r = ldb__oci_parse_index(db, index, ref, &img->manifest, &img->ref_name);
	/* A nested index (multi-platform image): pick this machine's platform. */
	for (int depth = 0; r >= 0 && is_index_type(img->manifest.media_type); depth++) {
		struct ldb__oci_desc d = img->manifest;

		img->manifest = (struct ldb__oci_desc){ .size = -1 };
		free(index);
		index = NULL;
		r = depth < 4 ? ldb__oci_read_blob(db, dirfd, &d, &index) :
				ldb__err(db, -ELOOP, "image indexes nested too deep");
		ldb__oci_desc_clear(&d);
		if (r >= 0)
			r = ldb__oci_parse_index(db, index, NULL, &img->manifest, NULL);
	}
	if (r < 0)
		return r;
	r = ldb__oci_read_blob(db, dirfd, &img->manifest, &manifest);
	if (r < 0)
		return r;
	r = ldb__oci_parse_manifest(db, manifest, img);
	if (r < 0)
		return r;
	r = ldb__oci_read_blob(db, dirfd, &img->config, &config);
	if (r < 0)
		return r;
	return ldb__oci_parse_config(db, config, img);
}

static int load_docker(struct ldb *db, int dirfd, const char *ref, struct ldb__oci_image *img)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *manifest = NULL, *config = NULL;
	size_t len;
	int r;

	r = fd = ldb__oci_open(db, dirfd, "manifest.json");
	if (r < 0)
		return r == -ENOENT ? ldb__err(db, r, "not a docker archive (no manifest.json)") : r;
	r = read_small(db, fd, "manifest.json", &manifest, &len);
	if (r < 0)
		return r;
	r = ldb__oci_parse_docker(db, manifest, ref, img);
	if (r < 0)
		return r;
	r = ldb__oci_read_blob(db, dirfd, &img->config, &config);
	if (r < 0)
		return r;
	r = ldb__oci_parse_config(db, config, img);
	if (r < 0)
		return r;
	/* docker save layers are plain tars: their digest is the diff id. */
	for (size_t i = 0; i < img->n_layers; i++)
		snprintf(img->layers[i].digest, sizeof(img->layers[i].digest), "%s",
			 img->diff_ids[i]);
	return 0;
}

int ldb__oci_load(struct ldb *db, int dirfd, enum ldb_oci_transport t, const char *ref,
		  struct ldb__oci_image *img)
{
	int r;

	*img = (struct ldb__oci_image){ .manifest.size = -1, .config.size = -1 };
	r = t == LDB_DOCKER_ARCHIVE ? load_docker(db, dirfd, ref, img) : load_oci(db, dirfd, ref, img);
	if (r < 0)
		ldb__oci_image_clear(img);
	return r;
}

/* ---- the config kept in the store --------------------------------------------- */

int ldb_image_set_config(struct ldb *db, const struct ldb_digest *id, const char *config_json)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *e = NULL;
	_cleanup_json_ json_object *o = NULL;
	int r;

	db->errmsg[0] = '\0';
	o = parse_json(db, "image config", config_json);
	if (!o)
		return ldb__err(db, -EINVAL, "%s", db->errmsg);
	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb__prepare(db, "SELECT 1 FROM images WHERE id = ?", &e);
	if (r < 0)
		return r;
	ldb__bind_digest(e, 1, id);
	r = ldb__step(db, e);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no such image");
	r = ldb__prepare(db, "INSERT OR REPLACE INTO image_configs(image_id, config) VALUES (?, ?)",
			 &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	sqlite3_bind_text(s, 2, config_json, -1, SQLITE_STATIC);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	return 0;
}

int ldb_image_get_config(struct ldb *db, const struct ldb_digest *id, char **ret_json)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char *t;
	int r;

	r = ldb__prepare(db, "SELECT config FROM image_configs WHERE image_id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no config recorded for this image");
	t = ldb__column_strdup(s, 0);
	if (!t)
		return -ENOMEM;
	*ret_json = t;
	return 0;
}
