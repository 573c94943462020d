/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-layerdb.c - the store on in-memory databases and temp roots: schema
 * migrations, adding layers (dedup), ancestry, names, Docker's reference
 * rules for rmi, containers, commit (and its crash roll-forward), prune,
 * check, and a commit failure injected into SQLite.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tap.h"
#include "layerdb.h"
#include "ldb-internal.h"

struct fixture {
	char *root;
	char *src; /* scratch source dirs */
	struct ldb *db;
};

static void fixture_free(struct fixture *f)
{
	ldb_close(f->db);
	if (f->root)
		(void)ldb__rm_rf_at(AT_FDCWD, f->root);
	if (f->src)
		(void)ldb__rm_rf_at(AT_FDCWD, f->src);
	free(f->root);
	free(f->src);
}

static int fixture_init(struct fixture *f, unsigned flags)
{
	char a[] = "/tmp/test-layerdb.XXXXXX", b[] = "/tmp/test-layerdb-src.XXXXXX";

	*f = (struct fixture){ 0 };
	if (!mkdtemp(a) || !mkdtemp(b))
		return -errno;
	f->root = strdup(a);
	f->src = strdup(b);
	return ldb_open(f->root, flags, &f->db);
}

/* Make source dir @name containing one file "f" with @content; return path. */
static char *mksrc(struct fixture *f, const char *name, const char *content)
{
	char *p;
	char file[1024];
	int fd;

	if (asprintf(&p, "%s/%s", f->src, name) < 0)
		return NULL;
	mkdir(p, 0755);
	snprintf(file, sizeof(file), "%s/%s.txt", p, name);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, content, strlen(content)) < 0)
			perror("write");
		close(fd);
	}
	return p;
}

static int add(struct fixture *f, const char *name, const char *content,
	       const struct ldb_digest *parent, const char *tag, struct ldb_digest *ret)
{
	_cleanup_free_ char *p = mksrc(f, name, content);
	struct ldb_add_opts o = { .version = LDB_ADD_OPTS_VERSION, .parent = parent, .name = tag };

	return ldb_layer_add(f->db, p, &o, ret, NULL);
}

static bool layer_dir_exists(struct fixture *f, const struct ldb_digest *layer)
{
	_cleanup_free_ char *p = NULL;

	if (ldb_layer_path(f->db, layer, &p) < 0)
		return false;
	return access(p, F_OK) == 0;
}

static void test_open_creates_latest_schema(void)
{
	_cleanup_(fixture_free) struct fixture f;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_INT(ldb_schema_version(f.db), ==, ldb__schema_latest());
	TAP_ASSERT_INT(ldb__schema_latest(), >=, 2);
}

static void test_migration_from_v0_and_v1_keeps_rows(void)
{
	_cleanup_(fixture_free) struct fixture f;
	sqlite3_stmt *s = NULL;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY | LDB__OPEN_NO_MIGRATE));
	TAP_ASSERT_INT(ldb_schema_version(f.db), ==, 0);
	TAP_ASSERT_OK(ldb__migrate(f.db, 1));
	TAP_ASSERT_INT(ldb_schema_version(f.db), ==, 1);
	TAP_ASSERT_OK(ldb__exec(f.db, "INSERT INTO layers(id, size, files, created) "
				"VALUES (X'00112233445566778899aabbccddeeff', 1, 1, 1)"));
	TAP_ASSERT_OK(ldb__migrate(f.db, ldb__schema_latest()));
	TAP_ASSERT_INT(ldb_schema_version(f.db), ==, ldb__schema_latest());
	TAP_ASSERT_OK(ldb__prepare(f.db, "SELECT count(*), max(diff_id IS NULL) FROM layers", &s));
	TAP_ASSERT_INT(ldb__step(f.db, s), ==, 1);
	TAP_ASSERT_INT(sqlite3_column_int(s, 0), ==, 1);
	TAP_ASSERT_INT(sqlite3_column_int(s, 1), ==, 1);
	sqlite3_finalize(s);
}

