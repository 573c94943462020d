#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Deleting through the mount: whiteouts and opaque directories written in the
# kernel format (char 0/0, trusted.overlay.opaque) when permitted (contract 2).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test_unlink_lower_file_writes_whiteout() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower
        mk_file "$L1/g" kept
        sfs_mount "$L1"
        rm "$MNT/f"
        assert_enoent "$MNT/f"
        assert_listing "$MNT" "g"
        assert_whiteout_on_disk "$UPPER/f"
        assert_enoent "$UPPER/g"
}

test_unlink_lower_file_in_lower_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/a/b/f" lower
        mk_file "$L1/a/b/g" kept
        sfs_mount "$L1"
        rm "$MNT/a/b/f"
        assert_enoent "$MNT/a/b/f"
        assert_listing "$MNT/a/b" "g"
        assert_whiteout_on_disk "$UPPER/a/b/f"
        assert_not_opaque_on_disk "$UPPER/a/b"
}

test_unlink_lower_symlink_writes_whiteout() {
        L1=$(mk_layer l1)
        mk_symlink "$L1/l" /nonexistent
        sfs_mount "$L1"
        rm "$MNT/l"
        assert_enoent "$MNT/l"
        assert_whiteout_on_disk "$UPPER/l"
}

test_unlink_copied_up_file_writes_whiteout() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower
        sfs_mount "$L1"
        echo changed >"$MNT/f"
        assert_file_content "$UPPER/f" changed
        rm "$MNT/f"
        assert_enoent "$MNT/f"
        assert_whiteout_on_disk "$UPPER/f"
}

test_unlink_upper_only_file_leaves_nothing() {
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount "$L1"
        echo new >"$MNT/d/new"
        assert_file_content "$UPPER/d/new" new
        rm "$MNT/d/new"
        assert_enoent "$MNT/d/new" "$UPPER/d/new" "$UPPER/d/.wh.new"
}

test_rmdir_empty_lower_dir_writes_whiteout() {
        L1=$(mk_layer l1)
        mk_dir "$L1/empty"
        sfs_mount "$L1"
        rmdir "$MNT/empty"
        assert_enoent "$MNT/empty"
        assert_whiteout_on_disk "$UPPER/empty"
}

# rmdir needs no permission on the directory itself: an empty (in the merged
# view) dir of mode 0600 or 0000 is removable by the owner of its parent,
# also when the daemon runs unprivileged and cannot search it.
test_rmdir_empty_dir_without_search_permission() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/f" x
        mk_dir "$L1/e"
        sfs_mount "$L1"
        rm "$MNT/d/f"
        chmod 0600 "$MNT/d"
        chmod 0000 "$MNT/e"
        assert_ok rmdir "$MNT/d"
        assert_ok rmdir "$MNT/e"
        assert_enoent "$MNT/d" "$MNT/e"
        assert_whiteout_on_disk "$UPPER/d"
        assert_whiteout_on_disk "$UPPER/e"
}

test_rmdir_nonempty_lower_dir_is_enotempty() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/f" x
        sfs_mount "$L1"
        assert_errno ENOTEMPTY rmdir "$MNT/d"
        assert_file_content "$MNT/d/f" x
}

test_rmdir_after_emptying_lower_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/d/a" a
        mk_file "$L2/d/b" b
        mk_file "$L2/d/sub/c" c
        sfs_mount "$L1" "$L2"
        rm -r "$MNT/d"
        assert_enoent "$MNT/d"
        assert_listing "$MNT" ""
        assert_whiteout_on_disk "$UPPER/d"
}

# Listings know the daemon's own whiteouts by inode number (links of one
# shared whiteout); other char devices, and whiteouts another overlay made,
# are still looked at.
test_whiteouts_and_devices_among_many_deleted_entries() {
        need_root
        L1=$(mk_layer l1)
        local i
        for i in $(seq 40); do mk_file "$L1/d/f$i" "$i"; done
        mk_dir "$UPPER/d"
        mknod "$UPPER/d/f3" c 0 0 # a whiteout made elsewhere
        sfs_mount "$L1"
        rm "$MNT"/d/f{10..40}
        assert_listing "$MNT/d" "f1 f2 f4 f5 f6 f7 f8 f9"
        mknod "$MNT/d/null" c 1 3
        rm "$MNT"/d/f?
        assert_listing "$MNT/d" "null"
        assert_errno ENOTEMPTY rmdir "$MNT/d"
        rm "$MNT/d/null"
        rmdir "$MNT/d" || fail "rmdir of a directory holding only whiteouts failed"
        assert_whiteout_on_disk "$UPPER/d"
        sfs_remount
        assert_enoent "$MNT/d"
}

test_recreate_deleted_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower
        sfs_mount "$L1"
        rm "$MNT/f"
        echo new >"$MNT/f"
        assert_file_content "$MNT/f" new
        assert_type "$UPPER/f" f
        assert_file_content "$UPPER/f" new
        assert_no_whiteout_on_disk "$UPPER/f"
}

