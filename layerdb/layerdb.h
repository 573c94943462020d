/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * layerdb.h - the only public header of liblayerdb, Strata's layer store.
 *
 * A store is a directory (see DESIGN.md, contract 4):
 *
 *   strata.db            SQLite database (WAL)
 *   layers/<id>/         one overlay-format diff directory per layer, read-only
 *   containers/<id>/     upper/, work/ and a lock file per container
 *   tmp/                 work in progress; anything here after a crash is garbage
 *   lock                 store lock (flock): shared by writers of layers/,
 *                        exclusive for removal, prune and check
 *
 * Identities (contract 5):
 *   - a layer id is the XXH3-128 digest of a canonical serialisation of the
 *     layer's content (ldb_digest_tree());
 *   - an image id ("chain id") is XXH3-128("strata-chain-v1" || parent image
 *     id or 16 zero bytes || layer id): one image per (parent, layer) pair;
 *   - a container id is random.
 * All ids are 16 bytes, printed as 32 lowercase hex digits; the long form
 * is prefixed with LDB_ID_PREFIX ("xxh128:"), the short form is the first
 * 12 hex digits.
 *
 * Errors: every int-returning function returns 0 (or a count) on success and
 * a negative errno on failure; a human-readable detail is then available from
 * ldb_errmsg().  Out parameters (ret_*) are never written on failure.
 *
 * Threads: one struct ldb per thread.  Processes: any number may open the
 * same store at once; every mutation is one SQLite transaction.
 */
#ifndef STRATA_LAYERDB_H
#define STRATA_LAYERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ldb;

/** An XXH3-128 digest in canonical (big-endian) byte order. */
struct ldb_digest {
	uint8_t bytes[16];
};

#define LDB_DIGEST_HEX_LEN 32
#define LDB_ID_PREFIX "xxh128:"
#define LDB_SHORT_ID_LEN 12

/* ---- db.c ---------------------------------------------------------------- */

enum ldb_open_flags {
	/** Keep the database in memory (tests); layers still go under root. */
	LDB_OPEN_MEMORY = 1u << 0,
};

/**
 * Open (and create if needed) the store at @root, migrating the schema.
 * @return 0, -EPROTONOSUPPORT if the database is newer than this code,
 *         -EUCLEAN if it is corrupt, or another negative errno.
 */
int ldb_open(const char *root, unsigned flags, struct ldb **ret_db);
/** Close a store handle; NULL-safe. */
void ldb_close(struct ldb *db);
/** Detail of the last error on @db (never NULL, "" if none). */
const char *ldb_errmsg(const struct ldb *db);
/** The store's root directory (borrowed). */
const char *ldb_root(const struct ldb *db);
/** Current schema version (PRAGMA user_version). */
int ldb_schema_version(struct ldb *db);

/* ---- digest.c ------------------------------------------------------------ */

/** Write 32 lowercase hex digits and a NUL to @ret. */
void ldb_digest_hex(const struct ldb_digest *d, char ret[LDB_DIGEST_HEX_LEN + 1]);
/** Parse 32 hex digits, optionally prefixed by "xxh128:". -EINVAL otherwise. */
int ldb_digest_parse(const char *s, struct ldb_digest *ret);
/** XXH3-128 of a buffer. */
void ldb_digest_buffer(const void *p, size_t n, struct ldb_digest *ret);
/** XXH3-128 of everything readable from @fd; @ret_size may be NULL. */
int ldb_digest_fd(int fd, struct ldb_digest *ret, uint64_t *ret_size);
/**
 * Canonical identity of the overlay-format layer directory @dirfd: paths in
 * byte order, types, permission bits, owners, xattrs (minus overlay markers and
 * security.selinux), content digests, symlink targets, device numbers, hard
 * link structure, whiteouts (char 0/0 and .wh.NAME alike) and opaque markers
 * (all encodings alike).  Timestamps are not part of the identity.
 */
