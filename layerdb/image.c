/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image.c - images (chain nodes), their names, listing, search, and removal
 * with Docker's reference rules:
 *
 *   - `rmi NAME:TAG` untags; the image itself is deleted only when no tag is
 *     left, and then silently kept if it has children (it becomes an
 *     intermediate image) or a container uses it;
 *   - `rmi ID` of an image tagged in several repositories is a conflict
 *     unless forced ("image is referenced in multiple repositories");
 *   - an image with child images cannot be deleted, even forced ("image has
 *     dependent child images", hard conflict);
 *   - an image a container uses (mounted = running, or not = stopped) is a
 *     conflict unless forced; forced, its names go but the image record and
 *     its layers stay for the container ("-f removes the name but keeps
 *     layers a container still needs");
 *   - deleting an image also deletes its untagged, childless, unused parents,
 *     and every layer no image uses any more.
 * Conflict messages are Docker's, with our 12-hex short ids.
 */
#include <ctype.h>
#include <string.h>

#include "ldb-internal.h"

int ldb_parse_name(const char *ref, char **ret_name, char **ret_tag)
{
	const char *colon = strrchr(ref, ':');
	_cleanup_free_ char *name = NULL, *tag = NULL;

	if (colon && strchr(colon, '/'))
		colon = NULL; /* "host:5000/repo" */
	name = colon ? strndup(ref, (size_t)(colon - ref)) : strdup(ref);
	tag = strdup(colon ? colon + 1 : "latest");
	if (!name || !tag)
		return -ENOMEM;
	if (!*name || !*tag || strlen(tag) > 128 || strlen(name) > 255)
		return -EINVAL;
	for (const char *p = name; *p; p++)
		if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("._/-:", *p)))
			return -EINVAL;
	if (!isalnum((unsigned char)name[0]))
		return -EINVAL;
	for (const char *p = tag; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("._-", *p)))
			return -EINVAL;
	*ret_name = steal_pointer(&name);
	*ret_tag = steal_pointer(&tag);
	return 0;
}

int ldb__tag_set(struct ldb *db, const struct ldb_digest *id, const char *ref)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *name = NULL, *tag = NULL;
	int r;

	r = ldb_parse_name(ref, &name, &tag);
	if (r < 0)
		return ldb__err(db, r, "invalid reference format: '%s'", ref);
	r = ldb__prepare(db, "INSERT INTO tags(name, tag, image_id) VALUES (?, ?, ?) "
			 "ON CONFLICT(name, tag) DO UPDATE SET image_id = excluded.image_id", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
	ldb__bind_digest(s, 3, id);
	r = ldb__step(db, s);
	return r < 0 ? r : 0;
}

static int image_exists(struct ldb *db, const struct ldb_digest *id)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT 1 FROM images WHERE id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	return ldb__step(db, s);
}

int ldb_image_tag(struct ldb *db, const struct ldb_digest *id, const char *ref)
{
	_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
	int r;

	r = ldb__tx_begin(db);
	if (r < 0)
		return r;
	tx = db;
	r = image_exists(db, id);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no such image");
	r = ldb__tag_set(db, id, ref);
	if (r < 0)
		return r;
	r = ldb__tx_commit(db);
	if (r < 0)
		return r;
	tx = NULL;
	return 0;
}

static int lookup_tag(struct ldb *db, const char *name, const char *tag, struct ldb_digest *ret)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT image_id FROM tags WHERE name = ? AND tag = ?", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	return ldb__column_digest(s, 0, ret);
}

/* Resolve @ref; *ret_named tells whether it was a name:tag (not an id). */
static int resolve(struct ldb *db, const char *ref, struct ldb_digest *ret, bool *ret_named)
{
	_cleanup_free_ char *name = NULL, *tag = NULL;
	struct ldb_digest d;
	int r;

	if (ldb_digest_parse(ref, &d) == 0 && image_exists(db, &d) > 0) {
		*ret = d;
		*ret_named = false;
		return 0;
	}
	if (ldb_parse_name(ref, &name, &tag) == 0) {
		r = lookup_tag(db, name, tag, ret);
		if (r == 0) {
			*ret_named = true;
			return 0;
		}
		if (r != -ENOENT)
			return r;
	}
	r = ldb__resolve_prefix(db, "images", ref, ret);
	if (r == -ENOENT)
		return ldb__err(db, r, "No such image: %s", ref);
	if (r == 0)
		*ret_named = false;
	return r;
}

int ldb_image_resolve(struct ldb *db, const char *ref, struct ldb_digest *ret)
{
	bool named;

	return resolve(db, ref, ret, &named);
}

