/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stratafs.h - private header of the stratafs daemon, sectioned per file.
 *
 * Lock order (take from top to bottom, never the other way):
 *   1. node->copyup_lock   (one node at a time; parents before children)
 *   2. fs->tree_lock       (rwlock: the namespace: node names, parents,
 *                           layer entries, upper presence)
 *   3. fs->itable_lock     (mutex, leaf: the node hash table, lookup counts,
 *                           reference counts)
 * Data I/O on open files takes no lock at all: it works on file handles.
 */
#ifndef SFS_STRATAFS_H
#define SFS_STRATAFS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "macro.h"
#include "longpath.h"
#include "options.h"
#include "whiteout.h"

struct sfs_fs;
struct sfs_node;

/* ------------------------------------------------------------------ */
/* layer.c */

struct sfs_layer {
	int fd;           /* O_PATH|O_DIRECTORY on the layer root */
	char *path;       /* as given on the command line, for messages */
	dev_t dev;        /* st_dev of the layer root */
	unsigned idx;     /* position in fs->layers: 0 is the top */
	unsigned xino_id; /* index of dev among the stack's distinct devices */
	bool upper;
	/* On an idmapped mount: its ids are already those the mount shows
	 * (podman idmaps lower layers and passes uidmapping= as well). */
	bool idmapped;
};

/* Open every layer and the workdir, probe what the upper permits. */
int sfs_layers_open(struct sfs_fs *fs, char **ret_msg);
/* The session has ended: let go of the layers at once, whatever threads
 * still run.  Each descriptor becomes one of /dev/null, so that a thread
 * still using it fails instead of reaching another file; close them later
 * with sfs_layers_close(). */
void sfs_layers_release(struct sfs_fs *fs);
void sfs_layers_close(struct sfs_fs *fs);

/* ------------------------------------------------------------------ */
/* inode.c */

/*
 * One entry of a node in a lower layer: the path of the node inside that
 * layer.  Paths of lower entries are fixed at lookup time, so renaming a
 * directory (redirect) never changes where its lower content is found.
 */
struct sfs_lent {
	unsigned layer; /* index into fs->layers */
	char *path;     /* relative to the layer root; "." for the root */
	ino_t ino;      /* st_ino in that layer */
	dev_t dev;
	off_t size;     /* st_size in that layer (lower files never change) */
};

/* Another name of a node's upper file, made by link(2) through the node:
 * the kernel's dentry of that name leads to the node too. */
struct sfs_alias {
	struct sfs_alias *next;
	ino_t upper_ino;  /* the file's inode number in the upper layer */
	char path[];      /* upper path of the name */
};

struct sfs_node {
	/* protected by fs->itable_lock */
	struct sfs_node *hnext;  /* hash chain keyed by (parent, name) */
	uint64_t nlookup;        /* kernel references (lookup counts) */
	unsigned refs;           /* nlookup>0 + children in table + handles */
	bool hashed;
	struct sfs_node *gnext;  /* link-group chain keyed by st_ino (index.c) */
	bool in_group;

	/* protected by fs->tree_lock */
	struct sfs_node *parent;
	char *name;
	bool in_upper;    /* exists in the upper layer at its merged path */
	bool opaque;      /* directory: lower layers are not merged */
	bool metacopy;    /* upper holds metadata only; data in lower[0] */
	bool unlinked;    /* removed from the namespace, kept for open fds */
	bool index_hit;   /* data is the hard-link index copy (index.c) */
	bool tmpfile;     /* made by O_TMPFILE, no name yet (dir.c) */
	bool lower_group; /* one name of a lower inode with several names */
	unsigned n_lower;
	struct sfs_lent *lower; /* top-most first */
	uint64_t dir_version;   /* bumped when the directory's content changes */
	/* Directory: which layers' listings were read (bit = layer index),
	 * and which of those hold ".wh.NAME" files.  Lookups skip the
	 * ".wh.NAME" probe in a layer known to hold none. */
	uint64_t whfile_known;
	uint64_t whfile_present;

	/* fixed after creation */
	mode_t type;      /* S_IFMT bits */
	ino_t st_ino;     /* what stat reports: see inode.c */
	uint64_t generation;