int ldb_digest_tree(int dirfd, struct ldb_digest *ret);
/** Chain (image) id of @layer on top of @parent (NULL for a base image). */
void ldb_digest_chain(const struct ldb_digest *parent,
		      const struct ldb_digest *layer, struct ldb_digest *ret);

/* ---- progress ------------------------------------------------------------ */

struct ldb_progress {
	const char *phase; /* "extract", "copy", "digest", "verify" */
	uint64_t bytes;    /* bytes of file content done */
	uint64_t files;    /* entries done */
};
typedef void (*ldb_progress_cb)(const struct ldb_progress *p, void *payload);

/* ---- layer.c ------------------------------------------------------------- */

#define LDB_ADD_OPTS_VERSION 1
struct ldb_add_opts {
	uint32_t version;                 /* LDB_ADD_OPTS_VERSION */
	const struct ldb_digest *parent;  /* image to build on; NULL = base */
	const char *name;                 /* "repo[:tag]" to tag, or NULL */
	const char *comment;              /* -m */
	const char *author;               /* -a */
	const char *created_by;           /* history text, e.g. "strata add x" */
	ldb_progress_cb progress;
	void *payload;
};

/**
 * Add a layer from @source: a directory (copied; overlay-format whiteouts and
 * opaque markers are kept, .wh.* names are normalised), or a tar, tar.gz or
 * tar.zst file ("-" reads stdin), whose OCI whiteouts are translated.
 * Identical content is stored once.  Hostile archives (absolute or ../ paths,
 * symlinks whose relative target climbs out of the layer, hard links out of
 * the layer, paths through symlinks, devices when unprivileged) fail with
 * -EPERM; corrupt or truncated ones with -EBADMSG.
 * @ret_image: the image id (may be NULL).  @ret_layer: the layer id (may be NULL).
 */
int ldb_layer_add(struct ldb *db, const char *source,
		  const struct ldb_add_opts *opts, struct ldb_digest *ret_image,
		  struct ldb_digest *ret_layer);
/** Same, reading a (possibly compressed) tar stream from @fd. */
int ldb_layer_add_fd(struct ldb *db, int fd, const struct ldb_add_opts *opts,
		     struct ldb_digest *ret_image, struct ldb_digest *ret_layer);

struct ldb_layer_info {
	uint32_t version;
	struct ldb_digest id;
	uint64_t size;   /* bytes of regular-file content */
	uint64_t files;  /* entries, whiteouts included */
	int64_t created; /* unix seconds */
	unsigned images; /* image (chain) records using this layer */
	unsigned containers;   /* containers whose image chain includes it */
	uint64_t shared_files; /* regular files whose content is also in another layer */
	uint64_t shared_size;  /* bytes of those */
	char diff_id[80];      /* "sha256:<hex>" of the OCI tar stream, or "" if unknown */
};
typedef int (*ldb_layer_cb)(const struct ldb_layer_info *l, void *payload);

/** -ENOENT if unknown. */
int ldb_layer_get(struct ldb *db, const struct ldb_digest *id,
		  struct ldb_layer_info *ret);
/** Resolve a full id or a unique hex prefix (optionally "xxh128:"). */
int ldb_layer_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret);
/** All layers, newest first; a non-zero return of @cb stops and is returned. */
int ldb_layer_list(struct ldb *db, ldb_layer_cb cb, void *payload);
/**
 * Record the OCI diff id ("sha256:<64 hex>", the digest of the uncompressed
 * tar stream) of a layer, as computed by an OCI import or export.
 * -ENOENT if the layer is unknown, -EINVAL if @diff_id is malformed.
 */
int ldb_layer_set_diff_id(struct ldb *db, const struct ldb_digest *id, const char *diff_id);
/** Malloc'ed absolute path of the layer directory. */
int ldb_layer_path(struct ldb *db, const struct ldb_digest *id, char **ret);

enum ldb_verify_kind { LDB_VERIFY_OK, LDB_VERIFY_CHANGED, LDB_VERIFY_MISSING, LDB_VERIFY_ADDED };
typedef void (*ldb_verify_cb)(const struct ldb_digest *layer, enum ldb_verify_kind kind,
			      const char *path, void *payload);
