/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-archive.c - layer archives: OCI whiteout translation, round trip
 * through export, compression filters, hostile archives refused without
 * touching anything outside the store, corrupt and truncated input, and the
 * golden archive in tests/data/.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <grp.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tests/tap.h"
#include "layerdb.h"
#include "ldb-internal.h"

/*
 * tests/data/, found without help from the build system: $STRATA_TESTS_DATA,
 * else __FILE__'s directory, which meson makes relative to the build root,
 * i.e. to this binary's ../../ (build/tests/unit/test-archive).
 */
static char data_dir[4096];

static void find_data_dir(void)
{
	const char *env = getenv("STRATA_TESTS_DATA");
	char exe[2048] = "";
	ssize_t n;

	if (env) {
		snprintf(data_dir, sizeof(data_dir), "%s", env);
		return;
	}
	if (__FILE__[0] == '/') {
		snprintf(data_dir, sizeof(data_dir), "%s/../data", __FILE__);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		snprintf(data_dir, sizeof(data_dir), "%s/../../%s/../data", exe, __FILE__);
	}
	/* ".../test-archive/../" is not a directory: drop the file names */
	for (char *p; (p = strstr(data_dir, "/test-archive.c/")) || (p = strstr(data_dir, "/test-archive/"));)
		memmove(p, strchr(p + 1, '/'), strlen(strchr(p + 1, '/')) + 1);
}
#define TESTS_DATA_DIR data_dir

struct ent {
	const char *name;
	char type;          /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char dev */
	const char *data;   /* content, or link target */
	unsigned mode;
	unsigned uid, gid;  /* owner in the archive (default 0:0) */
};

static char *scratch;

static int write_tar(const char *path, const char *filter, const struct ent *e, size_t n)
{
	struct archive *a = archive_write_new();
	int r = 0;

	archive_write_set_format_pax_restricted(a);
	if (strcmp(filter, "gzip") == 0)
		archive_write_add_filter_gzip(a);
	else if (strcmp(filter, "zstd") == 0)
		archive_write_add_filter_zstd(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		archive_write_free(a);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();

		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_gid(ae, e[i].gid);
		archive_entry_set_mtime(ae, 1700000000, 0);
		switch (e[i].type) {
		case 'd':
			archive_entry_set_filetype(ae, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
			break;
		case 'c':
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdev(ae, makedev(1, 3));
			break;
		default:
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, e[i].data ? (la_int64_t)strlen(e[i].data) : 0);
		}
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			r = -EIO;
		if (e[i].type == 'f' && e[i].data)
			archive_write_data(a, e[i].data, strlen(e[i].data));
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	return r;
}

struct fx {
	char *root;
	struct ldb *db;
};

static void fx_free(struct fx *f)
{
	ldb_close(f->db);
	if (f->root)
		(void)ldb__rm_rf_at(AT_FDCWD, f->root);
	free(f->root);
}

static int fx_init(struct fx *f)
{
	char t[] = "/tmp/test-archive.XXXXXX";

	*f = (struct fx){ 0 };
	if (!mkdtemp(t))
		return -errno;
	f->root = strdup(t);
	return ldb_open(f->root, LDB_OPEN_MEMORY, &f->db);
}

static int add_tar(struct fx *f, const char *filter, const struct ent *e, size_t n,
		   struct ldb_digest *ret_layer)
{
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/in.tar", scratch);
	r = write_tar(path, filter, e, n);
	if (r < 0)
		return r;
	return ldb_layer_add(f->db, path, NULL, NULL, ret_layer);
}

/* Nothing may appear outside the store: the scratch dir holds only in.tar. */
static bool scratch_clean(void)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/evil", scratch);
	return access(p, F_OK) < 0;
}

static bool layer_store_clean(struct fx *f)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/layers", f->root);
	return ldb__dir_is_empty(AT_FDCWD, p);
}

