#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Extended attributes through the mount; overlay-private names never shown.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

_list() { # PATH -> sorted xattr names (all namespaces the caller may see)
        getfattr -h --absolute-names -d -m - "$1" 2>/dev/null | sed -n 's/=.*//p' | grep -v '^#' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

test_set_get_list_remove_on_new_file() {
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        echo x >"$MNT/f"
        setfattr -n user.a -v 1 "$MNT/f"
        setfattr -n user.b -v "two words" "$MNT/f"
        assert_xattr "$MNT/f" user.a 1
        assert_xattr "$MNT/f" user.b "two words"
        assert_eq "user.a user.b" "$(_list "$MNT/f")" "listxattr"
        assert_xattr "$UPPER/f" user.b "two words"
        setfattr -x user.a "$MNT/f"
        assert_no_xattr "$MNT/f" user.a
        assert_no_xattr "$UPPER/f" user.a
        assert_errno ENODATA getxattr "$MNT/f" user.a
        assert_errno ENODATA removexattr "$MNT/f" user.a
}

test_get_lower_xattr_without_copy_up() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.lower yes
        sfs_mount "$L1"
        assert_xattr "$MNT/f" user.lower yes
        assert_eq user.lower "$(_list "$MNT/f")" "listxattr of a lower file"
        assert_enoent "$UPPER/f"
}

test_remove_missing_xattr_of_lower_file_copies_nothing_up() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.kept k
        mk_dir "$L1/d"
        sfs_mount "$L1"
        assert_errno ENODATA removexattr "$MNT/f" user.missing
        assert_errno ENODATA removexattr "$MNT/d" user.missing
        assert_enoent "$UPPER/f"
        assert_enoent "$UPPER/d"
        # a name it has is removed in the copy
        setfattr -x user.kept "$MNT/f"
        assert_no_xattr "$MNT/f" user.kept
        assert_no_xattr "$UPPER/f" user.kept
        assert_xattr "$L1/f" user.kept k
}

test_set_xattr_on_lower_file_copies_up() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.kept k
        sfs_mount "$L1"
        setfattr -n user.new -v n "$MNT/f"
        assert_xattr "$MNT/f" user.new n
        assert_xattr "$MNT/f" user.kept k
        assert_xattr "$UPPER/f" user.new n
        assert_xattr "$UPPER/f" user.kept k
        assert_no_xattr "$L1/f" user.new
}

test_remove_lower_xattr() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/f" x
        mk_xattr "$L1/d" user.dirattr d
        sfs_mount "$L1"
        setfattr -x user.dirattr "$MNT/d"
        assert_no_xattr "$MNT/d" user.dirattr
        assert_no_xattr "$UPPER/d" user.dirattr
        assert_xattr "$L1/d" user.dirattr d
}

test_xattr_on_dir_and_symlink() {
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        mkdir "$MNT/d"
        setfattr -n user.d -v dir "$MNT/d"
        assert_xattr "$UPPER/d" user.d dir
        ln -s d "$MNT/l"
        # user.* xattrs are not permitted on symlinks (kernel rule)
        assert_errno EPERM setxattr "$MNT/l" user.x v
}

test_trusted_xattr_as_root() {
        need_root
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" trusted.app v
        sfs_mount "$L1"
        assert_xattr "$MNT/f" trusted.app v
        setfattr -n trusted.other -v w "$MNT/f"
        assert_xattr "$UPPER/f" trusted.other w
}

test_large_xattr_value() {
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        echo x >"$MNT/f"
        local v
        v=$(head -c 3000 /dev/zero | tr '\0' 'v')
        setfattr -n user.big -v "$v" "$MNT/f"
        assert_xattr "$MNT/f" user.big "$v"
        assert_xattr "$UPPER/f" user.big "$v"
}

test_private_names_never_listed() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/o/hidden" h
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.visible 1
        mk_xattr "$L1/f" user.overlay.origin junk
        mk_xattr "$L1/f" user.fuseoverlayfs.something junk
        mk_opaque "$L1/o" user
        mk_opaque "$L1/o" fuseoverlayfs
        if ((IS_ROOT)); then
                mk_xattr "$L1/f" trusted.overlay.origin junk
                mk_opaque "$L1/o" trusted
                mk_xattr "$L1/f" trusted.visible 2
        fi
        sfs_mount "$L1" "$L2"
        local want=user.visible
        ((IS_ROOT)) && want="trusted.visible user.visible"
        assert_eq "$want" "$(_list "$MNT/f")" "xattrs of a lower file with private names"
        assert_eq "" "$(_list "$MNT/o")" "xattrs of an opaque lower dir"
        # files the daemon itself marked: copied up, metacopy, renamed dir, opaque dir
        chmod 0600 "$MNT/f"
        mkdir -p "$MNT/dir/sub"
        mv "$MNT/o" "$MNT/o2" 2>/dev/null || true
        rm -r "$MNT/dir"
        mkdir "$MNT/dir"
        assert_eq "$want" "$(_list "$MNT/f")" "xattrs of a file after metadata copy-up"
        assert_eq "" "$(_list "$MNT/dir")" "xattrs of a dir made opaque by the daemon"
        local p
        for p in "$MNT/f" "$MNT/dir" "$MNT"/o*; do
                getfattr -h --absolute-names -d -m - "$p" 2>/dev/null | grep -E '^(trusted\.overlay|user\.overlay|user\.fuseoverlayfs)\.' &&
                        fail "$p: overlay-private xattr visible through the mount"
        done
        return 0
}

