#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every operation a program does on a local file system, through the mount,
# checked in the merged view and in the upper layer.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

_mount_one_lower() {
        L1=$(mk_layer l1)
        mk_file "$L1/lower" lower-content
        mk_dir "$L1/ldir"
        sfs_mount "$L1"
}

test_create_file() {
        _mount_one_lower
        echo hello >"$MNT/new"
        assert_file_content "$MNT/new" hello
        assert_file_content "$UPPER/new" hello
        assert_errno EEXIST creat "$MNT/new"
        assert_errno EEXIST creat "$MNT/lower"
}

test_create_in_lower_dir() {
        _mount_one_lower
        echo x >"$MNT/ldir/f"
        assert_file_content "$UPPER/ldir/f" x
        assert_type "$UPPER/ldir" d
}

test_create_mode_respects_umask() {
        _mount_one_lower
        (umask 027 && echo x >"$MNT/masked" && mkdir "$MNT/maskeddir")
        assert_mode "$MNT/masked" 0640
        assert_mode "$UPPER/masked" 0640
        assert_mode "$UPPER/maskeddir" 0750
}

test_create_owner_is_caller() {
        need_root
        _mount_one_lower
        setpriv --reuid=2345 --regid=2346 --clear-groups touch "$MNT/ldir/owned" 2>/dev/null ||
                {
                        chmod 0777 "$MNT/ldir"
                        setpriv --reuid=2345 --regid=2346 --clear-groups touch "$MNT/ldir/owned"
                }
        assert_owner "$MNT/ldir/owned" 2345:2346
        assert_owner "$UPPER/ldir/owned" 2345:2346
}

test_mkdir() {
        _mount_one_lower
        mkdir -m 0750 "$MNT/d"
        mkdir -p "$MNT/ldir/a/b/c"
        assert_type "$MNT/d" d
        assert_mode "$UPPER/d" 0750
        assert_type "$UPPER/ldir/a/b/c" d
        assert_errno EEXIST mkdir "$MNT/ldir"
        assert_errno EEXIST mkdir "$MNT/lower"
}

test_mknod_fifo() {
        _mount_one_lower
        mkfifo "$MNT/fifo"
        assert_type "$MNT/fifo" p
        assert_type "$UPPER/fifo" p
        (echo through-fifo >"$MNT/fifo" &)
        assert_eq through-fifo "$(timeout 10 cat "$MNT/fifo")" "data through the fifo"
}

test_mknod_socket() {
        _mount_one_lower
        "$PYTHON" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$MNT/sock"
        assert_type "$MNT/sock" s
        assert_type "$UPPER/sock" s
}

test_mknod_char_device() {
        need_root
        _mount_one_lower
        mknod "$MNT/null" c 1 3
        assert_type "$MNT/null" c
        assert_eq 1:3 "$(stat -c '%t:%T' "$MNT/null")" "rdev of the device"
        assert_eq 1:3 "$(stat -c '%t:%T' "$UPPER/null")" "rdev of the device in upper"
        echo discarded >"$MNT/null" # the mount honours device files (dev)
        assert_eq "" "$(head -c 10 "$MNT/null")" "read from the null device"
}

test_symlink_and_readlink() {
        _mount_one_lower
        ln -s lower "$MNT/rel"
        ln -s /nonexistent/target "$MNT/dangling"
        assert_eq lower "$(readlink "$MNT/rel")" "readlink"
        assert_file_content "$MNT/rel" lower-content
        assert_eq /nonexistent/target "$(readlink "$MNT/dangling")" "readlink of a dangling link"
        assert_type "$UPPER/rel" l
        assert_eq lower "$(readlink "$UPPER/rel")" "link in upper"
}

test_long_symlink_target() {
        _mount_one_lower
        local target
        target=$(printf 'd/%.0s' $(seq 1 2040))x # 4081 bytes
        ln -s "$target" "$MNT/longlink"
        assert_eq "$target" "$(readlink "$MNT/longlink")" "readlink of a 4081-byte target"
        assert_eq "$target" "$(readlink "$UPPER/longlink")" "long target in upper"
}

test_readlink_of_lower_symlink() {
        L1=$(mk_layer l1)
        mk_symlink "$L1/l" "../some/where"
        sfs_mount "$L1"
        assert_eq ../some/where "$(readlink "$MNT/l")" "readlink of a lower symlink"
        assert_enoent "$UPPER/l"
}

