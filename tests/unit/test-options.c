/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test-options.c - unit tests of unionfs/options.c: the fuse-overlayfs
 * compatible command line (podman's forms first), every rejected form, the
 * defaults, sfs_config_validate() and the uid/gid mapping helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "options.h"
#include "tap.h"

/* argv for sfs_config_parse(): "stratafs" followed by the given words. */
#define ARGV(...) ((char *[]){ "stratafs", __VA_ARGS__, NULL })

static int parse(char **argv, struct sfs_config **ret_cfg, char **ret_msg)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return sfs_config_parse(argc, argv, ret_cfg, ret_msg);
}

/* The parse fails with -EINVAL and a message containing each needle. */
static void check_rejected(char **argv, const char *needle1,
			   const char *needle2)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;
	_cleanup_free_ char *msg = NULL;

	TAP_ASSERT_ERR(parse(argv, &cfg, &msg), EINVAL);
	TAP_ASSERT(cfg == NULL);
	TAP_ASSERT(msg != NULL);
	printf("#   message: %s\n", msg);
	TAP_ASSERT(strstr(msg, needle1) != NULL);
	TAP_ASSERT(!needle2 || strstr(msg, needle2) != NULL);
}

/* ---- accepted forms ---------------------------------------------------- */

static void test_defaults(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l", "/mnt"), &cfg, NULL));
	TAP_ASSERT(cfg->fsync);
	TAP_ASSERT(cfg->redirect_dir);
	TAP_ASSERT(!cfg->metacopy); /* as the kernel's default */
	TAP_ASSERT(cfg->timeout == 86400.0);
	TAP_ASSERT(!cfg->timeout_set);
	TAP_ASSERT_INT(cfg->squash_to_uid, ==, -1);
	TAP_ASSERT_INT(cfg->squash_to_gid, ==, -1);
	TAP_ASSERT_INT(cfg->max_idle_threads, ==, -1);
	TAP_ASSERT_INT(cfg->max_threads, ==, 0);
	TAP_ASSERT_INT(cfg->xattr_permissions, ==, 0);
	TAP_ASSERT(!cfg->allow_other && !cfg->allow_root);
	TAP_ASSERT(!cfg->foreground && !cfg->debug && !cfg->singlethread);
	TAP_ASSERT(!cfg->read_only && !cfg->writeback && !cfg->userxattr);
	TAP_ASSERT(!cfg->zero_open && cfg->dir_readahead && cfg->passthrough);
	TAP_ASSERT_INT(cfg->spin_us, ==, 50);
	TAP_ASSERT(cfg->upperdir == NULL && cfg->workdir == NULL);
	TAP_ASSERT(cfg->fuse_mount_opts == NULL);
	TAP_ASSERT_INT(cfg->n_uidmap, ==, 0);
}

static void test_basic_mount(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-f", "-s", "-o",
				 "lowerdir=/l1:/l2,upperdir=/u,workdir=/w",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT(cfg->foreground);
	TAP_ASSERT(cfg->singlethread);
	TAP_ASSERT_INT(cfg->n_lower, ==, 2);
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/l1");
	TAP_ASSERT_STR(cfg->lowerdirs[1], ==, "/l2");
	TAP_ASSERT(cfg->lowerdirs[2] == NULL);
	TAP_ASSERT_STR(cfg->upperdir, ==, "/u");
	TAP_ASSERT_STR(cfg->workdir, ==, "/w");
	TAP_ASSERT_STR(cfg->mountpoint, ==, "/mnt");
	TAP_ASSERT_OK(sfs_config_validate(cfg, NULL));
}

static void test_podman_trailing_empty_option(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/A,upperdir=/B,workdir=/C,",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/A");
	TAP_ASSERT_STR(cfg->upperdir, ==, "/B");
	TAP_ASSERT_STR(cfg->workdir, ==, "/C");
}

static void test_podman_empty_elements_and_volatile(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", ",lowerdir=/A,,volatile,,", "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/A");
	TAP_ASSERT(!cfg->fsync);
}