	pthread_mutex_t copyup_lock;
	atomic_bool prefetched;  /* its data was asked of the disk (file.c) */
	/* what the daemon knows of the upper entry's xattrs (SFS_XK_*) */
	atomic_uint xknown;
	/* directory read-ahead (prefetch.c) */
	atomic_bool looked_up_cold; /* its lookup waited */
	atomic_bool walk_cold;      /* a cold walk listed it */
	atomic_uint files_opened;   /* files first opened for reading since */

	/* protected by fs->itable_lock */
	struct sfs_file *files;  /* open handles, for a node unlinked meanwhile */
	struct sfs_file *implicit[2]; /* cached handles: [0] read, [1] write */
	unsigned ring_idx[2];    /* their slots in fs->handle_ring */
	int copy_fd;             /* replaced at copy-up: the copy, or -1 (passthrough.c) */

	/* protected by fs->tree_lock */
	struct sfs_alias *aliases; /* names link(2) gave its upper file (dir.c) */

	/* protected by fs->pt_lock (passthrough.c) */
	unsigned pt_opens;       /* open files passed through to pt_id */
	unsigned pt_cached;      /* open files the daemon serves instead */
	int pt_id;               /* the backing file's id while pt_opens */
	bool pt_upper;           /* pt_id is the upper file */
};

/*
 * Bits of sfs_node.xknown.  Every change goes through the daemon, so what
 * it once read or made of an upper entry's xattrs stays true until it
 * changes them itself.
 */
/* Made by this daemon with one name: holds no security.capability and no
 * override_stat xattr (those are private) until an xattr is set on it. */
#define SFS_XK_CREATED 1u
/* Directory: its upper directory has no default ACL. */
#define SFS_XK_NO_ACL_DEFAULT 2u

static inline bool sfs_xknown(struct sfs_node *n, unsigned bit)
{
	return atomic_load_explicit(&n->xknown, memory_order_relaxed) & bit;
}

static inline void sfs_xknown_set(struct sfs_node *n, unsigned bit)
{
	atomic_fetch_or_explicit(&n->xknown, bit, memory_order_relaxed);
}

static inline void sfs_xknown_clear(struct sfs_node *n, unsigned bits)
{
	atomic_fetch_and_explicit(&n->xknown, ~bits, memory_order_relaxed);
}

struct sfs_itable {
	struct sfs_node **buckets;
	size_t nbuckets;
	size_t count;
	struct sfs_node **groups; /* link-group members by st_ino (index.c) */
	size_t ngroup_buckets;
};

int sfs_itable_init(struct sfs_itable *t);
void sfs_itable_destroy(struct sfs_fs *fs);

struct sfs_node *sfs_node_new(struct sfs_fs *fs, mode_t type);
void sfs_node_free(struct sfs_node *n);
/* Replace the lower entries of n (takes ownership of lents). */
void sfs_node_set_lower(struct sfs_node *n, struct sfs_lent *lents, unsigned n_lower);
void sfs_lents_free(struct sfs_lent *lents, unsigned n);

/* Find the hashed child (parent, name); NULL if none.  itable_lock held. */
struct sfs_node *sfs_itable_find(struct sfs_fs *fs, struct sfs_node *parent,
				 const char *name);
/* Hash n under (parent, name), referencing parent.  itable_lock held. */
void sfs_itable_insert(struct sfs_fs *fs, struct sfs_node *n,
		       struct sfs_node *parent, const char *name);
/* Unhash n (it keeps its parent reference until freed).  itable_lock held. */
void sfs_itable_remove(struct sfs_fs *fs, struct sfs_node *n);

/* Reference counting.  sfs_node_unref frees n and releases its parent
 * when the last reference goes.  Both take itable_lock themselves. */
void sfs_node_ref(struct sfs_fs *fs, struct sfs_node *n);
void sfs_node_unref(struct sfs_fs *fs, struct sfs_node *n);
/* The same with itable_lock already held. */
void sfs_node_unref_locked(struct sfs_fs *fs, struct sfs_node *n);

