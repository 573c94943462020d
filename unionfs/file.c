/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * file.c - open files: open/read/write/flush/fsync/release, fallocate,
 * copy_file_range, lseek.
 *
 * A handle owns one fd on the layer that holds the data: the upper file
 * once opened for writing (which copies the file up first, with its data),
 * else the top entry, or the lower file of a metacopy entry.  Reads and
 * writes go straight to that fd (spliced by libfuse when the kernel
 * allows); no lock is taken.  A file unlinked while open keeps working
 * through its handle: the fd holds the inode.
 *
 * O_DIRECT is honoured: the fd is opened with it and the kernel is told
 * to bypass its page cache for that handle (direct_io).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stratafs.h"

static bool wants_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/*
 * With the writeback cache the kernel reads pages of files opened
 * write-only (to fill partial pages) and computes the position of
 * O_APPEND writes itself: the daemon's fd must be readable and must not
 * append on its own.
 */
int sfs_open_flags(const struct sfs_fs *fs, int flags)
{
	if (!fs->writeback || (flags & O_DIRECT))
		return flags;
	if ((flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
	return flags & ~O_APPEND;
}

/* The flags of the daemon's own fd for a file opened with flags. */
static int fd_flags(int flags)
{
	return (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC | O_NOFOLLOW;
}

/* n's lower file: the data of a file not copied up, or of a metacopy. */
static int open_lower(struct sfs_fs *fs, struct sfs_node *n, int flags)
{
	int dfd = fs->layers[n->lower[0].layer].fd, fd;
	const char *path = n->lower[0].path;

	if (wants_write(flags))
		return -EROFS;
	flags = fd_flags(flags);
	/* Reading a lower file must not change it, not even atime. */
	fd = sfs_openat(dfd, path, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = sfs_openat(dfd, path, flags);
	return fd < 0 ? -errno : fd;
}

/* Is n's upper file the one to open with flags? */
static bool upper_file_for(const struct sfs_node *n, int flags)
{
	return n->in_upper && (wants_write(flags) || !(n->metacopy || n->copy_fd >= 0));
}

bool sfs_node_opens_upper(const struct sfs_node *n, int flags)
{
	return upper_file_for(n, flags) || n->index_hit;
}

/*
 * An open of a node gone from the namespace comes from /proc/PID/fd/N (or
 * a file handle): its name may be another file's by now.  Open again the
 * file one of its handles holds, as the kernel's overlayfs does.
 */
static int reopen_unlinked(struct sfs_fs *fs, struct sfs_node *n, int flags)
{
	_cleanup_close_ int held = -EBADF;
	char path[64];
	int fd;

	held = sfs_node_dup_upper_fd(fs, n);
	if (held < 0)
		return held == -EBADF ? -ENOENT : held;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", held);
	fd = open(path, flags & ~O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int sfs_open_node(struct sfs_fs *fs, struct sfs_node *n, int flags)
{
	_cleanup_free_ char *upath = NULL;
	int fd, r;

	flags = fd_flags(flags);
	if (upper_file_for(n, flags)) {
		if (n->unlinked)
			return reopen_unlinked(fs, n, flags);
		r = sfs_node_upper_path(n, &upath);
		if (r < 0)
			return r;
		fd = sfs_openat(fs->upper->fd, upath, flags);
	} else if (n->index_hit) {
		char iname[64];

		sfs_index_name(n->st_ino, iname, sizeof(iname));
		fd = sfs_openat(fs->indexfd, iname, flags);
	} else if (n->n_lower > 0) {
		return open_lower(fs, n, flags);
	} else {
		return -ESTALE;
	}
	return fd < 0 ? -errno : fd;
}

void sfs_file_attach(struct sfs_fs *fs, struct sfs_node *n, struct sfs_file *f)
{
	pthread_mutex_init(&f->lock, NULL);
	f->node = n;
	pthread_mutex_lock(&fs->itable_lock);
	n->refs++;
	f->fnext = n->files;
	n->files = f;
	pthread_mutex_unlock(&fs->itable_lock);
}

void sfs_file_release(struct sfs_fs *fs, struct sfs_file *f)
{
	struct sfs_node *n = f->node;

	pthread_mutex_lock(&fs->itable_lock);
	for (struct sfs_file **pp = &n->files; *pp; pp = &(*pp)->fnext) {
		if (*pp == f) {
			*pp = f->fnext;
			break;
		}
	}
	pthread_mutex_unlock(&fs->itable_lock);
	sfs_passthrough_release(fs, f);
	if (f->fd >= 0)
		close(f->fd);
	for (size_t i = 0; i < f->n_old_fds; i++)
		close(f->old_fds[i]);
	free(f->old_fds);
	pthread_mutex_destroy(&f->lock);
	sfs_node_unref(fs, n);
	free(f);
}

int sfs_node_dup_file_fd(struct sfs_fs *fs, struct sfs_node *n)
{
	int fd = -EBADF;

	pthread_mutex_lock(&fs->itable_lock);
	for (struct sfs_file *f = n->files; f; f = f->fnext) {
		if (f->fd >= 0) {
			fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
			fd = fd < 0 ? -errno : fd;
			break;
		}
	}
	pthread_mutex_unlock(&fs->itable_lock);
	return fd;
}

int sfs_node_dup_upper_fd(struct sfs_fs *fs, struct sfs_node *n)
{
	int fd = -EBADF;

	pthread_mutex_lock(&fs->itable_lock);
	if (n->implicit[1] && n->implicit[1]->upper) {
		fd = fcntl(n->implicit[1]->fd, F_DUPFD_CLOEXEC, 3);
		pthread_mutex_unlock(&fs->itable_lock);
		return fd < 0 ? -errno : fd;
	}
	for (struct sfs_file *f = n->files; f; f = f->fnext) {
		if (f->upper) {
			fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
			fd = fd < 0 ? -errno : fd;
			break;
		}
	}
	if (fd == -EBADF && n->copy_fd >= 0) {
		fd = fcntl(n->copy_fd, F_DUPFD_CLOEXEC, 3);
		fd = fd < 0 ? -errno : fd;
	}
	pthread_mutex_unlock(&fs->itable_lock);
	return fd;
}

/* The first use of a handle opened without its fd (sfs_op_open). */
static int open_later(struct sfs_fs *fs, struct sfs_file *f)
{
	struct sfs_node *n = f->node;
	int fd;

	pthread_rwlock_rdlock(&fs->tree_lock);
	if (n->unlinked && n->n_lower > 0) {
		/* copied up and removed meanwhile: what an fd opened at the
		 * open would read, as no upper name leads to the copy */
		fd = open_lower(fs, n, f->flags);
		f->upper = false;
	} else {
		fd = sfs_open_node(fs, n, f->flags);
		f->upper = sfs_node_opens_upper(n, f->flags);
	}
	pthread_rwlock_unlock(&fs->tree_lock);
	if (fd >= 0)
		atomic_store_explicit(&f->fd, fd, memory_order_release);
	return fd;
}

/* Has n's data left its lower file: copied up, or to the index by a
 * copy-up of another name of a lower hard link? */
static bool data_copied_up(struct sfs_node *n)
{
	return (__atomic_load_n(&n->in_upper, __ATOMIC_ACQUIRE) &&
		!__atomic_load_n(&n->metacopy, __ATOMIC_ACQUIRE)) ||
	       __atomic_load_n(&n->index_hit, __ATOMIC_ACQUIRE);
}

/*
 * The fd of a handle, or a negative errno.
 *
 * A handle opened on a lower file before the file was copied up would keep
 * reading the old data: switch it to the upper file.  The old fd stays open
 * until release, since a concurrent read may still use it.
 */
int sfs_file_fd(struct sfs_fs *fs, struct sfs_file *f)
{
	struct sfs_node *n = f->node;
	int fd = atomic_load_explicit(&f->fd, memory_order_acquire);

	if (fd >= 0 && (f->upper || !data_copied_up(n)))
		return fd;
	pthread_mutex_lock(&f->lock);
	if (f->fd < 0) {
		fd = open_later(fs, f);
		if (fd < 0) {
			pthread_mutex_unlock(&f->lock);
			return fd;
		}
	}
	if (!f->upper && data_copied_up(n)) {
		int *v = realloc(f->old_fds, (f->n_old_fds + 1) * sizeof(*v));

		pthread_rwlock_rdlock(&fs->tree_lock);
		fd = v && data_copied_up(n) && !n->unlinked ?
			sfs_open_node(fs, n, O_RDONLY | (f->flags & O_DIRECT)) : -1;
		pthread_rwlock_unlock(&fs->tree_lock);
		if (v)
			f->old_fds = v;
		if (fd >= 0) {
			f->old_fds[f->n_old_fds++] = f->fd;
			f->fd = fd;
			f->upper = true;
		}
	}
	fd = f->fd;
	pthread_mutex_unlock(&f->lock);
	return fd;
}

/*
 * A file's first open for reading starts reading its head from disk, so the
 * data is on its way while the kernel answers the open and sends the READ
 * (tar -c of a cold tree: 12% less time).  Only the first: the data then
 * sits in the kernel's cache of this node (keep_cache), and spliced reads
 * have moved it out of the layer's own cache, so a second readahead would
 * read from disk what nobody asks for.
 */
static bool first_read_open(struct sfs_node *n, int flags)
{
	return !wants_write(flags) && !(flags & O_DIRECT) &&
	       !atomic_exchange_explicit(&n->prefetched, true, memory_order_relaxed);
}

/*
 * A lower file opened for reading once more: the kernel most likely holds
 * its data (keep_cache) and then sends no READ at all.  Such an open is
 * answered without opening the file; the first READ opens it
 * (sfs_file_fd).  Lower files never change, so that is the file the open
 * found, and the daemon could open it before.  Warm grep -r: the daemon's
 * openat, fstat and close were three of its seven system calls per file.
 * Not for a file passed through: the kernel needs its fd at the open.
 */
static bool open_at_first_read(struct sfs_fs *fs, struct sfs_node *n, int flags)
{
	return !wants_write(flags) && !(flags & O_DIRECT) && S_ISREG(n->type) &&
	       !n->in_upper && !n->index_hit && n->n_lower > 0 &&
	       atomic_load_explicit(&n->prefetched, memory_order_relaxed) &&
	       (!fs->passthrough || n->lower[0].size < SFS_PT_MIN_READ);
}

void sfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	struct sfs_file *f;
	bool first_read;
	int fd, r;

	/* Zero-message opens (handle.c): one ENOSYS and the kernel stops
	 * sending OPEN and RELEASE for files.  Opening for writing is then
	 * not a copy-up; the first write is. */
	if (fs->cfg->zero_open && !(fi->flags & O_DIRECT)) {
		if (wants_write(fi->flags) && !fs->upper) {
			fuse_reply_err(req, EROFS);
			return;
		}
		fs->no_open = true;
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (wants_write(fi->flags)) {
		if (!fs->upper) {
			fuse_reply_err(req, EROFS);
			return;
		}
		r = sfs_copyup(fs, n, /* meta_only= */ false);
		if (r < 0) {
			sfs_reply_err(req, r);
			return;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&fs->tree_lock);
	if (open_at_first_read(fs, n, fi->flags)) {
		fd = -1;
		first_read = false;
	} else {
		fd = sfs_open_node(fs, n, sfs_open_flags(fs, fi->flags));
		if (fd == -EACCES && sfs_open_flags(fs, fi->flags) != fi->flags)
			fd = sfs_open_node(fs, n, fi->flags); /* a write-only file */
		if (fd < 0) {
			pthread_rwlock_unlock(&fs->tree_lock);
			free(f);
			sfs_reply_err(req, fd);
			return;
		}
		first_read = first_read_open(n, fi->flags);
		if (first_read)
			sfs_prefetch_opened(fs, n->parent);
	}
	f->upper = sfs_node_opens_upper(n, fi->flags);
	pthread_rwlock_unlock(&fs->tree_lock);
	f->fd = fd;
	f->flags = fi->flags;
	sfs_file_attach(fs, n, f);
	fi->fh = (uintptr_t)f;
	/* Writes reach the file before they are answered and locks are the
	 * kernel's: close(2) has nothing to flush, so no FLUSH round trip. */
	fi->noflush = 1;
	if (fi->flags & O_DIRECT) {
		fi->direct_io = 1;
	} else {
		struct stat st;

		/* Every change goes through this mount, so the kernel's cache
		 * stays valid across opens; except for an upper file with
		 * several names, which are several FUSE inodes sharing data
		 * (lower files never change; a copied-up lower hard link
		 * invalidates its other names itself, see copyup.c). */
		bool one_name = !f->upper || (fstat(fd, &st) == 0 && st.st_nlink == 1);

		fi->keep_cache = one_name;
		/* with the writeback cache, such a file must not be cached
		 * at all: each name would hold its own dirty pages */
		if (!one_name && fs->writeback)
			fi->direct_io = 1;
	}
	r = sfs_passthrough_open(fs, n, f);
	if (r == -ESTALE) {
		/* The node's open files read the lower file through
		 * passthrough, and this open wants the upper copy: the name
		 * gets a new node, which the kernel looks up on ESTALE
		 * (passthrough.c).  The copy is made first, so that every
		 * open of the new node finds it. */
		int copy_fd = f->upper ? fcntl(f->fd, F_DUPFD_CLOEXEC, 3) : -EBADF;

		sfs_file_release(fs, f);
		sfs_passthrough_replace(fs, n, copy_fd);
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (first_read)
		readahead(fd, 0, SFS_OPEN_READAHEAD);
	if (fuse_reply_open(req, fi) == -ENOENT)
		sfs_file_release(fs, f);
}

static struct sfs_file *file_of(struct fuse_file_info *fi)
{
	return (struct sfs_file *)(uintptr_t)fi->fh;
}

/* O_DIRECT wants aligned memory, which neither splice nor libfuse's
 * buffers give: go through an aligned bounce buffer. */
#define SFS_DIO_ALIGN 4096

static void read_direct(fuse_req_t req, int fd, size_t size, off_t off)
{
	void *buf = NULL;
	ssize_t n;

	if (posix_memalign(&buf, SFS_DIO_ALIGN, size ? size : 1) != 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, n);
	free(buf);
}

static ssize_t write_direct(int fd, struct fuse_bufvec *in, off_t off)
{
	size_t size = fuse_buf_size(in);
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
	void *buf = NULL;
	ssize_t n;

	if (posix_memalign(&buf, SFS_DIO_ALIGN, size ? size : 1) != 0)
		return -ENOMEM;
	mem.buf[0].mem = buf;
	n = fuse_buf_copy(&mem, in, 0);
	if (n >= 0)
		n = neg_errno_ssize(pwrite(fd, buf, n, off));
	free(buf);
	return n;
}

#ifdef __NR_cachestat
#define SFS_NR_CACHESTAT __NR_cachestat
#else
#define SFS_NR_CACHESTAT 451 /* Linux 6.5, the same number on every architecture */
#endif

#define SFS_SMALL_READ (64 * 1024)

/* Whether the bytes [off, off + size) of fd, as far as they exist, are in
 * the page cache: reading them then does not wait for the disk. */
static bool data_cached(int fd, size_t size, off_t off)
{
	struct { uint64_t off, len; } range = { (uint64_t)off, size };
	struct { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted,
			  nr_recently_evicted; } cs;
	long page = sysconf(_SC_PAGESIZE);
	uint64_t first = (uint64_t)off / page, end;
	struct stat st;

	if (syscall(SFS_NR_CACHESTAT, fd, &range, &cs, 0) < 0)
		return false; /* no cachestat(2): assume the worst */
	end = ((uint64_t)off + size + page - 1) / page;
	if (cs.nr_cache >= end - first)
		return true;
	/* a read may ask for more than the file has */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size >= (uint64_t)off + size)
		return false;
	end = ((uint64_t)st.st_size + page - 1) / page;
	return end <= first || cs.nr_cache >= end - first;
}

void sfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	struct sfs_file *f;
	bool implicit;
	int fd, r;

	r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino), fi, /* write= */ false, &f);
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	fd = sfs_file_fd(fs, f);
	/* Once replied to, an open's handle may be released at any moment:
	 * only a cached handle is still ours to put. */
	implicit = f->implicit;
	if (fd < 0) {
		sfs_reply_err(req, fd);
		if (implicit)
			sfs_handle_put(fs, f);
		return;
	}
	/* A small read waits for the disk briefly, and a program reading at
	 * random waits for each answer: it is served here without asking
	 * (cold random 4 KiB reads were 8% slower with the two system calls
	 * of the check).  A bigger one looks at the page cache only when
	 * handing on is possible at all. */
	if (size > SFS_SMALL_READ && sfs_loop_others_wait() && !data_cached(fd, size, off))
		sfs_loop_hand_on();
	if ((f->flags | fi->flags) & O_DIRECT) {
		read_direct(req, fd, size, off);
	} else {
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	}
	if (implicit)
		sfs_handle_put(fs, f);
}

void sfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		      off_t off, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	struct sfs_file *f;
	ssize_t r;

	r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino), fi, /* write= */ true, &f);
	if (r < 0) {
		fuse_reply_err(req, (int)-r);
		return;
	}
	if ((f->flags | fi->flags) & O_DIRECT) {
		sfs_loop_may_block();
		r = write_direct(f->fd, in, off);
	} else {
		out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		out.buf[0].fd = f->fd;
		out.buf[0].pos = off;
		r = fuse_buf_copy(&out, in, 0);
	}
	if (r > 0 && f->implicit)
		sfs_handle_changed(fs, f->node);
	sfs_handle_put(fs, f);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

void sfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* without an open there is nothing to flush, ever: ENOSYS tells
	 * the kernel to stop asking */
	if (!fi->fh) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* Writes are not buffered here; close() errors of the real fd come
	 * at release, where nobody can see them: report nothing. */
	fuse_reply_err(req, 0);
}

void sfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (fi->fh)
		sfs_file_release(sfs_fs_from_req(req), file_of(fi));
	fuse_reply_err(req, 0);
}

void sfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_node *n = sfs_node_from_ino(fs, ino);
	struct sfs_file *f;
	int fd, r;

	/* fsync=0 / volatile: durability is given up on purpose; ENOSYS
	 * makes the kernel stop asking and report success. */
	if (!fs->cfg->fsync) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	/* without an open: the written (upper) file, if any */
	r = sfs_handle_get(fs, n, fi, /* write= */ !fi->fh && n->in_upper && fs->upper, &f);
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	sfs_loop_may_block();
	fd = sfs_file_fd(fs, f);
	if (fd >= 0)
		r = neg_errno(datasync ? fdatasync(fd) : fsync(fd));
	else
		r = fd;
	sfs_handle_put(fs, f);
	sfs_reply_err(req, r);
}

void sfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		      off_t length, struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_file *f = NULL;
	int r;

	r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino), fi, /* write= */ true, &f);
	if (r == 0 && !f->upper)
		r = -EBADF;
	else if (r == 0) {
		sfs_loop_may_block();
		r = neg_errno(fallocate(f->fd, mode, offset, length));
	}
	if (f)
		sfs_handle_put(fs, f);
	sfs_reply_err(req, r);
}

void sfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			    off_t off_out, struct fuse_file_info *fi_out,
			    size_t len, int flags)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_file *fin = NULL, *fout = NULL;
	loff_t in = off_in, out = off_out;
	ssize_t n;
	int fd_in, r;

	r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino_in), fi_in, false, &fin);
	if (r == 0)
		r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino_out), fi_out, true, &fout);
	if (r < 0) {
		sfs_handle_put(fs, fin);
		sfs_reply_err(req, r);
		return;
	}
	sfs_loop_may_block();
	fd_in = sfs_file_fd(fs, fin);
	if (fd_in < 0) {
		n = -1;
		errno = -fd_in;
	} else {
		n = copy_file_range(fd_in, &in, fout->fd, &out, len, flags);
	}
	if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP)) {
		/* different filesystems below: copy by hand */
		char buf[64 * 1024];
		size_t want = len < sizeof(buf) ? len : sizeof(buf);

		n = pread(fd_in, buf, want, off_in);
		if (n > 0)
			n = pwrite(fout->fd, buf, n, off_out);
	}
	r = n < 0 ? -errno : 0;
	sfs_handle_put(fs, fin);
	sfs_handle_put(fs, fout);
	if (r < 0)
		sfs_reply_err(req, r);
	else
		fuse_reply_write(req, n);
}

void sfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi)
{
	struct sfs_fs *fs = sfs_fs_from_req(req);
	struct sfs_file *f;
	off_t pos;
	int fd, r;

	r = sfs_handle_get(fs, sfs_node_from_ino(fs, ino), fi, false, &f);
	if (r < 0) {
		sfs_reply_err(req, r);
		return;
	}
	fd = sfs_file_fd(fs, f);
	pos = fd < 0 ? -1 : lseek(fd, off, whence);
	r = fd < 0 ? fd : pos < 0 ? -errno : 0;
	sfs_handle_put(fs, f);
	if (r < 0)
		sfs_reply_err(req, r);
	else
		fuse_reply_lseek(req, pos);
}
