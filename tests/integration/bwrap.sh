#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# stratafs with bubblewrap (issue 5 "Sandboxes"): a busybox root file system is
# the lower layer, stratafs merges it with an upper dir, and bwrap runs
# commands with the mount as its root (`bwrap --bind MNT / --proc /proc --dev
# /dev --tmpfs /tmp ...`) -- as root, and as the unprivileged user $TEST_USER
# who also runs the daemon (bwrap --unshare-user --uid 0 --gid 0).  After the
# sandbox exits, the upper dir on disk is checked (contract 2 formats), then a
# remount shows the same tree.
#
# Output is TAP: one line per test_* function (each run in a subshell), then
# the plan.  Arguments select tests by (sub)name.
#
# Environment: STRATAFS (default /work/main/build/unionfs/stratafs),
# TEST_USER (stratatest), VERBOSE=1 (print the output of passing tests),
# KEEP=1 (keep the temp dir).
set -uo pipefail

STRATAFS=${STRATAFS:-/work/main/build/unionfs/stratafs}
TEST_USER=${TEST_USER:-stratatest}
IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1

P= # private dir of the whole run
skip() {
        printf '%s\n' "$*" >"$P/.skip"
        exit 77
}
fail() {
        echo "FAIL: $*" >&2
        exit 1
}
assert_eq() { # EXPECTED ACTUAL WHAT
        [[ "$1" == "$2" ]] || fail "${3:-value}: expected [$1], got [$2]"
}

# ------------------------------------------------------------------ helpers

# as_user CMD...: CMD as TEST_USER (or as ourselves when not root)
as_user() {
        if ((IS_ROOT)); then
                runuser -u "$TEST_USER" -- "$@"
        else
                "$@"
        fi
}

# the test's own dirs: $T/{upper,work,mnt}, daemon log $T/stratafs.log
# new_case WHO (root|user): WHO owns them; LOWER is a copy of the rootfs owned
# by WHO (an unprivileged user's image is its own files)
new_case() {
        WHO=$1
        T=$(mktemp -d "$P/case.XXXXXX")
        chmod 0755 "$T"
        mkdir -p "$T/upper" "$T/work" "$T/mnt"
        LOWER=$P/rootfs-$WHO
        if [[ $WHO == user ]] && ((IS_ROOT)); then
                chown "$TEST_USER:" "$T" "$T/upper" "$T/work" "$T/mnt"
        fi
        SFS_PID=
        SFS_LOG=$T/stratafs.log
        : >"$SFS_LOG"
        chmod 0666 "$SFS_LOG"
        trap case_cleanup EXIT
}

case_cleanup() {
        local rc=$?
        if [[ -n ${SFS_PID:-} ]]; then
                _umount_cmd "$T/mnt" 2>/dev/null || fusermount3 -uz "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null
                local i
                for ((i = 0; i < 50; i++)); do
                        kill -0 "$SFS_PID" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$SFS_PID" 2>/dev/null
        fi
        exit "$rc"
}

_umount_cmd() {
        if [[ $WHO == user ]]; then as_user fusermount3 -u "$1"; else fusermount3 -u "$1"; fi
}

# sfs_mount [OPTS]: mount LOWER + $T/upper on $T/mnt as WHO, in the foreground
# (a background job of ours), and wait until the mount answers
sfs_mount() {
        local o="lowerdir=$LOWER,upperdir=$T/upper,workdir=$T/work${1:+,$1}"
        echo "+ [$WHO] stratafs -f -o $o $T/mnt" >>"$SFS_LOG"
        if [[ $WHO == user ]]; then
                as_user "$STRATAFS" -f -o "$o" "$T/mnt" >>"$SFS_LOG" 2>&1 </dev/null &
        else
                "$STRATAFS" -f -o "$o" "$T/mnt" >>"$SFS_LOG" 2>&1 </dev/null &
        fi
        SFS_PID=$!
        local i
        for ((i = 0; i < 100; i++)); do
                is_mounted "$T/mnt" && return 0
                kill -0 "$SFS_PID" 2>/dev/null || {
                        SFS_PID=
                        fail "stratafs exited before the mount was live: $(tail -n 20 "$SFS_LOG")"
                }
                sleep 0.1
        done
        fail "$T/mnt not mounted after 10s"
}