test_hard_link_of_upper_file() {
        _mount_one_lower
        echo x >"$MNT/a"
        ln "$MNT/a" "$MNT/b"
        assert_eq 2 "$(stat -c %h "$MNT/a")" "st_nlink"
        assert_eq "$(stat -c %i "$MNT/a")" "$(stat -c %i "$MNT/b")" "st_ino of both names"
        assert_eq "$(stat -c %i "$UPPER/a")" "$(stat -c %i "$UPPER/b")" "upper inode of both names"
        echo y >>"$MNT/b"
        assert_file_content "$MNT/a" "x
y"
}

test_hard_link_names_share_data_and_attrs() {
        _mount_one_lower
        head -c 50 /dev/zero | tr '\0' 'z' >"$MNT/a"
        ln "$MNT/a" "$MNT/b"
        # both names looked up (and cached) before the changes, by stat and by readdirplus
        stat "$MNT/a" "$MNT/b" >/dev/null
        ls -la "$MNT" >/dev/null
        truncate -s 1 "$MNT/a"
        ls -la "$MNT" >/dev/null
        assert_eq 1 "$(stat -c %s "$MNT/b")" "size of b after truncating a"
        echo hello >"$MNT/b"
        ls -la "$MNT" >/dev/null
        assert_eq 6 "$(stat -c %s "$MNT/a")" "size of a after writing b"
        assert_file_content "$MNT/a" hello
        chmod 0600 "$MNT/b"
        assert_mode "$MNT/a" 0600
        assert_file_content "$UPPER/a" hello
        assert_eq "$(stat -c %i "$UPPER/a")" "$(stat -c %i "$UPPER/b")" "upper inode of both names"
}

test_hard_link_of_lower_file() {
        _mount_one_lower
        ln "$MNT/lower" "$MNT/ldir/link"
        assert_file_content "$MNT/ldir/link" lower-content
        assert_eq 2 "$(stat -c %h "$MNT/lower")" "st_nlink after link"
        assert_eq "$(stat -c %i "$MNT/lower")" "$(stat -c %i "$MNT/ldir/link")" "st_ino of both names"
        echo more >>"$MNT/ldir/link"
        assert_file_content "$MNT/lower" "lower-contentmore"
        assert_exists "$UPPER/ldir/link"
}

test_hard_link_nlink_after_unlinking_other_names() {
        L1=$(mk_layer l1)
        mk_file "$L1/d" lower
        mk_dir "$L1/b"
        sfs_mount "$L1"
        # list and stat everything after each step, as a program walking the tree does
        ls -laR "$MNT" >/dev/null
        ln "$MNT/d" "$MNT/b/x"
        ls -laR "$MNT" >/dev/null
        ln "$MNT/b/x" "$MNT/n2"
        ls -laR "$MNT" >/dev/null
        assert_eq "3 3 3" "$(stat -c %h "$MNT/d" "$MNT/b/x" "$MNT/n2" | tr '\n' ' ' | sed 's/ $//')" "st_nlink of the three names"
        rm "$MNT/n2"
        ls -laR "$MNT" >/dev/null
        rm "$MNT/d"
        ls -laR "$MNT" >/dev/null
        assert_eq 1 "$(stat -c %h "$MNT/b/x")" "st_nlink of the last name"
        assert_file_content "$MNT/b/x" lower
        ln "$MNT/b/x" "$MNT/again" || fail "link(2) of the last remaining name failed (st_nlink 0 makes the kernel refuse it)"
        assert_file_content "$MNT/again" lower
        assert_eq 2 "$(stat -c %h "$UPPER/b/x")" "upper st_nlink"
}

