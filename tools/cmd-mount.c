/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-mount.c - `mount` and `umount`: start stratafs on a container's layer
 * stack and record the mount, or unmount and clear the record.
 *
 * stratafs takes fuse-overlayfs's command line (DESIGN.md, contract 1):
 *   stratafs -o lowerdir=TOP:...:BASE,upperdir=U,workdir=W MOUNTPOINT
 * and daemonizes once mounted, so its exit status tells whether the mount
 * worked.  Not root, it adds xattr_permissions=2: owners and modes the user
 * could not give the layers' files are read from user.containers.override_stat
 * (except for `strata run` when the user has no subordinate ids, see
 * cmd-run.c; with them, `strata run` starts stratafs itself, in its user
 * namespace, with the options of tool_stratafs_options()).
 * The container lock is held throughout, so a commit or another mount of the
 * same container waits.
 */
#include <getopt.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "tool.h"

int tool_unmount(struct ldb *db, const struct ldb_digest *id, const char *mountpoint);

bool tool_mount_emulate_owners = true;

static int wait_mount(const char *mp, bool mounted)
{
	for (int i = 0; i < 500; i++) {
		if ((tool_is_mountpoint(mp) > 0) == mounted)
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return -ETIMEDOUT;
}

static int lowerdirs(struct ldb *db, const struct ldb_digest *image, char **ret)
{
	_cleanup_free_ struct ldb_digest *layers = NULL;
	_cleanup_free_ char *s = NULL;
	size_t n, len = 0;
	int r;

	r = ldb_image_chain(db, image, NULL, &layers, &n);
	if (r < 0)
		return r;
	s = malloc(n * (strlen(ldb_root(db)) + 48) + 1);
	if (!s)
		return -ENOMEM;
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char hex[LDB_DIGEST_HEX_LEN + 1];

		ldb_digest_hex(&layers[i], hex);
		len += (size_t)sprintf(s + len, "%s%s/layers/%s", i ? ":" : "", ldb_root(db), hex);
	}
	*ret = steal_pointer(&s);
	return 0;
}

int tool_stratafs_options(struct ldb *db, const struct ldb_container_info *c, const char *mp,
			  bool emulate_owners, char **ret)
{
	_cleanup_free_ char *lower = NULL;
	char *o;
	int r;

	if (strpbrk(ldb_root(db), ":,") || strpbrk(mp, ","))
		return tool_err("cannot mount: the store path and mountpoint must not contain ':' "
				"or ','"), -EINVAL;
	r = lowerdirs(db, &c->image, &lower);
	if (r < 0)
		return tool_fail(db, r, "cannot resolve the layers of the container"), r;
	/* Unprivileged, the layers' owners and modes are emulated in
	 * user.containers.override_stat (archive.c, fsutil.c): show them, and
	 * record chown/chmod there too. */
	if (asprintf(&o, "lowerdir=%s,upperdir=%s,workdir=%s%s", lower, c->upper, c->work,
		     emulate_owners ? ",xattr_permissions=2" : "") < 0)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int start_daemon(struct ldb *db, const struct ldb_container_info *c, const char *mp)
{
	_cleanup_free_ char *bin = tool_find_stratafs(), *o = NULL;
	int r;

	r = tool_stratafs_options(db, c, mp, geteuid() != 0 && tool_mount_emulate_owners, &o);
	if (r < 0)
		return r;
	r = tool_run((char *const[]){ bin, "-o", o, (char *)mp, NULL }, false);
	if (r != 0) {
		tool_err("cannot mount on '%s': %s exited with status %d%s", mp, bin, r,
			 r == 127 ? " (not found; set STRATAFS)" : "");
		return -EIO;
	}
	r = wait_mount(mp, true);
	if (r < 0)
		tool_err("cannot mount on '%s': %s did not mount it", mp, bin);
	return r;
}

static const struct cmd_help mount_help = {
	"mount [--name NAME] IMAGE|CONTAINER MOUNTPOINT",
	"Mount a container on MOUNTPOINT with stratafs ($STRATAFS, or next to strata,\n"
	"or in $PATH).  Given an image, a new container is created first.  Prints the\n"
	"container id.",
	"      --name NAME  name of the container created from an image\n",
};

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		TOOL_HELP_OPTION,
		{}
	};
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info info = { 0 };
	_cleanup_free_ char *mp = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct ldb_digest id, image;
	const char *name = NULL, *ref;
	bool created = false;
	char sid[TOOL_ID_MAX];
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		case 'n': name = optarg; break;
		GETOPT_COMMON(&mount_help);
		}
	}
	if (argc - optind != 2)
		return tool_usage_error(&mount_help, "expected IMAGE|CONTAINER and MOUNTPOINT");
	ref = argv[optind];
	mp = realpath(argv[optind + 1], NULL);
	if (!mp) {
		tool_err("cannot mount on '%s': %m", argv[optind + 1]);
		return EXIT_FAIL;
	}
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	if (tool_is_mountpoint(mp) > 0) {
		tool_err("cannot mount on '%s': something is already mounted there", mp);
		return EXIT_FAIL;
	}
	r = ldb_container_resolve(db, ref, &id);
	if (r < 0 || name) {
		r = ldb_image_resolve(db, ref, &image);
		if (r < 0)
			return tool_fail(db, r, "no such image or container '%s'", ref);
		r = ldb_container_create(db, &image, name, &id);
		if (r < 0)
			return tool_fail(db, r, "cannot create a container from '%s'", ref);
		created = true;
	}
	r = lock = ldb_container_lock(db, &id);
	if (r >= 0)
		r = ldb_container_get(db, &id, &info);
	if (r >= 0)
		r = ldb_container_set_mount(db, &id, mp);
	if (r < 0) {
		tool_fail(db, r, "cannot mount container '%s'", ref);
		goto fail;
	}
	r = start_daemon(db, &info, mp);
	if (r < 0) {
		(void)ldb_container_set_mount(db, &id, NULL);
		goto fail;
	}
	printf("%s\n", tool_id(&id, true, sid));
	return EXIT_OK;
