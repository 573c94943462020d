/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-oci.c - OCI images in liblayerdb: sha256 vectors, digest syntax,
 * index/manifest/config/docker-manifest parsing, blob and layer verification
 * (size, digest, diff id, hostile names), the image config kept in the store,
 * and an export -> import round trip between two stores.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tap.h"
#include "layerdb.h"
#include "ldb-internal.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

struct fixture {
	char dir[64];
	struct ldb *db;
};

static int fixture_init(struct fixture *f)
{
	char root[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-oci.XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(root, sizeof(root), "%s/root", f->dir);
	return ldb_open(root, LDB_OPEN_MEMORY, &f->db);
}

static void fixture_free(struct fixture *f)
{
	ldb_close(f->db);
	(void)ldb__rm_rf_at(AT_FDCWD, f->dir);
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, data, len);
	close(fd);
	return w == (ssize_t)len ? 0 : -EIO;
}

/* A blob in DIR/blobs/sha256, described in @d. */
static int put_blob(const char *dir, const void *data, size_t len, struct ldb__oci_desc *d)
{
	char path[512];

	*d = (struct ldb__oci_desc){ .size = (int64_t)len };
	ldb__sha256_buffer(data, len, d->digest);
	if (asprintf(&d->path, "blobs/sha256/%s", d->digest + 7) < 0)
		return -ENOMEM;
	d->media_type = strdup("application/vnd.oci.image.layer.v1.tar");
	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, d->path);
	return write_file(path, data, len);
}

/* A tar in memory with regular files @names (content "x\n"). */
static size_t make_tar(char *buf, size_t cap, const char *const *names)
{
	struct archive *a = archive_write_new();
	size_t used = 0;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, buf, cap, &used);
	for (; *names; names++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, *names);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, 2);
		archive_write_header(a, e);
		archive_write_data(a, "x\n", 2);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return used;
}

