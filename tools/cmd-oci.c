/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-oci.c - images in and out of the store in the container world's
 * formats: `strata import`, `strata export IMAGE DEST` (and `--flatten`),
 * `strata pull` and `strata push` (through skopeo and a temporary OCI
 * layout).  `export LAYER` with one argument, -o or --compression is the
 * layer export of cmd-store.c, kept as it was.
 *
 * Transports, as skopeo spells them: oci:DIR[:REF], oci-archive:FILE[:REF],
 * docker-archive:FILE[:REF].  Progress is printed like `docker pull` does,
 * one line per layer, only when stderr is a terminal.
 */
#include <getopt.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "oci.h"

/* ---- transports ------------------------------------------------------------------ */

struct transport {
	enum ldb_oci_transport kind;
	char *path; /* owned */
	char *ref;  /* owned, may be NULL */
};

static void transport_clear(struct transport *t)
{
	free(t->path);
	free(t->ref);
	*t = (struct transport){ 0 };
}

/* "oci:DIR[:REF]", "oci-archive:FILE[:REF]", "docker-archive:FILE[:REF]". */
static int parse_transport(const char *s, struct transport *ret)
{
	static const struct { const char *prefix; enum ldb_oci_transport kind; } map[] = {
		{ "oci:", LDB_OCI_DIR },
		{ "oci-archive:", LDB_OCI_ARCHIVE },
		{ "docker-archive:", LDB_DOCKER_ARCHIVE },
	};

	for (size_t i = 0; i < ELEMENTSOF(map); i++) {
		size_t pl = strlen(map[i].prefix);
		const char *rest = s + pl, *colon;

		if (strncmp(s, map[i].prefix, pl) != 0)
			continue;
		colon = strchr(rest, ':');
		*ret = (struct transport){ .kind = map[i].kind };
		ret->path = colon ? strndup(rest, (size_t)(colon - rest)) : strdup(rest);
		ret->ref = colon && colon[1] ? strdup(colon + 1) : NULL;
		if (!ret->path || !*ret->path) {
			transport_clear(ret);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

/* ---- docker-pull-like progress --------------------------------------------------- */

#define PROGRESS_LINES 512

struct progress_line {
	char id[13];
	char status[32];
	struct timespec last;
};

static struct progress_line lines[PROGRESS_LINES];
static size_t n_lines;

static bool progress_enabled(void)
{
	return !arg_quiet && isatty(STDERR_FILENO);
}

static void render(char *buf, size_t n, const struct ldb_oci_event *ev)
{
	char done[32], total[32], bar[52];

	if (!ev->total || (!ev->done && strcmp(ev->status, "Already exists") == 0)) {
		snprintf(buf, n, "%s: %s", ev->id, ev->status);
		return;
	}
	if (strcmp(ev->status, "Pull complete") == 0 || strcmp(ev->status, "Verified") == 0 ||
	    strcmp(ev->status, "Export complete") == 0) {
		snprintf(buf, n, "%s: %s", ev->id, ev->status);
		return;
	}
	{
		size_t w = 50, fill = ev->done >= ev->total ? w : (size_t)(w * ev->done / ev->total);

		memset(bar, '=', fill);
		bar[fill] = fill < w ? '>' : '\0';
		if (fill < w) {
			memset(bar + fill + 1, ' ', w - fill - 1);
			bar[w] = '\0';
		}
	}
	snprintf(buf, n, "%s: %-11s [%s]  %s/%s", ev->id, ev->status, bar,
		 tool_size(ev->done, done), tool_size(ev->total, total));
}

static void oci_progress(const struct ldb_oci_event *ev, void *payload)
{
	struct progress_line *l = NULL;
	struct timespec now;
	char text[160];
	size_t i;

	(void)payload;
	if (!progress_enabled())
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (i = 0; i < n_lines; i++)
		if (strcmp(lines[i].id, ev->id) == 0)
			break;
	if (i == n_lines) {
		if (n_lines == PROGRESS_LINES)
			return;
		l = &lines[n_lines++];
		snprintf(l->id, sizeof(l->id), "%s", ev->id);
		fputc('\n', stderr);
	}
	l = &lines[i];
	/* Redraw at most 10 times a second, but always when the status changes. */
	if (strcmp(l->status, ev->status) == 0 &&
	    (double)(now.tv_sec - l->last.tv_sec) + (double)(now.tv_nsec - l->last.tv_nsec) / 1e9 < 0.1)
		return;
	l->last = now;
	snprintf(l->status, sizeof(l->status), "%s", ev->status);
	if (!ev->total && strcmp(ev->status, "Exporting") == 0) {
		char done[32];

		snprintf(text, sizeof(text), "%s: Exporting %s", ev->id, tool_size(ev->done, done));
	} else {
		render(text, sizeof(text), ev);
	}
	/* the line of layer i is (n_lines - i) lines above the cursor */
	fprintf(stderr, "\033[%zuA\r\033[K%s\033[%zuB\r", n_lines - i, text, n_lines - i);
	fflush(stderr);
}

static void progress_end(void)
{
	n_lines = 0;
}

/* ---- import ---------------------------------------------------------------------- */

static const struct cmd_help import_help = {
	"import SOURCE [NAME[:TAG]]",
	"Import an image: SOURCE is oci:DIR[:REF] (an OCI image layout),\n"
	"oci-archive:FILE[:REF] or docker-archive:FILE[:REF] (`docker save`).  Every\n"
	"blob is checked against its sha256 digest before anything is stored.  The\n"
	"image keeps its config (env, entrypoint, cmd, ...).  Prints the image id.",
	NULL,
};

static int do_import(struct ldb *db, const struct transport *t, const char *name,
		     const char *what)
{
	struct ldb_oci_opts o = {
		.version = LDB_OCI_OPTS_VERSION, .transport = t->kind, .path = t->path,
		.ref = t->ref, .name = name, .progress = oci_progress,
	};
	struct ldb_digest image;
	char id[TOOL_ID_MAX];
	int r;

	r = ldb_oci_import(db, &o, &image);
	progress_end();
	if (r < 0)
		return tool_fail(db, r, "cannot import '%s'", what);
	printf("%s\n", tool_id(&image, true, id));
	return EXIT_OK;
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(transport_clear) struct transport t = { 0 };
	const char *name = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&import_help);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return tool_usage_error(&import_help, "expected SOURCE and an optional NAME[:TAG]");
	if (parse_transport(argv[optind], &t) < 0)
		return tool_usage_error(&import_help, "unknown source '%s' (oci:DIR[:REF], "
					"oci-archive:FILE[:REF] or docker-archive:FILE[:REF])",
					argv[optind]);
	if (argc - optind == 2) {
		_cleanup_free_ char *n = NULL, *tg = NULL;

		name = argv[optind + 1];
		if (ldb_parse_name(name, &n, &tg) < 0)
			return tool_usage_error(&import_help, "invalid reference format: '%s'", name);
	}
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	return do_import(db, &t, name, argv[optind]);
}

/* ---- export ---------------------------------------------------------------------- */

static const struct cmd_help export_help = {
	"export [--compress zstd|gzip|none] IMAGE DEST\n"
	"       strata export --flatten IMAGE FILE.tar\n"
	"       strata export [-o FILE] [--compression none|gzip|zstd] LAYER",
	"Write an image as an OCI image layout: DEST is oci:DIR[:REF] or\n"
	"oci-archive:FILE[:REF]; or as `docker save` writes it: docker-archive:FILE[:REF]\n"
	"(REF: its RepoTag).  Layers are reproducible tars (the same image gives the\n"
	"same digests), zstd-compressed unless --compress says otherwise (never in a\n"
	"docker-archive).\n"
	"With --flatten, write the image's merged root file system as one tar\n"
	"('-' for stdout).  With one argument, write a single layer as an OCI layer\n"
	"tar stream.",
	"      --compress C     layer compression: zstd (default), gzip or none\n"
	"      --flatten        write the merged root file system as one tar\n"
	"  -o, --output FILE    (layer form) write to FILE instead of stdout\n"
	"      --compression C  (layer form) none (default), gzip or zstd\n",
};

/* The layer form of cmd-store.c: one operand, or its own options. */
static bool is_layer_form(int argc, char **argv)
{
	int operands = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return operands + (argc - i - 1) == 1;
		if (strcmp(a, "-o") == 0 || strncmp(a, "--output", 8) == 0 ||
		    strncmp(a, "--compression", 13) == 0 || (a[0] == '-' && a[1] == 'o'))
			return true;
		if (strcmp(a, "--flatten") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return false;
		if (strcmp(a, "--compress") == 0) {
			i++;
			continue;
		}
		if (a[0] != '-')
			operands++;
	}
	return operands == 1;
}

static int export_flatten(struct ldb *db, const struct ldb_digest *image, const char *file)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *tmp = NULL;
	bool out = strcmp(file, "-") == 0;
	int r;

	if (out && isatty(STDOUT_FILENO)) {
		tool_err("refusing to write an archive to a terminal");
		return EXIT_FAIL;
	}
	if (!out && asprintf(&tmp, "%s.tmp-%d", file, (int)getpid()) < 0)
		return EXIT_FAIL;
	fd = out ? dup(STDOUT_FILENO) : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		tool_err("cannot write '%s': %m", file);
		return EXIT_FAIL;
	}
	r = ldb_image_flatten(db, image, fd);
	if (r >= 0 && !out && (fsync(fd) < 0 || rename(tmp, file) < 0))
		r = -errno;
	if (r < 0) {
		if (!out)
			(void)unlink(tmp);
		return tool_fail(db, r, "cannot write '%s'", file);
	}
	return EXIT_OK;
}

