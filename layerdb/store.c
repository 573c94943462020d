/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c - the store as a whole: private work dirs in tmp/, the store lock,
 * garbage collection of layer directories, check (crash repair), prune, df.
 *
 * Locking: root/lock is flock()ed
 *   - shared by whoever moves a directory into layers/ and records it (add,
 *     commit): between the rename and the record, the directory is
 *     unrecorded and must not be taken for garbage;
 *   - exclusive by whoever deletes layer directories or judges what is
 *     garbage (rmi, prune, check).
 * A work dir tmp/<name> is flock()ed by its owner for its whole life; check
 * removes only work dirs whose lock it can take, i.e. whose owner is gone.
 * flock()s die with their process, so a crash never leaves a lock behind.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "ldb-internal.h"

int ldb__tmp_create(struct ldb *db, struct ldb__tmp *ret)
{
	_cleanup_close_ int tmpfd = -EBADF, fd = -EBADF;
	struct ldb__tmp t;
	uint32_t rnd = 0;
	int r;

	r = tmpfd = neg_errno(openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot open '%s/tmp': %m", db->root);
	for (int i = 0;; i++) {
		(void)getrandom(&rnd, sizeof(rnd), 0);
		snprintf(t.name, sizeof(t.name), "%d-%08x", (int)getpid(), rnd);
		r = neg_errno(mkdirat(tmpfd, t.name, 0755));
		if (r == 0)
			break;
		if (r != -EEXIST || i > 16)
			return ldb__err(db, r, "cannot create a work dir in '%s/tmp': %s", db->root,
					strerror(-r));
	}
	r = fd = neg_errno(openat(tmpfd, t.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
	if (r < 0)
		return r;
	r = neg_errno(flock(fd, LOCK_EX));
	if (r < 0)
		return r;
	t.fd = take_fd(fd);
	*ret = t;
	return 0;
}

void ldb__tmp_destroy(struct ldb *db, struct ldb__tmp *t)
{
	int tmpfd;

	if (t->fd < 0)
		return;
	tmpfd = openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd >= 0) {
		(void)ldb__rm_rf_at(tmpfd, t->name);
		close(tmpfd);
	}
	close(t->fd);
	t->fd = -EBADF;
}

int ldb__store_lock(struct ldb *db, bool exclusive)
{
	int r;

	do {
		r = neg_errno(flock(db->lock_fd, exclusive ? LOCK_EX : LOCK_SH));
	} while (r == -EINTR);
	if (r < 0)
		return ldb__err(db, r, "cannot lock the store: %s", strerror(-r));
	return 0;
}

void ldb__store_unlock(struct ldb *db)
{
	(void)flock(db->lock_fd, LOCK_UN);
}

/* Atomically move root/@dir/@name into tmp/ and delete it from there. */
int ldb__trash(struct ldb *db, const char *dir, const char *name)
{
	_cleanup_close_ int dfd = -EBADF, tmpfd = -EBADF;
	char trash[64];
	uint32_t rnd = 0;
	int r;

	r = dfd = neg_errno(openat(db->root_fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	r = tmpfd = neg_errno(openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	(void)getrandom(&rnd, sizeof(rnd), 0);
	snprintf(trash, sizeof(trash), "trash-%d-%08x", (int)getpid(), rnd);
	r = neg_errno(renameat(dfd, name, tmpfd, trash));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return ldb__rm_rf_at(tmpfd, trash);
}

/* Delete the directories of layers whose rows are gone (store lock held). */
int ldb__gc_layers(struct ldb *db, const struct ldb_digest *ids, size_t n)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		struct ldb_layer_info li;
		char hex[LDB_DIGEST_HEX_LEN + 1];
		int r;

		if (ldb_layer_get(db, &ids[i], &li) == 0)
			continue; /* recorded again meanwhile */
		ldb_digest_hex(&ids[i], hex);
		r = ldb__trash(db, "layers", hex);
		if (r < 0 && ret == 0)
			ret = ldb__err(db, r, "cannot remove layer directory '%s': %s", hex,
				       strerror(-r));
	}
	return ret;
}

static void report(ldb_report_cb cb, void *payload, const char *fmt, ...) _printf_(3, 4);
static void report(ldb_report_cb cb, void *payload, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (cb)
		cb(buf, payload);
}

/* ---- check ---------------------------------------------------------------- */

struct check_ctx {
	struct ldb *db;
	bool repair;
	ldb_report_cb cb;
	void *payload;
	int left;
};

static int check_sql(struct check_ctx *c)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *f = NULL;
	int r;

	r = ldb__prepare(c->db, "PRAGMA integrity_check", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(c->db, s)) > 0) {
		const char *t = (const char *)sqlite3_column_text(s, 0);

		if (t && strcmp(t, "ok") != 0) {
			report(c->cb, c->payload, "database: %s", t);
			c->left++;
		}
	}
	if (r < 0)
		return r;
	r = ldb__prepare(c->db, "PRAGMA foreign_key_check", &f);
	if (r < 0)
		return r;
	while ((r = ldb__step(c->db, f)) > 0) {
		report(c->cb, c->payload, "database: dangling reference in table %s",
		       sqlite3_column_text(f, 0));
		c->left++;
	}
	return r;
}

static int check_tmp(struct check_ctx *c)
{
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(c->db->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		_cleanup_close_ int efd = -EBADF;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		efd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (efd >= 0 && flock(efd, LOCK_EX | LOCK_NB) < 0)
			continue; /* owner alive */
		report(c->cb, c->payload, "%s leftover tmp/%s", c->repair ? "removed" : "found",
		       de->d_name);
		if (c->repair)
			(void)ldb__rm_rf_at(dirfd(d), de->d_name);
		else
			c->left++;
	}
	return 0;
}

static bool is_hex_id(const char *s)
{
	struct ldb_digest d;

	return ldb_digest_parse(s, &d) == 0 && !strchr(s, ':');
}

static int check_dir_vs_rows(struct check_ctx *c, const char *dir, const char *table)
{
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sql = NULL;
	struct dirent *de;
	int fd, r;

	if (asprintf(&sql, "SELECT 1 FROM %s WHERE id = ?", table) < 0)
		return -ENOMEM;
	r = ldb__prepare(c->db, sql, &s);
	if (r < 0)
		return r;
	fd = openat(c->db->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct ldb_digest id;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!is_hex_id(de->d_name)) {
			report(c->cb, c->payload, "%s/%s: not a store entry", dir, de->d_name);
			c->left++;
			continue;
		}
		(void)ldb_digest_parse(de->d_name, &id);
		sqlite3_reset(s);
		ldb__bind_digest(s, 1, &id);
		r = ldb__step(c->db, s);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		report(c->cb, c->payload, "%s unrecorded %s/%s", c->repair ? "removed" : "found",
		       dir, de->d_name);
		if (c->repair)
			(void)ldb__trash(c->db, dir, de->d_name);
		else
			c->left++;
	}
	return 0;
}

