/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * layer.c - the layer stack: open every layer once, probe the upper layer.
 *
 * Every layer is opened as an O_PATH directory fd at start-up, before the
 * daemon detaches, and all later access is relative to these fds: a layer
 * path that disappears afterwards (podman detaches its idmapped lower
 * mounts right after the mount program returns) does not matter.
 *
 * The work directory holds "work/" (temporaries of copy-up, whiteouts,
 * atomic creations; emptied at every mount, as overlayfs does) and
 * "sfs-index/" (upper copies of lower hard-linked files, see copyup.c).
 * What the upper permits is probed once here and stored in struct sfs_fs,
 * read-only afterwards: char-device whiteouts (CAP_MKNOD), trusted.* xattrs
 * (CAP_SYS_ADMIN), chown to other users.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stratafs.h"

static int open_dir(const char *kind, const char *path, int *ret_fd,
		    struct stat *ret_st, char **ret_msg)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int r = -errno;

		if (asprintf(ret_msg, "cannot open %s '%s': %s", kind, path,
			     strerror(-r)) < 0)
			*ret_msg = NULL;
		return r;
	}
	if (fstat(fd, ret_st) < 0) {
		int r = -errno;

		close(fd);
		if (asprintf(ret_msg, "cannot stat %s '%s': %s", kind, path,
			     strerror(-r)) < 0)
			*ret_msg = NULL;
		return r;
	}
	*ret_fd = fd;
	return 0;
}

_printf_(3, 4) static int fail(char **ret_msg, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_msg, fmt, ap) < 0)
		*ret_msg = NULL;
	va_end(ap);
	return r;
}

/* Is path equal to dir or below it?  Both are canonical. */
static bool path_within(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

static int check_not_in_mountpoint(const struct sfs_config *cfg, const char *path,
				   char **ret_msg)
{
	_cleanup_free_ char *mnt = realpath(cfg->mountpoint, NULL);
	_cleanup_free_ char *real = realpath(path, NULL);

	if (!mnt)
		return fail(ret_msg, -errno, "cannot resolve mountpoint '%s'",
			    cfg->mountpoint);
	if (real && path_within(real, mnt))
		return fail(ret_msg, -EINVAL,
			    "layer '%s' is inside the mountpoint", path);
	return 0;
}

/* Is fd on an idmapped mount?  Looked up by mount id in mountinfo. */
static bool on_idmapped_mount(int fd)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	struct statx stx;
	size_t cap = 0;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return false;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		unsigned long long id;
		char opts[4096];

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ..." */
		if (sscanf(line, "%llu %*u %*s %*s %*s %4095s", &id, opts) != 2 ||
		    id != stx.stx_mnt_id)
			continue;
		for (char *o = strtok(opts, ","); o; o = strtok(NULL, ","))
			if (strcmp(o, "idmapped") == 0)
				return true;
		return false;
	}
	return false;
}

static int add_layer(struct sfs_fs *fs, const char *kind, const char *path,
		     bool upper, char **ret_msg)
{
	struct sfs_layer *l = &fs->layers[fs->n_layers];
	struct stat st;
	int r;

	r = check_not_in_mountpoint(fs->cfg, path, ret_msg);
	if (r < 0)
		return r;
	r = open_dir(kind, path, &l->fd, &st, ret_msg);
	if (r < 0)
		return r;
	l->path = strdup(path);
	if (!l->path) {
		close(l->fd);
		return -ENOMEM;
	}
	l->dev = st.st_dev;
	l->idx = fs->n_layers;
	l->upper = upper;
	l->idmapped = !upper && on_idmapped_mount(l->fd);
	if (l->idmapped)
		sfs_log(SFS_LOG_DEBUG, "layer %s is on an idmapped mount", path);
	fs->n_layers++;
	return 0;
}

/* Number the distinct devices of the stack (xino, see inode.c). */
static void assign_xino(struct sfs_fs *fs)
{
	unsigned ndev = 0;

	for (unsigned i = 0; i < fs->n_layers; i++) {
		unsigned j;

		for (j = 0; j < i; j++)
			if (fs->layers[j].dev == fs->layers[i].dev)
				break;
		fs->layers[i].xino_id = j < i ? fs->layers[j].xino_id : ndev++;
	}
	fs->same_dev = ndev == 1;
	fs->xino_bits = 1;
	while ((1u << fs->xino_bits) < ndev)
		fs->xino_bits++;
}