static void test_oci_whiteouts_translated(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest layer;
	_cleanup_free_ char *lp = NULL;
	const struct ent e[] = {
		{ "etc/", 'd', NULL, 0755 },
		{ "etc/.wh.passwd", 'f', "", 0 },
		{ "var/", 'd', NULL, 0755 },
		{ "var/.wh..wh..opq", 'f', "", 0 },
		{ "var/keep", 'f', "k", 0644 },
	};
	char p[1024], v[4];
	struct stat st;

	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "none", e, ELEMENTSOF(e), &layer));
	TAP_ASSERT_OK(ldb_layer_path(f.db, &layer, &lp));
	if (f.db->chardev_whiteouts) {
		snprintf(p, sizeof(p), "%s/etc/passwd", lp);
		TAP_ASSERT(lstat(p, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
	} else {
		snprintf(p, sizeof(p), "%s/etc/.wh.passwd", lp);
		TAP_ASSERT(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
	}
	snprintf(p, sizeof(p), "%s/var", lp);
	TAP_ASSERT(getxattr(p, f.db->trusted_xattrs ? "trusted.overlay.opaque" :
			    "user.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y');
	snprintf(p, sizeof(p), "%s/var/.wh..wh..opq", lp);
	TAP_ASSERT(access(p, F_OK) < 0);
}

static void test_round_trip_through_export(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest l1, l2;
	const struct ent e[] = {
		{ "./", 'd', NULL, 0755 },
		{ "./bin/", 'd', NULL, 0755 },
		{ "./bin/tool", 'f', "#!/bin/sh\necho hi\n", 0755 },
		{ "./bin/alias", 'l', "tool", 0777 },
		{ "./bin/hard", 'h', "./bin/tool", 0 },
		{ "./gone/", 'd', NULL, 0700 },
		{ "./gone/.wh..wh..opq", 'f', "", 0 },
		{ "./.wh.old", 'f', "", 0 },
	};
	char out[512];
	int fd;

	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "gzip", e, ELEMENTSOF(e), &l1));
	snprintf(out, sizeof(out), "%s/out.tar.zst", scratch);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	TAP_ASSERT(fd >= 0);
	TAP_ASSERT_OK(ldb_layer_export(f.db, &l1, fd, "zstd"));
	close(fd);
	/* a fresh store imports the exported stream to the very same id */
	{
		_cleanup_(fx_free) struct fx g;

		TAP_ASSERT_OK(fx_init(&g));
		TAP_ASSERT_OK(ldb_layer_add(g.db, out, NULL, NULL, &l2));
	}
	unlink(out);
	TAP_ASSERT(memcmp(&l1, &l2, sizeof(l1)) == 0);
}

static void test_compressions_give_same_id(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest a, b, c;
	const struct ent e[] = { { "a", 'f', "alpha", 0644 }, { "d/", 'd', NULL, 0755 },
				 { "d/b", 'f', "beta", 0600 } };

	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "none", e, ELEMENTSOF(e), &a));
	TAP_ASSERT_OK(add_tar(&f, "gzip", e, ELEMENTSOF(e), &b));
	TAP_ASSERT_OK(add_tar(&f, "zstd", e, ELEMENTSOF(e), &c));
	TAP_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
	TAP_ASSERT(memcmp(&a, &c, sizeof(a)) == 0);
}

#define REFUSED(f, entries, err)                                                           \
	do {                                                                               \
		struct ldb_digest l_;                                                      \
		TAP_ASSERT_ERR(add_tar(f, "none", entries, ELEMENTSOF(entries), &l_), err); \
		TAP_ASSERT(scratch_clean());                                               \
		TAP_ASSERT(layer_store_clean(f));                                          \
	} while (0)

static void test_hostile_dotdot_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	const struct ent e[] = { { "ok", 'f', "x", 0644 }, { "../evil", 'f', "pwned", 0644 } };
	const struct ent e2[] = { { "a/../../evil", 'f', "pwned", 0644 } };

	TAP_ASSERT_OK(fx_init(&f));
	REFUSED(&f, e, EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "climbs out"));
	REFUSED(&f, e2, EPERM);
}