/* The node of a FUSE inode number. */
struct sfs_node *sfs_node_from_ino(struct sfs_fs *fs, fuse_ino_t ino);
static inline fuse_ino_t sfs_node_ino(struct sfs_fs *fs, struct sfs_node *n);

/* The inode number reported for an entry found in layer at (dev, ino). */
ino_t sfs_xino(const struct sfs_fs *fs, unsigned layer, ino_t ino);

/*
 * Path of n in the upper layer (its merged path), into a malloc'd string.
 * tree_lock held (read or write).  "." for the root.
 */
int sfs_node_upper_path(struct sfs_node *n, char **ret_path);

/* Build "dir/name" ("name" when dir is "."). malloc'd. */
int sfs_path_join(const char *dir, const char *name, char **ret);

void sfs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void sfs_op_forget_multi(fuse_req_t req, size_t count,
			 struct fuse_forget_data *forgets);

/* ------------------------------------------------------------------ */
/* lookup.c */

/* What a lookup found for one name. */
struct sfs_found {
	struct stat st;    /* stat of the top entry (ids, ino: raw) */
	bool in_upper;
	bool opaque;
	bool metacopy;
	bool copied_up;    /* upper non-dir carries an origin marker */
	ino_t origin_ino;  /* inode number recorded in that marker */
	bool index_hit;    /* a copy of this lower hard link is in the index */
	bool lower_group;  /* a name of a lower inode with several names */
	unsigned n_lower;
	struct sfs_lent *lower; /* owned */
	ino_t st_ino;      /* reported inode number */
};

/*
 * Look name up under parent in every layer (tree_lock held).  -ENOENT when
 * it does not exist in the merged view.  ret owns its lower entries.
 */
int sfs_lookup_name(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		    struct sfs_found *ret);

/*
 * Find or create the node of (parent, name), take one lookup reference and
 * fill e.  tree_lock held (read).
 */
int sfs_lookup_entry(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		     struct fuse_entry_param *e);

/* Make a node for something just created in the upper layer and take one
 * lookup reference.  tree_lock held (write). */
int sfs_entry_for_new(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
		      const char *upath, bool opaque, struct fuse_entry_param *e);
/* The same for an unnamed file made with O_TMPFILE in parent's upper
 * directory, open as fd. */
int sfs_entry_for_tmpfile(struct sfs_fs *fs, struct sfs_node *parent, int fd,
			  struct fuse_entry_param *e);

/*
 * Does name exist in a lower layer under parent (before any whiteout)?
 * Decides whether removing or moving it away needs a whiteout.  When in
 * doubt (an I/O error), true.  tree_lock held.
 */
bool sfs_lower_exists(struct sfs_fs *fs, struct sfs_node *parent, const char *name);

/* May dir's entry in layer hold ".wh.NAME" files (what its listings said)? */
bool sfs_whfiles_possible(const struct sfs_node *dir, unsigned layer);

/* Names reserved for markers (".wh.*") cannot be looked up or created. */
static inline bool sfs_name_reserved(const char *name)
{
	return strncmp(name, SFS_WH_PREFIX, SFS_WH_PREFIX_LEN) == 0;
}

/* The same, when a directory listing says that name is a non-directory held
 * by lower layer single_lower alone (-1: no such knowledge). */
int sfs_lookup_entry_hint(struct sfs_fs *fs, struct sfs_node *parent, const char *name,
			  int single_lower, struct fuse_entry_param *e);

void sfs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);

/* ------------------------------------------------------------------ */
/* attr.c */

/* stat of the node's top entry, with reported inode number and ids. */
int sfs_node_stat(struct sfs_fs *fs, struct sfs_node *n, struct stat *st);
/* Turn a raw stat into what the mount reports (ino, nlink, id mapping). */
void sfs_stat_fixup(struct sfs_fs *fs, struct sfs_node *n, struct stat *st);
/* sfs_stat_fixup, then the emulated ownership (xattr_permissions=) read
 * from fd, or from n's top entry when fd < 0.  tree_lock held. */