test_private_names_not_gettable() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.overlay.redirect /elsewhere
        sfs_mount "$L1"
        local got
        got=$(fsutil try getxattr "$MNT/f" user.overlay.redirect)
        [[ $got != OK ]] || fail "user.overlay.redirect readable through the mount"
}

# The daemon's own xattrs in upper must live in the overlay namespace the
# kernel hides: trusted.overlay.* as root (else kernel overlayfs shows them),
# user.overlay.* (or fuse-overlayfs's user.fuseoverlayfs.*) unprivileged.
test_daemon_xattrs_only_in_overlay_namespace() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/d/f" f
        mk_file "$L2/d/sub/g" g
        mk_file "$L2/big" "$(head -c 100000 /dev/zero | tr '\0' 'b')"
        mk_file "$L1/d/h" h
        mk_file "$L1/hl" hl
        mk_hardlink "$L1/hl" "$L1/hl2"
        sfs_mount "$L1" "$L2"
        echo w >>"$MNT/d/f"
        chmod 0600 "$MNT/big"
        mv "$MNT/d/sub" "$MNT/sub2" 2>/dev/null || true
        mv "$MNT/d" "$MNT/d2" 2>/dev/null || true
        rm -r "$MNT/sub2" 2>/dev/null || true
        mkdir "$MNT/sub2"
        echo x >>"$MNT/hl"
        setfattr -n user.mine -v 1 "$MNT/hl2"
        sfs_umount
        local allowed='(trusted\.overlay\.|user\.mine$)'
        ((IS_ROOT)) || allowed='(user\.overlay\.|user\.fuseoverlayfs\.|user\.mine$)'
        local bad
        bad=$(cd "$UPPER" && getfattr -R -h -d -m - . 2>/dev/null | awk '/^# file:/ { f = $3 } /=/ { sub(/=.*/, ""); print f ": " $0 }' |
                grep -vE ": $allowed" | grep -vE ': (security\.|system\.posix_acl)' | head -n 10 || true)
        [[ -z $bad ]] || fail "xattrs in upper outside the hidden overlay namespace (visible under kernel overlayfs): $bad"
}

test_listxattr_size_query() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_xattr "$L1/f" user.aaaa 1
        mk_xattr "$L1/f" user.overlay.private 1
        sfs_mount "$L1"
        # listxattr(path, NULL, 0) must report enough room for the filtered list
        local got
        got=$("$PYTHON" -c '
import ctypes, os, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
p = os.fsencode(sys.argv[1])
n = libc.llistxattr(p, None, 0)
buf = ctypes.create_string_buffer(max(n, 1))
m = libc.llistxattr(p, buf, n)
print("size-query-too-small" if n < m else "ok", buf.raw[:m].split(b"\0")[:-1])' "$MNT/f")
        assert_eq "ok [b'user.aaaa']" "$got" "listxattr size query and list"
}

# A parent's default ACL, not the umask, sets a new entry's permissions
# (the kernel leaves the umask to the daemon): also for an entry that
# replaces a whiteout, which is made away from its parent.
test_default_acl_replaces_umask() {
        need_cmd setfacl
        L1=$(mk_layer l1)
        mk_file "$L1/d/old" old
        mk_dir "$L1/d/olddir"
        chmod 0777 "$L1/d"
        setfacl -d -m u::rwx,g::r-x,o::---,u:4242:rwx,m::rwx "$L1/d" || skip "no ACLs on the test file system"
        sfs_mount "$L1"
        rm "$MNT/d/old"
        rm -r "$MNT/d/olddir"
        (
                umask 077
                touch "$MNT/d/new" "$MNT/d/old"
                mkdir "$MNT/d/newdir" "$MNT/d/olddir"
        )
        local f
        for f in new old; do
                assert_mode "$MNT/d/$f" 0660
                assert_mode "$UPPER/d/$f" 0660
                assert_eq "user::rw- user:4242:rwx group::r-x mask::rw- other::---" \
                        "$(getfacl -cn "$MNT/d/$f" 2>/dev/null | sed 's/\t.*//' | tr '\n' ' ' | sed 's/ *$//')" "ACL of d/$f"
        done
        for f in newdir olddir; do
                assert_mode "$MNT/d/$f" 0770
                assert_eq "user::rwx user:4242:rwx group::r-x mask::rwx other::---" \
                        "$(getfacl -cdn "$MNT/d/$f" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')" "default ACL of d/$f"
        done
}

