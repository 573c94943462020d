/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-digest.c - XXH3-128 known vectors, hex encoding, chain ids, and the
 * canonical layer identity: same content -> same id, any change -> new id,
 * every whiteout/opaque encoding -> the same id.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/tap.h"
#include "layerdb.h"
#include "ldb-internal.h"

static char *mkscratch(void)
{
	char tmpl[] = "/tmp/test-digest.XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

static void rmscratch(char *d)
{
	if (d)
		(void)ldb__rm_rf_at(AT_FDCWD, d);
	free(d);
}

static int put_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -errno;
	if (write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
		close(fd);
		return -EIO;
	}
	fchmod(fd, mode);
	close(fd);
	return 0;
}

static int tree_id(const char *dir, struct ldb_digest *ret)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int r;

	if (fd < 0)
		return -errno;
	r = ldb_digest_tree(fd, ret);
	close(fd);
	return r;
}

/* A small layer: dir a/, file a/f, symlink l, file top. */
static int build_base(const char *dir)
{
	char p[512];
	int r;

	snprintf(p, sizeof(p), "%s/a", dir);
	if (mkdir(p, 0755) < 0)
		return -errno;
	r = put_file(dir, "a/f", "hello\n", 0644);
	if (r < 0)
		return r;
	r = put_file(dir, "top", "top\n", 0600);
	if (r < 0)
		return r;
	snprintf(p, sizeof(p), "%s/l", dir);
	return symlink("a/f", p) < 0 ? -errno : 0;
}

static void test_xxh3_128_known_vectors(void)
{
	struct ldb_digest d;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	/* xxHash's own sanity vector: XXH3_128bits("", 0) */
	ldb_digest_buffer("", 0, &d);
	ldb_digest_hex(&d, hex);
	TAP_ASSERT_STR(hex, ==, "99aa06d3014798d86001c324468d497f");
}

static void test_hex_round_trip(void)
{
	struct ldb_digest d, e;
	char hex[LDB_DIGEST_HEX_LEN + 1];

	for (int i = 0; i < 16; i++)
		d.bytes[i] = (uint8_t)(i * 17);
	ldb_digest_hex(&d, hex);
	TAP_ASSERT_STR(hex, ==, "00112233445566778899aabbccddeeff");
	TAP_ASSERT_OK(ldb_digest_parse(hex, &e));
	TAP_ASSERT(memcmp(&d, &e, sizeof(d)) == 0);
	TAP_ASSERT_OK(ldb_digest_parse("xxh128:00112233445566778899AABBCCDDEEFF", &e));
	TAP_ASSERT(memcmp(&d, &e, sizeof(d)) == 0);
	TAP_ASSERT_ERR(ldb_digest_parse("0112", &e), EINVAL);
	TAP_ASSERT_ERR(ldb_digest_parse("zz12233445566778899aabbccddeeff0", &e), EINVAL);
	TAP_ASSERT_ERR(ldb_digest_parse("sha256:0112233445566778899aabbccddeeff0", &e), EINVAL);
}

static void test_digest_fd_matches_buffer(void)
{
	char *d = mkscratch();
	struct ldb_digest a, b;
	uint64_t size = 0;
	char p[512];
	int fd;

	TAP_ASSERT(d);
	TAP_ASSERT_OK(put_file(d, "x", "some content", 0644));
	snprintf(p, sizeof(p), "%s/x", d);
	fd = open(p, O_RDONLY);
	TAP_ASSERT(fd >= 0);
	TAP_ASSERT_OK(ldb_digest_fd(fd, &a, &size));
	close(fd);
	ldb_digest_buffer("some content", 12, &b);
	rmscratch(d);
	TAP_ASSERT_INT(size, ==, 12);
	TAP_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
}

static void test_chain_id_depends_on_parent_and_layer(void)
{
	struct ldb_digest l1, l2, base, c1, c2, c3;

	ldb_digest_buffer("1", 1, &l1);
	ldb_digest_buffer("2", 1, &l2);
	ldb_digest_chain(NULL, &l1, &base);
	ldb_digest_chain(&base, &l2, &c1);
	ldb_digest_chain(&base, &l2, &c2);
	ldb_digest_chain(NULL, &l2, &c3);
	TAP_ASSERT(memcmp(&c1, &c2, sizeof(c1)) == 0);
	TAP_ASSERT(memcmp(&c1, &c3, sizeof(c1)) != 0);
	TAP_ASSERT(memcmp(&base, &l1, sizeof(base)) != 0);
}

static void test_same_content_same_id(void)
{
	char *a = mkscratch(), *b = mkscratch();
	struct ldb_digest da, db;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	char p[512];

	TAP_ASSERT(a && b);
	TAP_ASSERT_OK(build_base(a));
	TAP_ASSERT_OK(build_base(b));
	/* timestamps are not content */
	snprintf(p, sizeof(p), "%s/top", b);
	utimensat(AT_FDCWD, p, old, 0);
	TAP_ASSERT_OK(tree_id(a, &da));
	TAP_ASSERT_OK(tree_id(b, &db));
	rmscratch(a);
	rmscratch(b);
	TAP_ASSERT(memcmp(&da, &db, sizeof(da)) == 0);
}

enum change { CH_CONTENT, CH_MODE, CH_NAME, CH_SYMLINK, CH_XATTR, CH_NEWFILE, CH_HARDLINK,
	      CH_WHITEOUT, CH_OPAQUE, CH_MAX };

