/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * userns.h - a user namespace over the caller's subordinate ids, the one
 * podman makes for a rootless container: id 0 inside is the caller, ids
 * 1..N are the ranges /etc/subuid and /etc/subgid grant the caller, mapped
 * by the setuid helpers newuidmap(1) and newgidmap(1).  Used by `strata run`
 * (cmd-run.c); knows nothing of the store.
 */
#ifndef STRATA_USERNS_H
#define STRATA_USERNS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define USERNS_MAX_RANGES 16

struct userns_range {
	uint32_t start; /* first host id */
	uint32_t count;
};

struct userns_ids {
	uid_t uid; /* the caller: 0 inside */
	gid_t gid;
	struct userns_range uids[USERNS_MAX_RANGES], gids[USERNS_MAX_RANGES];
	size_t n_uids, n_gids;
	char *newuidmap, *newgidmap; /* paths of the helpers */
};

/*
 * The caller's subordinate ids and the helpers to map them.  Returns
 * -ENOENT when the caller has no entry in /etc/subuid or /etc/subgid,
 * -ENOEXEC when a helper is not installed, another negative errno when a
 * file cannot be read; *ret_why (malloc'ed, NULL when out of memory) then
 * says which, in words.
 */
int userns_ids_get(struct userns_ids *ret, char **ret_why);
void userns_ids_clear(struct userns_ids *ids);

/*
 * Fork into new user, mount and pid namespaces: the user namespace maps
 * @ids, the mount namespace is a copy of ours owned by it.  Returns 0 in
 * the new namespaces (pid 1 there, uid and gid 0 with every capability
 * over them; it dies with the caller), 1 in the caller with *ret_pid set,
 * or a negative errno when the namespaces cannot be made (a helper's own
 * complaint is on stderr).  The child *ret_pid relays the signals of
 * @relay sent to it (which must stay blocked, SIGCHLD among them) to pid 1
 * and exits with its status (125 if it could not start it).
 */
int userns_fork(const struct userns_ids *ids, const sigset_t *relay, pid_t *ret_pid);

#endif /* STRATA_USERNS_H */