static void test_podman_leading_colon_uidmapping(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l,uidmapping=:0:200000:65536,"
				 "gidmapping=0:1000:1:1:110000:65536",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_INT(cfg->n_uidmap, ==, 1);
	TAP_ASSERT_INT(cfg->uidmap[0].outside, ==, 0);
	TAP_ASSERT_INT(cfg->uidmap[0].inside, ==, 200000);
	TAP_ASSERT_INT(cfg->uidmap[0].length, ==, 65536);
	TAP_ASSERT_INT(cfg->n_gidmap, ==, 2);
	TAP_ASSERT_INT(cfg->gidmap[1].outside, ==, 1);
	TAP_ASSERT_INT(cfg->gidmap[1].inside, ==, 110000);
	TAP_ASSERT_INT(cfg->gidmap[1].length, ==, 65536);
}

static void test_uidmapping_comma_form_continues(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "uidmapping=0:1000:1,1:100000:65536,"
				 "lowerdir=/l,noacl",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_INT(cfg->n_uidmap, ==, 2);
	TAP_ASSERT_INT(cfg->uidmap[0].inside, ==, 1000);
	TAP_ASSERT_INT(cfg->uidmap[1].outside, ==, 1);
	TAP_ASSERT_INT(cfg->uidmap[1].inside, ==, 100000);
	TAP_ASSERT(cfg->noacl);
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/l");
}

static void test_readonly_several_lowers(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/top:/mid:/base", "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_INT(cfg->n_lower, ==, 3);
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/top");
	TAP_ASSERT_STR(cfg->lowerdirs[2], ==, "/base");
	TAP_ASSERT(cfg->upperdir == NULL);
	TAP_ASSERT_OK(sfs_config_validate(cfg, NULL));
}

static void test_readonly_ignores_workdir(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l,workdir=/w", "/mnt"), &cfg,
			    NULL));
	TAP_ASSERT_OK(sfs_config_validate(cfg, NULL));
}

static void test_lowerdir_escapes(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	/* "\:" colon, "\\" backslash (both survive -o splitting), "\," comma */
	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/a\\:b:/c\\\\:/d\\,e", "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_INT(cfg->n_lower, ==, 3);
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/a:b");
	TAP_ASSERT_STR(cfg->lowerdirs[1], ==, "/c\\");
	TAP_ASSERT_STR(cfg->lowerdirs[2], ==, "/d,e");
}

static void test_later_duplicates_win(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/old1:/old2,upperdir=/u1",
				 "-o", "lowerdir=/new,upperdir=/u2,fsync=0,fsync=1",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_INT(cfg->n_lower, ==, 1);
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/new");
	TAP_ASSERT_STR(cfg->upperdir, ==, "/u2");
	TAP_ASSERT(cfg->fsync);
}

static void test_glued_o_and_multiple_o(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-olowerdir=/l", "-o", "upperdir=/u",
				 "-oworkdir=/w", "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/l");
	TAP_ASSERT_STR(cfg->upperdir, ==, "/u");
	TAP_ASSERT_STR(cfg->workdir, ==, "/w");
}

static void test_source_word_and_type_ignored(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-t", "overlay", "overlay", "/mnt", "-o",
				 "lowerdir=/l"),
			    &cfg, NULL));
	TAP_ASSERT_STR(cfg->mountpoint, ==, "/mnt");
	TAP_ASSERT_STR(cfg->lowerdirs[0], ==, "/l");
}

static void test_debug_implies_foreground(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *a = NULL, *b = NULL;
	_cleanup_(sfs_config_freep) struct sfs_config *c = NULL;

	TAP_ASSERT_OK(parse(ARGV("-d", "/mnt"), &a, NULL));
	TAP_ASSERT_OK(parse(ARGV("--debug", "/mnt"), &b, NULL));
	TAP_ASSERT_OK(parse(ARGV("-o", "debug", "/mnt"), &c, NULL));
	TAP_ASSERT(a->debug && a->foreground);
	TAP_ASSERT(b->debug && b->foreground);
	TAP_ASSERT(c->debug && c->foreground);
}

