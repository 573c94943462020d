#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# rename(2) and renameat2(2) through the mount, including directories that
# come from lower layers (never EXDEV), checked again after a remount.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test_rename_lower_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" content-a
        sfs_mount "$L1"
        assert_ok rename "$MNT/a" "$MNT/b"
        assert_enoent "$MNT/a"
        assert_file_content "$MNT/b" content-a
        assert_upper_content "$UPPER/b" content-a
        assert_whiteout_on_disk "$UPPER/a"
        sfs_remount
        assert_enoent "$MNT/a"
        assert_file_content "$MNT/b" content-a
}

test_rename_upper_file() {
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        echo x >"$MNT/a"
        assert_ok rename "$MNT/a" "$MNT/b"
        assert_enoent "$MNT/a" "$UPPER/a"
        assert_no_whiteout_on_disk "$UPPER/a"
        assert_upper_content "$UPPER/b" x
}

test_rename_lower_file_into_lower_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/src/f" f
        mk_file "$L2/dst/sub/other" o
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/src/f" "$MNT/dst/sub/f"
        assert_file_content "$MNT/dst/sub/f" f
        assert_file_content "$MNT/dst/sub/other" o
        assert_enoent "$MNT/src/f"
        assert_upper_content "$UPPER/dst/sub/f" f
        assert_whiteout_on_disk "$UPPER/src/f"
}

test_rename_over_existing_lower_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/old" old
        mk_file "$L1/target" target
        sfs_mount "$L1"
        assert_ok rename "$MNT/old" "$MNT/target"
        assert_file_content "$MNT/target" old
        assert_enoent "$MNT/old"
        assert_upper_content "$UPPER/target" old
        assert_whiteout_on_disk "$UPPER/old"
        sfs_remount
        assert_file_content "$MNT/target" old
        assert_listing "$MNT" "target"
}

test_rename_noreplace_existing_is_eexist() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" a
        mk_file "$L1/b" b
        sfs_mount "$L1"
        assert_errno EEXIST rename_noreplace "$MNT/a" "$MNT/b"
        assert_file_content "$MNT/a" a
        assert_file_content "$MNT/b" b
        assert_enoent "$UPPER/b"
}

test_rename_noreplace_over_whiteout_works() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" a
        mk_file "$L1/b" b
        sfs_mount "$L1"
        rm "$MNT/b"
        assert_ok rename_noreplace "$MNT/a" "$MNT/b"
        assert_file_content "$MNT/b" a
        assert_enoent "$MNT/a"
        assert_upper_content "$UPPER/b" a
}

test_rename_exchange_lower_and_upper() {
        L1=$(mk_layer l1)
        mk_file "$L1/lower" from-lower
        sfs_mount "$L1"
        echo from-upper >"$MNT/upper"
        assert_ok rename_exchange "$MNT/lower" "$MNT/upper"
        assert_file_content "$MNT/lower" from-upper
        assert_file_content "$MNT/upper" from-lower
        assert_upper_content "$UPPER/lower" from-upper
        assert_upper_content "$UPPER/upper" from-lower
        sfs_remount
        assert_file_content "$MNT/lower" from-upper
        assert_file_content "$MNT/upper" from-lower
}

test_rename_between_two_names_of_one_file_does_nothing() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" shared
        mk_hardlink "$L1/a" "$L1/b"
        sfs_mount "$L1"
        echo x >"$MNT/u1"
        ln "$MNT/u1" "$MNT/u2"
        # POSIX: "different directory entries for the same existing file":
        # success and no other action, for lower and for upper names
        assert_ok rename "$MNT/a" "$MNT/b"
        assert_ok rename "$MNT/u1" "$MNT/u2"
        assert_ok rename_exchange "$MNT/a" "$MNT/b"
        assert_file_content "$MNT/a" shared
        assert_file_content "$MNT/b" shared
        assert_eq "$(stat -c %h "$MNT/a") $(stat -c %h "$MNT/u1")" "2 2" "link counts"
        assert_enoent "$UPPER/a" "$UPPER/b"
        assert_upper_content "$UPPER/u1" x
        sfs_remount
        assert_listing "$MNT" "a b u1 u2"
}

