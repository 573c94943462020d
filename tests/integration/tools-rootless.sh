#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-rootless.sh - a day with `strata` as an ordinary user (no
# capabilities; /dev/fuse 0666 and a setuid fusermount3, as distributions
# ship them), on the default store under $XDG_DATA_HOME/strata: add, images,
# mount, write, umount, commit, rmi refused, rm, prune, check; and what the
# user's layers look like to root afterwards.
. "$(dirname "$0")/tools-lib.sh"
. "$(dirname "$0")/tools-rootless-lib.sh"

ID_RE='^xxh128:[0-9a-f]{32}$'

# Run "$@" as the user; require status $1; output in $OUT/$ERR.
uexpect() {
	local want=$1
	shift
	set +e
	as_user "$@" >"$T/.out" 2>"$T/.err"
	local rc=$?
	set -e
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
	[ "$rc" = "$want" ] || fail "'$*' exited $rc as $TEST_USER, wanted $want; stderr: $ERR"
}

test_store_defaults_to_xdg_data_home() {
	need_user
	local id
	id=$(ust add "$(user_bb_rootfs)" --tag bb)
	assert_match "$id" "$ID_RE"
	[ -f "$UXDG/strata/strata.db" ] || fail "no store under \$XDG_DATA_HOME/strata"
	[ -z "$(find "$UXDG/strata" ! -user "$(as_user id -un)" | head -1)" ] ||
		fail "files not owned by the user: $(find "$UXDG/strata" ! -user "$(as_user id -un)")"
	# without XDG_DATA_HOME: ~/.local/share/strata
	UXDG=
	ust add "$(user_bb_rootfs)" --tag bb2 >/dev/null
	[ -f "$UHOME/.local/share/strata/strata.db" ] || fail "no store under ~/.local/share/strata"
}

