#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-day.sh - a user's day with `strata`: add a busybox root file system,
# tag it, mount it through stratafs, change files, commit, list, remove with
# Docker's reference rules, prune, check; plus the everyday error paths.
. "$(dirname "$0")/tools-lib.sh"

ID_RE='^xxh128:[0-9a-f]{32}$'

add_busybox() {
	local tgz
	tgz=$(busybox_rootfs) || skip "no busybox binary"
	st add "$tgz" --tag busybox:1.35 -m "busybox rootfs"
}

layer_count() { st layers -q | wc -l; }

test_add_rootfs_tarball_prints_image_id() {
	local id out
	id=$(add_busybox)
	assert_match "$id" "$ID_RE" "add prints a long id"
	out=$(st images)
	assert_contains "$out" "^REPOSITORY *TAG *IMAGE ID *CREATED *SIZE"
	assert_contains "$out" "^busybox *1.35 *${id:7:12} "
	assert_eq "$(layer_count)" 1
	# the rootfs is really there
	out=$(st inspect busybox:1.35)
	assert_contains "$out" '"RepoTags": \["busybox:1.35"\]'
	local dir
	dir=$(st inspect busybox:1.35 | sed -n 's/.*"LowerDir": "\(.*\)".*/\1/p')
	[ -x "$dir/bin/busybox" ] || fail "no busybox in layer dir $dir"
	[ -L "$dir/bin/sh" ] || fail "no sh symlink"
}

test_same_content_is_stored_once() {
	local a b c
	a=$(add_busybox)
	b=$(st add "$TOOLS_TMP/busybox.tar.gz")
	c=$(st add "$TOOLS_TMP/rootfs" --tag fromdir)
	assert_eq "$a" "$b" "tar twice"
	assert_eq "$a" "$c" "tar and directory"
	assert_eq "$(layer_count)" 1
	# a zstd archive of the same tree too
	tar -C "$TOOLS_TMP/rootfs" --numeric-owner --zstd -cf "$T/rootfs.tar.zst" .
	assert_eq "$(st add "$T/rootfs.tar.zst")" "$a" "tar.zst"
}

test_tag_history_and_quiet_listing() {
	local id out
	id=$(add_busybox)
	st tag busybox:1.35 mybox
	out=$(st images)
	assert_contains "$out" "^mybox *latest *${id:7:12}"
	assert_eq "$(st images -q | sort -u | wc -l)" 1
	out=$(st images --no-trunc -q)
	assert_contains "$out" "${id}"
	out=$(st history mybox)
	assert_contains "$out" "busybox rootfs"
	out=$(st images --format json)
	assert_contains "$out" '"Repository":"mybox"'
}