test_rename_exchange_file_and_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" file
        mk_file "$L1/d/inner" inner
        sfs_mount "$L1"
        assert_ok rename_exchange "$MNT/f" "$MNT/d"
        assert_file_content "$MNT/d" file
        assert_file_content "$MNT/f/inner" inner
        assert_type "$UPPER/d" f
        assert_type "$UPPER/f" d
}

test_rename_exchange_missing_is_enoent() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" a
        sfs_mount "$L1"
        assert_errno ENOENT rename_exchange "$MNT/a" "$MNT/nothing"
        assert_file_content "$MNT/a" a
}

_mk_dir_in_three_layers() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/d/from-l2" l2
        mk_file "$L2/d/sub/deep-l2" deep2
        mk_file "$L2/d/hidden" hidden-by-whiteout
        mk_file "$L1/d/from-l1" l1
        mk_file "$L1/d/sub/deep-l1" deep1
        mk_symlink "$L1/d/link" from-l1
        mk_whiteout "$L1/d/hidden"
        mk_file "$UPPER/d/from-upper" up
}

_assert_renamed_tree() { # DIR
        assert_listing "$1" "from-l1 from-l2 from-upper link sub"
        assert_listing "$1/sub" "deep-l1 deep-l2"
        assert_file_content "$1/from-l2" l2
        assert_file_content "$1/from-l1" l1
        assert_file_content "$1/from-upper" up
        assert_file_content "$1/sub/deep-l2" deep2
        assert_file_content "$1/sub/deep-l1" deep1
        assert_file_content "$1/link" l1
}

test_rename_lower_dir_never_exdev() {
        _mk_dir_in_three_layers
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d" "$MNT/e"
        assert_enoent "$MNT/d"
        _assert_renamed_tree "$MNT/e"
        assert_type "$UPPER/e" d
        assert_whiteout_on_disk "$UPPER/d"
        sfs_remount
        assert_enoent "$MNT/d"
        _assert_renamed_tree "$MNT/e"
}

test_rename_lower_dir_into_other_dir() {
        _mk_dir_in_three_layers
        mk_dir "$L2/target/inner"
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d" "$MNT/target/inner/moved"
        _assert_renamed_tree "$MNT/target/inner/moved"
        assert_enoent "$MNT/d"
        assert_type "$UPPER/target/inner/moved" d
        sfs_remount
        _assert_renamed_tree "$MNT/target/inner/moved"
}

test_rename_lower_subdir_of_lower_dir() {
        _mk_dir_in_three_layers
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d/sub" "$MNT/sub-moved"
        assert_listing "$MNT/sub-moved" "deep-l1 deep-l2"
        assert_enoent "$MNT/d/sub"
        assert_whiteout_on_disk "$UPPER/d/sub"
        sfs_remount
        assert_listing "$MNT/sub-moved" "deep-l1 deep-l2"
        assert_listing "$MNT/d" "from-l1 from-l2 from-upper link"
}

test_rename_lower_dir_then_recreate_old_name() {
        _mk_dir_in_three_layers
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d" "$MNT/e"
        mkdir "$MNT/d"
        assert_listing "$MNT/d" ""
        assert_opaque_on_disk "$UPPER/d"
        sfs_remount
        assert_listing "$MNT/d" ""
        _assert_renamed_tree "$MNT/e"
}

test_rename_lower_dir_twice() {
        _mk_dir_in_three_layers
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d" "$MNT/e"
        assert_ok rename "$MNT/e" "$MNT/f"
        assert_enoent "$MNT/d" "$MNT/e"
        _assert_renamed_tree "$MNT/f"
        sfs_remount
        assert_enoent "$MNT/d" "$MNT/e"
        _assert_renamed_tree "$MNT/f"
}

test_rename_lower_dir_then_modify_inside() {
        _mk_dir_in_three_layers
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/d" "$MNT/e"
        echo changed >"$MNT/e/from-l2"
        rm "$MNT/e/from-l1"
        touch "$MNT/e/sub/new"
        assert_listing "$MNT/e" "from-l2 from-upper link sub"
        assert_file_content "$MNT/e/from-l2" changed
        assert_upper_content "$UPPER/e/from-l2" changed
        sfs_remount
        assert_listing "$MNT/e" "from-l2 from-upper link sub"
        assert_listing "$MNT/e/sub" "deep-l1 deep-l2 new"
        assert_file_content "$MNT/e/from-l2" changed
}

