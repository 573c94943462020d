#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Lookup through the union: layer precedence, whiteouts, opaque directories,
# hidden markers, inode numbers.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

test_top_layer_wins() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$L3/f" bottom
        mk_file "$L2/f" middle
        mk_file "$L1/f" top
        mk_file "$L3/only3" three
        mk_file "$L2/d/x" from-l2
        mk_file "$L3/d/y" from-l3
        sfs_mount "$L1" "$L2" "$L3"
        assert_file_content "$MNT/f" top
        assert_file_content "$MNT/only3" three
        assert_file_content "$MNT/d/x" from-l2
        assert_file_content "$MNT/d/y" from-l3
        assert_listing "$MNT" "d f only3"
        assert_listing "$UPPER" ""
}

test_upper_wins_over_lowers() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower
        mk_file "$UPPER/f" upper
        sfs_mount "$L1"
        assert_file_content "$MNT/f" upper
        assert_file_content "$UPPER/f" upper
}

test_dir_in_upper_layer_hides_lower_file() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/x" a-file
        mk_file "$L1/x/inner" inner
        sfs_mount "$L1" "$L2"
        assert_type "$MNT/x" d
        assert_file_content "$MNT/x/inner" inner
}

test_file_in_upper_layer_hides_lower_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/x/inner" inner
        mk_file "$L1/x" now-a-file
        sfs_mount "$L1" "$L2"
        assert_type "$MNT/x" f
        assert_file_content "$MNT/x" now-a-file
        assert_errno ENOTDIR lstat "$MNT/x/inner"
}

test_kernel_whiteout_hides() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/gone" lower
        mk_file "$L2/dir/gone2" lower
        mk_file "$L2/dir/kept" kept
        mk_whiteout "$L1/gone" kernel
        mk_whiteout "$L1/dir/gone2" kernel
        sfs_mount "$L1" "$L2"
        assert_enoent "$MNT/gone" "$MNT/dir/gone2"
        assert_listing "$MNT" "dir"
        assert_listing "$MNT/dir" "kept"
}

test_wh_file_whiteout_hides() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/gone" lower
        mk_file "$L2/dir/gone2" lower
        mk_file "$L2/dir/kept" kept
        mk_whiteout "$L1/gone" wh
        mk_whiteout "$L1/dir/gone2" wh
        sfs_mount "$L1" "$L2"
        assert_enoent "$MNT/gone" "$MNT/dir/gone2" "$MNT/.wh.gone" "$MNT/dir/.wh.gone2"
        assert_listing "$MNT" "dir"
        assert_listing "$MNT/dir" "kept"
}

test_whiteout_in_upper_dir_hides() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" a
        mk_file "$L1/b" b
        mk_whiteout "$UPPER/a"
        sfs_mount "$L1"
        assert_enoent "$MNT/a"
        assert_listing "$MNT" "b"
}

test_whiteout_hides_whole_lower_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/d/sub/f" deep
        mk_whiteout "$L1/d"
        sfs_mount "$L1" "$L2"
        assert_enoent "$MNT/d" "$MNT/d/sub/f"
        assert_listing "$MNT" ""
}

test_whiteout_only_hides_layers_below() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$L3/f" bottom
        mk_whiteout "$L2/f"
        mk_file "$L1/f" recreated-above
        sfs_mount "$L1" "$L2" "$L3"
        assert_file_content "$MNT/f" recreated-above
}

_opaque_hides() { # FORMAT
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/d/hidden" lower
        mk_file "$L2/d/sub/deep" lower
        mk_file "$L2/other" other
        mk_opaque "$L1/d" "$1"
        mk_file "$L1/d/visible" top
        sfs_mount "$L1" "$L2"
        assert_listing "$MNT/d" "visible"
        assert_enoent "$MNT/d/hidden" "$MNT/d/sub"
        assert_file_content "$MNT/d/visible" top
        assert_file_content "$MNT/other" other
}

test_opaque_trusted_xattr_hides_lower() { _opaque_hides trusted; }
test_opaque_user_xattr_hides_lower() { _opaque_hides user; }
test_opaque_fuseoverlayfs_xattr_hides_lower() { _opaque_hides fuseoverlayfs; }
test_opaque_whopq_entry_hides_lower() { _opaque_hides whopq; }

