/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * userns.c - a user namespace over the caller's subordinate ids (see
 * userns.h).
 *
 * The dance, as rootless podman does it: a child unshares a user and a mount
 * namespace and waits on a socket; the parent runs newuidmap and newgidmap on
 * it (setuid helpers that check /etc/subuid and /etc/subgid, so they write
 * uid_map and gid_map for us; setgroups stays allowed); the child, now root
 * over its namespaces, unshares a pid namespace and forks its pid 1, which
 * returns to the caller.  Everything pid 1 starts (stratafs, the sandbox)
 * dies with it, and so does the mount namespace with whatever is mounted in
 * it.  The first child stays in between, relaying signals and the exit
 * status, because only its children can be in the new pid namespace.
 */
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"
#include "userns.h"

#define SUBUID_FILE "/etc/subuid"
#define SUBGID_FILE "/etc/subgid"
#define EXIT_NO_PID1 125

/* "START:COUNT" after the name of a subid line; false if malformed. */
static bool parse_range(const char *s, struct userns_range *ret)
{
	unsigned long long start, count;
	char *end;

	errno = 0;
	start = strtoull(s, &end, 10);
	if (errno || end == s || *end != ':')
		return false;
	s = end + 1;
	count = strtoull(s, &end, 10);
	if (errno || end == s || (*end && *end != '\n'))
		return false;
	if (count == 0 || start + count > UINT32_MAX)
		return false;
	*ret = (struct userns_range){ (uint32_t)start, (uint32_t)count };
	return true;
}

/*
 * The ranges of @file ("NAME:START:COUNT" lines, NAME a user name or a
 * numeric uid) that belong to @user or @uid, in file order.  -ENOENT if
 * there are none.
 */
static int read_ranges(const char *file, const char *user, uid_t uid,
		       struct userns_range *ranges, size_t *ret_n)
{
	_cleanup_fclose_ FILE *f = fopen(file, "re");
	_cleanup_free_ char *line = NULL;
	uint64_t total = 0;
	char uidstr[16];
	size_t cap = 0, n = 0;

	if (!f)
		return -errno;
	snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)uid);
	while (n < USERNS_MAX_RANGES && getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':');
		struct userns_range r;

		if (!colon || line[0] == '#')
			continue;
		*colon = '\0';
		if ((!user || strcmp(line, user) != 0) && strcmp(line, uidstr) != 0)
			continue;
		if (!parse_range(colon + 1, &r))
			continue;
		/* ids inside run from 1 to the sum of the counts */
		if (total + r.count >= UINT32_MAX)
			break;
		total += r.count;
		ranges[n++] = r;
	}
	if (ferror(f))
		return -EIO;
	if (n == 0)
		return -ENOENT;
	*ret_n = n;
	return 0;
}

static void why(char **ret_why, const char *fmt, ...) _printf_(2, 3);
static void why(char **ret_why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(ret_why, fmt, ap) < 0)
		*ret_why = NULL;
	va_end(ap);
}

void userns_ids_clear(struct userns_ids *ids)
{
	free(ids->newuidmap);
	free(ids->newgidmap);
	*ids = (struct userns_ids){ 0 };
}

int userns_ids_get(struct userns_ids *ret, char **ret_why)
{
	_cleanup_(userns_ids_clear) struct userns_ids ids = { .uid = getuid(), .gid = getgid() };
	struct passwd *pw = getpwuid(ids.uid);
	const char *user = pw ? pw->pw_name : NULL;
	char uidstr[16];
	int r;

	snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)ids.uid);
	*ret_why = NULL;
	r = read_ranges(SUBUID_FILE, user, ids.uid, ids.uids, &ids.n_uids);
	if (r < 0)
		return why(ret_why, r == -ENOENT ? "no subordinate ids for %s in %s"
						  : "no subordinate ids for %s: cannot read %s",
			   user ? user : uidstr, SUBUID_FILE), r;
	r = read_ranges(SUBGID_FILE, user, ids.uid, ids.gids, &ids.n_gids);
	if (r < 0)
		return why(ret_why, r == -ENOENT ? "no subordinate ids for %s in %s"
						  : "no subordinate ids for %s: cannot read %s",
			   user ? user : uidstr, SUBGID_FILE), r;
	ids.newuidmap = tool_find_program("newuidmap");
	ids.newgidmap = tool_find_program("newgidmap");
	if (!ids.newuidmap || !ids.newgidmap)
		return why(ret_why, "%s not found (install uidmap)",
			   ids.newuidmap ? "newgidmap" : "newuidmap"), -ENOEXEC;
	*ret = ids;
	ids = (struct userns_ids){ 0 };
	return 0;
}