static void test_hostile_absolute_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	char abs[512];
	struct ent e[] = { { NULL, 'f', "pwned", 0644 } };

	snprintf(abs, sizeof(abs), "%s/evil", scratch);
	e[0].name = abs;
	TAP_ASSERT_OK(fx_init(&f));
	REFUSED(&f, e, EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "absolute path"));
}

static void test_hostile_symlink_escape_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	const struct ent e[] = { { "a/", 'd', NULL, 0755 }, { "a/link", 'l', "../../../../etc", 0777 } };

	TAP_ASSERT_OK(fx_init(&f));
	REFUSED(&f, e, EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "leads out of the layer"));
}

static void test_hostile_write_through_symlink_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ent e[] = { { "dir", 'l', NULL, 0777 }, { "dir/evil", 'f', "pwned", 0644 } };

	/* an absolute symlink is fine by itself, but never followed while extracting */
	e[0].data = scratch;
	TAP_ASSERT_OK(fx_init(&f));
	REFUSED(&f, e, EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "symlink"));
}

static void test_hostile_hardlink_escape_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	const struct ent e[] = { { "evil", 'h', "../../../etc/passwd", 0 } };
	const struct ent e2[] = { { "evil", 'h', "/etc/passwd", 0 } };
	const struct ent e3[] = { { "evil", 'h', "not-there", 0 } };

	TAP_ASSERT_OK(fx_init(&f));
	REFUSED(&f, e, EPERM);
	REFUSED(&f, e2, EPERM);
	REFUSED(&f, e3, EPERM);
}

static void test_unprivileged_markers_written(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest l1, l2;
	_cleanup_free_ char *lp = NULL;
	const struct ent e[] = { { "d/", 'd', NULL, 0755 }, { "d/.wh..wh..opq", 'f', "", 0 },
				 { ".wh.gone", 'f', "", 0 } };
	char p[1024], v[4];
	struct stat st;

	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "none", e, ELEMENTSOF(e), &l1));
	/* a second store that cannot write 0/0 devices nor trusted.* xattrs */
	{
		_cleanup_(fx_free) struct fx g;

		TAP_ASSERT_OK(fx_init(&g));
		g.db->privileged = g.db->chardev_whiteouts = g.db->trusted_xattrs = false;
		TAP_ASSERT_OK(add_tar(&g, "none", e, ELEMENTSOF(e), &l2));
		TAP_ASSERT_OK(ldb_layer_path(g.db, &l2, &lp));
		snprintf(p, sizeof(p), "%s/.wh.gone", lp);
		TAP_ASSERT(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
		snprintf(p, sizeof(p), "%s/d", lp);
		TAP_ASSERT(getxattr(p, "user.overlay.opaque", v, sizeof(v)) == 1);
	}
	/* same content whatever the encoding */
	TAP_ASSERT(memcmp(&l1, &l2, sizeof(l1)) == 0);
}

static void test_device_refused_when_unprivileged(void)
{
	_cleanup_(fx_free) struct fx f;
	const struct ent e[] = { { "dev/", 'd', NULL, 0755 }, { "dev/null", 'c', NULL, 0666 } };

	TAP_ASSERT_OK(fx_init(&f));
	f.db->privileged = false; /* as an unprivileged user would be */
	f.db->trusted_xattrs = false;
	REFUSED(&f, e, EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "device node"));
}