static void test_newer_schema_refused(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb *db2 = NULL;

	TAP_ASSERT_OK(fixture_init(&f, 0));
	TAP_ASSERT_OK(ldb__exec(f.db, "PRAGMA user_version = 999"));
	TAP_ASSERT_ERR(ldb_open(f.root, 0, &db2), EPROTONOSUPPORT);
	TAP_ASSERT(db2 == NULL);
}

static void test_add_same_content_stored_once(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest i1, i2, l1, l2;
	_cleanup_free_ char *p = NULL;
	struct ldb_layer_info li;
	int n = 0;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	p = mksrc(&f, "x", "same");
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, NULL, &i1, &l1));
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, NULL, &i2, &l2));
	TAP_ASSERT(memcmp(&i1, &i2, sizeof(i1)) == 0);
	TAP_ASSERT(memcmp(&l1, &l2, sizeof(l1)) == 0);
	TAP_ASSERT_OK(ldb_layer_get(f.db, &l1, &li));
	TAP_ASSERT_INT(li.size, ==, 4);
	TAP_ASSERT_INT(li.files, ==, 1);
	TAP_ASSERT_STR(li.diff_id, ==, "");
	TAP_ASSERT_ERR(ldb_layer_set_diff_id(f.db, &l1, "sha256:xyz"), EINVAL);
	TAP_ASSERT_OK(ldb_layer_set_diff_id(f.db, &l1, "sha256:"
					    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	TAP_ASSERT_OK(ldb_layer_get(f.db, &l1, &li));
	TAP_ASSERT_STR(li.diff_id, ==,
		       "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	TAP_ASSERT(layer_dir_exists(&f, &l1));
	{
		sqlite3_stmt *s = NULL;

		TAP_ASSERT_OK(ldb__prepare(f.db, "SELECT count(*) FROM layers", &s));
		TAP_ASSERT_INT(ldb__step(f.db, s), ==, 1);
		n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	TAP_ASSERT_INT(n, ==, 1);
}

static void test_ancestry_chain_top_first(void)
{
	_cleanup_(fixture_free) struct fixture f;
	_cleanup_free_ struct ldb_digest *imgs = NULL;
	struct ldb_digest a, b, c, other;
	size_t n = 0;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, NULL, &a));
	TAP_ASSERT_OK(add(&f, "b", "B", &a, NULL, &b));
	TAP_ASSERT_OK(add(&f, "c", "C", &b, "app:1", &c));
	TAP_ASSERT_OK(add(&f, "o", "O", NULL, NULL, &other));
	TAP_ASSERT_OK(ldb_image_chain(f.db, &c, &imgs, NULL, &n));
	TAP_ASSERT_INT(n, ==, 3);
	TAP_ASSERT(memcmp(&imgs[0], &c, sizeof(c)) == 0);
	TAP_ASSERT(memcmp(&imgs[1], &b, sizeof(c)) == 0);
	TAP_ASSERT(memcmp(&imgs[2], &a, sizeof(c)) == 0);
	TAP_ASSERT_INT(ldb_image_is_ancestor(f.db, &a, &c), ==, 1);
	TAP_ASSERT_INT(ldb_image_is_ancestor(f.db, &c, &a), ==, 0);
	TAP_ASSERT_INT(ldb_image_is_ancestor(f.db, &other, &c), ==, 0);
	{
		_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };

		TAP_ASSERT_OK(ldb_image_get(f.db, &c, &img));
		TAP_ASSERT_INT(img.depth, ==, 3);
		TAP_ASSERT_INT(img.total_size, ==, 3);
		TAP_ASSERT_STR(img.tags[0], ==, "app:1");
	}
}

