/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tool.c - shared helpers of the strata subcommands (see tool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "tool.h"

const char *arg_root;
bool arg_quiet;

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int tool_fail(struct ldb *db, int r, const char *fmt, ...)
{
	const char *detail = db ? ldb_errmsg(db) : "";
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", detail && *detail ? detail : strerror(r < 0 ? -r : r));
	return EXIT_FAIL;
}

void tool_print_help(const struct cmd_help *h)
{
	printf("Usage: strata %s\n\n%s\n", h->usage, h->summary);
	if (h->options)
		printf("\nOptions:\n%s", h->options);
	printf("      --help           show this help\n");
}

int tool_usage_error(const struct cmd_help *h, const char *fmt, ...)
{
	va_list ap;

	fputs("strata: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: strata %s (see 'strata %.*s --help')\n", h->usage,
		(int)strcspn(h->usage, " "), h->usage);
	return EXIT_USAGE;
}

int tool_open(struct ldb **ret_db)
{
	_cleanup_free_ char *def = NULL;
	const char *root = arg_root;
	int r;

	if (!root)
		root = getenv("STRATA_ROOT");
	if (!root && geteuid() == 0)
		root = "/var/lib/strata";
	if (!root) {
		const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

		if (xdg && *xdg)
			r = asprintf(&def, "%s/strata", xdg);
		else
			r = asprintf(&def, "%s/.local/share/strata", home ? home : ".");
		if (r < 0)
			return -ENOMEM;
		root = def;
	}
	r = ldb_open(root, 0, ret_db);
	if (r == -EPROTONOSUPPORT)
		tool_err("cannot open store '%s': its database is newer than this strata", root);
	else if (r == -EUCLEAN)
		tool_err("cannot open store '%s': its database '%s/strata.db' is damaged (not a "
			 "readable SQLite database); nothing was changed: restore that file from a "
			 "backup", root, root);
	else if (r == -EBUSY)
		tool_err("cannot open store '%s': its database stayed locked by another strata "
			 "for too long; try again", root);
	else if (r < 0)
		tool_err("cannot open store '%s': %s", root, strerror(-r));
	return r;
}

const char *tool_id(const struct ldb_digest *d, bool full, char *buf)
{
	char hex[LDB_DIGEST_HEX_LEN + 1];

	ldb_digest_hex(d, hex);
	if (full)
		snprintf(buf, TOOL_ID_MAX, LDB_ID_PREFIX "%s", hex);
	else
		snprintf(buf, TOOL_ID_MAX, "%.12s", hex);
	return buf;
}

const char *tool_size(uint64_t bytes, char buf[32])
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1000.0 && u + 1 < ELEMENTSOF(units)) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%lluB", (unsigned long long)bytes);
	else
		snprintf(buf, 32, "%.3g%s", v, units[u]);
	return buf;
}

const char *tool_ago(int64_t t, char buf[48])
{
	int64_t d = (int64_t)time(NULL) - t;
	static const struct { int64_t secs; const char *unit; } steps[] = {
		{ 365 * 86400, "year" }, { 30 * 86400, "month" }, { 7 * 86400, "week" },
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" },
	};

	if (d < 1)
		return snprintf(buf, 48, "Less than a second ago"), buf;
	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		int64_t n = d / steps[i].secs;

		if (n >= 1) {
			if (n == 1)
				snprintf(buf, 48, "%s %s ago", strcmp(steps[i].unit, "hour") ? "1" : "About an",
					 steps[i].unit);
			else
				snprintf(buf, 48, "%lld %ss ago", (long long)n, steps[i].unit);
			return buf;
		}
	}
	snprintf(buf, 48, "%lld second%s ago", (long long)d, d == 1 ? "" : "s");
	return buf;
}

const char *tool_time(int64_t t, char buf[48])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 48, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

void tool_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ---- progress ----------------------------------------------------------- */

struct progress_state {
	bool shown;
	const char *phase; /* the rate restarts with each phase */
	struct timespec start, last;
};

static struct progress_state progress_state;

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void tool_progress(const struct ldb_progress *p, void *payload)
{
	struct progress_state *s = &progress_state;
	struct timespec now;
	char sz[32], rate[32];
	double el;

	if (arg_quiet || !isatty(STDERR_FILENO))
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!s->start.tv_sec || s->phase != p->phase) {
		s->start = now;
		s->phase = p->phase;
	}
	if (s->shown && since(&s->last, &now) < 0.1)
		return;
	s->last = now;
	el = since(&s->start, &now);
	tool_size(p->bytes, sz);
	tool_size(el > 0.01 ? (uint64_t)((double)p->bytes / el) : 0, rate);
	fprintf(stderr, "\r\033[K%s: %s, %llu files, %s/s", p->phase, sz,
		(unsigned long long)p->files, rate);
	s->shown = true;
}

void tool_progress_done(void)
{
	if (progress_state.shown)
		fputs("\r\033[K", stderr);
	progress_state = (struct progress_state){ 0 };
}

/* ---- mounts and processes ---------------------------------------------------- */

int tool_is_mountpoint(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok, *w;
		int i = 0;

		for (tok = strtok_r(line, " ", &save); tok && i < 4; tok = strtok_r(NULL, " ", &save))
			i++;
		if (!tok)
			continue;
		w = tok;
		for (char *p = tok; *p; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				*w++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
				p += 3;
			} else {
				*w++ = *p;
			}
		}
		*w = '\0';
		if (strcmp(tok, path) == 0)
			return 1;
	}
	return 0;
}

char *tool_find_program(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *dir, *save = NULL;

	copy = strdup(path && *path ? path : TOOL_DEFAULT_PATH);
	if (!copy)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p;

		if (asprintf(&p, "%s/%s", dir, name) < 0)
			return NULL;
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* Malloc'd "DIR/rel" for DIR the directory of our own executable, if
 * that is an executable file; else NULL. */
static char *beside_self(const char *rel)
{
	char self[PATH_MAX], *slash, *p;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (asprintf(&p, "%s/%s", self, rel) < 0)
		return NULL;
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

char *tool_find_setuser(void)
{
	char *p;

	/* the build tree keeps it beside strata */
	p = beside_self("strata-setuser");
	if (p)
		return p;
	if (asprintf(&p, "%s/strata-setuser", STRATA_LIBEXECDIR) < 0)
		return NULL;
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

char *tool_find_stratafs(void)
{
	const char *env = getenv("STRATAFS");
	char *p;

	if (env && *env)
		return strdup(env);
	/* build tree: build/tools/strata -> build/unionfs/stratafs */
	p = beside_self("../unionfs/stratafs");
	if (!p)
		p = beside_self("stratafs");
	return p ? p : strdup("stratafs"); /* $PATH */
}

int tool_run(char *const argv[], bool quiet)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0)
			dup2(null, STDIN_FILENO);
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
			}
		} else {
			dup2(STDERR_FILENO, STDOUT_FILENO); /* keep our stdout for results */
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int tool_wait_forwarding(pid_t pid, const sigset_t *set)
{
	for (;;) {
		siginfo_t si;
		int status, sig;

		sig = sigwaitinfo(set, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			if (si.si_code != SI_KERNEL)
				kill(pid, sig);
			continue;
		}
		if (waitpid(pid, &status, WNOHANG) != pid)
			continue;
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		return 128 + WTERMSIG(status);
	}
}
