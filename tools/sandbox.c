/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sandbox.c - run a command inside a mounted root file system (see sandbox.h).
 *
 * Two ways in:
 *   - bubblewrap: `bwrap --bind ROOT / --proc /proc --dev /dev --perms 1777
 *     --tmpfs /tmp ...`, with `--unshare-user --uid 0 --gid 0` when
 *     unprivileged (sb->userns), so the caller is root inside and owns what
 *     it creates (the FUSE mount belongs to the caller, which is the only one
 *     allowed in).  Root of a user namespace `strata run` made (userns.c),
 *     bwrap needs none of that: it runs as root there.
 *   - chroot (root only): a child unshares mount, pid, uts and ipc
 *     namespaces, mounts /proc, a small /dev, a tmpfs /tmp and the volumes in
 *     its private mount namespace (so nothing outlives it), chroots and execs.
 *
 * Paths inside the root are resolved with openat2(RESOLVE_IN_ROOT), so an
 * image's absolute symlinks (/data -> /etc) stay inside it.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <linux/openat2.h>

#include "sandbox.h"
#include "tool.h"

extern char **environ;

static bool same_inode(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * openat2(RESOLVE_IN_ROOT) done by hand, for kernels before 5.6 (and
 * valgrind): one component at a time, symlinks expanded with absolute
 * targets starting again at @rootfd, ".." stopping there.
 */
static int walk_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	_cleanup_free_ char *todo = strdup(path);
	_cleanup_close_ int cur = -EBADF;
	unsigned links = 0;
	char *p;
	int r;

	if (!todo)
		return -ENOMEM;
	r = cur = neg_errno(openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	for (p = todo;;) {
		char target[PATH_MAX], *comp, *rest, *next_todo;
		struct stat st;
		ssize_t n;
		int next;

		p += strspn(p, "/");
		if (!*p)
			return neg_errno(openat(cur, ".", flags | O_CLOEXEC, mode));
		comp = p;
		rest = p + strcspn(p, "/");
		if (*rest)
			*rest++ = '\0';
		rest += strspn(rest, "/");
		p = rest;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0 && same_inode(cur, rootfd))
			continue;
		r = neg_errno(fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW));
		if (r == -ENOENT && !*rest && (flags & O_CREAT))
			return neg_errno(openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode));
		if (r < 0)
			return r;
		if (S_ISLNK(st.st_mode)) {
			if (++links > 40)
				return -ELOOP;
			n = readlinkat(cur, comp, target, sizeof(target) - 1);
			if (n < 0)
				return -errno;
			target[n] = '\0';
			if (asprintf(&next_todo, "%s/%s", target, rest) < 0)
				return -ENOMEM;
			free(todo);
			todo = p = next_todo;
			if (target[0] == '/') {
				close(cur);
				r = cur = neg_errno(openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
				if (r < 0)
					return r;
			}
			continue;
		}
		if (!*rest)
			return neg_errno(openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode));
		r = next = neg_errno(openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
		if (r < 0)
			return r;
		close(cur);
		cur = next;
	}
}

/* Open @path with the directory @rootfd as its root: symlinks and ".." stay inside. */
static int open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int r = -EAGAIN;

	/* ".." fails with EAGAIN when any rename or mount raced with it. */
	for (int i = 0; i < 16 && r == -EAGAIN; i++)
		r = neg_errno((int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how)));
	if (r != -ENOSYS && r != -EAGAIN)
		return r;
	return walk_in_root(rootfd, path, flags, mode);
}

/* ---- users -------------------------------------------------------------------- */

void sandbox_user_clear(struct sandbox_user *u)
{
	free(u->groups);
	free(u->home);
	*u = (struct sandbox_user){ 0 };
}

static bool parse_number(const char *s, unsigned long *ret)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	return !errno && !*end && *ret <= 0xfffffffeul;
}