static void test_same_layer_different_parent_is_another_image(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, b, onA, onB, l1, l2;
	_cleanup_free_ char *p = NULL;
	struct ldb_add_opts o = { .version = LDB_ADD_OPTS_VERSION };

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, NULL, &a));
	TAP_ASSERT_OK(add(&f, "b", "B", NULL, NULL, &b));
	p = mksrc(&f, "s", "shared");
	o.parent = &a;
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, &o, &onA, &l1));
	o.parent = &b;
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, &o, &onB, &l2));
	TAP_ASSERT(memcmp(&l1, &l2, sizeof(l1)) == 0);
	TAP_ASSERT(memcmp(&onA, &onB, sizeof(l1)) != 0);
	/* removing one image keeps the shared layer for the other */
	TAP_ASSERT_OK(ldb_image_remove(f.db, "xxh128:0000000000000000000000000000000" "0", 0,
				       NULL, NULL) == -ENOENT ? 0 : -1);
	{
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&onA, hex);
		TAP_ASSERT_OK(ldb_image_remove(f.db, hex, 0, NULL, NULL));
	}
	TAP_ASSERT(layer_dir_exists(&f, &l1));
	{
		struct ldb_layer_info li;

		TAP_ASSERT_OK(ldb_layer_get(f.db, &l1, &li));
		TAP_ASSERT_INT(li.images, ==, 1);
	}
}

static void test_layer_users_and_shared_content(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, b, c, la, lb, cid;
	struct ldb_layer_info li;
	_cleanup_free_ char *p1 = NULL, *p2 = NULL;
	char file[1024];
	int fd;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	p1 = mksrc(&f, "one", "common content");
	p2 = mksrc(&f, "two", "other");
	/* the same file content in a second layer */
	snprintf(file, sizeof(file), "%s/copy", p2);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	TAP_ASSERT(fd >= 0 && write(fd, "common content", 14) == 14);
	close(fd);
	TAP_ASSERT_OK(ldb_layer_add(f.db, p1, NULL, &a, &la));
	TAP_ASSERT_OK(ldb_layer_add(f.db, p2, &(struct ldb_add_opts){ .parent = &a }, &b, &lb));
	TAP_ASSERT_OK(ldb_layer_add(f.db, p2, NULL, &c, NULL));
	TAP_ASSERT_OK(ldb_container_create(f.db, &b, NULL, &cid));
	TAP_ASSERT_OK(ldb_layer_get(f.db, &la, &li));
	TAP_ASSERT_INT(li.images, ==, 1);
	TAP_ASSERT_INT(li.containers, ==, 1); /* through the chain of b */
	TAP_ASSERT_INT(li.shared_files, ==, 1);
	TAP_ASSERT_INT(li.shared_size, ==, 14);
	TAP_ASSERT_OK(ldb_layer_get(f.db, &lb, &li));
	TAP_ASSERT_INT(li.images, ==, 2); /* on a, and as a base */
	TAP_ASSERT_INT(li.containers, ==, 1);
}

static void test_tags_resolve_and_move(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, b, r;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, "base", &a));
	TAP_ASSERT_OK(add(&f, "b", "B", NULL, NULL, &b));
	TAP_ASSERT_OK(ldb_image_resolve(f.db, "base:latest", &r));
	TAP_ASSERT(memcmp(&r, &a, sizeof(r)) == 0);
	TAP_ASSERT_OK(ldb_image_resolve(f.db, "base", &r));
	TAP_ASSERT(memcmp(&r, &a, sizeof(r)) == 0);
	ldb_digest_hex(&b, hex);
	hex[8] = '\0';
	TAP_ASSERT_OK(ldb_image_resolve(f.db, hex, &r));
	TAP_ASSERT(memcmp(&r, &b, sizeof(r)) == 0);
	TAP_ASSERT_OK(ldb_image_tag(f.db, &b, "base"));
	TAP_ASSERT_OK(ldb_image_resolve(f.db, "base", &r));
	TAP_ASSERT(memcmp(&r, &b, sizeof(r)) == 0);
	TAP_ASSERT_ERR(ldb_image_resolve(f.db, "nope:1", &r), ENOENT);
	TAP_ASSERT_ERR(ldb_image_tag(f.db, &b, "Bad Name"), EINVAL);
}