void ldb_image_info_clear(struct ldb_image_info *img)
{
	free(img->comment);
	free(img->author);
	free(img->created_by);
	if (img->tags)
		for (char **t = img->tags; *t; t++)
			free(*t);
	free(img->tags);
	img->comment = img->author = img->created_by = NULL;
	img->tags = NULL;
}

static int fill_tags(struct ldb *db, struct ldb_image_info *img)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	size_t n = 0;
	int r;

	r = ldb__prepare(db, "SELECT name || ':' || tag FROM tags WHERE image_id = ? "
			 "ORDER BY name, tag", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, &img->id);
	img->tags = calloc(1, sizeof(char *));
	if (!img->tags)
		return -ENOMEM;
	while ((r = ldb__step(db, s)) > 0) {
		char **nt = realloc(img->tags, (n + 2) * sizeof(char *));

		if (!nt)
			return -ENOMEM;
		img->tags = nt;
		nt[n] = ldb__column_strdup(s, 0);
		nt[++n] = NULL;
	}
	return r;
}

int ldb__image_fill(struct ldb *db, struct ldb_image_info *img)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "SELECT layer_id, parent_id, created, comment, author, created_by, "
			 "(SELECT size FROM layers WHERE id = i.layer_id), "
			 "(SELECT count(*) FROM images c WHERE c.parent_id = i.id), "
			 "(SELECT count(*) FROM containers k WHERE k.image_id = i.id) "
			 "FROM images i WHERE id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, &img->id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (r == 0)
		return ldb__err(db, -ENOENT, "no such image");
	img->version = 1;
	ldb__column_digest(s, 0, &img->layer);
	img->has_parent = ldb__column_digest(s, 1, &img->parent) == 0;
	img->created = sqlite3_column_int64(s, 2);
	img->comment = ldb__column_strdup(s, 3);
	img->author = ldb__column_strdup(s, 4);
	img->created_by = ldb__column_strdup(s, 5);
	img->size = (uint64_t)sqlite3_column_int64(s, 6);
	img->children = (unsigned)sqlite3_column_int(s, 7);
	img->containers = (unsigned)sqlite3_column_int(s, 8);
	r = ldb__chain_stats(db, &img->id, &img->depth, &img->total_size);
	if (r < 0)
		return r;
	return fill_tags(db, img);
}

int ldb_image_get(struct ldb *db, const struct ldb_digest *id, struct ldb_image_info *ret)
{
	struct ldb_image_info img = { .id = *id };
	int r;

	r = ldb__image_fill(db, &img);
	if (r < 0) {
		ldb_image_info_clear(&img);
		return r;
	}
	*ret = img;
	return 0;
}

static int cmp_image(const void *a, const void *b)
{
	const struct ldb_image_info *x = a, *y = b;

	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return memcmp(&x->id, &y->id, sizeof(x->id));
}

/* Fill and call @cb on every image selected by @sql (one digest column). */
static int list_query(struct ldb *db, const char *sql, const char *arg, unsigned flags,
		      ldb_image_cb cb, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	struct ldb_image_info *v = NULL;
	size_t n = 0;
	int r;

	r = ldb__prepare(db, sql, &s);
	if (r < 0)
		return r;
	if (arg)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_image_info *nv = realloc(v, (n + 1) * sizeof(*v));

		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n] = (struct ldb_image_info){ 0 };
		ldb__column_digest(s, 0, &v[n].id);
		r = ldb__image_fill(db, &v[n]);
		n++;
		if (r < 0)
			break;
		/* Without -a, hide untagged images that have children (intermediate). */
		if (!(flags & LDB_IMAGES_ALL) && !v[n - 1].tags[0] && v[n - 1].children)
			ldb_image_info_clear(&v[--n]);
	}
	if (r >= 0 && n)
		qsort(v, n, sizeof(*v), cmp_image);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		r = cb(&v[i], payload);
		if (r != 0)
			break;
	}
	for (size_t i = 0; i < n; i++)
		ldb_image_info_clear(&v[i]);
	free(v);
	return r;
}

int ldb_image_list(struct ldb *db, unsigned flags, ldb_image_cb cb, void *payload)
{
	return list_query(db, "SELECT id FROM images", NULL, flags, cb, payload);
}

int ldb_image_search(struct ldb *db, const char *term, ldb_image_cb cb, void *payload)
{
	return list_query(db, "SELECT DISTINCT i.id FROM images i "
			  "LEFT JOIN tags t ON t.image_id = i.id WHERE "
			  "instr(lower(t.name || ':' || t.tag), lower(?1)) > 0 OR "
			  "instr(lower(coalesce(i.comment, '')), lower(?1)) > 0 OR "
			  "instr(lower(coalesce(i.author, '')), lower(?1)) > 0 OR "
			  "instr(lower(coalesce(i.created_by, '')), lower(?1)) > 0",
			  term, LDB_IMAGES_ALL, cb, payload);
}

