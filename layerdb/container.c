/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * container.c - containers: a read-write layer (containers/<id>/upper, with
 * its overlay workdir containers/<id>/work) on top of an image.
 *
 * The store never mounts: the tool starts the FUSE daemon and records the
 * mountpoint here.  "Mounted" means recorded *and* present in
 * /proc/self/mountinfo; a record without a mount is stale (crash, reboot)
 * and `check` clears it.
 *
 * Committing an unmounted container moves its upper into the store (O(1)):
 *   1. walk the upper in place (container lock held) and syncfs() it;
 *   2. under the shared store lock, record a `pending` commit intent;
 *   3. rename upper -> layers/<id> (or to the trash if identical content is
 *      already stored), recreate an empty upper, fsync;
 *   4. one transaction: layer, files, image, tag, container rebased on the
 *      new image, intent deleted.
 * A crash after 2 is finished by `check`: if the upper was moved (gone or
 * empty) and layers/<id> exists, it completes 4; otherwise it drops the
 * intent.  The container's view never changes: before, image + upper; after,
 * new image (= image + old upper) + empty upper.
 * Committing a mounted container snapshot-copies the upper instead.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "ldb-internal.h"

static const char *const adjectives[] = {
	"amber", "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly",
	"keen", "lucid", "merry", "nifty", "quiet", "rapid", "sharp", "tidy",
};
static const char *const nouns[] = {
	"basalt", "chalk", "dolomite", "flint", "gneiss", "granite", "marble", "obsidian",
	"pumice", "quartz", "schist", "shale", "slate", "tuff", "jasper", "agate",
};

void ldb_container_info_clear(struct ldb_container_info *c)
{
	free(c->name);
	free(c->mountpoint);
	free(c->upper);
	free(c->work);
	c->name = c->mountpoint = c->upper = c->work = NULL;
}

static int cdir_open(struct ldb *db, const struct ldb_digest *id, int flags)
{
	char p[64 + LDB_DIGEST_HEX_LEN], hex[LDB_DIGEST_HEX_LEN + 1];

	ldb_digest_hex(id, hex);
	snprintf(p, sizeof(p), "containers/%s", hex);
	return neg_errno(openat(db->root_fd, p, flags | O_DIRECTORY | O_CLOEXEC));
}

int ldb__pending_delete(struct ldb *db, int64_t id)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "DELETE FROM pending WHERE id = ?", &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	r = ldb__step(db, s);
	return r < 0 ? r : 0;
}

/* A commit of this container was interrupted: its upper may already be a
 * layer.  Nothing may touch the container until `check` settles it. */
static int refuse_if_pending(struct ldb *db, const struct ldb_digest *id)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT 1 FROM pending WHERE container_id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r > 0)
		return ldb__err(db, -EAGAIN, "an interrupted commit of this container must be "
				"completed first: run 'strata check'");
	return 0;
}

static int insert_container(struct ldb *db, const struct ldb_digest *id, const char *name,
			    const struct ldb_digest *image)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "INSERT INTO containers(id, name, image_id, created) "
			 "VALUES (?, ?, ?, ?)", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
	ldb__bind_digest(s, 3, image);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
	r = ldb__step(db, s);
	if (r == -EEXIST)
		return ldb__err(db, r, "the container name \"%s\" is already in use", name);
	return r < 0 ? r : 0;
}

static int name_valid(const char *name)
{
	if (!*name || strlen(name) > 128 || name[0] == '-' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
		    strlen(name))
		return -EINVAL;
	return 0;
}