static void test_fuse_overlayfs_options(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o",
				 "lowerdir=/l,squash_to_root,squash_to_uid=1000,"
				 "squash_to_gid=0,static_nlink,noacl,"
				 "timeout=2.5,threaded=0,fsync=0,fast_ino=1,"
				 "writeback=1,noxattrs=1,plugins=,"
				 "xattr_permissions=2",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT(cfg->squash_to_root);
	TAP_ASSERT_INT(cfg->squash_to_uid, ==, 1000);
	TAP_ASSERT_INT(cfg->squash_to_gid, ==, 0);
	TAP_ASSERT(cfg->static_nlink && cfg->noacl);
	TAP_ASSERT(cfg->timeout == 2.5 && cfg->timeout_set);
	TAP_ASSERT(cfg->singlethread);
	TAP_ASSERT(!cfg->fsync);
	TAP_ASSERT(cfg->writeback && cfg->noxattrs);
	TAP_ASSERT_INT(cfg->xattr_permissions, ==, 2);
	TAP_ASSERT(cfg->fuse_mount_opts == NULL);
}

static void test_stratafs_own_options(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l,zero_open=1,dir_readahead=0,spin=0,passthrough=0",
				 "/mnt"), &cfg, NULL));
	TAP_ASSERT(cfg->zero_open);
	TAP_ASSERT(!cfg->dir_readahead);
	TAP_ASSERT(!cfg->passthrough);
	TAP_ASSERT_INT(cfg->spin_us, ==, 0);
	TAP_ASSERT(cfg->fuse_mount_opts == NULL);
}

static void test_kernel_overlay_options(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o",
				 "lowerdir=/l,redirect_dir=nofollow,metacopy=on,"
				 "index=on,xino=auto,nfs_export=off,userxattr,"
				 "uuid=null,default_permissions",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT(!cfg->redirect_dir);
	TAP_ASSERT(cfg->metacopy);
	TAP_ASSERT(cfg->userxattr);
	TAP_ASSERT(cfg->fuse_mount_opts == NULL);
}

static void test_fuse_session_options(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o",
				 "lowerdir=/l,allow_other,allow_root,"
				 "auto_unmount,clone_fd,max_threads=8,"
				 "max_idle_threads=2",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT(cfg->allow_other && cfg->allow_root);
	TAP_ASSERT(cfg->auto_unmount && cfg->clone_fd);
	TAP_ASSERT_INT(cfg->max_threads, ==, 8);
	TAP_ASSERT_INT(cfg->max_idle_threads, ==, 2);
	/* The daemon adds these to the libfuse arguments itself. */
	TAP_ASSERT(cfg->fuse_mount_opts == NULL);
}

static void test_mount_opts_passed_through(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o",
				 "lowerdir=/l,upperdir=/u,workdir=/w,ro,nodev,"
				 "nosuid,noatime,defaults,fsname=a\\,b,"
				 "max_read=131072",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT(cfg->read_only);
	TAP_ASSERT_STR(cfg->fuse_mount_opts, ==,
		       "ro,nodev,nosuid,noatime,fsname=a\\,b,max_read=131072");
}

static void test_rw_after_ro_clears_read_only(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l,ro,rw", "/mnt"), &cfg,
			    NULL));
	TAP_ASSERT(!cfg->read_only);
	TAP_ASSERT_STR(cfg->fuse_mount_opts, ==, "ro,rw");
}

static void test_selinux_context_with_categories(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	/* The quotes protect the ',' between MCS categories. */
	TAP_ASSERT_OK(parse(ARGV("-o",
				 "lowerdir=/l,context=\"system_u:object_r:"
				 "container_file_t:s0:c1,c2\",nodev",
				 "/mnt"),
			    &cfg, NULL));
	TAP_ASSERT_STR(cfg->selinux_mount_opts, ==,
		       "context=\"system_u:object_r:container_file_t:s0:c1\\,c2\"");
	TAP_ASSERT_STR(cfg->fuse_mount_opts, ==, "nodev");
}

static void test_mount8_words_accepted_and_dropped(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;

	/* podman's ":O" volumes pass "private"; fstab passes the rest */
	TAP_ASSERT_OK(parse(ARGV("-o", "lowerdir=/l,upperdir=/u,workdir=/w,private,"
				 "rshared,nofail,_netdev,x-systemd.automount,relatime,"
				 "lazytime,noexec", "/mnt"), &cfg, NULL));
	TAP_ASSERT_STR(cfg->fuse_mount_opts, ==, "noexec");
}