# The names link(2) gives a file made in the mount are one inode to the
# kernel: it goes on using them after the file's first name is removed or
# replaced (pjdfstest link/02.t and link/03.t), here and in another
# directory, for every kind of file.
test_hard_links_after_the_first_name_is_removed() {
        L1=$(mk_layer l1)
        mk_dir "$L1/ldir"
        sfs_mount "$L1"
        mkdir -p "$MNT/d1/d2"
        "$PYTHON" - "$MNT" <<'PY' || fail "links of a file whose first name is gone"
import os, stat, sys
os.chdir(sys.argv[1])
def make(kind, p):
    if kind == "file":
        open(p, "w").write("data")
    elif kind == "fifo":
        os.mkfifo(p)
    else:
        os.symlink("target", p)
for kind in ("file", "fifo", "symlink"):
    for first, other in (("a", "b"), ("d1/d2/a", "b"), ("a", "d1/d2/b"), ("ldir/a", "b")):
        make(kind, first)
        os.link(first, other, follow_symlinks=False)
        ino = os.lstat(other).st_ino
        os.unlink(first)
        os.link(other, first, follow_symlinks=False)  # before any stat of it
        st = os.lstat(other)
        assert st.st_nlink == 2 and st.st_ino == ino, (kind, first, "nlink", st.st_nlink)
        os.chmod(other, 0o640) if kind != "symlink" else None
        # a name replaced by rename(2) is gone as well
        make(kind, "new")
        os.rename("new", first)
        os.link(other, "c", follow_symlinks=False)
        st = os.lstat(other)
        assert st.st_nlink == 2 and st.st_ino == ino, (kind, first, "after the rename over it")
        for p in (first, other, "c"):
            os.unlink(p)
PY
        assert_eq "" "$(find "$UPPER" -mindepth 1 ! -path "$UPPER/d1*" ! -path "$UPPER/ldir*")" \
                "names left in the upper layer"
}

# chown(2) to -1:-1 updates the ctime, as on kernel overlayfs.
test_chown_to_nobody_in_particular_updates_ctime() {
        _mount_one_lower
        echo upper >"$MNT/up"
        local f before
        for f in up lower; do
                before=$(stat -c %Z "$MNT/$f")
                sleep 1.1
                "$PYTHON" -c 'import os, sys; os.chown(sys.argv[1], -1, -1)' "$MNT/$f"
                (($(stat -c %Z "$MNT/$f") > before)) || fail "ctime of $f unchanged"
        done
        assert_file_content "$L1/lower" lower-content
}

test_unlink_and_rmdir() {
        _mount_one_lower
        echo x >"$MNT/f"
        mkdir "$MNT/d"
        rm "$MNT/f"
        rmdir "$MNT/d"
        assert_enoent "$MNT/f" "$MNT/d" "$UPPER/f" "$UPPER/d"
        assert_errno ENOTDIR rmdir "$MNT/lower"
        assert_errno EISDIR unlink "$MNT/ldir"
}

test_truncate() {
        _mount_one_lower
        truncate -s 5 "$MNT/lower"
        assert_file_content "$MNT/lower" lower
        assert_file_content "$UPPER/lower" lower
        truncate -s 10000 "$MNT/lower"
        assert_eq 10000 "$(stat -c %s "$MNT/lower")" "size after extending"
        assert_eq 10000 "$(stat -c %s "$UPPER/lower")" "upper size after extending"
        truncate -s 0 "$MNT/lower"
        assert_eq 0 "$(stat -c %s "$UPPER/lower")" "upper size after truncate to 0"
}

test_utimens() {
        _mount_one_lower
        echo x >"$MNT/f"
        touch -m -d @1000000000.5 "$MNT/f"
        touch -a -d @900000000.25 "$MNT/f"
        assert_mtime "$MNT/f" 1000000000500000000
        assert_mtime "$UPPER/f" 1000000000500000000
        assert_eq 900000000250000000 "$("$PYTHON" -c 'import os,sys; print(os.stat(sys.argv[1]).st_atime_ns)' "$MNT/f")" "atime (ns)"
        touch -h -d @5 "$MNT/ldir"
        assert_mtime "$UPPER/ldir" 5000000000
}

test_mtime_updates_on_write() {
        _mount_one_lower
        echo x >"$MNT/f"
        touch -d @1000 "$MNT/f"
        echo y >>"$MNT/f"
        local m
        m=$(stat -c %Y "$MNT/f")
        ((m > 1000)) || fail "mtime not updated by a write ($m)"
}

test_chmod() {
        _mount_one_lower
        chmod 0751 "$MNT/lower"
        chmod 0700 "$MNT/ldir"
        assert_mode "$MNT/lower" 0751
        assert_mode "$UPPER/lower" 0751
        assert_mode "$UPPER/ldir" 0700
        chmod u+s,g+s "$MNT/lower"
        assert_mode "$UPPER/lower" 6751
}

test_chown() {
        need_root
        _mount_one_lower
        chown 3000:3001 "$MNT/lower"
        chown -h 3002:3003 "$MNT/ldir"
        ln -s lower "$MNT/sl"
        chown -h 3004:3005 "$MNT/sl"
        assert_owner "$MNT/lower" 3000:3001
        assert_owner "$UPPER/lower" 3000:3001
        assert_owner "$UPPER/ldir" 3002:3003
        assert_eq 3004:3005 "$(stat -c %u:%g "$UPPER/sl")" "owner of a symlink (chown -h)"
}