void sfs_stat_finish(struct sfs_fs *fs, struct sfs_node *n, int fd, struct stat *st);
uid_t sfs_uid_to_disk(const struct sfs_fs *fs, uid_t uid);
gid_t sfs_gid_to_disk(const struct sfs_fs *fs, gid_t gid);
/* Give a freshly created upper entry the caller's ownership (by chown, or
 * in the override xattr with xattr_permissions=). */
int sfs_set_creator(struct sfs_fs *fs, fuse_req_t req, int dirfd,
		    const char *name, const struct stat *parent_st, mode_t mode);
/* Write an override_stat xattr on the file at path (a /proc path). */
int sfs_override_write(const struct sfs_fs *fs, const char *path,
		       const struct sfs_override *o);

void sfs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		    int to_set, struct fuse_file_info *fi);
void sfs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void sfs_op_access(fuse_req_t req, fuse_ino_t ino, int mask);
void sfs_op_readlink(fuse_req_t req, fuse_ino_t ino);

/* ------------------------------------------------------------------ */
/* copyup.c */

/*
 * Make n exist in the upper layer, parents first.  With meta_only, a
 * regular file gets only its metadata (metacopy); otherwise its data too.
 * Takes n->copyup_lock and the tree_lock itself: call with no lock held.
 */
int sfs_copyup(struct sfs_fs *fs, struct sfs_node *n, bool meta_only);


/* The shared whiteout inode in workdir/work (dir.c). */
#define SFS_SHARED_WHITEOUT "#sfs-whiteout"
/* Remember the inode of the shared whiteout after it was (re)made. */
void sfs_shared_whiteout_update(struct sfs_fs *fs);

/* Unique temporary name in the work directory. */
void sfs_work_tmpname(struct sfs_fs *fs, char *buf, size_t size);

/* Copy all non-private xattrs from src_path (not followed) to dst_fd, or
 * with dst_fd < 0 to dst_path (not followed). */
int sfs_copy_xattrs(const char *src_path, int dst_fd, const char *dst_path);

/* ------------------------------------------------------------------ */
/* The kernel's request header (linux/fuse.h), which libfuse does not
 * export: the session loop looks at some requests before libfuse. */
struct sfs_fuse_in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen;
	uint16_t padding;
};

/* ------------------------------------------------------------------ */
/* dir.c */

void sfs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void sfs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, dev_t rdev);
void sfs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		    const char *name);
void sfs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		 const char *newname);
void sfs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void sfs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		   fuse_ino_t newparent, const char *newname, unsigned int flags);
void sfs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		   mode_t mode, struct fuse_file_info *fi);
/* The session loop shows every request here before libfuse serves it:
 * an O_TMPFILE request becomes a CREATE, marked as O_TMPFILE. */
void sfs_tmpfile_peek(struct fuse_buf *buf);
void sfs_tmpfile_done(void);

/*
 * Prepare the upper layer so that name can be created in parent: copy the
 * parent up, and remove a whiteout of that name.  Sets *ret_replace_wh when
 * a char-device whiteout sits there (the caller replaces it atomically).
 * tree_lock held (write).
 */
int sfs_prepare_create(struct sfs_fs *fs, struct sfs_node *parent,
		       const char *name, char **ret_parent_path, bool *ret_over_whiteout);

/* ------------------------------------------------------------------ */
/* index.c */

/* Name of the index entry of a link group (its reported inode number). */
void sfs_index_name(ino_t ino, char *buf, size_t size);
/* The group's link count as the mount shows it; -ENOENT: not recorded. */
int sfs_index_nlink_get(struct sfs_fs *fs, ino_t ino, nlink_t *ret);
int sfs_index_nlink_set(struct sfs_fs *fs, ino_t ino, nlink_t value);
/* Add delta to the recorded count, starting from current if none. */
int sfs_index_nlink_adjust(struct sfs_fs *fs, ino_t ino, nlink_t current, int delta);
/* Load the link counts, note whether data copies exist (at mount). */
int sfs_index_open(struct sfs_fs *fs);
void sfs_index_close(struct sfs_fs *fs);
/* The descriptor of the link-count log in the work directory, or -1. */
int sfs_index_logfd(const struct sfs_fs *fs);
/* Group membership table: itable_lock held. */
void sfs_group_insert(struct sfs_fs *fs, struct sfs_node *n);
void sfs_group_remove(struct sfs_fs *fs, struct sfs_node *n);
/*
 * FUSE inode numbers of the hashed members of group ino but except for
 * which fn (if given; called with itable_lock held) returns true.  *ret is
 * malloc'd.  Takes itable_lock.
 */