fail:
	if (created)
		(void)ldb_container_remove(db, &id, 0);
	return EXIT_FAIL;
}

int tool_unmount(struct ldb *db, const struct ldb_digest *id, const char *mountpoint)
{
	int r;

	if (tool_is_mountpoint(mountpoint) > 0) {
		r = tool_run((char *const[]){ "fusermount3", "-u", (char *)mountpoint, NULL }, true);
		if (r != 0 && geteuid() == 0)
			r = umount2(mountpoint, 0) < 0 ? -errno : 0;
		if (r != 0) {
			tool_err("cannot unmount '%s': %s", mountpoint,
				 r < 0 ? strerror(-r) : "fusermount3 failed (busy?)");
			return -EBUSY;
		}
		r = wait_mount(mountpoint, false);
		if (r < 0) {
			tool_err("cannot unmount '%s': still mounted", mountpoint);
			return r;
		}
	}
	r = ldb_container_set_mount(db, id, NULL);
	if (r < 0)
		return tool_fail(db, r, "cannot record the unmount of '%s'", mountpoint), r;
	return 0;
}

static const struct cmd_help umount_help = {
	"umount MOUNTPOINT|CONTAINER",
	"Unmount a container.",
	NULL,
};

int cmd_umount(int argc, char **argv)
{
	static const struct option opts[] = { TOOL_HELP_OPTION, {} };
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info info = { 0 };
	_cleanup_free_ char *mp = NULL;
	_cleanup_close_ int lock = -EBADF;
	struct ldb_digest id;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) >= 0) {
		switch (c) {
		GETOPT_COMMON(&umount_help);
		}
	}
	if (argc - optind != 1)
		return tool_usage_error(&umount_help, "expected MOUNTPOINT or CONTAINER");
	if (tool_open(&db) < 0)
		return EXIT_FAIL;
	mp = realpath(argv[optind], NULL);
	r = mp ? ldb_container_by_mountpoint(db, mp, &id) : -ENOENT;
	if (r < 0)
		r = ldb_container_resolve(db, argv[optind], &id);
	if (r < 0)
		return tool_fail(db, r, "cannot unmount '%s'", argv[optind]);
	r = lock = ldb_container_lock(db, &id);
	if (r >= 0)
		r = ldb_container_get(db, &id, &info);
	if (r < 0)
		return tool_fail(db, r, "cannot unmount '%s'", argv[optind]);
	if (!info.mountpoint) {
		tool_err("cannot unmount '%s': container %s is not mounted", argv[optind], info.name);
		return EXIT_FAIL;
	}
	r = tool_unmount(db, &id, info.mountpoint);
	return r < 0 ? EXIT_FAIL : EXIT_OK;
}