sfs_umount() {
        local i rc=0
        for ((i = 0; i < 30; i++)); do
                _umount_cmd "$T/mnt" 2>>"$SFS_LOG" && break
                sleep 0.2
        done
        is_mounted "$T/mnt" && fail "could not unmount $T/mnt"
        for ((i = 0; i < 100; i++)); do
                kill -0 "$SFS_PID" 2>/dev/null || break
                sleep 0.1
        done
        kill -0 "$SFS_PID" 2>/dev/null && fail "stratafs still running 10s after the unmount"
        wait "$SFS_PID" || rc=$?
        SFS_PID=
        ((rc == 0)) || fail "stratafs exited with status $rc: $(tail -n 20 "$SFS_LOG")"
}

# sandbox CHECKS: run the CHECKS shell script in bwrap with the mount as /,
# as root (WHO=root) or in a user namespace as the test user (WHO=user)
CHECK_LIB='
fails=0
t() { d=$1; shift; if ! "$@"; then echo "CHECK FAILED: $d"; fails=$((fails+1)); fi; }
eq() { [ "$1" = "$2" ] || { echo "  expected [$1], got [$2]"; return 1; }; }
'
sandbox() {
        local script="$CHECK_LIB$1"'
if [ "$fails" = 0 ]; then echo ALL-CHECKS-OK; else echo "$fails checks failed"; exit 1; fi'
        local args=(--bind "$T/mnt" / --proc /proc --dev /dev --tmpfs /tmp --die-with-parent
                --setenv PATH /bin --chdir /)
        local out rc=0
        if [[ $WHO == user ]]; then
                out=$(as_user bwrap --unshare-user --uid 0 --gid 0 "${args[@]}" /bin/sh -c "$script" 2>&1) || rc=$?
        else
                out=$(bwrap "${args[@]}" /bin/sh -c "$script" 2>&1) || rc=$?
        fi
        printf '%s\n' "$out" >&2
        ((rc == 0)) && grep -qx ALL-CHECKS-OK <<<"$out" && return 0
        [[ -n ${SANDBOX_NOFAIL:-} ]] && return 1
        fail "checks in the sandbox failed (bwrap exit $rc)"
}

# the owner on disk of what the sandbox's root creates
disk_owner() {
        if [[ $WHO == user ]]; then echo "$(id -u "$TEST_USER"):$(id -g "$TEST_USER")"; else echo 0:0; fi
}

# a whiteout of UPPER_PATH on disk: char 0/0, or (unprivileged) .wh.NAME
assert_whiteout() {
        local p=$1 wh
        wh="$(dirname "$p")/.wh.$(basename "$p")"
        if [[ -c $p && $(stat -c '%t:%T' "$p") == 0:0 ]]; then
                [[ -e $wh ]] && fail "$p: both a char 0/0 and $wh whiteout"
                return 0
        fi
        if [[ $WHO == user && -f $wh && ! -e $p && ! -L $p ]]; then return 0; fi
        fail "$p: expected a whiteout in the upper dir, got $(ls -land "$p" "$wh" 2>&1 | tr '\n' ' ')"
}

# an opaque marker on the upper dir DIR (trusted.overlay.opaque as root)
assert_opaque() {
        local d=$1 n v found=
        for n in trusted.overlay.opaque user.overlay.opaque user.fuseoverlayfs.opaque; do
                v=$(getfattr -h --absolute-names --only-values -n "$n" "$d" 2>/dev/null) || continue
                [[ $v == y ]] && found=$n && break
        done
        [[ -z $found && -e $d/.wh..wh..opq ]] && found=.wh..wh..opq
        [[ -n $found ]] || fail "$d: expected an opaque directory in the upper dir, no marker found"
        if [[ $WHO == root ]]; then
                assert_eq trusted.overlay.opaque "$found" "opaque marker of $d (root writes the kernel format)"
        fi
}

