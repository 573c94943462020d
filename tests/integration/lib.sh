# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shared harness of the stratafs mount tests (STYLE.md §2.10).
#
# A concern script defines one test_* function per behaviour and ends with
# `run_tests "$@"`.  run_tests runs every test_* function (in file order), each
# in its own process (the script is re-run as `bash SCRIPT __one test_name`)
# under a timeout, with a fresh private temp root, fresh layers and its own
# mount, and prints TAP.  Arguments select tests by (sub)name.
#
# Inside a test:
#   L1=$(mk_layer l1)            a lower layer directory
#   mk_file "$L1/a/b" content    also mk_dir, mk_symlink, mk_hardlink,
#                                mk_whiteout, mk_opaque, mk_xattr
#   sfs_mount "$L1" "$L2"        lowers top-most first, upper $UPPER, mount $MNT
#   sfs_mount -o opt "$L1"       extra -o options
#   sfs_mount_ro "$L1"           no upperdir
#   sfs_umount / sfs_remount     fail if the daemon crashed, exited non-zero,
#                                or a lower layer changed
#   assert_*                     print expected vs actual and end the test
#   skip "reason"                ends the test as SKIP
#
# Skips: a skipped test prints `ok N - name # SKIP reason` (its process exits
# 77); a whole script that cannot run here prints `1..0 # SKIP reason` and
# exits 0, because under meson's TAP protocol any non-zero exit is an ERROR.
# The script exits 1 when a test failed.  Every test's temp root and mounts
# are removed even when it fails or times out (lazy unmount as a last resort).
#
# Environment: STRATAFS (daemon, default ../../build/unionfs/stratafs),
# TMPDIR, TEST_TIMEOUT (s per test), VERBOSE=1 (print output of passing
# tests), SFS_KEEP=1 (keep the temp root of each test for inspection),
# SFS_TEST_OPTS=OPT,... (added to every mount: run a suite with zero_open=1).
# Run one test: `STRATAFS=... bash tests/integration/rename.sh lower_dir_twice`.

set -uo pipefail