test_statfs() {
        _mount_one_lower
        local m u
        m=$(stat -f -c '%S %b' "$MNT")
        u=$(stat -f -c '%S %b' "$UPPER")
        assert_eq "$u" "$m" "statfs block size and block count of the mount vs the upper layer's fs"
        df "$MNT" >/dev/null || fail "df on the mount failed"
        assert_ne 0 "$(stat -f -c %l "$MNT")" "maximum name length"
}

test_fsync_file_and_dir() {
        _mount_one_lower
        fsutil fsync "$MNT/ldir/synced" >&2 || fail "fsync/fdatasync/fsyncdir"
        assert_file_content "$UPPER/ldir/synced" synced
}

test_fallocate() {
        need_cmd fallocate
        _mount_one_lower
        fallocate -l 1M "$MNT/fa"
        assert_eq 1048576 "$(stat -c %s "$MNT/fa")" "size after fallocate"
        local kib
        kib=$(du -k "$UPPER/fa" | cut -f1)
        ((kib >= 1024)) || fail "fallocate did not allocate in upper (${kib} KiB)"
        head -c 1048576 /dev/urandom >"$MNT/punch"
        fallocate -p -o 0 -l 524288 "$MNT/punch" || fail "fallocate --punch-hole through the mount"
        assert_eq 1048576 "$(stat -c %s "$MNT/punch")" "size after punching a hole"
        assert_eq 0 "$(head -c 524288 "$MNT/punch" | tr -d '\0' | wc -c)" "non-zero bytes in the punched range"
        kib=$(du -k "$UPPER/punch" | cut -f1)
        ((kib <= 600)) || fail "punched file still uses ${kib} KiB in upper"
}

test_copy_file_range() {
        _mount_one_lower
        head -c 3000000 /dev/urandom >"$MNT/src"
        fsutil copy-file-range "$MNT/src" "$MNT/dst" >&2 || fail "copy_file_range within the mount"
        assert_same_content "$MNT/src" "$MNT/dst"
        assert_same_content "$UPPER/src" "$UPPER/dst"
        fsutil copy-file-range "$MNT/lower" "$MNT/ldir/copy" >&2 || fail "copy_file_range from a lower file"
        assert_file_content "$UPPER/ldir/copy" lower-content
}

test_seek_data_and_hole() {
        _mount_one_lower
        fsutil seek-data "$MNT/sparse" >&2 || fail "SEEK_DATA/SEEK_HOLE through the mount (see above)"
        assert_eq $((4 << 20)) "$(stat -c %s "$UPPER/sparse")" "size in upper"
}