static void test_corrupt_and_truncated_refused(void)
{
	_cleanup_(fx_free) struct fx f;
	const struct ent e[] = { { "big", 'f', NULL, 0644 } };
	struct ent big[1];
	_cleanup_free_ char *data = malloc(200000);
	char path[512];
	struct stat st;
	struct ldb_digest l;
	int fd;

	TAP_ASSERT(data);
	for (int i = 0; i < 200000; i++)
		data[i] = (char)('a' + (i * 7919) % 26);
	data[199999] = '\0';
	big[0] = e[0];
	big[0].data = data;
	TAP_ASSERT_OK(fx_init(&f));
	snprintf(path, sizeof(path), "%s/in.tar", scratch);
	for (int z = 0; z < 2; z++) {
		TAP_ASSERT_OK(write_tar(path, z ? "zstd" : "gzip", big, 1));
		TAP_ASSERT(stat(path, &st) == 0);
		TAP_ASSERT(truncate(path, st.st_size / 2) == 0);
		TAP_ASSERT_ERR(ldb_layer_add(f.db, path, NULL, NULL, &l), EBADMSG);
		/* corrupt the middle of a complete stream */
		TAP_ASSERT_OK(write_tar(path, z ? "zstd" : "gzip", big, 1));
		fd = open(path, O_WRONLY);
		TAP_ASSERT(fd >= 0);
		TAP_ASSERT(pwrite(fd, "garbagegarbage", 14, 40) == 14);
		close(fd);
		TAP_ASSERT_ERR(ldb_layer_add(f.db, path, NULL, NULL, &l), EBADMSG);
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	TAP_ASSERT(write(fd, "this is not an archive at all\n", 30) == 30);
	close(fd);
	TAP_ASSERT_ERR(ldb_layer_add(f.db, path, NULL, NULL, &l), EBADMSG);
	TAP_ASSERT(layer_store_clean(&f));
}

static void test_golden_archive(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest l, want;
	char hex[LDB_DIGEST_HEX_LEN + 1], expect[64] = "";
	FILE *x;

	if (geteuid() != 0) {
		printf("# skipped: golden ids assume owners can be kept (root)\n");
		return;
	}
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/golden-layer.xxh128", TESTS_DATA_DIR);
		x = fopen(p, "r");
	}
	TAP_ASSERT(x);
	TAP_ASSERT(fscanf(x, "%63s", expect) == 1);
	fclose(x);
	TAP_ASSERT_OK(ldb_digest_parse(expect, &want));
	TAP_ASSERT_OK(fx_init(&f));
	{
		char p[4200];

		snprintf(p, sizeof(p), "%s/golden-layer.tar.zst", TESTS_DATA_DIR);
		TAP_ASSERT_OK(ldb_layer_add(f.db, p, NULL, NULL, &l));
	}
	ldb_digest_hex(&l, hex);
	TAP_ASSERT_STR(hex, ==, expect);
}

static void test_should_fail_data_files(void)
{
	static const char *const files[] = {
		"should-fail-dotdot.tar", "should-fail-absolute.tar", "should-fail-symlink.tar",
		"should-fail-truncated.tar.gz",
	};
	_cleanup_(fx_free) struct fx f;

	TAP_ASSERT_OK(fx_init(&f));
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		char p[4200];
		struct ldb_digest l;
		int r;

		snprintf(p, sizeof(p), "%s/%s", TESTS_DATA_DIR, files[i]);
		r = ldb_layer_add(f.db, p, NULL, NULL, &l);
		if (r != -EPERM && r != -EBADMSG)
			TAP_FAIL_("%s: expected refusal, got %d", files[i], r);
	}
	TAP_ASSERT(layer_store_clean(&f));
}

/*
 * Owners an unprivileged store cannot give: user.containers.override_stat.
 * Root drops to nobody in a child for the unprivileged half; the ids of the
 * same tar added by root and by the user must agree (no symlinks in it).
 */
static const struct ent owned[] = {
	{ "usr/", 'd', NULL, 0755 },
	{ "usr/bin/", 'd', NULL, 0755 },
	{ "usr/bin/chage", 'f', "chage", 02755, 0, 42 },
	{ "usr/bin/ro", 'f', "ro", 0444, 0, 0 },
	{ "home/", 'd', NULL, 0755 },
	{ "home/seven/", 'd', NULL, 0750, 7, 8 },
	{ "home/seven/f", 'f', "7", 0640, 7, 8 },
};