size_t sfs_group_members(struct sfs_fs *fs, ino_t ino, struct sfs_node *except,
			 fuse_ino_t **ret,
			 bool (*fn)(struct sfs_node *member, void *payload), void *payload);

/* ------------------------------------------------------------------ */
/* passthrough.c */

/* Before the session runs: hook libfuse's I/O when passthrough may be used. */
void sfs_passthrough_setup(struct sfs_fs *fs, struct fuse_session *se);
/* The session loop shows every request here before serving it, and says
 * when it has been served. */
void sfs_passthrough_request(struct sfs_fs *fs, const struct fuse_buf *buf);
void sfs_passthrough_request_done(void);
/* Take n out of the namespace, so that the name's next lookup makes a new
 * node; n's open files go on.  copy_fd (taken, or -1) is an fd of the copy,
 * where changes to n's metadata go from then on. */
void sfs_passthrough_replace(struct sfs_fs *fs, struct sfs_node *n, int copy_fd);
/* n's copy changed through n: drop the kernel's attributes of the node
 * its name now leads to. */
void sfs_passthrough_copy_changed(struct sfs_fs *fs, struct sfs_node *n);
/* Pass f through to its fd; the next answer (open or create) of this
 * thread carries the backing file.  -ESTALE: n's open files use another
 * file; other errors: the daemon serves f, and n's next opens, until
 * released. */
int sfs_passthrough_open(struct sfs_fs *fs, struct sfs_node *n, struct sfs_file *f);
void sfs_passthrough_release(struct sfs_fs *fs, struct sfs_file *f);

/*
 * A file of less than this, opened for reading only, is served by the
 * daemon and cached by the kernel across opens (keep_cache): reading it
 * again costs no request at all, while each passthrough open costs two
 * ioctls and the kernel's own open of the backing file, 4.5 us more per
 * open+read+close of a cached file.  Warm grep -r over the benchmark tree:
 * 1.44 s with every file passed through, 1.0-1.3 s served (kernel
 * overlayfs 0.66 s).  Bigger files gain most from passthrough: no second
 * page cache, no copy through the daemon.
 */
#define SFS_PT_MIN_READ (1 << 20)

/* ------------------------------------------------------------------ */
/* loop.c */

struct sfs_loop_config {
	struct sfs_fs *fs;
	const sigset_t *wait_mask; /* of the calling thread while it waits */
	unsigned spin_us;          /* poll this long for the next request */
	unsigned max_threads;      /* 0: 10 */
	unsigned max_idle_threads;
};
/* Serve the session until it ends: 0, or a negative errno. */
int sfs_loop_run(struct fuse_session *se, const struct sfs_loop_config *cfg);
/* The request this thread serves is about to wait (for the disk, mostly):
 * if the thread reads the device and other requests wait, another worker
 * takes over. */
void sfs_loop_may_block(void);
/* The two halves of that, for a caller whose own check costs more than
 * the first: this thread reads the device and other requests wait; hand
 * the reading on. */
bool sfs_loop_others_wait(void);
void sfs_loop_hand_on(void);

/* ------------------------------------------------------------------ */
/* notify.c */

struct sfs_notifier;
int sfs_notifier_start(struct sfs_fs *fs);
void sfs_notifier_stop(struct sfs_fs *fs);
/* Queue dropping the kernel's caches of these inodes; free(inos). */
void sfs_invalidate_inos(struct sfs_fs *fs, fuse_ino_t *inos, size_t n);

/* ------------------------------------------------------------------ */
/* prefetch.c */

