#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-rootless-lib.sh - helpers for running `strata` as an ordinary user,
# sourced after tools-lib.sh by tools-run*.sh and tools-rootless*.sh.
#
# As root, commands run as $STRATA_TEST_USER (default: stratatest) through
# runuser, with a clean environment: HOME=$UHOME (under the test's $T),
# XDG_DATA_HOME=$UXDG (empty: the default ~/.local/share), TMPDIR=$UHOME/tmp.
# Run by an ordinary user, the tests simply run as that user.  Tests skip
# when the user does not exist or /dev/fuse is not usable by everyone.

TEST_USER=${STRATA_TEST_USER:-stratatest}
BB_ROOTFS=$TOOLS_TMP/bbfs

# A busybox root file system directory with the usual mount points (so that
# the sandbox's /proc, /dev and /tmp add nothing to a container's diff).
bb_rootfs_dir() {
	local dir=$BB_ROOTFS bb a
	if [ ! -e "$dir/.done" ]; then
		bb=$(command -v busybox || echo /bin/busybox)
		[ -x "$bb" ] || skip "no busybox binary (apt-get install busybox-static)"
		mkdir -p "$dir"/{bin,etc,tmp,root,proc,dev,sys,home,var/log}
		cp "$bb" "$dir/bin/busybox"
		for a in $("$bb" --list); do
			[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
		printf 'root:x:0:\n' >"$dir/etc/group"
		printf 'strata test rootfs\n' >"$dir/etc/motd"
		chmod 1777 "$dir/tmp"
		chmod 700 "$dir/root"
		touch "$dir/.done"
	fi
	echo "$dir"
}

need_bwrap() {
	local b=${BWRAP:-$(command -v bwrap)}
	[ -n "$b" ] && [ -x "$b" ] || skip "bubblewrap not installed (apt-get install bubblewrap)"
}

# Set up the unprivileged user for this test: $UHOME, $UXDG.
need_user() {
	need_mount
	UHOME=$T/home
	UXDG=${UXDG-$UHOME/xdg}
	mkdir -p "$UHOME/tmp"
	if [ "$(id -u)" = 0 ]; then
		id -u "$TEST_USER" >/dev/null 2>&1 ||
			skip "no user $TEST_USER (useradd -m $TEST_USER)"
		[ "$(stat -c %a /dev/fuse)" = 666 ] || skip "/dev/fuse is not 0666"
		[ -u "$(command -v fusermount3)" ] || skip "fusermount3 is not setuid"
		chmod 755 "$TOOLS_TMP" "$T"
		chown -R "$TEST_USER:" "$UHOME"
	fi
}

as_user() {
	local envs=(HOME="$UHOME" PATH="$PATH" XDG_DATA_HOME="$UXDG" TMPDIR="$UHOME/tmp"
		STRATAFS="$STRATAFS" LANG=C)
	[ -z "${BWRAP:-}" ] || envs+=(BWRAP="$BWRAP")
	if [ "$(id -u)" = 0 ]; then
		(cd "$UHOME" && runuser -u "$TEST_USER" -- env -i "${envs[@]}" "$@")
	else
		(cd "$UHOME" && env -i "${envs[@]}" "$@")
	fi
}

# strata as the user, on the default store ($XDG_DATA_HOME/strata).
ust() { as_user "$STRATA" -q "$@"; }

# Can bubblewrap make a user namespace for the user?
need_user_bwrap() {
	need_bwrap
	as_user "${BWRAP:-bwrap}" --unshare-user --uid 0 --gid 0 --ro-bind / / true 2>/dev/null ||
		skip "bubblewrap cannot create a user namespace for $TEST_USER here"
}

# Has the user subordinate ids, and the helpers to map them?  (Then a
# rootless `strata run` keeps the image's owners and lets the container
# chown.)
has_subids() {
	local u
	u=$(as_user id -un)
	grep -q "^$u:" /etc/subuid 2>/dev/null && grep -q "^$u:" /etc/subgid 2>/dev/null &&
		command -v newuidmap >/dev/null && command -v newgidmap >/dev/null
}

need_subids() {
	has_subids || skip "$(as_user id -un) has no subordinate ids in /etc/subuid and" \
		"/etc/subgid (usermod --add-subuids), or no newuidmap (apt-get install uidmap)"
}

# No FUSE mount left under $1.
assert_no_mount_under() {
	! awk '{print $5}' /proc/self/mountinfo | grep -q "^$1" ||
		fail "mounts left under $1: $(awk '{print $5}' /proc/self/mountinfo | grep "^$1")"
}

# The busybox root file system as the user's own copy (root's has a 0700 /root).
user_bb_rootfs() {
	local src
	src=$(bb_rootfs_dir)
	if [ ! -e "$UHOME/bbfs" ]; then
		cp -a "$src" "$UHOME/bbfs"
		[ "$(id -u)" != 0 ] || chown -R "$TEST_USER:" "$UHOME/bbfs"
	fi
	echo "$UHOME/bbfs"
}

# Is something mounted on $1?  (Root cannot stat a FUSE mount of the user's
# without allow_other, so mountpoint(1) would say no.)
is_mounted() { awk '{print $5}' /proc/self/mountinfo | grep -qx -- "$1"; }