/* ---- the namespaces ------------------------------------------------------------ */

/* `newuidmap PID 0 ID 1 START COUNT [N START COUNT]...` (or newgidmap). */
static int write_map(const char *helper, pid_t pid, uint32_t id,
		     const struct userns_range *ranges, size_t n)
{
	char args[3 * (USERNS_MAX_RANGES + 1) + 1][16];
	char *argv[3 * (USERNS_MAX_RANGES + 1) + 3];
	uint64_t inside = 1;
	size_t a = 0, k = 0;
	int r;

	argv[a++] = (char *)helper;
	snprintf(args[k], sizeof(args[k]), "%d", (int)pid);
	argv[a++] = args[k++];
	argv[a++] = "0";
	snprintf(args[k], sizeof(args[k]), "%u", (unsigned)id);
	argv[a++] = args[k++];
	argv[a++] = "1";
	for (size_t i = 0; i < n; i++) {
		snprintf(args[k], sizeof(args[k]), "%llu", (unsigned long long)inside);
		argv[a++] = args[k++];
		snprintf(args[k], sizeof(args[k]), "%u", (unsigned)ranges[i].start);
		argv[a++] = args[k++];
		snprintf(args[k], sizeof(args[k]), "%u", (unsigned)ranges[i].count);
		argv[a++] = args[k++];
		inside += ranges[i].count;
	}
	argv[a] = NULL;
	r = tool_run(argv, false);
	if (r < 0)
		return r;
	return r == 0 ? 0 : -EPERM; /* it said why */
}

/*
 * The first child: unshare, report to the parent on @sock, wait for the
 * verdict on the maps, then make pid 1 of a new pid namespace and relay to
 * it until it exits.  Returns in pid 1 only.
 */
static void become_pid1(int sock, pid_t parent, const sigset_t *relay)
{
	pid_t pid;
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	r = neg_errno(unshare(CLONE_NEWUSER | CLONE_NEWNS));
	if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r) || r < 0)
		_exit(EXIT_NO_PID1);
	if (recv(sock, &r, sizeof(r), MSG_WAITALL) != sizeof(r) || r < 0)
		_exit(EXIT_NO_PID1);
	close(sock);
	/* Root now: uid and gid 0 are the caller's, with every capability.
	 * A change of credentials may have cleared the death signal: again. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(EXIT_NO_PID1);
	if (unshare(CLONE_NEWPID) < 0) {
		tool_err("cannot create a pid namespace: %m");
		_exit(EXIT_NO_PID1);
	}
	pid = fork();
	if (pid < 0) {
		tool_err("cannot start a process in the new namespaces: %m");
		_exit(EXIT_NO_PID1);
	}
	if (pid == 0) {
		/* When the relay dies (the caller was killed), so does pid 1, and
		 * with it the whole pid namespace. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return;
	}
	_exit(tool_wait_forwarding(pid, relay));
}

int userns_fork(const struct userns_ids *ids, const sigset_t *relay, pid_t *ret_pid)
{
	_cleanup_close_ int sock = -EBADF;
	pid_t pid, self = getpid();
	ssize_t n;
	int sp[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sp[0]);
		close(sp[1]);
		return r;
	}
	if (pid == 0) {
		close(sp[0]);
		become_pid1(sp[1], self, relay);
		return 0;
	}
	close(sp[1]);
	sock = sp[0];
	n = recv(sock, &r, sizeof(r), MSG_WAITALL);
	if (n != sizeof(r))
		r = n < 0 ? -errno : -ECHILD;
	if (r < 0) {
		/* the child could not unshare: it is gone already */
		(void)waitpid(pid, NULL, 0);
		return r;
	}
	r = write_map(ids->newuidmap, pid, ids->uid, ids->uids, ids->n_uids);
	if (r >= 0)
		r = write_map(ids->newgidmap, pid, ids->gid, ids->gids, ids->n_gids);
	if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r) && r >= 0)
		r = -errno;
	if (r < 0) {
		(void)kill(pid, SIGKILL); /* waiting, or it went away */
		(void)waitpid(pid, NULL, 0);
		return r;
	}
	*ret_pid = pid;
	return 1;
}
