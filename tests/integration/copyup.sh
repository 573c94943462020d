#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Copy-up (contract 3): what is preserved, metadata-only copy-up, hard links,
# read-only lower files, atomicity.  sfs_umount checks after every test that
# no lower layer changed (full manifest: content, metadata, xattrs).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS_TIME=1234567890.123456789
NS=1234567890123456789

# open for writing without writing: a full copy-up that changes nothing
_open_rw() { # PATH: copy up by opening for writing
        case ",${SFS_TEST_OPTS:-}," in
        *,zero_open=1,*) skip "zero_open=1 copies up at the first write, not at the open" ;;
        esac
        "$PYTHON" -c 'import sys; open(sys.argv[1], "r+b").close()' "$1"
}

test_copy_up_preserves_data() {
        L1=$(mk_layer l1)
        head -c 300000 /dev/urandom >"$L1/bin"
        mk_file "$L1/text" "hello world"
        sfs_mount "$L1"
        echo appended >>"$MNT/text"
        _open_rw "$MNT/bin"
        assert_file_content "$MNT/text" "hello worldappended"
        assert_file_content "$UPPER/text" "hello worldappended"
        assert_same_content "$L1/bin" "$UPPER/bin"
        assert_same_content "$L1/bin" "$MNT/bin"
}

test_copy_up_preserves_mode() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x 4751
        mk_file "$L1/g" x 0604
        sfs_mount "$L1"
        _open_rw "$MNT/f"
        _open_rw "$MNT/g"
        assert_mode "$UPPER/f" 4751
        assert_mode "$MNT/f" 4751
        assert_mode "$UPPER/g" 0604
}

test_copy_up_preserves_owner() {
        need_root
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        chown 1234:5678 "$L1/f"
        sfs_mount "$L1"
        _open_rw "$MNT/f"
        assert_owner "$UPPER/f" 1234:5678
        assert_owner "$MNT/f" 1234:5678
}

test_copy_up_preserves_ns_times() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        touch -d "@$NS_TIME" "$L1/f"
        sfs_mount "$L1"
        _open_rw "$MNT/f"
        assert_exists "$UPPER/f"
        assert_mtime "$UPPER/f" "$NS"
        assert_mtime "$MNT/f" "$NS"
}

test_copy_up_preserves_xattrs() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.one 1
        mk_xattr "$L1/f" user.two "second value"
        ((IS_ROOT)) && mk_xattr "$L1/f" trusted.mine t
        sfs_mount "$L1"
        _open_rw "$MNT/f"
        assert_xattr "$UPPER/f" user.one 1
        assert_xattr "$UPPER/f" user.two "second value"
        assert_xattr "$MNT/f" user.two "second value"
        if ((IS_ROOT)); then
                assert_xattr "$UPPER/f" trusted.mine t
        fi
}

test_copy_up_preserves_acls() {
        need_cmd setfacl getfacl
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_dir "$L1/d"
        setfacl -m u:4321:rw "$L1/f" 2>/dev/null || skip "no ACL support on the test file system"
        setfacl -d -m u:4321:rx "$L1/d"
        sfs_mount "$L1"
        _open_rw "$MNT/f"
        touch "$MNT/d/new"
        local want got
        want=$(getfacl -cp "$L1/f" | LC_ALL=C sort)
        got=$(getfacl -cp "$UPPER/f" | LC_ALL=C sort)
        assert_eq "$want" "$got" "ACL of the copied-up file in upper"
        got=$(getfacl -cp "$MNT/f" | LC_ALL=C sort)
        assert_eq "$want" "$got" "ACL of the copied-up file through the mount"
        want=$(getfacl -cpd "$L1/d" | LC_ALL=C sort)
        got=$(getfacl -cpd "$UPPER/d" | LC_ALL=C sort)
        assert_eq "$want" "$got" "default ACL of the copied-up dir"
}