static void test_sha256_known_vectors(void)
{
	char d[LDB__SHA256_LEN + 1];

	ldb__sha256_buffer("", 0, d);
	TAP_ASSERT_STR(d, ==, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ldb__sha256_buffer("abc", 3, d);
	TAP_ASSERT_STR(d, ==, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_digest_syntax(void)
{
	TAP_ASSERT_OK(ldb__oci_check_digest(D1));
	TAP_ASSERT_ERR(ldb__oci_check_digest("sha512:abcd"), EPROTONOSUPPORT);
	TAP_ASSERT_ERR(ldb__oci_check_digest("sha256:abcd"), EBADMSG);
	TAP_ASSERT_ERR(ldb__oci_check_digest("sha256:1111111111111111111111111111111111111111111111111111111111111ABC"),
		       EBADMSG);
	TAP_ASSERT_ERR(ldb__oci_check_digest("1111"), EBADMSG);
	TAP_ASSERT_ERR(ldb__oci_check_digest(NULL), EBADMSG);
}

static const char index_two[] =
	"{\"schemaVersion\":2,\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
	"\"size\":10,\"annotations\":{\"org.opencontainers.image.ref.name\":\"a\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\","
	"\"size\":20,\"annotations\":{\"org.opencontainers.image.ref.name\":\"b\"}}]}";

static void test_index_selects_by_ref(void)
{
	struct fixture f;
	struct ldb__oci_desc d = { 0 };
	char *name = NULL;

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_OK(ldb__oci_parse_index(f.db, index_two, "b", &d, &name));
	TAP_ASSERT_STR(d.digest, ==, D2);
	TAP_ASSERT_INT(d.size, ==, 20);
	TAP_ASSERT_STR(d.path, ==, "blobs/sha256/2222222222222222222222222222222222222222222222222222222222222222");
	TAP_ASSERT_STR(name, ==, "b");
	free(name);
	ldb__oci_desc_clear(&d);
	TAP_ASSERT_OK(ldb__oci_parse_index(f.db, index_two, D1, &d, NULL));
	TAP_ASSERT_STR(d.digest, ==, D1);
	ldb__oci_desc_clear(&d);
	TAP_ASSERT_ERR(ldb__oci_parse_index(f.db, index_two, NULL, &d, NULL), ENOTUNIQ);
	TAP_ASSERT_ERR(ldb__oci_parse_index(f.db, index_two, "c", &d, NULL), ENOENT);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "'c'") != NULL);
	TAP_ASSERT_ERR(ldb__oci_parse_index(f.db, "{not json", NULL, &d, NULL), EBADMSG);
	TAP_ASSERT_ERR(ldb__oci_parse_index(f.db, "{\"manifests\":[{\"digest\":\"" D1 "\"}]}", NULL,
					    &d, NULL), EBADMSG);
	TAP_ASSERT_ERR(ldb__oci_parse_index(f.db, "{\"manifests\":[{\"digest\":\"md5:00\","
					    "\"size\":1}]}", NULL, &d, NULL), EPROTONOSUPPORT);
	fixture_free(&f);
}

static void test_manifest_and_config(void)
{
	struct fixture f;
	struct ldb__oci_image img = { 0 };
	static const char man[] =
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":5},"
		"\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
		"\"digest\":\"" D2 "\",\"size\":7},{\"mediaType\":\"m\",\"digest\":\"" D3
		"\",\"size\":9}]}";

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_OK(ldb__oci_parse_manifest(f.db, man, &img));
	TAP_ASSERT_INT(img.n_layers, ==, 2);
	TAP_ASSERT_STR(img.config.digest, ==, D1);
	TAP_ASSERT_STR(img.layers[0].media_type, ==, "application/vnd.oci.image.layer.v1.tar+zstd");
	TAP_ASSERT_INT(img.layers[1].size, ==, 9);
	TAP_ASSERT_ERR(ldb__oci_parse_config(f.db, "{\"rootfs\":{\"diff_ids\":[\"" D1 "\"]}}", &img),
		       EBADMSG); /* one diff id for two layers */
	TAP_ASSERT_ERR(ldb__oci_parse_config(f.db, "{\"rootfs\":{}}", &img), EBADMSG);
	TAP_ASSERT_OK(ldb__oci_parse_config(f.db, "{\"rootfs\":{\"diff_ids\":[\"" D1 "\",\"" D2
					    "\"]}}", &img));
	TAP_ASSERT_STR(img.diff_ids[1], ==, D2);
	TAP_ASSERT(img.diff_ids[2] == NULL);
	ldb__oci_image_clear(&img);
	TAP_ASSERT_ERR(ldb__oci_parse_manifest(f.db, "{\"schemaVersion\":1}", &img), EPROTONOSUPPORT);
	ldb__oci_image_clear(&img);
	TAP_ASSERT_ERR(ldb__oci_parse_manifest(f.db, "{\"schemaVersion\":2,\"config\":{}}", &img),
		       EBADMSG);
	ldb__oci_image_clear(&img);
	fixture_free(&f);
}

static void test_docker_manifest(void)
{
	struct fixture f;
	struct ldb__oci_image img = { 0 };
	static const char two[] =
		"[{\"Config\":\"1111111111111111111111111111111111111111111111111111111111111111.json\","
		"\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"a/layer.tar\"]},"
		"{\"Config\":\"c.json\",\"RepoTags\":[\"other:1\"],\"Layers\":[\"b/layer.tar\"]}]";

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_OK(ldb__oci_parse_docker(f.db, two, "busybox", &img));
	TAP_ASSERT_STR(img.config.digest, ==, D1);
	TAP_ASSERT_STR(img.layers[0].path, ==, "a/layer.tar");
	TAP_ASSERT_STR(img.ref_name, ==, "busybox:latest");
	ldb__oci_image_clear(&img);
	TAP_ASSERT_ERR(ldb__oci_parse_docker(f.db, two, NULL, &img), ENOTUNIQ);
	ldb__oci_image_clear(&img);
	TAP_ASSERT_ERR(ldb__oci_parse_docker(f.db, "[{\"Config\":\"c.json\",\"Layers\":"
					     "[\"../x/layer.tar\"]}]", NULL, &img), EPERM);
	ldb__oci_image_clear(&img);
	TAP_ASSERT_ERR(ldb__oci_parse_docker(f.db, "[{\"Config\":\"/etc/passwd\",\"Layers\":[]}]",
					     NULL, &img), EBADMSG);
	ldb__oci_image_clear(&img);
	fixture_free(&f);
}

static void test_blob_verification(void)
{
	struct fixture f;
	struct ldb__oci_desc d = { 0 };
	char *text = NULL, path[512];
	int dfd;

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_OK(put_blob(f.dir, "{\"a\":1}", 7, &d));
	dfd = open(f.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	TAP_ASSERT_OK(ldb__oci_read_blob(f.db, dfd, &d, &text));
	TAP_ASSERT_STR(text, ==, "{\"a\":1}");
	free(text);
	d.size = 8;
	TAP_ASSERT_ERR(ldb__oci_read_blob(f.db, dfd, &d, &text), EBADMSG);
	d.size = 7;
	snprintf(path, sizeof(path), "%s/%s", f.dir, d.path);
	TAP_ASSERT_OK(write_file(path, "{\"a\":2}", 7)); /* same size, other bytes */
	TAP_ASSERT_ERR(ldb__oci_read_blob(f.db, dfd, &d, &text), EBADMSG);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "digest mismatch") != NULL);
	unlink(path);
	TAP_ASSERT_ERR(ldb__oci_read_blob(f.db, dfd, &d, &text), ENOENT);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "missing") != NULL);
	free(d.path);
	d.path = strdup("../outside");
	TAP_ASSERT_ERR(ldb__oci_read_blob(f.db, dfd, &d, &text), EPERM);
	ldb__oci_desc_clear(&d);
	close(dfd);
	fixture_free(&f);
}