# is_mounted DIR (root cannot stat another user's FUSE mount: read mountinfo)
is_mounted() {
        awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

manifest() { # DIR
        (cd "$1" && find . -printf '%p %y %m %U:%G %s %l\n' | LC_ALL=C sort && find . -type f -exec md5sum {} + | LC_ALL=C sort)
}

# ------------------------------------------------------------------- setup

_mk_rootfs() { # DIR
        local r=$1 c
        mkdir -p "$r"/{bin,etc,srv/dir,srv/tree/sub,root,tmp,proc,dev}
        cp "$BUSYBOX" "$r/bin/busybox"
        for c in sh ls cat echo mkdir rm chmod chown touch id stat sed sleep ln mv grep find wc head cut tr test true false; do
                ln -s busybox "$r/bin/$c"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
        printf 'root:x:0:\n' >"$r/etc/group"
        printf 'lower\n' >"$r/srv/lower.txt"
        printf 'mode\n' >"$r/srv/mode.txt"
        printf 'a\n' >"$r/srv/dir/a"
        printf 'b\n' >"$r/srv/dir/b"
        printf 'keep\n' >"$r/srv/keep.txt"
        printf 'x\n' >"$r/srv/tree/sub/x"
        chmod 0644 "$r/srv/mode.txt"
        chmod 1777 "$r/tmp"
}

setup() {
        P=$(mktemp -d "${TMPDIR:-/tmp}/strata-bwrap.XXXXXX") || exit 1
        chmod 0755 "$P"
        trap cleanup EXIT
        trap 'exit 130' INT TERM
        if ! command -v bwrap >/dev/null && ((IS_ROOT)); then
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >"$P/apt.log" 2>&1 ||
                        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; } >>"$P/apt.log" 2>&1
        fi
        command -v bwrap >/dev/null || {
                echo "1..0 # SKIP bubblewrap not installed and cannot be installed"
                exit 0
        }
        BUSYBOX=/bin/busybox
        if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' && ((IS_ROOT)); then
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static file >>"$P/apt.log" 2>&1
        fi
        file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || {
                echo "1..0 # SKIP no static busybox (busybox-static)"
                exit 0
        }
        [[ -x $STRATAFS ]] || {
                echo "Bail out! STRATAFS=$STRATAFS is not an executable"
                exit 1
        }
        # a copy: a rebuild during the run does not change the daemon under us
        mkdir -p "$P/bin"
        cp "$STRATAFS" "$P/bin/stratafs"
        chmod 0755 "$P/bin" "$P/bin/stratafs"
        STRATAFS=$P/bin/stratafs

        ROOT_WHY="" USER_WHY=""
        ((IS_ROOT)) || ROOT_WHY="needs root"
        if ((IS_ROOT)); then
                _mk_rootfs "$P/rootfs-root"
                id "$TEST_USER" >/dev/null 2>&1 || useradd -m "$TEST_USER" >/dev/null 2>&1
                [[ $(stat -c %a /dev/fuse 2>/dev/null) == 666 ]] || chmod 0666 /dev/fuse
        else
                TEST_USER=$(id -un)
        fi
        if ! id "$TEST_USER" >/dev/null 2>&1; then
                USER_WHY="no user $TEST_USER"
        elif [[ $(stat -c %a /dev/fuse 2>/dev/null) != 666 ]]; then
                USER_WHY="/dev/fuse is not 0666"
        elif ! as_user bwrap --unshare-user --uid 0 --gid 0 --ro-bind / / true 2>"$P/userns.err"; then
                USER_WHY="bwrap --unshare-user does not work for $TEST_USER: $(head -n 1 "$P/userns.err")"
        else
                _mk_rootfs "$P/rootfs-user"
                ((IS_ROOT)) && chown -R "$TEST_USER:" "$P/rootfs-user"
        fi
        for w in root user; do
                [[ -d $P/rootfs-$w ]] && manifest "$P/rootfs-$w" >"$P/rootfs-$w.manifest"
        done
        echo "# bwrap $(bwrap --version | awk '{print $2}'), stratafs $("$STRATAFS" --version 2>&1 | head -n 1 | awk '{print $NF}'), temp dir $P"
}