/* Field @i (from 0) of the colon-separated @line, cut in place; NULL if short. */
static char *field(char *line, int i)
{
	char *f = line, *end;

	for (; i > 0 && f; i--) {
		f = strchr(f, ':');
		if (f)
			f++;
	}
	if (!f)
		return NULL;
	end = strchr(f, ':');
	return end ? strndup(f, end - f) : strdup(f);
}

/* Each line of the file at @path inside @rootfd, to @fn until it returns non-zero. */
static int each_line(int rootfd, const char *path, int (*fn)(char *line, void *payload),
		     void *payload)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int fd, r = 0;

	fd = open_in_root(rootfd, path, O_RDONLY, 0);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (len = getline(&line, &cap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (line[0] && line[0] != '#')
			r = fn(line, payload);
	}
	fclose(f);
	return r < 0 ? r : 0;
}

struct passwd_query {
	const char *name;  /* or */
	unsigned long uid;
	bool by_uid;
	char *found_name;
	unsigned long found_uid, found_gid;
	char *home;
	bool found;
};

static int passwd_line(char *line, void *payload)
{
	struct passwd_query *q = payload;
	_cleanup_free_ char *name = field(line, 0), *uid = field(line, 2), *gid = field(line, 3);
	unsigned long u, g;

	if (!name || !uid || !gid || !parse_number(uid, &u) || !parse_number(gid, &g))
		return 0;
	if (q->by_uid ? u != q->uid : strcmp(name, q->name) != 0)
		return 0;
	q->found = true;
	q->found_uid = u;
	q->found_gid = g;
	q->found_name = steal_pointer(&name);
	q->home = field(line, 5);
	return 1;
}

struct group_query {
	const char *group;   /* a name to find, or NULL */
	unsigned long gid;
	bool found;
	const char *member;  /* collect the groups listing this user, or NULL */
	gid_t *groups;
	size_t n;
};

static int group_line(char *line, void *payload)
{
	struct group_query *q = payload;
	_cleanup_free_ char *name = field(line, 0), *gid = field(line, 2), *members = field(line, 3);
	unsigned long g;

	if (!name || !gid || !parse_number(gid, &g))
		return 0;
	if (q->group && !q->found && strcmp(name, q->group) == 0) {
		q->found = true;
		q->gid = g;
	}
	if (q->member && members) {
		char *save = NULL;

		for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			if (strcmp(m, q->member) != 0)
				continue;
			gid_t *v = realloc(q->groups, (q->n + 1) * sizeof(*v));

			if (!v)
				return -ENOMEM;
			q->groups = v;
			q->groups[q->n++] = (gid_t)g;
			break;
		}
	}
	return 0;
}