static bool xattr_is(const char *dir, const char *rel, const char *want)
{
	char p[1024], v[128];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	n = lgetxattr(p, LDB__OVERRIDE_XATTR, v, sizeof(v) - 1);
	if (n < 0)
		return false;
	v[n] = '\0';
	return strcmp(v, want) == 0;
}

/* In the child: exit status 0 if all holds, else the number of the check. */
static int unprivileged_add(int idfd)
{
	char t[] = "/tmp/test-archive-user.XXXXXX", tar[512], hex[LDB_DIGEST_HEX_LEN + 1];
	_cleanup_free_ char *lp = NULL;
	struct ldb *db = NULL;
	struct ldb_digest l;
	struct stat st;
	int r = 0;

	if (getuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			      setresuid(65534, 65534, 65534) < 0))
		return 1;
	if (!mkdtemp(t))
		return 2;
	snprintf(tar, sizeof(tar), "%s/in.tar", t);
	if (write_tar(tar, "none", owned, ELEMENTSOF(owned)) < 0)
		r = 3;
	else if (ldb_open(t, LDB_OPEN_MEMORY, &db) < 0 || ldb_layer_add(db, tar, NULL, NULL, &l) < 0 ||
		 ldb_layer_path(db, &l, &lp) < 0)
		r = 4;
	else if (lsetxattr(lp, "user.test-archive", "1", 1, 0) < 0 && errno == ENOTSUP)
		r = 77; /* no user xattrs here: nothing to check */
	else if (!xattr_is(lp, "usr/bin/chage", "0:42:02755"))
		r = 5;
	else if (!xattr_is(lp, "usr/bin/ro", "0:0:0444") || !xattr_is(lp, "usr", "0:0:0755"))
		r = 6;
	else if (!xattr_is(lp, "home/seven", "7:8:0750") || !xattr_is(lp, "home/seven/f", "7:8:0640"))
		r = 7;
	else if (lstat(tar, &st) < 0 || st.st_uid != getuid())
		r = 8;
	if (r == 0) {
		/* the digest reads the override as the owner */
		char p[1024];

		snprintf(p, sizeof(p), "%s/usr/bin/chage", lp);
		if (lstat(p, &st) < 0)
			r = 9;
		else {
			struct stat eff = st;

			ldb__override_apply(AT_FDCWD, p, &eff);
			if (eff.st_uid != 0 || eff.st_gid != 42 || (eff.st_mode & 07777) != 02755 ||
			    !S_ISREG(eff.st_mode))
				r = 10;
		}
	}
	ldb_digest_hex(&l, hex);
	if (r == 0 && write(idfd, hex, LDB_DIGEST_HEX_LEN) != LDB_DIGEST_HEX_LEN)
		r = 11;
	if (lp)
		(void)lremovexattr(lp, "user.test-archive");
	ldb_close(db);
	(void)ldb__rm_rf_at(AT_FDCWD, t);
	return r;
}

static void test_unprivileged_owners_in_override_xattr(void)
{
	_cleanup_(fx_free) struct fx f;
	struct ldb_digest l;
	char hex[LDB_DIGEST_HEX_LEN + 1], got[LDB_DIGEST_HEX_LEN + 1] = "";
	int pfd[2], status;
	pid_t pid;

	TAP_ASSERT(pipe(pfd) == 0);
	pid = fork();
	TAP_ASSERT(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		_exit(unprivileged_add(pfd[1]));
	}
	close(pfd[1]);
	TAP_ASSERT(read(pfd[0], got, LDB_DIGEST_HEX_LEN) >= 0);
	close(pfd[0]);
	TAP_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		printf("# no user xattrs on /tmp: skipped\n");
		return;
	}
	if (WEXITSTATUS(status) != 0)
		TAP_FAIL_("unprivileged add: check %d failed", WEXITSTATUS(status));
	if (getuid() != 0)
		return;
	/* root chowns for real, writes no override, and gets the same id */
	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "none", owned, ELEMENTSOF(owned), &l));
	ldb_digest_hex(&l, hex);
	TAP_ASSERT_STR(hex, ==, got);
	{
		_cleanup_free_ char *lp = NULL;
		char p[1024];
		struct stat st;

		TAP_ASSERT_OK(ldb_layer_path(f.db, &l, &lp));
		snprintf(p, sizeof(p), "%s/usr/bin/chage", lp);
		TAP_ASSERT(lstat(p, &st) == 0 && st.st_uid == 0 && st.st_gid == 42 &&
			   (st.st_mode & 07777) == 02755);
		TAP_ASSERT(lgetxattr(p, LDB__OVERRIDE_XATTR, NULL, 0) < 0);
	}
}

