/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd-run.c - `run`: mount a container (a new one when given an image), run
 * a command in it with bubblewrap (or chroot), unmount, and exit with the
 * command's status, as `docker run` does.
 *
 * Steps: resolve or create the container; read the image's OCI config (Env,
 * Entrypoint, Cmd, WorkingDir; ldb_image_get_config()) from the nearest
 * image of its chain that has one; mount it on a private temporary
 * directory with `strata mount` (unless it is mounted already, then it is
 * used where it is and left mounted); check the command exists inside
 * (docker's 127 and 126); start the sandbox (sandbox.c); wait, forwarding
 * SIGTERM, SIGHUP and signals sent with kill(1) to it; unmount; `--rm`
 * removes the container.  INT, TERM, HUP and QUIT stay blocked from the
 * start, so a signal never leaves a mount behind.
 *
 * Unprivileged, with subordinate ids (/etc/subuid, /etc/subgid), the steps
 * from the mount to the unmount run instead in a user namespace mapping 0
 * to the user and 1..N to those ids (userns.c), as podman runs
 * fuse-overlayfs: stratafs is started there, with the owners and modes of
 * the image emulated (xattr_permissions=2, as `strata mount` has them), so
 * the FUSE connection belongs to that namespace and the ids it reports
 * (0, 42, 1000...) are ids the sandbox sees and may chown to.  The mount
 * is in the namespace's own mount namespace, and stratafs and the sandbox
 * in its own pid namespace, so all of them end with the run: the store
 * records the container as mounted on the (empty, on the host) mount point
 * meanwhile, and the run holds the container lock (record_mount()).
 * Without subordinate ids (or newuidmap), stratafs runs outside without
 * emulated owners and bubblewrap maps the user alone to 0: files show as
 * root's and chown is limited to 0, which a line on stderr says.
 *
 * Exit status: the command's; 125 when strata itself fails, 126 when the
 * command cannot be run, 127 when it is not found, 2 on a usage error.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "sandbox.h"
#include "tool.h"
#include "userns.h"

#define EXIT_RUN_FAIL 125
#define EXIT_RUN_CANNOT_EXEC 126
#define EXIT_RUN_NOT_FOUND 127

int tool_unmount(struct ldb *db, const struct ldb_digest *id, const char *mountpoint);

struct run_args {
	bool rm, use_chroot;
	const char *name, *workdir, *hostname, *user;
	struct sandbox_bind *binds;
	size_t n_binds;
	char **env; /* -e K=V, in order */
	size_t n_env;
};

/* What the image asks for; every field may be NULL. */
struct run_config {
	char **env;        /* "K=V", NULL-terminated */
	char **entrypoint; /* NULL-terminated */
	char **cmd;        /* NULL-terminated */
	char *workdir;
	char *user;        /* "USER[:GROUP]" */
};

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static void run_config_clear(struct run_config *c)
{
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->workdir);
	free(c->user);
	*c = (struct run_config){ 0 };
}

static void run_args_clear(struct run_args *a)
{
	for (size_t i = 0; i < a->n_binds; i++) {
		free(a->binds[i].host);
		free(a->binds[i].dest);
	}
	free(a->binds);
	free(a->env);
}

/* A JSON array of strings as a NULL-terminated vector; NULL if absent or empty. */
static char **json_strv(struct json_object *o, const char *key)
{
	struct json_object *arr;
	char **v;
	size_t n;

	if (!json_object_object_get_ex(o, key, &arr) || !json_object_is_type(arr, json_type_array))
		return NULL;
	n = json_object_array_length(arr);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0, j = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);

		if (json_object_is_type(s, json_type_string))
			v[j++] = strdup(json_object_get_string(s));
	}
	if (!v[0])
		return free(v), NULL;
	return v;
}

