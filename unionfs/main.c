/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - stratafs: command line, FUSE session, the operation table.
 *
 * Start-up order matters to container engines: every layer is opened and
 * the mount is made in the foreground process; only then does the daemon
 * detach, and the foreground process exits 0 once the kernel's INIT has
 * been answered, so the mount already answers when the caller goes on.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "stratafs.h"

/* Written to by the init callback when the daemon runs detached. */
struct daemon_state {
	int ready_fd;
};

static struct daemon_state daemon_state = { .ready_fd = -1 };

static void sfs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct sfs_fs *fs = userdata;

	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (!fs->cfg->noacl && !fs->cfg->noxattrs && (conn->capable & FUSE_CAP_POSIX_ACL))
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* With ACLs, a parent's default ACL replaces the umask: the kernel
	 * leaves the umask to the daemon, which knows the parent (dir.c). */
	if ((conn->want & FUSE_CAP_POSIX_ACL) && fs->upper && (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_DONT_MASK;
	fs->dont_mask = conn->want & FUSE_CAP_DONT_MASK;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* The kernel clears set-id bits and capabilities on write, truncate
	 * and chown itself, through setattr; libfuse 3.14 does not tell the
	 * daemon when it should. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/* With zero-message opens no OPEN arrives to truncate: O_TRUNC must
	 * come as a truncating SETATTR, as it does without atomic O_TRUNC. */
	if (fs->cfg->zero_open)
		conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* Locks are the kernel's own (single mount, local semantics). */
	conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
	/* Passthrough (passthrough.c): the kernel reads and writes the
	 * layers' files itself; it excludes the writeback cache. */
	fs->passthrough = fs->pt_offered;
	if (fs->pt_possible)
		sfs_log(SFS_LOG_DEBUG, "passthrough: %s", fs->passthrough ? "on" :
			"off, the kernel does not offer it");
	/* Writeback cache: small writes gather in the kernel's page cache
	 * and reach the daemon in large batches (file.c opens accordingly). */
	if (fs->passthrough)
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	else if (fs->cfg->writeback && fs->upper && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	fs->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	/* Readdirplus stays adaptive (the kernel's READDIRPLUS_AUTO): always
	 * answering with attributes makes a walk need no LOOKUP per entry
	 * (walk cold 1.34x of kernel overlayfs instead of 1.78x), but makes
	 * a plain listing read every inode from disk (ls -f of 20k entries
	 * 5.5x instead of 1.25x); measured on unionbench's full dataset. */
	conn->time_gran = 1;

	if (daemon_state.ready_fd >= 0) {
		char ok = 0;

		if (write(daemon_state.ready_fd, &ok, 1) < 0)
			sfs_log(SFS_LOG_WARNING, "cannot notify parent: %m");
		close(daemon_state.ready_fd);
		daemon_state.ready_fd = -1;
	}
}

static const struct fuse_lowlevel_ops sfs_ops = {
	.init = sfs_op_init,
	.lookup = sfs_op_lookup,
	.forget = sfs_op_forget,
	.forget_multi = sfs_op_forget_multi,
	.getattr = sfs_op_getattr,
	.setattr = sfs_op_setattr,
	.readlink = sfs_op_readlink,
	.mknod = sfs_op_mknod,
	.mkdir = sfs_op_mkdir,
	.unlink = sfs_op_unlink,
	.rmdir = sfs_op_rmdir,
	.symlink = sfs_op_symlink,
	.rename = sfs_op_rename,
	.link = sfs_op_link,
	.open = sfs_op_open,
	.read = sfs_op_read,
	.write_buf = sfs_op_write_buf,
	.flush = sfs_op_flush,
	.release = sfs_op_release,
	.fsync = sfs_op_fsync,
	.opendir = sfs_op_opendir,
	.readdir = sfs_op_readdir,
	.readdirplus = sfs_op_readdirplus,
	.releasedir = sfs_op_releasedir,
	.fsyncdir = sfs_op_fsyncdir,
	.statfs = sfs_op_statfs,
	.setxattr = sfs_op_setxattr,
	.getxattr = sfs_op_getxattr,
	.listxattr = sfs_op_listxattr,
	.removexattr = sfs_op_removexattr,
	.access = sfs_op_access,
	.create = sfs_op_create,
	.fallocate = sfs_op_fallocate,
	.copy_file_range = sfs_op_copy_file_range,
	.lseek = sfs_op_lseek,
};

static int make_root(struct sfs_fs *fs)
{
	struct sfs_node *root = sfs_node_new(fs, S_IFDIR);
	unsigned first = fs->upper ? 1 : 0;
	struct stat st;

	if (!root)
		return -ENOMEM;
	root->name = strdup("");
	root->lower = calloc(fs->n_layers, sizeof(*root->lower));
	if (!root->name || !root->lower) {
		sfs_node_free(root);
		return -ENOMEM;
	}
	root->in_upper = fs->upper != NULL;
	for (unsigned i = first; i < fs->n_layers; i++) {
		struct sfs_lent *l = &root->lower[root->n_lower];

		if (fstat(fs->layers[i].fd, &st) < 0 || !(l->path = strdup("."))) {
			sfs_node_free(root);
			return -ENOMEM;
		}
		l->layer = i;
		l->ino = st.st_ino;
		l->dev = st.st_dev;
		root->n_lower++;
	}
	if (root->n_lower > 0)
		root->st_ino = sfs_xino(fs, root->lower[root->n_lower - 1].layer,
					root->lower[root->n_lower - 1].ino);
	else if (fstat(fs->layers[0].fd, &st) == 0)
		root->st_ino = sfs_xino(fs, 0, st.st_ino);
	root->refs = 1;
	fs->root = root;
	return 0;
}

static int fs_init(struct sfs_fs *fs, const struct sfs_config *cfg, char **ret_msg)
{
	int r;

	fs->cfg = cfg;
	fs->timeout = cfg->timeout;
	pthread_rwlock_init(&fs->tree_lock, NULL);
	pthread_mutex_init(&fs->itable_lock, NULL);
	pthread_mutex_init(&fs->listing_lock, NULL);
	r = sfs_itable_init(&fs->itable);
	if (r < 0)
		return r;
	r = sfs_layers_open(fs, ret_msg);
	if (r < 0)
		return r;
	return make_root(fs);
}

/* The "-o" string for libfuse: our defaults, then the user's options. */
static int fuse_opts(const struct sfs_config *cfg, char **ret)
{
	bool root = geteuid() == 0;
	bool selinux = cfg->selinux_mount_opts && access("/sys/fs/selinux/enforce", F_OK) == 0;

	return asprintf(ret, "default_permissions,fsname=stratafs,subtype=stratafs%s%s%s%s%s%s%s%s%s",
			root || cfg->allow_other ? ",allow_other" : "",
			cfg->allow_root && !root ? ",allow_root" : "",
			cfg->auto_unmount ? ",auto_unmount" : "",
			root ? ",suid,dev" : "",
			cfg->upperdir ? "" : ",ro",
			cfg->fuse_mount_opts ? "," : "",
			cfg->fuse_mount_opts ? cfg->fuse_mount_opts : "",
			selinux ? "," : "",
			selinux ? cfg->selinux_mount_opts : "") < 0 ? -ENOMEM : 0;
}

/* Fork; the parent exits with the child's verdict once the mount answers. */
static int detach(void)
{
	int p[2], null;
	pid_t pid;
	char st;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &st, 1) == 1 && st == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
	}
	close(p[0]);
	setsid();
	if (chdir("/") < 0)
		return -errno;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
	daemon_state.ready_fd = p[1];
	return 0;
}