TESTS_DIR=${TESTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
STRATAFS=${STRATAFS:-$TESTS_DIR/../../build/unionfs/stratafs}
if [[ -z ${PYTHON:-} ]]; then
        # /usr/bin first: a per-user python (pyenv) is not readable by the test user
        if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
FSUTIL=("$PYTHON" "$TESTS_DIR/fsutil.py")
MOUNT_TIMEOUT=${MOUNT_TIMEOUT:-10}
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
TEST_USER=${TEST_USER:-stratatest}
IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1
# helpers import each other: no __pycache__ in the source tree
export PYTHONDONTWRITEBYTECODE=1
export STRATAFS TESTS_DIR PYTHON

fsutil() { "${FSUTIL[@]}" "$@"; }

# ------------------------------------------------------------------ results

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

skip() {
        if [[ -n ${SFS_IN_TEST:-} ]]; then
                printf '%s\n' "$*" >"$SFS_RESULT_DIR/skip"
                exit 77
        fi
        # whole script: a TAP skip plan (meson reports SKIP)
        echo "1..0 # SKIP $*"
        exit 0
}

need_root() { ((IS_ROOT)) || skip "needs root"; }
need_cmd() {
        local c
        for c in "$@"; do
                command -v "$c" >/dev/null 2>&1 || skip "needs $c"
        done
}

need_space() { # GIB: free space where the test's files live
        local avail
        avail=$(df --output=avail -k "${T:-${TMPDIR:-/tmp}}" 2>/dev/null | tail -n 1)
        [[ -n $avail ]] && ((avail >= $1 * 1048576)) || skip "needs $1 GiB free in ${TMPDIR:-/tmp}"
}

need_kernel_overlay() {
        need_root
        grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null ||
                skip "kernel overlayfs not available"
        grep -qw overlay /proc/filesystems || skip "kernel overlayfs not available"
}

# ---------------------------------------------------------------- assertions

assert_eq() { # EXPECTED ACTUAL [WHAT]
        [[ "$1" == "$2" ]] && return 0
        fail "${3:-value}: expected [$1], got [$2]"
}

assert_ne() { # UNEXPECTED ACTUAL [WHAT]
        [[ "$1" != "$2" ]] && return 0
        fail "${3:-value}: expected anything but [$1]"
}

assert_true() { # WHAT COMMAND...
        local what=$1
        shift
        "$@" && return 0
        fail "$what: command failed: $*"
}

assert_file_content() { # PATH EXPECTED (trailing newlines ignored)
        [[ -f $1 ]] || fail "$1: expected a regular file with [$2], got $(_describe "$1")"
        local got
        got=$(cat "$1") || fail "cannot read $1"
        [[ "$got" == "$2" ]] && return 0
        fail "content of $1: expected [$2], got [$(head -c 300 <<<"$got")]"
}

# A file in the upper layer that must hold EXPECTED, or (after a copy-up that
# may legitimately be metadata-only, e.g. a rename) be a metacopy of that size.
assert_upper_content() { # UPPER_PATH EXPECTED
        local n
        for n in trusted.overlay.metacopy user.overlay.metacopy; do
                if getfattr -h --absolute-names -n "$n" "$1" >/dev/null 2>&1; then
                        [[ -f $1 ]] || fail "$1: metacopy marker on a non-regular file"
                        assert_eq "${#2}" "$(stat -c %s "$1")" "size of metacopy file $1"
                        return 0
                fi
        done
        assert_file_content "$1" "$2"
}

assert_same_content() { # PATH1 PATH2
        cmp -s "$1" "$2" && return 0
        fail "content differs: $1 ($(_describe "$1")) vs $2 ($(_describe "$2"))"
}

assert_errno() { # EXPECTED(OK|ENOENT|...) OP ARGS...  (see fsutil.py try)
        local want=$1 got
        shift
        got=$(fsutil try "$@" 2>&1)
        [[ "$got" == "$want" ]] && return 0
        fail "$*: expected $want, got $got"
}

assert_ok() { assert_errno OK "$@"; }

assert_enoent() { # PATH...
        local p
        for p in "$@"; do
                assert_errno ENOENT lstat "$p"
        done
}

assert_exists() { # PATH...
        local p
        for p in "$@"; do
                [[ -e $p || -L $p ]] || fail "$p: expected to exist, got $(fsutil try lstat "$p")"
        done
}

assert_type() { # PATH f|d|l|c|b|p|s
        local got
        got=$(_ftype "$1")
        assert_eq "$2" "$got" "type of $1"
}

assert_mode() { # PATH OCTAL
        assert_eq "$(printf '%o' "0$2")" "$(stat -c %a "$1")" "mode of $1"
}

assert_owner() { # PATH UID:GID
        assert_eq "$2" "$(stat -c %u:%g "$1")" "owner of $1"
}

assert_mtime() { # PATH NS
        assert_eq "$2" "$(fsutil mtime-ns "$1")" "mtime (ns) of $1"
}

assert_listing() { # DIR "sorted names separated by spaces"
        local got
        got=$(cd "$1" && LC_ALL=C ls -A | tr '\n' ' ' | sed 's/ $//') || fail "cannot list $1"
        assert_eq "$2" "$got" "listing of $1"
}

assert_xattr() { # PATH NAME VALUE
        local got
        got=$(getfattr -h --absolute-names --only-values -n "$2" "$1" 2>/dev/null) ||
                fail "$1: expected xattr $2=[$3], it is missing"
        assert_eq "$3" "$got" "xattr $2 of $1"
}

assert_no_xattr() { # PATH NAME
        if getfattr -h --absolute-names --only-values -n "$2" "$1" >/dev/null 2>&1; then
                fail "$1: xattr $2 should not be there"
        fi
}

# A whiteout for UPPER_PATH in the upper layer: char 0/0 as root (kernel
# format, contract 2), char 0/0 or a `.wh.NAME` file otherwise.
assert_whiteout_on_disk() { # UPPER_PATH
        local p=$1 wh
        wh="$(dirname "$p")/.wh.$(basename "$p")"
        if [[ -c $p && $(stat -c '%t:%T' "$p") == 0:0 ]]; then
                [[ -e $wh ]] && fail "$p: both a char 0/0 and $wh whiteout"
                return 0
        fi
        if ((!IS_ROOT)) && [[ -f $wh && ! -e $p && ! -L $p ]]; then
                return 0
        fi
        if ((IS_ROOT)); then
                fail "$p: expected a char 0/0 whiteout in the upper layer, got $(_describe "$p")$([[ -e $wh ]] && echo " and $wh")"
        fi
        fail "$p: expected a whiteout (char 0/0 or $wh) in the upper layer, got $(_describe "$p")"
}

assert_no_whiteout_on_disk() { # UPPER_PATH
        local p=$1
        [[ -c $p ]] && fail "$p: unexpected char device (whiteout) in the upper layer"
        [[ -e "$(dirname "$p")/.wh.$(basename "$p")" ]] && fail "$p: unexpected .wh. whiteout in the upper layer"
        return 0
}

_opaque_marker() { # DIR -> prints the opaque format found, or nothing
        local d=$1 v
        for n in trusted.overlay.opaque user.overlay.opaque user.fuseoverlayfs.opaque; do
                v=$(getfattr -h --absolute-names --only-values -n "$n" "$d" 2>/dev/null) || continue
                [[ $v == y ]] && {
                        echo "$n"
                        return
                }
        done
        [[ -e $d/.wh..wh..opq ]] && echo ".wh..wh..opq"
        return 0
}

assert_opaque_on_disk() { # UPPER_DIR
        [[ -d $1 && ! -L $1 ]] || fail "$1: expected an opaque directory in the upper layer, got $(_describe "$1")"
        local m
        m=$(_opaque_marker "$1")
        if ((IS_ROOT)); then
                assert_eq trusted.overlay.opaque "$m" "opaque marker of $1 (root writes the kernel format)"
        else
                [[ -n $m ]] || fail "$1: expected an opaque marker (user.overlay.opaque=y or similar), found none"
        fi
}

assert_not_opaque_on_disk() { # UPPER_DIR
        local m
        m=$(_opaque_marker "$1")
        [[ -z $m ]] || fail "$1: should not be opaque, has $m"
}

assert_daemon_alive() {
        [[ -n ${SFS_PID:-} ]] && kill -0 "$SFS_PID" 2>/dev/null && mountpoint -q "$MNT" && return 0
        fail "stratafs is not running any more$(_log_tail)"
}

_ftype() {
        if [[ -L $1 ]]; then echo l
        elif [[ -d $1 ]]; then echo d
        elif [[ -f $1 ]]; then echo f
        elif [[ -c $1 ]]; then echo c
        elif [[ -b $1 ]]; then echo b
        elif [[ -p $1 ]]; then echo p
        elif [[ -S $1 ]]; then echo s
        else fsutil try lstat "$1"
        fi
}

_describe() {
        [[ -e $1 || -L $1 ]] || {
                echo "nothing ($(fsutil try lstat "$1"))"
                return
        }
        stat -c '%F mode %a owner %u:%g size %s rdev %t:%T' "$1"
}

# ------------------------------------------------------------------- layers

mk_layer() { # NAME -> prints the layer's path
        mkdir -p "$LAYERS/$1"
        echo "$LAYERS/$1"
}

# A layer that is its own tmpfs (a different st_dev than the others), root only.
mk_tmpfs_layer() { # NAME -> path
        need_root
        mkdir -p "$LAYERS/$1"
        mount -t tmpfs -o mode=0755 "strata-test-$1" "$LAYERS/$1" || skip "cannot mount tmpfs"
        echo "$LAYERS/$1"
}

mk_file() { # PATH [CONTENT [MODE]]
        mkdir -p "$(dirname "$1")"
        printf '%s' "${2-$(basename "$1")}" >"$1"
        [[ -z ${3:-} ]] || chmod "$3" "$1"
}

mk_dir() { # PATH [MODE]
        mkdir -p "$1"
        [[ -z ${2:-} ]] || chmod "$2" "$1"
}

mk_symlink() { # PATH TARGET
        mkdir -p "$(dirname "$1")"
        ln -s "$2" "$1"
}

mk_hardlink() { # EXISTING NEW
        mkdir -p "$(dirname "$2")"
        ln "$1" "$2"
}

mk_xattr() { # PATH NAME VALUE
        setfattr -h -n "$2" -v "$3" "$1" || skip "cannot set xattr $2 on the test file system"
}

# mk_whiteout PATH [kernel|wh]: kernel = char 0/0 (default as root), wh = .wh.NAME
mk_whiteout() {
        local fmt=${2:-}
        [[ -n $fmt ]] || { ((IS_ROOT)) && fmt=kernel || fmt=wh; }
        mkdir -p "$(dirname "$1")"
        case $fmt in
        kernel) mknod "$1" c 0 0 2>/dev/null || skip "cannot create a char 0/0 whiteout here" ;;
        wh) : >"$(dirname "$1")/.wh.$(basename "$1")" ;;
        *) fail "mk_whiteout: unknown format $fmt" ;;
        esac
}