test_seek_data_on_lower_file() {
        L1=$(mk_layer l1)
        truncate -s 8M "$L1/sparse"
        printf data | dd of="$L1/sparse" bs=1 seek=$((2 << 20)) conv=notrunc status=none
        sfs_mount "$L1"
        local off
        off=$("$PYTHON" -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(os.lseek(fd, 0, os.SEEK_DATA))' "$MNT/sparse")
        assert_eq $((2 << 20)) "$off" "SEEK_DATA from 0 on a sparse lower file"
}

test_flock_and_posix_locks() {
        _mount_one_lower
        echo lockme >"$MNT/lockfile"
        fsutil locks "$MNT/lockfile" >&2 || fail "locks (see above)"
        fsutil locks "$MNT/lower" >&2 || fail "locks on a lower file (see above)"
}

test_access() {
        _mount_one_lower
        echo x >"$MNT/plain"
        chmod 0644 "$MNT/plain"
        assert_errno OK access_w "$MNT/plain"
        test -x "$MNT/plain" && fail "access(X_OK) true for a 0644 file"
        chmod 0755 "$MNT/plain"
        test -x "$MNT/plain" || fail "access(X_OK) false for a 0755 file"
        test -r "$MNT/lower" || fail "access(R_OK) false for a lower file"
        assert_enoent "$UPPER/lower"
}

test_access_denied_for_other_user() {
        need_root
        ensure_test_user || skip "cannot create user $TEST_USER"
        L1=$(mk_layer l1)
        mk_file "$L1/secret" secret 0600
        mk_file "$L1/public" public 0644
        sfs_mount "$L1"
        runuser -u "$TEST_USER" -- cat "$MNT/public" >/dev/null 2>&1 ||
                fail "$TEST_USER cannot read a 0644 file of a root mount"
        if runuser -u "$TEST_USER" -- cat "$MNT/secret" >/dev/null 2>&1; then
                fail "$TEST_USER can read a 0600 root file (default_permissions not in effect)"
        fi
        if runuser -u "$TEST_USER" -- touch "$MNT/public" 2>/dev/null; then
                fail "$TEST_USER can write a 0644 root file"
        fi
        assert_enoent "$UPPER/public"
}

test_odirect_honoured() {
        _mount_one_lower
        fsutil odirect "$MNT/direct" "$UPPER/../odirect-probe" >&2 || fail "O_DIRECT (see above)"
        assert_eq 8192 "$(stat -c %s "$UPPER/direct")" "size in upper"
}

test_shared_writable_mmap() {
        _mount_one_lower
        head -c 65536 /dev/zero >"$MNT/mapped"
        fsutil mmap-shared "$MNT/mapped" >&2 || fail "shared mmap on an upper file (see above)"
        assert_eq MMAP! "$(head -c 5 "$UPPER/mapped")" "head of the upper file"
        sfs_remount
        assert_eq MMAP! "$(head -c 5 "$MNT/mapped")" "head after remount"
}

test_shared_writable_mmap_of_lower_file() {
        L1=$(mk_layer l1)
        head -c 65536 /dev/zero | tr '\0' 'z' >"$L1/mapped"
        sfs_mount "$L1"
        fsutil mmap-shared "$MNT/mapped" >&2 || fail "shared mmap on a lower file (see above)"
        assert_eq MMAP! "$(head -c 5 "$UPPER/mapped")" "head of the copied-up file"
        assert_eq zzzzz "$(head -c 5 "$L1/mapped")" "lower file"
}

test_deleted_open_file_stays_usable() {
        _mount_one_lower
        echo "upper file" >"$MNT/open-upper"
        fsutil deleted-open "$MNT/open-upper" >&2 || fail "deleted upper file through its fd (see above)"
        assert_enoent "$MNT/open-upper" "$UPPER/open-upper"
}

test_deleted_open_lower_file_stays_usable() {
        _mount_one_lower
        fsutil deleted-open "$MNT/lower" >&2 || fail "deleted lower file through its fd (see above)"
        assert_enoent "$MNT/lower"
        assert_whiteout_on_disk "$UPPER/lower"
        assert_file_content "$L1/lower" lower-content
}

# Opening /proc/self/fd/N of a removed file opens that file again, not the
# file that took its name since; and writes through it go to it.
test_reopen_of_a_removed_open_file() {
        _mount_one_lower
        echo original >"$MNT/f"
        "$PYTHON" - "$MNT/f" <<'PY' || fail "reopen of a removed file through /proc/self/fd"
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDONLY)
os.unlink(p)
with open(p, "w") as f:
    f.write("impostor\n")
with open("/proc/self/fd/%d" % fd) as f:
    got = f.read()
    assert got == "original\n", "read %r" % got
with open("/proc/self/fd/%d" % fd, "r+") as f:
    f.write("O")
got = os.pread(fd, 100, 0)
assert got == b"Original\n", "written through the reopened fd: %r" % got
PY
        assert_file_content "$MNT/f" impostor
        assert_file_content "$UPPER/f" impostor
}

# The same without opens (zero_open=1): the daemon learns only at the first
# write that a deleted lower file was open for writing.
test_zero_open_deleted_open_lower_file_stays_usable() {
        L1=$(mk_layer l1)
        mk_file "$L1/lower" lower-content
        sfs_mount -o zero_open=1 "$L1"
        fsutil deleted-open "$MNT/lower" >&2 || fail "deleted lower file through its fd (see above)"
        assert_enoent "$MNT/lower"
        assert_whiteout_on_disk "$UPPER/lower"
        assert_file_content "$L1/lower" lower-content
        # nothing of the deleted file is left in the work dir or the upper layer
        assert_eq "" "$(find "$WORK" -mindepth 1 -path "$WORK/sfs-index" -prune -o -type f -print)" \
                "files left in the work dir"
}