test_delete_then_recreate_at_depth() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/a/b/c/d/e/file" deep-lower
        mk_file "$L2/a/b/c/d/e/other" other
        mk_file "$L1/a/b/c/side" side
        sfs_mount "$L1" "$L2"
        rm "$MNT/a/b/c/d/e/file"
        assert_whiteout_on_disk "$UPPER/a/b/c/d/e/file"
        echo recreated >"$MNT/a/b/c/d/e/file"
        assert_file_content "$MNT/a/b/c/d/e/file" recreated
        assert_file_content "$UPPER/a/b/c/d/e/file" recreated
        assert_file_content "$MNT/a/b/c/d/e/other" other
        # now the whole subtree, and back with an empty tree
        rm -r "$MNT/a/b"
        assert_enoent "$MNT/a/b"
        mkdir -p "$MNT/a/b/c/d/e"
        assert_listing "$MNT/a/b" "c"
        assert_listing "$MNT/a/b/c" "d"
        assert_listing "$MNT/a/b/c/d/e" ""
        assert_enoent "$MNT/a/b/c/side" "$MNT/a/b/c/d/e/other"
        assert_opaque_on_disk "$UPPER/a/b"
        echo again >"$MNT/a/b/c/d/e/file"
        assert_file_content "$UPPER/a/b/c/d/e/file" again
}

test_rmdir_then_mkdir_makes_opaque_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/x" x
        mk_file "$L1/d/sub/y" y
        sfs_mount "$L1"
        rm -r "$MNT/d"
        mkdir "$MNT/d"
        assert_listing "$MNT/d" ""
        assert_opaque_on_disk "$UPPER/d"
        assert_listing "$UPPER/d" ""
        touch "$MNT/d/new"
        assert_listing "$MNT/d" "new"
}

test_opaque_dir_survives_remount() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/x" x
        sfs_mount "$L1"
        rm -r "$MNT/d"
        mkdir "$MNT/d"
        echo n >"$MNT/d/n"
        sfs_remount
        assert_listing "$MNT/d" "n"
        assert_opaque_on_disk "$UPPER/d"
}

test_replace_lower_dir_with_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/x/inner" inner
        sfs_mount "$L1"
        rm -r "$MNT/x"
        echo file >"$MNT/x"
        assert_type "$MNT/x" f
        assert_file_content "$UPPER/x" file
}

test_replace_lower_file_with_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/x" file
        mk_file "$L2/x/old" old-dir-content
        sfs_mount "$L1" "$L2"
        rm "$MNT/x"
        mkdir "$MNT/x"
        assert_listing "$MNT/x" ""
        assert_type "$UPPER/x" d
        assert_opaque_on_disk "$UPPER/x"
}

test_whiteout_survives_remount() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower
        mk_file "$L1/d/g" lower
        sfs_mount "$L1"
        rm "$MNT/f" "$MNT/d/g"
        sfs_remount
        assert_enoent "$MNT/f" "$MNT/d/g"
        assert_listing "$MNT" "d"
        assert_listing "$MNT/d" ""
}

test_unlink_file_hidden_in_middle_layer() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$L3/f" bottom
        mk_file "$L2/f" middle
        sfs_mount "$L1" "$L2" "$L3"
        rm "$MNT/f"
        assert_enoent "$MNT/f"
        assert_whiteout_on_disk "$UPPER/f"
}

test_unlink_lower_file_with_255_char_name() {
        # `.wh.` + 255 characters does not fit NAME_MAX: a format must still work
        L1=$(mk_layer l1)
        local long
        long=$(printf 'x%.0s' $(seq 1 255))
        mk_file "$L1/$long" long
        mk_file "$L1/keep" keep
        sfs_mount "$L1"
        assert_file_content "$MNT/$long" long
        rm "$MNT/$long"
        assert_enoent "$MNT/$long"
        assert_listing "$MNT" "keep"
        sfs_remount
        assert_enoent "$MNT/$long"
        assert_listing "$MNT" "keep"
}

test_unlink_names_with_odd_characters() {
        L1=$(mk_layer l1)
        local names=("with space" $'new\nline' $'\xff\xfe-not-utf8' "-dash" "*star" ".hidden" "..dots")
        local n
        for n in "${names[@]}"; do mk_file "$L1/$n" "$n"; done
        mk_file "$L1/keep" keep
        sfs_mount "$L1"
        for n in "${names[@]}"; do
                assert_file_content "$MNT/$n" "$n"
                rm -- "$MNT/$n"
                assert_enoent "$MNT/$n"
        done
        assert_listing "$MNT" "keep"
        sfs_remount
        assert_listing "$MNT" "keep"
        for n in "${names[@]}"; do assert_enoent "$MNT/$n"; done
}

run_tests "$@"
