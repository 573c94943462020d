/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.h - the daemon's configuration, parsed from the fuse-overlayfs
 * compatible command line.  Pure: no FUSE session, no file opened.
 */
#ifndef SFS_OPTIONS_H
#define SFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * One container:host:length triple of uidmapping= / gidmapping=, with
 * fuse-overlayfs' meaning: ids container..container+length-1 as stored in the
 * layers show through the mount as host..host+length-1.  So "A:B:N" parses to
 * { .outside = A, .inside = B, .length = N }.  containers/storage relies on
 * this: it writes ContainerID:HostID:Size and, for a single one-id range,
 * squash_to_uid=HostID (the id seen through the mount).
 */
struct sfs_idmap {
	uint32_t inside;  /* id seen through the mount */
	uint32_t outside; /* id stored on disk */
	uint32_t length;
};

#define SFS_IDMAP_MAX 340 /* same bound as the kernel's uid_map */

/* What an id outside every mapped range becomes: the kernel's default
 * overflowuid/overflowgid ("nobody"). */
#define SFS_OVERFLOW_ID 65534

/*
 * Immutable configuration.  Filled by sfs_config_parse() and checked by
 * sfs_config_validate(); never written once the daemon runs.
 */
struct sfs_config {
	char **lowerdirs;  /* top-most first, as in overlayfs; NULL-terminated;
			    * NULL when no lowerdir= was given */
	size_t n_lower;
	char *upperdir;    /* NULL: read-only mount */
	char *workdir;
	char *mountpoint;

	/* session */
	bool foreground;   /* -f */
	bool debug;        /* -d, -o debug */
	bool singlethread; /* -s, threaded=0 */
	bool clone_fd;
	unsigned max_threads;      /* 0: library default */
	int max_idle_threads;      /* -1: library default */
	unsigned spin_us;          /* the reader polls this long after a request (loop.c) */
	bool allow_other;
	bool allow_root;
	bool auto_unmount;
	bool show_help;
	bool show_version;

	/* caching */
	double timeout;    /* entry/attr timeout in seconds (timeout=) */
	bool timeout_set;
	bool writeback;    /* writeback= */
	bool zero_open;    /* zero_open=: no OPEN/RELEASE messages for files */
	bool dir_readahead; /* dir_readahead=: read subdirectories ahead (prefetch.c) */
	bool passthrough;  /* passthrough=: the kernel does file I/O (passthrough.c) */

	/* durability */
	bool fsync;        /* fsync=1 (default), fsync=0 or volatile: off */

	/* metadata */
	bool noacl;
	bool noxattrs;     /* noxattrs=1: xattr calls return ENOTSUP */
	bool static_nlink;
	int xattr_permissions; /* 0, 1 (security.*) or 2 (user.*) override_stat */
	bool squash_to_root;
	int64_t squash_to_uid; /* -1: unset */
	int64_t squash_to_gid; /* -1: unset */
	struct sfs_idmap *uidmap;
	size_t n_uidmap;
	struct sfs_idmap *gidmap;
	size_t n_gidmap;

	/* overlayfs features */
	bool redirect_dir; /* rename of lower directories via redirect xattr */
	bool metacopy;     /* chmod/chown/utimes copy metadata only */
	bool userxattr;    /* use user.overlay.* instead of trusted.overlay.* */

	/* Mount options passed through to the kernel (ro, nosuid, noatime...,
	 * fsname=, subtype=, max_read=, context=...): a comma-separated string
	 * for fuse_session_new's "-o", with ',' and '\\' in values escaped by
	 * a backslash as libfuse expects.  NULL when there are none.  It never
	 * holds allow_other/allow_root/auto_unmount/default_permissions/debug:
	 * the daemon adds those from the fields above. */
	char *fuse_mount_opts;
	/* context=, fscontext=, ...: for libfuse too, where SELinux is on */
	char *selinux_mount_opts;
	bool read_only;    /* ro */
};

/*
 * Parse argv (argv[0] is the program name) into a fresh configuration.
 * Unknown options and malformed values are errors: a message is written to
 * ret_msg (malloc'd, owned by the caller) and -EINVAL returned.  -ENOMEM
 * comes with *ret_msg = NULL.  ret_msg may be NULL; it is not written on
 * success.  On success *ret_cfg owns everything; free with sfs_config_free().
 * -h/--help and -V/--version stop the parse: the config then only says
 * show_help/show_version, the rest is defaults.  The mountpoint is not
 * required here (see sfs_config_validate()).
 */
int sfs_config_parse(int argc, char **argv, struct sfs_config **ret_cfg,
		     char **ret_msg);

/*
 * Check what can be checked without touching the filesystem: a mountpoint
 * given, at least one lowerdir, a workdir with an upperdir, and upperdir and
 * workdir not the same path (compared component-wise: "a//b/./" equals
 * "a/b"; no symlinks are resolved).  Without upperdir, workdir is ignored.
 * -EINVAL with a message (as for sfs_config_parse()) on failure.
 */
int sfs_config_validate(const struct sfs_config *cfg, char **ret_msg);

void sfs_config_free(struct sfs_config *cfg);

/* For _cleanup_(sfs_config_freep). */
static inline void sfs_config_freep(struct sfs_config **cfg)
{
	sfs_config_free(*cfg);
}

/* Print the --help text to f. */
void sfs_config_print_help(const char *progname, void *f /* FILE * */);

/*
 * Split a lowerdir= value at unescaped ':' ("\:" is a literal colon, "\\" a
 * backslash; as in overlayfs, any "\X" is X).  Empty elements are errors
 * (-EINVAL).  *ret_dirs is NULL-terminated and owned by the caller (free
 * each string, then the array).  Pure helper, exposed for tests.
 */
int sfs_split_lowerdirs(const char *value, char ***ret_dirs, size_t *ret_n);

/*
 * Parse "a:b:n[:a:b:n...]" or "a:b:n,a:b:n"; a leading ':' is allowed, ','
 * only between whole triples.  Numbers are decimal uint32; n >= 1; a range
 * may not wrap past 2^32-1; at most SFS_IDMAP_MAX triples.  -EINVAL on any
 * other form (-E2BIG past the bound).  *ret_map is malloc'd, in given order.
 */
int sfs_parse_idmap(const char *value, struct sfs_idmap **ret_map, size_t *ret_n);

/* Map an id through a mapping: inside->outside when to_disk, else back.
 * The first matching range wins.  Ids outside every range map to the
 * overflow id SFS_OVERFLOW_ID (65534).  An empty mapping (n == 0) is the
 * identity, so callers need not special-case "no uidmapping=". */
uint32_t sfs_idmap_apply(const struct sfs_idmap *map, size_t n, uint32_t id,
			 bool to_disk);

#endif /* SFS_OPTIONS_H */