static int do_export(struct ldb *db, const struct ldb_digest *image, const struct transport *t,
		     const char *compress, const char *what)
{
	struct ldb_oci_opts o = {
		.version = LDB_OCI_OPTS_VERSION, .transport = t->kind, .path = t->path,
		.ref = t->ref, .compression = compress, .progress = oci_progress,
	};
	char digest[80];
	int r;

	r = ldb_oci_export(db, image, &o, digest);
	progress_end();
	if (r < 0)
		return tool_fail(db, r, "cannot export to '%s'", what);
	return EXIT_OK;
}

int cmd_oci_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "compress", required_argument, NULL, 'c' },
		{ "flatten", no_argument, NULL, 'f' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(transport_clear) struct transport t = { 0 };
	const char *compress = NULL;
	bool flatten = false;
	struct ldb_digest image;
	int c, r;

	if (is_layer_form(argc, argv))
		return cmd_export(argc, argv);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 'c': compress = optarg; break;
		case 'f': flatten = true; break;
		GETOPT_COMMON(&export_help);
		}
	}
	if (argc - optind != 2)
		return tool_usage_error(&export_help, "expected IMAGE and DEST");
	if (compress && strcmp(compress, "zstd") != 0 && strcmp(compress, "gzip") != 0 &&
	    strcmp(compress, "none") != 0)
		return tool_usage_error(&export_help, "unknown compression '%s'", compress);
	if (!flatten && parse_transport(argv[optind + 1], &t) < 0)
		return tool_usage_error(&export_help, "unknown destination '%s' (oci:DIR[:REF], "
					"oci-archive:FILE[:REF] or docker-archive:FILE[:REF])",
					argv[optind + 1]);
	if (t.kind == LDB_DOCKER_ARCHIVE && compress && strcmp(compress, "none") != 0)
		return tool_usage_error(&export_help, "docker-archive layers are not compressed");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_image_resolve(db, argv[optind], &image);
	if (r < 0)
		return tool_fail(db, r, "no such image '%s'", argv[optind]);
	if (flatten)
		return export_flatten(db, &image, argv[optind + 1]);
	return do_export(db, &image, &t, compress, argv[optind + 1]);
}