static void test_rmi_refused_while_container_uses_image(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, cid, r;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, NULL, &a));
	TAP_ASSERT_OK(ldb_image_tag(f.db, &a, "img:1"));
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, "c1", &cid));
	{
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&a, hex);
		TAP_ASSERT_ERR(ldb_image_remove(f.db, hex, 0, NULL, NULL), EBUSY);
		TAP_ASSERT(strstr(ldb_errmsg(f.db), "conflict: unable to delete"));
		TAP_ASSERT(strstr(ldb_errmsg(f.db), "(must be forced) - image is being used by "
					"stopped container"));
	}
	/* by name: untagged, image kept quietly for the container */
	TAP_ASSERT_OK(ldb_image_remove(f.db, "img:1", 0, NULL, NULL));
	TAP_ASSERT_ERR(ldb_image_resolve(f.db, "img:1", &r), ENOENT);
	{
		_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };

		TAP_ASSERT_OK(ldb_image_get(f.db, &a, &img));
	}
}

static int count_events;
static void count_cb(enum ldb_rmi_event ev, const char *what, void *payload)
{
	count_events += ev == LDB_RMI_DELETED ? 100 : 1;
}

static void test_rmi_forced_keeps_layers_for_container(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, cid, layer;
	_cleanup_free_ char *p = NULL;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	p = mksrc(&f, "a", "A");
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, &(struct ldb_add_opts){ .name = "x:1" }, &a, &layer));
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, NULL, &cid));
	ldb_digest_hex(&a, hex);
	count_events = 0;
	TAP_ASSERT_OK(ldb_image_remove(f.db, hex, LDB_RMI_FORCE, count_cb, NULL));
	TAP_ASSERT_INT(count_events, ==, 1); /* Untagged only */
	TAP_ASSERT(layer_dir_exists(&f, &layer));
	/* once the container is gone, prune frees everything */
	TAP_ASSERT_OK(ldb_container_remove(f.db, &cid, 0));
	TAP_ASSERT_INT(ldb_store_prune(f.db, NULL, NULL, NULL), ==, 2);
	TAP_ASSERT(!layer_dir_exists(&f, &layer));
}

static void test_rmi_parent_with_children_refused(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, b, r;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, "base", &a));
	TAP_ASSERT_OK(add(&f, "b", "B", &a, "app", &b));
	ldb_digest_hex(&a, hex);
	TAP_ASSERT_ERR(ldb_image_remove(f.db, hex, LDB_RMI_FORCE, NULL, NULL), EBUSY);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "(cannot be forced) - image has dependent child images"));
	/* by name: just untagged */
	TAP_ASSERT_OK(ldb_image_remove(f.db, "base", 0, NULL, NULL));
	TAP_ASSERT_OK(ldb_image_resolve(f.db, hex, &r));
	/* removing the child deletes the now untagged parent too */
	count_events = 0;
	TAP_ASSERT_OK(ldb_image_remove(f.db, "app", 0, count_cb, NULL));
	TAP_ASSERT_INT(count_events, ==, 201);
	TAP_ASSERT_ERR(ldb_image_resolve(f.db, hex, &r), ENOENT);
}

static void test_rmi_by_id_with_several_names_needs_force(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, "one", &a));
	TAP_ASSERT_OK(ldb_image_tag(f.db, &a, "two"));
	ldb_digest_hex(&a, hex);
	TAP_ASSERT_ERR(ldb_image_remove(f.db, hex, 0, NULL, NULL), EBUSY);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "referenced in multiple repositories"));
	count_events = 0;
	TAP_ASSERT_OK(ldb_image_remove(f.db, hex, LDB_RMI_FORCE, count_cb, NULL));
	TAP_ASSERT_INT(count_events, ==, 102);
}

