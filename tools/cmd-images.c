/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-images.c - listings: `images`, `layers`, `history`, `search`.
 * Column layouts follow docker's.
 */
#include <getopt.h>
#include <string.h>

#include "tool.h"

/* ---- images ------------------------------------------------------------------ */

static const struct cmd_help images_help = {
	"images [-a] [-q] [--digests] [--no-trunc] [--format json]",
	"List images: tagged ones and dangling ones (untagged, nothing built on them).",
	"  -a, --all          also list untagged intermediate images\n"
	"  -q, --quiet        only image ids\n"
	"      --digests      show the top layer's digest\n"
	"      --no-trunc     full ids\n"
	"      --format json  one JSON object per line\n",
};

struct images_ctx {
	bool quiet, digests, no_trunc, json;
	char **seen;
	size_t n_seen;
};

static int print_image_row(struct images_ctx *c, const struct ldb_image_info *img,
			   const char *tagref)
{
	char id[TOOL_ID_MAX], layer[TOOL_ID_MAX], ago[48], sz[32];
	_cleanup_free_ char *name = NULL, *tag = NULL;

	if (tagref && ldb_parse_name(tagref, &name, &tag) < 0)
		return 0;
	tool_id(&img->id, c->no_trunc, id);
	tool_id(&img->layer, true, layer);
	tool_ago(img->created, ago);
	tool_size(img->total_size, sz);
	if (c->json) {
		char t[48];

		printf("{\"Repository\":");
		tool_json_str(stdout, name ? name : "<none>");
		printf(",\"Tag\":");
		tool_json_str(stdout, tag ? tag : "<none>");
		printf(",\"ID\":\"%s\",\"Digest\":\"%s\",\"CreatedAt\":\"%s\",\"CreatedSince\":\"%s\","
		       "\"Size\":\"%s\",\"VirtualSize\":%llu,\"Layers\":%u}\n",
		       id, layer, tool_time(img->created, t), ago, sz,
		       (unsigned long long)img->total_size, img->depth);
		return 0;
	}
	if (c->digests)
		printf("%-30s %-10s %-48s %-*s %-24s %s\n", name ? name : "<none>",
		       tag ? tag : "<none>", layer, c->no_trunc ? 39 : 12, id, ago, sz);
	else
		printf("%-30s %-10s %-*s %-24s %s\n", name ? name : "<none>", tag ? tag : "<none>",
		       c->no_trunc ? 39 : 12, id, ago, sz);
	return 0;
}

static int image_cb(const struct ldb_image_info *img, void *payload)
{
	struct images_ctx *c = payload;

	if (c->quiet) {
		char id[TOOL_ID_MAX];

		printf("%s\n", tool_id(&img->id, c->no_trunc, id));
		return 0;
	}
	if (!img->tags[0])
		return print_image_row(c, img, NULL);
	for (char **t = img->tags; *t; t++)
		print_image_row(c, img, *t);
	return 0;
}