test_sparse_file_stays_sparse() {
        L1=$(mk_layer l1)
        truncate -s 256M "$L1/sparse"
        printf 'middle' | dd of="$L1/sparse" bs=1 seek=$((100 << 20)) conv=notrunc status=none
        printf 'end' | dd of="$L1/sparse" bs=1 seek=$(((256 << 20) - 3)) conv=notrunc status=none
        sfs_mount "$L1"
        fsutil write-at "$MNT/sparse" 0 start
        assert_eq $((256 << 20)) "$(stat -c %s "$UPPER/sparse")" "size of the copied-up sparse file"
        local kib
        kib=$(du -k "$UPPER/sparse" | cut -f1)
        ((kib < 4096)) || fail "copied-up sparse file uses ${kib} KiB on disk (lower: $(du -k "$L1/sparse" | cut -f1) KiB)"
        assert_eq middle "$(dd if="$MNT/sparse" bs=1 skip=$((100 << 20)) count=6 status=none)" "data in the middle"
        assert_eq start "$(head -c 5 "$MNT/sparse")" "data at the start"
}

test_lower_untouched_by_writes() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/a" a
        mk_file "$L2/b/c" c
        mk_xattr "$L2/b/c" user.x 1
        mk_file "$L2/ro" ro 0444
        sfs_mount "$L1" "$L2"
        echo x >>"$MNT/a"
        echo y >"$MNT/b/c"
        chmod 600 "$MNT/b/c"
        setfattr -n user.x -v 2 "$MNT/b/c"
        touch -d "@1" "$MNT/b"
        rm "$MNT/ro"
        rm -r "$MNT/b"
        sfs_umount # compares the manifest of each lower with the one taken at mount
}

# A symlink or special file copied up (here by a rename) keeps its inode
# number across remounts and its xattrs, as regular files do.  (Not when
# unprivileged: user.* xattrs go on regular files and directories only.)
test_copy_up_of_symlinks_and_special_files() {
        need_root
        L1=$(mk_layer l1)
        mk_symlink "$L1/sym" target
        mkfifo "$L1/fifo"
        setfattr -h -n trusted.kept -v yes "$L1/sym"
        sfs_mount "$L1"
        local f
        declare -A inos
        for f in sym fifo; do
                inos[$f]=$(stat -c %i "$MNT/$f")
                mv "$MNT/$f" "$MNT/$f.moved"
        done
        sfs_remount
        for f in sym fifo; do
                assert_eq "${inos[$f]}" "$(stat -c %i "$MNT/$f.moved")" "st_ino of $f after copy-up and remount"
        done
        assert_eq target "$(readlink "$MNT/sym.moved")" "symlink target"
        assert_eq yes "$(getfattr -h --only-values -n trusted.kept "$MNT/sym.moved")" "xattr of the copied-up symlink"
}

test_parents_copied_up_with_their_metadata() {
        L1=$(mk_layer l1)
        mk_file "$L1/a/b/c/f" x
        chmod 0750 "$L1/a"
        chmod 0705 "$L1/a/b"
        chmod 0753 "$L1/a/b/c"
        ((IS_ROOT)) && chown 111:222 "$L1/a" "$L1/a/b" && chown 333:444 "$L1/a/b/c"
        mk_xattr "$L1/a/b" user.dirattr v
        touch -h -d "@$NS_TIME" "$L1/a/b/c" "$L1/a/b" "$L1/a"
        sfs_mount "$L1"
        echo more >>"$MNT/a/b/c/f"
        assert_mode "$UPPER/a" 0750
        assert_mode "$UPPER/a/b" 0705
        assert_mode "$UPPER/a/b/c" 0753
        assert_xattr "$UPPER/a/b" user.dirattr v
        assert_mtime "$UPPER/a" "$NS"
        assert_mtime "$UPPER/a/b" "$NS"
        assert_mtime "$MNT/a/b" "$NS"
        if ((IS_ROOT)); then
                assert_owner "$UPPER/a" 111:222
                assert_owner "$UPPER/a/b" 111:222
                assert_owner "$UPPER/a/b/c" 333:444
        fi
}