static void probe_upper(struct sfs_fs *fs)
{
	char name[64];
	int fd;

	/* Whiteouts: the kernel format needs CAP_MKNOD. */
	sfs_work_tmpname(fs, name, sizeof(name));
	if (sfs_mknodat(fs->workfd, name, S_IFCHR, makedev(0, 0)) == 0) {
		fs->wh_style = SFS_WHITEOUT_CHARDEV;
		/* the first shared whiteout inode (dir.c) */
		if (sfs_renameat(fs->workfd, name, fs->workfd, SFS_SHARED_WHITEOUT) < 0)
			sfs_unlinkat(fs->workfd, name, 0);
		sfs_shared_whiteout_update(fs);
	} else {
		fs->wh_style = SFS_WHITEOUT_WHNAME;
	}

	sfs_work_tmpname(fs, name, sizeof(name));
	fd = sfs_openat(fs->workfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	fs->trusted_xattrs = !fs->cfg->userxattr &&
		fsetxattr(fd, "trusted.overlay.sfsprobe", "y", 1, 0) == 0;
	fs->can_chown = geteuid() == 0 && fchown(fd, 1, 1) == 0;
	/* metacopy and redirects need xattrs on the upper filesystem */
	if (!fs->trusted_xattrs &&
	    fsetxattr(fd, "user.overlay.sfsprobe", "y", 1, 0) < 0)
		fs->metacopy = false;
	close(fd);
	sfs_unlinkat(fs->workfd, name, 0);
}

static int open_workdir(struct sfs_fs *fs, char **ret_msg)
{
	const struct sfs_config *cfg = fs->cfg;
	_cleanup_close_ int wfd = -EBADF;
	struct stat st;
	int r;

	r = check_not_in_mountpoint(cfg, cfg->workdir, ret_msg);
	if (r < 0)
		return r;
	wfd = open(cfg->workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wfd < 0)
		return fail(ret_msg, -errno, "cannot open workdir '%s'", cfg->workdir);
	if (fstat(wfd, &st) < 0)
		return -errno;
	if (st.st_dev != fs->upper->dev)
		return fail(ret_msg, -EXDEV,
			    "workdir '%s' and upperdir must be on the same filesystem",
			    cfg->workdir);
	if (access(cfg->upperdir, W_OK) < 0)
		return fail(ret_msg, -errno, "upperdir '%s' is not writable",
			    cfg->upperdir);

	/* Leftovers of an earlier mount are garbage: a copy-up that never
	 * reached its rename. */
	r = sfs_rm_rf_at(wfd, "work");
	if (r < 0)
		return fail(ret_msg, r, "cannot clean workdir '%s'", cfg->workdir);
	if (sfs_mkdirat(wfd, "work", 0700) < 0)
		return fail(ret_msg, -errno, "cannot create '%s/work'", cfg->workdir);
	if (sfs_mkdirat(wfd, "sfs-index", 0700) < 0 && errno != EEXIST)
		return fail(ret_msg, -errno, "cannot create '%s/sfs-index'",
			    cfg->workdir);
	fs->workfd = sfs_openat(wfd, "work", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->workfd < 0)
		return -errno;
	fs->indexfd = sfs_openat(wfd, "sfs-index", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->indexfd < 0)
		return -errno;
	return 0;
}

int sfs_layers_open(struct sfs_fs *fs, char **ret_msg)
{
	const struct sfs_config *cfg = fs->cfg;
	int r;

	*ret_msg = NULL;
	fs->workfd = fs->indexfd = -EBADF;
	fs->layers = calloc(cfg->n_lower + 1, sizeof(*fs->layers));
	if (!fs->layers)
		return -ENOMEM;
	if (cfg->upperdir) {
		r = add_layer(fs, "upperdir", cfg->upperdir, true, ret_msg);
		if (r < 0)
			return r;
		fs->upper = &fs->layers[0];
	}
	for (size_t i = 0; i < cfg->n_lower; i++) {
		r = add_layer(fs, "lowerdir", cfg->lowerdirs[i], false, ret_msg);
		if (r < 0)
			return r;
	}
	assign_xino(fs);
	fs->metacopy = cfg->metacopy && fs->upper;
	if (fs->upper) {
		r = open_workdir(fs, ret_msg);
		if (r < 0)
			return r;
		probe_upper(fs);
		r = sfs_index_open(fs);
		if (r < 0)
			return fail(ret_msg, r, "cannot read the index in workdir '%s'",
				    cfg->workdir);
	}
	return 0;
}

void sfs_layers_release(struct sfs_fs *fs)
{
	int fds[] = { fs->workfd, fs->indexfd, sfs_index_logfd(fs) };
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0)
		return; /* sfs_layers_close() will do */
	for (unsigned i = 0; i < fs->n_layers; i++)
		dup3(null, fs->layers[i].fd, O_CLOEXEC);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			dup3(null, fds[i], O_CLOEXEC);
	close(null);
}

void sfs_layers_close(struct sfs_fs *fs)
{
	sfs_index_close(fs);
	for (unsigned i = 0; i < fs->n_layers; i++) {
		close(fs->layers[i].fd);
		free(fs->layers[i].path);
	}
	free(fs->layers);
	fs->layers = NULL;
	fs->n_layers = 0;
	if (fs->workfd >= 0)
		close(fs->workfd);
	if (fs->indexfd >= 0)
		close(fs->indexfd);
}