static void test_layer_verification(void)
{
	static const char *const good[] = { "a", "dir/b", NULL };
	static const char *const evil[] = { "a", "../escape", NULL };
	struct fixture f;
	struct ldb__oci_desc d = { 0 }, e = { 0 };
	char buf[16384], diff[LDB__SHA256_LEN + 1];
	size_t n;
	int dfd;

	TAP_ASSERT_OK(fixture_init(&f));
	dfd = open(f.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	n = make_tar(buf, sizeof(buf), good);
	TAP_ASSERT_OK(put_blob(f.dir, buf, n, &d));
	ldb__sha256_buffer(buf, n, diff); /* uncompressed: diff id = digest */
	TAP_ASSERT_OK(ldb__oci_verify_layer(f.db, dfd, &d, diff, NULL, NULL));
	TAP_ASSERT_ERR(ldb__oci_verify_layer(f.db, dfd, &d, D1, NULL, NULL), EBADMSG);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "diff id") != NULL);
	d.size--;
	TAP_ASSERT_ERR(ldb__oci_verify_layer(f.db, dfd, &d, diff, NULL, NULL), EBADMSG);
	d.size++;
	free(d.media_type);
	d.media_type = strdup("application/vnd.oci.image.layer.v1.tar+encrypted");
	TAP_ASSERT_ERR(ldb__oci_verify_layer(f.db, dfd, &d, diff, NULL, NULL), EPROTONOSUPPORT);
	n = make_tar(buf, sizeof(buf), evil);
	TAP_ASSERT_OK(put_blob(f.dir, buf, n, &e));
	ldb__sha256_buffer(buf, n, diff);
	TAP_ASSERT_ERR(ldb__oci_verify_layer(f.db, dfd, &e, diff, NULL, NULL), EPERM);
	TAP_ASSERT(strstr(ldb_errmsg(f.db), "../escape") != NULL);
	ldb__oci_desc_clear(&d);
	ldb__oci_desc_clear(&e);
	close(dfd);
	fixture_free(&f);
}