# metadata-only copy-up (metacopy=on) ------------------------------------------

# By default, as on kernel overlayfs, a metadata change copies the data too:
# the upper layer then needs no metacopy support from whoever reads it next.
test_chmod_copies_up_data_by_default() {
        [[ ,${SFS_TEST_OPTS:-}, != *,metacopy=on,* ]] || skip "SFS_TEST_OPTS sets metacopy=on"
        L1=$(mk_layer l1)
        head -c 1048576 /dev/urandom >"$L1/f"
        sfs_mount "$L1"
        chmod 0600 "$MNT/f"
        "$PYTHON" -c 'import os, sys; os.utime(sys.argv[1], (1, 2))' "$MNT/f"
        assert_mode "$UPPER/f" 0600
        assert_same_content "$L1/f" "$UPPER/f"
        assert_no_xattr "$UPPER/f" trusted.overlay.metacopy
        assert_no_xattr "$UPPER/f" user.overlay.metacopy
}

_mk_big_lower() { # PATH: 1 MiB of data
        mkdir -p "$(dirname "$1")"
        head -c 1048576 /dev/urandom >"$1"
}

# The upper file after a metadata-only copy-up: present, no data blocks, and as
# root marked with trusted.overlay.metacopy (kernel format).
# ("no data blocks": allow a few KiB for an external xattr block.)
_assert_metacopy() { # NAME
        assert_exists "$UPPER/$1"
        local kib
        kib=$(($(stat -c %b "$UPPER/$1") / 2))
        # 1 MiB in lower; a few KiB allowed for an external xattr block (ext4)
        ((kib < 64)) || fail "$1: upper file uses $kib KiB after a metadata-only change (data was copied up)"
        if ((IS_ROOT)); then
                getfattr -h --absolute-names -n trusted.overlay.metacopy "$UPPER/$1" >/dev/null 2>&1 ||
                        fail "$1: no trusted.overlay.metacopy xattr on the upper file"
        fi
        assert_same_content "$L1/$1" "$MNT/$1"
}

test_chmod_copies_up_metadata_only() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        sfs_mount -o metacopy=on "$L1"
        chmod 0600 "$MNT/f"
        assert_mode "$MNT/f" 0600
        assert_mode "$UPPER/f" 0600
        _assert_metacopy f
}

test_chown_copies_up_metadata_only() {
        need_root
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        sfs_mount -o metacopy=on "$L1"
        chown 4242:4343 "$MNT/f"
        assert_owner "$MNT/f" 4242:4343
        assert_owner "$UPPER/f" 4242:4343
        _assert_metacopy f
}

test_utimens_copies_up_metadata_only() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        sfs_mount -o metacopy=on "$L1"
        # utimensat(2) on the path: touch(1) would open the file for writing
        "$PYTHON" -c 'import os, sys; os.utime(sys.argv[1], ns=(int(sys.argv[2]), int(sys.argv[2])))' "$MNT/f" "$NS"
        assert_mtime "$MNT/f" "$NS"
        assert_mtime "$UPPER/f" "$NS"
        _assert_metacopy f
}

test_setxattr_copies_up_metadata_only() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        sfs_mount -o metacopy=on "$L1"
        setfattr -n user.added -v yes "$MNT/f"
        assert_xattr "$MNT/f" user.added yes
        assert_xattr "$UPPER/f" user.added yes
        _assert_metacopy f
}