int sandbox_resolve_user(const char *root, const char *spec, struct sandbox_user *ret)
{
	_cleanup_free_ char *user = strdup(spec);
	_cleanup_close_ int rootfd = -EBADF;
	struct passwd_query pq = { 0 };
	struct group_query gq = { 0 };
	char *group;
	unsigned long n;
	int r;

	*ret = (struct sandbox_user){ 0 };
	if (!user)
		return -ENOMEM;
	group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (!*user || (group && !*group)) {
		tool_err("invalid user '%s': expected USER[:GROUP]", spec);
		return -EINVAL;
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	pq.by_uid = parse_number(user, &pq.uid);
	pq.name = user;
	r = each_line(rootfd, "/etc/passwd", passwd_line, &pq);
	if (r < 0)
		return r;
	if (!pq.found && !pq.by_uid) {
		tool_err("unable to find user %s: no matching entries in passwd file", user);
		return -ENOENT;
	}
	ret->uid = pq.by_uid ? pq.uid : pq.found_uid;
	ret->gid = pq.found ? pq.found_gid : 0;
	ret->home = pq.home;
	if (group) {
		if (parse_number(group, &n)) {
			ret->gid = n;
		} else {
			gq.group = group;
			r = each_line(rootfd, "/etc/group", group_line, &gq);
			if (r < 0)
				goto fail;
			if (!gq.found) {
				tool_err("unable to find group %s: no matching entries in group file",
					 group);
				r = -ENOENT;
				goto fail;
			}
			ret->gid = gq.gid;
		}
	}
	/* the group, then those listing the user (docker's "groups=") */
	ret->groups = malloc(sizeof(*ret->groups));
	if (!ret->groups) {
		r = -ENOMEM;
		goto fail;
	}
	ret->groups[0] = ret->gid;
	ret->n_groups = 1;
	if (pq.found) {
		struct group_query mq = { .member = pq.found_name };

		r = each_line(rootfd, "/etc/group", group_line, &mq);
		for (size_t i = 0; r >= 0 && i < mq.n; i++) {
			gid_t *v;

			if (mq.groups[i] == ret->gid)
				continue;
			v = realloc(ret->groups, (ret->n_groups + 1) * sizeof(*v));
			if (!v) {
				r = -ENOMEM;
				break;
			}
			ret->groups = v;
			ret->groups[ret->n_groups++] = mq.groups[i];
		}
		free(mq.groups);
		if (r < 0)
			goto fail;
	}
	free(pq.found_name);
	ret->set = true;
	return 0;
fail:
	free(pq.found_name);
	sandbox_user_clear(ret);
	return r;
}

bool sandbox_has_file(const char *root, const char *path)
{
	_cleanup_close_ int rootfd = -EBADF, fd = -EBADF;
	struct stat st;

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return false;
	fd = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

bool sandbox_lacks_path(const char *root, const char *path)
{
	_cleanup_close_ int rootfd = -EBADF, fd = -EBADF;

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return false;
	fd = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
	return fd == -ENOENT;
}

/* Note the components of @path that @rootfd lacks, outermost first. */
static int note_missing(int rootfd, const char *path, struct sandbox_mountpoints *mp)
{
	_cleanup_free_ char *prefix = strdup(path);
	bool missing = false;

	if (!prefix)
		return -ENOMEM;
	for (char *p = prefix + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (!missing) {
			int fd = open_in_root(rootfd, prefix, O_PATH | O_NOFOLLOW, 0);

			missing = fd == -ENOENT;
			if (fd >= 0)
				close(fd);
		}
		if (missing) {
			char **v = realloc(mp->paths, (mp->n + 1) * sizeof(*v));

			if (!v)
				return -ENOMEM;
			mp->paths = v;
			v[mp->n] = strdup(prefix);
			if (!v[mp->n])
				return -ENOMEM;
			mp->n++;
		}
		*p = c;
		if (!c)
			return 0;
	}
}

int sandbox_mountpoints_note(const char *root, struct sandbox_mountpoints *ret)
{
	static const char *const own[] = { "/proc", "/dev", "/tmp" };
	_cleanup_close_ int rootfd = -EBADF;
	int r = 0;

	*ret = (struct sandbox_mountpoints){ 0 };
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(own) && r >= 0; i++)
		r = note_missing(rootfd, own[i], ret);
	return r;
}

static int mkdir_p_at(int rootfd, const char *path);
static int touch_in_root(int rootfd, const char *path);

int sandbox_mountpoint_make(const char *root, const char *path, struct sandbox_mountpoints *mp)
{
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *parent = strdup(path);
	int r;

	if (rootfd < 0 || !parent)
		return rootfd < 0 ? -errno : -ENOMEM;
	r = note_missing(rootfd, path, mp);
	if (r < 0)
		return r;
	*strrchr(parent, '/') = '\0';
	r = *parent ? mkdir_p_at(rootfd, parent) : 0;
	return r < 0 ? r : touch_in_root(rootfd, path);
}

void sandbox_mountpoints_drop(const char *root, struct sandbox_mountpoints *mp)
{
	_cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	/* innermost first: a directory goes once what it held has gone */
	for (size_t i = mp->n; i-- > 0;) {
		char *slash = strrchr(mp->paths[i], '/');
		const char *name = slash + 1;
		_cleanup_close_ int dirfd = -EBADF;
		struct stat st;

		*slash = '\0';
		dirfd = rootfd < 0 ? -EBADF
				   : open_in_root(rootfd, slash == mp->paths[i] ? "/" : mp->paths[i],
						  O_PATH | O_DIRECTORY, 0);
		/* only what is still empty: the command may have used it */
		if (dirfd >= 0 && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode))
				(void)unlinkat(dirfd, name, AT_REMOVEDIR);
			else if (S_ISREG(st.st_mode) && st.st_size == 0)
				(void)unlinkat(dirfd, name, 0);
		}
		free(mp->paths[i]);
	}
	free(mp->paths);
	*mp = (struct sandbox_mountpoints){ 0 };
}

