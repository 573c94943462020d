/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-inspect.c - `inspect` (JSON, like docker inspect: an array with one
 * object per argument) and `tag`.
 */
#include <getopt.h>
#include <string.h>

#include "oci.h"
#include "tool.h"

static const struct cmd_help inspect_help = {
	"inspect [--type image|container|layer] NAME|ID...",
	"Print details of images, containers or layers as a JSON array.",
	"      --type TYPE  only look for this kind of object\n",
};

static void inspect_image(struct ldb *db, const struct ldb_image_info *img)
{
	_cleanup_free_ struct ldb_digest *layers = NULL;
	char id[TOOL_ID_MAX], t[48];
	size_t n = 0;

	printf("{\n  \"Id\": \"%s\",\n  \"Kind\": \"image\",\n  \"RepoTags\": [", tool_id(&img->id, true, id));
	for (char **tag = img->tags; *tag; tag++) {
		printf("%s", tag == img->tags ? "" : ", ");
		tool_json_str(stdout, *tag);
	}
	printf("],\n  \"Parent\": \"%s\",\n", img->has_parent ? tool_id(&img->parent, true, id) : "");
	printf("  \"Created\": \"%s\",\n  \"Author\": ", tool_time(img->created, t));
	tool_json_str(stdout, img->author ? img->author : "");
	printf(",\n  \"Comment\": ");
	tool_json_str(stdout, img->comment ? img->comment : "");
	printf(",\n  \"CreatedBy\": ");
	tool_json_str(stdout, img->created_by ? img->created_by : "");
	/* the image's OCI config (Config, Architecture, Os) when it has one */
	oci_inspect_config(db, &img->id);
	printf(",\n  \"Size\": %llu,\n  \"VirtualSize\": %llu,\n  \"Containers\": %u,\n"
	       "  \"Children\": %u,\n  \"RootFS\": {\n    \"Type\": \"layers\",\n    \"Layers\": [",
	       (unsigned long long)img->size, (unsigned long long)img->total_size,
	       img->containers, img->children);
	/* OCI order: base layer first. */
	if (ldb_image_chain(db, &img->id, NULL, &layers, &n) == 0)
		for (size_t i = n; i-- > 0;)
			printf("%s\"%s\"", i == n - 1 ? "" : ", ", tool_id(&layers[i], true, id));
	printf("]\n  },\n  \"GraphDriver\": {\n    \"Name\": \"strata\",\n    \"Data\": {\n"
	       "      \"LowerDir\": \"");
	for (size_t i = 0; i < n; i++) {
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&layers[i], hex);
		printf("%s%s/layers/%s", i ? ":" : "", ldb_root(db), hex);
	}
	printf("\"\n    }\n  }\n}");
}

static void inspect_container(struct ldb *db, const struct ldb_container_info *c)
{
	_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };
	char id[TOOL_ID_MAX], t[48];

	printf("{\n  \"Id\": \"%s\",\n  \"Kind\": \"container\",\n  \"Name\": ", tool_id(&c->id, true, id));
	tool_json_str(stdout, c->name);
	printf(",\n  \"Image\": \"%s\",\n", tool_id(&c->image, true, id));
	if (ldb_image_get(db, &c->image, &img) == 0) {
		printf("  \"ImageName\": ");
		tool_json_str(stdout, img.tags[0] ? img.tags[0] : "");
		printf(",\n");
	}
	printf("  \"Created\": \"%s\",\n  \"State\": {\n    \"Status\": \"%s\",\n    \"Mounted\": %s,\n"
	       "    \"Mountpoint\": ", tool_time(c->created, t), c->mounted ? "mounted" : "created",
	       c->mounted ? "true" : "false");
	tool_json_str(stdout, c->mounted ? c->mountpoint : "");
	printf("\n  },\n  \"GraphDriver\": {\n    \"Name\": \"strata\",\n    \"Data\": {\n"
	       "      \"UpperDir\": ");
	tool_json_str(stdout, c->upper);
	printf(",\n      \"WorkDir\": ");
	tool_json_str(stdout, c->work);
	printf("\n    }\n  }\n}");
}

