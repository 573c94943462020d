/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sandbox.h - run a command with a mounted container as its root file
 * system, in bubblewrap or (root only) in a chroot(2) in private namespaces.
 * Used by `strata run` (cmd-run.c); knows nothing of the store.
 */
#ifndef STRATA_SANDBOX_H
#define STRATA_SANDBOX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct sandbox_bind {
	char *host; /* absolute host path (realpath'ed) */
	char *dest; /* absolute path inside the sandbox */
	bool ro;
};

/* Mount points the sandbox makes in the container (sandbox_mountpoints_note). */
struct sandbox_mountpoints {
	char **paths; /* outermost first */
	size_t n;
};

/* Who the command runs as (strata run --user, or the image's "User"). */
struct sandbox_user {
	bool set;       /* false: root, as the sandbox starts */
	uid_t uid;
	gid_t gid;
	gid_t *groups;  /* supplementary groups (malloc'd) */
	size_t n_groups;
	char *home;     /* from the passwd entry, or NULL (malloc'd) */
};

struct sandbox {
	const char *root;     /* the mounted root file system */
	const char *hostname; /* NULL: keep the host's */
	const char *workdir;  /* absolute, inside the sandbox */
	char **argv;          /* the command */
	char **envp;          /* its whole environment */
	const struct sandbox_bind *binds;
	size_t n_binds;
	bool use_chroot; /* chroot(2) instead of bubblewrap; needs root */
	bool userns;     /* bubblewrap: map the caller to uid/gid 0 in a user namespace */
	const char *bwrap; /* path of bwrap (sandbox_find_bwrap()) */
	const struct sandbox_user *user; /* NULL or !set: root */
	const char *setuser; /* path of strata-setuser, for bubblewrap with a user */
};

/*
 * Resolve "USER[:GROUP]" (names or numbers) in the root file system at
 * @root, as docker does: names from its /etc/passwd and /etc/group; the
 * group defaults to the user's primary one (0 for a number without an
 * entry); supplementary groups are those listing the user by name.
 * -ENOENT (with a message) for a name it does not have.
 */
int sandbox_resolve_user(const char *root, const char *spec, struct sandbox_user *ret);
void sandbox_user_clear(struct sandbox_user *u);
/* Is @path (absolute, inside @root) a regular file there, symlinks not followed? */
bool sandbox_has_file(const char *root, const char *path);
/* Is nothing at @path inside @root (some component missing)? */
bool sandbox_lacks_path(const char *root, const char *path);

/*
 * The sandbox mounts /proc, /dev, /tmp and its binds over paths that
 * bubblewrap, or the chroot way, creates in the container where it lacks
 * them, so they would show in `strata diff` and land in a commit.  Before
 * the run, note those the sandbox itself brings (not the user's volumes,
 * whose mount points stay, as docker's); after it, drop them again where
 * they are still empty.
 */
int sandbox_mountpoints_note(const char *root, struct sandbox_mountpoints *ret);
/* Make an empty file at @path (absolute, inside @root) to bind a file on,
 * noting in @mp what was made; an error when the caller may not. */
int sandbox_mountpoint_make(const char *root, const char *path, struct sandbox_mountpoints *mp);
void sandbox_mountpoints_drop(const char *root, struct sandbox_mountpoints *mp);

/* Malloc'ed path of bubblewrap: $BWRAP or "bwrap" in $PATH; NULL if absent. */
char *sandbox_find_bwrap(void);
/*
 * Look up sb->argv[0] inside sb->root as execvp would (PATH from sb->envp,
 * relative to sb->workdir): 0 if it names an executable file, -ENOENT if
 * nothing is there (docker's 127), -EACCES if it is not executable (126).
 */
int sandbox_check_command(const struct sandbox *sb);
/* mkdir -p of the absolute in-sandbox @path below @root, symlinks resolved inside it. */
int sandbox_mkdir_p(const char *root, const char *path);
/*
 * Start the sandboxed command; the child's signal mask becomes @child_mask.
 * Its exit status is the command's (128+N if a signal N ended it).
 * @ret_status_fd: read end of bwrap's --json-status-fd (-EBADF for chroot),
 * for sandbox_command_started() once the child has exited.
 */
int sandbox_spawn(const struct sandbox *sb, const sigset_t *child_mask, pid_t *ret_pid,
		  int *ret_status_fd);
/* Did the command run and exit (false: bubblewrap failed to set up the
 * sandbox or to exec it, or was killed)? */
bool sandbox_command_started(int status_fd);

#endif /* STRATA_SANDBOX_H */