/**
 * Recompute the canonical digest of a layer (all layers if @id is NULL) and
 * the content digest of each recorded file; @cb is called for each layer
 * (@path NULL) and for each file that differs.  Returns the number of layers
 * that do not match (0 = all good).
 */
int ldb_layer_verify(struct ldb *db, const struct ldb_digest *id, ldb_verify_cb cb,
		     ldb_progress_cb progress, void *payload);

/**
 * Write a layer as an OCI layer tar stream to @fd (whiteouts become .wh.NAME,
 * opaque dirs get .wh..wh..opq).  @compression: "none", "gzip" or "zstd".
 */
int ldb_layer_export(struct ldb *db, const struct ldb_digest *id, int fd,
		     const char *compression);

/* ---- image.c / ancestry.c ------------------------------------------------ */

struct ldb_image_info {
	uint32_t version;
	struct ldb_digest id;
	struct ldb_digest layer;
	struct ldb_digest parent;
	bool has_parent;
	int64_t created;
	uint64_t size;        /* own layer */
	uint64_t total_size;  /* whole chain */
	unsigned depth;       /* 1 for a base image */
	unsigned children;    /* images built directly on this one */
	unsigned containers;  /* containers using this image */
	char *comment, *author, *created_by; /* owned; may be NULL */
	char **tags;          /* owned, NULL-terminated "name:tag" */
};
typedef int (*ldb_image_cb)(const struct ldb_image_info *img, void *payload);
void ldb_image_info_clear(struct ldb_image_info *img);

/**
 * Resolve "name[:tag]" (":latest" implied), a full id, or a unique id prefix.
 * -ENOENT if nothing matches, -EINVAL on a malformed name, -ENOTUNIQ if a
 * prefix is ambiguous.
 */
int ldb_image_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret);
int ldb_image_get(struct ldb *db, const struct ldb_digest *id, struct ldb_image_info *ret);
enum ldb_image_list_flags {
	LDB_IMAGES_ALL = 1u << 0, /* include untagged intermediate images */
};
/** Images newest first (children before parents). */
int ldb_image_list(struct ldb *db, unsigned flags, ldb_image_cb cb, void *payload);
/**
 * The image chain, top first: @ret_images and/or @ret_layers (malloc'ed
 * arrays, may be NULL) and their count.
 */
int ldb_image_chain(struct ldb *db, const struct ldb_digest *id,
		    struct ldb_digest **ret_images, struct ldb_digest **ret_layers,
		    size_t *ret_n);
/** 1 if @ancestor is @id or one of its ancestors, 0 if not. */
int ldb_image_is_ancestor(struct ldb *db, const struct ldb_digest *ancestor,
			  const struct ldb_digest *id);
/** Point "name[:tag]" at @id (moving the tag if it exists). */
int ldb_image_tag(struct ldb *db, const struct ldb_digest *id, const char *name);
/** Split "name[:tag]" into malloc'ed parts; -EINVAL if malformed. */
int ldb_parse_name(const char *ref, char **ret_name, char **ret_tag);

enum ldb_rmi_event { LDB_RMI_UNTAGGED, LDB_RMI_DELETED };
typedef void (*ldb_rmi_cb)(enum ldb_rmi_event ev, const char *what, void *payload);
enum ldb_rmi_flags { LDB_RMI_FORCE = 1u << 0 };
/**
 * Docker's `rmi` on one reference.  @cb reports "Untagged: name:tag" and
 * "Deleted: xxh128:<id>" events.  Layers no image uses any more are removed.
 * -EBUSY on a conflict (ldb_errmsg() holds docker's conflict message),
 * -ENOENT if @ref is unknown.
 */
int ldb_image_remove(struct ldb *db, const char *ref, unsigned flags, ldb_rmi_cb cb,
		     void *payload);