static int check_rows_vs_dirs(struct check_ctx *c)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *k = NULL;
	int r;

	r = ldb__prepare(c->db, "SELECT id FROM layers", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(c->db, s)) > 0) {
		struct ldb_digest id;
		char hex[LDB_DIGEST_HEX_LEN + 1], p[64];

		ldb__column_digest(s, 0, &id);
		ldb_digest_hex(&id, hex);
		snprintf(p, sizeof(p), "layers/%s", hex);
		if (faccessat(c->db->root_fd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		report(c->cb, c->payload, "layer %s is recorded but its directory is missing",
		       hex);
		c->left++;
	}
	if (r < 0)
		return r;
	r = ldb__prepare(c->db, "SELECT id, mountpoint FROM containers", &k);
	if (r < 0)
		return r;
	while ((r = ldb__step(c->db, k)) > 0) {
		struct ldb_digest id;
		char hex[LDB_DIGEST_HEX_LEN + 1], p[128];
		const char *mp = (const char *)sqlite3_column_text(k, 1);

		ldb__column_digest(k, 0, &id);
		ldb_digest_hex(&id, hex);
		for (int i = 0; i < 2; i++) {
			snprintf(p, sizeof(p), "containers/%s/%s", hex, i ? "work" : "upper");
			if (faccessat(c->db->root_fd, p, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			report(c->cb, c->payload, "%s missing %s of container %.12s",
			       c->repair ? "recreated" : "found", i ? "work" : "upper", hex);
			if (!c->repair) {
				c->left++;
				continue;
			}
			snprintf(p, sizeof(p), "%s/containers/%s/%s", c->db->root, hex,
				 i ? "work" : "upper");
			(void)ldb__mkdir_p(p, 0755);
		}
		if (mp && ldb__is_mountpoint(mp) <= 0) {
			/* A `strata mount` in progress records the mount before the
			 * daemon mounts, holding the container lock: not stale. */
			_cleanup_close_ int lock = ldb__container_lock(c->db, &id, /* wait= */ false);

			if (lock < 0)
				continue;
			report(c->cb, c->payload, "%s stale mount record of container %.12s (%s)",
			       c->repair ? "cleared" : "found", hex, mp);
			if (c->repair)
				(void)ldb_container_set_mount(c->db, &id, NULL);
			else
				c->left++;
		}
	}
	return r;
}

/* Finish or undo multi-step operations a crash interrupted (see container.c). */
static int check_pending(struct check_ctx *c)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(c->db, "SELECT id, op, container_id, layer_id, parent_id, name, "
			 "comment, author, created_by FROM pending", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(c->db, s)) > 0) {
		struct ldb_add_opts o = {
			.version = LDB_ADD_OPTS_VERSION,
			.name = (const char *)sqlite3_column_text(s, 5),
			.comment = (const char *)sqlite3_column_text(s, 6),
			.author = (const char *)sqlite3_column_text(s, 7),
			.created_by = (const char *)sqlite3_column_text(s, 8),
		};
		struct ldb__record rec = { .opts = &o };
		struct ldb_digest cid;
		char hex[LDB_DIGEST_HEX_LEN + 1], chex[LDB_DIGEST_HEX_LEN + 1], p[160];
		_cleanup_close_ int lfd = -EBADF;
		bool moved;
		int64_t pid = sqlite3_column_int64(s, 0);

		ldb__column_digest(s, 2, &cid);
		ldb__column_digest(s, 3, &rec.layer);
		rec.has_parent = ldb__column_digest(s, 4, &rec.parent) == 0;
		ldb_digest_hex(&rec.layer, hex);
		ldb_digest_hex(&cid, chex);
		snprintf(p, sizeof(p), "containers/%s/upper", chex);
		/* The upper is renamed away first, then recreated empty: if it is
		 * still there with content, the commit never moved it. */
		moved = faccessat(c->db->root_fd, p, F_OK, AT_SYMLINK_NOFOLLOW) < 0 ||
			ldb__dir_is_empty(c->db->root_fd, p);
		snprintf(p, sizeof(p), "layers/%s", hex);
		lfd = openat(c->db->root_fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (!moved || lfd < 0) {
			report(c->cb, c->payload, "%s interrupted commit of container %.12s",
			       c->repair ? "rolled back" : "found", chex);
			if (c->repair)
				(void)ldb__pending_delete(c->db, pid);
			else
				c->left++;
			continue;
		}
		report(c->cb, c->payload, "%s interrupted commit of container %.12s",
		       c->repair ? "completed" : "found", chex);
		if (!c->repair) {
			c->left++;
			continue;
		}
		r = ldb__record_walk(c->db, lfd, &rec);
		if (r >= 0)
			r = ldb__container_finish_commit(c->db, &cid, &rec, NULL);
		ldb__record_free(&rec);
		if (r >= 0)
			r = ldb__pending_delete(c->db, pid);
		if (r < 0) {
			report(c->cb, c->payload, "cannot complete commit of container %.12s: %s",
			       chex, ldb_errmsg(c->db));
			c->left++;
		}
	}
	return r;
}

int ldb_store_check(struct ldb *db, unsigned flags, ldb_report_cb cb, void *payload)
{
	struct check_ctx c = { .db = db, .repair = flags & LDB_CHECK_REPAIR, .cb = cb,
			       .payload = payload };
	int r;

	r = check_sql(&c);
	if (r < 0)
		return r;
	r = ldb__store_lock(db, true);
	if (r < 0)
		return r;
	r = check_pending(&c);
	if (r >= 0)
		r = check_tmp(&c);
	if (r >= 0)
		r = check_dir_vs_rows(&c, "layers", "layers");
	if (r >= 0)
		r = check_dir_vs_rows(&c, "containers", "containers");
	if (r >= 0)
		r = check_rows_vs_dirs(&c);
	ldb__store_unlock(db);
	return r < 0 ? r : c.left;
}

/* ---- prune ------------------------------------------------------------------ */

static int collect_ids(struct ldb *db, const char *sql, struct ldb_digest **ids, size_t *n)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r, count = 0;

	r = ldb__prepare(db, sql, &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_digest *ni = realloc(*ids, (*n + 1) * sizeof(**ids));

		if (!ni)
			return -ENOMEM;
		*ids = ni;
		ldb__column_digest(s, 0, &ni[(*n)++]);
		count++;
	}
	return r < 0 ? r : count;
}

int ldb_store_prune(struct ldb *db, ldb_report_cb cb, void *payload, uint64_t *ret_reclaimed)
{
	_cleanup_free_ struct ldb_digest *images = NULL, *layers = NULL;
	size_t n_images = 0, n_layers = 0;
	uint64_t reclaimed = 0;
	int r;

	r = ldb_store_check(db, LDB_CHECK_REPAIR, NULL, NULL);
	if (r < 0)
		return r;
	r = ldb__store_lock(db, true);
	if (r < 0)
		return r;
	{
		_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;

		r = ldb__tx_begin(db);
		if (r < 0)
			goto out;
		tx = db;
		/* Dangling images: untagged, no child, no container; repeat up the chain. */
		do {
			r = collect_ids(db, "DELETE FROM images WHERE "
					"id NOT IN (SELECT image_id FROM tags) AND "
					"id NOT IN (SELECT parent_id FROM images WHERE parent_id IS NOT NULL) AND "
					"id NOT IN (SELECT image_id FROM containers) RETURNING id",
					&images, &n_images);
		} while (r > 0);
		if (r < 0)
			goto out;
		r = collect_ids(db, "SELECT id FROM layers WHERE id NOT IN "
				"(SELECT layer_id FROM images)", &layers, &n_layers);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < n_layers; i++) {
			struct ldb_layer_info li;

			if (ldb_layer_get(db, &layers[i], &li) == 0)
				reclaimed += li.size;
		}
		r = ldb__exec(db, "DELETE FROM layers WHERE id NOT IN (SELECT layer_id FROM images)");
		if (r < 0)
			goto out;
		r = ldb__tx_commit(db);
		if (r < 0)
			goto out;
		tx = NULL;
	}
	for (size_t i = 0; i < n_images; i++) {
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&images[i], hex);
		report(cb, payload, "Deleted: " LDB_ID_PREFIX "%s", hex);
	}
	for (size_t i = 0; i < n_layers; i++) {
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&layers[i], hex);
		report(cb, payload, "Deleted layer: " LDB_ID_PREFIX "%s", hex);
	}
	r = ldb__gc_layers(db, layers, n_layers);
	if (r >= 0 && ret_reclaimed)
		*ret_reclaimed = reclaimed;