test_data_follows_on_first_write() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        cp "$L1/f" "$T/expected"
        printf 'XYZ' | dd of="$T/expected" bs=1 seek=1000 conv=notrunc status=none
        sfs_mount -o metacopy=on "$L1"
        chmod 0640 "$MNT/f"
        fsutil write-at "$MNT/f" 1000 XYZ
        assert_same_content "$T/expected" "$MNT/f"
        assert_same_content "$T/expected" "$UPPER/f"
        assert_no_xattr "$UPPER/f" trusted.overlay.metacopy
        assert_mode "$UPPER/f" 0640
        sfs_remount
        assert_same_content "$T/expected" "$MNT/f"
}

test_metacopy_survives_remount() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/f"
        sfs_mount -o metacopy=on "$L1"
        chmod 0604 "$MNT/f"
        sfs_remount
        assert_mode "$MNT/f" 0604
        assert_same_content "$L1/f" "$MNT/f"
        echo tail >>"$MNT/f"
        assert_eq $((1048576 + 5)) "$(stat -c %s "$UPPER/f")" "size after append to a metacopy file"
        cmp -s -n 1048576 "$L1/f" "$UPPER/f" || fail "data of the metacopy file not copied up correctly on write"
}

# With metacopy=on a rename copies metadata only, and a redirect leads to
# the data (as kernel overlayfs's), also under a directory made in the
# upper layer and after a remount.
test_rename_with_metacopy_copies_metadata_only() {
        L1=$(mk_layer l1)
        _mk_big_lower "$L1/d/f"
        _mk_big_lower "$L1/d/g"
        sfs_mount -o metacopy=on "$L1"
        mkdir "$MNT/new"
        mv "$MNT/d/f" "$MNT/new/f"
        mv "$MNT/d/g" "$MNT/d/g2"
        local name
        for name in new/f d/g2; do
                assert_exists "$UPPER/$name"
                (($(stat -c %b "$UPPER/$name") < 128)) || fail "$name: data copied up by the rename"
        done
        if ((IS_ROOT)); then
                assert_xattr "$UPPER/new/f" trusted.overlay.redirect /d/f
                assert_xattr "$UPPER/d/g2" trusted.overlay.redirect /d/g
        fi
        assert_same_content "$L1/d/f" "$MNT/new/f"
        sfs_remount
        assert_same_content "$L1/d/f" "$MNT/new/f"
        assert_same_content "$L1/d/g" "$MNT/d/g2"
        assert_enoent "$MNT/d/f" "$MNT/d/g"
        echo tail >>"$MNT/new/f"
        cmp -s -n 1048576 "$L1/d/f" "$MNT/new/f" || fail "data after the append"
        cmp -s -n 1048576 "$L1/d/f" "$UPPER/new/f" || fail "data of the full copy"
}

test_truncate_copies_up_data() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" "0123456789"
        sfs_mount "$L1"
        truncate -s 4 "$MNT/f"
        assert_file_content "$MNT/f" 0123
        assert_file_content "$UPPER/f" 0123
}

# hard links ----------------------------------------------------------------

test_write_to_lower_hardlink_updates_all_names() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" original
        mk_hardlink "$L1/a" "$L1/b"
        mk_hardlink "$L1/a" "$L1/sub/c"
        sfs_mount "$L1"
        ls -laR "$MNT" >/dev/null # every name looked up before the write (readdirplus)
        cat "$MNT/b" "$MNT/sub/c" >/dev/null
        echo new >"$MNT/a"
        ls -laR "$MNT" >/dev/null
        assert_file_content "$MNT/a" new
        assert_file_content "$MNT/b" new
        assert_file_content "$MNT/sub/c" new
        assert_eq "$(stat -c %i "$MNT/a")" "$(stat -c %i "$MNT/b")" "st_ino of a and b after the write"
        assert_eq 3 "$(stat -c %h "$MNT/b")" "st_nlink after the write"
        assert_file_content "$UPPER/a" new
        sfs_remount
        assert_file_content "$MNT/b" new
        assert_file_content "$MNT/sub/c" new
}