char *sandbox_find_bwrap(void)
{
	const char *env = getenv("BWRAP");

	if (env && *env)
		return access(env, X_OK) == 0 ? strdup(env) : NULL;
	return tool_find_program("bwrap");
}

/* ---- looking things up inside the root ------------------------------------ */

static int check_exec(int rootfd, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int r;

	r = fd = open_in_root(rootfd, path, O_PATH, 0);
	if (r == -ENOTDIR || r == -ELOOP)
		return -ENOENT;
	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return -EACCES;
	return 0;
}

static const char *env_get(char **envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

int sandbox_check_command(const struct sandbox *sb)
{
	_cleanup_close_ int rootfd = -EBADF;
	_cleanup_free_ char *copy = NULL;
	const char *cmd = sb->argv[0], *path;
	char *dir, *save = NULL;
	int r, best = -ENOENT;

	r = rootfd = neg_errno(open(sb->root, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	if (!*cmd)
		return -ENOENT;
	if (strchr(cmd, '/')) {
		_cleanup_free_ char *p = NULL;

		if (cmd[0] == '/')
			return check_exec(rootfd, cmd);
		if (asprintf(&p, "%s/%s", sb->workdir, cmd) < 0)
			return -ENOMEM;
		return check_exec(rootfd, p);
	}
	path = env_get(sb->envp, "PATH");
	copy = strdup(path ? path : TOOL_DEFAULT_PATH);
	if (!copy)
		return -ENOMEM;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s%s%s/%s", dir[0] == '/' ? "" : sb->workdir,
			     dir[0] == '/' ? "" : "/", dir, cmd) < 0)
			return -ENOMEM;
		r = check_exec(rootfd, p);
		if (r == 0)
			return 0;
		if (r == -EACCES)
			best = r;
	}
	return best;
}

/* mkdir -p of the absolute @path, each level resolved inside @rootfd. */
static int mkdir_p_at(int rootfd, const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	char *p = copy;
	int r;

	if (!copy)
		return -ENOMEM;
	for (;;) {
		_cleanup_close_ int fd = -EBADF, parent = -EBADF;
		char *end, saved, c;

		p += strspn(p, "/");
		if (!*p)
			return 0;
		end = p + strcspn(p, "/");
		saved = *end;
		*end = '\0';
		r = fd = open_in_root(rootfd, copy, O_PATH | O_DIRECTORY, 0);
		if (r == -ENOENT) {
			c = *p;
			*p = '\0';
			r = parent = open_in_root(rootfd, copy, O_PATH | O_DIRECTORY, 0);
			*p = c;
			if (r >= 0)
				r = neg_errno(mkdirat(parent, p, 0755));
			if (r == -EEXIST)
				r = 0;
		}
		if (r < 0)
			return r;
		*end = saved;
		p = end;
	}
}