static int run(struct sfs_fs *fs, const struct sfs_config *cfg, const char *argv0)
{
	_cleanup_free_ char *opts = NULL;
	sigset_t stop_signals, wait_mask;
	struct fuse_session *se;
	int r;

	r = fuse_opts(cfg, &opts);
	if (r < 0)
		return r;
	char *fargv[] = { (char *)argv0, "-o", opts, cfg->debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(cfg->debug ? 4 : 3, fargv);

	se = fuse_session_new(&args, &sfs_ops, sizeof(sfs_ops), fs);
	fuse_opt_free_args(&args); /* libfuse may have copied them */
	if (!se)
		return -EINVAL;
	fs->se = se;
	r = -EIO;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_destroy;
	if (fuse_session_mount(se, cfg->mountpoint) < 0)
		goto out_handlers;
	sfs_passthrough_setup(fs, se);
	if (!cfg->foreground) {
		r = detach();
		if (r < 0)
			goto out_unmount;
	}
	/* The signals that end the session (libfuse's handlers) reach the
	 * thread that waits for them only: every thread made from here on
	 * starts with them blocked. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &wait_mask);
	/* after the fork: threads do not survive it */
	r = sfs_notifier_start(fs);
	if (r == 0)
		r = sfs_prefetch_start(fs);
	if (r < 0)
		goto out_threads;
	if (!cfg->clone_fd) {
		struct sfs_loop_config lc = {
			.fs = fs,
			.wait_mask = &wait_mask,
			.spin_us = cfg->spin_us,
			.max_threads = cfg->singlethread ? 1 : cfg->max_threads,
			.max_idle_threads = cfg->max_idle_threads >= 0 ?
					    (unsigned)cfg->max_idle_threads : 10,
		};

		r = sfs_loop_run(se, &lc);
	} else if (cfg->singlethread) {
		pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
		r = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();

		pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
		fuse_loop_cfg_set_clone_fd(lc, cfg->clone_fd);
		fuse_loop_cfg_set_idle_threads(lc, cfg->max_idle_threads >= 0 ?
					       (unsigned)cfg->max_idle_threads : 10);
		if (cfg->max_threads)
			fuse_loop_cfg_set_max_threads(lc, cfg->max_threads);
		r = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
out_threads:
	/* the layers go before the clean-up (our own loop let go of them as
	 * soon as the session ended, loop.c) */
	if (cfg->clone_fd)
		sfs_layers_release(fs);
	sfs_prefetch_stop(fs);
	sfs_notifier_stop(fs);
	pthread_sigmask(SIG_SETMASK, &wait_mask, NULL);
out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *msg = NULL;
	struct sfs_config *cfg = NULL;
	struct sfs_fs fs = { 0 };
	int r;

	r = sfs_config_parse(argc, argv, &cfg, &msg);
	if (r == 0 && cfg->show_help) {
		sfs_config_print_help(argv[0], stdout);
		sfs_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (r == 0 && cfg->show_version) {
		printf("stratafs: version %s\nFUSE library version %s\n",
		       STRATA_VERSION, fuse_pkgversion());
		sfs_config_free(cfg);
		return EXIT_SUCCESS;
	}
	if (r == 0)
		r = sfs_config_validate(cfg, &msg);
	if (r < 0) {
		fprintf(stderr, "stratafs: %s\n", msg ? msg : strerror(-r));
		fprintf(stderr, "Try 'stratafs --help' for more information.\n");
		sfs_config_free(cfg);
		return EXIT_FAILURE;
	}
	umask(0);
	sfs_log_set_debug(cfg->debug);
	r = fs_init(&fs, cfg, &msg);
	if (r < 0) {
		fprintf(stderr, "stratafs: %s\n", msg ? msg : strerror(-r));
		sfs_layers_close(&fs);
		sfs_config_free(cfg);
		return EXIT_FAILURE;
	}
	r = run(&fs, cfg, argv[0]);
	if (r < 0 && cfg->foreground)
		fprintf(stderr, "stratafs: %s\n", strerror(-r));
	sfs_listing_cache_clear(&fs);
	sfs_itable_destroy(&fs);
	free(fs.handle_ring);
	sfs_node_free(fs.root);
	sfs_layers_close(&fs);
	sfs_config_free(cfg);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
