/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * passthrough.c - the kernel reads and writes open files itself.
 *
 * Since Linux 6.9 a FUSE daemon may answer an open with a "backing file":
 * an fd it registered on the device (FUSE_DEV_IOC_BACKING_OPEN).  Reads,
 * writes and mmap of that open file then go from the kernel straight to
 * the layer's file, as in kernel overlayfs: no request, no copy through
 * the daemon, no second page cache.  Warm and cold reads of big files,
 * random reads and small writes all cost what they cost on the layer.
 *
 * libfuse 3.14 knows nothing of it, so this file speaks that part of the
 * protocol itself, through libfuse's custom I/O hooks: it sees the
 * kernel's INIT (through the session loop) and adds FUSE_PASSTHROUGH to
 * the answer, and it adds FOPEN_PASSTHROUGH and the backing id to the
 * answer of an open or create.  Everything else goes out untouched.
 *
 * Conditions: the kernel offers it; the daemon has CAP_SYS_ADMIN in the
 * initial user namespace (the kernel's condition for registering a
 * backing file); our own session loop (not clone_fd); opens are sent
 * (not zero_open).  The kernel refuses passthrough together with the
 * writeback cache; passthrough replaces it.
 *
 * The kernel's rules, and how the daemon keeps them:
 * - All opens of one FUSE inode at a time share one backing file.  A node
 *   keeps its backing id while it has open files; the last release closes
 *   it.
 * - A lower file open for reading through a backing file cannot switch
 *   to the copy made by a copy-up: the kernel would refuse the open that
 *   writes the copy.  Such an open (or any open once the copy exists) gets
 *   ESTALE after the node is taken out of the namespace; the kernel then
 *   looks the name up again (LOOKUP_REVAL), finds a new node, made from
 *   the copy, and opens that.  The readers that were there keep reading
 *   the lower file, as on kernel overlayfs before 4.19 and on
 *   fuse-overlayfs.  The copy is made before the node is replaced, so that
 *   no open of the new node passes the lower file through again, which
 *   would send the writer's retry back to ESTALE.  The replaced node keeps
 *   an fd of the copy: its readers' fchmod, futimens and xattrs change the
 *   copy, as through the name, and their fstat shows it, with the size of
 *   the lower file they read.  An open of the replaced node itself (of
 *   /proc/PID/fd/N) reads the lower file too; one that writes gets ESTALE:
 *   the kernel cannot pass one inode through to two files.
 * - A file whose backing file cannot be registered (a layer on a
 *   stacked file system, for one) is served by the daemon, cached, and so
 *   are the node's next opens while any such file is open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stratafs.h"

/* From the kernel's <linux/fuse.h> (7.40), newer than Debian 12's copy. */
#define SFS_FUSE_INIT 26
#define SFS_FUSE_INIT_EXT (1u << 30)
#define SFS_FUSE_WRITEBACK_CACHE (1u << 16)
#define SFS_FUSE_PASSTHROUGH_FLAGS2 (1u << (37 - 32))
#define SFS_FOPEN_NOFLUSH (1u << 5)
#define SFS_FOPEN_PASSTHROUGH (1u << 7)

struct sfs_fuse_init_in {
	uint32_t major, minor, max_readahead, flags, flags2;
};

struct sfs_fuse_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};

/* fields of struct fuse_init_out, by offset */
#define INIT_OUT_FLAGS 12
#define INIT_OUT_FLAGS2 32
#define INIT_OUT_MAX_STACK_DEPTH 36
#define INIT_OUT_SIZE 64

struct sfs_fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};

#define SFS_FUSE_ENTRY_OUT_SIZE 128 /* a create's answer: entry, then open */

struct sfs_fuse_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};

#define SFS_FUSE_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct sfs_fuse_backing_map)
#define SFS_FUSE_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* Backing files may live on a file system that is not stacked itself;
 * one more file system may stack on this mount (kernel overlayfs allows
 * two levels). */
#define SFS_PT_STACK_DEPTH 1

/* The answer this thread sends next gets patched (set just before the
 * libfuse call that sends it). */
static _Thread_local struct {
	bool init;
	bool open;
	int32_t backing_id;
} patch;

static bool capable_sys_admin(void)
{
	char line[256];
	bool init_ns = false, cap = false;
	FILE *f = fopen("/proc/self/uid_map", "re");

	if (f) {
		unsigned long inner, outer, count;

		init_ns = fscanf(f, "%lu %lu %lu", &inner, &outer, &count) == 3 &&
			  inner == 0 && outer == 0 && count == 4294967295ul;
		fclose(f);
	}
	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;

		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			cap = eff & (1ull << 21); /* CAP_SYS_ADMIN */
			break;
		}
	}
	fclose(f);
	return init_ns && cap;
}