static void test_help_and_version(void)
{
	_cleanup_(sfs_config_freep) struct sfs_config *h = NULL, *h2 = NULL;
	_cleanup_(sfs_config_freep) struct sfs_config *v = NULL, *v2 = NULL;

	TAP_ASSERT_OK(parse(ARGV("--help"), &h, NULL));
	TAP_ASSERT_OK(parse(ARGV("-o", "bogus", "-h"), &h2, NULL));
	TAP_ASSERT_OK(parse(ARGV("--version"), &v, NULL));
	TAP_ASSERT_OK(parse(ARGV("-V"), &v2, NULL));
	TAP_ASSERT(h->show_help && h2->show_help);
	TAP_ASSERT(v->show_version && v2->show_version);
	TAP_ASSERT(h->mountpoint == NULL);
}

static void test_print_help_lists_options(void)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	TAP_ASSERT(f != NULL);
	sfs_config_print_help("stratafs", f);
	fclose(f);
	TAP_ASSERT(strstr(buf, "usage: stratafs") != NULL);
	TAP_ASSERT(strstr(buf, "lowerdir=") != NULL);
	TAP_ASSERT(strstr(buf, "uidmapping=") != NULL);
	TAP_ASSERT(strstr(buf, "allow_other") != NULL);
}

/* ---- rejected forms ---------------------------------------------------- */

static void test_unknown_option_rejected(void)
{
	check_rejected(ARGV("-o", "lowerdir=/l,foo", "/mnt"),
		       "unknown option 'foo'", NULL);
}

static void test_unknown_argv_flag_rejected(void)
{
	check_rejected(ARGV("-x", "/mnt"), "unknown option '-x'", NULL);
}

static void test_missing_o_argument_rejected(void)
{
	check_rejected(ARGV("/mnt", "-o"), "'-o'", "requires an argument");
}

static void test_too_many_words_rejected(void)
{
	check_rejected(ARGV("overlay", "/mnt", "/extra"), "'/extra'", NULL);
}

static void test_bad_timeout_rejected(void)
{
	check_rejected(ARGV("-o", "timeout=abc", "/mnt"), "'timeout'", "'abc'");
	check_rejected(ARGV("-o", "timeout=-1", "/mnt"), "'timeout'", "'-1'");
	check_rejected(ARGV("-o", "timeout=nan", "/mnt"), "'timeout'", "'nan'");
	check_rejected(ARGV("-o", "timeout=1s", "/mnt"), "'timeout'", "'1s'");
	check_rejected(ARGV("-o", "spin=10001", "/mnt"), "'spin'", "'10001'");
	check_rejected(ARGV("-o", "spin=-1", "/mnt"), "'spin'", "'-1'");
	check_rejected(ARGV("-o", "spin=", "/mnt"), "'spin'", "''");
}

static void test_bad_boolean_rejected(void)
{
	check_rejected(ARGV("-o", "threaded=2", "/mnt"), "'threaded'", "'2'");
	check_rejected(ARGV("-o", "fsync=yes", "/mnt"), "'fsync'", "'yes'");
	check_rejected(ARGV("-o", "dir_readahead=on", "/mnt"), "'dir_readahead'", "'on'");
	check_rejected(ARGV("-o", "passthrough=yes", "/mnt"), "'passthrough'", "'yes'");
	check_rejected(ARGV("-o", "metacopy=1", "/mnt"), "'metacopy'", "'1'");
	check_rejected(ARGV("-o", "xattr_permissions=3", "/mnt"),
		       "'xattr_permissions'", "'3'");
	check_rejected(ARGV("-o", "redirect_dir=maybe", "/mnt"),
		       "'redirect_dir'", "'maybe'");
}

static void test_bad_uidmapping_rejected(void)
{
	check_rejected(ARGV("-o", "uidmapping=1:2", "/mnt"), "'uidmapping'",
		       "'1:2'");
	check_rejected(ARGV("-o", "gidmapping=0:x:1", "/mnt"), "'gidmapping'",
		       "'0:x:1'");
	check_rejected(ARGV("-o", "uidmapping=", "/mnt"), "'uidmapping'", NULL);
}

static void test_bad_ids_rejected(void)
{
	check_rejected(ARGV("-o", "squash_to_uid=-1", "/mnt"),
		       "'squash_to_uid'", "'-1'");
	check_rejected(ARGV("-o", "squash_to_gid=4294967296", "/mnt"),
		       "'squash_to_gid'", NULL);
	check_rejected(ARGV("-o", "max_threads=many", "/mnt"), "'max_threads'",
		       "'many'");
}

