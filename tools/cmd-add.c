/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-add.c - `strata add SOURCE`: a new layer (and image) from a directory
 * or a tar, tar.gz or tar.zst archive ("-" for stdin).
 */
#include <getopt.h>
#include <string.h>

#include "tool.h"

static const struct cmd_help help = {
	"add SOURCE [--tag NAME[:TAG]] [--parent IMAGE] [-m MSG] [-a AUTHOR]",
	"Add a layer from a directory, or a tar, tar.gz or tar.zst archive ('-' reads\n"
	"stdin; OCI whiteouts are translated), on top of IMAGE if given.  Prints the\n"
	"new image id.",
	"  -t, --tag NAME[:TAG]  name the new image (':latest' if no tag)\n"
	"  -p, --parent IMAGE    build on IMAGE\n"
	"  -m, --message MSG     comment recorded in the history\n"
	"  -a, --author AUTHOR   author recorded in the history\n",
};

int cmd_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' },
		{ "parent", required_argument, NULL, 'p' },
		{ "message", required_argument, NULL, 'm' },
		{ "author", required_argument, NULL, 'a' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_free_ char *created_by = NULL;
	struct ldb_add_opts o = { .version = LDB_ADD_OPTS_VERSION, .progress = tool_progress };
	struct ldb_digest parent, image;
	const char *parent_ref = NULL;
	char id[TOOL_ID_MAX];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:p:m:a:", opts, NULL)) >= 0) {
		switch (c) {
		case 't': o.name = optarg; break;
		case 'p': parent_ref = optarg; break;
		case 'm': o.comment = optarg; break;
		case 'a': o.author = optarg; break;
		case 'h': tool_print_help(&help); return EXIT_OK;
		case ':': return tool_usage_error(&help, "option '%s' needs a value", argv[optind - 1]);
		default: return tool_usage_error(&help, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&help, "expected exactly one SOURCE");
	if (o.name) {
		_cleanup_free_ char *n = NULL, *t = NULL;

		if (ldb_parse_name(o.name, &n, &t) < 0)
			return tool_usage_error(&help, "invalid reference format: '%s'", o.name);
	}
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (parent_ref) {
		r = ldb_image_resolve(db, parent_ref, &parent);
		if (r < 0)
			return tool_fail(db, r, "cannot use parent '%s'", parent_ref);
		o.parent = &parent;
	}
	if (asprintf(&created_by, "strata add %s", argv[optind]) < 0)
		return EXIT_FAIL;
	o.created_by = created_by;
	r = ldb_layer_add(db, argv[optind], &o, &image, NULL);
	tool_progress_done();
	if (r < 0)
		return tool_fail(db, r, "cannot add '%s'", argv[optind]);
	printf("%s\n", tool_id(&image, true, id));
	return EXIT_OK;
}