static void patch_init(struct iovec *out, unsigned char *copy)
{
	uint32_t flags, flags2, depth = SFS_PT_STACK_DEPTH;

	memcpy(copy, out->iov_base, out->iov_len);
	memcpy(&flags, copy + INIT_OUT_FLAGS, 4);
	memcpy(&flags2, copy + INIT_OUT_FLAGS2, 4);
	flags |= SFS_FUSE_INIT_EXT;
	flags &= ~SFS_FUSE_WRITEBACK_CACHE;
	flags2 |= SFS_FUSE_PASSTHROUGH_FLAGS2;
	memcpy(copy + INIT_OUT_FLAGS, &flags, 4);
	memcpy(copy + INIT_OUT_FLAGS2, &flags2, 4);
	memcpy(copy + INIT_OUT_MAX_STACK_DEPTH, &depth, 4);
	out->iov_base = copy;
}

static void patch_open(struct iovec *out, unsigned char *copy, int32_t backing_id)
{
	struct sfs_fuse_open_out o;
	size_t at = out->iov_len - sizeof(o); /* last in an open's and a create's answer */

	memcpy(copy, out->iov_base, out->iov_len);
	memcpy(&o, copy + at, sizeof(o));
	/* The kernel takes no other flag with it (keep_cache, direct_io).
	 * Without keep_cache it drops the inode's cached pages at this open,
	 * so pages cached for a file the daemon served before never outlive
	 * writes made through passthrough. */
	o.open_flags = (o.open_flags & SFS_FOPEN_NOFLUSH) | SFS_FOPEN_PASSTHROUGH;
	o.backing_id = backing_id;
	memcpy(copy + at, &o, sizeof(o));
	out->iov_base = copy;
}

/* libfuse sends an answer as [header, argument]. */
static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct sfs_fs *fs = userdata;
	unsigned char copy[256];
	struct iovec v[2];

	if (!(patch.init || patch.open))
		return writev(fd, iov, count);
	if (count == 2 && iov[0].iov_len == sizeof(struct sfs_fuse_out_header) &&
	    ((struct sfs_fuse_out_header *)iov[0].iov_base)->error == 0 &&
	    iov[1].iov_len <= sizeof(copy)) {
		v[0] = iov[0];
		v[1] = iov[1];
		if (patch.init && fs->passthrough &&
		    v[1].iov_len >= INIT_OUT_MAX_STACK_DEPTH + 4) {
			patch_init(&v[1], copy);
			iov = v;
		} else if (patch.open && (v[1].iov_len == sizeof(struct sfs_fuse_open_out) ||
					  v[1].iov_len == SFS_FUSE_ENTRY_OUT_SIZE +
							  sizeof(struct sfs_fuse_open_out))) {
			patch_open(&v[1], copy, patch.backing_id);
			iov = v;
		}
	}
	patch.init = patch.open = false;
	return writev(fd, iov, count);
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	return read(fd, buf, len);
}

static ssize_t io_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			 unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io pt_io = {
	.writev = io_writev,
	.read = io_read,
	.splice_receive = io_splice,
	.splice_send = io_splice,
};

/*
 * The kernel opens a backing file with the flags of the open it serves,
 * so reading a lower file through passthrough would update its atime,
 * which the daemon's own opens avoid with O_NOATIME (kernel overlayfs
 * does the same).  Backing files are opened on the mount of the fd the
 * daemon registered: each lower layer is reached through a private,
 * detached copy of its mount that does not update access times.
 */
static void lower_layers_noatime(struct sfs_fs *fs)
{
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_NOATIME, .attr_clr = MOUNT_ATTR__ATIME };

	for (unsigned i = 0; i < fs->n_layers; i++) {
		struct sfs_layer *l = &fs->layers[i];
		int fd;

		if (l->upper)
			continue;
		fd = open_tree(l->fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
			       AT_EMPTY_PATH | AT_RECURSIVE);
		if (fd < 0) {
			sfs_log(SFS_LOG_DEBUG, "%s: no private mount: %s", l->path, strerror(errno));
			continue;
		}
		if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
			sfs_log(SFS_LOG_DEBUG, "%s: cannot set noatime: %s", l->path, strerror(errno));
			close(fd);
			continue;
		}
		close(l->fd);
		l->fd = fd;
	}
}

void sfs_passthrough_setup(struct sfs_fs *fs, struct fuse_session *se)
{
	const struct sfs_config *cfg = fs->cfg;

	pthread_mutex_init(&fs->pt_lock, NULL);
	if (!cfg->passthrough || cfg->clone_fd || cfg->zero_open || !capable_sys_admin())
		return;
	if (fuse_session_custom_io(se, &pt_io, fuse_session_fd(se)) == 0) {
		fs->pt_possible = true;
		lower_layers_noatime(fs);
	}
}