static void test_commit_unmounted_moves_upper(void)
{
	_cleanup_(fixture_free) struct fixture f;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };
	struct ldb_digest a, cid, img, r;
	char p[1024];
	int fd;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, "base", &a));
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, "box", &cid));
	TAP_ASSERT_OK(ldb_container_resolve(f.db, "box", &r));
	TAP_ASSERT(memcmp(&r, &cid, sizeof(r)) == 0);
	TAP_ASSERT_OK(ldb_container_get(f.db, &cid, &c));
	snprintf(p, sizeof(p), "%s/new", c.upper);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	TAP_ASSERT(fd >= 0);
	close(fd);
	TAP_ASSERT_OK(ldb_container_commit(f.db, &cid, &(struct ldb_add_opts){ .name = "base:2" },
					   &img));
	{
		_cleanup_(ldb_image_info_clear) struct ldb_image_info i = { 0 };
		_cleanup_(ldb_container_info_clear) struct ldb_container_info c2 = { 0 };

		TAP_ASSERT_OK(ldb_image_get(f.db, &img, &i));
		TAP_ASSERT_INT(i.depth, ==, 2);
		TAP_ASSERT(memcmp(&i.parent, &a, sizeof(a)) == 0);
		TAP_ASSERT_OK(ldb_container_get(f.db, &cid, &c2));
		TAP_ASSERT(memcmp(&c2.image, &img, sizeof(img)) == 0);
		TAP_ASSERT(access(p, F_OK) < 0); /* upper is empty again */
	}
	TAP_ASSERT_INT(ldb_store_check(f.db, LDB_CHECK_REPAIR, NULL, NULL), ==, 0);
}

static void test_injected_commit_failure_leaves_nothing_recorded(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, r;
	int problems;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	ldb__set_fault(f.db, LDB_FAULT_COMMIT);
	TAP_ASSERT_ERR(add(&f, "a", "A", NULL, "base", &a), EIO);
	TAP_ASSERT_ERR(ldb_image_resolve(f.db, "base", &r), ENOENT);
	/* the layer dir was published before the failed record: check finds it */
	problems = ldb_store_check(f.db, 0, NULL, NULL);
	TAP_ASSERT_INT(problems, ==, 1);
	TAP_ASSERT_INT(ldb_store_check(f.db, LDB_CHECK_REPAIR, NULL, NULL), ==, 0);
	TAP_ASSERT_INT(ldb_store_check(f.db, 0, NULL, NULL), ==, 0);
	/* and the same add works afterwards */
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, "base", &a));
}

static void test_check_completes_interrupted_commit(void)
{
	_cleanup_(fixture_free) struct fixture f;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };
	struct ldb_digest a, cid, layer;
	char hex[LDB_DIGEST_HEX_LEN + 1], ahex[LDB_DIGEST_HEX_LEN + 1], chex[LDB_DIGEST_HEX_LEN + 1];
	char p[1024], sql[512];
	int fd;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, NULL, &a));
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, "box", &cid));
	TAP_ASSERT_OK(ldb_container_get(f.db, &cid, &c));
	snprintf(p, sizeof(p), "%s/file", c.upper);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	TAP_ASSERT(fd >= 0);
	close(fd);
	fd = open(c.upper, O_RDONLY | O_DIRECTORY);
	TAP_ASSERT_OK(ldb_digest_tree(fd, &layer));
	close(fd);
	/* What a commit killed between its rename and its record leaves behind. */
	ldb_digest_hex(&layer, hex);
	ldb_digest_hex(&a, ahex);
	ldb_digest_hex(&cid, chex);
	snprintf(sql, sizeof(sql), "INSERT INTO pending(op, container_id, layer_id, parent_id, name, "
		 "created) VALUES ('commit', X'%s', X'%s', X'%s', 'done:1', 0)", chex, hex, ahex);
	TAP_ASSERT_OK(ldb__exec(f.db, sql));
	snprintf(p, sizeof(p), "%s/layers/%s", f.root, hex);
	TAP_ASSERT(rename(c.upper, p) == 0);
	/* nothing touches the container until check has settled the commit */
	TAP_ASSERT_ERR(ldb_container_set_mount(f.db, &cid, "/nowhere"), EAGAIN);
	TAP_ASSERT_ERR(ldb_container_commit(f.db, &cid, NULL, NULL), EAGAIN);
	TAP_ASSERT_ERR(ldb_container_remove(f.db, &cid, 0), EAGAIN);
	TAP_ASSERT_INT(ldb_store_check(f.db, LDB_CHECK_REPAIR, NULL, NULL), ==, 0);
	{
		_cleanup_(ldb_container_info_clear) struct ldb_container_info c2 = { 0 };
		struct ldb_digest img;

		TAP_ASSERT_OK(ldb_image_resolve(f.db, "done:1", &img));
		TAP_ASSERT_OK(ldb_container_get(f.db, &cid, &c2));
		TAP_ASSERT(memcmp(&c2.image, &img, sizeof(img)) == 0);
		TAP_ASSERT(access(c2.upper, F_OK) == 0);
	}
	TAP_ASSERT_INT(ldb_store_check(f.db, 0, NULL, NULL), ==, 0);
}