static int create_in_tx(struct ldb *db, const struct ldb_digest *id, const char *name,
			const struct ldb_digest *image, struct ldb__tmp *t)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_close_ int tmpfd = -EBADF, cfd = -EBADF;
	char hex[LDB_DIGEST_HEX_LEN + 1];
	struct ldb_image_info img = { 0 };
	int r;

	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb_image_get(db, image, &img);
	ldb_image_info_clear(&img);
	if (r < 0)
		return r;
	r = insert_container(db, id, name, image);
	if (r < 0)
		return r;
	ldb_digest_hex(id, hex);
	r = tmpfd = neg_errno(openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	r = cfd = neg_errno(openat(db->root_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	/* Publish the directory before the row: a crash in between leaves an
	 * unrecorded directory, which check removes. */
	r = neg_errno(renameat(tmpfd, t->name, cfd, hex));
	if (r < 0)
		return r;
	(void)fsync(cfd);
	r = ldb__tx_commit(db);
	if (r < 0) {
		(void)ldb__trash(db, "containers", hex);
		return r;
	}
	tx = NULL;
	return 0;
}

int ldb_container_create(struct ldb *db, const struct ldb_digest *image, const char *name,
			 struct ldb_digest *ret_id)
{
	struct ldb_digest id;
	struct ldb__tmp t;
	char gen[64];
	int r;

	db->errmsg[0] = '\0';
	if (name && name_valid(name) < 0)
		return ldb__err(db, -EINVAL, "invalid container name \"%s\"", name);
	r = neg_errno((int)getrandom(id.bytes, sizeof(id.bytes), 0));
	if (r < 0)
		return r;
	if (!name) {
		snprintf(gen, sizeof(gen), "%s_%s_%02x", adjectives[id.bytes[0] % 16],
			 nouns[id.bytes[1] % 16], id.bytes[2]);
		name = gen;
	}
	r = ldb__tmp_create(db, &t);
	if (r < 0)
		return r;
	if (mkdirat(t.fd, "upper", 0755) < 0 || mkdirat(t.fd, "work", 0700) < 0) {
		r = ldb__err(db, -errno, "cannot create container directories: %m");
	} else {
		int lfd = openat(t.fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (lfd >= 0)
			close(lfd);
		(void)syncfs(t.fd);
		/* Shared store lock: check must not take the new, not yet
		 * recorded containers/<id> for garbage. */
		r = ldb__store_lock(db, false);
		if (r >= 0) {
			r = create_in_tx(db, &id, name, image, &t);
			ldb__store_unlock(db);
		}
	}
	ldb__tmp_destroy(db, &t);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

int ldb_container_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct ldb_digest d;
	int r;

	r = ldb__prepare(db, "SELECT id FROM containers WHERE name = ?", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, ref, -1, SQLITE_STATIC);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r > 0)
		return ldb__column_digest(s, 0, ret);
	if (ldb_digest_parse(ref, &d) == 0) {
		*ret = d;
		return 0;
	}
	r = ldb__resolve_prefix(db, "containers", ref, ret);
	if (r == -ENOENT)
		return ldb__err(db, r, "No such container: %s", ref);
	return r;
}

int ldb_container_by_mountpoint(struct ldb *db, const char *mountpoint, struct ldb_digest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT id FROM containers WHERE mountpoint = ?", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, mountpoint, -1, SQLITE_STATIC);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no container is mounted on '%s'", mountpoint);
	return ldb__column_digest(s, 0, ret);
}

int ldb_container_get(struct ldb *db, const struct ldb_digest *id, struct ldb_container_info *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct ldb_container_info c = { .version = 1, .id = *id };
	char hex[LDB_DIGEST_HEX_LEN + 1];
	int r;

	r = ldb__prepare(db, "SELECT name, image_id, created, mountpoint FROM containers "
			 "WHERE id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "No such container");
	ldb_digest_hex(id, hex);
	c.name = ldb__column_strdup(s, 0);
	ldb__column_digest(s, 1, &c.image);
	c.created = sqlite3_column_int64(s, 2);
	c.mountpoint = ldb__column_strdup(s, 3);
	c.mounted = c.mountpoint && ldb__is_mountpoint(c.mountpoint) > 0;
	if (asprintf(&c.upper, "%s/containers/%s/upper", db->root, hex) < 0)
		c.upper = NULL;
	if (asprintf(&c.work, "%s/containers/%s/work", db->root, hex) < 0)
		c.work = NULL;
	if (!c.name || !c.upper || !c.work) {
		ldb_container_info_clear(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int ldb_container_list(struct ldb *db, ldb_container_cb cb, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT id FROM containers ORDER BY created DESC, name", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(db, s)) > 0) {
		_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };
		struct ldb_digest id;

		ldb__column_digest(s, 0, &id);
		r = ldb_container_get(db, &id, &c);
		if (r < 0)
			return r;
		r = cb(&c, payload);
		if (r != 0)
			return r;
	}
	return r;
}

int ldb_container_lock(struct ldb *db, const struct ldb_digest *id)
{
	return ldb__container_lock(db, id, /* wait= */ true);
}

int ldb__container_lock(struct ldb *db, const struct ldb_digest *id, bool wait)
{
	_cleanup_close_ int cfd = -EBADF, fd = -EBADF;
	int r;

	r = cfd = cdir_open(db, id, O_PATH);
	if (r < 0)
		return ldb__err(db, r, "cannot open container directory: %s", strerror(-r));
	r = fd = neg_errno(openat(cfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	if (r < 0)
		return r;
	do {
		r = neg_errno(flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)));
	} while (r == -EINTR);
	if (r < 0)
		return r;
	return take_fd(fd);
}

int ldb_container_set_mount(struct ldb *db, const struct ldb_digest *id, const char *mountpoint)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL, *u = NULL;
	int r;

	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb__prepare(db, "SELECT mountpoint FROM containers WHERE id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "No such container");
	if (mountpoint) {
		r = refuse_if_pending(db, id);
		if (r < 0)
			return r;
	}
	if (mountpoint && sqlite3_column_text(s, 0)) {
		const char *old = (const char *)sqlite3_column_text(s, 0);

		if (ldb__is_mountpoint(old) > 0)
			return ldb__err(db, -EBUSY, "container is already mounted on '%s'", old);
	}
	r = ldb__prepare(db, "UPDATE containers SET mountpoint = ? WHERE id = ?", &u);
	if (r < 0)
		return r;
	sqlite3_bind_text(u, 1, mountpoint, -1, SQLITE_STATIC);
	ldb__bind_digest(u, 2, id);
	r = ldb__step(db, u);
	if (r < 0)
		return r;
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	return 0;
}

int ldb_container_remove(struct ldb *db, const struct ldb_digest *id, unsigned flags)
{
	_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	char hex[LDB_DIGEST_HEX_LEN + 1];
	int r;

	{
		_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;

		r = ldb__tx_begin(db);
		if (r < 0)
			return r;
		tx = db;
		r = ldb_container_get(db, id, &c);
		if (r < 0)
			return r;
		r = refuse_if_pending(db, id);
		if (r < 0)
			return r;
		if (c.mounted && !(flags & LDB_RM_FORCE))
			return ldb__err(db, -EBUSY, "container %s is mounted on '%s'", c.name,
					c.mountpoint);
		r = ldb__prepare(db, "DELETE FROM containers WHERE id = ?", &s);
		if (r < 0)
			return r;
		ldb__bind_digest(s, 1, id);
		r = ldb__step(db, s);
		if (r < 0)
			return r;
		r = ldb__tx_commit(db);
		if (r < 0)
			return r;
		tx = NULL;
	}
	ldb_digest_hex(id, hex);
	return ldb__trash(db, "containers", hex);
}

int ldb__container_finish_commit(struct ldb *db, const struct ldb_digest *cid,
				 struct ldb__record *rec, struct ldb_digest *ret_image)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_stmt_ sqlite3_stmt *u = NULL, *p = NULL;
	_cleanup_close_ int cfd = -EBADF;
	struct ldb_digest image;
	int r;

	r = cfd = cdir_open(db, cid, O_RDONLY);
	if (r < 0)
		return r;
	r = neg_errno(mkdirat(cfd, "upper", 0755));
	if (r < 0 && r != -EEXIST)
		return r;
	(void)fsync(cfd);
	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb__record_insert(db, rec, &image);
	if (r < 0)
		return r;
	r = ldb__prepare(db, "UPDATE containers SET image_id = ? WHERE id = ?", &u);
	if (r < 0)
		return r;
	ldb__bind_digest(u, 1, &image);
	ldb__bind_digest(u, 2, cid);
	r = ldb__step(db, u);
	if (r < 0)
		return r;
	r = ldb__prepare(db, "DELETE FROM pending WHERE container_id = ?", &p);
	if (r < 0)
		return r;
	ldb__bind_digest(p, 1, cid);
	r = ldb__step(db, p);
	if (r < 0)
		return r;
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	if (ret_image)
		*ret_image = image;
	return 0;
}

static int record_intent(struct ldb *db, const struct ldb_digest *cid, struct ldb__record *rec)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	const struct ldb_add_opts *o = rec->opts;
	int r;

	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb__prepare(db, "INSERT INTO pending(op, container_id, layer_id, parent_id, name, "
			 "comment, author, created_by, created) VALUES ('commit', ?, ?, ?, ?, ?, "
			 "?, ?, ?)", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, cid);
	ldb__bind_digest(s, 2, &rec->layer);
	ldb__bind_digest(s, 3, &rec->parent);
	sqlite3_bind_text(s, 4, o ? o->name : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, o ? o->comment : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, o ? o->author : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, o ? o->created_by : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)time(NULL));
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	return 0;
}