test_umask_applies_without_default_acl() {
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount "$L1"
        (
                umask 027
                touch "$MNT/d/f"
                mkdir "$MNT/d/sub"
                mkfifo "$MNT/d/p"
        )
        assert_mode "$MNT/d/f" 0640
        assert_mode "$MNT/d/sub" 0750
        assert_mode "$MNT/d/p" 0640
        assert_mode "$UPPER/d/f" 0640
}

# The daemon remembers that a directory has no default ACL; setting one
# through the mount must count from the next creation on.
test_default_acl_set_after_creations_in_the_dir() {
        need_cmd setfacl
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount "$L1"
        (
                umask 077
                touch "$MNT/d/before"
                mkdir "$MNT/d/sub"
                touch "$MNT/d/sub/before"
        )
        assert_mode "$MNT/d/before" 0600
        setfacl -d -m u::rwx,g::r-x,o::r-x "$MNT/d" || skip "no ACLs on the test file system"
        setfacl -d -m u::rwx,g::rwx,o::--- "$MNT/d/sub"
        (
                umask 077
                touch "$MNT/d/after" "$MNT/d/sub/after"
        )
        assert_mode "$MNT/d/after" 0644
        assert_mode "$UPPER/d/after" 0644
        assert_mode "$MNT/d/sub/after" 0660
        setfacl -k "$MNT/d"
        (
                umask 077
                touch "$MNT/d/removed"
        )
        assert_mode "$MNT/d/removed" 0600
}

# A file made through the mount has no file capabilities, which the daemon
# answers without asking the disk; one set later, through any of its names,
# is seen through every name.
test_capability_of_a_new_file() {
        need_root
        need_cmd setcap
        L1=$(mk_layer l1)
        mk_dir "$L1/d"
        sfs_mount "$L1"
        printf 'data' >"$MNT/d/f"
        assert_no_xattr "$MNT/d/f" security.capability
        setcap cap_net_raw+ep "$MNT/d/f" || skip "cannot set file capabilities here"
        assert_true "capability through the mount" grep -Eq 'cap_net_raw[=+]ep' <<<"$(getcap "$MNT/d/f")"
        assert_true "capability on disk" getfattr -n security.capability "$UPPER/d/f"
        printf 'more' >>"$MNT/d/f"
        assert_eq "" "$(getcap "$MNT/d/f")" "a write drops the capability"
        assert_no_xattr "$UPPER/d/f" security.capability
        # a second name, looked up afresh (its own node) while the first
        # stays held
        local fd
        printf 'data' >"$MNT/d/g"
        ln "$MNT/d/g" "$MNT/d/h"
        exec {fd}<"$MNT/d/g"
        sync
        echo 2 >/proc/sys/vm/drop_caches
        setcap cap_net_raw+ep "$MNT/d/h"
        assert_true "capability set through the other name" grep -Eq 'cap_net_raw[=+]ep' <<<"$(getcap "$MNT/d/g")"
        exec {fd}<&-
}

# Xattrs through the fd of an upper file removed while open are the file's
# own, never those of a new file that took its name since.
test_xattrs_of_a_removed_open_file() {
        L1=$(mk_layer l1)
        sfs_mount "$L1"
        echo old >"$MNT/f"
        "$PYTHON" - "$MNT/f" <<'PY' >&2 || fail "xattrs through the fd of a removed file (see above)"
import os, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDWR)
os.unlink(path)
with open(path, "w") as f:
    f.write("new\n")
os.setxattr(fd, "user.old", b"1")
if os.getxattr(fd, "user.old") != b"1" or os.listxattr(fd) != ["user.old"]:
    sys.exit("xattrs through the fd: %s" % os.listxattr(fd))
os.removexattr(fd, "user.old")
os.setxattr(fd, "user.kept", b"2")
if os.listxattr(path):
    sys.exit("the new file got xattrs: %s" % os.listxattr(path))
PY
        assert_file_content "$UPPER/f" new
        assert_eq "" "$(_list "$UPPER/f")" "xattrs of the new file on disk"
}

run_tests "$@"