static void test_check_removes_tmp_leftovers(void)
{
	_cleanup_(fixture_free) struct fixture f;
	char p[1024];

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	snprintf(p, sizeof(p), "%s/tmp/12345-deadbeef", f.root);
	TAP_ASSERT(mkdir(p, 0755) == 0);
	TAP_ASSERT_INT(ldb_store_check(f.db, 0, NULL, NULL), ==, 1);
	TAP_ASSERT_INT(ldb_store_check(f.db, LDB_CHECK_REPAIR, NULL, NULL), ==, 0);
	TAP_ASSERT(access(p, F_OK) < 0);
}

static void test_container_names_unique(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, c1, c2;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	TAP_ASSERT_OK(add(&f, "a", "A", NULL, NULL, &a));
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, "same", &c1));
	TAP_ASSERT_ERR(ldb_container_create(f.db, &a, "same", &c2), EEXIST);
	TAP_ASSERT_ERR(ldb_container_create(f.db, &a, "bad name", &c2), EINVAL);
	TAP_ASSERT_OK(ldb_container_create(f.db, &a, NULL, &c2));
}

static void test_file_search_and_verify(void)
{
	_cleanup_(fixture_free) struct fixture f;
	struct ldb_digest a, layer;
	_cleanup_free_ char *p = NULL, *lp = NULL;
	char file[1024];
	int fd;

	TAP_ASSERT_OK(fixture_init(&f, LDB_OPEN_MEMORY));
	p = mksrc(&f, "a", "A");
	TAP_ASSERT_OK(ldb_layer_add(f.db, p, NULL, &a, &layer));
	TAP_ASSERT_INT(ldb_layer_verify(f.db, &layer, NULL, NULL, NULL), ==, 0);
	TAP_ASSERT_OK(ldb_layer_path(f.db, &layer, &lp));
	snprintf(file, sizeof(file), "%s/a.txt", lp);
	fd = open(file, O_WRONLY | O_TRUNC);
	TAP_ASSERT(fd >= 0);
	TAP_ASSERT(write(fd, "B", 1) == 1);
	close(fd);
	TAP_ASSERT_INT(ldb_layer_verify(f.db, &layer, NULL, NULL, NULL), ==, 1);
}

int main(void)
{
	TAP_TEST(test_open_creates_latest_schema);
	TAP_TEST(test_migration_from_v0_and_v1_keeps_rows);
	TAP_TEST(test_newer_schema_refused);
	TAP_TEST(test_add_same_content_stored_once);
	TAP_TEST(test_ancestry_chain_top_first);
	TAP_TEST(test_same_layer_different_parent_is_another_image);
	TAP_TEST(test_layer_users_and_shared_content);
	TAP_TEST(test_tags_resolve_and_move);
	TAP_TEST(test_rmi_refused_while_container_uses_image);
	TAP_TEST(test_rmi_forced_keeps_layers_for_container);
	TAP_TEST(test_rmi_parent_with_children_refused);
	TAP_TEST(test_rmi_by_id_with_several_names_needs_force);
	TAP_TEST(test_commit_unmounted_moves_upper);
	TAP_TEST(test_injected_commit_failure_leaves_nothing_recorded);
	TAP_TEST(test_check_completes_interrupted_commit);
	TAP_TEST(test_check_removes_tmp_leftovers);
	TAP_TEST(test_container_names_unique);
	TAP_TEST(test_file_search_and_verify);
	return tap_done();
}
