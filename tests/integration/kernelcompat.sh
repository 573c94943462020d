#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The upper layer stratafs writes is valid for kernel overlayfs (contract 2):
# after changes through stratafs, the kernel shows the same tree from the same
# lowers and upper (and the other way round).  Root only.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# the kernel's defaults here, but for following redirects (default on in
# stratafs); metacopy=on where stratafs made metadata-only copies
KOPTS=redirect_dir=on
[[ ,${SFS_TEST_OPTS:-}, == *,metacopy=on,* ]] && KOPTS+=,metacopy=on

# dump the stratafs view, unmount, mount the kernel overlay, compare
_compare_with_kernel() {
        fsutil dump "$MNT" >"$T/dump.stratafs"
        local lowers=("${SFS_LOWERS[@]}")
        sfs_umount
        ovl_mount -o "$KOPTS" "$T/kmnt" "$UPPER" "$T/kwork" "${lowers[@]}"
        fsutil dump "$T/kmnt" >"$T/dump.kernel"
        ovl_umount "$T/kmnt"
        if ! diff -u "$T/dump.stratafs" "$T/dump.kernel" >"$T/dump.diff"; then
                echo "tree through stratafs (-) vs kernel overlayfs on the same upper (+):" >&2
                head -n 60 "$T/dump.diff" >&2
                fail "kernel overlayfs shows a different tree from stratafs's upper layer"
        fi
        echo "$(wc -l <"$T/dump.kernel") entries identical" >&2
}

_std_lowers() {
        need_kernel_overlay
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/etc/conf" "old conf"
        mk_file "$L2/etc/other" other 0600
        mk_file "$L2/usr/bin/tool" "#!/bin/sh" 0755
        mk_file "$L2/usr/lib/a/liba" liba
        mk_file "$L2/usr/lib/a/sub/deep" deep
        mk_file "$L1/usr/lib/a/libb" libb
        mk_file "$L1/usr/lib/b/x" x
        mk_symlink "$L2/usr/link" lib/a/liba
        mk_file "$L2/var/big" "$(head -c 200000 /dev/zero | tr '\0' 'b')"
        mk_xattr "$L2/etc/conf" user.tag lower
        mk_file "$L1/hidden-below" x
        mk_file "$L2/gone" y
        mk_whiteout "$L1/gone"
        chown 100:200 "$L2/etc/other"
        sfs_mount "$@" "$L1" "$L2"
}

test_kernel_sees_new_and_modified_files() {
        _std_lowers
        echo new >"$MNT/new"
        echo "new conf" >"$MNT/etc/conf"
        echo appended >>"$MNT/usr/lib/a/liba"
        mkdir -p "$MNT/usr/lib/a/newdir/inner"
        echo deep-new >"$MNT/usr/lib/a/newdir/inner/f"
        ln -s ../etc/conf "$MNT/usr/newlink"
        setfattr -n user.added -v 1 "$MNT/usr/lib/a/libb"
        setfattr -n trusted.added -v 2 "$MNT/new"
        truncate -s 10 "$MNT/var/big"
        _compare_with_kernel
}

test_kernel_sees_metadata_changes() {
        _std_lowers
        chmod 0700 "$MNT/usr/bin/tool"
        chown 5:6 "$MNT/etc/other"
        chmod 0711 "$MNT/usr/lib/a"
        chown 7:8 "$MNT/usr/lib/a/sub"
        "$PYTHON" -c 'import os, sys; os.utime(sys.argv[1], (1, 2))' "$MNT/var/big"
        setfattr -n user.tag -v changed "$MNT/etc/conf"
        _compare_with_kernel
}

test_kernel_sees_metacopy_then_write() {
        _std_lowers -o metacopy=on
        KOPTS=redirect_dir=on,metacopy=on
        chmod 0640 "$MNT/var/big"
        chmod 0600 "$MNT/usr/lib/a/liba"
        echo "written after chmod" >>"$MNT/usr/lib/a/liba"
        _compare_with_kernel
}

test_kernel_sees_metacopy_renames() {
        _std_lowers -o metacopy=on
        KOPTS=redirect_dir=on,metacopy=on
        mv "$MNT/var/big" "$MNT/big-at-root"
        mkdir "$MNT/new-dir"
        mv "$MNT/usr/lib/a/liba" "$MNT/new-dir/liba"
        chmod 0600 "$MNT/etc/conf"
        mv "$MNT/etc/conf" "$MNT/new-dir/conf"
        _compare_with_kernel
}