static void inspect_layer(struct ldb *db, const struct ldb_layer_info *l)
{
	_cleanup_free_ char *path = NULL;
	char id[TOOL_ID_MAX], t[48];

	(void)ldb_layer_path(db, &l->id, &path);
	printf("{\n  \"Id\": \"%s\",\n  \"Kind\": \"layer\",\n  \"Created\": \"%s\",\n"
	       "  \"Size\": %llu,\n  \"Files\": %llu,\n  \"Images\": %u,\n  \"Containers\": %u,\n"
	       "  \"SharedFiles\": %llu,\n  \"SharedSize\": %llu,\n  \"DiffID\": \"%s\",\n"
	       "  \"Path\": ",
	       tool_id(&l->id, true, id), tool_time(l->created, t), (unsigned long long)l->size,
	       (unsigned long long)l->files, l->images, l->containers,
	       (unsigned long long)l->shared_files, (unsigned long long)l->shared_size, l->diff_id);
	tool_json_str(stdout, path);
	printf("\n}");
}

static int inspect_one(struct ldb *db, const char *ref, const char *type)
{
	struct ldb_digest id;

	/* Containers first, as docker does: a name beats an id prefix. */
	if ((!type || strcmp(type, "container") == 0) && ldb_container_resolve(db, ref, &id) == 0) {
		_cleanup_(ldb_container_info_clear) struct ldb_container_info c = { 0 };

		if (ldb_container_get(db, &id, &c) == 0) {
			inspect_container(db, &c);
			return 0;
		}
	}
	if ((!type || strcmp(type, "image") == 0) && ldb_image_resolve(db, ref, &id) == 0) {
		_cleanup_(ldb_image_info_clear) struct ldb_image_info img = { 0 };

		if (ldb_image_get(db, &id, &img) == 0) {
			inspect_image(db, &img);
			return 0;
		}
	}
	if ((!type || strcmp(type, "layer") == 0) && ldb_layer_resolve(db, ref, &id) == 0) {
		struct ldb_layer_info l;

		if (ldb_layer_get(db, &id, &l) == 0) {
			inspect_layer(db, &l);
			return 0;
		}
	}
	return -ENOENT;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	const char *type = NULL;
	int c, ret = EXIT_OK, printed = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 't':
			if (strcmp(optarg, "image") && strcmp(optarg, "container") && strcmp(optarg, "layer"))
				return tool_usage_error(&inspect_help, "unknown type '%s'", optarg);
			type = optarg;
			break;
		GETOPT_COMMON(&inspect_help);
		}
	}
	if (optind >= argc)
		return tool_usage_error(&inspect_help, "expected at least one NAME or ID");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	printf("[");
	for (int i = optind; i < argc; i++) {
		if (printed)
			printf(",\n");
		else
			printf("\n");
		/* Print into the array only what exists; errors go to stderr. */
		if (inspect_one(db, argv[i], type) < 0) {
			tool_err("no such object: %s", argv[i]);
			ret = EXIT_FAIL;
			if (printed)
				printf("{}");
			else
				printed--;
		}
		printed++;
	}
	printf("%s]\n", printed > 0 ? "\n" : "");
	return ret;
}

static const struct cmd_help tag_help = {
	"tag SOURCE NAME[:TAG]",
	"Give the image SOURCE the name NAME[:TAG] (':latest' if no tag), moving the\n"
	"name if another image had it.",
	NULL,
};

int cmd_tag(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	struct ldb_digest id;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&tag_help);
		}
	}
	if (argc - optind != 2)
		return tool_usage_error(&tag_help, "expected SOURCE and NAME[:TAG]");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	r = ldb_image_resolve(db, argv[optind], &id);
	if (r < 0)
		return tool_fail(db, r, "cannot tag '%s'", argv[optind]);
	r = ldb_image_tag(db, &id, argv[optind + 1]);
	if (r < 0)
		return tool_fail(db, r, "cannot tag '%s' as '%s'", argv[optind], argv[optind + 1]);
	return EXIT_OK;
}