# ... and an upper file: its handle pinned at the unlink serves reads too
test_zero_open_deleted_open_upper_file_stays_usable() {
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount -o zero_open=1 "$L1"
        echo upper-content >"$MNT/d/f"
        local got
        got=$("$PYTHON" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.unlink(sys.argv[1])
first = os.read(fd, 100).decode().strip()
os.write(fd, b"more\n")
os.lseek(fd, 0, os.SEEK_SET)
print(first, os.read(fd, 100).decode().split())
' "$MNT/d/f") || fail "read or write of a deleted upper file through its fd"
        assert_eq "upper-content ['upper-content', 'more']" "$got" "data through the fd"
        assert_enoent "$MNT/d/f"
        assert_enoent "$UPPER/d/f"
}

test_read_only_fd_of_lower_then_write_elsewhere() {
        _mount_one_lower
        # an fd opened before a copy-up keeps reading the right data after it
        exec 7<"$MNT/lower"
        echo replaced >"$MNT/lower"
        local got
        got=$(cat <&7)
        exec 7<&-
        [[ $got == lower-content || $got == replaced ]] || fail "read through an fd opened before copy-up: [$got]"
        assert_file_content "$MNT/lower" replaced
        assert_file_content "$UPPER/lower" replaced
}

# O_TMPFILE: an unnamed file in the upper directory, named by linkat(2).
test_o_tmpfile_then_linkat() {
        [[ ${SFS_TEST_OPTS:-} != *zero_open=1* ]] || skip "zero_open=1 refuses O_TMPFILE"
        L1=$(mk_layer l1)
        mk_file "$L1/d/lower" lower-content
        sfs_mount "$L1"
        "$PYTHON" - "$MNT" <<'PY' >&2 || fail "O_TMPFILE through the mount (see above)"
import ctypes, errno, os, stat, sys
mnt = sys.argv[1]
d = os.path.join(mnt, "d")
libc = ctypes.CDLL(None, use_errno=True)
def link_fd(fd, path):  # linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH)
    if libc.linkat(fd, b"", -100, path.encode(), 0x1000) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o640)
os.write(fd, b"tmp-content\n")
st = os.fstat(fd)
if st.st_nlink != 0 or st.st_size != 12 or stat.S_IMODE(st.st_mode) != 0o640:
    sys.exit("fstat of the unnamed file: nlink %d size %d mode %o" %
             (st.st_nlink, st.st_size, stat.S_IMODE(st.st_mode)))
os.fchmod(fd, 0o604)
os.setxattr(fd, "user.tag", b"v1")
if os.getxattr(fd, "user.tag") != b"v1" or "user.tag" not in os.listxattr(fd):
    sys.exit("xattrs of the unnamed file")
if sorted(os.listdir(d)) != ["lower"]:
    sys.exit("the unnamed file shows in its directory: %s" % os.listdir(d))
link_fd(fd, os.path.join(d, "named"))
st = os.stat(os.path.join(d, "named"))
if st.st_nlink != 1 or stat.S_IMODE(st.st_mode) != 0o604 or os.fstat(fd).st_ino != st.st_ino:
    sys.exit("the linked file: nlink %d mode %o" % (st.st_nlink, stat.S_IMODE(st.st_mode)))
os.write(fd, b"more\n")
os.close(fd)
if open(os.path.join(d, "named")).read() != "tmp-content\nmore\n":
    sys.exit("content of the linked file")
if os.getxattr(os.path.join(d, "named"), "user.tag") != b"v1":
    sys.exit("xattr of the linked file")
# closed without a name: nothing is left
fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b"gone")
os.close(fd)
# O_EXCL: never linkable
fd = os.open(mnt, os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
try:
    link_fd(fd, os.path.join(mnt, "excl"))
    sys.exit("an O_EXCL O_TMPFILE file was linked")
except OSError as e:
    if e.errno != errno.ENOENT:
        raise
os.close(fd)
if sorted(os.listdir(d)) != ["lower", "named"] or "excl" in os.listdir(mnt):
    sys.exit("listing after: %s %s" % (os.listdir(d), os.listdir(mnt)))
PY
        assert_file_content "$UPPER/d/named" "tmp-content
more"
        assert_mode "$UPPER/d/named" 0604
        assert_xattr "$UPPER/d/named" user.tag v1
        assert_listing "$UPPER/d" "named"
        assert_enoent "$UPPER/excl"
        assert_file_content "$L1/d/lower" lower-content
        assert_eq "" "$(find "$WORK" -mindepth 1 -path "$WORK/sfs-index" -prune -o -type f -print)" \
                "files left in the work dir"
}