struct sfs_prefetch;
struct sfs_dirmerge;
int sfs_prefetch_start(struct sfs_fs *fs);
void sfs_prefetch_stop(struct sfs_fs *fs);
/* Blocks this thread has read from disk so far (for "was it cold?"). */
uint64_t sfs_prefetch_disk_reads(void);
/* A lookup that takes longer waited for something, the disk most likely. */
#define SFS_LOOKUP_COLD_NS 50000
static inline uint64_t sfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* Directory n was listed as m: read ahead below it when the listing had
 * to wait for the disk, or n was itself read ahead.  tree_lock held. */
void sfs_prefetch_listed(struct sfs_fs *fs, struct sfs_node *n,
			 const struct sfs_dirmerge *m, bool it_read_disk);
/* A file of dir is opened for reading for the first time: in a directory
 * a cold walk listed, the second one reads ahead all.  tree_lock held. */
void sfs_prefetch_opened(struct sfs_fs *fs, struct sfs_node *dir);
/* How much of a file its first open for reading asks the disk for. */
#define SFS_OPEN_READAHEAD (128 * 1024)

/* ------------------------------------------------------------------ */
/* file.c */

struct sfs_file {
	/* may be swapped for the upper file after copy-up; -1 until first
	 * needed for a lower file opened again for reading (file.c) */
	_Atomic int fd;
	bool upper;      /* fd is on the upper layer */
	int flags;       /* open flags */
	bool implicit;   /* a node's cached handle (handle.c), not an open's */
	atomic_uint refs;        /* implicit handles: users + the cache */
	struct sfs_node *node;   /* referenced, except by implicit handles */
	struct sfs_file *fnext;  /* node->files chain, itable_lock */
	pthread_mutex_t lock;    /* serializes the swap below */
	int *old_fds;            /* replaced fds, closed at release */
	size_t n_old_fds;
	bool passthrough;        /* the kernel reads and writes it itself */
	bool pt_cached;          /* could not be passed through (passthrough.c) */
};

/* Register a new handle of n (takes a reference on n). */
void sfs_file_attach(struct sfs_fs *fs, struct sfs_node *n, struct sfs_file *f);
/* Unregister, close and free a handle. */
void sfs_file_release(struct sfs_fs *fs, struct sfs_file *f);
/* A duplicate of an fd on n's upper file from its open handles (or the
 * copy of a replaced node), or -EBADF. */
int sfs_node_dup_upper_fd(struct sfs_fs *fs, struct sfs_node *n);
/* A duplicate of the fd of one of n's open handles, whatever its file, or
 * -EBADF. */
int sfs_node_dup_file_fd(struct sfs_fs *fs, struct sfs_node *n);

/* The flags the daemon's fd needs for a file opened with flags. */
int sfs_open_flags(const struct sfs_fs *fs, int flags);

/* Open the node's data with flags (tree_lock held, node copied up for
 * writing by the caller).  Returns an fd. */
int sfs_open_node(struct sfs_fs *fs, struct sfs_node *n, int flags);
/* Whether sfs_open_node() opens n's upper file (or its index copy): the
 * readers of a metacopy, and of a node replaced at copy-up
 * (passthrough.c), read the lower file. */
bool sfs_node_opens_upper(const struct sfs_node *n, int flags);

void sfs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void sfs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
		      off_t off, struct fuse_file_info *fi);
void sfs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		  struct fuse_file_info *fi);
void sfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		      off_t length, struct fuse_file_info *fi);
void sfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			    struct fuse_file_info *fi_in, fuse_ino_t ino_out,
			    off_t off_out, struct fuse_file_info *fi_out,
			    size_t len, int flags);
void sfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		  struct fuse_file_info *fi);

/* ------------------------------------------------------------------ */
/* handle.c */

/*
 * The handle for an operation on n: the open's (fi->fh), or, when the
 * kernel sends none (zero-message opens), the node's cached one, opened on
 * demand; for writing, the node is copied up first.  Release with
 * sfs_handle_put().  No lock held.
 */
int sfs_handle_get(struct sfs_fs *fs, struct sfs_node *n, struct fuse_file_info *fi,
		   bool write, struct sfs_file **ret);
void sfs_handle_put(struct sfs_fs *fs, struct sfs_file *f);
/* Keep n's file reachable through a cached handle before its name goes
 * away (an open file may still use it).  tree_lock held (write). */