test_rename_readonly_lower_dir() {
        # a 0555 lower dir can be renamed within its parent by its owner (and root)
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/c/ro/f2" f2
        mk_file "$L1/c/ro/f1" f1
        chmod 0555 "$L1/c/ro" "$L2/c/ro"
        sfs_mount "$L1" "$L2"
        assert_ok rename "$MNT/c/ro" "$MNT/c/renamed"
        assert_listing "$MNT/c/renamed" "f1 f2"
        assert_mode "$MNT/c/renamed" 0555
        assert_enoent "$MNT/c/ro"
        assert_type "$UPPER/c/renamed" d
        sfs_remount
        assert_listing "$MNT/c/renamed" "f1 f2"
        assert_enoent "$MNT/c/ro"
}

test_rename_open_file_keeps_fd() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" "lower data"
        sfs_mount "$L1"
        "$PYTHON" - "$MNT" <<'EOF2' || fail "an fd opened before the rename does not follow the file"
import os, sys
m = sys.argv[1]
fd = os.open(m + "/f", os.O_RDWR)
os.rename(m + "/f", m + "/g")
os.pwrite(fd, b"LOWER", 0)
os.close(fd)
got = open(m + "/g", "rb").read()
if got != b"LOWER data":
    print("content of the renamed file: %r, expected b'LOWER data'" % got)
    sys.exit(1)
EOF2
        assert_enoent "$MNT/f"
        assert_file_content "$UPPER/g" "LOWER data"
}

# The redirect of a renamed dir is resolved in the lower layers without
# following symlinks: a lower layer below may hold a symlink where the path's
# parent is (here to a host directory, and to a loop).
test_rmdir_renamed_dir_with_symlink_in_lower_path() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_dir "$L1/c/e"
        mk_dir "$L1/k/e"
        mk_file "$T/outside/e/secret" secret
        mk_symlink "$L2/c" "$T/outside"
        mk_symlink "$L3/k" k/d
        sfs_mount "$L1" "$L2" "$L3"
        assert_ok rename "$MNT/c/e" "$MNT/c/n3"
        assert_ok rename "$MNT/k/e" "$MNT/k/n3"
        assert_listing "$MNT/c/n3" ""
        assert_ok rmdir "$MNT/c/n3"
        assert_ok rmdir "$MNT/k/n3"
        assert_listing "$MNT/c" ""
        assert_listing "$MNT/k" ""
        assert_file_content "$T/outside/e/secret" secret
        sfs_remount
        assert_listing "$MNT/c" ""
}

# A non-dir in a middle layer cuts the merge: what lies below it under the
# same path must not come back through a renamed dir's redirect.
test_rmdir_renamed_dir_with_file_in_middle_layer() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$L1/c/c/x" x
        mk_file "$L2/c" a-file-cuts-the-merge
        mk_file "$L3/c/c/deep" hidden
        sfs_mount "$L1" "$L2" "$L3"
        assert_listing "$MNT/c/c" "x"
        assert_ok rename "$MNT/c/c" "$MNT/c/n1"
        assert_listing "$MNT/c/n1" "x"
        rm "$MNT/c/n1/x"
        assert_listing "$MNT/c/n1" ""
        assert_ok rmdir "$MNT/c/n1"
        assert_listing "$MNT/c" ""
        sfs_remount
        assert_listing "$MNT/c" ""
}

# A lower dir moved twice, into a new dir that is itself moved: its lower
# content must still count (rmdir is ENOTEMPTY) and still be listed.
test_rmdir_of_dir_moved_into_moved_dir_is_enotempty() {
        L1=$(mk_layer l1)
        mk_file "$L1/b/x" x
        mk_symlink "$L1/b/l" ../b
        mk_file "$L1/c/old" old
        sfs_mount "$L1"
        assert_ok rename "$MNT/b" "$MNT/e"
        mkdir "$MNT/a"
        assert_ok rename "$MNT/e" "$MNT/a/d"
        assert_ok rename_exchange "$MNT/a" "$MNT/c"
        assert_listing "$MNT/c/d" "l x"
        assert_errno ENOTEMPTY rmdir "$MNT/c/d"
        assert_file_content "$MNT/c/d/x" x
        assert_listing "$MNT/a" "old"
        sfs_remount
        assert_listing "$MNT/c/d" "l x"
        assert_errno ENOTEMPTY rmdir "$MNT/c/d"
}