int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "digests", no_argument, NULL, 'd' },
		{ "no-trunc", no_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	struct images_ctx ctx = { 0 };
	unsigned flags = 0;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":aq", opts, NULL)) >= 0) {
		switch (c) {
		case 'a': flags |= LDB_IMAGES_ALL; break;
		case 'q': ctx.quiet = true; break;
		case 'd': ctx.digests = true; break;
		case 'n': ctx.no_trunc = true; break;
		case 'f':
			if (strcmp(optarg, "json") != 0)
				return tool_usage_error(&images_help, "unknown format '%s'", optarg);
			ctx.json = true;
			break;
		GETOPT_COMMON(&images_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&images_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (!ctx.quiet && !ctx.json) {
		if (ctx.digests)
			printf("%-30s %-10s %-48s %-*s %-24s %s\n", "REPOSITORY", "TAG", "DIGEST",
			       ctx.no_trunc ? 39 : 12, "IMAGE ID", "CREATED", "SIZE");
		else
			printf("%-30s %-10s %-*s %-24s %s\n", "REPOSITORY", "TAG",
			       ctx.no_trunc ? 39 : 12, "IMAGE ID", "CREATED", "SIZE");
	}
	r = ldb_image_list(db, flags, image_cb, &ctx);
	if (r < 0)
		return tool_fail(db, r, "cannot list images");
	return EXIT_OK;
}

/* ---- layers ------------------------------------------------------------------ */

static const struct cmd_help layers_help = {
	"layers [-q] [--no-trunc]",
	"List the layers of the store: size, entries, the images and containers that\n"
	"use each one, and how much of its content other layers also hold.",
	"  -q, --quiet     only layer ids\n"
	"      --no-trunc  full ids\n",
};

struct layers_ctx {
	bool quiet, no_trunc;
};

static int layer_cb(const struct ldb_layer_info *l, void *payload)
{
	struct layers_ctx *c = payload;
	char id[TOOL_ID_MAX], ago[48], sz[32];

	tool_id(&l->id, c->no_trunc, id);
	if (c->quiet) {
		printf("%s\n", id);
		return 0;
	}
	char shared[32];

	printf("%-*s %-24s %-10s %-8llu %-7u %-11u %s\n", c->no_trunc ? 39 : 12, id,
	       tool_ago(l->created, ago), tool_size(l->size, sz), (unsigned long long)l->files,
	       l->images, l->containers, tool_size(l->shared_size, shared));
	return 0;
}

int cmd_layers(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-trunc", no_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	struct layers_ctx ctx = { 0 };
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) >= 0) {
		switch (c) {
		case 'q': ctx.quiet = true; break;
		case 'n': ctx.no_trunc = true; break;
		GETOPT_COMMON(&layers_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&layers_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (!ctx.quiet)
		printf("%-*s %-24s %-10s %-8s %-7s %-11s %s\n", ctx.no_trunc ? 39 : 12, "LAYER ID",
		       "CREATED", "SIZE", "FILES", "IMAGES", "CONTAINERS", "SHARED");
	r = ldb_layer_list(db, layer_cb, &ctx);
	if (r < 0)
		return tool_fail(db, r, "cannot list layers");
	return EXIT_OK;
}

/* ---- history ----------------------------------------------------------------- */

static const struct cmd_help history_help = {
	"history [-q] [--no-trunc] IMAGE",
	"Show the images (one layer each) an image is built from, newest first.",
	"  -q, --quiet     only image ids\n"
	"      --no-trunc  full ids and texts\n",
};

int cmd_history(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-trunc", no_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_free_ struct ldb_digest *chain = NULL;
	struct ldb_digest id;
	bool quiet = false, no_trunc = false;
	size_t n;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) >= 0) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'n': no_trunc = true; break;
		GETOPT_COMMON(&history_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&history_help, "expected exactly one IMAGE");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_image_resolve(db, argv[optind], &id);
	if (r < 0)
		return tool_fail(db, r, "cannot resolve '%s'", argv[optind]);
	r = ldb_image_chain(db, &id, &chain, NULL, &n);
	if (r < 0)
		return tool_fail(db, r, "cannot read the history of '%s'", argv[optind]);
	if (!quiet)
		printf("%-*s %-24s %-40s %-10s %s\n", no_trunc ? 39 : 12, "IMAGE", "CREATED",
		       "CREATED BY", "SIZE", "COMMENT");
	for (size_t i = 0; i < n; i++) {
		_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };
		char sid[TOOL_ID_MAX], ago[48], sz[32];
		const char *by;

		r = ldb_image_get(db, &chain[i], &img);
		if (r < 0)
			return tool_fail(db, r, "cannot read image");
		tool_id(&img.id, no_trunc, sid);
		if (quiet) {
			printf("%s\n", sid);
			continue;
		}
		by = img.created_by ? img.created_by : "";
		printf("%-*s %-24s %-40.*s %-10s %s\n", no_trunc ? 39 : 12, sid,
		       tool_ago(img.created, ago), no_trunc ? 4096 : 40, by, tool_size(img.size, sz),
		       img.comment ? img.comment : "");
	}
	return EXIT_OK;
}