int sandbox_mkdir_p(const char *root, const char *path)
{
	_cleanup_close_ int rootfd = -EBADF;
	int r;

	if (path[0] != '/')
		return -EINVAL;
	r = rootfd = neg_errno(open(root, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return r;
	return mkdir_p_at(rootfd, path);
}

/* ---- bubblewrap ------------------------------------------------------------ */

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_add(struct strv *s, const char *a)
{
	if (s->n + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (char *)a;
	s->v[s->n] = NULL;
	return 0;
}

/* Where bubblewrap puts strata-setuser: its own /dev tmpfs, not the container. */
#define SETUSER_IN_SANDBOX "/dev/.strata-setuser"

/* "UID\0GID\0G1,G2...\0": the numbers of @u as strings, malloc'd. */
static char *user_strings(const struct sandbox_user *u, char **gid, char **groups)
{
	size_t len = 2 * 12 + u->n_groups * 12 + 1, pos;
	char *b = malloc(len);

	if (!b)
		return NULL;
	pos = (size_t)snprintf(b, len, "%u", (unsigned)u->uid) + 1;
	*gid = b + pos;
	pos += (size_t)snprintf(b + pos, len - pos, "%u", (unsigned)u->gid) + 1;
	*groups = b + pos;
	b[pos] = '\0';
	for (size_t i = 0; i < u->n_groups; i++)
		pos += (size_t)snprintf(b + pos, len - pos, "%s%u", i ? "," : "",
					(unsigned)u->groups[i]);
	return b;
}

static int bwrap_argv(const struct sandbox *sb, const char *status_fd, struct strv *a,
		      char **scratch)
{
	const struct sandbox_user *u = sb->user && sb->user->set ? sb->user : NULL;
	char *uid = "0", *gid = "0", *groups = "";
	int r = 0;

	if (u) {
		uid = *scratch = user_strings(u, &gid, &groups);
		if (!uid)
			return -ENOMEM;
	}

	r |= strv_add(a, sb->bwrap);
	r |= strv_add(a, "--die-with-parent");
	r |= strv_add(a, "--json-status-fd");
	r |= strv_add(a, status_fd);
	r |= strv_add(a, "--unshare-pid");
	r |= strv_add(a, "--unshare-ipc");
	if (sb->userns) {
		/* the caller alone is mapped: it becomes the user */
		r |= strv_add(a, "--unshare-user");
		r |= strv_add(a, "--uid");
		r |= strv_add(a, uid);
		r |= strv_add(a, "--gid");
		r |= strv_add(a, gid);
	}
	if (sb->hostname) {
		r |= strv_add(a, "--unshare-uts");
		r |= strv_add(a, "--hostname");
		r |= strv_add(a, sb->hostname);
	}
	r |= strv_add(a, "--bind");
	r |= strv_add(a, sb->root);
	r |= strv_add(a, "/");
	r |= strv_add(a, "--proc");
	r |= strv_add(a, "/proc");
	r |= strv_add(a, "--dev");
	r |= strv_add(a, "/dev");
	/* world-writable and sticky, as the chroot way mounts it (bwrap's
	 * default is 0755: only root could write there) */
	r |= strv_add(a, "--perms");
	r |= strv_add(a, "1777");
	r |= strv_add(a, "--tmpfs");
	r |= strv_add(a, "/tmp");
	for (size_t i = 0; i < sb->n_binds; i++) {
		r |= strv_add(a, sb->binds[i].ro ? "--ro-bind" : "--bind");
		r |= strv_add(a, sb->binds[i].host);
		r |= strv_add(a, sb->binds[i].dest);
	}
	if (u && !sb->userns) {
		r |= strv_add(a, "--ro-bind");
		r |= strv_add(a, sb->setuser);
		r |= strv_add(a, SETUSER_IN_SANDBOX);
	}
	r |= strv_add(a, "--chdir");
	r |= strv_add(a, sb->workdir);
	r |= strv_add(a, "--");
	if (u && !sb->userns) {
		r |= strv_add(a, SETUSER_IN_SANDBOX);
		r |= strv_add(a, uid);
		r |= strv_add(a, gid);
		r |= strv_add(a, groups);
		r |= strv_add(a, "--");
	}
	for (char **p = sb->argv; *p; p++)
		r |= strv_add(a, *p);
	return r < 0 ? -ENOMEM : 0;
}

/* ---- chroot ------------------------------------------------------------------ */

static int mount_in_root(int rootfd, const char *src, const char *path, const char *fstype,
			 unsigned long flags, const char *data)
{
	_cleanup_close_ int fd = -EBADF;
	char target[64];
	int r;

	r = fd = open_in_root(rootfd, path, O_PATH, 0);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	r = neg_errno(mount(src, target, fstype, flags, data));
	if (r < 0 || !(flags & MS_BIND) || !(flags & MS_RDONLY))
		return r;
	/* A bind mount becomes read-only only when remounted, through a new fd:
	 * the old one still names what is under the mount. */
	close(fd);
	r = fd = open_in_root(rootfd, path, O_PATH, 0);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	return neg_errno(mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL));
}

/* An empty file to bind a file on (the parent exists). */
static int touch_in_root(int rootfd, const char *path)
{
	int fd = open_in_root(rootfd, path, O_CREAT | O_WRONLY | O_NOFOLLOW, 0644);

	if (fd == -EISDIR || fd == -ELOOP)
		return 0; /* a directory or a symlink: mounting tells */
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int bind_in_root(int rootfd, const char *host, const char *dest, bool ro)
{
	_cleanup_free_ char *parent = strdup(dest);
	struct stat st;
	int r;

	if (!parent)
		return -ENOMEM;
	if (stat(host, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode)) {
		r = mkdir_p_at(rootfd, dest);
	} else {
		*strrchr(parent, '/') = '\0';
		r = *parent ? mkdir_p_at(rootfd, parent) : 0;
		if (r >= 0)
			r = touch_in_root(rootfd, dest);
	}
	if (r < 0)
		return r;
	return mount_in_root(rootfd, host, dest, NULL, MS_BIND | MS_REC | (ro ? MS_RDONLY : 0), NULL);
}

static int setup_dev(int rootfd)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },	   { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	_cleanup_close_ int dev = -EBADF;
	int r;

	r = mkdir_p_at(rootfd, "/dev");
	if (r >= 0)
		r = mount_in_root(rootfd, "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME,
				  "mode=0755");
	if (r >= 0)
		r = dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY, 0);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		char host[32], inside[32];

		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		snprintf(inside, sizeof(inside), "/dev/%s", nodes[i]);
		r = touch_in_root(rootfd, inside);
		if (r >= 0)
			r = mount_in_root(rootfd, host, inside, NULL, MS_BIND, NULL);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		r = neg_errno(symlinkat(links[i][0], dev, links[i][1]));
		if (r < 0)
			return r;
	}
	if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0)
		return -errno;
	r = mount_in_root(rootfd, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
			  "newinstance,ptmxmode=0666,mode=0620");
	if (r < 0)
		return r;
	return mount_in_root(rootfd, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
			     "mode=1777");
}

