/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ancestry.c - image chains: an image is (layer, parent image); its chain is
 * the WITH RECURSIVE walk of parent_id links, top first.
 *
 * Cycles cannot be built through the API (an image id digests its parent's
 * id, so a parent always exists before its child), but a damaged database
 * could hold one: every walk is bounded by LDB_MAX_DEPTH and reports -ELOOP.
 */
#include <string.h>

#include "ldb-internal.h"

/* Deeper than any real image (docker caps at 125 layers), cheap to walk. */
#define LDB_MAX_DEPTH 4096

#define CHAIN_CTE                                                                          \
	"WITH RECURSIVE chain(id, layer_id, parent_id, depth) AS ("                        \
	"  SELECT id, layer_id, parent_id, 0 FROM images WHERE id = ?1"                    \
	"  UNION ALL"                                                                      \
	"  SELECT i.id, i.layer_id, i.parent_id, c.depth + 1 FROM images i"                \
	"  JOIN chain c ON i.id = c.parent_id WHERE c.depth < 4097) "

int ldb_image_chain(struct ldb *db, const struct ldb_digest *id, struct ldb_digest **ret_images,
		    struct ldb_digest **ret_layers, size_t *ret_n)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	_cleanup_free_ struct ldb_digest *images = NULL, *layers = NULL;
	size_t n = 0;
	int r;

	r = ldb__prepare(db, CHAIN_CTE "SELECT id, layer_id FROM chain ORDER BY depth", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	while ((r = ldb__step(db, s)) > 0) {
		struct ldb_digest *ni, *nl;

		if (n >= LDB_MAX_DEPTH)
			return ldb__err(db, -ELOOP, "image chain too deep or cyclic");
		ni = realloc(images, (n + 1) * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		images = ni;
		nl = realloc(layers, (n + 1) * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		layers = nl;
		ldb__column_digest(s, 0, &images[n]);
		ldb__column_digest(s, 1, &layers[n]);
		n++;
	}
	if (r < 0)
		return r;
	if (n == 0)
		return ldb__err(db, -ENOENT, "no such image");
	if (ret_images)
		*ret_images = steal_pointer(&images);
	if (ret_layers)
		*ret_layers = steal_pointer(&layers);
	*ret_n = n;
	return 0;
}

int ldb_image_is_ancestor(struct ldb *db, const struct ldb_digest *ancestor,
			  const struct ldb_digest *id)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, CHAIN_CTE "SELECT 1 FROM chain WHERE id = ?2 LIMIT 1", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	ldb__bind_digest(s, 2, ancestor);
	return ldb__step(db, s);
}

int ldb__chain_stats(struct ldb *db, const struct ldb_digest *id, unsigned *ret_depth,
		     uint64_t *ret_total)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, CHAIN_CTE "SELECT count(*), coalesce(sum(l.size), 0), max(depth) "
			 "FROM chain c JOIN layers l ON l.id = c.layer_id", &s);
	if (r < 0)
		return r;
	ldb__bind_digest(s, 1, id);
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	if (sqlite3_column_int(s, 2) >= LDB_MAX_DEPTH)
		return ldb__err(db, -ELOOP, "image chain too deep or cyclic");
	*ret_depth = (unsigned)sqlite3_column_int(s, 0);
	*ret_total = (uint64_t)sqlite3_column_int64(s, 1);
	return 0;
}