/* ---- pull and push (skopeo) ------------------------------------------------------- */

/* skopeo's path ($SKOPEO or $PATH), or NULL with the error printed. */
static char *find_skopeo(void)
{
	const char *env = getenv("SKOPEO"), *path = getenv("PATH");
	_cleanup_free_ char *dirs = NULL;
	char *save = NULL;

	if (env && *env)
		return strdup(env);
	dirs = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = dirs ? strtok_r(dirs, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
		char *p;

		if (asprintf(&p, "%s/skopeo", d) < 0)
			return NULL;
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	tool_err("skopeo is not installed: install the 'skopeo' package (apt-get install "
		 "skopeo) to pull and push images");
	return NULL;
}

/* A registry reference without transport gets "docker://". */
static char *with_transport(const char *ref)
{
	char *s;

	if (strstr(ref, "://") || strncmp(ref, "oci:", 4) == 0 ||
	    strncmp(ref, "oci-archive:", 12) == 0 || strncmp(ref, "docker-archive:", 15) == 0 ||
	    strncmp(ref, "dir:", 4) == 0 || strncmp(ref, "containers-storage:", 19) == 0 ||
	    strncmp(ref, "docker-daemon:", 14) == 0)
		return strdup(ref);
	return asprintf(&s, "docker://%s", ref) < 0 ? NULL : s;
}

/* The store name for a pulled REF: "docker://host/x/y:t" -> "host/x/y:t". */
static char *name_of(const char *ref)
{
	const char *p = strstr(ref, "://");
	_cleanup_free_ char *n = NULL, *t = NULL;
	char *s;

	p = p ? p + 3 : ref;
	s = strdup(p);
	if (s && strchr(s, '@'))
		*strchr(s, '@') = '\0';
	if (!s || ldb_parse_name(s, &n, &t) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (asprintf(&p, "%s/strata-oci.XXXXXX", base && *base ? base : "/var/tmp") < 0)
		return NULL;
	if (!mkdtemp(p)) {
		tool_err("cannot create a temporary directory '%s': %m", p);
		free(p);
		return NULL;
	}
	return p;
}

static void rm_tmpdir(char **p)
{
	if (*p) {
		char *argv[] = { (char *)"rm", (char *)"-rf", "--", *p, NULL };

		(void)tool_run(argv, true);
		free(*p);
	}
}

static int run_skopeo(const char *skopeo, const char *tls_flag, const char *tls,
		      const char *src, const char *dst)
{
	char *argv[10];
	_cleanup_free_ char *flag = NULL;
	int n = 0, r;

	argv[n++] = (char *)skopeo;
	argv[n++] = (char *)"copy";
	if (!progress_enabled())
		argv[n++] = (char *)"--quiet";
	if (tls) {
		if (asprintf(&flag, "%s=%s", tls_flag, tls) < 0)
			return -ENOMEM;
		argv[n++] = flag;
	}
	argv[n++] = (char *)src;
	argv[n++] = (char *)dst;
	argv[n] = NULL;
	r = tool_run(argv, false);
	if (r == 127)
		tool_err("cannot run '%s': install the 'skopeo' package", skopeo);
	else if (r != 0)
		tool_err("skopeo copy %s %s failed (exit status %d)", src, dst, r);
	return r;
}

static const struct cmd_help pull_help = {
	"pull [--tls-verify=false] [--name NAME[:TAG]] REF",
	"Pull an image from a registry (docker://HOST/NAME:TAG, or NAME:TAG on\n"
	"docker.io) or any source skopeo reads, through skopeo and a temporary OCI\n"
	"layout, and import it as REF's name.  Prints the image id.",
	"      --tls-verify=BOOL  require HTTPS and verify certificates (default true)\n"
	"      --name NAME[:TAG]  name to give the image in the store\n",
};

int cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tls-verify", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_free_ char *skopeo = NULL, *src = NULL, *dst = NULL, *name = NULL;
	_cleanup_(rm_tmpdir) char *tmp = NULL;
	const char *tls = NULL, *as = NULL;
	struct transport t = { .kind = LDB_OCI_DIR };
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 't': tls = optarg; break;
		case 'n': as = optarg; break;
		GETOPT_COMMON(&pull_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&pull_help, "expected exactly one REF");
	name = as ? strdup(as) : name_of(argv[optind]);
	if (as && (!name || ldb_parse_name(as, &(char *){ NULL }, &(char *){ NULL }) < 0))
		return tool_usage_error(&pull_help, "invalid reference format: '%s'", as);
	skopeo = find_skopeo();
	if (!skopeo)
		return EXIT_FAIL;
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	src = with_transport(argv[optind]);
	tmp = make_tmpdir();
	if (!src || !tmp || asprintf(&dst, "oci:%s/layout:image", tmp) < 0)
		return EXIT_FAIL;
	r = run_skopeo(skopeo, "--src-tls-verify", tls, src, dst);
	if (r != 0)
		return EXIT_FAIL;
	t.path = strdup(dst + 4);
	if (!t.path)
		return EXIT_FAIL;
	*strrchr(t.path, ':') = '\0';
	t.ref = (char *)"image";
	r = do_import(db, &t, name, argv[optind]);
	free(t.path);
	return r;
}

static const struct cmd_help push_help = {
	"push [--tls-verify=false] [--compress zstd|gzip|none] IMAGE REF",
	"Push an image to a registry (docker://HOST/NAME:TAG, or NAME:TAG on\n"
	"docker.io) or any destination skopeo writes, through a temporary OCI layout.",
	"      --tls-verify=BOOL  require HTTPS and verify certificates (default true)\n"
	"      --compress C       layer compression: zstd (default), gzip or none\n",
};

int cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tls-verify", required_argument, NULL, 't' },
		{ "compress", required_argument, NULL, 'c' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_free_ char *skopeo = NULL, *src = NULL, *dst = NULL, *dir = NULL;
	_cleanup_(rm_tmpdir) char *tmp = NULL;
	const char *tls = NULL, *compress = NULL;
	struct transport t = { .kind = LDB_OCI_DIR, .ref = (char *)"image" };
	struct ldb_digest image;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 't': tls = optarg; break;
		case 'c': compress = optarg; break;
		GETOPT_COMMON(&push_help);
		}
	}
	if (argc - optind != 2)
		return tool_usage_error(&push_help, "expected IMAGE and REF");
	skopeo = find_skopeo();
	if (!skopeo)
		return EXIT_FAIL;
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_image_resolve(db, argv[optind], &image);
	if (r < 0)
		return tool_fail(db, r, "no such image '%s'", argv[optind]);
	tmp = make_tmpdir();
	if (!tmp || asprintf(&dir, "%s/layout", tmp) < 0 || asprintf(&src, "oci:%s:image", dir) < 0)
		return EXIT_FAIL;
	t.path = dir;
	r = do_export(db, &image, &t, compress, src);
	if (r != EXIT_OK)
		return r;
	dst = with_transport(argv[optind + 1]);
	if (!dst)
		return EXIT_FAIL;
	r = run_skopeo(skopeo, "--dest-tls-verify", tls, src, dst);
	return r == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- inspect ------------------------------------------------------------------------ */

