/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tool.h - helpers shared by the strata subcommands: global flags, opening
 * the store, error reporting ("strata: ..." on stderr), id/size/time
 * formatting, JSON strings, terminal progress, starting stratafs.
 */
#ifndef STRATA_TOOL_H
#define STRATA_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "layerdb.h"
#include "macro.h"

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Global flags (parsed in main.c). */
extern const char *arg_root;
extern bool arg_quiet;

struct cmd_help {
	const char *usage;   /* "add SOURCE [options]" */
	const char *summary; /* one line */
	const char *options; /* option lines, may be NULL */
};

void tool_err(const char *fmt, ...) _printf_(1, 2);
/* Print "strata: WHAT: detail" where detail is ldb_errmsg() or strerror(-r); returns 1. */
int tool_fail(struct ldb *db, int r, const char *fmt, ...) _printf_(3, 4);
int tool_usage_error(const struct cmd_help *h, const char *fmt, ...) _printf_(2, 3);
void tool_print_help(const struct cmd_help *h);

/* Open the store (--root, $STRATA_ROOT, /var/lib/strata or $XDG_DATA_HOME/strata). */
int tool_open(struct ldb **ret_db);
static inline void ldb_closep(struct ldb **db)
{
	ldb_close(*db);
}
#define _cleanup_ldb_ _cleanup_(ldb_closep)

/* "xxh128:<32 hex>" (long) or 12 hex (short) into @buf (>= 48 bytes). */
const char *tool_id(const struct ldb_digest *d, bool full, char *buf);
#define TOOL_ID_MAX 48
/* Docker's human sizes: "0B", "12.3kB", "4.56MB" (SI units). */
const char *tool_size(uint64_t bytes, char buf[32]);
/* "3 seconds ago", "2 hours ago", ... */
const char *tool_ago(int64_t t, char buf[48]);
/* RFC 3339 UTC. */
const char *tool_time(int64_t t, char buf[48]);
/* JSON string literal (with quotes) of @s to @f; "null" for NULL. */
void tool_json_str(FILE *f, const char *s);

/* Progress on stderr when it is a terminal (ldb_progress_cb). */
void tool_progress(const struct ldb_progress *p, void *payload);
void tool_progress_done(void);

/* 1 if @path is a mount point, 0 if not. */
int tool_is_mountpoint(const char *path);
#define TOOL_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Path of the executable @name in $PATH (a default PATH when unset),
 * malloc'ed; NULL if there is none (or out of memory). */
char *tool_find_program(const char *name);
/* Path of the stratafs binary (malloc'ed): $STRATAFS, next to us, or "stratafs". */
char *tool_find_stratafs(void);
/* Malloc'd path of strata-setuser (beside strata, or in libexecdir); NULL if absent. */
char *tool_find_setuser(void);
/* Run argv, wait; returns the exit status or a negative errno. */
int tool_run(char *const argv[], bool quiet);
/*
 * Wait for the child @pid, with the signals of @set (SIGCHLD among them)
 * blocked: forward those sent to us with kill(2) (not the terminal's, which
 * its process group gets too).  Returns its exit status, 128+N if signal N
 * ended it.
 */
int tool_wait_forwarding(pid_t pid, const sigset_t *set);

/* Subcommands (cmd-*.c). */
int cmd_add(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_layers(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_mount(int argc, char **argv);
/* cmd-mount.c: show the emulated owners of an unprivileged store (stratafs
 * -o xattr_permissions=2); `strata run` without subordinate ids turns it off
 * (see cmd-run.c). */
extern bool tool_mount_emulate_owners;
/* cmd-mount.c: stratafs's -o string for the container @c on @mp (its layers,
 * upper and work directories; xattr_permissions=2 with @emulate_owners). */
int tool_stratafs_options(struct ldb *db, const struct ldb_container_info *c, const char *mp,
			  bool emulate_owners, char **ret);
int cmd_umount(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_df(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* Parse argv with getopt_long; handles --help.  Returns the option char,
 * -1 at the end, 'h' handled (caller returns EXIT_OK), '?' usage error. */
#define TOOL_HELP_OPTION { "help", no_argument, NULL, 'h' }

/* The common tail of a subcommand's getopt switch (needs argc/argv in scope). */
#define GETOPT_COMMON(h)                                                                   \
	case 'h':                                                                          \
		tool_print_help(h);                                                        \
		return EXIT_OK;                                                            \
	case ':':                                                                          \
		return tool_usage_error(h, "option '%s' needs a value", argv[optind - 1]); \
	default:                                                                           \
		return tool_usage_error(h, "unknown option '%s'", argv[optind - 1])

#endif /* STRATA_TOOL_H */