test_kernel_sees_deletions() {
        _std_lowers
        rm "$MNT/etc/conf" "$MNT/usr/link" "$MNT/hidden-below"
        rm -r "$MNT/usr/lib/a/sub"
        rm -r "$MNT/usr/lib/b"
        _compare_with_kernel
}

test_kernel_sees_opaque_dirs() {
        _std_lowers
        rm -r "$MNT/usr/lib/a"
        mkdir "$MNT/usr/lib/a"
        echo fresh >"$MNT/usr/lib/a/fresh"
        rm "$MNT/etc/conf"
        mkdir "$MNT/etc/conf"
        _compare_with_kernel
}

test_kernel_sees_delete_then_recreate() {
        _std_lowers
        rm "$MNT/etc/conf"
        echo recreated >"$MNT/etc/conf"
        rm -r "${MNT:?}/usr"
        mkdir -p "$MNT/usr/lib/a"
        echo again >"$MNT/usr/lib/a/liba"
        _compare_with_kernel
}

test_kernel_sees_file_renames() {
        _std_lowers
        mv "$MNT/etc/conf" "$MNT/etc/conf.renamed"
        mv "$MNT/usr/lib/a/liba" "$MNT/liba-at-root"
        mv "$MNT/usr/bin/tool" "$MNT/etc/other" # over an existing lower file
        echo u >"$MNT/upperfile"
        fsutil try rename_exchange "$MNT/upperfile" "$MNT/usr/lib/b/x" >/dev/null
        _compare_with_kernel
}

test_kernel_sees_dir_renames() {
        _std_lowers
        fsutil try rename "$MNT/usr/lib/a" "$MNT/usr/lib/a-renamed" | grep -qx OK || fail "rename of a lower dir"
        fsutil try rename "$MNT/usr/lib/b" "$MNT/moved-b" | grep -qx OK || fail "rename of a lower dir"
        echo inside >"$MNT/usr/lib/a-renamed/new-inside"
        mkdir "$MNT/usr/lib/a"
        _compare_with_kernel
}

test_kernel_sees_nested_dir_renames() {
        _std_lowers
        fsutil try rename "$MNT/usr/lib/a/sub" "$MNT/sub-out" | grep -qx OK || fail "rename of a lower subdir"
        fsutil try rename "$MNT/usr/lib" "$MNT/lib" | grep -qx OK || fail "rename of a lower dir"
        fsutil try rename "$MNT/lib/a" "$MNT/lib/aa" | grep -qx OK || fail "rename inside a renamed dir"
        _compare_with_kernel
}

test_kernel_sees_links_and_special_files() {
        _std_lowers
        echo h >"$MNT/hl1"
        ln "$MNT/hl1" "$MNT/usr/hl2"
        mkfifo "$MNT/fifo"
        mknod "$MNT/chardev" c 1 7
        ln -s /dangling "$MNT/dangling"
        _compare_with_kernel
}

test_stratafs_reads_kernel_upper() {
        need_kernel_overlay
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/a/f" f
        mk_file "$L2/a/g" g
        mk_file "$L2/b/h" h
        mk_file "$L2/big" "$(head -c 100000 /dev/zero | tr '\0' 'q')"
        mk_file "$L1/c" c
        mk_file "$L2/big-b" "$(head -c 100000 /dev/zero | tr '\0' 'r')"
        ovl_mount -o redirect_dir=on,metacopy=on "$T/kmnt" "$UPPER" "$T/kwork" "$L1" "$L2"
        rm "$T/kmnt/a/f"
        mv "$T/kmnt/b" "$T/kmnt/b2"
        rm -r "$T/kmnt/a"
        mkdir "$T/kmnt/a"
        echo new >"$T/kmnt/a/new"
        chmod 0600 "$T/kmnt/big"
        echo more >>"$T/kmnt/c"
        mv "$T/kmnt/big" "$T/kmnt/big2"
        mkdir "$T/kmnt/new-dir"
        mv "$T/kmnt/big-b" "$T/kmnt/new-dir/moved" # a metacopy under a dir without lowers
        fsutil dump "$T/kmnt" >"$T/dump.kernel"
        ovl_umount "$T/kmnt"
        sfs_mount "$L1" "$L2"
        fsutil dump "$MNT" >"$T/dump.stratafs"
        diff -u "$T/dump.kernel" "$T/dump.stratafs" >&2 ||
                fail "stratafs shows a different tree from a kernel overlayfs upper layer (- kernel, + stratafs)"
}

run_tests "$@"
