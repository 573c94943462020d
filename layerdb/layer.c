/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * layer.c - adding, finding, listing and verifying layers.
 *
 * Adding a layer, whatever the source:
 *   1. fill a private work dir tmp/<pid>-<rnd> (archive.c or a tree copy);
 *   2. walk it: canonical id (digest.c) and one `files` row per entry;
 *   3. syncfs() it, so the tree is durable before it is published;
 *   4. under the shared store lock: rename it to layers/<id> (if that
 *      exists, identical content is already there: ours is dropped), fsync
 *      layers/, then one transaction records layer, files, image and tag.
 * A crash before 4 leaves only tmp/ garbage; a crash inside 4 leaves an
 * unrecorded layers/<id>, which `check` removes (or a later identical add
 * adopts).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ldb-internal.h"

void ldb__record_free(struct ldb__record *rec)
{
	for (size_t i = 0; i < rec->n_entries; i++)
		free((char *)rec->entries[i].path);
	free(rec->entries);
	rec->entries = NULL;
	rec->n_entries = rec->entries_cap = 0;
}

static int record_entry(const struct ldb__entry *e, void *payload)
{
	struct ldb__record *rec = payload;
	struct ldb__entry *ne;

	if (rec->n_entries == rec->entries_cap) {
		size_t cap = rec->entries_cap ? rec->entries_cap * 2 : 64;

		ne = realloc(rec->entries, cap * sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		rec->entries = ne;
		rec->entries_cap = cap;
	}
	ne = &rec->entries[rec->n_entries];
	*ne = *e;
	ne->path = strdup(e->path);
	if (!ne->path)
		return -ENOMEM;
	rec->n_entries++;
	rec->files++;
	if (e->type == 'f')
		rec->size += e->size;
	return 0;
}

int ldb__record_walk(struct ldb *db, int dirfd, struct ldb__record *rec)
{
	const struct ldb_add_opts *o = rec->opts;
	int r;

	rec->size = rec->files = 0;
	r = ldb__digest_tree(dirfd, &rec->layer, record_entry, o ? o->progress : NULL, rec);
	if (r < 0)
		return ldb__err(db, r, "cannot read layer content: %s", strerror(-r));
	return 0;
}

static int insert_files(struct ldb *db, struct ldb__record *rec)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "INSERT OR REPLACE INTO files(layer_id, path, type, size, digest) "
			 "VALUES (?, ?, ?, ?, ?)", &s);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rec->n_entries; i++) {
		const struct ldb__entry *e = &rec->entries[i];
		char type[2] = { e->type, 0 };

		sqlite3_reset(s);
		ldb__bind_digest(s, 1, &rec->layer);
		sqlite3_bind_text(s, 2, e->path, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)e->size);
		ldb__bind_digest(s, 5, e->type == 'f' ? &e->digest : NULL);
		r = ldb__step(db, s);
		if (r < 0)
			return r;
	}
	return 0;
}