test_opaque_in_upper_hides_lower() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/hidden" lower
        mk_opaque "$UPPER/d"
        mk_file "$UPPER/d/mine" mine
        sfs_mount "$L1"
        assert_listing "$MNT/d" "mine"
        assert_enoent "$MNT/d/hidden"
}

test_markers_never_visible() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/a" a
        mk_file "$L2/b" b
        mk_file "$L2/o/x" x
        mk_whiteout "$L1/a" wh
        mk_whiteout "$L1/b"
        mk_opaque "$L1/o" whopq
        mk_opaque "$L1/o" user
        mk_file "$L1/o/y" y
        mk_whiteout "$UPPER/o/y" wh
        mk_whiteout "$UPPER/nothing-below" wh
        sfs_mount "$L1" "$L2"
        local all
        all=$(cd "$MNT" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')
        assert_eq "./o " "$all" "everything under the mount"
        [[ -z $(find "$MNT" -type c) ]] || fail "a char device is visible: $(find "$MNT" -type c)"
        assert_enoent "$MNT/.wh.a" "$MNT/o/.wh..wh..opq" "$MNT/o/.wh.y" "$MNT/.wh.nothing-below" "$MNT/nothing-below"
}

test_many_layers() {
        # container images often have dozens of layers
        local i ls=()
        for i in $(seq 1 64); do
                L=$(mk_layer "l$i")
                mk_file "$L/shared/f$i" "$i"
                mk_file "$L/same" "layer $i"
                ls+=("$L")
        done
        sfs_mount "${ls[@]}"
        assert_eq 64 "$(ls "$MNT/shared" | wc -l)" "entries merged from 64 layers"
        assert_file_content "$MNT/same" "layer 1"
        assert_file_content "$MNT/shared/f64" 64
        echo x >"$MNT/shared/f64"
        assert_file_content "$UPPER/shared/f64" x
}

# A symlink in a lower layer under a directory of the same name in a higher
# layer is a non-dir below a dir: ignored, never followed (it could point
# anywhere on the host).
test_lower_symlink_below_dir_never_followed() {
        L1=$(mk_layer l1) L2=$(mk_layer l2) L3=$(mk_layer l3)
        mk_file "$T/outside/secret" secret
        mk_symlink "$L3/c" "$T/outside"
        mk_symlink "$L3/loop" loop/x
        mk_file "$L2/c/from-l2" l2
        mk_file "$L1/c/mine" mine
        mk_file "$L1/loop/in" in
        sfs_mount "$L1" "$L2" "$L3"
        assert_listing "$MNT/c" "from-l2 mine"
        assert_enoent "$MNT/c/secret"
        assert_listing "$MNT/loop" "in"
        mv "$MNT/c" "$MNT/c2"
        assert_listing "$MNT/c2" "from-l2 mine"
        rm -r "$MNT/c2" "$MNT/loop"
        assert_enoent "$MNT/c" "$MNT/c2" "$MNT/loop"
        assert_file_content "$T/outside/secret" secret
        mkdir "$MNT/c"
        assert_listing "$MNT/c" ""
        assert_opaque_on_disk "$UPPER/c"
}

test_lookup_missing_is_enoent() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" a
        sfs_mount "$L1"
        assert_enoent "$MNT/nope" "$MNT/a-longer" "$MNT/nope/deeper"
        assert_errno ENOTDIR lstat "$MNT/a/x"
}

# inode numbers ------------------------------------------------------------

_assert_unique_inos() { # DIR
        local dups
        dups=$(fsutil inos "$1" | awk '{ n[$1]++; p[$1] = p[$1] " " $2 } END { for (i in n) if (n[i] > 1) print "ino " i ":" p[i] }' | head -n 10)
        [[ -z $dups ]] || fail "st_ino shared by different entries (not hard links): $dups"
}

test_ino_unique_within_mount() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        local i
        for i in $(seq 1 30); do
                mk_file "$L1/d/a$i" "$i"
                mk_file "$L2/d/b$i" "$i"
                mk_file "$UPPER/d/c$i" "$i"
        done
        sfs_mount "$L1" "$L2"
        _assert_unique_inos "$MNT"
}