int ldb_file_search(struct ldb *db, const char *path, ldb_search_cb cb, void *payload)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ char *p = NULL;
	int r;

	while (path[0] == '/' && path[1] == '/')
		path++;
	if (asprintf(&p, "%s%s", path[0] == '/' ? "" : "/", path) < 0)
		return -ENOMEM;
	if (strlen(p) > 1 && p[strlen(p) - 1] == '/')
		p[strlen(p) - 1] = '\0';
	r = ldb__prepare(db, "SELECT f.layer_id, i.id, f.path, f.type, f.size FROM files f "
			 "JOIN images i ON i.layer_id = f.layer_id WHERE f.path = ? "
			 "ORDER BY i.created DESC", &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, p, -1, SQLITE_STATIC);
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_search_hit h = {
			.path = (const char *)sqlite3_column_text(s, 2),
			.type = ((const char *)sqlite3_column_text(s, 3))[0],
			.size = (uint64_t)sqlite3_column_int64(s, 4),
		};

		ldb__column_digest(s, 0, &h.layer);
		ldb__column_digest(s, 1, &h.image);
		r = cb(&h, payload);
		if (r != 0)
			return r;
	}
	return r;
}

/* ---- rmi -------------------------------------------------------------------- */

struct rmi_ctx {
	struct ldb *db;
	bool force;
	ldb_rmi_cb cb;
	void *payload;
	struct ldb_digest *freed; /* layers whose rows went */
	size_t n_freed;
	/* events are reported only once the transaction is committed */
	struct { enum ldb_rmi_event ev; char *text; } *events;
	size_t n_events;
};

static void event(struct rmi_ctx *c, enum ldb_rmi_event ev, const char *fmt, ...) _printf_(3, 4);
static void event(struct rmi_ctx *c, enum ldb_rmi_event ev, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	void *ne = realloc(c->events, (c->n_events + 1) * sizeof(*c->events));

	if (!ne)
		return;
	c->events = ne;
	c->events[c->n_events].ev = ev;
	c->events[c->n_events].text = strdup(buf);
	if (c->events[c->n_events].text)
		c->n_events++;
}

static int untag_all(struct rmi_ctx *c, const struct ldb_image_info *img)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(c->db, "DELETE FROM tags WHERE image_id = ?", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, &img->id);
	r = ldb__step(c->db, s);
	if (r < 0)
		return r;
	for (char **t = img->tags; t && *t; t++)
		event(c, LDB_RMI_UNTAGGED, "%s", *t);
	return 0;
}

/* A container using @id, if any: its short id and whether it is mounted. */
static int user_container(struct rmi_ctx *c, const struct ldb_digest *id, char ret_short[13],
			  bool *ret_running)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(c->db, "SELECT id, mountpoint FROM containers WHERE image_id = ? "
			 "ORDER BY mountpoint IS NULL, created", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(c->db, s);
	if (r <= 0)
		return r;
	{
		struct ldb_digest cid;
		char hex[LDB_DIGEST_HEX_LEN + 1];
		const char *mp = (const char *)sqlite3_column_text(s, 1);

		ldb__column_digest(s, 0, &cid);
		ldb_digest_hex(&cid, hex);
		memcpy(ret_short, hex, 12);
		ret_short[12] = '\0';
		*ret_running = mp && ldb__is_mountpoint(mp) > 0;
	}
	return 1;
}

static int delete_image(struct rmi_ctx *c, const struct ldb_digest *id, bool quiet);

