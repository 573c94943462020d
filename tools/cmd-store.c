/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-store.c - store maintenance: `prune`, `df`, `verify`, `check`, and
 * `export` (a layer as an OCI layer tar stream).
 */
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static void print_line(const char *what, void *payload)
{
	FILE *f = payload;

	fprintf(f, "%s\n", what);
}

static const struct cmd_help prune_help = {
	"prune",
	"Remove dangling images (untagged, nothing built on them, no container), layers\n"
	"no image uses, stale mount records and crash leftovers.",
	NULL,
};

int cmd_prune(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' }, /* docker habit; prune never asks */
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	uint64_t reclaimed = 0;
	char sz[32];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f", opts, NULL)) >= 0) {
		switch (c) {
		case 'f': break;
		GETOPT_COMMON(&prune_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&prune_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_store_prune(db, print_line, stdout, &reclaimed);
	if (r < 0)
		return tool_fail(db, r, "cannot prune");
	printf("Total reclaimed space: %s\n", tool_size(reclaimed, sz));
	return EXIT_OK;
}

static const struct cmd_help df_help = {
	"df",
	"Show the space used by images, layers and containers, what is shared and what\n"
	"prune or rmi could reclaim.",
	NULL,
};

static void pct(uint64_t part, uint64_t whole, char buf[16])
{
	snprintf(buf, 16, "(%llu%%)", whole ? (unsigned long long)(part * 100 / whole) : 0ULL);
}

int cmd_df(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	struct ldb_df df;
	char a[32], b[32], p[16];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&df_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&df_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_store_df(db, &df);
	if (r < 0)
		return tool_fail(db, r, "cannot compute space usage");
	printf("%-12s %-8s %-8s %-12s %s\n", "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE");
	pct(df.layers_reclaimable, df.layers_size, p);
	printf("%-12s %-8llu %-8llu %-12s %s %s\n", "Images", (unsigned long long)df.images,
	       (unsigned long long)df.images_active, tool_size(df.layers_size, a),
	       tool_size(df.layers_reclaimable, b), p);
	printf("%-12s %-8llu %-8llu %-12s %s %s\n", "Layers", (unsigned long long)df.layers,
	       (unsigned long long)df.layers_active, tool_size(df.layers_size, a),
	       tool_size(df.layers_reclaimable, b), p);
	printf("%-12s %-8llu %-8llu %-12s %s\n", "Containers", (unsigned long long)df.containers,
	       (unsigned long long)df.containers_mounted, tool_size(df.containers_size, a),
	       "0B (0%)");
	printf("\nShared content: %s in %llu files stored in more than one layer\n",
	       tool_size(df.shared_size, a), (unsigned long long)df.shared_files);
	return EXIT_OK;
}

static const struct cmd_help verify_help = {
	"verify [LAYER|IMAGE]",
	"Recompute the digests of a layer (of an image's layers, or of every layer)\n"
	"and report files changed behind the store's back.  Exit status 1 if any.",
	NULL,
};

static void verify_cb(const struct ldb_digest *layer, enum ldb_verify_kind kind, const char *path,
		      void *payload)
{
	static const char *const what[] = { "ok", "changed", "missing", "added" };
	char id[TOOL_ID_MAX];

	tool_progress_done();
	tool_id(layer, false, id);
	if (path)
		printf("%s: %s %s\n", id, what[kind], path);
	else
		printf("%s: %s\n", id, kind == LDB_VERIFY_OK ? "ok" : kind == LDB_VERIFY_MISSING ?
		       "MISSING" : "CORRUPT (content does not match its id)");
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	struct ldb_digest id;
	int c, r, bad = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&verify_help);
		}
	}
	if (argc - optind > 1)
		return tool_usage_error(&verify_help, "expected at most one LAYER or IMAGE");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (optind == argc) {
		r = ldb_layer_verify(db, NULL, verify_cb, tool_progress, NULL);
	} else if (ldb_layer_resolve(db, argv[optind], &id) == 0) {
		r = ldb_layer_verify(db, &id, verify_cb, tool_progress, NULL);
	} else {
		_cleanup_free_ struct ldb_digest *layers = NULL;
		size_t n;

		r = ldb_image_resolve(db, argv[optind], &id);
		if (r < 0)
			return tool_fail(db, r, "no such layer or image '%s'", argv[optind]);
		r = ldb_image_chain(db, &id, NULL, &layers, &n);
		for (size_t i = 0; r >= 0 && i < n; i++) {
			r = ldb_layer_verify(db, &layers[i], verify_cb, tool_progress, NULL);
			if (r > 0)
				bad += r;
		}
		if (r >= 0)
			r = bad;
	}
	tool_progress_done();
	if (r < 0)
		return tool_fail(db, r, "cannot verify");
	return r > 0 ? EXIT_FAIL : EXIT_OK;
}

static const struct cmd_help check_help = {
	"check [-n]",
	"Check that the database and the store agree, and repair what a crash can\n"
	"leave: work dirs in tmp/, unrecorded layer or container dirs, interrupted\n"
	"commits, stale mount records.  Exit status 1 if problems remain.",
	"  -n, --dry-run  only report\n",
};

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	unsigned flags = LDB_CHECK_REPAIR;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n", opts, NULL)) >= 0) {
		switch (c) {
		case 'n': flags = 0; break;
		GETOPT_COMMON(&check_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&check_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_store_check(db, flags, print_line, stdout);
	if (r < 0)
		return tool_fail(db, r, "cannot check the store");
	if (r > 0) {
		tool_err("%d problem%s left", r, r == 1 ? "" : "s");
		return EXIT_FAIL;
	}
	printf("store is consistent\n");
	return EXIT_OK;
}

static const struct cmd_help export_help = {
	"export [-o FILE] [--compression none|gzip|zstd] LAYER",
	"Write a layer as an OCI layer tar stream (whiteouts as .wh. files).",
	"  -o, --output FILE    write to FILE instead of stdout\n"
	"      --compression C  none (default), gzip or zstd\n",
};

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "compression", required_argument, NULL, 'c' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_close_ int fd = -EBADF;
	const char *out = NULL, *comp = "none";
	struct ldb_digest id;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) >= 0) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'c': comp = optarg; break;
		GETOPT_COMMON(&export_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&export_help, "expected exactly one LAYER");
	if (!out && isatty(STDOUT_FILENO)) {
		tool_err("refusing to write an archive to a terminal (use -o FILE)");
		return EXIT_FAIL;
	}
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_layer_resolve(db, argv[optind], &id);
	if (r < 0) {
		_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };

		r = ldb_image_resolve(db, argv[optind], &id);
		if (r >= 0)
			r = ldb_image_get(db, &id, &img);
		if (r < 0)
			return tool_fail(db, r, "no such layer or image '%s'", argv[optind]);
		id = img.layer;
	}
	fd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : dup(STDOUT_FILENO);
	if (fd < 0) {
		tool_err("cannot write '%s': %m", out ? out : "stdout");
		return EXIT_FAIL;
	}
	r = ldb_layer_export(db, &id, fd, comp);
	if (r < 0)
		return tool_fail(db, r, "cannot export '%s'", argv[optind]);
	return EXIT_OK;
}
