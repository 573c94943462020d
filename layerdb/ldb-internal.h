/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ldb-internal.h - private to liblayerdb (and its unit tests): the definition
 * of struct ldb and the semi-private ldb__* helpers, grouped per file.
 */
#ifndef STRATA_LDB_INTERNAL_H
#define STRATA_LDB_INTERNAL_H

#include <sqlite3.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "layerdb.h"
#include "macro.h"

/* Why 30 s: commits of big layers hold the write lock only for the record
 * step, but a parallel test may queue a dozen writers behind each other. */
#define LDB_BUSY_TIMEOUT_MS 30000

/* ldb_open() flag for tests: leave the schema as found (see ldb__migrate()). */
#define LDB__OPEN_NO_MIGRATE (1u << 31)

enum ldb_fault {
	LDB_FAULT_NONE = 0,
	LDB_FAULT_COMMIT = 1u << 0, /* next ldb__tx_commit() fails with -EIO */
	/* SIGKILL ourselves between publishing a layer dir and recording it:
	 * the worst moment for a crash.  Set by STRATA_FAULT=kill-after-publish
	 * (crash tests); see ldb__fault_point(). */
	LDB_FAULT_KILL_AFTER_PUBLISH = 1u << 1,
};

struct ldb {
	sqlite3 *sql;
	char *root;        /* absolute */
	int root_fd;       /* O_PATH|O_DIRECTORY on root */
	int lock_fd;       /* root/lock, for flock() */
	/* What the store's file system lets us write, probed once at open. */
	bool privileged;        /* real device nodes can be created */
	bool chardev_whiteouts; /* 0/0 char devices (unprivileged since Linux 5.8) */
	bool trusted_xattrs;    /* trusted.* xattrs (CAP_SYS_ADMIN) */
	unsigned fault;    /* enum ldb_fault, tests only */
	char errmsg[512];
};

static inline void sqlite3_finalizep(sqlite3_stmt **s)
{
	if (*s)
		sqlite3_finalize(*s);
}
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* db.c */
int ldb__err(struct ldb *db, int r, const char *fmt, ...) _printf_(3, 4);
int ldb__sql_err(struct ldb *db, int rc);
int ldb__prepare(struct ldb *db, const char *sql, sqlite3_stmt **ret);
/* 1 on SQLITE_ROW, 0 on SQLITE_DONE, negative errno otherwise. */
int ldb__step(struct ldb *db, sqlite3_stmt *s);
int ldb__exec(struct ldb *db, const char *sql);
int ldb__tx_begin(struct ldb *db);
int ldb__tx_commit(struct ldb *db);
void ldb__tx_rollback(struct ldb *db);
/* For `_cleanup_(ldb__tx_cleanup) struct ldb *tx = db;`: rolls back if open. */
void ldb__tx_cleanup(struct ldb **db);
int ldb__migrate(struct ldb *db, int target);
int ldb__schema_latest(void);
void ldb__set_fault(struct ldb *db, unsigned fault);
void ldb__fault_point(struct ldb *db, unsigned fault);
int ldb__bind_digest(sqlite3_stmt *s, int idx, const struct ldb_digest *d);
int ldb__column_digest(sqlite3_stmt *s, int col, struct ldb_digest *ret);
char *ldb__column_strdup(sqlite3_stmt *s, int col);

/* digest.c */
struct ldb__entry {
	const char *path;  /* "/a/b" */
	char type;         /* 'f' 'd' 'l' 'c' 'b' 'p' 's' 'h' 'w' */
	uint64_t size;
	struct ldb_digest digest; /* regular files only */
};
typedef int (*ldb__entry_cb)(const struct ldb__entry *e, void *payload);
int ldb__digest_tree(int dirfd, struct ldb_digest *ret, ldb__entry_cb cb,
		     ldb_progress_cb progress, void *payload);
bool ldb__is_opaque_xattr(const char *name, const char *value, size_t len);
bool ldb__is_private_xattr(const char *name);