int ldb__record_insert(struct ldb *db, struct ldb__record *rec, struct ldb_digest *ret_image)
{
	_cleanup_stmt_ sqlite3_stmt *l = NULL, *p = NULL, *i = NULL;
	const struct ldb_add_opts *o = rec->opts;
	struct ldb_digest chain;
	int64_t now = (int64_t)time(NULL);
	int r;

	r = ldb__prepare(db, "INSERT INTO layers(id, size, files, created) VALUES (?, ?, ?, ?) "
			 "ON CONFLICT DO NOTHING", &l);
	if (r < 0)
		return r;
	ldb__bind_digest(l, 1, &rec->layer);
	sqlite3_bind_int64(l, 2, (sqlite3_int64)rec->size);
	sqlite3_bind_int64(l, 3, (sqlite3_int64)rec->files);
	sqlite3_bind_int64(l, 4, now);
	r = ldb__step(db, l);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->sql) > 0) {
		r = insert_files(db, rec);
		if (r < 0)
			return r;
	}
	if (rec->has_parent) {
		r = ldb__prepare(db, "SELECT 1 FROM images WHERE id = ?", &p);
		if (r < 0)
			return r;
		ldb__bind_digest(p, 1, &rec->parent);
		r = ldb__step(db, p);
		if (r < 0)
			return r;
		if (r == 0)
			return ldb__err(db, -ENOENT, "parent image no longer exists");
	}
	ldb_digest_chain(rec->has_parent ? &rec->parent : NULL, &rec->layer, &chain);
	r = ldb__prepare(db, "INSERT INTO images(id, layer_id, parent_id, created, comment, author, "
			 "created_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", &i);
	if (r < 0)
		return r;
	ldb__bind_digest(i, 1, &chain);
	ldb__bind_digest(i, 2, &rec->layer);
	ldb__bind_digest(i, 3, rec->has_parent ? &rec->parent : NULL);
	sqlite3_bind_int64(i, 4, now);
	sqlite3_bind_text(i, 5, o ? o->comment : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(i, 6, o ? o->author : NULL, -1, SQLITE_STATIC);
	sqlite3_bind_text(i, 7, o ? o->created_by : NULL, -1, SQLITE_STATIC);
	r = ldb__step(db, i);
	if (r < 0)
		return r;
	if (o && o->name) {
		r = ldb__tag_set(db, &chain, o->name);
		if (r < 0)
			return r;
	}
	if (ret_image)
		*ret_image = chain;
	return 0;
}