static int apply_change(const char *dir, enum change ch)
{
	char p[512], q[512];

	switch (ch) {
	case CH_CONTENT:
		return put_file(dir, "a/f", "hellO\n", 0644);
	case CH_MODE:
		snprintf(p, sizeof(p), "%s/top", dir);
		return chmod(p, 0640) < 0 ? -errno : 0;
	case CH_NAME:
		snprintf(p, sizeof(p), "%s/top", dir);
		snprintf(q, sizeof(q), "%s/top2", dir);
		return rename(p, q) < 0 ? -errno : 0;
	case CH_SYMLINK:
		snprintf(p, sizeof(p), "%s/l", dir);
		unlink(p);
		return symlink("a/g", p) < 0 ? -errno : 0;
	case CH_XATTR:
		snprintf(p, sizeof(p), "%s/top", dir);
		return setxattr(p, "user.test", "1", 1, 0) < 0 ? -errno : 0;
	case CH_NEWFILE:
		return put_file(dir, "a/empty", "", 0644);
	case CH_HARDLINK:
		snprintf(p, sizeof(p), "%s/a/f", dir);
		snprintf(q, sizeof(q), "%s/a/f2", dir);
		return link(p, q) < 0 ? -errno : 0;
	case CH_WHITEOUT:
		return put_file(dir, ".wh.gone", "", 0);
	case CH_OPAQUE:
		return put_file(dir, "a/.wh..wh..opq", "", 0);
	case CH_MAX:
		break;
	}
	return -EINVAL;
}

static void test_any_change_new_id(void)
{
	struct ldb_digest base, changed[CH_MAX];
	char *d = mkscratch();

	TAP_ASSERT(d);
	TAP_ASSERT_OK(build_base(d));
	TAP_ASSERT_OK(tree_id(d, &base));
	rmscratch(d);
	for (int ch = 0; ch < CH_MAX; ch++) {
		int r;

		d = mkscratch();
		TAP_ASSERT(d);
		TAP_ASSERT_OK(build_base(d));
		r = apply_change(d, (enum change)ch);
		if (r == -ENOTSUP || r == -EPERM) {
			/* no user xattrs on this fs: make the change something else */
			r = put_file(d, "xattr-less", "", 0644);
		}
		TAP_ASSERT_OK(r);
		TAP_ASSERT_OK(tree_id(d, &changed[ch]));
		rmscratch(d);
		if (memcmp(&base, &changed[ch], sizeof(base)) == 0)
			TAP_FAIL_("change %d kept the same id", ch);
		for (int j = 0; j < ch; j++)
			if (memcmp(&changed[j], &changed[ch], sizeof(base)) == 0)
				TAP_FAIL_("changes %d and %d gave the same id", j, ch);
	}
}

static void test_whiteout_encodings_same_id(void)
{
	char *a = mkscratch(), *b = mkscratch();
	struct ldb_digest da, db;
	char p[512];

	TAP_ASSERT(a && b);
	TAP_ASSERT_OK(put_file(a, ".wh.gone", "", 0));
	snprintf(p, sizeof(p), "%s/gone", b);
	if (mknod(p, S_IFCHR | 0, makedev(0, 0)) < 0) {
		rmscratch(a);
		rmscratch(b);
		printf("# skipped: mknod not permitted\n");
		return;
	}
	TAP_ASSERT_OK(tree_id(a, &da));
	TAP_ASSERT_OK(tree_id(b, &db));
	rmscratch(a);
	rmscratch(b);
	TAP_ASSERT(memcmp(&da, &db, sizeof(da)) == 0);
}

static void test_opaque_encodings_same_id(void)
{
	char *a = mkscratch(), *b = mkscratch(), *c = mkscratch();
	struct ldb_digest da, db, dc;
	char p[512];
	bool have_trusted;

	TAP_ASSERT(a && b && c);
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/d", i == 0 ? a : i == 1 ? b : c);
		TAP_ASSERT(mkdir(p, 0755) == 0);
	}
	TAP_ASSERT_OK(put_file(a, "d/.wh..wh..opq", "", 0));
	snprintf(p, sizeof(p), "%s/d", b);
	TAP_ASSERT(setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0 || errno == ENOTSUP);
	snprintf(p, sizeof(p), "%s/d", c);
	have_trusted = setxattr(p, "trusted.overlay.opaque", "y", 1, 0) == 0;
	TAP_ASSERT_OK(tree_id(a, &da));
	TAP_ASSERT_OK(tree_id(b, &db));
	TAP_ASSERT_OK(tree_id(c, &dc));
	rmscratch(a);
	rmscratch(b);
	rmscratch(c);
	TAP_ASSERT(memcmp(&da, &db, sizeof(da)) == 0);
	if (have_trusted)
		TAP_ASSERT(memcmp(&da, &dc, sizeof(da)) == 0);
}

static void test_empty_layer_id_is_stable(void)
{
	char *a = mkscratch();
	struct ldb_digest d1, d2;

	TAP_ASSERT(a);
	TAP_ASSERT_OK(tree_id(a, &d1));
	TAP_ASSERT_OK(tree_id(a, &d2));
	rmscratch(a);
	TAP_ASSERT(memcmp(&d1, &d2, sizeof(d1)) == 0);
}

int main(void)
{
	TAP_TEST(test_xxh3_128_known_vectors);
	TAP_TEST(test_hex_round_trip);
	TAP_TEST(test_digest_fd_matches_buffer);
	TAP_TEST(test_chain_id_depends_on_parent_and_layer);
	TAP_TEST(test_same_content_same_id);
	TAP_TEST(test_any_change_new_id);
	TAP_TEST(test_whiteout_encodings_same_id);
	TAP_TEST(test_opaque_encodings_same_id);
	TAP_TEST(test_empty_layer_id_is_stable);
	return tap_done();
}
