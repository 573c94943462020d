/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * strata-setuser - become a user, then exec a command:
 *
 *     strata-setuser UID GID [GROUP,GROUP...] -- COMMAND [ARG...]
 *
 * `strata run --user` (and an image's "User") starts the command through it
 * inside bubblewrap, which runs as root there and cannot change the user
 * itself without a user namespace of its own.  Linked statically: it runs
 * in the container's root file system, whose libraries are not ours.
 * An empty group list drops every supplementary group.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GROUPS 256

static int parse_id(const char *s, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, 10);
	return errno || end == s || *end || *ret > 0xfffffffeul ? -1 : 0;
}

int main(int argc, char **argv)
{
	gid_t groups[MAX_GROUPS];
	size_t n = 0;
	unsigned long uid, gid, g;
	char *list, *tok, *save = NULL;

	if (argc < 6 || strcmp(argv[4], "--") != 0 || parse_id(argv[1], &uid) < 0 ||
	    parse_id(argv[2], &gid) < 0) {
		fprintf(stderr, "usage: strata-setuser UID GID [GROUP,...] -- COMMAND [ARG...]\n");
		return 125;
	}
	list = argv[3];
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_id(tok, &g) < 0 || n == MAX_GROUPS) {
			fprintf(stderr, "strata-setuser: bad group list '%s'\n", argv[3]);
			return 125;
		}
		groups[n++] = (gid_t)g;
	}
	/* groups first, then the group, then the user: each needs the
	 * privilege the next step gives up */
	if (setgroups(n, groups) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
		fprintf(stderr, "strata-setuser: cannot become %lu:%lu: %s\n", uid, gid,
			strerror(errno));
		return 125;
	}
	execvp(argv[5], argv + 5);
	fprintf(stderr, "strata-setuser: exec '%s': %s\n", argv[5], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
