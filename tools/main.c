/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - the strata command: global flags and the subcommand table.
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include <getopt.h>
#include <string.h>

#include "config.h"
#include "tool.h"
#include "oci.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "add", cmd_add, "Add a layer from a directory or a tar/tar.gz/tar.zst archive" },
	{ "images", cmd_images, "List images" },
	{ "layers", cmd_layers, "List layers" },
	{ "history", cmd_history, "Show the layers of an image" },
	{ "inspect", cmd_inspect, "Show details of images, containers or layers (JSON)" },
	{ "tag", cmd_tag, "Give an image another name" },
	{ "search", cmd_search, "Find images by name or message, or layers by file" },
	{ "create", cmd_create, "Create a container from an image" },
	{ "mount", cmd_mount, "Mount a container (or a new one from an image)" },
	{ "umount", cmd_umount, "Unmount a container" },
	{ "ps", cmd_ps, "List containers" },
	{ "run", cmd_run, "Run a command in a container (bubblewrap or chroot)" },
	{ "diff", cmd_diff, "Show a container's changes" },
	{ "commit", cmd_commit, "Make a new image from a container's changes" },
	{ "rmi", cmd_rmi, "Remove images" },
	{ "rm", cmd_rm, "Remove containers" },
	{ "prune", cmd_prune, "Remove dangling images and unused layers" },
	{ "df", cmd_df, "Show space usage" },
	{ "verify", cmd_verify, "Recompute layer digests" },
	{ "check", cmd_check, "Check the store and repair what a crash left" },
	{ "export", cmd_oci_export, "Write an image as an OCI layout or archive (or a layer as a tar)" },
	{ "import", cmd_import, "Import an image from an OCI layout, OCI archive or docker archive" },
	{ "pull", cmd_pull, "Pull an image from a registry (with skopeo)" },
	{ "push", cmd_push, "Push an image to a registry (with skopeo)" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: strata [--root DIR] [-q] COMMAND [ARGS...]\n\n"
		   "Layers, images and containers over a union file system.\n\nCommands:\n");
	for (size_t i = 0; i < ELEMENTSOF(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nGlobal options:\n"
		   "      --root DIR   store directory (default: $STRATA_ROOT, /var/lib/strata\n"
		   "                   for root, $XDG_DATA_HOME/strata otherwise)\n"
		   "  -q, --quiet      no progress output\n"
		   "      --version    print the version\n"
		   "      --help       show this help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) >= 0) {
		switch (c) {
		case 'r':
			arg_root = optarg;
			break;
		case 'q':
			arg_quiet = true;
			break;
		case 'V':
			printf("strata %s\n", STRATA_VERSION);
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		argc -= optind;
		argv += optind;
		optind = 0; /* reset getopt for the subcommand */
		return commands[i].fn(argc, argv);
	}
	tool_err("'%s' is not a strata command, see 'strata --help'", argv[optind]);
	return EXIT_USAGE;
}