# mk_opaque DIR [trusted|user|fuseoverlayfs|whopq]; default trusted as root, user otherwise
mk_opaque() {
        local fmt=${2:-}
        [[ -n $fmt ]] || { ((IS_ROOT)) && fmt=trusted || fmt=user; }
        mkdir -p "$1"
        case $fmt in
        trusted)
                ((IS_ROOT)) || skip "trusted.* xattrs need root"
                mk_xattr "$1" trusted.overlay.opaque y
                ;;
        user) mk_xattr "$1" user.overlay.opaque y ;;
        fuseoverlayfs) mk_xattr "$1" user.fuseoverlayfs.opaque y ;;
        whopq) : >"$1/.wh..wh..opq" ;;
        *) fail "mk_opaque: unknown format $fmt" ;;
        esac
}

# ------------------------------------------------------------------- mounts

_join() {
        local IFS=$1
        shift
        echo "$*"
}

_log_tail() {
        [[ -s ${SFS_LOG:-/nonexistent} ]] || return 0
        printf '\n--- stratafs log (last 40 lines of %s) ---\n' "$SFS_LOG"
        tail -n 40 "$SFS_LOG"
        echo "--- end of log ---"
}

_snapshot_lowers() {
        ((${SFS_CHECK_LOWER:-1})) || return 0
        local i=0 l
        for l in "${SFS_LOWERS[@]}"; do
                [[ -f $T/.lower.$i ]] || fsutil manifest "$l" >"$T/.lower.$i" 2>&1
                i=$((i + 1))
        done
}