test_ino_unique_across_devices() {
        need_root
        L1=$(mk_tmpfs_layer l1)
        L2=$(mk_tmpfs_layer l2)
        local i
        for i in $(seq 1 40); do
                mk_file "$L1/a$i" "$i"
                mk_file "$L2/b$i" "$i"
        done
        mk_file "$L1/sub/x" x
        mk_file "$L2/sub/y" y
        [[ $(stat -c %d "$L1") != $(stat -c %d "$L2") ]] || skip "tmpfs layers share st_dev"
        # the point of the test: the layers' own inode numbers collide
        local common
        common=$(comm -12 <(fsutil inos "$L1" | awk '{print $1}' | sort) <(fsutil inos "$L2" | awk '{print $1}' | sort) | wc -l)
        ((common > 0)) || skip "layers have no colliding inode numbers"
        sfs_mount "$L1" "$L2"
        _assert_unique_inos "$MNT"
        local devs
        devs=$(find "$MNT" -printf '%D\n' | sort -u | wc -l)
        assert_eq 1 "$devs" "number of distinct st_dev through the mount"
}

test_dino_equals_st_ino_across_devices() {
        need_root
        L1=$(mk_tmpfs_layer l1)
        L2=$(mk_tmpfs_layer l2)
        local i
        for i in $(seq 1 20); do
                mk_file "$L1/d/a$i" "$i"
                mk_file "$L2/d/b$i" "$i"
        done
        sfs_mount "$L1" "$L2"
        echo x >>"$MNT/d/b3"
        fsutil dino "$MNT/d" >&2 || fail "readdir d_ino differs from st_ino with layers on different devices"
}

test_ino_stable_across_copy_up() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" data
        mk_file "$L1/d/g" data
        sfs_mount "$L1"
        local before_f before_d after_f after_d
        before_f=$(stat -c %i "$MNT/f")
        before_d=$(stat -c %i "$MNT/d")
        echo more >>"$MNT/f"
        touch "$MNT/d/new"
        assert_exists "$UPPER/f" "$UPPER/d/new"
        after_f=$(stat -c %i "$MNT/f")
        after_d=$(stat -c %i "$MNT/d")
        assert_eq "$before_f" "$after_f" "st_ino of f after copy-up"
        assert_eq "$before_d" "$after_d" "st_ino of d after copy-up"
}

test_ino_stable_across_remount() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/lower-only" x
        mk_file "$L2/deep/file" x
        mk_file "$L1/copied" x
        mk_file "$UPPER/upper-only" x
        sfs_mount "$L1" "$L2"
        echo more >>"$MNT/copied"
        mkdir "$MNT/newdir"
        fsutil inos "$MNT" >"$T/inos.before"
        sfs_remount
        fsutil inos "$MNT" >"$T/inos.after"
        diff -u "$T/inos.before" "$T/inos.after" >&2 || fail "st_ino changed across unmount/mount (diff above)"
}

test_ino_of_copied_up_file_stable_across_remount() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" data
        sfs_mount "$L1"
        local before
        before=$(stat -c %i "$MNT/f")
        chmod 600 "$MNT/f"
        echo x >>"$MNT/f"
        sfs_remount
        assert_exists "$UPPER/f"
        assert_eq "$before" "$(stat -c %i "$MNT/f")" "st_ino of a file copied up in an earlier mount"
}

test_dino_equals_st_ino() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/d/lower1" x
        mk_file "$L2/d/lower2" x
        mk_file "$L2/d/copied" x
        mk_dir "$L2/d/subdir"
        mk_symlink "$L2/d/link" lower1
        mk_file "$UPPER/d/upper" x
        sfs_mount "$L1" "$L2"
        echo more >>"$MNT/d/copied"
        touch "$MNT/d/created"
        fsutil dino "$MNT/d" >&2 || fail "readdir d_ino differs from st_ino in a merged dir"
        fsutil dino "$MNT" >&2 || fail "readdir d_ino differs from st_ino at the root"
}

test_hardlinks_in_lower_share_ino() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" shared
        mk_hardlink "$L1/a" "$L1/b"
        sfs_mount "$L1"
        assert_eq "$(stat -c %i "$MNT/a")" "$(stat -c %i "$MNT/b")" "st_ino of two hard links"
        assert_eq 2 "$(stat -c %h "$MNT/a")" "st_nlink of a lower hard link"
}

run_tests "$@"