static int setup_chroot(const struct sandbox *sb)
{
	_cleanup_close_ int rootfd = -EBADF;
	int r;

	r = neg_errno(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	if (r < 0)
		return tool_err("chroot: cannot make the mounts private: %s", strerror(-r)), r;
	r = rootfd = neg_errno(open(sb->root, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r >= 0)
		r = mkdir_p_at(rootfd, "/proc");
	if (r >= 0)
		r = mount_in_root(rootfd, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
				  NULL);
	if (r < 0)
		return tool_err("chroot: cannot mount /proc: %s", strerror(-r)), r;
	r = setup_dev(rootfd);
	if (r < 0)
		return tool_err("chroot: cannot set up /dev: %s", strerror(-r)), r;
	r = mkdir_p_at(rootfd, "/tmp");
	if (r >= 0)
		r = mount_in_root(rootfd, "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	if (r < 0)
		return tool_err("chroot: cannot mount /tmp: %s", strerror(-r)), r;
	for (size_t i = 0; i < sb->n_binds; i++) {
		r = bind_in_root(rootfd, sb->binds[i].host, sb->binds[i].dest, sb->binds[i].ro);
		if (r < 0)
			return tool_err("chroot: cannot bind '%s' on '%s': %s", sb->binds[i].host,
					sb->binds[i].dest, strerror(-r)), r;
	}
	if (sb->hostname && sethostname(sb->hostname, strlen(sb->hostname)) < 0)
		return tool_err("chroot: cannot set the hostname: %m"), -errno;
	if (fchdir(rootfd) < 0 || chroot(".") < 0)
		return tool_err("chroot: %m"), -errno;
	if (chdir(sb->workdir) < 0)
		return tool_err("chroot: cannot change to '%s': %m", sb->workdir), -errno;
	return 0;
}

static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 125;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/*
 * In the forked child: new namespaces, then a grandchild (pid 1 of the new
 * pid namespace) that sets up the root and execs.  The child waits and exits
 * with the command's status; if it is killed, the grandchild dies with it.
 */
static _Noreturn void chroot_child(const struct sandbox *sb, const sigset_t *child_mask)
{
	pid_t pid;

	if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) < 0) {
		tool_err("chroot: cannot create namespaces: %m");
		_exit(125);
	}
	pid = fork();
	if (pid < 0) {
		tool_err("chroot: fork: %m");
		_exit(125);
	}
	if (pid > 0) {
		sigprocmask(SIG_SETMASK, child_mask, NULL);
		_exit(wait_status(pid));
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (setup_chroot(sb) < 0)
		_exit(125);
	sigprocmask(SIG_SETMASK, child_mask, NULL);
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (sb->user && sb->user->set &&
	    (setgroups(sb->user->n_groups, sb->user->groups) < 0 || setgid(sb->user->gid) < 0 ||
	     setuid(sb->user->uid) < 0)) {
		tool_err("chroot: cannot become %u:%u: %m", (unsigned)sb->user->uid,
			 (unsigned)sb->user->gid);
		_exit(125);
	}
	environ = sb->envp;
	execvp(sb->argv[0], sb->argv);
	tool_err("exec '%s': %m", sb->argv[0]);
	_exit(errno == ENOENT ? 127 : 126);
}

int sandbox_spawn(const struct sandbox *sb, const sigset_t *child_mask, pid_t *ret_pid,
		  int *ret_status_fd)
{
	_cleanup_close_ int rd = -EBADF, wr = -EBADF;
	_cleanup_free_ char *scratch = NULL;
	struct strv a = { 0 };
	char fdname[16];
	pid_t pid;
	int r, p[2];

	if (!sb->use_chroot) {
		if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			return -errno;
		rd = p[0];
		wr = p[1];
		snprintf(fdname, sizeof(fdname), "%d", wr);
		r = bwrap_argv(sb, fdname, &a, &scratch);
		if (r < 0)
			return free(a.v), r;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		free(a.v);
		return r;
	}
	if (pid == 0) {
		/* bwrap and the chroot helper die when we do. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (sb->use_chroot)
			chroot_child(sb, child_mask);
		sigprocmask(SIG_SETMASK, child_mask, NULL);
		/* No fd of ours or of our caller leaks in, but bwrap's status fd,
		 * which it needs blocking and inherited. */
		close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
		fcntl(wr, F_SETFL, 0);
		fcntl(wr, F_SETFD, 0);
		execve(sb->bwrap, a.v, sb->envp);
		tool_err("cannot run %s: %m", sb->bwrap);
		_exit(125);
	}
	free(a.v);
	*ret_pid = pid;
	*ret_status_fd = take_fd(rd);
	return 0;
}

bool sandbox_command_started(int status_fd)
{
	char buf[4096];
	ssize_t n;
	size_t len = 0;

	if (status_fd < 0)
		return true; /* chroot: the helper exits 125 itself */
	while (len < sizeof(buf) - 1) {
		n = read(status_fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* bwrap reports "exit-code" only for a command it could exec. */
	return strstr(buf, "\"exit-code\"") != NULL;
}