_check_lowers() {
        ((${SFS_CHECK_LOWER:-1})) || return 0
        local i=0 l
        for l in "${SFS_LOWERS[@]}"; do
                if ! fsutil manifest "$l" | diff -u "$T/.lower.$i" - >"$T/.lower.diff" 2>&1; then
                        echo "lower layer $l was modified (- before, + after):" >&2
                        head -n 40 "$T/.lower.diff" >&2
                        fail "lower layer modified"
                fi
                i=$((i + 1))
        done
}

# _sfs_start OPTIONS: start the daemon in the foreground (background job),
# wait until the mount is live.
_sfs_start() {
        SFS_OPTS=$1${SFS_TEST_OPTS:+,$SFS_TEST_OPTS}
        echo "+ $STRATAFS -f -o $SFS_OPTS $MNT" >>"$SFS_LOG"
        "$STRATAFS" -f -o "$SFS_OPTS" "$MNT" >>"$SFS_LOG" 2>&1 </dev/null &
        SFS_PID=$!
        local i
        for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
                if mountpoint -q "$MNT"; then
                        SFS_DEV=$(mountpoint -d "$MNT")
                        return 0
                fi
                if ! kill -0 "$SFS_PID" 2>/dev/null; then
                        local rc=0
                        wait "$SFS_PID" || rc=$?
                        SFS_PID=
                        fail "stratafs exited with status $rc before the mount was live$(_log_tail)"
                fi
                sleep 0.1
        done
        fail "$MNT not mounted after ${MOUNT_TIMEOUT}s$(_log_tail)"
}