/* Export writes the emulated owner back into the headers, without the xattr. */
static void test_override_exported_as_owner(void)
{
	_cleanup_(fx_free) struct fx f;
	_cleanup_free_ char *lp = NULL;
	struct ldb_digest l;
	const struct ent e[] = { { "f", 'f', "x", 0644 } };
	char p[1024], out[512];
	struct archive *a;
	struct archive_entry *ae;
	bool seen = false;
	int fd;

	TAP_ASSERT_OK(fx_init(&f));
	TAP_ASSERT_OK(add_tar(&f, "none", e, ELEMENTSOF(e), &l));
	TAP_ASSERT_OK(ldb_layer_path(f.db, &l, &lp));
	snprintf(p, sizeof(p), "%s/f", lp);
	if (lsetxattr(p, LDB__OVERRIDE_XATTR, "5:42:04710", 10, 0) < 0 && errno == ENOTSUP) {
		printf("# no user xattrs: skipped\n");
		return;
	}
	snprintf(out, sizeof(out), "%s/ov.tar", scratch);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	TAP_ASSERT(fd >= 0);
	TAP_ASSERT_OK(ldb_layer_export(f.db, &l, fd, "none"));
	close(fd);
	a = archive_read_new();
	archive_read_support_format_tar(a);
	TAP_ASSERT(archive_read_open_filename(a, out, 1 << 16) == ARCHIVE_OK);
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(ae), "f") != 0)
			continue;
		seen = true;
		TAP_ASSERT_INT(archive_entry_uid(ae), ==, 5);
		TAP_ASSERT_INT(archive_entry_gid(ae), ==, 42);
		TAP_ASSERT_INT(archive_entry_perm(ae), ==, 04710);
		TAP_ASSERT_INT(archive_entry_xattr_count(ae), ==, 0);
	}
	archive_read_free(a);
	unlink(out);
	TAP_ASSERT(seen);
}

int main(void)
{
	char t[] = "/tmp/test-archive-scratch.XXXXXX";

	scratch = mkdtemp(t);
	if (!scratch)
		return 1;
	find_data_dir();
	printf("# data: %s\n", data_dir);
	TAP_TEST(test_oci_whiteouts_translated);
	TAP_TEST(test_round_trip_through_export);
	TAP_TEST(test_compressions_give_same_id);
	TAP_TEST(test_hostile_dotdot_refused);
	TAP_TEST(test_hostile_absolute_refused);
	TAP_TEST(test_hostile_symlink_escape_refused);
	TAP_TEST(test_hostile_write_through_symlink_refused);
	TAP_TEST(test_hostile_hardlink_escape_refused);
	TAP_TEST(test_unprivileged_markers_written);
	TAP_TEST(test_device_refused_when_unprivileged);
	TAP_TEST(test_corrupt_and_truncated_refused);
	TAP_TEST(test_golden_archive);
	TAP_TEST(test_should_fail_data_files);
	TAP_TEST(test_unprivileged_owners_in_override_xattr);
	TAP_TEST(test_override_exported_as_owner);
	(void)ldb__rm_rf_at(AT_FDCWD, scratch);
	return tap_done();
}