static int parse_config(const char *json, struct run_config *ret)
{
	struct json_object *root, *cfg, *wd;

	root = json_tokener_parse(json);
	if (!root)
		return -EBADMSG;
	/* An OCI image config keeps them under "config"; accept the bare object too. */
	if (!json_object_object_get_ex(root, "config", &cfg) ||
	    !json_object_is_type(cfg, json_type_object))
		cfg = root;
	ret->env = json_strv(cfg, "Env");
	ret->entrypoint = json_strv(cfg, "Entrypoint");
	ret->cmd = json_strv(cfg, "Cmd");
	if (json_object_object_get_ex(cfg, "WorkingDir", &wd) &&
	    json_object_is_type(wd, json_type_string) && json_object_get_string(wd)[0] == '/')
		ret->workdir = strdup(json_object_get_string(wd));
	if (json_object_object_get_ex(cfg, "User", &wd) &&
	    json_object_is_type(wd, json_type_string) && json_object_get_string(wd)[0])
		ret->user = strdup(json_object_get_string(wd));
	json_object_put(root);
	return 0;
}

/*
 * The config (env, entrypoint and cmd, workdir) of the nearest image of the
 * container's chain that has one (a commit may not copy its parent's), or
 * nothing: then the defaults apply.
 */
static int image_config(struct ldb *db, const struct ldb_digest *image, struct run_config *ret)
{
	_cleanup_free_ struct ldb_digest *images = NULL;
	size_t n;
	int r;

	*ret = (struct run_config){ 0 };
	r = ldb_image_chain(db, image, &images, NULL, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *json = NULL;

		r = ldb_image_get_config(db, &images[i], &json);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		r = parse_config(json, ret);
		if (r < 0)
			tool_err("warning: ignoring the unreadable config of the image");
		return 0;
	}
	return 0;
}

/* ---- environment ------------------------------------------------------------- */

struct env {
	char **v;
	size_t n;
};

/* Add or replace "K=V" (copied). */
static int env_put(struct env *e, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	char *copy, **v;

	copy = strdup(kv);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], kv, klen) == 0 && e->v[i][klen] == '=') {
			free(e->v[i]);
			e->v[i] = copy;
			return 0;
		}
	}
	v = realloc(e->v, (e->n + 2) * sizeof(*v));
	if (!v)
		return free(copy), -ENOMEM;
	e->v = v;
	e->v[e->n++] = copy;
	e->v[e->n] = NULL;
	return 0;
}

static int env_putf(struct env *e, const char *k, const char *v)
{
	_cleanup_free_ char *kv = NULL;

	if (asprintf(&kv, "%s=%s", k, v) < 0)
		return -ENOMEM;
	return env_put(e, kv);
}