# The redirect of a moved dir is walked through the layers as a lookup
# would: an opaque dir on the path hides the layers below it (found by a
# random-operations seed: the moved dir showed hidden files after remount,
# and rmdir of it, listed empty, said ENOTEMPTY).
test_redirect_stops_at_opaque_dir_on_its_path() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_dir "$L1/d/a"
        mk_opaque "$L1/d"
        mk_file "$L2/d/a/hidden" hidden
        mk_file "$L2/d/keep" keep
        sfs_mount "$L1" "$L2"
        assert_listing "$MNT/d" "a"
        assert_ok rename "$MNT/d/a" "$MNT/x"
        assert_listing "$MNT/x" ""
        sfs_remount
        assert_listing "$MNT/x" ""
        assert_enoent "$MNT/x/hidden"
        assert_ok rmdir "$MNT/x"
        assert_file_content "$L2/d/a/hidden" hidden
}

# ... and a whiteout of a directory on its path (either format) cuts it
_t_redirect_whiteout_on_path() { # wh|kernel
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$L1/d/a/top" top
        mk_whiteout "$L2/d" "$1"
        mk_file "$L3/d/a/hidden" hidden
        sfs_mount "$L1" "$L2" "$L3"
        assert_listing "$MNT/d/a" "top"
        assert_ok rename "$MNT/d/a" "$MNT/x"
        sfs_remount
        assert_listing "$MNT/x" "top"
        assert_ok unlink "$MNT/x/top"
        assert_ok rmdir "$MNT/x"
}
test_redirect_stops_at_wh_whiteout_on_its_path() { _t_redirect_whiteout_on_path wh; }
test_redirect_stops_at_char_whiteout_on_its_path() { _t_redirect_whiteout_on_path kernel; }

# A dir on the path that was itself moved in a layer below the top one
# moves the path for the layers under it (kernel overlayfs follows it).
test_redirect_follows_a_moved_dir_on_its_path() {
        need_root
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/n/a/top" top
        mk_xattr "$L1/n" trusted.overlay.redirect /o
        mk_file "$L2/o/a/below" below
        mk_file "$L2/n/a/stale" stale
        sfs_mount "$L1" "$L2"
        assert_listing "$MNT/n/a" "below top"
        assert_ok rename "$MNT/n/a" "$MNT/x"
        sfs_remount
        assert_listing "$MNT/x" "below top"
        assert_errno ENOTEMPTY rmdir "$MNT/x"
}

test_rename_dir_over_empty_lower_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/src/f" f
        mk_dir "$L1/dst"
        sfs_mount "$L1"
        assert_ok rename "$MNT/src" "$MNT/dst"
        assert_listing "$MNT/dst" "f"
        assert_enoent "$MNT/src"
        sfs_remount
        assert_listing "$MNT/dst" "f"
        assert_enoent "$MNT/src"
}

test_rename_dir_over_nonempty_is_enotempty() {
        L1=$(mk_layer l1)
        mk_dir "$L1/src"
        mk_file "$L1/dst/f" f
        sfs_mount "$L1"
        assert_errno ENOTEMPTY rename "$MNT/src" "$MNT/dst"
        assert_listing "$MNT/dst" "f"
}

test_mv_tree_like_apt() {
        # dpkg/apt: unpack into dir.dpkg-new, rename over the old dir's files
        L1=$(mk_layer l1)
        mk_file "$L1/usr/lib/pkg/a" old-a
        mk_file "$L1/usr/lib/pkg/b" old-b
        sfs_mount "$L1"
        mkdir "$MNT/usr/lib/pkg.new"
        echo new-a >"$MNT/usr/lib/pkg.new/a"
        assert_ok rename "$MNT/usr/lib/pkg" "$MNT/usr/lib/pkg.old"
        assert_ok rename "$MNT/usr/lib/pkg.new" "$MNT/usr/lib/pkg"
        rm -r "$MNT/usr/lib/pkg.old"
        assert_listing "$MNT/usr/lib" "pkg"
        assert_listing "$MNT/usr/lib/pkg" "a"
        assert_file_content "$MNT/usr/lib/pkg/a" new-a
        sfs_remount
        assert_listing "$MNT/usr/lib" "pkg"
        assert_listing "$MNT/usr/lib/pkg" "a"
}

run_tests "$@"