void sfs_handle_pin(struct sfs_fs *fs, struct sfs_node *n);
/* Data of n changed without an open: drop the caches of its other names. */
void sfs_handle_changed(struct sfs_fs *fs, struct sfs_node *n);
/* Cache fd (opened O_RDWR on n's upper file, by a create) as n's write
 * handle; closes it if it cannot be cached. */
void sfs_handle_adopt(struct sfs_fs *fs, struct sfs_node *n, int fd);
/* Drop n's cached handles (n is being freed).  itable_lock held. */
void sfs_handle_drop_locked(struct sfs_fs *fs, struct sfs_node *n);
/* The fd of a handle, switched to the upper file if copied up meanwhile. */
int sfs_file_fd(struct sfs_fs *fs, struct sfs_file *f);

/* ------------------------------------------------------------------ */
/* readdir.c */

void sfs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void sfs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void sfs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void sfs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi);

/*
 * Is the merged directory n empty (whiteouts aside)?  0 if empty,
 * -ENOTEMPTY if not.  tree_lock held.
 */
int sfs_dir_check_empty(struct sfs_fs *fs, struct sfs_node *n);
/* The lower layer that alone holds name in parent, a non-directory, as a
 * kept listing of parent says; -1 when unknown (look everywhere). */
int sfs_listing_layer(struct sfs_fs *fs, const struct sfs_node *parent, const char *name);
/* Drop the kept listing of a directory node being freed. */
void sfs_listing_forget(struct sfs_fs *fs, const struct sfs_node *n);
void sfs_listing_cache_clear(struct sfs_fs *fs);

/* ------------------------------------------------------------------ */
/* xattr.c */

void sfs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		     const char *value, size_t size, int flags);
void sfs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void sfs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void sfs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Overlay xattr name with this mount's prefix ("trusted.overlay.opaque"). */
const char *sfs_ovl_xattr(const struct sfs_fs *fs, const char *suffix);
/* Our own marker name ("trusted.overlay.sfs.origin"). */
const char *sfs_own_xattr(const struct sfs_fs *fs, const char *suffix);

/* /proc path of n's top entry (upper, index copy or top lower), for
 * path-based xattr calls.  An upper file out of the namespace (removed
 * while open, or made by O_TMPFILE) has no path of its own: the path is
 * then the magic link of an fd duplicated from its upper handles into *fd,
 * which the caller closes, and 1 says to follow it (else *fd is -EBADF,
 * and 0 says not to follow a symlink there).  tree_lock held. */
int sfs_node_proc_path(struct sfs_fs *fs, struct sfs_node *n, char *buf, size_t size,
		       int *fd);