/* docker inspect's "Config", "Architecture" and "Os" of an image, from the
 * config recorded for it or its nearest ancestor; nothing when there is none. */
void oci_inspect_config(struct ldb *db, const struct ldb_digest *id)
{
	_cleanup_free_ struct ldb_digest *images = NULL;
	_cleanup_free_ char *text = NULL;
	json_object *root = NULL, *v;
	size_t n = 0;

	if (ldb_image_chain(db, id, &images, NULL, &n) < 0)
		return;
	for (size_t i = 0; i < n && !text; i++)
		if (ldb_image_get_config(db, &images[i], &text) < 0)
			text = NULL;
	root = text ? json_tokener_parse(text) : NULL;
	if (!root)
		return;
	if (json_object_object_get_ex(root, "config", &v)) {
		int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			    JSON_C_TO_STRING_NOSLASHESCAPE;
		const char *pretty = json_object_to_json_string_ext(v, flags);

		fputs(",\n  \"Config\": ", stdout);
		for (const char *p = pretty; *p; p++)
			fputs(*p == '\n' ? "\n  " : (char[]){ *p, 0 }, stdout);
	}
	if (json_object_object_get_ex(root, "architecture", &v)) {
		fputs(",\n  \"Architecture\": ", stdout);
		tool_json_str(stdout, json_object_get_string(v));
	}
	if (json_object_object_get_ex(root, "os", &v)) {
		fputs(",\n  \"Os\": ", stdout);
		tool_json_str(stdout, json_object_get_string(v));
	}
	json_object_put(root);
}