static void test_value_arity_rejected(void)
{
	check_rejected(ARGV("-o", "noacl=1", "/mnt"), "'noacl'",
		       "takes no value");
	check_rejected(ARGV("-o", "lowerdir", "/mnt"), "'lowerdir'",
		       "requires a value");
}

static void test_empty_lowerdir_element_rejected(void)
{
	check_rejected(ARGV("-o", "lowerdir=/a::/b", "/mnt"), "'lowerdir'",
		       "'/a::/b'");
	check_rejected(ARGV("-o", "lowerdir=/a:", "/mnt"), "'lowerdir'", NULL);
	check_rejected(ARGV("-o", "lowerdir=", "/mnt"), "'lowerdir'", NULL);
	check_rejected(ARGV("-o", "upperdir=", "/mnt"), "'upperdir'", NULL);
}

static void test_plugins_rejected(void)
{
	check_rejected(ARGV("-o", "plugins=/usr/lib/p.so", "/mnt"),
		       "plugins are not supported", NULL);
}

static void test_unterminated_quote_rejected(void)
{
	check_rejected(ARGV("-o", "lowerdir=/l,context=\"a:b", "/mnt"),
		       "unterminated quote", NULL);
}

/* ---- sfs_config_validate() --------------------------------------------- */

/* Parses argv, then expects validation to fail with needle. */
static void check_invalid(char **argv, const char *needle)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;
	_cleanup_free_ char *msg = NULL;

	TAP_ASSERT_OK(parse(argv, &cfg, NULL));
	TAP_ASSERT_ERR(sfs_config_validate(cfg, &msg), EINVAL);
	TAP_ASSERT(msg != NULL);
	printf("#   message: %s\n", msg);
	TAP_ASSERT(strstr(msg, needle) != NULL);
}

static void test_validate_requires_mountpoint(void)
{
	check_invalid(ARGV("-o", "lowerdir=/l"), "no mountpoint given");
}

static void test_validate_requires_lowerdir(void)
{
	check_invalid(ARGV("-o", "upperdir=/u,workdir=/w", "/mnt"),
		      "no lowerdir given");
}

static void test_validate_upperdir_requires_workdir(void)
{
	check_invalid(ARGV("-o", "lowerdir=/l,upperdir=/u", "/mnt"),
		      "without workdir");
}

static void test_validate_upperdir_differs_from_workdir(void)
{
	check_invalid(ARGV("-o", "lowerdir=/l,upperdir=/x/u,workdir=/x//u/./",
			   "/mnt"),
		      "different directories");
}

/* ---- helpers exposed for tests ----------------------------------------- */

static void strv_freep(char ***v)
{
	for (char **i = *v; i && *i; i++)
		free(*i);
	free(*v);
}

static void test_split_lowerdirs(void)
{
	_cleanup_(strv_freep) char **dirs = NULL;
	size_t n = 0;

	TAP_ASSERT_OK(sfs_split_lowerdirs("a\\:b:c", &dirs, &n));
	TAP_ASSERT_INT(n, ==, 2);
	TAP_ASSERT_STR(dirs[0], ==, "a:b");
	TAP_ASSERT_STR(dirs[1], ==, "c");
	TAP_ASSERT(dirs[2] == NULL);
	/* On failure the outputs are left alone. */
	TAP_ASSERT_ERR(sfs_split_lowerdirs(":a", &dirs, &n), EINVAL);
	TAP_ASSERT_INT(n, ==, 2);
}

static void test_parse_idmap_forms(void)
{
	_cleanup_free_ struct sfs_idmap *map = NULL;
	struct sfs_idmap *bad = NULL;
	size_t n = 0;

	TAP_ASSERT_OK(sfs_parse_idmap(":0:1000:1:1:100000:65536", &map, &n));
	TAP_ASSERT_INT(n, ==, 2);
	TAP_ASSERT_ERR(sfs_parse_idmap("0:1000,1", &bad, &n), EINVAL);
	TAP_ASSERT_ERR(sfs_parse_idmap("0:1000:1:", &bad, &n), EINVAL);
	TAP_ASSERT_ERR(sfs_parse_idmap("0:1000:0", &bad, &n), EINVAL);
	TAP_ASSERT_ERR(sfs_parse_idmap("4294967295:0:2", &bad, &n), EINVAL);
	TAP_ASSERT_ERR(sfs_parse_idmap("0: 1:1", &bad, &n), EINVAL);
	TAP_ASSERT(bad == NULL);
}

