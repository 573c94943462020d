/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * options.c - the stratafs command line -> immutable struct sfs_config.
 *
 * Owns: the argv grammar (-f -d -s -o -t -h -V, an optional source word,
 * the mountpoint), the -o option table, value validation, the lowerdir and
 * uid/gid mapping syntaxes, the string-only checks of sfs_config_validate()
 * and the --help text.  Pure: no libfuse, no file access.  The daemon turns
 * the result into a FUSE session; nothing here is global.
 *
 * The -o grammar is what podman (containers/storage), mount(8) and
 * fuse-overlayfs users write, so it is lenient where they are sloppy and
 * strict everywhere else (DESIGN.md contract 1: an unknown option is an
 * error, never silently ignored):
 *  - several -o are joined with ','; options are separated by ',' and empty
 *    elements (",,volatile", a trailing ',') are skipped;
 *  - "\," is a literal comma; any other "\X" is kept for the option's own
 *    unescaping (lowerdir's "\:" and "\\", as in overlayfs);
 *  - a "..." span does not split at ',' and keeps its quotes: SELinux
 *    contexts carry MCS categories (context="...:s0:c1,c2");
 *  - after uidmapping=/gidmapping=, elements made only of digits and ':'
 *    continue the mapping (fuse-overlayfs' "0:1000:1,1:100000:65536");
 *  - later options override earlier ones (lowerdir given twice: last wins).
 * Options stratafs does not implement but callers pass are validated and
 * dropped.  Options the kernel or libfuse act on are re-encoded, with
 * libfuse's escaping, into cfg->fuse_mount_opts.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "options.h"

/* Seconds the kernel may cache entries and attributes: every change goes
 * through the daemon, which invalidates what it changes. */
#define DEFAULT_TIMEOUT 86400.0

/* Microseconds the reader keeps asking for the next request after one
 * (loop.c): longer than a program takes between two requests of a walk or
 * a shell loop, short enough that an idle mount costs nothing. */
#define DEFAULT_SPIN_US 50
#define MAX_SPIN_US 10000

struct parse_ctx {
	struct sfs_config *cfg;
	char *opts;         /* every -o argument, joined with ',' */
	const char *pos[2]; /* positional words, borrowed from argv */
	size_t n_pos;
	char *msg;          /* the first error message, for ret_msg */
};

enum opt_arg {
	ARG_NONE,     /* "name" only */
	ARG_REQUIRED, /* "name=value"; the value may be empty */
};

struct opt_def;
typedef int (*opt_handler)(struct parse_ctx *p, const struct opt_def *d,
			   const char *value);

/*
 * One -o option.  'field' is the offset of the struct sfs_config member the
 * generic handlers write.  'expect' describes a valid value for messages;
 * for choice handlers it is also the '|'-separated list of choices.
 */
struct opt_def {
	const char *name;
	enum opt_arg arg;
	opt_handler handle;
	size_t field;
	const char *expect;
};

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* ---- messages ---------------------------------------------------------- */

_printf_(3, 0) static int vset_msg(char **ret_msg, int r, const char *fmt,
				   va_list ap)
{
	if (!ret_msg)
		return r;
	if (vasprintf(ret_msg, fmt, ap) < 0)
		*ret_msg = NULL;
	return r;
}

_printf_(3, 4) static int set_msg(char **ret_msg, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = vset_msg(ret_msg, r, fmt, ap);
	va_end(ap);
	return r;
}

/* Record the first failure of a parse and return r. */
_printf_(3, 4) static int fail(struct parse_ctx *p, int r, const char *fmt, ...)
{
	va_list ap;

	if (p->msg)
		return r;
	va_start(ap, fmt);
	r = vset_msg(&p->msg, r, fmt, ap);
	va_end(ap);
	return r;
}

static int bad_value(struct parse_ctx *p, const struct opt_def *d,
		     const char *value)
{
	if (!d->expect)
		return fail(p, -EINVAL, "invalid value '%s' for option '%s'",
			    value, d->name);
	return fail(p, -EINVAL,
		    "invalid value '%s' for option '%s' (expected %s)", value,
		    d->name, d->expect);
}

/* A helper's -ENOMEM stays -ENOMEM; anything else is a bad value. */
static int value_error(struct parse_ctx *p, const struct opt_def *d,
		       const char *value, int r)
{
	return r == -ENOMEM ? r : bad_value(p, d, value);
}

/* ---- small string helpers ---------------------------------------------- */

static void strv_free(char **v)
{
	for (char **i = v; i && *i; i++)
		free(*i);
	free(v);
}

static void strv_freep(char ***v)
{
	strv_free(*v);
}

/* Append *s to the NULL-terminated *v, taking ownership only on success. */
static int strv_consume(char ***v, size_t *n, char **s)
{
	char **nv = reallocarray(*v, *n + 2, sizeof(char *));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = steal_pointer(s);
	nv[*n] = NULL;
	*v = nv;
	return 0;
}

/* Copy s[0..len) turning "\X" into X, as overlayfs' ovl_unescape() does. */
static char *unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *d = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		*d++ = s[i];
	}
	*d = '\0';
	return out;
}