/* fsutil.c */
int ldb__open_beneath(int rootfd, const char *path, int flags, mode_t mode);
int ldb__rm_rf_at(int dirfd, const char *name);
int ldb__mkdir_p(const char *path, mode_t mode);
int ldb__make_whiteout(struct ldb *db, int dirfd, const char *name);
int ldb__make_opaque(struct ldb *db, int dirfd);
int ldb__copy_xattrs(int src, int dst);
/*
 * Emulated ownership, as fuse-overlayfs and containers/storage record it for
 * an unprivileged store: "uid:gid:0mode[:type]" in user.containers.override_stat
 * on regular files and directories (stratafs -o xattr_permissions=2 shows it).
 */
#define LDB__OVERRIDE_XATTR "user.containers.override_stat"
bool ldb__is_override_xattr(const char *name);
int ldb__override_parse(const char *value, size_t len, uid_t *ret_uid, gid_t *ret_gid,
			mode_t *ret_perm);
/* Replace owner and permission bits of @st (a file or directory) by the
 * override of @name in @dirfd (@name NULL: of @dirfd itself), if it has one. */
void ldb__override_apply(int dirfd, const char *name, struct stat *st);
/* chown + chmod the file or directory @fd; what the store cannot keep (not
 * root: other owners, dropped set-id bits) goes into the override xattr,
 * and a stale override is removed.  Only chmod and real I/O errors fail. */
int ldb__set_owner_mode(int fd, uid_t uid, gid_t gid, mode_t mode);
int ldb__copy_data(int src, int dst, uint64_t size);
struct ldb__copy_opts {
	bool stable;          /* retry files that change while copied */
	ldb_progress_cb progress;
	void *payload;
	uint64_t bytes, files;
};
int ldb__copy_tree(struct ldb *db, int srcfd, int dstfd, struct ldb__copy_opts *o);
int ldb__is_mountpoint(const char *path);
int ldb__fsync_dir(int dirfd);
uint64_t ldb__du(int dirfd);
bool ldb__dir_is_empty(int dirfd, const char *path);

/* archive.c */
int ldb__archive_extract(struct ldb *db, int fd, int dstfd, ldb_progress_cb progress,
			 void *payload);

/* store.c */
/* A private work dir tmp/<random>, flock'ed while in use (check skips it). */
struct ldb__tmp {
	char name[64];   /* relative to tmp/ */
	int fd;          /* O_DIRECTORY, holds the flock */
};
int ldb__tmp_create(struct ldb *db, struct ldb__tmp *ret);
void ldb__tmp_destroy(struct ldb *db, struct ldb__tmp *t);
int ldb__store_lock(struct ldb *db, bool exclusive);
void ldb__store_unlock(struct ldb *db);
int ldb__trash(struct ldb *db, const char *dir, const char *name);
int ldb__gc_layers(struct ldb *db, const struct ldb_digest *ids, size_t n);

/* layer.c */
struct ldb__record {
	const struct ldb_add_opts *opts;
	struct ldb_digest parent;
	bool has_parent;
	struct ldb_digest layer;
	/* filled by the walk */
	uint64_t size, files;
	struct ldb__entry *entries; /* paths owned */
	size_t n_entries, entries_cap;
};
void ldb__record_free(struct ldb__record *rec);
int ldb__record_walk(struct ldb *db, int dirfd, struct ldb__record *rec);
/* Inside a transaction: insert layer (+files) if new, image, tag. */
int ldb__record_insert(struct ldb *db, struct ldb__record *rec,
		       struct ldb_digest *ret_image);
int ldb__resolve_prefix(struct ldb *db, const char *table, const char *ref,
			struct ldb_digest *ret);
/* Rename @src_name to layers/<id>; 1 if identical content already was there. */
int ldb__layer_publish(struct ldb *db, int src_dirfd, const char *src_name,
		       const struct ldb_digest *id);