/* docker's order: defaults, the image's Env, then -e (K alone takes the host's K). */
static int build_env(const struct run_args *a, const struct run_config *cfg, const char *hostname,
		     const char *home, struct env *e)
{
	const char *term = getenv("TERM");
	int r;

	r = env_putf(e, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (r >= 0)
		r = env_putf(e, "HOSTNAME", hostname);
	if (r >= 0)
		r = env_putf(e, "HOME", home ? home : "/root");
	if (r >= 0 && term && isatty(STDIN_FILENO))
		r = env_putf(e, "TERM", term);
	for (char **p = cfg->env; r >= 0 && p && *p; p++)
		if (strchr(*p, '='))
			r = env_put(e, *p);
	for (size_t i = 0; r >= 0 && i < a->n_env; i++) {
		const char *host;

		if (strchr(a->env[i], '=')) {
			r = env_put(e, a->env[i]);
			continue;
		}
		host = getenv(a->env[i]);
		if (host)
			r = env_putf(e, a->env[i], host);
	}
	return r;
}

/* ---- arguments ------------------------------------------------------------------ */

static const struct cmd_help run_help = {
	"run [OPTIONS] IMAGE|CONTAINER [COMMAND [ARG...]]",
	"Run a command in a container: mount it (a new container when given an image),\n"
	"run COMMAND (default: the image's, or /bin/sh) in bubblewrap ($BWRAP or bwrap\n"
	"in $PATH) with the mount as its root, /proc, /dev, a tmpfs /tmp and the image's\n"
	"environment, then unmount.  Unprivileged users are root inside a user namespace\n"
	"that maps their subordinate ids (/etc/subuid, /etc/subgid), so files keep the\n"
	"image's owners and chown works (without them, files show as root's).\n"
	"Exits with the command's status; 125 if strata fails, 126 if COMMAND cannot be\n"
	"run, 127 if it is not found.",
	"      --rm             remove the container afterwards\n"
	"      --name NAME      name of the container created from an image\n"
	"  -v, --volume HOST:DIR[:ro]\n"
	"                       bind mount HOST on DIR (read-only with :ro)\n"
	"  -w, --workdir DIR    working directory inside (created if missing)\n"
	"  -u, --user USER[:GROUP]\n"
	"                       run as this user (name or number; default: the image's\n"
	"                       \"User\", else root)\n"
	"  -e, --env K=V        set an environment variable (K alone: the host's)\n"
	"      --hostname NAME  host name inside (default: the short container id)\n"
	"      --chroot         chroot(2) in private namespaces instead of bubblewrap\n"
	"                       (root only)\n"
	"  -i, -t               accepted out of docker habit: stdin and the terminal\n"
	"                       are always passed through\n",
};

static int parse_volume(struct run_args *a, const char *spec)
{
	_cleanup_free_ char *copy = strdup(spec);
	struct sandbox_bind b = { 0 }, *v;
	char *dest, *mode;

	if (!copy)
		return -ENOMEM;
	dest = strchr(copy, ':');
	if (!dest)
		return tool_err("invalid volume '%s': expected HOST:DIR[:ro]", spec), -EINVAL;
	*dest++ = '\0';
	mode = strchr(dest, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "ro") == 0)
			b.ro = true;
		else if (strcmp(mode, "rw") != 0)
			return tool_err("invalid volume '%s': mode must be ro or rw", spec), -EINVAL;
	}
	if (dest[0] != '/')
		return tool_err("invalid volume '%s': '%s' is not an absolute path", spec, dest),
		       -EINVAL;
	b.host = realpath(copy, NULL);
	if (!b.host)
		return tool_err("invalid volume '%s': '%s': %m", spec, copy), -errno;
	b.dest = strdup(dest);
	v = realloc(a->binds, (a->n_binds + 1) * sizeof(*v));
	if (!b.dest || !v) {
		free(b.host);
		free(b.dest);
		free(v ? v : a->binds);
		a->binds = NULL;
		a->n_binds = 0;
		return -ENOMEM;
	}
	a->binds = v;
	a->binds[a->n_binds++] = b;
	return 0;
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
	static const struct option opts[] = {
		{ "rm", no_argument, NULL, 'R' },
		{ "name", required_argument, NULL, 'n' },
		{ "volume", required_argument, NULL, 'v' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "env", required_argument, NULL, 'e' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "user", required_argument, NULL, 'u' },
		{ "chroot", no_argument, NULL, 'C' },
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		TOOL_HELP_OPTION,
		{}
	};
	char **env;
	int c;

	opterr = 0;
	/* "+": options end at IMAGE, so the command keeps its own. */
	while ((c = getopt_long(argc, argv, "+:v:w:e:u:it", opts, NULL)) >= 0) {
		switch (c) {
		case 'R': a->rm = true; break;
		case 'n': a->name = optarg; break;
		case 'w': a->workdir = optarg; break;
		case 'H': a->hostname = optarg; break;
		case 'u': a->user = optarg; break;
		case 'C': a->use_chroot = true; break;
		case 'i': case 't': break;
		case 'v':
			if (parse_volume(a, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'e':
			env = realloc(a->env, (a->n_env + 1) * sizeof(*env));
			if (!env)
				return EXIT_RUN_FAIL;
			a->env = env;
			a->env[a->n_env++] = optarg;
			break;
		GETOPT_COMMON(&run_help);
		}
	}
	if (optind >= argc)
		return tool_usage_error(&run_help, "expected IMAGE or CONTAINER");
	if (a->workdir && a->workdir[0] != '/')
		return tool_usage_error(&run_help, "the working directory must be absolute");
	return -1;
}

/* ---- the container's life -------------------------------------------------------- */

struct run_ctx {
	struct ldb *db;
	struct ldb_digest id;
	bool created;    /* we created the container */
	char *mp;        /* where it is mounted */
	bool mounted;    /* we mounted it (and unmount it) */
	bool made_dir;   /* we made mp (and remove it) */
	int lock;        /* the container lock, held while it runs in a user namespace */
};

/* `strata mount ID MP`, its stdout (the id) silenced. */
static int mount_container(struct run_ctx *c)
{
	char hex[LDB_DIGEST_HEX_LEN + 1];
	char *av[] = { "mount", hex, c->mp, NULL };
	_cleanup_close_ int saved = -EBADF, null = -EBADF;
	int r;

	ldb_digest_hex(&c->id, hex);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
		return -errno;
	/*
	 * Not with emulated owners (xattr_permissions=2): here (no subordinate
	 * ids, see run_userns() for the other way) stratafs runs outside the
	 * sandbox's user namespace, which maps only the caller (to 0), so the
	 * archive's owners (0, 42, ...) would be host ids the namespace cannot
	 * show: everything would read as nobody (65534) and be closed to the
	 * container's root.  Unemulated, the caller's files are root's inside.
	 */
	tool_mount_emulate_owners = false;
	optind = 0;
	r = cmd_mount(3, av);
	tool_mount_emulate_owners = true;
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	return r == EXIT_OK ? 0 : -EIO;
}

/* A private mount point under $TMPDIR (unless made already). */
static int make_mountpoint(struct run_ctx *c)
{
	const char *tmp = getenv("TMPDIR");
	int r;

	if (c->mp)
		return 0;
	if (asprintf(&c->mp, "%s/strata-run.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) {
		c->mp = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(c->mp)) {
		r = -errno;
		tool_err("cannot make a mount point '%s': %m", c->mp);
		return r;
	}
	c->made_dir = true;
	return 0;
}

static int prepare_mount(struct run_ctx *c, const struct ldb_container_info *info)
{
	int r;

	if (info->mounted) {
		c->mp = strdup(info->mountpoint);
		return c->mp ? 0 : -ENOMEM;
	}
	r = make_mountpoint(c);
	if (r < 0)
		return r;
	r = mount_container(c);
	if (r < 0)
		return r;
	c->mounted = true;
	return 0;
}

static int finish(struct run_ctx *c, bool rm)
{
	int ret = 0, r;

	if (c->mounted) {
		_cleanup_close_ int lock = c->lock >= 0 ? take_fd(c->lock)
							 : ldb_container_lock(c->db, &c->id);

		r = tool_unmount(c->db, &c->id, c->mp);
		if (r < 0)
			ret = r;
		else
			c->mounted = false;
	}
	if (c->made_dir && !c->mounted)
		(void)rmdir(c->mp);
	if (rm && !c->mounted) {
		_cleanup_close_ int lock = ldb_container_lock(c->db, &c->id);

		r = ldb_container_remove(c->db, &c->id, 0);
		if (r < 0) {
			tool_fail(c->db, r, "cannot remove the container");
			ret = r;
		}
	}
	free(c->mp);
	c->mp = NULL;
	return ret;
}

static int resolve_container(struct run_ctx *c, const struct run_args *a, const char *ref)
{
	struct ldb_digest image;
	int r;

	if (!a->name && ldb_container_resolve(c->db, ref, &c->id) >= 0)
		return 0;
	r = ldb_image_resolve(c->db, ref, &image);
	if (r < 0)
		return tool_fail(c->db, r, "no such image or container '%s'", ref), r;
	r = ldb_container_create(c->db, &image, a->name, &c->id);
	if (r < 0)
		return tool_fail(c->db, r, "cannot create a container from '%s'", ref), r;
	c->created = true;
	return 0;
}

/*
 * docker's command: the image's Entrypoint followed by the arguments given, or
 * by the image's Cmd when none are; /bin/sh when that leaves nothing.
 * The strings are borrowed; free the vector only.
 */
static char **command_line(const struct run_config *cfg, char **args)
{
	static char *default_cmd[] = { "/bin/sh", NULL };
	char **tail = args[0] ? args : cfg->cmd, **v;
	size_t ne = 0, nt = 0;

	while (cfg->entrypoint && cfg->entrypoint[ne])
		ne++;
	while (tail && tail[nt])
		nt++;
	if (ne + nt == 0)
		tail = default_cmd, nt = 1;
	v = calloc(ne + nt + 1, sizeof(*v));
	if (!v)
		return NULL;
	if (ne)
		memcpy(v, cfg->entrypoint, ne * sizeof(*v));
	memcpy(v + ne, tail, nt * sizeof(*v));
	return v;
}

/*
 * The host's name service files, as docker gives them: the sandbox shares
 * the host's network, so it resolves names as the host does.  Bound
 * read-only over the image's own files, or where the image has none and
 * the caller may make the file to mount on (noted in @made, it goes again
 * after the run); not over a symlink.  The user's volumes come after, and
 * may replace them.  *ret: the volumes with these first; hosts point into
 * static storage or a->binds.
 */
static int network_files(const char *root, const struct run_args *a,
			 struct sandbox_mountpoints *made, struct sandbox_bind **ret,
			 size_t *ret_n)
{
	static const char *const files[] = { "/etc/resolv.conf", "/etc/hosts" };
	static char hosts[ELEMENTSOF(files)][PATH_MAX];
	struct sandbox_bind *v;
	size_t n = 0;

	v = calloc(ELEMENTSOF(files) + a->n_binds + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		if (!realpath(files[i], hosts[i]) || access(hosts[i], R_OK) < 0)
			continue;
		if (!sandbox_has_file(root, files[i]) &&
		    !(sandbox_lacks_path(root, files[i]) &&
		      sandbox_mountpoint_make(root, files[i], made) >= 0))
			continue;
		v[n++] = (struct sandbox_bind){ .host = hosts[i], .dest = (char *)files[i],
						.ro = true };
	}
	for (size_t i = 0; i < a->n_binds; i++)
		v[n++] = a->binds[i];
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Run the sandbox in the mounted container; returns an exit status. */
static int run_in(struct run_ctx *c, const struct run_args *a, const struct run_config *cfg,
		  char **cmd, const sigset_t *blocked, const sigset_t *old)
{
	_cleanup_free_ char *bwrap = NULL, *setuser = NULL;
	_cleanup_free_ char **argv = command_line(cfg, cmd);
	_cleanup_close_ int status_fd = -EBADF;
	_cleanup_(sandbox_user_clear) struct sandbox_user user = { 0 };
	_cleanup_free_ struct sandbox_bind *net_binds = NULL;
	struct sandbox_mountpoints made = { 0 };
	const char *user_spec = a->user ? a->user : cfg->user;
	struct env env = { 0 };
	char hostname[TOOL_ID_MAX];
	struct sandbox sb = {
		.root = c->mp,
		.workdir = a->workdir ? a->workdir : cfg->workdir ? cfg->workdir : "/",
		.argv = argv,
		.binds = a->binds,
		.n_binds = a->n_binds,
		.use_chroot = a->use_chroot,
		.userns = geteuid() != 0,
	};
	pid_t pid;
	int r, ret = EXIT_RUN_FAIL;

	if (!argv)
		return EXIT_RUN_FAIL;
	sb.hostname = a->hostname ? a->hostname : tool_id(&c->id, false, hostname);
	if (!a->use_chroot) {
		sb.bwrap = bwrap = sandbox_find_bwrap();
		if (!bwrap) {
			tool_err("cannot find bubblewrap: install it (bwrap in $PATH or $BWRAP), "
				 "or use --chroot as root");
			return EXIT_RUN_FAIL;
		}
	}
	if (user_spec) {
		r = sandbox_resolve_user(c->mp, user_spec, &user);
		if (r < 0) {
			if (r != -ENOENT && r != -EINVAL)
				tool_err("cannot look up user '%s': %s", user_spec, strerror(-r));
			return EXIT_RUN_FAIL;
		}
		/* root stays root as the sandbox starts, with its capabilities */
		if (user.uid == 0 && user.gid == 0)
			user.set = false;
		if (user.set && !a->use_chroot && !sb.userns) {
			sb.setuser = setuser = tool_find_setuser();
			if (!setuser) {
				tool_err("cannot run as '%s': strata-setuser is not installed beside "
					 "strata or in %s", user_spec, STRATA_LIBEXECDIR);
				return EXIT_RUN_FAIL;
			}
		}
		sb.user = &user;
	}
	r = sandbox_mountpoints_note(c->mp, &made);
	if (r < 0) {
		tool_err("cannot look at the container's mount points: %s", strerror(-r));
		goto out;
	}
	r = network_files(c->mp, a, &made, &net_binds, &sb.n_binds);
	if (r < 0)
		goto out;
	sb.binds = net_binds;
	r = build_env(a, cfg, sb.hostname, user.set ? user.home : NULL, &env);
	if (r < 0)
		goto out;
	sb.envp = env.v;
	r = sandbox_mkdir_p(c->mp, sb.workdir);
	if (r < 0) {
		tool_err("cannot create the working directory '%s': %s", sb.workdir, strerror(-r));
		goto out;
	}
	r = sandbox_check_command(&sb);
	if (r == -ENOENT || r == -EACCES) {
		tool_err("cannot run '%s': %s", sb.argv[0],
			 r == -ENOENT ? "no such file or directory in the container's PATH"
				      : "permission denied (not an executable file)");
		ret = r == -ENOENT ? EXIT_RUN_NOT_FOUND : EXIT_RUN_CANNOT_EXEC;
		goto out;
	}
	r = sandbox_spawn(&sb, old, &pid, &status_fd);
	if (r < 0) {
		tool_err("cannot start the sandbox: %s", strerror(-r));
		goto out;
	}
	ret = tool_wait_forwarding(pid, blocked);
	if (!sandbox_command_started(status_fd) && ret < 128) {
		tool_err("bubblewrap could not set up the sandbox (status %d)", ret);
		ret = EXIT_RUN_FAIL;
	}
out:
	sandbox_mountpoints_drop(c->mp, &made);
	strv_free(env.v);
	return ret;
}

/* ---- unprivileged, in a user namespace over the subordinate ids ----------------- */

/*
 * Can the image's owners be kept (userns.c)?  Not for root, who has them
 * anyway, nor in a container `strata mount` mounted outside (its stratafs
 * reports host ids, which the sandbox's namespace cannot show: one line
 * says so); otherwise when the user has subordinate ids, else one line
 * says why not.
 */
static bool want_userns(const struct ldb_container_info *info, struct userns_ids *ids)
{
	_cleanup_free_ char *why = NULL;

	if (geteuid() == 0)
		return false;
	if (info->mounted) {
		tool_err("container '%s' is mounted on '%s' (strata mount): files not yours show "
			 "as nobody's; unmount it to see the image's owners", info->name,
			 info->mountpoint);
		return false;
	}
	if (userns_ids_get(ids, &why) < 0) {
		tool_err("%s: files show as root's, chown is limited",
			 why ? why : "no subordinate ids");
		return false;
	}
	return true;
}

/* stratafs in the foreground, our child (so we know when it ends), in its
 * own session (so the terminal's ^C does not end it); 0 once mounted. */
static int start_stratafs(const char *bin, const char *opts, const char *mp,
			  const sigset_t *old, pid_t *ret_pid)
{
	char *const argv[] = { (char *)bin, "-f", "-o", (char *)opts, (char *)mp, NULL };
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		setsid();
		sigprocmask(SIG_SETMASK, old, NULL);
		execvp(bin, argv);
		tool_err("cannot run %s: %m (set STRATAFS)", bin);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (tool_is_mountpoint(mp) > 0) {
			*ret_pid = pid;
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			tool_err("cannot mount on '%s': %s %s %d", mp, bin,
				 WIFEXITED(status) ? "exited with status" : "was killed by signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return -EIO;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	tool_err("cannot mount on '%s': %s did not mount it", mp, bin);
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

/* Unmount (root over the mount namespace may) and wait for stratafs to
 * end: it does once the mount is gone.  An error if it failed. */
static int stop_stratafs(const char *mp, pid_t pid)
{
	int status, r;

	r = neg_errno(umount2(mp, 0));
	if (r == -EBUSY)
		r = neg_errno(umount2(mp, MNT_DETACH));
	if (r < 0) {
		tool_err("cannot unmount '%s': %s", mp, strerror(-r));
		kill(pid, SIGTERM);
	}
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return r;
			tool_err("stratafs %s %d", WIFEXITED(status) ? "failed, status" :
				 "was killed by signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return -EIO;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	tool_err("stratafs did not exit after the unmount of '%s'", mp);
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

/* What the namespaced side needs; computed before the fork (no store there). */
struct ns_run {
	const char *bin;  /* stratafs */
	const char *opts; /* its -o */
	int mounted_fd;   /* a byte there says "mounted" */
};

/*
 * Pid 1 of the namespaces, root there: mount the container with stratafs,
 * run the sandbox in it, unmount.  Returns an exit status.  Whatever is
 * left when it returns dies with the pid namespace.
 */
static int run_namespaced(struct run_ctx *c, const struct ns_run *u,
			  const struct run_args *a, const struct run_config *cfg, char **cmd,
			  const sigset_t *blocked, const sigset_t *old)
{
	pid_t sfs_pid = 0;
	int ret, r;

	/* Nothing mounted here is seen elsewhere (it could not be anyway: the
	 * host's mounts are slaves in a less privileged user's namespace). */
	r = neg_errno(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	if (r < 0)
		return tool_err("cannot make the mounts private: %s", strerror(-r)), EXIT_RUN_FAIL;
	/* The /proc of our pid namespace: bwrap looks its child up there. */
	r = neg_errno(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	if (r < 0)
		return tool_err("cannot mount /proc: %s", strerror(-r)), EXIT_RUN_FAIL;
	r = start_stratafs(u->bin, u->opts, c->mp, old, &sfs_pid);
	if (r < 0)
		return EXIT_RUN_FAIL;
	/* (a pipe's first byte: it cannot fail but for a bug) */
	r = neg_errno((int)write(u->mounted_fd, "m", 1));
	close(u->mounted_fd);
	if (r < 0)
		tool_err("warning: cannot report the mount: %s", strerror(-r));
	ret = run_in(c, a, cfg, cmd, blocked, old);
	r = stop_stratafs(c->mp, sfs_pid);
	if (r < 0 && ret == 0)
		ret = EXIT_RUN_FAIL;
	return ret;
}

/*
 * Record the mount, and hold the container lock until the run ends: the
 * mount is in the run's namespace, where no other strata sees it, so for
 * them the container looks unmounted but for the record, which the lock
 * says is no stale one (see `strata check`).  A commit, mount, umount or rm
 * of the container waits for the lock, so none moves or removes the upper
 * directory under the running container.
 */
static int record_mount(struct run_ctx *c)
{
	_cleanup_close_ int lock = -EBADF;
	int r;

	r = lock = ldb_container_lock(c->db, &c->id);
	if (r >= 0)
		r = ldb_container_set_mount(c->db, &c->id, c->mp);
	if (r < 0)
		return tool_fail(c->db, r, "cannot record the mount of the container"), r;
	c->lock = take_fd(lock);
	c->mounted = true;
	return 0;
}

/*
 * Run in the user namespace of @ids.  Returns the exit status, or a
 * negative errno (said why) when the namespace cannot be made: then the
 * caller runs without it, on the mount point made here.  *ret_mounted
 * tells whether the container was mounted.
 */
static int run_userns(struct run_ctx *c, const struct ldb_container_info *info,
		      const struct userns_ids *ids, const struct run_args *a,
		      const struct run_config *cfg, char **cmd, const sigset_t *blocked,
		      const sigset_t *old, bool *ret_mounted)
{
	_cleanup_free_ char *bin = tool_find_stratafs(), *opts = NULL;
	_cleanup_close_ int rd = -EBADF, wr = -EBADF;
	struct ns_run u;
	char byte;
	pid_t pid;
	int p[2], r, ret;

	*ret_mounted = false;
	if (!bin)
		return EXIT_RUN_FAIL;
	r = make_mountpoint(c);
	if (r >= 0)
		r = tool_stratafs_options(c->db, info, c->mp, /* emulate_owners= */ true, &opts);
	if (r < 0)
		return EXIT_RUN_FAIL;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return tool_err("cannot run: %m"), EXIT_RUN_FAIL;
	rd = p[0];
	wr = p[1];
	r = record_mount(c);
	if (r < 0)
		return EXIT_RUN_FAIL;
	r = userns_fork(ids, blocked, &pid);
	if (r < 0) {
		tool_err("cannot make a user namespace with the subordinate ids: %s: files show "
			 "as root's, chown is limited", strerror(-r));
		/* the caller's fallback, `strata mount`, takes the lock */
		close(c->lock);
		c->lock = -EBADF;
		return r;
	}
	if (r == 0) {
		u = (struct ns_run){ .bin = bin, .opts = opts, .mounted_fd = take_fd(wr) };
		ret = run_namespaced(c, &u, a, cfg, cmd, blocked, old);
		fflush(stdout);
		_exit(ret);
	}
	close(wr); /* the relay keeps its copy: rd never blocks */
	wr = -EBADF;
	ret = tool_wait_forwarding(pid, blocked);
	*ret_mounted = read(rd, &byte, 1) == 1;
	return ret;
}

int cmd_run(int argc, char **argv)
{
	_cleanup_ldb_ struct ldb *db = NULL;
	_cleanup_(ldb_container_info_clear) struct ldb_container_info info = { 0 };
	_cleanup_(run_config_clear) struct run_config cfg = { 0 };
	_cleanup_(run_args_clear) struct run_args a = { 0 };
	_cleanup_(userns_ids_clear) struct userns_ids ids = { 0 };
	struct run_ctx c = { .lock = -EBADF };
	sigset_t blocked, old;
	const char *ref;
	char **cmd;
	bool ran = false;
	int r, ret;

	r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	/* optind is global, and `strata mount` below parses its own argv. */
	ref = argv[optind];
	cmd = argv + optind + 1;
	if (a.use_chroot && geteuid() != 0) {
		tool_err("--chroot needs root; without it, bubblewrap runs unprivileged");
		return EXIT_RUN_FAIL;
	}
	/* From here on a signal waits until the mount is cleaned up. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGQUIT);
	sigaddset(&blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &blocked, &old);

	if (tool_open(&db) < 0)
		return EXIT_RUN_FAIL;
	c.db = db;
	ret = EXIT_RUN_FAIL;
	r = resolve_container(&c, &a, ref);
	if (r < 0)
		goto out; /* said why */
	r = ldb_container_get(db, &c.id, &info);
	if (r >= 0)
		r = image_config(db, &info.image, &cfg);
	if (r < 0) {
		tool_fail(db, r, "cannot run '%s'", ref);
		goto out;
	}
	if (want_userns(&info, &ids)) {
		r = run_userns(&c, &info, &ids, &a, &cfg, cmd, &blocked, &old, &ran);
		if (r >= 0) {
			ret = r;
			goto out;
		}
		/* no namespace: the way without subordinate ids */
	}
	r = prepare_mount(&c, &info);
	if (r < 0)
		goto out;
	ran = true;
	ret = run_in(&c, &a, &cfg, cmd, &blocked, &old);
out:
	/* A container we made but could not mount is of no use to anyone. */
	r = finish(&c, a.rm || (c.created && !ran));
	if (r < 0 && ret == 0)
		ret = EXIT_RUN_FAIL;
	return ret;
}
