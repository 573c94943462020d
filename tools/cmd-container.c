/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-container.c - `create`, `ps`, `rm`.
 */
#include <getopt.h>
#include <string.h>

#include "tool.h"

int tool_unmount(struct ldb *db, const struct ldb_digest *id, const char *mountpoint);

static const struct cmd_help create_help = {
	"create [--name NAME] IMAGE",
	"Create a container (an empty read-write layer) on IMAGE; prints its id.",
	"      --name NAME  container name (default: a random one)\n",
};

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	struct ldb_digest image, id;
	const char *name = NULL;
	char sid[TOOL_ID_MAX];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 'n': name = optarg; break;
		GETOPT_COMMON(&create_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&create_help, "expected exactly one IMAGE");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_image_resolve(db, argv[optind], &image);
	if (r < 0)
		return tool_fail(db, r, "cannot create a container from '%s'", argv[optind]);
	r = ldb_container_create(db, &image, name, &id);
	if (r < 0)
		return tool_fail(db, r, "cannot create a container from '%s'", argv[optind]);
	printf("%s\n", tool_id(&id, true, sid));
	return EXIT_OK;
}

static const struct cmd_help ps_help = {
	"ps [-a] [-q] [--no-trunc]",
	"List mounted containers (all containers with -a).",
	"  -a, --all       also containers that are not mounted\n"
	"  -q, --quiet     only container ids\n"
	"      --no-trunc  full ids\n",
};

struct ps_ctx {
	struct ldb *db;
	bool all, quiet, no_trunc;
};

static int ps_cb(const struct ldb_container_info *c, void *payload)
{
	_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };
	struct ps_ctx *p = payload;
	char id[TOOL_ID_MAX], iid[TOOL_ID_MAX], ago[48];
	const char *image;

	if (!p->all && !c->mounted)
		return 0;
	tool_id(&c->id, p->no_trunc, id);
	if (p->quiet) {
		printf("%s\n", id);
		return 0;
	}
	if (ldb_image_get(p->db, &c->image, &img) == 0 && img.tags[0])
		image = img.tags[0];
	else
		image = tool_id(&c->image, p->no_trunc, iid);
	printf("%-*s %-25s %-24s %-10s %-30s %s\n", p->no_trunc ? 39 : 12, id, image,
	       tool_ago(c->created, ago), c->mounted ? "Mounted" : "Created",
	       c->mounted ? c->mountpoint : "", c->name);
	return 0;
}

int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-trunc", no_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	struct ps_ctx ctx = { 0 };
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":aq", opts, NULL)) >= 0) {
		switch (c) {
		case 'a': ctx.all = true; break;
		case 'q': ctx.quiet = true; break;
		case 'n': ctx.no_trunc = true; break;
		GETOPT_COMMON(&ps_help);
		}
	}
	if (optind < argc)
		return tool_usage_error(&ps_help, "unexpected argument '%s'", argv[optind]);
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	ctx.db = db;
	if (!ctx.quiet)
		printf("%-*s %-25s %-24s %-10s %-30s %s\n", ctx.no_trunc ? 39 : 12, "CONTAINER ID",
		       "IMAGE", "CREATED", "STATUS", "MOUNTPOINT", "NAMES");
	r = ldb_container_list(db, ps_cb, &ctx);
	if (r < 0)
		return tool_fail(db, r, "cannot list containers");
	return EXIT_OK;
}

static const struct cmd_help rm_help = {
	"rm [-f] CONTAINER...",
	"Remove containers and their changes.",
	"  -f, --force  unmount a mounted container first\n",
};

int cmd_rm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	bool force = false;
	int c, ret = EXIT_OK;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f", opts, NULL)) >= 0) {
		switch (c) {
		case 'f': force = true; break;
		GETOPT_COMMON(&rm_help);
		}
	}
	if (optind >= argc)
		return tool_usage_error(&rm_help, "expected at least one CONTAINER");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	for (int i = optind; i < argc; i++) {
		_cleanup_(ldb_container_info_clear) struct ldb_container_info info = { 0 };
		_cleanup_close_ int lock = -EBADF;
		struct ldb_digest id;
		int r;

		r = ldb_container_resolve(db, argv[i], &id);
		if (r >= 0)
			r = lock = ldb_container_lock(db, &id);
		if (r >= 0)
			r = ldb_container_get(db, &id, &info);
		if (r < 0) {
			ret = tool_fail(db, r, "cannot remove container '%s'", argv[i]);
			continue;
		}
		if (info.mounted && !force) {
			tool_err("cannot remove container '%s': it is mounted on '%s' "
				 "(unmount it or use -f)", argv[i], info.mountpoint);
			ret = EXIT_FAIL;
			continue;
		}
		if (info.mounted) {
			r = tool_unmount(db, &id, info.mountpoint);
			if (r < 0) {
				ret = EXIT_FAIL;
				continue;
			}
		}
		r = ldb_container_remove(db, &id, 0);
		if (r < 0) {
			ret = tool_fail(db, r, "cannot remove container '%s'", argv[i]);
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return ret;
}