# ... made by another user: theirs, also on disk
test_o_tmpfile_owner_is_caller() {
        [[ ${SFS_TEST_OPTS:-} != *zero_open=1* ]] || skip "zero_open=1 refuses O_TMPFILE"
        need_root
        L1=$(mk_layer l1)
        mk_dir "$L1/pub" 0777
        sfs_mount "$L1"
        setpriv --reuid=2345 --regid=2346 --clear-groups "$PYTHON" -c '
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600)
os.write(fd, b"x")
st = os.fstat(fd)
if (st.st_uid, st.st_gid) != (2345, 2346):
    sys.exit("owner of the unnamed file: %d:%d" % (st.st_uid, st.st_gid))
# linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, path, AT_SYMLINK_FOLLOW)
libc = ctypes.CDLL(None, use_errno=True)
if libc.linkat(-100, b"/proc/self/fd/%d" % fd, -100, (sys.argv[1] + "/mine").encode(), 0x400) < 0:
    sys.exit("linkat: " + os.strerror(ctypes.get_errno()))
' "$MNT/pub" || fail "O_TMPFILE as another user"
        assert_owner "$MNT/pub/mine" 2345:2346
        assert_owner "$UPPER/pub/mine" 2345:2346
        assert_mode "$UPPER/pub/mine" 0600
}

