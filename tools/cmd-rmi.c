/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-rmi.c - `strata rmi [-f] IMAGE...`, docker's output and conflicts:
 *   Untagged: NAME:TAG
 *   Deleted: xxh128:<id>
 *   Error: conflict: unable to delete <id> (must be forced) - ...
 */
#include <getopt.h>
#include <string.h>

#include "tool.h"

static const struct cmd_help help = {
	"rmi [-f] IMAGE...",
	"Remove images: untag them, and delete them and the layers nothing else uses.\n"
	"An image a container uses, or that other images build on, is not deleted.",
	"  -f, --force  remove the names of an image a container uses (its layers stay\n"
	"               while the container needs them)\n",
};

static void rmi_cb(enum ldb_rmi_event ev, const char *what, void *payload)
{
	printf("%s: %s\n", ev == LDB_RMI_UNTAGGED ? "Untagged" : "Deleted", what);
}

int cmd_rmi(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	unsigned flags = 0;
	int c, ret = EXIT_OK;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f", opts, NULL)) >= 0) {
		switch (c) {
		case 'f': flags |= LDB_RMI_FORCE; break;
		GETOPT_COMMON(&help);
		}
	}
	if (optind >= argc)
		return tool_usage_error(&help, "expected at least one IMAGE");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	for (int i = optind; i < argc; i++) {
		int r = ldb_image_remove(db, argv[i], flags, rmi_cb, NULL);

		if (r == -EBUSY || r == -ENOENT) {
			/* docker's wording, which scripts grep for */
			fprintf(stderr, "strata: Error: %s\n", ldb_errmsg(db));
			ret = EXIT_FAIL;
		} else if (r < 0) {
			ret = tool_fail(db, r, "cannot remove '%s'", argv[i]);
		}
		fflush(stdout);
	}
	return ret;
}