# A file open through another name before the write reads the new data
# too (its handle follows the data to the index copy), as in the kernel's
# overlayfs; also without opens (zero_open=1), whose cached handles the
# same holds for.
test_reader_of_another_name_of_a_lower_hardlink_sees_the_write() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" original
        mk_hardlink "$L1/a" "$L1/b"
        sfs_mount "$L1"
        "$PYTHON" - "$MNT" <<'PY' || fail "read through the other name's fd"
import os, sys
mnt = sys.argv[1]
fd = os.open(mnt + "/b", os.O_RDONLY)
assert os.pread(fd, 100, 0) == b"original", "before the write"
with open(mnt + "/a", "w") as f:
    f.write("new\n")
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
got = os.pread(fd, 100, 0)
assert got == b"new\n", "through the fd opened before: %r" % got
with open(mnt + "/b", "rb") as f:
    got = f.read()
assert got == b"new\n", "through a new open: %r" % got
PY
        assert_file_content "$L1/b" original
}

test_metadata_change_on_lower_hardlink_visible_on_all_names() {
        L1=$(mk_layer l1)
        mk_file "$L1/a/b" shared
        mk_hardlink "$L1/a/b" "$L1/a/c"
        mk_hardlink "$L1/a/b" "$L1/e"
        sfs_mount "$L1"
        ls -laR "$MNT" >/dev/null
        chmod 0640 "$MNT/a/c"
        ls -laR "$MNT" >/dev/null
        setfattr -n user.tag -v one "$MNT/e"
        ls -laR "$MNT" >/dev/null
        local n
        for n in a/b a/c e; do
                assert_mode "$MNT/$n" 0640
                assert_xattr "$MNT/$n" user.tag one
        done
        sfs_remount
        for n in a/b a/c e; do
                assert_mode "$MNT/$n" 0640
                assert_xattr "$MNT/$n" user.tag one
        done
}

test_hardlink_nlink_after_unlink() {
        L1=$(mk_layer l1)
        mk_file "$L1/a" x
        mk_hardlink "$L1/a" "$L1/b"
        sfs_mount "$L1"
        rm "$MNT/a"
        assert_eq 1 "$(stat -c %h "$MNT/b")" "st_nlink of b after unlinking a"
        assert_whiteout_on_disk "$UPPER/a"
}

# read-only lower files -----------------------------------------------------

test_sed_i_on_readonly_lower_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/etc/conf" "key=old" 0444
        sfs_mount "$L1"
        sed -i 's/old/new/' "$MNT/etc/conf"
        assert_file_content "$MNT/etc/conf" "key=new"
        assert_file_content "$UPPER/etc/conf" "key=new"
        assert_mode "$MNT/etc/conf" 0444
}

test_replace_readonly_lower_file_by_rename() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/target" old 0444
        chmod 0555 "$L1/d"
        ((IS_ROOT)) || chmod 0755 "$L1/d"
        sfs_mount "$L1"
        echo new >"$MNT/d/.target.tmp"
        mv -f "$MNT/d/.target.tmp" "$MNT/d/target"
        assert_file_content "$MNT/d/target" new
        assert_file_content "$UPPER/d/target" new
        assert_enoent "$MNT/d/.target.tmp"
}

test_write_readonly_lower_file_as_root() {
        need_root
        L1=$(mk_layer l1)
        mk_file "$L1/ro/f" ro 0444
        chmod 0555 "$L1/ro"
        sfs_mount "$L1"
        echo more >>"$MNT/ro/f"
        touch "$MNT/ro/new"
        assert_file_content "$MNT/ro/f" "romore"
        assert_file_content "$UPPER/ro/f" "romore"
        assert_mode "$UPPER/ro" 0555
        assert_mode "$UPPER/ro/f" 0444
}