/* ---- search ------------------------------------------------------------------ */

static const struct cmd_help search_help = {
	"search [--no-trunc] [--limit N] TERM | search --file PATH",
	"Images whose name, tag, message or author contains TERM; or, with --file,\n"
	"the layers (and images) that contain PATH.",
	"      --file PATH  search layer contents for PATH\n"
	"      --limit N    at most N results\n"
	"      --no-trunc   full ids and messages\n",
};

struct search_ctx {
	bool no_trunc;
	long limit, n;
};

static int search_image_cb(const struct ldb_image_info *img, void *payload)
{
	struct search_ctx *c = payload;
	char id[TOOL_ID_MAX], ago[48];
	const char *comment = img->comment ? img->comment : "";
	_cleanup_free_ char *names = NULL;
	size_t len = 0;
	FILE *f;

	if (c->limit && c->n >= c->limit)
		return 1;
	c->n++;
	/* every name of the image: the term may match any of them */
	f = open_memstream(&names, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; img->tags[i]; i++)
		fprintf(f, "%s%s", i ? "," : "", img->tags[i]);
	if (fclose(f) != 0)
		return -ENOMEM;
	printf("%-*s %-30s %-24s %.*s\n", c->no_trunc ? 39 : 12, tool_id(&img->id, c->no_trunc, id),
	       len ? names : "<none>", tool_ago(img->created, ago), c->no_trunc ? 4096 : 45, comment);
	return 0;
}

static int search_file_cb(const struct ldb_search_hit *h, void *payload)
{
	struct search_ctx *c = payload;
	char lid[TOOL_ID_MAX], iid[TOOL_ID_MAX], sz[32];

	if (c->limit && c->n >= c->limit)
		return 1;
	c->n++;
	printf("%-*s %-*s %-10s %s%s\n", c->no_trunc ? 39 : 12, tool_id(&h->layer, c->no_trunc, lid),
	       c->no_trunc ? 39 : 12, tool_id(&h->image, c->no_trunc, iid),
	       h->type == 'w' ? "-" : tool_size(h->size, sz), h->path,
	       h->type == 'w' ? " (deleted)" : h->type == 'd' ? "/" : "");
	return 0;
}

int cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'F' },
		{ "limit", required_argument, NULL, 'l' },
		{ "no-trunc", no_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	struct search_ctx ctx = { 0 };
	const char *file = NULL;
	char *end;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 'F': file = optarg; break;
		case 'n': ctx.no_trunc = true; break;
		case 'l':
			ctx.limit = strtol(optarg, &end, 10);
			if (*end || ctx.limit < 1)
				return tool_usage_error(&search_help, "invalid limit '%s'", optarg);
			break;
		GETOPT_COMMON(&search_help);
		}
	}
	if (argc - optind != (file ? 0 : 1))
		return tool_usage_error(&search_help, file ? "unexpected argument" : "expected TERM");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (file) {
		printf("%-*s %-*s %-10s %s\n", ctx.no_trunc ? 39 : 12, "LAYER", ctx.no_trunc ? 39 : 12,
		       "IMAGE", "SIZE", "PATH");
		r = ldb_file_search(db, file, search_file_cb, &ctx);
	} else {
		printf("%-*s %-30s %-24s %s\n", ctx.no_trunc ? 39 : 12, "IMAGE ID", "NAME",
		       "CREATED", "DESCRIPTION");
		r = ldb_image_search(db, argv[optind], search_image_cb, &ctx);
	}
	if (r < 0)
		return tool_fail(db, r, "search failed");
	return EXIT_OK;
}