void sfs_passthrough_request(struct sfs_fs *fs, const struct fuse_buf *buf)
{
	const struct sfs_fuse_in_header *h = buf->mem;
	struct sfs_fuse_init_in in;

	if (!fs->pt_possible || (buf->flags & FUSE_BUF_IS_FD) ||
	    buf->size < sizeof(*h) + sizeof(in) || h->opcode != SFS_FUSE_INIT)
		return;
	memcpy(&in, (const char *)buf->mem + sizeof(*h), sizeof(in));
	fs->pt_offered = (in.flags & SFS_FUSE_INIT_EXT) &&
			 (in.flags2 & SFS_FUSE_PASSTHROUGH_FLAGS2);
	patch.init = fs->pt_offered;
}

void sfs_passthrough_request_done(void)
{
	patch.init = false;
	patch.open = false;
}

void sfs_passthrough_replace(struct sfs_fs *fs, struct sfs_node *n, int copy_fd)
{
	pthread_rwlock_wrlock(&fs->tree_lock);
	pthread_mutex_lock(&fs->itable_lock);
	if (n->hashed)
		sfs_itable_remove(fs, n);
	n->unlinked = true;
	if (n->copy_fd < 0) {
		n->copy_fd = copy_fd;
		copy_fd = -EBADF;
	}
	pthread_mutex_unlock(&fs->itable_lock);
	pthread_rwlock_unlock(&fs->tree_lock);
	if (copy_fd >= 0)
		close(copy_fd);
}

void sfs_passthrough_copy_changed(struct sfs_fs *fs, struct sfs_node *n)
{
	fuse_ino_t *ino;
	struct sfs_node *named;

	if (n->copy_fd < 0)
		return;
	ino = malloc(sizeof(*ino));
	if (!ino)
		return; /* the kernel's cache times out eventually */
	pthread_rwlock_rdlock(&fs->tree_lock);
	pthread_mutex_lock(&fs->itable_lock);
	named = sfs_itable_find(fs, n->parent, n->name);
	*ino = named && named->st_ino == n->st_ino ? (fuse_ino_t)(uintptr_t)named : 0;
	pthread_mutex_unlock(&fs->itable_lock);
	pthread_rwlock_unlock(&fs->tree_lock);
	sfs_invalidate_inos(fs, ino, *ino ? 1 : 0);
}

/* Opened for reading only, and small enough to be better cached (file.c
 * opens such a lower file only when the kernel first reads it). */
static bool small_read(const struct sfs_file *f)
{
	struct stat st;

	if ((f->flags & O_ACCMODE) != O_RDONLY || (f->flags & (O_TRUNC | O_DIRECT)))
		return false;
	return f->fd < 0 ||
	       (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < SFS_PT_MIN_READ);
}

int sfs_passthrough_open(struct sfs_fs *fs, struct sfs_node *n, struct sfs_file *f)
{
	bool small;
	int id;

	if (!fs->passthrough)
		return -EOPNOTSUPP;
	small = small_read(f); /* outside the lock: a system call */
	pthread_mutex_lock(&fs->pt_lock);
	if (n->pt_cached) {
		/* the kernel caches this inode for files the daemon serves:
		 * it takes no passthrough open until they are closed */
		id = -EBUSY;
		goto cached;
	}
	if (!n->pt_opens && small) {
		id = -EFBIG;
		goto cached;
	}
	if (n->pt_opens) {
		if (n->pt_upper != f->upper) {
			pthread_mutex_unlock(&fs->pt_lock);
			return -ESTALE;
		}
		id = n->pt_id;
	} else {
		struct sfs_fuse_backing_map map = { .fd = f->fd };

		id = ioctl(fuse_session_fd(fs->se), SFS_FUSE_DEV_IOC_BACKING_OPEN, &map);
		if (id < 0) {
			/* ELOOP: the layer is on a stacked file system */
			id = -errno;
			if (id == -EPERM && fs->passthrough) {
				/* the kernel did not take passthrough after all */
				sfs_log(SFS_LOG_WARNING, "passthrough refused: %s", strerror(EPERM));
				fs->passthrough = false;
			}
			goto cached;
		}
		n->pt_id = id;
		n->pt_upper = f->upper;
	}
	n->pt_opens++;
	pthread_mutex_unlock(&fs->pt_lock);
	f->passthrough = true;
	patch.open = true;
	patch.backing_id = id;
	return 0;

cached:
	n->pt_cached++;
	pthread_mutex_unlock(&fs->pt_lock);
	f->pt_cached = true;
	return id;
}

void sfs_passthrough_release(struct sfs_fs *fs, struct sfs_file *f)
{
	struct sfs_node *n = f->node;

	if (!f->passthrough && !f->pt_cached)
		return;
	pthread_mutex_lock(&fs->pt_lock);
	if (f->pt_cached) {
		n->pt_cached--;
		f->pt_cached = false;
	} else if (--n->pt_opens == 0) {
		uint32_t id = n->pt_id;

		if (ioctl(fuse_session_fd(fs->se), SFS_FUSE_DEV_IOC_BACKING_CLOSE, &id) < 0)
			sfs_log(SFS_LOG_WARNING, "cannot close backing file %u: %m", id);
	}
	pthread_mutex_unlock(&fs->pt_lock);
	f->passthrough = false;
}