static int commit_move(struct ldb *db, const struct ldb_digest *cid,
		       const struct ldb_container_info *c, const struct ldb_add_opts *opts,
		       struct ldb_digest *ret_image)
{
	struct ldb__record rec = { .opts = opts, .parent = c->image, .has_parent = true };
	_cleanup_close_ int cfd = -EBADF, ufd = -EBADF;
	int r, dup;

	r = cfd = cdir_open(db, cid, O_RDONLY);
	if (r < 0)
		return r;
	r = ufd = neg_errno(openat(cfd, "upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot open the container's upper dir: %s", strerror(-r));
	r = ldb__record_walk(db, ufd, &rec);
	if (r < 0)
		goto out;
	r = neg_errno(syncfs(ufd));
	if (r < 0)
		goto out;
	r = ldb__store_lock(db, false);
	if (r < 0)
		goto out;
	r = record_intent(db, cid, &rec);
	if (r >= 0)
		r = dup = ldb__layer_publish(db, cfd, "upper", &rec.layer);
	if (r >= 0 && dup) {
		char hex[LDB_DIGEST_HEX_LEN + 1], p[128];

		/* Identical content is stored already: throw this copy away. */
		ldb_digest_hex(cid, hex);
		snprintf(p, sizeof(p), "containers/%s", hex);
		r = ldb__trash(db, p, "upper");
	}
	ldb__fault_point(db, LDB_FAULT_KILL_AFTER_PUBLISH);
	if (r >= 0)
		r = ldb__container_finish_commit(db, cid, &rec, ret_image);
	ldb__store_unlock(db);
out:
	ldb__record_free(&rec);
	return r;
}

static int commit_snapshot(struct ldb *db, const struct ldb_container_info *c,
			   const struct ldb_add_opts *opts, struct ldb_digest *ret_image)
{
	struct ldb__copy_opts co = { .stable = true };
	_cleanup_close_ int ufd = -EBADF;
	struct ldb__tmp t;
	int r;

	if (opts) {
		co.progress = opts->progress;
		co.payload = opts->payload;
	}
	r = ufd = neg_errno(open(c->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot open '%s': %s", c->upper, strerror(-r));
	r = ldb__tmp_create(db, &t);
	if (r < 0)
		return r;
	r = ldb__copy_tree(db, ufd, t.fd, &co);
	if (r >= 0)
		r = ldb__layer_install_tmp(db, &t, opts, &c->image, ret_image, NULL);
	ldb__tmp_destroy(db, &t);
	return r;
}

int ldb_container_commit(struct ldb *db, const struct ldb_digest *id,
			 const struct ldb_add_opts *opts, struct ldb_digest *ret_image)
{
	_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };
	_cleanup_close_ int lock = -EBADF;
	int r;

	db->errmsg[0] = '\0';
	r = lock = ldb_container_lock(db, id);
	if (r < 0)
		return r;
	r = ldb_container_get(db, id, &c);
	if (r < 0)
		return r;
	r = refuse_if_pending(db, id);
	if (r < 0)
		return r;
	if (c.mounted)
		return commit_snapshot(db, &c, opts, ret_image);
	return commit_move(db, id, &c, opts, ret_image);
}