/* "/proc/self/fd/<layerfd>/<path>" for path-based xattr calls. */
int sfs_proc_path(const struct sfs_fs *fs, unsigned layer, const char *path,
		  char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* util.c */

enum { SFS_LOG_ERR = 3, SFS_LOG_WARNING = 4, SFS_LOG_INFO = 6, SFS_LOG_DEBUG = 7 };
void sfs_log(int level, const char *fmt, ...) _printf_(2, 3);
void sfs_log_set_debug(bool debug);
bool sfs_log_debug_enabled(void);

/* Copy size bytes of data from src to dst: FICLONE, then copy_file_range
 * hole by hole (sparse files stay sparse), then read/write. */
int sfs_copy_data(int src, int dst, off_t size);
/*
 * Set an overlay marker xattr on one of the daemon's own upper entries
 * (path: a /proc path), even when its mode denies the daemon writing.
 */
int sfs_set_marker_xattr(const char *path, const char *name, const void *value,
			 size_t size);
/* set/removexattr of a user's xattr on the daemon's own upper entry, with
 * the same write-permission lending. */
int sfs_modify_xattr_path(const char *path, const char *name, const void *value,
			  size_t size, int flags, bool remove);
/* Remove path (a directory tree of markers) under dirfd, recursively. */
int sfs_rm_rf_at(int dirfd, const char *name);

/* ------------------------------------------------------------------ */
/* the filesystem */

/* A directory listing kept after its handle (readdir.c). */
struct sfs_listing_slot {
	const struct sfs_node *node;
	uint64_t generation;      /* of node: a recycled address never matches */
	uint64_t version;         /* node->dir_version the listing shows */
	struct sfs_listing *l;
};
#define SFS_LISTING_CACHE 8

struct sfs_fs {
	const struct sfs_config *cfg;   /* borrowed, immutable */
	struct sfs_layer *layers;       /* [0] is the upper layer when present */
	unsigned n_layers;
	struct sfs_layer *upper;        /* NULL: read-only mount */
	int workfd;                     /* workdir/work: temporaries */
	int indexfd;                    /* workdir/sfs-index: hard-link copies */

	/* probed at mount, read-only afterwards */
	enum sfs_whiteout_style wh_style;
	bool trusted_xattrs;   /* overlay xattrs under trusted. (else user.) */
	bool can_chown;        /* the daemon can give files to other users */
	bool same_dev;         /* all layers on one device: st_ino passes through */
	unsigned xino_bits;    /* high bits that carry the layer device index */
	bool metacopy;
	bool writeback;        /* the kernel caches writes (set at init) */
	bool dont_mask;        /* creations come with the caller's umask unapplied */
	double timeout;        /* entry and attribute timeout, seconds */

	struct fuse_session *se;
	struct sfs_notifier *notifier;  /* cache invalidations (notify.c) */
	struct sfs_prefetch *prefetch;  /* directory read-ahead (prefetch.c) */
	struct sfs_node *root;
	pthread_rwlock_t tree_lock;
	pthread_mutex_t itable_lock;
	struct sfs_itable itable;
	struct sfs_nlinks *nlinks;      /* link counts of lower groups (index.c) */
	atomic_bool index_nlink_used;   /* link counts recorded in the index */
	bool no_open;                   /* opens are not sent (handle.c) */
	/* passthrough.c: possible here, offered by the kernel, in use */
	bool pt_possible, pt_offered;
	atomic_bool passthrough;
	pthread_mutex_t pt_lock;
	/* cached handles, evicted first in first out (itable_lock) */
	struct { struct sfs_node *node; unsigned slot; } *handle_ring;
	unsigned ring_size, ring_pos;
	atomic_bool index_data_used;    /* data copies recorded in the index */
	atomic_uint_fast64_t tmp_counter;
	/* inode of workdir/work/#sfs-whiteout, which the upper layer's
	 * whiteouts are links of (dir.c); 0: none */
	_Atomic ino_t shared_whiteout_ino;
	atomic_uint_fast64_t generation;
	/* listings of big directories, replaced in turn (readdir.c) */
	pthread_mutex_t listing_lock;
	struct sfs_listing_slot listings[SFS_LISTING_CACHE];
	unsigned listing_next;
};

static inline struct sfs_fs *sfs_fs_from_req(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline fuse_ino_t sfs_node_ino(struct sfs_fs *fs, struct sfs_node *n)
{
	return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static inline bool sfs_is_dir(const struct sfs_node *n)
{
	return S_ISDIR(n->type);
}

/*
 * How long the kernel may cache n's attributes.  An upper file with several
 * names is several FUSE inodes sharing one file: a change through one name
 * cannot be seen in the cache of another, so its attributes are not cached.
 */
static inline double sfs_attr_timeout(const struct sfs_fs *fs, const struct sfs_node *n,
				      const struct stat *st)
{
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && (n->in_upper || n->index_hit))
		return 0;
	/* a node replaced at copy-up shares its copy with the name's node */
	if (n->copy_fd >= 0)
		return 0;
	return fs->timeout;
}

/* Reply with -r if r < 0, else 0. */
static inline void sfs_reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, r < 0 ? -r : 0);
}

/* Tracing wrappers around every mutation of the upper layer. */
#define SFS_TRACE(fmt, ...)                                                    \
	do {                                                                   \
		if (sfs_log_debug_enabled())                                   \
			sfs_log(SFS_LOG_DEBUG, "upper: " fmt, ##__VA_ARGS__);  \
	} while (0)

#endif /* SFS_STRATAFS_H */