struct ldb_search_hit {
	struct ldb_digest layer;
	struct ldb_digest image;  /* an image whose own layer is @layer */
	const char *path;
	char type;                /* 'f','d','l','w' (whiteout), ... */
	uint64_t size;
};
typedef int (*ldb_search_cb)(const struct ldb_search_hit *hit, void *payload);
/** Images whose name, tag, comment or author contains @term. */
int ldb_image_search(struct ldb *db, const char *term, ldb_image_cb cb, void *payload);
/** Layers that contain @path ("/etc/passwd"), with each image on them. */
int ldb_file_search(struct ldb *db, const char *path, ldb_search_cb cb, void *payload);

/* ---- container.c --------------------------------------------------------- */

struct ldb_container_info {
	uint32_t version;
	struct ldb_digest id;
	struct ldb_digest image;
	char *name;        /* owned */
	char *mountpoint;  /* owned; NULL when not recorded as mounted */
	bool mounted;      /* mountpoint recorded and really mounted */
	int64_t created;
	char *upper, *work; /* owned absolute paths */
};
typedef int (*ldb_container_cb)(const struct ldb_container_info *c, void *payload);
void ldb_container_info_clear(struct ldb_container_info *c);

/** New container on @image; @name NULL picks a random "adjective_noun". -EEXIST if taken. */
int ldb_container_create(struct ldb *db, const struct ldb_digest *image, const char *name,
			 struct ldb_digest *ret_id);
/** By name, full id or unique id prefix; -ENOENT, -ENOTUNIQ. */
int ldb_container_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret);
/** The container recorded as mounted on @mountpoint (realpath'ed by caller). */
int ldb_container_by_mountpoint(struct ldb *db, const char *mountpoint,
				struct ldb_digest *ret);
int ldb_container_get(struct ldb *db, const struct ldb_digest *id,
		      struct ldb_container_info *ret);
int ldb_container_list(struct ldb *db, ldb_container_cb cb, void *payload);
/**
 * Take the container's lock (flock on containers/<id>/lock); returns an fd to
 * close to release it.  Mount, umount, commit and rm hold it.
 */
int ldb_container_lock(struct ldb *db, const struct ldb_digest *id);
/**
 * Record (@mountpoint != NULL) or clear the mount of a container.  Recording
 * fails with -EBUSY if the container is recorded mounted and really mounted.
 */
int ldb_container_set_mount(struct ldb *db, const struct ldb_digest *id,
			    const char *mountpoint);
enum ldb_rm_flags { LDB_RM_FORCE = 1u << 0 };
/** Remove a container and its upper; -EBUSY if mounted (unless forced). */
int ldb_container_remove(struct ldb *db, const struct ldb_digest *id, unsigned flags);
/**
 * Turn the container's changes into a new layer on top of its image; @opts
 * parent is ignored.  Unmounted: the upper dir is renamed into the store
 * (O(1) in data) and the container is rebased on the new image with an empty
 * upper.  Mounted: the upper is snapshot-copied (reflink when possible; each
 * file copied until it is stable) and the container is left as it is.
 */
int ldb_container_commit(struct ldb *db, const struct ldb_digest *id,
			 const struct ldb_add_opts *opts, struct ldb_digest *ret_image);

/* ---- store.c ------------------------------------------------------------- */

typedef void (*ldb_report_cb)(const char *what, void *payload);
enum ldb_check_flags { LDB_CHECK_REPAIR = 1u << 0 };
/**
 * Compare the database and the store; with LDB_CHECK_REPAIR, fix what a crash
 * can leave (tmp/ garbage, unrecorded layer or container dirs, interrupted
 * commits, stale mount records).  @cb gets one line per finding.  Returns the
 * number of problems left unrepaired.
 */
int ldb_store_check(struct ldb *db, unsigned flags, ldb_report_cb cb, void *payload);
/**
 * Remove dangling images (untagged, no children, no container), layers no
 * image uses, stale mount records and leftovers; reports "Deleted: ..." lines.
 * @ret_reclaimed: bytes freed (may be NULL).
 */
int ldb_store_prune(struct ldb *db, ldb_report_cb cb, void *payload, uint64_t *ret_reclaimed);