out:
	ldb__store_unlock(db);
	return r < 0 ? r : (int)(n_images + n_layers);
}

/* ---- df --------------------------------------------------------------------- */

static int query_u64(struct ldb *db, const char *sql, uint64_t *a, uint64_t *b)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, sql, &s);
	if (r < 0)
		return r;
	r = ldb__step(db, s);
	if (r <= 0)
		return r;
	*a = (uint64_t)sqlite3_column_int64(s, 0);
	if (b)
		*b = (uint64_t)sqlite3_column_int64(s, 1);
	return 0;
}

#define USED_IMAGES                                                                        \
	"WITH RECURSIVE used(id) AS (SELECT image_id FROM containers UNION "               \
	"SELECT i.parent_id FROM images i JOIN used u ON i.id = u.id "                     \
	"WHERE i.parent_id IS NOT NULL) "

int ldb_store_df(struct ldb *db, struct ldb_df *ret)
{
	struct ldb_df df = { 0 };
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = query_u64(db, "SELECT count(*), (SELECT count(*) FROM layers) FROM images",
		      &df.images, &df.layers);
	if (r >= 0)
		r = query_u64(db, USED_IMAGES "SELECT count(*), (SELECT count(DISTINCT layer_id) "
			      "FROM images WHERE id IN (SELECT id FROM used)) FROM used",
			      &df.images_active, &df.layers_active);
	if (r >= 0)
		r = query_u64(db, USED_IMAGES "SELECT coalesce(sum(size), 0), "
			      "coalesce((SELECT sum(size) FROM layers WHERE id NOT IN (SELECT "
			      "layer_id FROM images WHERE id IN (SELECT id FROM used))), 0) FROM layers",
			      &df.layers_size, &df.layers_reclaimable);
	if (r >= 0)
		r = query_u64(db, "SELECT coalesce(sum(size), 0), count(*) FROM (SELECT digest, "
			      "max(size) AS size FROM files WHERE digest IS NOT NULL "
			      "GROUP BY digest HAVING count(DISTINCT layer_id) > 1)",
			      &df.shared_size, &df.shared_files);
	if (r >= 0)
		r = ldb__prepare(db, "SELECT id, mountpoint FROM containers", &s);
	while (r >= 0 && (r = ldb__step(db, s)) > 0) {
		struct ldb_digest id;
		char hex[LDB_DIGEST_HEX_LEN + 1], p[128];
		const char *mp = (const char *)sqlite3_column_text(s, 1);
		_cleanup_close_ int fd = -EBADF;

		ldb__column_digest(s, 0, &id);
		ldb_digest_hex(&id, hex);
		df.containers++;
		if (mp && ldb__is_mountpoint(mp) > 0)
			df.containers_mounted++;
		snprintf(p, sizeof(p), "containers/%s/upper", hex);
		fd = openat(db->root_fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			df.containers_size += ldb__du(fd);
	}
	if (r < 0)
		return r;
	*ret = df;
	return 0;
}