# A lower file opened again for reading gets its daemon fd only at the first
# READ (file.c): after its pages left the kernel's cache, every use of such
# an fd still finds the file, or the copy made meanwhile.
test_reopened_lower_file_after_its_cache_is_dropped() {
        L1=$(mk_layer l1)
        head -c 300000 /dev/urandom >"$L1/blob"
        cp "$L1/blob" "$T/blob.orig"
        sfs_mount "$L1"
        "$PYTHON" - "$MNT" "$T/blob.orig" <<'PY' >&2 || fail "use of a reopened lower file (see above)"
import os, sys
mnt, orig = sys.argv[1], open(sys.argv[2], "rb").read()
path = os.path.join(mnt, "blob")
def drop(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
def check(what, got, want):
    if got != want:
        sys.exit("%s: %d bytes, not the %d expected" % (what, len(got), len(want)))
with open(path, "rb") as f:          # the first open reads the file
    check("first read", f.read(), orig)
fd = os.open(path, os.O_RDONLY)
drop(fd)
check("pread after the cache was dropped", os.pread(fd, 400000, 0), orig)
check("pread in the middle", os.pread(fd, 1000, 123456), orig[123456:124456])
if os.fstat(fd).st_size != len(orig):
    sys.exit("fstat size %d" % os.fstat(fd).st_size)
if os.lseek(fd, 0, os.SEEK_END) != len(orig) or os.lseek(fd, 0, os.SEEK_DATA) != 0:
    sys.exit("lseek")
os.close(fd)
fd = os.open(path, os.O_RDONLY)
drop(fd)
out = os.open(os.path.join(mnt, "copy"), os.O_WRONLY | os.O_CREAT, 0o644)
done = 0
while done < len(orig):
    n = os.copy_file_range(fd, out, len(orig) - done)
    if n == 0:
        sys.exit("copy_file_range stopped at %d" % done)
    done += n
os.close(out)
os.close(fd)
check("copy_file_range", open(os.path.join(mnt, "copy"), "rb").read(), orig)
# opened before a copy-up, read after it: the copy's data
fd = os.open(path, os.O_RDONLY)
with open(path, "r+b") as w:
    w.write(b"CHANGED")
drop(fd)
check("read after a copy-up", os.pread(fd, 400000, 0), b"CHANGED" + orig[7:])
os.close(fd)
PY
        assert_same_content "$L1/blob" "$T/blob.orig"
        assert_same_content "$UPPER/copy" "$T/blob.orig"
        { printf CHANGED; tail -c +8 "$T/blob.orig"; } >"$T/blob.changed"
        assert_same_content "$UPPER/blob" "$T/blob.changed"
}

# A tree deeper than PATH_MAX, made and used with relative paths (as
# pjdfstest's ENAMETOOLONG tests do): the daemon's own paths into the
# layers are longer than the kernel takes in one call.
_deep_tree() { # MODE ROOT: make a deep tree in a layer / act on it through the mount
        "$PYTHON" - "$@" <<'PY'
import errno, os, sys
mode, root = sys.argv[1], sys.argv[2]
comp = "d" * 200
os.chdir(root)
if mode == "lower":
    for _ in range(25):                    # 25 x 201 bytes deep
        os.mkdir(comp); os.chdir(comp)
    open("f", "w").write("deep\n")
    sys.exit(0)
for _ in range(25):
    os.chdir(comp)
if mode == "check":                        # after a remount, and on the upper layer
    assert open("f").read() == "deep\nmore\n", "f"
    assert os.stat("f").st_mode & 0o7777 == 0o600
    assert os.getxattr("f", "user.deep") == b"1"
    assert sorted(os.listdir(".")) == ["f", "new"], os.listdir(".")
    sys.exit(0)
def ok(what, fn):
    try:
        fn()
    except OSError as e:
        sys.exit("%s: %s" % (what, errno.errorcode[e.errno]))
ok("read", lambda: open("f").read() == "deep\n" or sys.exit("read: wrong content"))
ok("chmod", lambda: os.chmod("f", 0o600))
ok("append", lambda: open("f", "a").write("more\n"))
ok("setxattr", lambda: os.setxattr("f", "user.deep", b"1"))
ok("listxattr", lambda: "user.deep" in os.listxattr("f") or sys.exit("listxattr"))
ok("create", lambda: open("n", "w").write("n"))
ok("link", lambda: os.link("n", "n2"))
ok("rename", lambda: os.rename("n2", "n3"))
ok("symlink", lambda: os.symlink("f", "s"))
ok("mkfifo", lambda: os.mkfifo("p"))
ok("unlink", lambda: [os.unlink(x) for x in ("n", "n3", "s", "p")])
ok("mkdir", lambda: os.mkdir("new"))
ok("mkdir/rmdir", lambda: (os.mkdir("gone"), os.rmdir("gone")))
PY
}

test_paths_longer_than_path_max() {
        L1=$(mk_layer l1)
        mkdir -p "$L1/top"
        _deep_tree lower "$L1/top" || fail "cannot make the lower tree"
        sfs_mount "$L1"
        _deep_tree use "$MNT/top" || fail "operations in a deep tree failed"
        _deep_tree check "$MNT/top" || fail "the merged view is wrong"
        _deep_tree check "$UPPER/top" || fail "the upper layer is wrong"
        sfs_remount
        _deep_tree check "$MNT/top" || fail "the merged view is wrong after a remount"
}

test_large_file_write_read() {
        _mount_one_lower
        head -c $((64 << 20)) /dev/urandom >"$T/big"
        cp "$T/big" "$MNT/big"
        assert_same_content "$T/big" "$MNT/big"
        assert_same_content "$T/big" "$UPPER/big"
}

# With emulated owners (xattr_permissions=2), chown and chmod of a file that
# is open but unlinked go to its override xattr too, not to the file.
test_emulated_chown_of_unlinked_open_file() {
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount -o xattr_permissions=2 "$L1"
        echo data >"$MNT/d/f"
        # (the kernel lets only root give a file away)
        local got owner=7:8
        ((IS_ROOT)) || owner=$(id -u):$(id -g)
        got=$("$PYTHON" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.unlink(sys.argv[1])
uid, gid = map(int, sys.argv[2].split(":"))
os.fchown(fd, uid, gid)
os.fchmod(fd, 0o4711)
st = os.fstat(fd)
print("%o %d:%d" % (st.st_mode & 0o7777, st.st_uid, st.st_gid), os.read(fd, 10).decode().strip())
' "$MNT/d/f" "$owner") || fail "fchown/fchmod of an unlinked open file failed"
        assert_eq "4711 $owner data" "$got" "mode, owner and data through the fd"
        assert_enoent "$MNT/d/f"
}

# Attributes the kernel asks for through an open file (after a write, for
# the size) show the emulated owner and mode too, not the file's on disk.
test_emulated_owner_after_write_through_fd() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" data 0644
        sfs_mount -o xattr_permissions=2 "$L1"
        local owner=7:8
        ((IS_ROOT)) || owner=$(id -u):$(id -g)
        chown "$owner" "$MNT/f"
        chmod 640 "$MNT/f"
        local got
        got=$("$PYTHON" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"more")
os.lseek(fd, 0, os.SEEK_END)
os.read(fd, 10)
st = os.fstat(fd)
st2 = os.stat(sys.argv[1])
print("%o %d:%d %o %d:%d" % (st.st_mode & 0o7777, st.st_uid, st.st_gid,
                             st2.st_mode & 0o7777, st2.st_uid, st2.st_gid))
' "$MNT/f")
        assert_eq "640 $owner 640 $owner" "$got" "owner and mode through the fd and by path"
}

run_tests "$@"
