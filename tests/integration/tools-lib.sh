#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-lib.sh - shared by the tools-*.sh end-to-end tests of `strata`.
#
# Each test_* function runs in a fresh subshell with its own store ($ROOT)
# under a private temp dir ($T); output is TAP ("ok N - name", "1..N").
# A test calls `skip REASON` (exit 77) when it cannot run here, e.g. when
# $STRATAFS is not runnable yet.  Anything mounted under the temp dir is
# unmounted after each test and again on exit (trap).
#
# Environment: STRATA (required), STRATAFS (the FUSE daemon; mount tests skip
# when it cannot mount).

: "${STRATA:?STRATA must point to the strata binary}"
export STRATAFS="${STRATAFS:-}"
TOOLS_TMP=$(mktemp -d /tmp/strata-tools.XXXXXX)

unmount_under() {
	local dir=$1 m
	# deepest first; mountinfo escapes spaces as \040 (our paths have none)
	awk -v d="$dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
}

tools_cleanup() {
	unmount_under "$TOOLS_TMP"
	[ -n "${TOOLS_KEEP:-}" ] || rm -rf "$TOOLS_TMP" 2>/dev/null || true
}
trap tools_cleanup EXIT

st() { "$STRATA" --root "$ROOT" -q "$@"; }

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "$*" >"$T/.skip"
	exit 77
}

assert_eq() { [ "$1" = "$2" ] || fail "${3:-values differ}: '$1' != '$2'"; }
assert_match() { [[ $1 =~ $2 ]] || fail "${3:-no match}: '$1' !~ /$2/"; }
assert_contains() { grep -q -- "$2" <<<"$1" || fail "${3:-missing text}: '$2' not in: $1"; }
assert_not_contains() { ! grep -q -- "$2" <<<"$1" || fail "${3:-unexpected text}: '$2' in: $1"; }

# Run "$@", require exit status $1 (the rest is the command); output in $OUT/$ERR.
expect_status() {
	local want=$1
	shift
	set +e
	"$@" >"$T/.out" 2>"$T/.err"
	local rc=$?
	set -e
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, wanted $want; stderr: $ERR"
}

# A tiny root file system from Debian's busybox-static, built once.
busybox_rootfs() {
	local dir=$TOOLS_TMP/rootfs
	if [ ! -e "$TOOLS_TMP/busybox.tar.gz" ]; then
		local bb
		bb=$(command -v busybox || echo /bin/busybox)
		[ -x "$bb" ] || return 1
		mkdir -p "$dir"/{bin,etc,tmp,root,var/log}
		cp "$bb" "$dir/bin/busybox"
		for a in $("$bb" --list); do
			[ "$a" = busybox ] || ln -sf busybox "$dir/bin/$a"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/etc/passwd"
		printf 'root:x:0:\n' >"$dir/etc/group"
		printf 'strata test rootfs\n' >"$dir/etc/motd"
		chmod 1777 "$dir/tmp"
		tar -C "$dir" --numeric-owner -czf "$TOOLS_TMP/busybox.tar.gz" .
	fi
	echo "$TOOLS_TMP/busybox.tar.gz"
}

# Can $STRATAFS mount here?  Probed once, with a real mount.
have_stratafs() {
	local p=$TOOLS_TMP/probe
	if [ ! -e "$p.done" ]; then
		mkdir -p "$p"/{l,u,w,m}
		echo x >"$p/l/x"
		if [ -n "$STRATAFS" ] && [ -x "$STRATAFS" ] && [ -e /dev/fuse ] &&
			command -v fusermount3 >/dev/null &&
			timeout 10 "$STRATAFS" -o "lowerdir=$p/l,upperdir=$p/u,workdir=$p/w" "$p/m" \
				>/dev/null 2>&1 && mountpoint -q "$p/m" && [ "$(cat "$p/m/x")" = x ]; then
			echo yes >"$p.ok"
		fi
		fusermount3 -u "$p/m" 2>/dev/null || true
		touch "$p.done"
	fi
	[ -e "$p.ok" ]
}

need_mount() {
	have_stratafs || skip "STRATAFS (${STRATAFS:-unset}) cannot mount here"
}

run_tests() {
	local n=0 name rc
	for name in $(grep -o '^test_[A-Za-z0-9_]*' "$0"); do
		n=$((n + 1))
		T=$TOOLS_TMP/$name
		ROOT=$T/root
		mkdir -p "$T"
		(
			set -eE
			cd "$T"
			"$name"
		) >"$T/log" 2>&1
		rc=$?
		unmount_under "$T"
		if [ $rc = 0 ]; then
			echo "ok $n - $name"
		elif [ $rc = 77 ]; then
			echo "ok $n - $name # SKIP $(cat "$T/.skip" 2>/dev/null)"
		else
			echo "not ok $n - $name"
			tail -n 30 "$T/log" | sed 's/^/# /'
		fi
	done
	echo "1..$n"
}