static int delete_row(struct rmi_ctx *c, const struct ldb_image_info *img)
{
	_cleanup_stmt_ sqlite3_stmt *d = NULL, *u = NULL, *l = NULL;
	char hex[LDB_DIGEST_HEX_LEN + 1];
	int r;

	r = ldb__prepare(c->db, "DELETE FROM images WHERE id = ?", &d);
	if (r < 0)
		return r;
	ldb__bind_digest(d, 1, &img->id);
	r = ldb__step(c->db, d);
	if (r < 0)
		return r;
	ldb_digest_hex(&img->id, hex);
	event(c, LDB_RMI_DELETED, LDB_ID_PREFIX "%s", hex);
	r = ldb__prepare(c->db, "SELECT 1 FROM images WHERE layer_id = ? LIMIT 1", &u);
	if (r < 0)
		return r;
	ldb__bind_digest(u, 1, &img->layer);
	r = ldb__step(c->db, u);
	if (r != 0)
		return r < 0 ? r : 0; /* shared layer stays */
	r = ldb__prepare(c->db, "DELETE FROM layers WHERE id = ?", &l);
	if (r < 0)
		return r;
	ldb__bind_digest(l, 1, &img->layer);
	r = ldb__step(c->db, l);
	if (r < 0)
		return r;
	{
		struct ldb_digest *nf = realloc(c->freed, (c->n_freed + 1) * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		c->freed = nf;
		nf[c->n_freed++] = img->layer;
	}
	return 0;
}

static int delete_image(struct rmi_ctx *c, const struct ldb_digest *id, bool quiet)
{
	_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };
	char hex[LDB_DIGEST_HEX_LEN + 1], cshort[13];
	bool running = false, dangling;
	int r;

	r = ldb_image_get(c->db, id, &img);
	if (r < 0)
		return r;
	ldb_digest_hex(id, hex);
	dangling = !img.tags[0];
	if (img.children) {
		if (quiet)
			return 0; /* stays as an intermediate image */
		return ldb__err(c->db, -EBUSY, "conflict: unable to delete %.12s (cannot be forced) "
				"- image has dependent child images", hex);
	}
	r = user_container(c, id, cshort, &running);
	if (r < 0)
		return r;
	if (r > 0) {
		if (quiet)
			return 0;
		if (!c->force)
			return ldb__err(c->db, -EBUSY, "conflict: unable to delete %.12s (must be "
					"forced) - image is being used by %s container %s", hex,
					running ? "running" : "stopped", cshort);
		/* Forced: the names go, the image and its layers stay for the container. */
		return untag_all(c, &img);
	}
	(void)dangling;
	r = untag_all(c, &img);
	if (r < 0)
		return r;
	r = delete_row(c, &img);
	if (r < 0)
		return r;
	if (!img.has_parent)
		return 0;
	{
		_cleanup_(ldb_image_info_clear) struct ldb_image_info parent = { 0 };

		r = ldb_image_get(c->db, &img.parent, &parent);
		if (r < 0)
			return r == -ENOENT ? 0 : r;
		if (parent.tags[0] || parent.children || parent.containers)
			return 0;
	}
	return delete_image(c, &img.parent, /* quiet= */ true);
}

static int remove_ref(struct rmi_ctx *c, const char *ref)
{
	_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };
	struct ldb_digest id;
	char hex[LDB_DIGEST_HEX_LEN + 1];
	bool named;
	int r;

	r = resolve(c->db, ref, &id, &named);
	if (r < 0)
		return r;
	r = ldb_image_get(c->db, &id, &img);
	if (r < 0)
		return r;
	ldb_digest_hex(&id, hex);
	if (named) {
		_cleanup_free_ char *name = NULL, *tag = NULL;
		_cleanup_stmt_ sqlite3_stmt *s = NULL;

		r = ldb_parse_name(ref, &name, &tag);
		if (r < 0)
			return r;
		r = ldb__prepare(c->db, "DELETE FROM tags WHERE name = ? AND tag = ?", &s);
		if (r < 0)
			return r;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, tag, -1, SQLITE_STATIC);
		r = ldb__step(c->db, s);
		if (r < 0)
			return r;
		event(c, LDB_RMI_UNTAGGED, "%s:%s", name, tag);
		if (img.tags[0] && img.tags[1])
			return 0; /* other names remain */
		return delete_image(c, &id, /* quiet= */ true);
	}
	if (img.tags[0] && img.tags[1] && !c->force)
		return ldb__err(c->db, -EBUSY, "conflict: unable to delete %.12s (must be forced) - "
				"image is referenced in multiple repositories", hex);
	return delete_image(c, &id, /* quiet= */ false);
}

int ldb_image_remove(struct ldb *db, const char *ref, unsigned flags, ldb_rmi_cb cb,
		     void *payload)
{
	struct rmi_ctx c = { .db = db, .force = flags & LDB_RMI_FORCE, .cb = cb,
			     .payload = payload };
	int r;

	db->errmsg[0] = '\0';
	r = ldb__store_lock(db, true);
	if (r < 0)
		return r;
	{
		_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;

		r = ldb__tx_begin(db);
		if (r < 0)
			goto out;
		tx = db;
		r = remove_ref(&c, ref);
		if (r < 0)
			goto out;
		r = ldb__tx_commit(db);
		if (r < 0)
			goto out;
		tx = NULL;
	}
	for (size_t i = 0; i < c.n_events; i++)
		if (cb)
			cb(c.events[i].ev, c.events[i].text, payload);
	r = ldb__gc_layers(db, c.freed, c.n_freed);
out:
	ldb__store_unlock(db);
	for (size_t i = 0; i < c.n_events; i++)
		free(c.events[i].text);
	free(c.events);
	free(c.freed);
	return r;
}