# Metadata changes need no write permission on the parent: the owner can
# chmod a file in a 0555 lower dir (the copy-up must cope, also rootless).
test_chmod_file_in_readonly_lower_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/ro/sub/f" data 0644
        chmod 0555 "$L1/ro/sub" "$L1/ro"
        sfs_mount "$L1"
        chmod 0600 "$MNT/ro/sub/f" || fail "chmod of a file in a read-only lower dir"
        assert_mode "$MNT/ro/sub/f" 0600
        assert_mode "$UPPER/ro/sub/f" 0600
        assert_mode "$MNT/ro/sub" 0555
        assert_mode "$UPPER/ro/sub" 0555
        if ((EUID == 0)); then
                setfattr -n user.tag -v 1 "$MNT/ro/sub" || fail "setxattr on a read-only lower dir by root"
                assert_xattr "$UPPER/ro/sub" user.tag 1
        else
                # as on any filesystem: a user.* xattr needs write permission
                ! setfattr -n user.tag -v 1 "$MNT/ro/sub" 2>/dev/null ||
                        fail "setxattr on a 0555 dir succeeded for a non-root owner"
        fi
}

# The second name of a lower hard link in a 0555 lower dir comes up as a
# link to the first one's copy: that link too must cope with the read-only
# parent (found rootless by a random-operations seed), and leave its times.
test_truncate_second_hardlink_in_readonly_lower_dir() {
        L1=$(mk_layer l1)
        mk_file "$L1/ro/f" data 0644
        mk_hardlink "$L1/ro/f" "$L1/ro/g"
        chmod 0555 "$L1/ro"
        touch -d "2001-02-03 04:05:06" "$L1/ro"
        sfs_mount "$L1"
        truncate -s 2 "$MNT/ro/f" || fail "truncate of the first name"
        truncate -s 1 "$MNT/ro/g" || fail "truncate of the second name in a 0555 dir"
        assert_file_content "$MNT/ro/f" d
        assert_file_content "$UPPER/ro/g" d
        assert_mode "$UPPER/ro" 0555
        assert_eq "2001-02-03 04:05:06" "$(date -d @"$(stat -c %Y "$MNT/ro")" '+%F %T')" "mtime of the parent"
}

test_mkdir_mode_0555_then_populate() {
        need_root
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        mkdir -m 0555 "$MNT/d"
        echo x >"$MNT/d/f"
        mkdir -m 0555 "$MNT/d/sub"
        touch "$MNT/d/sub/g"
        assert_mode "$MNT/d" 0555
        assert_mode "$UPPER/d" 0555
        assert_file_content "$UPPER/d/f" x
        assert_exists "$UPPER/d/sub/g"
}

test_copy_file_range_from_readonly_lower() {
        L1=$(mk_layer l1)
        head -c 200000 /dev/urandom >"$L1/ro"
        chmod 0444 "$L1/ro"
        sfs_mount "$L1"
        fsutil copy-file-range "$MNT/ro" "$MNT/copy" >&2 || fail "copy_file_range from a read-only lower file"
        assert_same_content "$L1/ro" "$MNT/copy"
        assert_same_content "$L1/ro" "$UPPER/copy"
        assert_enoent "$UPPER/ro"
}

# atomicity -------------------------------------------------------------------

test_kill9_during_copy_up_leaves_no_partial_file() {
        need_space 4
        L1=$(mk_layer l1)
        local size=$((1536 << 20))
        dd if=/dev/zero bs=1M count=$((size >> 20)) status=none | tr '\0' 'a' >"$L1/big"
        sfs_mount "$L1"
        ( echo appended >>"$MNT/big" ) 2>/dev/null &
        local writer=$! i
        # wait until the copy is under way (something appears in workdir or upper)
        for ((i = 0; i < 200; i++)); do
                [[ -n $(find "$WORK" "$UPPER" -type f -size +0 2>/dev/null | head -n 1) ]] && break
                sleep 0.01
        done
        sfs_kill9
        wait "$writer" 2>/dev/null || true
        echo "after kill: upper: $(_describe "$UPPER/big"); workdir: $(find "$WORK" -mindepth 1 | head -n 3 | tr '\n' ' ')"
        if [[ -e $UPPER/big ]]; then
                local got
                got=$(stat -c %s "$UPPER/big")
                ((got == size || got == size + 9)) ||
                        fail "partial copy-up visible in upper: $got of $size bytes"
        fi
        # the next mount serves the whole file (from lower or a complete copy)
        sfs_mount "$L1"
        local s
        s=$(stat -c %s "$MNT/big")
        ((s == size || s == size + 9)) || fail "after kill -9 and remount the file has $s bytes, expected $size"
        cmp -s -n "$size" "$L1/big" "$MNT/big" || fail "after kill -9 and remount the file content differs from lower"
}