test_day_in_the_life() {
	need_user
	local mnt=$UHOME/mnt base new out up
	base=$(ust add "$(user_bb_rootfs)" --tag busybox:1 -m "base")
	out=$(ust images)
	assert_contains "$out" "^busybox *1 *${base:7:12} "
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name day busybox:1 "$mnt"
	is_mounted "$mnt" || fail "not mounted"
	grep -q " ${mnt} .* fuse" /proc/self/mountinfo || fail "not a FUSE mount"
	assert_contains "$(ust ps)" "Mounted *$mnt *day"
	as_user sh -c "echo hello >'$mnt/etc/motd' && mkdir '$mnt/data' && echo 42 >'$mnt/data/answer' &&
		rm '$mnt/bin/vi' && chmod 700 '$mnt/data' && ln -s answer '$mnt/data/link'"
	as_user test ! -e "$mnt/bin/vi" || fail "vi still visible"
	up=$(ust inspect --type container day | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	[ -f "$up/data/answer" ] || fail "no data/answer in the upper dir"
	out=$(ust diff day)
	assert_contains "$out" "^C /etc/motd$"
	assert_contains "$out" "^A /data/answer$"
	assert_contains "$out" "^D /bin/vi$"
	# umount goes through fusermount3 -u, as the user
	uexpect 0 "$STRATA" -q umount "$mnt"
	! is_mounted "$mnt" || fail "still mounted"
	new=$(ust commit -m "day" day busybox:2)
	assert_match "$new" "$ID_RE"
	assert_eq "$(ust history busybox:2 | tail -n +2 | wc -l)" 2 "one layer more"
	# rmi refused while the container exists
	uexpect 1 "$STRATA" -q rmi "${new:7:12}"
	assert_contains "$ERR" "conflict: unable to delete ${new:7:12} (must be forced) - image is being used by stopped container"
	# mounted: "running container"
	uexpect 0 "$STRATA" -q mount day "$mnt"
	assert_eq "$(as_user cat "$mnt/etc/motd")" hello "the container continues on the new image"
	uexpect 1 "$STRATA" -q rmi "${new:7:12}"
	assert_contains "$ERR" "running container"
	uexpect 1 "$STRATA" -q rm day
	uexpect 0 "$STRATA" -q rm -f day
	! is_mounted "$mnt" || fail "rm -f left it mounted"
	uexpect 0 "$STRATA" -q rmi busybox:2
	assert_contains "$OUT" "Untagged: busybox:2"
	assert_contains "$OUT" "Deleted: $new"
	uexpect 0 "$STRATA" -q prune
	uexpect 0 "$STRATA" -q check
	assert_contains "$OUT" "consistent"
	uexpect 0 "$STRATA" -q verify
	uexpect 0 "$STRATA" -q df
	uexpect 0 "$STRATA" -q tag busybox:1 other:x
	uexpect 0 "$STRATA" -q search other
	assert_contains "$OUT" "^${base:7:12} "
	uexpect 0 "$STRATA" -q search --file /bin/busybox
	assert_contains "$OUT" "${base:7:12}"
	uexpect 0 "$STRATA" -q create --name later other:x
	uexpect 0 "$STRATA" -q layers
	uexpect 0 "$STRATA" -q inspect other:x
	uexpect 0 "$STRATA" -q rm later
	uexpect 0 "$STRATA" -q rmi other:x
	uexpect 0 "$STRATA" -q rmi busybox:1
	assert_eq "$(ust images -q | wc -l)" 0
	assert_eq "$(ust layers -q | wc -l)" 0
}

test_tar_add_and_export_round_trip() {
	need_user
	local a b
	as_user tar -C "$(user_bb_rootfs)" -czf "$UHOME/bb.tar.gz" .
	a=$(ust add "$UHOME/bb.tar.gz" --tag fromtar)
	b=$(ust add "$(user_bb_rootfs)" --tag fromdir)
	assert_eq "$a" "$b" "same content, same id (tar and directory, rootless)"
	uexpect 0 "$STRATA" -q export -o "$UHOME/out.tar" fromtar
	[ -s "$UHOME/out.tar" ] || fail "empty export"
}

test_whiteouts_of_a_rootless_commit_read_under_root() {
	need_user
	[ "$(id -u)" = 0 ] || skip "needs root for the second half"
	local mnt=$UHOME/mnt rmnt=$T/rootmnt store
	ust add "$(user_bb_rootfs)" --tag bb >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name w bb "$mnt"
	as_user sh -c "rm -r '$mnt/var' '$mnt/etc/motd' && mkdir '$mnt/home/new' && rm -r '$mnt/bin' &&
		mkdir '$mnt/bin' && echo only >'$mnt/bin/only'"
	uexpect 0 "$STRATA" -q umount "$mnt"
	ust commit w bb2 >/dev/null
	ust rm w >/dev/null
	# root mounts the user's store: the deletions and the opaque /bin hold
	store=$UXDG/strata
	mkdir "$rmnt"
	"$STRATA" --root "$store" -q mount --name asroot bb2 "$rmnt" >/dev/null
	[ ! -e "$rmnt/var" ] && [ ! -e "$rmnt/etc/motd" ] || fail "whiteouts not honoured under root"
	[ -d "$rmnt/home/new" ] || fail "no /home/new"
	assert_eq "$(ls "$rmnt/bin")" only "opaque /bin under root"
	"$STRATA" --root "$store" -q umount "$rmnt"
	"$STRATA" --root "$store" -q rm asroot >/dev/null
	# and back to the user: the store is still theirs
	[ -z "$(find "$store" ! -user "$(as_user id -un)" | head -1)" ] ||
		fail "root left files the user does not own: $(find "$store" ! -user "$(as_user id -un)")"
	uexpect 0 "$STRATA" -q check
}

test_errors_as_user() {
	need_user
	uexpect 1 "$STRATA" -q mount no-such-image "$UHOME"
	assert_contains "$ERR" "^strata: "
	uexpect 1 "$STRATA" -q --root /var/lib/strata-nope images
	uexpect 2 "$STRATA" -q mount
}

run_tests
