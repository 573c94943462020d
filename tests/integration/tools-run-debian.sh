#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-run-debian.sh - a sandbox installs packages: in a container of a
# Debian bookworm minbase root file system, `dpkg -i` of a small local .deb,
# `useradd`, `rm -rf /usr/share/doc`, as root and as an unprivileged user;
# `strata diff` shows exactly those changes, `strata commit` captures them and
# a second `strata run` on the committed image sees them.
#
# The minbase tarball is made once with mmdebstrap (needs the Debian mirror)
# and cached as $STRATA_MINBASE (default /var/tmp/strata-minbase/
# bookworm-minbase.tar, /dev entries left out); the tests skip, saying why,
# when it cannot be made.
. "$(dirname "$0")/tools-lib.sh"
. "$(dirname "$0")/tools-rootless-lib.sh"

MINBASE=${STRATA_MINBASE:-/var/tmp/strata-minbase/bookworm-minbase.tar}
export TMPDIR

minbase_tar() {
	local dir log
	[ -s "$MINBASE" ] && return 0
	command -v mmdebstrap >/dev/null || skip "mmdebstrap not installed (apt-get install mmdebstrap)"
	[ "$(id -u)" = 0 ] || skip "no cached $MINBASE and building it needs root"
	mkdir -p "$(dirname "$MINBASE")"
	dir=$(mktemp -d "$MINBASE.XXXXXX")
	log=$TOOLS_TMP/mmdebstrap.log
	if ! timeout 600 mmdebstrap --variant=minbase bookworm "$dir/root" >"$log" 2>&1; then
		rm -rf "$dir"
		skip "mmdebstrap failed (mirror unreachable?): $(tail -n 1 "$log")"
	fi
	tar --numeric-owner --xattrs -C "$dir/root" --exclude='./dev/*' -cf "$dir/t.tar" . &&
		mv "$dir/t.tar" "$MINBASE"
	rm -rf "$dir"
	[ -s "$MINBASE" ] || skip "could not write $MINBASE"
}

# A tiny package: /usr/bin/strata-hello and its copyright file.
make_deb() {
	local d=$T/debs/src
	mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/usr/share/doc/strata-hello"
	printf 'Package: strata-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: Strata tests <tests@example.org>\nDescription: says hello\n' \
		>"$d/DEBIAN/control"
	printf '#!/bin/sh\necho hello from a package\n' >"$d/usr/bin/strata-hello"
	chmod 755 "$d/usr/bin/strata-hello"
	echo "public domain" >"$d/usr/share/doc/strata-hello/copyright"
	dpkg-deb --root-owner-group --build "$d" "$T/debs/strata-hello_1.0_all.deb" >/dev/null
	rm -rf "$d"
	chmod -R a+rX "$T/debs"
}

INSTALL='set -e
dpkg -i /tmp/debs/strata-hello_1.0_all.deb >/dev/null
useradd -u 1234 alice
rm -rf /usr/share/doc
strata-hello'

# The image's files of other owners (group shadow is 42 in Debian, mail 8),
# /etc/shadow rewritten by useradd: their owners and modes, as root and as a
# user (with subordinate ids: in a user namespace over them).
CHECK='strata-hello; id alice; ls /usr/share/doc 2>/dev/null || echo nodoc
dpkg -s strata-hello | grep ^Status
stat -c "%n %u:%g %a" /etc/shadow /usr/bin/chage /var/mail /usr/bin/strata-hello'
CHECKED='hello from a package
uid=1234(alice) gid=1234(alice) groups=1234(alice)
nodoc
Status: install ok installed
/etc/shadow 0:42 640
/usr/bin/chage 0:42 2755
/var/mail 0:8 2775
/usr/bin/strata-hello 0:0 755'

# What the three commands may change, and nothing else.
ALLOWED='^[ACD] (/etc|/usr|/usr/bin|/usr/share|/var|/var/lib|/var/log|/var/cache|'
ALLOWED+='/etc/\.pwd\.lock|/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?|'
ALLOWED+='/usr/bin/strata-hello|/usr/share/doc|/var/lib/dpkg(/.*)?|/var/log/(dpkg\.log|faillog|lastlog)|'
ALLOWED+='/var/cache/debconf(/.*)?|/var/mail(/.*)?)$'

check_diff() {
	local out=$1 line
	for line in "A /usr/bin/strata-hello" "D /usr/share/doc" "C /etc/passwd" "C /etc/group" \
		"C /etc/shadow" "C /etc/gshadow" "A /var/lib/dpkg/info/strata-hello.list" \
		"C /var/lib/dpkg/status"; do
		grep -qx -- "$line" <<<"$out" || fail "'$line' missing from the diff: $out"
	done
	while read -r line; do
		[[ $line =~ $ALLOWED ]] || fail "unexpected change '$line' in: $out"
	done <<<"$out"
}

test_dpkg_useradd_rm_as_root() {
	[ "$(id -u)" = 0 ] || skip "this one runs as root"
	need_mount
	need_bwrap
	minbase_tar
	command -v dpkg-deb >/dev/null || skip "no dpkg-deb"
	TMPDIR=$T/tmp
	mkdir -p "$TMPDIR"
	make_deb
	st add "$MINBASE" --tag deb:base >/dev/null
	expect_status 0 st run --name inst -v "$T/debs:/tmp/debs:ro" deb:base sh -c "$INSTALL"
	assert_eq "$OUT" "hello from a package"
	check_diff "$(st diff inst)"
	st commit -m "hello, alice, no docs" inst deb:hello >/dev/null
	assert_eq "$(st diff inst)" "" "committed: nothing left in the container"
	assert_eq "$(st history deb:hello | tail -n +2 | wc -l)" 2
	st rm inst >/dev/null
	expect_status 0 st run --rm deb:hello sh -c "$CHECK"
	assert_eq "$OUT" "$CHECKED"
	expect_status 0 st run --rm deb:base sh -c 'ls -d /usr/share/doc; id alice 2>/dev/null || echo noalice'
	assert_eq "$OUT" $'/usr/share/doc\nnoalice'
	assert_no_mount_under "$T"
	st check >/dev/null
}

test_dpkg_useradd_rm_rootless() {
	need_user
	need_user_bwrap
	minbase_tar
	command -v dpkg-deb >/dev/null || skip "no dpkg-deb"
	[ -r "$MINBASE" ] || skip "$MINBASE not readable"
	local out
	make_deb
	ust add "$MINBASE" --tag deb:base >/dev/null
	out=$(ust run --name inst -v "$T/debs:/tmp/debs:ro" deb:base sh -c "$INSTALL" 2>"$T/err") ||
		fail "install failed: $(cat "$T/err")"
	assert_eq "$out" "hello from a package"
	check_diff "$(ust diff inst)"
	ust commit inst deb:hello >/dev/null
	ust rm inst >/dev/null
	out=$(ust run --rm deb:hello sh -c "$CHECK" 2>/dev/null)
	if has_subids; then
		assert_eq "$out" "$CHECKED"
	else # every file shows as root's
		assert_eq "$(head -n 4 <<<"$out")" "$(head -n 4 <<<"$CHECKED")"
	fi
	assert_no_mount_under "$UHOME"
	ust check >/dev/null
}

run_tests