# sfs_mount [-o OPT]... LOWER... : read-write mount with $UPPER and $WORK
sfs_mount() {
        local extra=()
        while [[ ${1:-} == -o ]]; do
                extra+=("$2")
                shift 2
        done
        (($# >= 1)) || fail "sfs_mount: no lower layer given"
        SFS_LOWERS=("$@")
        _snapshot_lowers
        local o
        o="lowerdir=$(_join : "$@"),upperdir=$UPPER,workdir=$WORK"
        ((${#extra[@]} == 0)) || o+=",$(_join , "${extra[@]}")"
        _sfs_start "$o"
}

# sfs_mount_ro [-o OPT]... LOWER... : no upperdir
sfs_mount_ro() {
        local extra=()
        while [[ ${1:-} == -o ]]; do
                extra+=("$2")
                shift 2
        done
        SFS_LOWERS=("$@")
        _snapshot_lowers
        local o
        o="lowerdir=$(_join : "$@")"
        ((${#extra[@]} == 0)) || o+=",$(_join , "${extra[@]}")"
        _sfs_start "$o"
}

# sfs_umount: unmount, wait for the daemon, fail if it crashed or exited
# non-zero, or if a lower layer changed.
sfs_umount() {
        [[ -n ${SFS_PID:-} ]] || fail "sfs_umount: stratafs is not running"
        if ! kill -0 "$SFS_PID" 2>/dev/null; then
                local rc=0
                wait "$SFS_PID" || rc=$?
                SFS_PID=
                fusermount3 -uz "$MNT" 2>/dev/null
                fail "stratafs died while mounted (status $rc)$(_log_tail)"
        fi
        local i
        for ((i = 0; i < 50; i++)); do
                fusermount3 -u "$MNT" 2>>"$SFS_LOG" && break
                sleep 0.2 # busy: give a closing process a moment
        done
        mountpoint -q "$MNT" && fail "fusermount3 -u $MNT failed$(_log_tail)"
        for ((i = 0; i < 100; i++)); do
                kill -0 "$SFS_PID" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$SFS_PID" 2>/dev/null; then
                local holders
                holders=$(_other_ns_holders)
                if [[ -n $holders ]]; then
                        # another process copied our mount into its own mount
                        # namespace (unshare, a container or sandbox starting on
                        # this machine): the kernel keeps the connection, and so
                        # the daemon, alive; not the daemon's fault
                        echo "note: the mount lives on in other mount namespaces: $holders; stopping stratafs" >&2
                        kill -TERM "$SFS_PID" 2>/dev/null
                        wait "$SFS_PID" 2>/dev/null || true
                        SFS_PID=
                        _check_lowers
                        return 0
                fi
                _daemon_threads "$SFS_PID" >&2
                kill -KILL "$SFS_PID" 2>/dev/null
                SFS_PID=
                fail "stratafs did not exit within 10s of the unmount (and no other mount namespace holds the mount)$(_log_tail)"
        fi
        local rc=0
        wait "$SFS_PID" || rc=$?
        SFS_PID=
        ((rc == 0)) || fail "stratafs exited with status $rc after the unmount$(_log_tail)"
        if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault' "$SFS_LOG"; then
                fail "sanitizer report in the log$(_log_tail)"
        fi
        _check_lowers
}

# processes (in other mount namespaces) that still have our mount, by device
_other_ns_holders() {
        [[ -n ${SFS_DEV:-} ]] || return 0
        local f pid
        for f in /proc/[0-9]*/mountinfo; do
                awk -v d="$SFS_DEV" '$3 == d { found = 1 } END { exit !found }' "$f" 2>/dev/null || continue
                pid=${f#/proc/}
                pid=${pid%/mountinfo}
                printf '%s(%s) ' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"
        done
}

# what a hung daemon is doing: thread states, and stacks if gdb is there
_daemon_threads() { # PID
        echo "--- threads of stratafs (pid $1) ---"
        ps -L -o tid=,stat=,wchan:32=,comm= -p "$1" 2>/dev/null | head -n 40
        if command -v gdb >/dev/null 2>&1; then
                timeout 30 gdb -p "$1" -batch -ex 'thread apply all bt 12' 2>/dev/null |
                        grep -E '^(Thread|#)' | head -n 120
        fi
        echo "--- end of threads ---"
}

sfs_remount() {
        local o=$SFS_OPTS
        sfs_umount
        _sfs_start "$o"
}

# sfs_kill9: SIGKILL the daemon (crash simulation) and lazily detach the mount.
sfs_kill9() {
        kill -KILL "$SFS_PID" 2>/dev/null
        wait "$SFS_PID" 2>/dev/null || true
        SFS_PID=
        fusermount3 -uz "$MNT" 2>/dev/null
        local i
        for ((i = 0; i < 50; i++)); do
                mountpoint -q "$MNT" || return 0
                sleep 0.1
        done
        fail "could not detach $MNT after killing stratafs"
}

# ovl_mount [-o OPTS] MNTDIR UPPER|- WORK|- LOWER...: kernel overlayfs (root)
ovl_mount() {
        need_kernel_overlay
        local extra=""
        if [[ $1 == -o ]]; then
                extra=",$2"
                shift 2
        fi
        local m=$1 up=$2 wk=$3
        shift 3
        mkdir -p "$m"
        local o="lowerdir=$(_join : "$@")"
        if [[ $up != - ]]; then
                mkdir -p "$up" "$wk"
                o+=",upperdir=$up,workdir=$wk"
        fi
        mount -t overlay -o "$o$extra" strata-test-overlay "$m" ||
                fail "kernel overlay mount failed: -o $o$extra ($(dmesg 2>/dev/null | tail -n 3 | tr '\n' ' '))"
}

ovl_umount() { umount "$1" || umount -l "$1"; }

# /dev/fuse usable by an unprivileged user (as distributions ship it).
fuse_dev_for_all() {
        [[ -c /dev/fuse ]] || return 1
        [[ $(stat -c %a /dev/fuse) == 666 ]] && return 0
        ((IS_ROOT)) || return 1
        chmod 0666 /dev/fuse
}

ensure_test_user() {
        id "$TEST_USER" >/dev/null 2>&1 && return 0
        ((IS_ROOT)) || return 1
        useradd --system --no-create-home --user-group --shell /bin/sh "$TEST_USER" >/dev/null 2>&1 ||
                id "$TEST_USER" >/dev/null 2>&1
}

# ----------------------------------------------------------- test running

_mounts_under() { # DIR: mount points below DIR, deepest first
        awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

_cleanup_troot() { # DIR
        local d=$1 m
        [[ -n $d && -d $d ]] || return 0
        for m in $(_mounts_under "$d"); do
                fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
                        fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        done
        if [[ -n $(_mounts_under "$d") ]]; then
                echo "# cleanup: mounts left under $d, not removing it" >&2
                return 0
        fi
        if [[ -n ${SFS_KEEP:-} ]]; then
                echo "# kept $d" >&2
                return 0
        fi
        chmod -R u+rwX "$d" 2>/dev/null
        rm -rf "$d" 2>/dev/null
        return 0
}

_test_cleanup() {
        local rc=$?
        set +eE
        trap - ERR
        if [[ -n ${SFS_PID:-} ]]; then
                fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
                local i
                for ((i = 0; i < 50; i++)); do
                        kill -0 "$SFS_PID" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$SFS_PID" 2>/dev/null
        fi
        _cleanup_troot "$T"
        exit "$rc"
}

_on_err() {
        echo "FAIL: command failed (status $1) at ${BASH_SOURCE[1]##*/}:$2 in ${FUNCNAME[1]}: $BASH_COMMAND" >&2
}

_run_one() { # TEST_NAME (inside the per-test process)
        local t=$1
        T=$(mktemp -d "${TMPDIR:-/tmp}/strata-it.XXXXXX") || exit 1
        printf '%s\n' "$T" >"$SFS_RESULT_DIR/troot"
        chmod 0755 "$T"
        LAYERS=$T/layers UPPER=$T/upper WORK=$T/work MNT=$T/mnt SFS_LOG=$T/stratafs.log
        mkdir -p "$LAYERS" "$UPPER" "$WORK" "$MNT"
        : >"$SFS_LOG"
        SFS_PID= SFS_OPTS= SFS_LOWERS=() SFS_IN_TEST=1
        trap _test_cleanup EXIT
        cd "$T" || exit 1
        set -eE -o pipefail
        trap '_on_err $? $LINENO' ERR
        "$t"
        # a test that leaves the mount up: unmounting checks the daemon's health
        if [[ -n ${SFS_PID:-} ]]; then sfs_umount; fi
}

_preflight() {
        [[ -x $STRATAFS ]] || skip "STRATAFS=$STRATAFS is not an executable"
        [[ -c /dev/fuse ]] || skip "no /dev/fuse"
        [[ -r /dev/fuse && -w /dev/fuse ]] || skip "/dev/fuse not usable by $(id -un)"
        command -v fusermount3 >/dev/null || skip "no fusermount3"
        command -v mountpoint >/dev/null || skip "no mountpoint"
        command -v setfattr >/dev/null || skip "no setfattr (attr package)"
}

# run_tests [NAME-SUBSTRING...]
run_tests() {
        if [[ ${1:-} == __one ]]; then
                _run_one "$2"
                exit $?
        fi
        local script=${BASH_SOURCE[1]} tests=() t
        _preflight
        for t in $(grep -oE '^test_[A-Za-z0-9_]+ *\(\)' "$script" | sed 's/ *()$//'); do
                if (($# == 0)); then
                        tests+=("$t")
                else
                        local a
                        for a in "$@"; do [[ $t == *"$a"* ]] && tests+=("$t") && break; done
                fi
        done
        echo "1..${#tests[@]}"
        local n=0 failed=0 rdir rc out
        rdir=$(mktemp -d "${TMPDIR:-/tmp}/strata-results.XXXXXX")
        for t in "${tests[@]}"; do
                n=$((n + 1))
                rm -f "$rdir/skip" "$rdir/troot"
                SFS_RESULT_DIR=$rdir timeout -k 10 "$TEST_TIMEOUT" \
                        bash "$script" __one "$t" >"$rdir/out" 2>&1 </dev/null
                rc=$?
                # a killed test cannot clean up after itself
                [[ -s $rdir/troot && -d $(cat "$rdir/troot") ]] && _cleanup_troot "$(cat "$rdir/troot")"
                case $rc in
                0) echo "ok $n - $t" ;;
                77) echo "ok $n - $t # SKIP $(head -n 1 "$rdir/skip" 2>/dev/null)" ;;
                *)
                        failed=$((failed + 1))
                        echo "not ok $n - $t"
                        ((rc != 124)) || echo "# timed out after ${TEST_TIMEOUT}s"
                        ;;
                esac
                if [[ $rc != 0 && $rc != 77 ]] || [[ -n ${VERBOSE:-} ]]; then
                        sed 's/^/# /' "$rdir/out"
                fi
        done
        rm -rf "$rdir"
        ((failed == 0)) || {
                echo "# $failed of $n failed"
                exit 1
        }
        exit 0
}
