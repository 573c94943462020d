/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-commit.c - `commit` (a container's changes become an image) and `diff`
 * (docker's A/C/D listing of a container's upper layer against its image).
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "tool.h"

static const struct cmd_help commit_help = {
	"commit [-m MSG] [-a AUTHOR] CONTAINER [NAME[:TAG]]",
	"Make a new image from a container's changes, on top of its image; prints\n"
	"the new image id.  An unmounted container's changes are moved into the store\n"
	"(no copy) and the container continues on the new image; a mounted one is\n"
	"snapshot-copied and keeps running unchanged.",
	"  -m, --message MSG    comment recorded in the history\n"
	"  -a, --author AUTHOR  author recorded in the history\n",
};

int cmd_commit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "message", required_argument, NULL, 'm' },
		{ "author", required_argument, NULL, 'a' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_free_ char *created_by = NULL;
	struct ldb_add_opts o = { .version = LDB_ADD_OPTS_VERSION, .progress = tool_progress };
	struct ldb_digest id, image;
	char sid[TOOL_ID_MAX];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:a:", opts, NULL)) >= 0) {
		switch (c) {
		case 'm': o.comment = optarg; break;
		case 'a': o.author = optarg; break;
		GETOPT_COMMON(&commit_help);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return tool_usage_error(&commit_help, "expected CONTAINER [NAME[:TAG]]");
	o.name = argv[optind + 1];
	if (o.name) {
		_cleanup_free_ char *n = NULL, *t = NULL;

		if (ldb_parse_name(o.name, &n, &t) < 0)
			return tool_usage_error(&commit_help, "invalid reference format: '%s'", o.name);
	}
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_container_resolve(db, argv[optind], &id);
	if (r < 0)
		return tool_fail(db, r, "cannot commit '%s'", argv[optind]);
	if (asprintf(&created_by, "strata commit %s", argv[optind]) < 0)
		return EXIT_FAIL;
	o.created_by = created_by;
	r = ldb_container_commit(db, &id, &o, &image);
	tool_progress_done();
	if (r < 0)
		return tool_fail(db, r, "cannot commit '%s'", argv[optind]);
	printf("%s\n", tool_id(&image, true, sid));
	return EXIT_OK;
}

/* ---- diff ---------------------------------------------------------------------- */

struct diff_ctx {
	char **lowers; /* top first */
	size_t n;
};

static bool is_whiteout_at(int dfd, const char *name)
{
	char wh[NAME_MAX + 8];
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) &&
	    st.st_rdev == makedev(0, 0))
		return true;
	snprintf(wh, sizeof(wh), ".wh.%s", name);
	return fstatat(dfd, wh, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static bool is_opaque_dir(int dfd)
{
	static const char *const names[] = { "trusted.overlay.opaque", "user.overlay.opaque",
					     "user.fuseoverlayfs.opaque" };
	struct stat st;
	char v[4];

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (fgetxattr(dfd, names[i], v, sizeof(v)) > 0 && v[0] == 'y')
			return true;
	return fstatat(dfd, ".wh..wh..opq", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool sorted_has(char **v, size_t n, const char *name)
{
	return n && bsearch(&name, v, n, sizeof(char *), cmp_str);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Open directory @rel ("" for the root) of one layer.  *end is set when the
 * layers below cannot show it: a whiteout on the way (then -ENOENT) or an
 * opaque directory on the way or at @rel. */
static int open_layer_dir(const char *layer, const char *rel, bool *end)
{
	_cleanup_free_ char *copy = strdup(rel);
	char *p = copy;
	int cur;

	if (!copy)
		return -ENOMEM;
	cur = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (cur >= 0 && *p) {
		char *slash = strchr(p, '/');
		int next;

		if (slash)
			*slash = '\0';
		if (is_whiteout_at(cur, p)) {
			*end = true;
			close(cur);
			return -ENOENT;
		}
		next = openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		cur = next;
		if (cur >= 0 && is_opaque_dir(cur))
			*end = true;
		p = slash ? slash + 1 : p + strlen(p);
	}
	return cur >= 0 ? cur : -ENOENT;
}

/* Does @rel ("a/b") exist in the merged view of the image's layers? */
static bool lower_exists(struct diff_ctx *c, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	_cleanup_free_ char *dir = strndup(rel, slash ? (size_t)(slash - rel) : 0);
	const char *name = slash ? slash + 1 : rel;
	bool end = false;

	if (!dir)
		return false;
	for (size_t i = 0; i < c->n && !end; i++) {
		_cleanup_close_ int fd = open_layer_dir(c->lowers[i], dir, &end);
		struct stat st;

		if (fd < 0)
			continue;
		if (is_whiteout_at(fd, name))
			return false;
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return true;
	}
	return false;
}

/*
 * An opaque upper directory at @rel hides what the image had there: print a
 * D line for each name of the image's merged directory @rel that the upper
 * directory (@upper, sorted) does not have again.
 */
static int print_hidden(struct diff_ctx *c, const char *rel, char **upper, size_t n_upper)
{
	char **seen = NULL, **gone = NULL; /* seen: every name decided, sorted */
	size_t n_seen = 0, n_gone = 0;
	bool end = false;
	int r = 0;

	for (size_t i = 0; i < c->n && !end && r == 0; i++) {
		_cleanup_closedir_ DIR *d = NULL;
		size_t first_new = n_seen;
		struct dirent *de;
		int fd;

		fd = open_layer_dir(c->lowers[i], rel, &end);
		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			r = -errno;
			break;
		}
		while ((de = readdir(d))) {
			const char *name = de->d_name;
			bool whiteout = false;
			char **v;

			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
			    strcmp(name, ".wh..wh..opq") == 0)
				continue;
			if (strncmp(name, ".wh.", 4) == 0) {
				name += 4;
				whiteout = true;
			} else if (de->d_type == DT_CHR || de->d_type == DT_UNKNOWN) {
				struct stat st;

				whiteout = fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
					   S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
			}
			/* names of this layer join `seen` after it: one layer has each once */
			if (sorted_has(seen, first_new, name))
				continue;
			v = realloc(seen, (n_seen + 1) * sizeof(char *));
			if (!v || !(v[n_seen] = strdup(name))) {
				seen = v ? v : seen;
				r = -ENOMEM;
				break;
			}
			seen = v;
			n_seen++;
			if (whiteout || sorted_has(upper, n_upper, name))
				continue;
			v = realloc(gone, (n_gone + 1) * sizeof(char *));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			gone = v;
			gone[n_gone++] = seen[n_seen - 1];
		}
		if (n_seen)
			qsort(seen, n_seen, sizeof(char *), cmp_str);
	}
	if (r == 0 && n_gone) {
		qsort(gone, n_gone, sizeof(char *), cmp_str);
		for (size_t i = 0; i < n_gone; i++)
			printf("D /%s%s%s\n", rel, *rel ? "/" : "", gone[i]);
	}
	free(gone); /* its strings belong to `seen` */
	free_names(seen, n_seen);
	return r;
}

static int diff_dir(struct diff_ctx *c, int dfd, const char *prefix)
{
	_cleanup_closedir_ DIR *d = NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	int fd;

	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".wh..wh..opq") == 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(char *));
		if (!names)
			return -ENOMEM;
		names[n++] = strdup(strncmp(de->d_name, ".wh.", 4) == 0 ? de->d_name + 4 : de->d_name);
	}
	if (n)
		qsort(names, n, sizeof(char *), cmp_str);
	if (is_opaque_dir(dirfd(d))) {
		int r = print_hidden(c, prefix, names, n);

		if (r < 0) {
			free_names(names, n);
			return r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *rel = NULL;
		struct stat st;
		bool exists;

		if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", names[i]) < 0)
			return -ENOMEM;
		exists = lower_exists(c, rel);
		if (is_whiteout_at(dirfd(d), names[i])) {
			if (exists)
				printf("D /%s\n", rel);
			continue;
		}
		printf("%c /%s\n", exists ? 'C' : 'A', rel);
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
			_cleanup_close_ int sub = openat(dirfd(d), names[i],
							 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				diff_dir(c, sub, rel);
		}
	}
	free_names(names, n);
	return 0;
}