/* Backslash-escape ',' and '\' so that libfuse's -o parser restores s. */
static char *escape_opt(const char *s)
{
	char *out = malloc(2 * strlen(s) + 1), *d = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == ',' || *s == '\\')
			*d++ = '\\';
		*d++ = *s;
	}
	*d = '\0';
	return out;
}

/* Decimal uint32 in s[0..len): digits only, no sign, no blanks. */
static int parse_u32n(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*ret = (uint32_t)v;
	return 0;
}

static int parse_u32(const char *s, uint32_t *ret)
{
	return parse_u32n(s, strlen(s), ret);
}

/* Seconds as a finite float >= 0 ("1", "0.5", ".5"). */
static int parse_seconds(const char *s, double *ret)
{
	char *end;
	double v;

	/* strtod() would also take blanks, signs, "nan" and "inf". */
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Index of value in the '|'-separated list choices, or -EINVAL. */
static int choice_index(const char *choices, const char *value)
{
	size_t vlen = strlen(value);
	int i = 0;

	for (const char *c = choices;; i++) {
		size_t len = strcspn(c, "|");

		if (len == vlen && strncmp(c, value, len) == 0)
			return i;
		if (c[len] == '\0')
			return -EINVAL;
		c += len + 1;
	}
}

/* ---- lowerdir and id mappings ------------------------------------------ */

/* Length of the lowerdir element at s: up to an unescaped ':' or the end. */
static size_t lower_elem_len(const char *s)
{
	size_t i = 0;

	while (s[i] != '\0' && s[i] != ':') {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		i++;
	}
	return i;
}

int sfs_split_lowerdirs(const char *value, char ***ret_dirs, size_t *ret_n)
{
	_cleanup_(strv_freep) char **dirs = NULL;
	size_t n = 0;
	int r;

	for (;;) {
		_cleanup_free_ char *dir = NULL;
		size_t len = lower_elem_len(value);

		if (len == 0)
			return -EINVAL;
		dir = unescape(value, len);
		if (!dir)
			return -ENOMEM;
		r = strv_consume(&dirs, &n, &dir);
		if (r < 0)
			return r;
		value += len;
		if (*value == '\0')
			break;
		value++; /* the ':' */
	}
	*ret_dirs = steal_pointer(&dirs);
	*ret_n = n;
	return 0;
}

/* Append the triple f = { on disk, through the mount, length } to *map. */
static int idmap_push(struct sfs_idmap **map, size_t *n, const uint32_t f[3])
{
	struct sfs_idmap *nm;

	if (f[2] == 0)
		return -EINVAL;
	if ((uint64_t)f[0] + f[2] - 1 > UINT32_MAX ||
	    (uint64_t)f[1] + f[2] - 1 > UINT32_MAX)
		return -EINVAL;
	if (*n >= SFS_IDMAP_MAX)
		return -E2BIG;
	nm = reallocarray(*map, *n + 1, sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	nm[(*n)++] = (struct sfs_idmap){
		.inside = f[1], .outside = f[0], .length = f[2],
	};
	*map = nm;
	return 0;
}

int sfs_parse_idmap(const char *value, struct sfs_idmap **ret_map,
		    size_t *ret_n)
{
	_cleanup_free_ struct sfs_idmap *map = NULL;
	const char *p = value;
	uint32_t f[3];
	size_t n = 0, k = 0;
	int r;

	/* containers/storage writes "uidmapping=:0:1000:1:..." */
	if (*p == ':')
		p++;
	for (;;) {
		size_t len = strcspn(p, ":,");

		r = parse_u32n(p, len, &f[k]);
		if (r < 0)
			return -EINVAL;
		p += len;
		if (++k == 3) {
			r = idmap_push(&map, &n, f);
			if (r < 0)
				return r;
			k = 0;
		} else if (*p == ',') {
			return -EINVAL; /* ',' only between whole triples */
		}
		if (*p == '\0')
			break;
		p++;
	}
	if (k != 0)
		return -EINVAL;
	*ret_map = steal_pointer(&map);
	*ret_n = n;
	return 0;
}

uint32_t sfs_idmap_apply(const struct sfs_idmap *map, size_t n, uint32_t id,
			 bool to_disk)
{
	if (n == 0)
		return id;
	for (size_t i = 0; i < n; i++) {
		uint32_t from = to_disk ? map[i].inside : map[i].outside;
		uint32_t to = to_disk ? map[i].outside : map[i].inside;

		if (id >= from && id - from < map[i].length)
			return to + (id - from);
	}
	return SFS_OVERFLOW_ID;
}

/* ---- option handlers --------------------------------------------------- */

static bool *field_bool(struct parse_ctx *p, const struct opt_def *d)
{
	return (bool *)((char *)p->cfg + d->field);
}

static char **field_str(struct parse_ctx *p, const struct opt_def *d)
{
	return (char **)((char *)p->cfg + d->field);
}

static int64_t *field_i64(struct parse_ctx *p, const struct opt_def *d)
{
	return (int64_t *)((char *)p->cfg + d->field);
}

/* "name", "name=value": appended to *opts (cfg->fuse_mount_opts) for libfuse. */
static int opts_append(char **opts, const char *name, const char *value)
{
	_cleanup_free_ char *esc = NULL;
	const char *old = *opts;
	char *joined;

	if (value) {
		esc = escape_opt(value);
		if (!esc)
			return -ENOMEM;
	}
	if (asprintf(&joined, "%s%s%s%s%s", old ? old : "", old ? "," : "",
		     name, esc ? "=" : "", esc ? esc : "") < 0)
		return -ENOMEM;
	free(*opts);
	*opts = joined;
	return 0;
}

static int mount_opts_append(struct sfs_config *cfg, const char *name,
			     const char *value)
{
	return opts_append(&cfg->fuse_mount_opts, name, value);
}

static int opt_selinux(struct parse_ctx *p, const struct opt_def *d,
		       const char *value)
{
	return opts_append(&p->cfg->selinux_mount_opts, d->name, value);
}

static int opt_nop(struct parse_ctx *p, const struct opt_def *d,
		   const char *value)
{
	return 0;
}

static int opt_flag(struct parse_ctx *p, const struct opt_def *d,
		    const char *value)
{
	*field_bool(p, d) = true;
	return 0;
}

/* d->expect is "0|1" or "off|on": the second choice means true. */
static int opt_bool_choice(struct parse_ctx *p, const struct opt_def *d,
			   const char *value)
{
	int i = choice_index(d->expect, value);

	if (i < 0)
		return bad_value(p, d, value);
	*field_bool(p, d) = i == 1;
	return 0;
}

/* Accepted for compatibility: the value is checked, then dropped. */
static int opt_ignored_choice(struct parse_ctx *p, const struct opt_def *d,
			      const char *value)
{
	if (choice_index(d->expect, value) < 0)
		return bad_value(p, d, value);
	return 0;
}

static int opt_pass(struct parse_ctx *p, const struct opt_def *d,
		    const char *value)
{
	return mount_opts_append(p->cfg, d->name, value);
}

static int opt_pass_u32(struct parse_ctx *p, const struct opt_def *d,
			const char *value)
{
	uint32_t v;

	if (parse_u32(value, &v) < 0)
		return bad_value(p, d, value);
	return mount_opts_append(p->cfg, d->name, value);
}

static int opt_ro(struct parse_ctx *p, const struct opt_def *d,
		  const char *value)
{
	p->cfg->read_only = streq(d->name, "ro");
	return mount_opts_append(p->cfg, d->name, NULL);
}

static int opt_debug(struct parse_ctx *p, const struct opt_def *d,
		     const char *value)
{
	/* As in libfuse's fuse_parse_cmdline(): debug implies foreground. */
	p->cfg->debug = true;
	p->cfg->foreground = true;
	return 0;
}

static int opt_lowerdir(struct parse_ctx *p, const struct opt_def *d,
			const char *value)
{
	char **dirs;
	size_t n;
	int r;

	r = sfs_split_lowerdirs(value, &dirs, &n);
	if (r < 0)
		return value_error(p, d, value, r);
	strv_free(p->cfg->lowerdirs);
	p->cfg->lowerdirs = dirs;
	p->cfg->n_lower = n;
	return 0;
}

/* upperdir=, workdir=: one directory, "\X" unescaped as overlayfs does. */
static int opt_dir(struct parse_ctx *p, const struct opt_def *d,
		   const char *value)
{
	char **field = field_str(p, d);
	char *dir;

	if (value[0] == '\0')
		return bad_value(p, d, value);
	dir = unescape(value, strlen(value));
	if (!dir)
		return -ENOMEM;
	free(*field);
	*field = dir;
	return 0;
}

static int set_idmap(struct parse_ctx *p, const struct opt_def *d,
		     const char *value, struct sfs_idmap **map, size_t *n)
{
	struct sfs_idmap *m;
	size_t k;
	int r;

	r = sfs_parse_idmap(value, &m, &k);
	if (r < 0)
		return value_error(p, d, value, r);
	free(*map);
	*map = m;
	*n = k;
	return 0;
}

static int opt_uidmapping(struct parse_ctx *p, const struct opt_def *d,
			  const char *value)
{
	return set_idmap(p, d, value, &p->cfg->uidmap, &p->cfg->n_uidmap);
}

static int opt_gidmapping(struct parse_ctx *p, const struct opt_def *d,
			  const char *value)
{
	return set_idmap(p, d, value, &p->cfg->gidmap, &p->cfg->n_gidmap);
}

static int opt_squash_id(struct parse_ctx *p, const struct opt_def *d,
			 const char *value)
{
	uint32_t v;

	if (parse_u32(value, &v) < 0)
		return bad_value(p, d, value);
	*field_i64(p, d) = v;
	return 0;
}

static int opt_timeout(struct parse_ctx *p, const struct opt_def *d,
		       const char *value)
{
	if (parse_seconds(value, &p->cfg->timeout) < 0)
		return bad_value(p, d, value);
	p->cfg->timeout_set = true;
	return 0;
}

static int opt_threaded(struct parse_ctx *p, const struct opt_def *d,
			const char *value)
{
	int i = choice_index(d->expect, value);

	if (i < 0)
		return bad_value(p, d, value);
	p->cfg->singlethread = i == 0;
	return 0;
}

static int opt_volatile(struct parse_ctx *p, const struct opt_def *d,
			const char *value)
{
	p->cfg->fsync = false;
	return 0;
}

static int opt_xattr_permissions(struct parse_ctx *p, const struct opt_def *d,
				 const char *value)
{
	int i = choice_index(d->expect, value);

	if (i < 0)
		return bad_value(p, d, value);
	p->cfg->xattr_permissions = i;
	return 0;
}

static int opt_plugins(struct parse_ctx *p, const struct opt_def *d,
		       const char *value)
{
	/* podman passes an empty "plugins=" list; a real one would change
	 * how layers are read, so refuse it rather than ignore it. */
	if (value[0] != '\0')
		return fail(p, -EINVAL,
			    "invalid value '%s' for option 'plugins': plugins are not supported",
			    value);
	return 0;
}

static int opt_redirect_dir(struct parse_ctx *p, const struct opt_def *d,
			    const char *value)
{
	int i = choice_index(d->expect, value);

	if (i < 0)
		return bad_value(p, d, value);
	/* follow/nofollow: do not create redirects (kernel semantics). */
	p->cfg->redirect_dir = i == 1;
	return 0;
}

static int opt_max_threads(struct parse_ctx *p, const struct opt_def *d,
			   const char *value)
{
	uint32_t v;

	if (parse_u32(value, &v) < 0)
		return bad_value(p, d, value);
	p->cfg->max_threads = v;
	return 0;
}

static int opt_spin(struct parse_ctx *p, const struct opt_def *d, const char *value)
{
	uint32_t v;

	if (parse_u32(value, &v) < 0 || v > MAX_SPIN_US)
		return bad_value(p, d, value);
	p->cfg->spin_us = v;
	return 0;
}

static int opt_max_idle_threads(struct parse_ctx *p, const struct opt_def *d,
				const char *value)
{
	uint32_t v;

	if (parse_u32(value, &v) < 0 || v > INT32_MAX)
		return bad_value(p, d, value);
	p->cfg->max_idle_threads = (int)v;
	return 0;
}

/* ---- the option table -------------------------------------------------- */

#define CFG(f) offsetof(struct sfs_config, f)
#define BOOL01 "0|1"
#define ONOFF "off|on"
#define UINT "a decimal number below 2^32"

static const struct opt_def opt_table[] = {
	/* layers */
	{ "lowerdir", ARG_REQUIRED, opt_lowerdir, 0, "dir[:dir...]" },
	{ "upperdir", ARG_REQUIRED, opt_dir, CFG(upperdir), "a directory" },
	{ "workdir", ARG_REQUIRED, opt_dir, CFG(workdir), "a directory" },

	/* fuse-overlayfs */
	{ "uidmapping", ARG_REQUIRED, opt_uidmapping, 0,
	  "container:host:length triples" },
	{ "gidmapping", ARG_REQUIRED, opt_gidmapping, 0,
	  "container:host:length triples" },
	{ "squash_to_root", ARG_NONE, opt_flag, CFG(squash_to_root), NULL },
	{ "squash_to_uid", ARG_REQUIRED, opt_squash_id, CFG(squash_to_uid), UINT },
	{ "squash_to_gid", ARG_REQUIRED, opt_squash_id, CFG(squash_to_gid), UINT },
	{ "static_nlink", ARG_NONE, opt_flag, CFG(static_nlink), NULL },
	{ "noacl", ARG_NONE, opt_flag, CFG(noacl), NULL },
	{ "timeout", ARG_REQUIRED, opt_timeout, 0, "a number of seconds >= 0" },
	{ "threaded", ARG_REQUIRED, opt_threaded, 0, BOOL01 },
	{ "fsync", ARG_REQUIRED, opt_bool_choice, CFG(fsync), BOOL01 },
	{ "fast_ino", ARG_REQUIRED, opt_ignored_choice, 0, BOOL01 },
	{ "writeback", ARG_REQUIRED, opt_bool_choice, CFG(writeback), BOOL01 },
	{ "zero_open", ARG_REQUIRED, opt_bool_choice, CFG(zero_open), BOOL01 },
	{ "dir_readahead", ARG_REQUIRED, opt_bool_choice, CFG(dir_readahead), BOOL01 },
	{ "passthrough", ARG_REQUIRED, opt_bool_choice, CFG(passthrough), BOOL01 },
	{ "spin", ARG_REQUIRED, opt_spin, 0, "microseconds, 0 to 10000" },
	{ "noxattrs", ARG_REQUIRED, opt_bool_choice, CFG(noxattrs), BOOL01 },
	{ "plugins", ARG_REQUIRED, opt_plugins, 0, NULL },
	{ "xattr_permissions", ARG_REQUIRED, opt_xattr_permissions, 0, "0|1|2" },
	{ "volatile", ARG_NONE, opt_volatile, 0, NULL },
	{ "debug", ARG_NONE, opt_debug, 0, NULL },

	/* kernel overlayfs */
	{ "redirect_dir", ARG_REQUIRED, opt_redirect_dir, 0,
	  "off|on|follow|nofollow" },
	{ "metacopy", ARG_REQUIRED, opt_bool_choice, CFG(metacopy), ONOFF },
	{ "index", ARG_REQUIRED, opt_ignored_choice, 0, ONOFF },
	{ "xino", ARG_REQUIRED, opt_ignored_choice, 0, "off|on|auto" },
	{ "nfs_export", ARG_REQUIRED, opt_ignored_choice, 0, ONOFF },
	{ "uuid", ARG_REQUIRED, opt_ignored_choice, 0, "off|on|null|auto" },
	{ "userxattr", ARG_NONE, opt_flag, CFG(userxattr), NULL },
	/* Always on: the daemon mounts with it. */
	{ "default_permissions", ARG_NONE, opt_nop, 0, NULL },

	/* FUSE session; the daemon turns these fields into libfuse options */
	{ "allow_other", ARG_NONE, opt_flag, CFG(allow_other), NULL },
	{ "allow_root", ARG_NONE, opt_flag, CFG(allow_root), NULL },
	{ "auto_unmount", ARG_NONE, opt_flag, CFG(auto_unmount), NULL },
	{ "clone_fd", ARG_NONE, opt_flag, CFG(clone_fd), NULL },
	{ "max_threads", ARG_REQUIRED, opt_max_threads, 0, UINT },
	{ "max_idle_threads", ARG_REQUIRED, opt_max_idle_threads, 0, UINT },

	/* passed to libfuse as they are */
	{ "max_read", ARG_REQUIRED, opt_pass_u32, 0, UINT },
	{ "fsname", ARG_REQUIRED, opt_pass, 0, NULL },
	{ "subtype", ARG_REQUIRED, opt_pass, 0, NULL },
	/* SELinux labels: the daemon passes them on only where SELinux is
	 * enabled, since the kernel refuses them elsewhere (EINVAL). */
	{ "context", ARG_REQUIRED, opt_selinux, 0, NULL },
	{ "fscontext", ARG_REQUIRED, opt_selinux, 0, NULL },
	{ "defcontext", ARG_REQUIRED, opt_selinux, 0, NULL },
	{ "rootcontext", ARG_REQUIRED, opt_selinux, 0, NULL },
	{ "ro", ARG_NONE, opt_ro, 0, NULL },
	{ "rw", ARG_NONE, opt_ro, 0, NULL },
	{ "suid", ARG_NONE, opt_pass, 0, NULL },
	{ "nosuid", ARG_NONE, opt_pass, 0, NULL },
	{ "dev", ARG_NONE, opt_pass, 0, NULL },
	{ "nodev", ARG_NONE, opt_pass, 0, NULL },
	{ "exec", ARG_NONE, opt_pass, 0, NULL },
	{ "noexec", ARG_NONE, opt_pass, 0, NULL },
	{ "atime", ARG_NONE, opt_pass, 0, NULL },
	{ "noatime", ARG_NONE, opt_pass, 0, NULL },
	{ "sync", ARG_NONE, opt_pass, 0, NULL },
	{ "async", ARG_NONE, opt_pass, 0, NULL },
	{ "dirsync", ARG_NONE, opt_pass, 0, NULL },
	{ "diratime", ARG_NONE, opt_pass, 0, NULL },
	{ "nodiratime", ARG_NONE, opt_pass, 0, NULL },
	/* libfuse rejects these, and "defaults" would mean suid,dev where
	 * libfuse defaults to nosuid,nodev: accept and drop them. */
	{ "silent", ARG_NONE, opt_nop, 0, NULL },
	{ "loud", ARG_NONE, opt_nop, 0, NULL },
	{ "defaults", ARG_NONE, opt_nop, 0, NULL },
	/* atime policies libfuse cannot pass on: the kernel's default
	 * (relatime) applies to the FUSE mount */
	{ "relatime", ARG_NONE, opt_nop, 0, NULL },
	{ "norelatime", ARG_NONE, opt_nop, 0, NULL },
	{ "strictatime", ARG_NONE, opt_nop, 0, NULL },
	{ "nostrictatime", ARG_NONE, opt_nop, 0, NULL },
	{ "lazytime", ARG_NONE, opt_nop, 0, NULL },
	{ "nolazytime", ARG_NONE, opt_nop, 0, NULL },
	/* mount(8) and fstab words that callers (podman's ":O" volumes,
	 * fstab entries) pass to any mount program: meaningless for one
	 * FUSE mount, accepted and dropped */
	{ "private", ARG_NONE, opt_nop, 0, NULL },
	{ "rprivate", ARG_NONE, opt_nop, 0, NULL },
	{ "shared", ARG_NONE, opt_nop, 0, NULL },
	{ "rshared", ARG_NONE, opt_nop, 0, NULL },
	{ "slave", ARG_NONE, opt_nop, 0, NULL },
	{ "rslave", ARG_NONE, opt_nop, 0, NULL },
	{ "unbindable", ARG_NONE, opt_nop, 0, NULL },
	{ "runbindable", ARG_NONE, opt_nop, 0, NULL },
	{ "bind", ARG_NONE, opt_nop, 0, NULL },
	{ "rbind", ARG_NONE, opt_nop, 0, NULL },
	{ "auto", ARG_NONE, opt_nop, 0, NULL },
	{ "noauto", ARG_NONE, opt_nop, 0, NULL },
	{ "user", ARG_NONE, opt_nop, 0, NULL },
	{ "nouser", ARG_NONE, opt_nop, 0, NULL },
	{ "users", ARG_NONE, opt_nop, 0, NULL },
	{ "nofail", ARG_NONE, opt_nop, 0, NULL },
	{ "_netdev", ARG_NONE, opt_nop, 0, NULL },
	{ "comment", ARG_REQUIRED, opt_nop, 0, NULL },
};

static const struct opt_def *find_opt(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(opt_table); i++)
		if (streq(opt_table[i].name, name))
			return &opt_table[i];
	return NULL;
}

/* Apply one non-empty -o element; elem is ours to modify. */
static int apply_opt(struct parse_ctx *p, char *elem)
{
	const struct opt_def *d;
	char *value = strchr(elem, '=');

	if (value)
		*value++ = '\0';
	d = find_opt(elem);
	if (!d && strncmp(elem, "x-", 2) == 0)
		return 0; /* mount(8)'s userspace options: for other programs */
	if (!d)
		return fail(p, -EINVAL, "unknown option '%s'", elem);
	if (d->arg == ARG_NONE && value)
		return fail(p, -EINVAL, "option '%s' takes no value", elem);
	if (d->arg == ARG_REQUIRED && !value)
		return fail(p, -EINVAL, "option '%s' requires a value", elem);
	return d->handle(p, d, value);
}

/* ---- the -o string ----------------------------------------------------- */

/*
 * Copy the element at *s into buf, up to an unquoted, unescaped ',' or the
 * end; "\," becomes ',', other escapes and quotes are kept.  *s is left on
 * the separator.  -EINVAL on an unterminated quote.
 */
static int next_elem(const char **s, char *buf)
{
	const char *c = *s;
	bool quoted = false;

	for (; *c != '\0' && (quoted || *c != ','); c++) {
		if (*c == '\\' && c[1] != '\0') {
			if (c[1] != ',')
				*buf++ = '\\';
			*buf++ = *++c;
			continue;
		}
		if (*c == '"')
			quoted = !quoted;
		*buf++ = *c;
	}
	*buf = '\0';
	*s = c;
	return quoted ? -EINVAL : 0;
}

static int split_opts(struct parse_ctx *p, const char *opts, char ***ret,
		      size_t *ret_n)
{
	_cleanup_(strv_freep) char **v = NULL;
	const char *s = opts;
	size_t n = 0;
	int r;

	for (;;) {
		_cleanup_free_ char *elem = malloc(strlen(s) + 1);

		if (!elem)
			return -ENOMEM;
		r = next_elem(&s, elem);
		if (r < 0)
			return fail(p, r, "unterminated quote in options '%s'",
				    opts);
		r = strv_consume(&v, &n, &elem);
		if (r < 0)
			return r;
		if (*s == '\0')
			break;
		s++; /* the ',' */
	}
	*ret = steal_pointer(&v);
	*ret_n = n;
	return 0;
}

static bool is_idmap_opt(const char *elem)
{
	return strncmp(elem, "uidmapping=", 11) == 0 ||
	       strncmp(elem, "gidmapping=", 11) == 0;
}

/* "1:100000:65536": the rest of a mapping split at ',' by the -o syntax. */
static bool is_idmap_tail(const char *elem)
{
	return isdigit((unsigned char)elem[0]) &&
	       elem[strspn(elem, "0123456789:")] == '\0';
}

/*
 * fuse-overlayfs documents "uidmapping=0:1000:1,1:100000:65536" although
 * ',' also separates options: fold such tails into elems[i] and blank them.
 */
static int join_idmap_tail(char **elems, size_t n, size_t i)
{
	for (size_t j = i + 1; j < n && is_idmap_tail(elems[j]); j++) {
		char *joined;

		if (asprintf(&joined, "%s,%s", elems[i], elems[j]) < 0)
			return -ENOMEM;
		free(elems[i]);
		elems[i] = joined;
		elems[j][0] = '\0';
	}
	return 0;
}

static int parse_opts(struct parse_ctx *p)
{
	_cleanup_(strv_freep) char **elems = NULL;
	size_t n = 0;
	int r;

	if (!p->opts)
		return 0;
	r = split_opts(p, p->opts, &elems, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (elems[i][0] == '\0')
			continue; /* podman: ",,volatile", trailing ',' */
		if (is_idmap_opt(elems[i])) {
			r = join_idmap_tail(elems, n, i);
			if (r < 0)
				return r;
		}
		r = apply_opt(p, elems[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- argv -------------------------------------------------------------- */

static int add_opts(struct parse_ctx *p, const char *opts)
{
	char *joined;

	if (!p->opts) {
		p->opts = strdup(opts);
		return p->opts ? 0 : -ENOMEM;
	}
	if (asprintf(&joined, "%s,%s", p->opts, opts) < 0)
		return -ENOMEM;
	free(p->opts);
	p->opts = joined;
	return 0;
}

static int add_positional(struct parse_ctx *p, const char *arg)
{
	if (p->n_pos >= ELEMENTSOF(p->pos))
		return fail(p, -EINVAL, "unexpected argument '%s'", arg);
	p->pos[p->n_pos++] = arg;
	return 0;
}

/* -o OPTS, -oOPTS, -t TYPE, -tTYPE; advances *i past a separate argument. */
static int parse_arg_flag(struct parse_ctx *p, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	const char *arg = a + 2;

	if (*arg == '\0') {
		if (*i + 1 >= argc)
			return fail(p, -EINVAL,
				    "option '%s' requires an argument", a);
		arg = argv[++*i];
	}
	if (a[1] == 'o')
		return add_opts(p, arg);
	return 0; /* -t overlay: mount(8) and podman-ish callers */
}

static int parse_flag(struct parse_ctx *p, int argc, char **argv, int *i)
{
	struct sfs_config *cfg = p->cfg;
	const char *a = argv[*i];

	if (streq(a, "-f"))
		cfg->foreground = true;
	else if (streq(a, "-d") || streq(a, "--debug"))
		return opt_debug(p, NULL, NULL);
	else if (streq(a, "-s"))
		cfg->singlethread = true;
	else if (streq(a, "-h") || streq(a, "--help"))
		cfg->show_help = true;
	else if (streq(a, "-V") || streq(a, "--version"))
		cfg->show_version = true;
	else if (a[1] == 'o' || a[1] == 't')
		return parse_arg_flag(p, argc, argv, i);
	else
		return fail(p, -EINVAL, "unknown option '%s'", a);
	return 0;
}

static int parse_argv(struct parse_ctx *p, int argc, char **argv)
{
	bool only_words = false;
	int r;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!only_words && streq(a, "--")) {
			only_words = true;
			continue;
		}
		if (only_words || a[0] != '-' || a[1] == '\0')
			r = add_positional(p, a);
		else
			r = parse_flag(p, argc, argv, &i);
		if (r < 0)
			return r;
		if (p->cfg->show_help || p->cfg->show_version)
			return 0;
	}
	return 0;
}

/* The last positional word is the mountpoint; a first one is the source
 * ("overlay"), which a union filesystem has no use for. */
static int take_mountpoint(struct parse_ctx *p)
{
	if (p->n_pos == 0)
		return 0;
	p->cfg->mountpoint = strdup(p->pos[p->n_pos - 1]);
	return p->cfg->mountpoint ? 0 : -ENOMEM;
}

/* ---- public API -------------------------------------------------------- */

static struct sfs_config *config_new(void)
{
	struct sfs_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->max_idle_threads = -1;
	cfg->spin_us = DEFAULT_SPIN_US;
	cfg->timeout = DEFAULT_TIMEOUT;
	cfg->fsync = true;
	cfg->squash_to_uid = -1;
	cfg->squash_to_gid = -1;
	cfg->redirect_dir = true;
	/* metacopy=off, as the kernel's default: an upper layer with
	 * metadata-only copies is refused by kernel overlayfs without
	 * metacopy=on, and fuse-overlayfs shows their data as holes. */
	cfg->metacopy = false;
	/* writeback=1 is opt-in: the kernel keeps one cache per FUSE inode,
	 * and the names of a hard-linked file are several of them. */
	cfg->writeback = false;
	/* zero_open=1 is opt-in: the copy-up then happens at the first
	 * write, not at the open for writing (handle.c) */
	cfg->zero_open = false;
	cfg->dir_readahead = true;
	cfg->passthrough = true;
	return cfg;
}

static int parse_all(struct parse_ctx *p, int argc, char **argv)
{
	int r;

	r = parse_argv(p, argc, argv);
	if (r < 0)
		return r;
	if (p->cfg->show_help || p->cfg->show_version)
		return 0;
	r = take_mountpoint(p);
	if (r < 0)
		return r;
	return parse_opts(p);
}

int sfs_config_parse(int argc, char **argv, struct sfs_config **ret_cfg,
		     char **ret_msg)
{
	_cleanup_(sfs_config_freep) struct sfs_config *cfg = NULL;
	struct parse_ctx p = {};
	int r;

	cfg = config_new();
	if (!cfg)
		return -ENOMEM;
	p.cfg = cfg;
	r = parse_all(&p, argc, argv);
	free(p.opts);
	if (r < 0) {
		if (ret_msg)
			*ret_msg = steal_pointer(&p.msg);
		free(p.msg);
		return r;
	}
	*ret_cfg = steal_pointer(&cfg);
	return 0;
}

/* Start of the next path component of *p that is neither "" nor "."; its
 * length is returned (0 at the end). */
static size_t next_component(const char **p)
{
	const char *s = *p;

	for (;;) {
		while (*s == '/')
			s++;
		if (s[0] != '.' || (s[1] != '/' && s[1] != '\0'))
			break;
		s++;
	}
	*p = s;
	return strcspn(s, "/");
}

/* Pure string comparison: "a//b/./" and "a/b" name the same directory. */
static bool path_same(const char *a, const char *b)
{
	if ((a[0] == '/') != (b[0] == '/'))
		return false;
	for (;;) {
		size_t la = next_component(&a), lb = next_component(&b);

		if (la != lb || strncmp(a, b, la) != 0)
			return false;
		if (la == 0)
			return true;
		a += la;
		b += lb;
	}
}

int sfs_config_validate(const struct sfs_config *cfg, char **ret_msg)
{
	if (!cfg->mountpoint || cfg->mountpoint[0] == '\0')
		return set_msg(ret_msg, -EINVAL, "no mountpoint given");
	if (cfg->n_lower == 0)
		return set_msg(ret_msg, -EINVAL, "no lowerdir given");
	if (!cfg->upperdir)
		return 0;
	if (!cfg->workdir)
		return set_msg(ret_msg, -EINVAL,
			       "upperdir '%s' given without workdir",
			       cfg->upperdir);
	if (path_same(cfg->upperdir, cfg->workdir))
		return set_msg(ret_msg, -EINVAL,
			       "upperdir and workdir must be different directories, both are '%s'",
			       cfg->upperdir);
	return 0;
}

void sfs_config_free(struct sfs_config *cfg)
{
	if (!cfg)
		return;
	strv_free(cfg->lowerdirs);
	free(cfg->upperdir);
	free(cfg->workdir);
	free(cfg->mountpoint);
	free(cfg->uidmap);
	free(cfg->gidmap);
	free(cfg->fuse_mount_opts);
	free(cfg->selinux_mount_opts);
	free(cfg);
}

static const char help_text[] =
	"Mount a union of directories, compatible with fuse-overlayfs.\n"
	"\n"
	"  -f                     stay in the foreground\n"
	"  -d, --debug            debug output (implies -f)\n"
	"  -s                     single-threaded\n"
	"  -o OPTS                comma-separated options, see below (repeatable)\n"
	"  -t TYPE                ignored (mount(8) compatibility)\n"
	"  -h, --help             show this help\n"
	"  -V, --version          show the version\n"
	"\n"
	"Layers:\n"
	"  lowerdir=DIR[:DIR...]  read-only layers, top-most first (\\: \\\\ escape)\n"
	"  upperdir=DIR           read-write layer; without it the mount is read-only\n"
	"  workdir=DIR            scratch directory next to upperdir (required with it)\n"
	"\n"
	"fuse-overlayfs options:\n"
	"  uidmapping=C:H:N[:C:H:N...], gidmapping=...\n"
	"                         ids C..C+N-1 on disk show as H..H+N-1 in the mount\n"
	"  squash_to_root, squash_to_uid=N, squash_to_gid=N\n"
	"                         show every file as owned by root / N\n"
	"  static_nlink           report nlink 1 for directories\n"
	"  noacl                  no POSIX ACL support\n"
	"  timeout=SECONDS        entry and attribute cache timeout (default 86400)\n"
	"  threaded=0|1           multi-threaded loop (default 1)\n"
	"  fsync=0|1, volatile    honour fsync (default 1); volatile means fsync=0\n"
	"  writeback=0|1          writeback cache\n"
	"  zero_open=0|1          no open/release requests for files; copy-up at\n"
	"                         the first write instead of the open (default 0)\n"
	"  dir_readahead=0|1      a listing that waited for the disk reads the\n"
	"                         directories below it in the background (default 1)\n"
	"  passthrough=0|1        the kernel reads and writes open files itself,\n"
	"                         when it can and the daemon runs as root; it\n"
	"                         replaces the writeback cache (default 1)\n"
	"  spin=MICROSECONDS      after a request, keep asking the kernel for the\n"
	"                         next one this long before sleeping (default 50;\n"
	"                         0: sleep at once)\n"
	"  noxattrs=0|1           disable extended attributes\n"
	"  xattr_permissions=0|1|2 store owner and mode in an xattr\n"
	"  fast_ino=0|1, plugins= accepted, no effect (plugins must be empty)\n"
	"  debug                  same as -d\n"
	"\n"
	"Kernel overlayfs options:\n"
	"  redirect_dir=on|off|follow|nofollow  renamed lower directories get a\n"
	"                         redirect xattr; off: EXDEV (default on)\n"
	"  metacopy=on|off        chmod, chown, utimes and setxattr of a lower file\n"
	"                         copy its metadata only (default off)\n"
	"  userxattr, index=, xino=, nfs_export=, uuid=, default_permissions:\n"
	"                         accepted\n"
	"\n"
	"FUSE options:\n"
	"  allow_other, allow_root, auto_unmount, clone_fd, max_threads=N,\n"
	"  max_idle_threads=N, max_read=N, fsname=NAME, subtype=NAME,\n"
	"  context=, fscontext=, defcontext=, rootcontext= (SELinux)\n"
	"\n"
	"Mount options:\n"
	"  ro, rw, [no]suid, [no]dev, [no]exec, [no]atime, [no]relatime,\n"
	"  [no]strictatime, [no]lazytime, [no]diratime, sync, async, dirsync;\n"
	"  silent, loud, defaults: accepted, no effect\n";

void sfs_config_print_help(const char *progname, void *f)
{
	FILE *out = f;

	fprintf(out, "usage: %s [-f] [-d] [-s] [-o OPTS]... [SOURCE] MOUNTPOINT\n\n",
		progname);
	fputs(help_text, out);
}