# An upper layer on another file system than the lower one, where
# copy_file_range refuses: the data moves with sendfile, extent by extent,
# and holes stay holes.
test_copy_up_to_an_upper_on_another_file_system() {
        L1=$(mk_layer l1)
        head -c 3000001 /dev/urandom >"$L1/random"
        truncate -s 64M "$L1/sparse"
        head -c 70000 /dev/urandom | dd of="$L1/sparse" bs=4096 seek=5000 conv=notrunc status=none
        local fs
        fs=$(mk_tmpfs_layer other)
        UPPER=$fs/upper WORK=$fs/work
        mkdir -p "$UPPER" "$WORK"
        sfs_mount "$L1"
        printf '!' >>"$MNT/random"
        printf '!' >>"$MNT/sparse"
        cmp -s -n 3000001 "$L1/random" "$UPPER/random" || fail "copied data differs"
        assert_eq 3000002 "$(stat -c %s "$UPPER/random")" "size after the append"
        cmp -s -n $((64 << 20)) "$L1/sparse" "$UPPER/sparse" || fail "copied sparse data differs"
        local kib
        kib=$(du -k "$UPPER/sparse" | cut -f1)
        ((kib < 1024)) || fail "copied-up sparse file uses ${kib} KiB"
}

# a full disk -----------------------------------------------------------------

# The upper layer fills up: a copy-up that does not fit fails with ENOSPC
# and leaves nothing behind (no partial file, no temporary in the work dir);
# the merged view still shows the lower file, and the mount goes on working
# once there is room again.
test_full_upper_fails_cleanly() {
        L1=$(mk_layer l1)
        head -c $((3 << 20)) /dev/urandom >"$L1/big"
        mk_file "$L1/d/small" small
        local fs
        fs=$(mk_tmpfs_layer full)
        mount -o remount,size=4m "$fs" || skip "cannot resize tmpfs"
        UPPER=$fs/upper WORK=$fs/work
        mkdir -p "$UPPER" "$WORK"
        sfs_mount "$L1"
        head -c $((2 << 20)) /dev/zero >"$MNT/filler" || fail "2 MiB do not fit in a 4 MiB upper"
        assert_errno ENOSPC append "$MNT/big" more
        assert_same_content "$L1/big" "$MNT/big"
        assert_enoent "$UPPER/big"
        assert_eq "" "$(find "$WORK" -mindepth 1 -path "$WORK/sfs-index" -prune -o -type f -print | head -n 3)" \
                "temporaries left in the work dir"
        # full to the last block: every write fails, nothing written is lost
        ! head -c $((3 << 20)) /dev/zero >>"$MNT/filler" 2>/dev/null || fail "5 MiB fit in a 4 MiB upper"
        assert_errno ENOSPC append "$MNT/d/small" " more"
        assert_file_content "$MNT/d/small" small
        assert_listing "$MNT/d" small
        rm -f "$MNT/filler"
        assert_errno OK append "$MNT/d/small" " more"
        assert_file_content "$MNT/d/small" "small more"
        assert_errno OK append "$MNT/big" more
        assert_eq $(((3 << 20) + 4)) "$(stat -c %s "$MNT/big")" "size after the copy-up that fits"
        assert_daemon_alive
}

run_tests "$@"