static int add_dir(struct fixture *f, const char *name, const char *content,
		   const struct ldb_digest *parent, struct ldb_digest *ret)
{
	struct ldb_add_opts o = { .version = LDB_ADD_OPTS_VERSION, .parent = parent };
	char dir[256], file[300];
	int r;

	snprintf(dir, sizeof(dir), "%s/%s", f->dir, name);
	mkdir(dir, 0755);
	snprintf(file, sizeof(file), "%s/%s.txt", dir, name);
	r = write_file(file, content, strlen(content));
	if (r < 0)
		return r;
	return ldb_layer_add(f->db, dir, &o, ret, NULL);
}

static void test_image_config_kept(void)
{
	struct fixture f;
	struct ldb_digest img, other = { { 1 } };
	char *cfg = NULL;

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_INT(ldb_schema_version(f.db), >=, 3);
	TAP_ASSERT_OK(add_dir(&f, "base", "base", NULL, &img));
	TAP_ASSERT_ERR(ldb_image_get_config(f.db, &img, &cfg), ENOENT);
	TAP_ASSERT_OK(ldb_image_set_config(f.db, &img, "{\"config\":{\"Env\":[\"A=1\"]}}"));
	TAP_ASSERT_OK(ldb_image_get_config(f.db, &img, &cfg));
	TAP_ASSERT_STR(cfg, ==, "{\"config\":{\"Env\":[\"A=1\"]}}");
	free(cfg);
	TAP_ASSERT_ERR(ldb_image_set_config(f.db, &img, "[1,2]"), EINVAL);
	TAP_ASSERT_ERR(ldb_image_set_config(f.db, &other, "{}"), ENOENT);
	/* the config goes with its image */
	TAP_ASSERT_OK(ldb_image_tag(f.db, &img, "cfg:1"));
	TAP_ASSERT_OK(ldb_image_remove(f.db, "cfg:1", 0, NULL, NULL));
	TAP_ASSERT_ERR(ldb_image_get_config(f.db, &img, &cfg), ENOENT);
	fixture_free(&f);
}

static void test_export_import_roundtrip(void)
{
	struct fixture f, g;
	struct ldb_digest base, top, back;
	struct ldb_oci_opts o = { .version = LDB_OCI_OPTS_VERSION, .transport = LDB_OCI_DIR,
				  .ref = "v1" };
	char layout[128], d1[80], d2[80];

	TAP_ASSERT_OK(fixture_init(&f));
	TAP_ASSERT_OK(fixture_init(&g));
	TAP_ASSERT_OK(add_dir(&f, "base", "base", NULL, &base));
	TAP_ASSERT_OK(add_dir(&f, "top", "top", &base, &top));
	snprintf(layout, sizeof(layout), "%s/layout", f.dir);
	o.path = layout;
	TAP_ASSERT_OK(ldb_oci_export(f.db, &top, &o, d1));
	TAP_ASSERT_OK(ldb_oci_export(f.db, &top, &o, d2));
	TAP_ASSERT_STR(d1, ==, d2); /* reproducible */
	o.name = "back:1";
	TAP_ASSERT_OK(ldb_oci_import(g.db, &o, &back));
	TAP_ASSERT(memcmp(&back, &top, sizeof(back)) == 0);
	TAP_ASSERT_OK(ldb_image_resolve(g.db, "back:1", &back));
	TAP_ASSERT(memcmp(&back, &top, sizeof(back)) == 0);
	o.ref = "nope";
	TAP_ASSERT_ERR(ldb_oci_import(g.db, &o, &back), ENOENT);
	fixture_free(&f);
	fixture_free(&g);
}

int main(void)
{
	TAP_TEST(test_sha256_known_vectors);
	TAP_TEST(test_digest_syntax);
	TAP_TEST(test_index_selects_by_ref);
	TAP_TEST(test_manifest_and_config);
	TAP_TEST(test_docker_manifest);
	TAP_TEST(test_blob_verification);
	TAP_TEST(test_layer_verification);
	TAP_TEST(test_image_config_kept);
	TAP_TEST(test_export_import_roundtrip);
	return tap_done();
}