cleanup() {
        local rc=$? m
        set +e
        trap - EXIT
        [[ -n $P && -d $P ]] || exit $rc
        for m in $(awk -v d="$P/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
                fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        done
        if [[ -n ${KEEP:-} ]]; then
                echo "# kept $P"
        elif [[ -z $(awk -v d="$P/" 'index($5, d) == 1' /proc/self/mountinfo) ]]; then
                rm -rf "$P"
        else
                echo "# mounts left under $P, not removing it"
        fi
        exit $rc
}

need() {
        if [[ $1 == root ]]; then [[ -z $ROOT_WHY ]] || skip "$ROOT_WHY"; else [[ -z $USER_WHY ]] || skip "$USER_WHY"; fi
}

# ------------------------------------------------------------ test bodies

FILEOPS='
t "sandbox root is the mount" eq lower "$(cat /srv/lower.txt)"
t "uid 0 inside" eq 0 "$(id -u)"
t "append to a lower file (copy-up)" sh -c "echo more >> /srv/lower.txt"
t "appended content" eq "lower more" "$(cat /srv/lower.txt | tr "\n" " " | sed "s/ $//")"
t "create a file" sh -c "echo new > /srv/new.txt"
t "mkdir -p" mkdir -p /srv/newdir/sub
t "file in the new dir" sh -c "echo deep > /srv/newdir/sub/f"
t "chmod a lower file" chmod 0600 /srv/mode.txt
t "mode after chmod" eq 600 "$(stat -c %a /srv/mode.txt)"
t "chmod 4755 a new file" chmod 4755 /srv/new.txt
t "mode after chmod 4755" eq 4755 "$(stat -c %a /srv/new.txt)"
t "chmod a lower dir" chmod 0700 /srv/tree
t "mode of the lower dir" eq 700 "$(stat -c %a /srv/tree)"
t "rm a lower file" rm /srv/dir/a
t "listing after rm" eq b "$(ls -A /srv/dir)"
t "rm -rf a lower tree" rm -rf /srv/tree/sub
t "tree gone" test ! -e /srv/tree/sub
t "rm -rf a lower dir, then mkdir it again" sh -c "rm -rf /srv/dir && mkdir /srv/dir && echo c > /srv/dir/c"
t "recreated dir holds only the new file" eq c "$(ls -A /srv/dir)"
t "rename a lower file" mv /srv/keep.txt /srv/moved.txt
t "renamed content" eq keep "$(cat /srv/moved.txt)"
t "old name gone" test ! -e /srv/keep.txt
t "symlink" ln -s moved.txt /srv/sym
t "read through the symlink" eq keep "$(cat /srv/sym)"
t "hard link" ln /srv/new.txt /srv/new.link
t "link count" eq 2 "$(stat -c %h /srv/new.txt)"
t "rm a lower binary link" rm /bin/sed
t "no whiteout or marker visible" eq "" "$(ls -a /srv /srv/dir /srv/tree /bin | grep -F .wh.)"
t "/srv listing" eq "dir lower.txt mode.txt moved.txt new.link new.txt newdir sym tree" "$(ls /srv | tr "\n" " " | sed "s/ $//")"
t "tmpfs /tmp" sh -c "echo x > /tmp/x"
t "/proc works" test -r /proc/self/status
'

# what the same tree looks like in a second sandbox after a remount
AFTER='
t "appended content" eq "lower more" "$(cat /srv/lower.txt | tr "\n" " " | sed "s/ $//")"
t "new file" eq new "$(cat /srv/new.txt)"
t "modes" eq "600 4755 700" "$(stat -c %a /srv/mode.txt /srv/new.txt /srv/tree | tr "\n" " " | sed "s/ $//")"
t "recreated dir" eq c "$(ls -A /srv/dir)"
t "deleted tree" test ! -e /srv/tree/sub
t "deleted binary link" test ! -e /bin/sed
t "link count" eq 2 "$(stat -c %h /srv/new.txt)"
t "/srv listing" eq "dir lower.txt mode.txt moved.txt new.link new.txt newdir sym tree" "$(ls /srv | tr "\n" " " | sed "s/ $//")"
t "/tmp is a fresh tmpfs" test ! -e /tmp/x
'

_t_fileops() { # WHO
        need "$1"
        new_case "$1"
        sfs_mount
        sandbox "$FILEOPS"
        sfs_umount

        # the upper dir on disk
        local U=$T/upper own
        own=$(disk_owner)
        ls -lanR "$U" >&2
        [[ $(cat "$U/srv/lower.txt" 2>&1) == $'lower\nmore' ]] || fail "upper srv/lower.txt: [$(cat "$U/srv/lower.txt" 2>&1)]"
        assert_eq new "$(cat "$U/srv/new.txt" 2>&1)" "upper srv/new.txt"
        assert_eq deep "$(cat "$U/srv/newdir/sub/f" 2>&1)" "upper srv/newdir/sub/f"
        assert_eq "600 $own" "$(stat -c '%a %u:%g' "$U/srv/mode.txt" 2>&1)" "mode and owner of upper srv/mode.txt"
        assert_eq "4755 $own" "$(stat -c '%a %u:%g' "$U/srv/new.txt" 2>&1)" "mode and owner of upper srv/new.txt"
        assert_eq "700" "$(stat -c '%a' "$U/srv/tree" 2>&1)" "mode of upper srv/tree"
        assert_eq "$own" "$(stat -c '%u:%g' "$U/srv/newdir/sub/f" 2>&1)" "owner of upper srv/newdir/sub/f"
        assert_whiteout "$U/srv/tree/sub"
        assert_whiteout "$U/srv/keep.txt"
        assert_whiteout "$U/bin/sed"
        assert_opaque "$U/srv/dir"
        local ents
        ents=$(cd "$U/srv/dir" && find . -mindepth 1 -maxdepth 1 ! -name .wh..wh..opq -printf '%P\n')
        assert_eq c "$ents" "entries of the opaque upper srv/dir"
        assert_eq "moved.txt" "$(readlink "$U/srv/sym")" "upper symlink"
        assert_eq "$(stat -c %i "$U/srv/new.txt")" "$(stat -c %i "$U/srv/new.link" 2>&1)" "inode of the upper hard link"
        # the lower layer is untouched
        manifest "$LOWER" | diff -u "$P/rootfs-$WHO.manifest" - >&2 || fail "the lower layer was modified"

        # remount: a second sandbox sees the same tree
        sfs_mount
        sandbox "$AFTER"
        sfs_umount
}

_t_readonly() { # WHO: a mount without upperdir is read-only in the sandbox
        need "$1"
        new_case "$1"
        local o="lowerdir=$LOWER"
        echo "+ [$WHO] stratafs -f -o $o $T/mnt" >>"$SFS_LOG"
        if [[ $WHO == user ]]; then
                as_user "$STRATAFS" -f -o "$o" "$T/mnt" >>"$SFS_LOG" 2>&1 </dev/null &
        else
                "$STRATAFS" -f -o "$o" "$T/mnt" >>"$SFS_LOG" 2>&1 </dev/null &
        fi
        SFS_PID=$!
        local i
        for ((i = 0; i < 100; i++)); do
                is_mounted "$T/mnt" && break
                sleep 0.1
        done
        is_mounted "$T/mnt" || fail "read-only mount not live: $(tail -n 5 "$SFS_LOG")"
        sandbox '
t "read" eq lower "$(cat /srv/lower.txt)"
t "create refused" sh -c "! echo x > /srv/x 2>/dev/null"
t "rm refused" sh -c "! rm /srv/lower.txt 2>/dev/null"
t "chmod refused" sh -c "! chmod 0600 /srv/mode.txt 2>/dev/null"
t "still there" eq "lower 644" "$(cat /srv/lower.txt) $(stat -c %a /srv/mode.txt)"
'
        sfs_umount
        manifest "$LOWER" | diff -u "$P/rootfs-$WHO.manifest" - >&2 || fail "the lower layer was modified"
}

_t_chown() { # WHO: chown inside the sandbox
        need "$1"
        new_case "$1"
        sfs_mount
        if [[ $WHO == root ]]; then
                sandbox '
t "chown a lower file" chown 12:34 /srv/mode.txt
t "owner" eq 12:34 "$(stat -c %u:%g /srv/mode.txt)"
t "chown -h a symlink" chown -h 5:6 /bin/cat
t "symlink owner" eq 5:6 "$(stat -c %u:%g /bin/cat)"
t "chown a new dir" sh -c "mkdir /srv/d && chown 1000:1000 /srv/d"
t "new dir owner" eq 1000:1000 "$(stat -c %u:%g /srv/d)"
'
                sfs_umount
                assert_eq 12:34 "$(stat -c %u:%g "$T/upper/srv/mode.txt")" "owner on disk"
                assert_eq 5:6 "$(stat -c %u:%g "$T/upper/bin/cat")" "symlink owner on disk"
                assert_eq 1000:1000 "$(stat -c %u:%g "$T/upper/srv/d")" "dir owner on disk"
        else
                # only uid 0 (= the user) exists in the sandbox: chown to it works,
                # chown to an unmapped id is refused by the kernel (EINVAL)
                sandbox '
t "chown 0:0 a lower file" chown 0:0 /srv/mode.txt
t "owner" eq 0:0 "$(stat -c %u:%g /srv/mode.txt)"
t "chown to an unmapped id is refused" sh -c "! chown 12:34 /srv/lower.txt 2>/dev/null"
t "owner unchanged" eq 0:0 "$(stat -c %u:%g /srv/lower.txt)"
'
                sfs_umount
                assert_eq "$(disk_owner)" "$(stat -c %u:%g "$T/upper/srv/mode.txt")" "owner on disk"
        fi
}

_t_exec_and_tools() { # WHO: programs run from the mount, deep trees, many files
        need "$1"
        new_case "$1"
        sfs_mount
        sandbox '
t "make 200 files" sh -c "mkdir -p /work/a/b/c && i=0; while [ \$i -lt 200 ]; do echo \$i > /work/a/b/c/f\$i; i=\$((i+1)); done"
t "count" eq 200 "$(ls /work/a/b/c | wc -l)"
t "find" eq 204 "$(find /work | wc -l)"
t "sed -i on a lower file" sed -i s/lower/LOWER/ /srv/lower.txt
t "sed result" eq LOWER "$(cat /srv/lower.txt)"
t "rm -rf the tree" rm -rf /work
t "gone" test ! -e /work
t "copy a binary and run it" sh -c "cat /bin/busybox > /tmp/busybox && chmod 755 /tmp/busybox && /tmp/busybox true"
t "copy a binary into the mount and run it" sh -c "mkdir /srv/x && cat /bin/busybox > /srv/x/busybox && chmod 755 /srv/x/busybox && /srv/x/busybox true"
'
        sfs_umount
        [[ ! -e $T/upper/work ]] || fail "upper work/ left after rm -rf of a new tree: $(ls -la "$T/upper/work")"
        assert_eq LOWER "$(cat "$T/upper/srv/lower.txt")" "sed -i result on disk"
}

_t_xattr_permissions() { # WHO: modes kept in the override xattr survive a remount
        need "$1"
        new_case "$1"
        local checks='
t "new file" eq "4755 0:0" "$(stat -c "%a %u:%g" /srv/new.txt)"
t "new dir" eq "700 0:0" "$(stat -c "%a %u:%g" /srv/private)"
t "lower file chmod" eq "600 0:0" "$(stat -c "%a %u:%g" /srv/mode.txt)"
t "lower file chmod, then written" eq "640 0:0" "$(stat -c "%a %u:%g" /srv/lower.txt)"
t "ls -l agrees" eq "-rwsr-xr-x" "$(ls -l /srv/new.txt | cut -d" " -f1)"
'
        local bad=()
        sfs_mount xattr_permissions=2
        SANDBOX_NOFAIL=1 sandbox '
t "create" sh -c "echo new > /srv/new.txt && chmod 4755 /srv/new.txt"
t "mkdir" sh -c "mkdir /srv/private && chmod 700 /srv/private"
t "chmod a lower file" chmod 600 /srv/mode.txt
t "chmod and write a lower file" sh -c "chmod 640 /srv/lower.txt && echo more >> /srv/lower.txt"
'"$checks" || bad+=("in the first mount")
        sfs_umount
        getfattr -R -d -m - "$T/upper/srv" >&2 2>/dev/null
        ls -lanR "$T/upper/srv" >&2
        sfs_mount xattr_permissions=2
        echo "--- after the remount:" >&2
        SANDBOX_NOFAIL=1 sandbox "$checks" || bad+=("after a remount")
        sfs_umount
        ((${#bad[@]} == 0)) || fail "modes kept in the override xattr are wrong: $(printf '[%s] ' "${bad[@]}")"
}

# ------------------------------------------------------------------- tests

test_root_fileops() { _t_fileops root; }
test_root_chown() { _t_chown root; }
test_root_readonly() { _t_readonly root; }
test_root_exec_and_tools() { _t_exec_and_tools root; }
test_root_xattr_permissions() { _t_xattr_permissions root; }
test_user_fileops() { _t_fileops user; }
test_user_chown() { _t_chown user; }
test_user_readonly() { _t_readonly user; }
test_user_exec_and_tools() { _t_exec_and_tools user; }
test_user_xattr_permissions() { _t_xattr_permissions user; }

# ------------------------------------------------------------------ runner

main() {
        local tests=() t a
        for t in $(grep -oE '^test_[A-Za-z0-9_]+ *\(\)' "${BASH_SOURCE[0]}" | sed 's/ *()$//'); do
                if (($# == 0)); then
                        tests+=("$t")
                else
                        for a in "$@"; do [[ $t == *"$a"* ]] && tests+=("$t") && break; done
                fi
        done
        setup
        local n=0 failed=0 rc
        for t in "${tests[@]}"; do
                n=$((n + 1))
                rm -f "$P/.skip"
                (
                        set -o pipefail
                        "$t"
                ) >"$P/.out" 2>&1 </dev/null
                rc=$?
                case $rc in
                0) echo "ok $n - $t" ;;
                77) echo "ok $n - $t # SKIP $(head -n 1 "$P/.skip" 2>/dev/null)" ;;
                *)
                        failed=$((failed + 1))
                        echo "not ok $n - $t"
                        ;;
                esac
                if [[ $rc != 0 && $rc != 77 ]] || [[ -n ${VERBOSE:-} ]]; then
                        sed 's/^/# /' "$P/.out"
                fi
        done
        echo "1..$n"
        ((failed == 0)) || {
                echo "# $failed of $n failed"
                return 1
        }
        return 0
}

main "$@"