int ldb__layer_publish(struct ldb *db, int src_dirfd, const char *src_name,
		   const struct ldb_digest *id)
{
	_cleanup_close_ int lfd = -EBADF;
	char hex[LDB_DIGEST_HEX_LEN + 1];
	int r;

	ldb_digest_hex(id, hex);
	r = lfd = neg_errno(openat(db->root_fd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	r = neg_errno(renameat(src_dirfd, src_name, lfd, hex));
	if (r == -EEXIST || r == -ENOTEMPTY)
		return 1;
	if (r < 0)
		return ldb__err(db, r, "cannot move layer into '%s/layers': %s", db->root,
				strerror(-r));
	r = neg_errno(fsync(lfd));
	return r < 0 ? r : 0;
}

int ldb__layer_install_tmp(struct ldb *db, struct ldb__tmp *t, const struct ldb_add_opts *opts,
			   const struct ldb_digest *parent, struct ldb_digest *ret_image,
			   struct ldb_digest *ret_layer)
{
	struct ldb__record rec = { .opts = opts };
	_cleanup_close_ int tmpfd = -EBADF;
	struct ldb_digest image;
	int r;

	if (parent) {
		rec.parent = *parent;
		rec.has_parent = true;
	}
	r = ldb__record_walk(db, t->fd, &rec);
	if (r < 0)
		goto out;
	r = neg_errno(syncfs(t->fd));
	if (r < 0)
		goto out;
	r = tmpfd = neg_errno(openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		goto out;
	r = ldb__store_lock(db, false);
	if (r < 0)
		goto out;
	r = ldb__layer_publish(db, tmpfd, t->name, &rec.layer);
	ldb__fault_point(db, LDB_FAULT_KILL_AFTER_PUBLISH);
	if (r >= 0) {
		_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;

		r = ldb__tx_begin(db);
		if (r >= 0) {
			tx = db;
			r = ldb__record_insert(db, &rec, &image);
		}
		if (r >= 0)
			r = ldb__tx_commit(db);
		if (r >= 0)
			tx = NULL;
	}
	ldb__store_unlock(db);
out:
	if (r >= 0) {
		if (ret_image)
			*ret_image = image;
		if (ret_layer)
			*ret_layer = rec.layer;
	}
	ldb__record_free(&rec);
	return r < 0 ? r : 0;
}

static int check_parent(struct ldb *db, const struct ldb_add_opts *opts)
{
	struct ldb_image_info img = { 0 };
	int r;

	if (!opts || !opts->parent)
		return 0;
	r = ldb_image_get(db, opts->parent, &img);
	ldb_image_info_clear(&img);
	if (r == -ENOENT)
		return ldb__err(db, r, "parent image not found");
	return r;
}

int ldb_layer_add_fd(struct ldb *db, int fd, const struct ldb_add_opts *opts,
		     struct ldb_digest *ret_image, struct ldb_digest *ret_layer)
{
	struct ldb__tmp t;
	int r;

	db->errmsg[0] = '\0';
	r = check_parent(db, opts);
	if (r < 0)
		return r;
	r = ldb__tmp_create(db, &t);
	if (r < 0)
		return r;
	r = ldb__archive_extract(db, fd, t.fd, opts ? opts->progress : NULL,
				 opts ? opts->payload : NULL);
	if (r >= 0)
		r = ldb__layer_install_tmp(db, &t, opts, opts ? opts->parent : NULL, ret_image,
					   ret_layer);
	ldb__tmp_destroy(db, &t);
	return r;
}

int ldb_layer_add(struct ldb *db, const char *source, const struct ldb_add_opts *opts,
		  struct ldb_digest *ret_image, struct ldb_digest *ret_layer)
{
	_cleanup_close_ int fd = -EBADF;
	struct ldb__copy_opts co = { 0 };
	struct ldb__tmp t;
	struct stat st;
	int r;

	db->errmsg[0] = '\0';
	if (strcmp(source, "-") == 0)
		return ldb_layer_add_fd(db, STDIN_FILENO, opts, ret_image, ret_layer);
	r = fd = neg_errno(open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (r < 0)
		return ldb__err(db, r, "cannot open '%s': %s", source, strerror(-r));
	r = neg_errno(fstat(fd, &st));
	if (r < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return ldb_layer_add_fd(db, fd, opts, ret_image, ret_layer);
	r = check_parent(db, opts);
	if (r < 0)
		return r;
	r = ldb__tmp_create(db, &t);
	if (r < 0)
		return r;
	if (opts) {
		co.progress = opts->progress;
		co.payload = opts->payload;
	}
	r = ldb__copy_tree(db, fd, t.fd, &co);
	if (r >= 0)
		r = ldb__layer_install_tmp(db, &t, opts, opts ? opts->parent : NULL, ret_image,
					   ret_layer);
	ldb__tmp_destroy(db, &t);
	return r;
}

int ldb_layer_get(struct ldb *db, const struct ldb_digest *id, struct ldb_layer_info *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db,
			 "WITH RECURSIVE chain(cid, iid) AS ("
			 "  SELECT id, image_id FROM containers UNION"
			 "  SELECT c.cid, i.parent_id FROM chain c JOIN images i ON i.id = c.iid"
			 "  WHERE i.parent_id IS NOT NULL) "
			 "SELECT size, files, created,"
			 " (SELECT count(*) FROM images WHERE layer_id = l.id),"
			 " (SELECT count(DISTINCT c.cid) FROM chain c JOIN images i ON i.id = c.iid"
			 "  WHERE i.layer_id = l.id),"
			 " (SELECT count(*) FROM files f WHERE f.layer_id = l.id AND f.digest IS NOT NULL"
			 "  AND EXISTS (SELECT 1 FROM files g WHERE g.digest = f.digest"
			 "  AND g.layer_id != f.layer_id)),"
			 " (SELECT coalesce(sum(f.size), 0) FROM files f WHERE f.layer_id = l.id"
			 "  AND f.digest IS NOT NULL AND EXISTS (SELECT 1 FROM files g"
			 "  WHERE g.digest = f.digest AND g.layer_id != f.layer_id)), "
			 " diff_id "
			 "FROM layers l WHERE id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no such layer");
	*ret = (struct ldb_layer_info){
		.version = 1, .id = *id,
		.size = (uint64_t)sqlite3_column_int64(s, 0),
		.files = (uint64_t)sqlite3_column_int64(s, 1),
		.created = sqlite3_column_int64(s, 2),
		.images = (unsigned)sqlite3_column_int(s, 3),
		.containers = (unsigned)sqlite3_column_int(s, 4),
		.shared_files = (uint64_t)sqlite3_column_int64(s, 5),
		.shared_size = (uint64_t)sqlite3_column_int64(s, 6),
	};
	if (sqlite3_column_text(s, 7))
		snprintf(ret->diff_id, sizeof(ret->diff_id), "%s", sqlite3_column_text(s, 7));
	return 0;
}

/* Shared by layers, images and containers: unique id prefix in @table. */
int ldb__resolve_prefix(struct ldb *db, const char *table, const char *ref,
			struct ldb_digest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *sql = NULL, *pat = NULL;
	struct ldb_digest found;
	int r, n = 0;

	if (strncmp(ref, LDB_ID_PREFIX, strlen(LDB_ID_PREFIX)) == 0)
		ref += strlen(LDB_ID_PREFIX);
	if (!*ref || strlen(ref) > LDB_DIGEST_HEX_LEN || strspn(ref, "0123456789abcdefABCDEF") !=
								 strlen(ref))
		return -ENOENT;
	if (asprintf(&sql, "SELECT id FROM %s WHERE lower(hex(id)) LIKE ? LIMIT 2", table) < 0 ||
	    asprintf(&pat, "%s%%", ref) < 0)
		return -ENOMEM;
	for (char *c = pat; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
	r = ldb__prepare(db, sql, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, pat, -1, SQLITE_STATIC);
	while ((r = ldb__step(db, s)) > 0) {
		ldb__column_digest(s, 0, &found);
		n++;
	}
	if (r < 0)
		return r;
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return ldb__err(db, -ENOTUNIQ, "id prefix '%s' is ambiguous", ref);
	*ret = found;
	return 0;
}

int ldb_layer_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret)
{
	int r = ldb__resolve_prefix(db, "layers", ref, ret);

	if (r == -ENOENT)
		return ldb__err(db, r, "no such layer: %s", ref);
	return r;
}

int ldb_layer_list(struct ldb *db, ldb_layer_cb cb, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT id FROM layers ORDER BY created DESC, id", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_layer_info li;
		struct ldb_digest id;

		ldb__column_digest(s, 0, &id);
		r = ldb_layer_get(db, &id, &li);
		if (r < 0)
			return r;
		r = cb(&li, payload);
		if (r != 0)
			return r;
	}
	return r;
}

int ldb_layer_set_diff_id(struct ldb *db, const struct ldb_digest *id, const char *diff_id)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	const char *hex = diff_id + strlen("sha256:");
	int r;

	if (strncmp(diff_id, "sha256:", 7) != 0 || strlen(hex) != 64 ||
	    strspn(hex, "0123456789abcdef") != 64)
		return ldb__err(db, -EINVAL, "invalid diff id '%s'", diff_id);
	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = ldb__prepare(db, "UPDATE layers SET diff_id = ? WHERE id = ?", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, diff_id, -1, SQLITE_STATIC);
	ldb__bind_digest(s, 2, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (sqlite3_changes(db->sql) == 0)
		return ldb__err(db, -ENOENT, "no such layer");
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	return 0;
}

int ldb_layer_path(struct ldb *db, const struct ldb_digest *id, char **ret)
{
	char hex[LDB_DIGEST_HEX_LEN + 1];
	char *p;

	ldb_digest_hex(id, hex);
	if (asprintf(&p, "%s/layers/%s", db->root, hex) < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

/* ---- verify ----------------------------------------------------------------- */

struct verify_ctx {
	struct ldb *db;
	const struct ldb_digest *layer;
	sqlite3_stmt *q;
	ldb_verify_cb cb;
	void *payload;
	char **seen;
	size_t n_seen;
	int bad;
};

static int verify_entry(const struct ldb__entry *e, void *payload)
{
	struct verify_ctx *v = payload;
	struct ldb_digest d;
	char **ns;
	int r;

	ns = realloc(v->seen, (v->n_seen + 1) * sizeof(char *));
	if (!ns)
		return -ENOMEM;
	v->seen = ns;
	ns[v->n_seen] = strdup(e->path);
	if (!ns[v->n_seen])
		return -ENOMEM;
	v->n_seen++;
	sqlite3_reset(v->q);
	ldb__bind_digest(v->q, 1, v->layer);
	sqlite3_bind_text(v->q, 2, e->path, -1, SQLITE_TRANSIENT);
	r = ldb__step(v->db, v->q);
	if (r < 0)
		return r;
	if (r == 0) {
		v->bad++;
		if (v->cb)
			v->cb(v->layer, LDB_VERIFY_ADDED, e->path, v->payload);
		return 0;
	}
	if (e->type != 'f')
		return 0;
	if (ldb__column_digest(v->q, 0, &d) < 0 || memcmp(&d, &e->digest, sizeof(d)) != 0) {
		v->bad++;
		if (v->cb)
			v->cb(v->layer, LDB_VERIFY_CHANGED, e->path, v->payload);
	}
	return 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int verify_missing(struct verify_ctx *v)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	if (v->n_seen)
		qsort(v->seen, v->n_seen, sizeof(char *), cmp_strp);
	r = ldb__prepare(v->db, "SELECT path FROM files WHERE layer_id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, v->layer);
	while ((r = ldb__step(v->db, s)) > 0) {
		const char *p = (const char *)sqlite3_column_text(s, 0);

		if (v->n_seen && bsearch(&p, v->seen, v->n_seen, sizeof(char *), cmp_strp))
			continue;
		v->bad++;
		if (v->cb)
			v->cb(v->layer, LDB_VERIFY_MISSING, p, v->payload);
	}
	return r;
}

static int verify_one(struct ldb *db, const struct ldb_digest *id, ldb_verify_cb cb,
		      ldb_progress_cb progress, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *q = NULL;
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct verify_ctx v = { .db = db, .layer = id, .cb = cb, .payload = payload };
	struct ldb_digest d;
	int r;

	r = ldb_layer_path(db, id, &path);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (cb)
			cb(id, LDB_VERIFY_MISSING, NULL, payload);
		return 1;
	}
	r = ldb__prepare(db, "SELECT digest FROM files WHERE layer_id = ? AND path = ?", &q);
	if (r < 0)
		return r;
	v.q = q;
	r = ldb__digest_tree(fd, &d, verify_entry, progress, &v);
	if (r >= 0)
		r = verify_missing(&v);
	for (size_t i = 0; i < v.n_seen; i++)
		free(v.seen[i]);
	free(v.seen);
	if (r < 0)
		return ldb__err(db, r, "cannot verify layer: %s", strerror(-r));
	if (memcmp(&d, id, sizeof(d)) != 0)
		v.bad++;
	if (cb)
		cb(id, v.bad ? LDB_VERIFY_CHANGED : LDB_VERIFY_OK, NULL, payload);
	return v.bad ? 1 : 0;
}

int ldb_layer_verify(struct ldb *db, const struct ldb_digest *id, ldb_verify_cb cb,
		     ldb_progress_cb progress, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r, bad = 0;

	if (id) {
		struct ldb_layer_info li;

		r = ldb_layer_get(db, id, &li);
		if (r < 0)
			return r;
		return verify_one(db, id, cb, progress, payload);
	}
	r = ldb__prepare(db, "SELECT id FROM layers ORDER BY id", &s);
	if (r < 0)
		return r;
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_digest lid;

		ldb__column_digest(s, 0, &lid);
		r = verify_one(db, &lid, cb, progress, payload);
		if (r < 0)
			return r;
		bad += r;
	}
	return r < 0 ? r : bad;
}