static void test_parse_idmap_bound(void)
{
	_cleanup_free_ char *s = NULL;
	struct sfs_idmap *map = NULL;
	size_t n = 0, len = 0;
	FILE *f = open_memstream(&s, &len);

	TAP_ASSERT(f != NULL);
	for (int i = 0; i <= SFS_IDMAP_MAX; i++)
		fprintf(f, "%s%d:%d:1", i ? ":" : "", i, i + 1000);
	fclose(f);
	TAP_ASSERT_ERR(sfs_parse_idmap(s, &map, &n), E2BIG);
	TAP_ASSERT(map == NULL);
}

static void test_idmap_apply(void)
{
	/* uidmapping=0:1000:1:1:100000:65536 */
	const struct sfs_idmap map[] = {
		{ .inside = 1000, .outside = 0, .length = 1 },
		{ .inside = 100000, .outside = 1, .length = 65536 },
	};

	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 1000, true), ==, 0);
	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 100004, true), ==, 5);
	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 0, false), ==, 1000);
	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 65536, false), ==, 165535);
	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 65537, false), ==,
		       SFS_OVERFLOW_ID);
	TAP_ASSERT_INT(sfs_idmap_apply(map, 2, 5, true), ==, SFS_OVERFLOW_ID);
	TAP_ASSERT_INT(sfs_idmap_apply(NULL, 0, 42, true), ==, 42);
}

int main(void)
{
	TAP_TEST(test_defaults);
	TAP_TEST(test_basic_mount);
	TAP_TEST(test_podman_trailing_empty_option);
	TAP_TEST(test_podman_empty_elements_and_volatile);
	TAP_TEST(test_podman_leading_colon_uidmapping);
	TAP_TEST(test_uidmapping_comma_form_continues);
	TAP_TEST(test_readonly_several_lowers);
	TAP_TEST(test_readonly_ignores_workdir);
	TAP_TEST(test_lowerdir_escapes);
	TAP_TEST(test_later_duplicates_win);
	TAP_TEST(test_glued_o_and_multiple_o);
	TAP_TEST(test_source_word_and_type_ignored);
	TAP_TEST(test_debug_implies_foreground);
	TAP_TEST(test_fuse_overlayfs_options);
	TAP_TEST(test_stratafs_own_options);
	TAP_TEST(test_kernel_overlay_options);
	TAP_TEST(test_fuse_session_options);
	TAP_TEST(test_mount_opts_passed_through);
	TAP_TEST(test_rw_after_ro_clears_read_only);
	TAP_TEST(test_selinux_context_with_categories);
	TAP_TEST(test_mount8_words_accepted_and_dropped);
	TAP_TEST(test_help_and_version);
	TAP_TEST(test_print_help_lists_options);
	TAP_TEST(test_unknown_option_rejected);
	TAP_TEST(test_unknown_argv_flag_rejected);
	TAP_TEST(test_missing_o_argument_rejected);
	TAP_TEST(test_too_many_words_rejected);
	TAP_TEST(test_bad_timeout_rejected);
	TAP_TEST(test_bad_boolean_rejected);
	TAP_TEST(test_bad_uidmapping_rejected);
	TAP_TEST(test_bad_ids_rejected);
	TAP_TEST(test_value_arity_rejected);
	TAP_TEST(test_empty_lowerdir_element_rejected);
	TAP_TEST(test_plugins_rejected);
	TAP_TEST(test_unterminated_quote_rejected);
	TAP_TEST(test_validate_requires_mountpoint);
	TAP_TEST(test_validate_requires_lowerdir);
	TAP_TEST(test_validate_upperdir_requires_workdir);
	TAP_TEST(test_validate_upperdir_differs_from_workdir);
	TAP_TEST(test_split_lowerdirs);
	TAP_TEST(test_parse_idmap_forms);
	TAP_TEST(test_parse_idmap_bound);
	TAP_TEST(test_idmap_apply);
	return tap_done();
}