static const struct cmd_help diff_help = {
	"diff CONTAINER",
	"List what a container changed: A (added), C (changed), D (deleted).",
	NULL,
};

int cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info info = { 0 };
	_cleanup_free_ struct ldb_digest *layers = NULL;
	_cleanup_close_ int ufd = -EBADF;
	struct diff_ctx ctx = { 0 };
	struct ldb_digest id;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&diff_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&diff_help, "expected exactly one CONTAINER");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_container_resolve(db, argv[optind], &id);
	if (r >= 0)
		r = ldb_container_get(db, &id, &info);
	if (r >= 0)
		r = ldb_image_chain(db, &info.image, NULL, &layers, &ctx.n);
	if (r < 0)
		return tool_fail(db, r, "cannot diff '%s'", argv[optind]);
	ctx.lowers = calloc(ctx.n, sizeof(char *));
	for (size_t i = 0; ctx.lowers && i < ctx.n; i++)
		(void)ldb_layer_path(db, &layers[i], &ctx.lowers[i]);
	ufd = open(info.upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ufd < 0) {
		tool_err("cannot diff '%s': cannot open '%s': %m", argv[optind], info.upper);
		return EXIT_FAIL;
	}
	r = diff_dir(&ctx, ufd, "");
	for (size_t i = 0; ctx.lowers && i < ctx.n; i++)
		free(ctx.lowers[i]);
	free(ctx.lowers);
	if (r < 0) {
		tool_err("cannot diff '%s': %s", argv[optind], strerror(-r));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