test_mount_change_commit_one_more_layer() {
	need_mount
	local mnt=$T/mnt cid new out
	add_busybox >/dev/null
	mkdir -p "$mnt"
	cid=$(st mount busybox:1.35 "$mnt" --name day)
	assert_match "$cid" "$ID_RE"
	mountpoint -q "$mnt" || fail "not mounted"
	assert_contains "$(st ps)" "Mounted *$mnt *day"
	echo "hello from the container" >"$mnt/etc/motd"
	mkdir "$mnt/data" && echo 42 >"$mnt/data/answer"
	rm "$mnt/bin/vi"
	[ ! -e "$mnt/bin/vi" ] || fail "vi still visible"
	# and on the upper layer's disk
	local upper
	upper=$(st inspect --type container day | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	[ -f "$upper/data/answer" ] || fail "no data/answer in upper"
	[ -c "$upper/bin/vi" ] || [ -e "$upper/bin/.wh.vi" ] || fail "no whiteout for vi in upper"
	out=$(st diff day)
	assert_contains "$out" "^C /etc/motd"
	assert_contains "$out" "^A /data/answer"
	assert_contains "$out" "^D /bin/vi"
	if command -v chroot >/dev/null; then
		assert_eq "$(chroot "$mnt" /bin/cat /data/answer)" 42 "chroot into the mount"
	fi
	st umount "$mnt"
	! mountpoint -q "$mnt" || fail "still mounted"
	new=$(st commit -m "day one" day app:1)
	assert_match "$new" "$ID_RE"
	assert_eq "$(st history -q app:1 | wc -l)" 2 "one more layer"
	assert_eq "$(layer_count)" 2
	assert_contains "$(st images)" "^app *1 *${new:7:12}"
	# the committed image shows the changes
	mkdir -p "$T/m2"
	st mount app:1 "$T/m2" --name check >/dev/null
	assert_eq "$(cat "$T/m2/data/answer")" 42
	assert_eq "$(cat "$T/m2/etc/motd")" "hello from the container"
	[ ! -e "$T/m2/bin/vi" ] || fail "whiteout lost in commit"
	st umount check
}

test_diff_lists_what_a_recreated_directory_hides() {
	need_mount
	local mnt=$T/mnt out lower n_lower
	add_busybox >/dev/null
	mkdir -p "$mnt"
	st mount busybox:1.35 "$mnt" --name redo >/dev/null
	lower=$(st inspect busybox:1.35 | sed -n 's/.*"LowerDir": "\(.*\)".*/\1/p')
	n_lower=$(ls -A "$lower/bin" | wc -l)
	# the directory goes and comes back: the new one is opaque over the old
	rm -rf "$mnt/bin"
	mkdir "$mnt/bin"
	echo new >"$mnt/bin/new"
	ln -s busybox "$mnt/bin/sh"
	st umount "$mnt"
	out=$(st diff redo)
	assert_contains "$out" "^C /bin$"
	assert_contains "$out" "^A /bin/new$"
	assert_contains "$out" "^C /bin/sh$"
	assert_contains "$out" "^D /bin/busybox$"
	assert_contains "$out" "^D /bin/ls$"
	assert_eq "$(grep -c '^D /bin/' <<<"$out")" "$((n_lower - 1))" "every hidden name once, sh not"
	assert_eq "$(grep -c '^D /bin/sh$' <<<"$out")" 0 "sh is there again"
}

test_commit_of_mounted_container_keeps_it_running() {
	need_mount
	local mnt=$T/mnt new
	add_busybox >/dev/null
	mkdir -p "$mnt"
	st mount busybox:1.35 "$mnt" --name live >/dev/null
	dd if=/dev/urandom of="$mnt/blob" bs=64k count=16 2>/dev/null
	new=$(st commit live live:snap)
	mountpoint -q "$mnt" || fail "commit unmounted the container"
	echo more >"$mnt/after"
	assert_contains "$(st diff live)" "^A /blob"
	assert_contains "$(st diff live)" "^A /after"
	local layer
	layer=$(st inspect live:snap | sed -n 's/.*"LowerDir": "\([^:]*\):.*/\1/p')
	cmp "$layer/blob" "$mnt/blob" || fail "snapshot differs"
	[ ! -e "$layer/after" ] || fail "snapshot saw a later write"
	st umount live
}

test_commit_of_unmounted_container_is_a_rename() {
	local cid upper ino new layer
	add_busybox >/dev/null
	cid=$(st create --name box busybox:1.35)
	upper=$(st inspect --type container box | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	dd if=/dev/zero of="$upper/big" bs=1M count=8 2>/dev/null
	ino=$(stat -c %i "$upper/big")
	new=$(st commit box)
	# LowerDir lists the image's layers top first
	layer=$(st inspect "$new" | sed -n 's/.*"LowerDir": "\([^:]*\):.*/\1/p')
	assert_eq "$(stat -c %i "$layer/big")" "$ino" "same inode: moved, not copied"
	# the container continues on the new image with an empty upper
	assert_contains "$(st ps -a)" "${new:7:12}"
	[ -z "$(ls -A "$upper")" ] || fail "upper not empty after commit"
}

test_rmi_refused_while_a_container_exists() {
	local id
	id=$(add_busybox)
	st create --name user busybox:1.35 >/dev/null
	expect_status 1 st rmi "${id:7:12}"
	assert_contains "$ERR" "Error: conflict: unable to delete ${id:7:12} (must be forced) - image is being used by stopped container"
	assert_contains "$(st images)" "busybox"
	if have_stratafs; then
		mkdir -p "$T/mnt"
		st mount user "$T/mnt" >/dev/null
		expect_status 1 st rmi "${id:7:12}"
		assert_contains "$ERR" "image is being used by running container"
		st umount user
	fi
}

test_forced_removal_then_prune_frees_layers() {
	local id out
	id=$(add_busybox)
	st create --name user busybox:1.35 >/dev/null
	out=$(st rmi -f busybox:1.35)
	assert_contains "$out" "Untagged: busybox:1.35"
	assert_eq "$(layer_count)" 1 "layers kept for the container"
	expect_status 1 st rm nosuch
	st rm user >/dev/null
	out=$(st prune)
	assert_contains "$out" "Deleted: ${id}"
	assert_contains "$out" "Total reclaimed space"
	assert_eq "$(layer_count)" 0
	assert_eq "$(ls "$ROOT/layers" | wc -l)" 0
	assert_contains "$(st check)" "store is consistent"
}

test_rmi_of_all_images_works() {
	local base app out
	base=$(add_busybox)
	mkdir -p "$T/extra/etc" && echo x >"$T/extra/etc/extra"
	app=$(st add "$T/extra" --parent busybox:1.35 --tag app)
	st tag app app:v2
	# shellcheck disable=SC2046
	out=$(st rmi -f $(st images -q))
	assert_contains "$out" "Untagged: app:latest"
	assert_contains "$out" "Deleted: $app"
	assert_contains "$out" "Deleted: $base"
	assert_eq "$(st images -q -a | wc -l)" 0
	assert_eq "$(layer_count)" 0
}

test_rmi_parent_refused_while_child_exists() {
	local base
	base=$(add_busybox)
	mkdir -p "$T/extra" && echo x >"$T/extra/x"
	st add "$T/extra" --parent "$base" --tag child >/dev/null
	expect_status 1 st rmi -f "$base"
	assert_contains "$ERR" "image has dependent child images"
	# by name: only untagged
	expect_status 0 st rmi busybox:1.35
	assert_eq "$OUT" "Untagged: busybox:1.35"
	assert_eq "$(layer_count)" 2
}

test_hostile_archive_refused() {
	local out
	mkdir -p "$T/h"
	echo pwned >"$T/h/x"
	tar -C "$T/h" -cf "$T/evil.tar" --transform 's,^x$,../../escaped,' x
	expect_status 1 st add "$T/evil.tar"
	assert_contains "$ERR" "^strata: cannot add"
	assert_contains "$ERR" "climbs out"
	[ ! -e "$ROOT/../escaped" ] && [ ! -e "$T/escaped" ] || fail "file written outside"
	printf 'not a tar' | gzip >"$T/bad.tar.gz"
	head -c 20 "$T/bad.tar.gz" >"$T/trunc.tar.gz"
	expect_status 1 st add "$T/trunc.tar.gz"
	assert_eq "$(layer_count)" 0
	assert_eq "$(ls "$ROOT/tmp" | wc -l)" 0 "tmp cleaned"
}

test_usage_errors_exit_2() {
	expect_status 2 "$STRATA" --root "$ROOT"
	expect_status 2 st images --bogus
	assert_contains "$ERR" "^strata: unknown option"
	expect_status 2 st frobnicate
	expect_status 2 st add
	expect_status 0 st add --help
	assert_contains "$OUT" "Usage: strata add"
	expect_status 1 st rmi nosuch:tag
	assert_contains "$ERR" "No such image"
	[ -z "$OUT" ] || fail "stdout on error: $OUT"
}

test_verify_reports_changed_file() {
	local id dir
	id=$(add_busybox)
	expect_status 0 st verify
	dir=$(st inspect busybox:1.35 | sed -n 's/.*"LowerDir": "\(.*\)".*/\1/p')
	echo tampered >>"$dir/etc/passwd"
	expect_status 1 st verify busybox:1.35
	assert_contains "$OUT" "changed /etc/passwd"
}

test_check_repairs_crash_leftovers() {
	add_busybox >/dev/null
	mkdir -p "$ROOT/tmp/4242-dead/x" "$ROOT/layers/00112233445566778899aabbccddeeff"
	expect_status 1 st check -n
	assert_contains "$OUT" "leftover tmp/4242-dead"
	assert_contains "$OUT" "unrecorded layers/00112233445566778899aabbccddeeff"
	expect_status 0 st check
	assert_contains "$OUT" "removed"
	expect_status 0 st check
	assert_eq "$OUT" "store is consistent"
	expect_status 0 st verify
}

test_stale_mount_record_cleared_by_check() {
	need_mount
	add_busybox >/dev/null
	mkdir -p "$T/mnt"
	st mount busybox:1.35 "$T/mnt" --name gone >/dev/null
	# the mount disappears behind strata's back (daemon crash, reboot)
	fusermount3 -u "$T/mnt"
	assert_not_contains "$(st ps)" "gone"
	assert_contains "$(st ps -a)" "Created .*gone"
	expect_status 1 st check -n
	assert_contains "$OUT" "found stale mount record"
	expect_status 0 st check
	assert_contains "$OUT" "cleared stale mount record"
	# and it mounts again
	st mount gone "$T/mnt" >/dev/null
	mountpoint -q "$T/mnt" || fail "remount failed"
	expect_status 1 st rm gone
	assert_contains "$ERR" "is mounted"
	st rm -f gone >/dev/null
	! mountpoint -q "$T/mnt" || fail "rm -f left it mounted"
}

test_search_df_and_layers() {
	local out
	add_busybox >/dev/null
	out=$(st search busy)
	assert_contains "$out" "busybox:1.35"
	st tag busybox:1.35 other/tiny:stable
	out=$(st search tiny)
	assert_contains "$out" "busybox:1.35,other/tiny:stable" "every name of the image found"
	out=$(st search --file /bin/busybox)
	assert_contains "$out" "/bin/busybox"
	out=$(st search --file /no/such/file)
	assert_eq "$(wc -l <<<"$out")" 1 "header only"
	out=$(st df)
	assert_contains "$out" "^Images *1 *0"
	out=$(st layers)
	assert_contains "$out" "^LAYER ID"
}

run_tests