struct ldb_df {
	uint64_t images, images_active;
	uint64_t layers, layers_active;
	uint64_t layers_size, layers_reclaimable;   /* bytes */
	uint64_t containers, containers_mounted;
	uint64_t containers_size;                    /* bytes in uppers */
	uint64_t shared_size, shared_files;          /* content in >1 layer */
};
int ldb_store_df(struct ldb *db, struct ldb_df *ret);

/* ---- oci.c, oci-import.c, oci-export.c, oci-flatten.c: OCI images --------- */

/**
 * Record (replace) the OCI image config JSON of an image (what `inspect`
 * shows and `run` uses: env, entrypoint, cmd, workdir, user, labels, history).
 * -ENOENT if the image is unknown, -EINVAL if @config_json is not a JSON object.
 */
int ldb_image_set_config(struct ldb *db, const struct ldb_digest *id, const char *config_json);
/** The config JSON recorded for an image (malloc'ed); -ENOENT if none. */
int ldb_image_get_config(struct ldb *db, const struct ldb_digest *id, char **ret_json);

enum ldb_oci_transport {
	LDB_OCI_DIR,        /* an OCI image layout directory */
	LDB_OCI_ARCHIVE,    /* the same, as a tar file */
	LDB_DOCKER_ARCHIVE, /* a `docker save` tar file */
};

/** Per-layer progress of an import or export, as `docker pull` prints it. */
struct ldb_oci_event {
	const char *id;     /* 12 hex digits of the layer blob's sha256 */
	const char *status; /* "Verifying", "Extracting", "Pull complete", "Already exists",
			     * "Exporting", "Export complete" */
	uint64_t done, total; /* bytes (compressed blob); total 0 if unknown */
};
typedef void (*ldb_oci_cb)(const struct ldb_oci_event *ev, void *payload);

#define LDB_OCI_OPTS_VERSION 1
struct ldb_oci_opts {
	uint32_t version;        /* LDB_OCI_OPTS_VERSION */
	enum ldb_oci_transport transport;
	const char *path;        /* the layout directory or archive file */
	const char *ref;         /* image in the layout (ref.name annotation, docker RepoTag);
				  * NULL: the only one (import) / none (export) */
	const char *name;        /* import: "name[:tag]" to tag; NULL: the layout's name if any */
	const char *compression; /* export: "zstd" (default), "gzip" or "none" */
	ldb_oci_cb progress;
	void *payload;
};

/**
 * Import an image from an OCI layout, OCI archive or docker archive.  Every
 * blob (manifest, config, layers) is checked against its sha256 digest and
 * size, and every layer against the config's diff id, before anything is
 * recorded; a mismatch fails with -EBADMSG and stores nothing.  Layers become
 * a chain of images (identical layers are stored once); the top one gets the
 * config (ldb_image_set_config()) and the name.  Hostile layer tars fail as
 * in ldb_layer_add().  -ENOENT if @o->ref is not in the layout, -EPROTONOSUPPORT
 * for media types or digest algorithms we do not read.
 */
int ldb_oci_import(struct ldb *db, const struct ldb_oci_opts *o, struct ldb_digest *ret_image);
/**
 * Export an image as an OCI layout (LDB_OCI_DIR, merged into an existing
 * layout) or OCI archive (LDB_OCI_ARCHIVE).  Layer tars are reproducible
 * (sorted entries, no atime/ctime, no user/group names), so exporting the same
 * image twice gives the same digests.  Records each layer's diff id.
 * @ret_digest (may be NULL): "sha256:..." of the manifest (>= 80 bytes).
 */
int ldb_oci_export(struct ldb *db, const struct ldb_digest *image, const struct ldb_oci_opts *o,
		   char *ret_digest);
/** Write the merged root file system of an image (whiteouts applied) as one tar to @fd. */
int ldb_image_flatten(struct ldb *db, const struct ldb_digest *image, int fd);

#endif /* STRATA_LAYERDB_H */