int ldb__layer_install_tmp(struct ldb *db, struct ldb__tmp *t,
			   const struct ldb_add_opts *opts, const struct ldb_digest *parent,
			   struct ldb_digest *ret_image, struct ldb_digest *ret_layer);

/* ancestry.c */
int ldb__chain_stats(struct ldb *db, const struct ldb_digest *id, unsigned *ret_depth,
		     uint64_t *ret_total);

/* image.c */
int ldb__tag_set(struct ldb *db, const struct ldb_digest *id, const char *ref);
int ldb__image_fill(struct ldb *db, struct ldb_image_info *img);

/* container.c */
int ldb__pending_delete(struct ldb *db, int64_t id);
/* ldb_container_lock(); with !@wait, -EWOULDBLOCK if someone holds it. */
int ldb__container_lock(struct ldb *db, const struct ldb_digest *id, bool wait);
int ldb__container_finish_commit(struct ldb *db, const struct ldb_digest *cid,
				 struct ldb__record *rec, struct ldb_digest *ret_image);

/* oci.c */
#define LDB__SHA256_LEN 71 /* "sha256:" + 64 hex */
struct ldb__oci_desc {
	char *media_type;
	char digest[LDB__SHA256_LEN + 1]; /* "" if unknown (docker-archive layers) */
	int64_t size;                     /* -1 if unknown */
	char *path;                       /* blob path relative to the layout */
};
struct ldb__oci_image {
	struct ldb__oci_desc manifest;
	struct ldb__oci_desc config;
	struct ldb__oci_desc *layers;
	size_t n_layers;
	char **diff_ids;    /* from the config, one per layer */
	char *config_json;  /* verified config text */
	char *ref_name;     /* name recorded in the layout, or NULL */
};
void ldb__oci_desc_clear(struct ldb__oci_desc *d);
void ldb__oci_image_clear(struct ldb__oci_image *img);
/* "sha256:<64 lowercase hex>" -> 0, -EPROTONOSUPPORT other algorithms, -EBADMSG malformed. */
int ldb__oci_check_digest(const char *digest);
/* Streaming sha256 ("sha256:<hex>" into @ret, LDB__SHA256_LEN + 1 bytes). */
struct ldb__sha256;
struct ldb__sha256 *ldb__sha256_new(void);
void ldb__sha256_update(struct ldb__sha256 *h, const void *p, size_t n);
void ldb__sha256_final(struct ldb__sha256 *h, char *ret);
void ldb__sha256_free(struct ldb__sha256 *h);
void ldb__sha256_buffer(const void *p, size_t n, char *ret);
/* JSON documents of a layout.  @ref selects by annotation; NULL takes the only one. */
int ldb__oci_parse_index(struct ldb *db, const char *json, const char *ref,
			 struct ldb__oci_desc *ret, char **ret_ref_name);
int ldb__oci_parse_manifest(struct ldb *db, const char *json, struct ldb__oci_image *img);
int ldb__oci_parse_config(struct ldb *db, const char *json, struct ldb__oci_image *img);
int ldb__oci_parse_docker(struct ldb *db, const char *json, const char *ref,
			  struct ldb__oci_image *img);
/* Read a small blob (<= 16 MiB) and check its size and digest: -EBADMSG on mismatch. */
int ldb__oci_read_blob(struct ldb *db, int dirfd, const struct ldb__oci_desc *d, char **ret);
/* Resolve the image of a layout dir: manifest, config and layer descriptors. */
int ldb__oci_load(struct ldb *db, int dirfd, enum ldb_oci_transport t, const char *ref,
		  struct ldb__oci_image *img);
/* Open a file of the layout, never leaving @dirfd. */
int ldb__oci_open(struct ldb *db, int dirfd, const char *path);

/* oci-import.c */
/* Check one layer blob: size, sha256 and (uncompressed) diff id. */
int ldb__oci_verify_layer(struct ldb *db, int dirfd, const struct ldb__oci_desc *d,
			  const char *diff_id, ldb_oci_cb cb, void *payload);

#endif /* STRATA_LDB_INTERNAL_H */
