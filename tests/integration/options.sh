#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Command line (contract 1): a drop-in for fuse-overlayfs; every bad
# invocation is a clear message and a non-zero exit before anything is mounted.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# _run_sfs ARGS...: run the daemon (it daemonizes once the mount is live),
# RC and OUT (stdout+stderr) for the caller; a mount it made is recorded.
_run_sfs() {
        RC=0
        timeout 20 "$STRATAFS" "$@" >"$T/out" 2>&1 </dev/null || RC=$?
        OUT=$(cat "$T/out")
}

# a bad command line: non-zero exit, a message naming WHAT, nothing mounted
_assert_refused() { # WHAT ARGS...
        local what=$1
        shift
        _run_sfs "$@"
        if mountpoint -q "$MNT"; then
                fusermount3 -u "$MNT"
                fail "mounted despite $what (exit $RC)"
        fi
        ((RC != 0 && RC != 124)) || fail "$what: expected a non-zero exit, got $RC; output: [$OUT]"
        [[ -n $OUT ]] || fail "$what: exit $RC without any message"
        echo "$what -> exit $RC: $OUT" >&2
}

_lowers() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" hello
}

test_unknown_option_refused() {
        _lowers
        _assert_refused "an unknown option" -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK,no_such_option_xyz" "$MNT"
        [[ $OUT == *no_such_option_xyz* ]] || fail "the message does not name the unknown option: [$OUT]"
}

test_unknown_flag_refused() {
        _lowers
        _assert_refused "an unknown flag" --no-such-flag -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_missing_lowerdir_refused() {
        _lowers
        _assert_refused "a missing lowerdir" -o "lowerdir=$T/nonexistent,upperdir=$UPPER,workdir=$WORK" "$MNT"
        [[ $OUT == *nonexistent* ]] || fail "the message does not name the missing dir: [$OUT]"
}

test_missing_second_lowerdir_refused() {
        _lowers
        _assert_refused "a missing second lowerdir" -o "lowerdir=$L1:$T/nonexistent,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_no_lowerdir_refused() {
        _lowers
        _assert_refused "no lowerdir" -o "upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_missing_upperdir_refused() {
        _lowers
        _assert_refused "a missing upperdir" -o "lowerdir=$L1,upperdir=$T/nonexistent,workdir=$WORK" "$MNT"
}

test_upperdir_without_workdir_refused() {
        _lowers
        _assert_refused "upperdir without workdir" -o "lowerdir=$L1,upperdir=$UPPER" "$MNT"
}

test_missing_workdir_refused() {
        _lowers
        _assert_refused "a missing workdir" -o "lowerdir=$L1,upperdir=$UPPER,workdir=$T/nonexistent/deeper" "$MNT"
}

test_lowerdir_is_a_file_refused() {
        _lowers
        _assert_refused "a lowerdir that is a file" -o "lowerdir=$L1/f,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_missing_mountpoint_refused() {
        _lowers
        _assert_refused "a missing mount point" -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$T/nonexistent"
}

test_readonly_upperdir_refused() {
        ((IS_ROOT)) && skip "root can write a 0555 dir"
        _lowers
        chmod 0555 "$UPPER"
        _assert_refused "an upperdir without write permission" -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_workdir_on_other_fs_refused() {
        need_root
        _lowers
        mkdir -p "$T/tmpfs-work"
        mount -t tmpfs strata-test-work "$T/tmpfs-work" || skip "cannot mount tmpfs"
        _assert_refused "a workdir on another file system than upperdir" \
                -o "lowerdir=$L1,upperdir=$UPPER,workdir=$T/tmpfs-work" "$MNT"
        assert_listing "$T/tmpfs-work" ""
}

test_lowerdir_inside_mountpoint_refused() {
        _lowers
        mk_file "$MNT/inside/x" x
        _assert_refused "a lowerdir inside the mount point" -o "lowerdir=$MNT/inside:$L1,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_upperdir_inside_mountpoint_refused() {
        _lowers
        mkdir -p "$MNT/up" "$MNT/wk"
        _assert_refused "an upperdir inside the mount point" -o "lowerdir=$L1,upperdir=$MNT/up,workdir=$MNT/wk" "$MNT"
}

test_mountpoint_itself_as_layer_refused() {
        _lowers
        _assert_refused "the mount point as a lowerdir" -o "lowerdir=$MNT:$L1,upperdir=$UPPER,workdir=$WORK" "$MNT"
}

test_version() {
        _run_sfs --version
        assert_eq 0 "$RC" "exit status of --version"
        [[ $OUT =~ [0-9]+\.[0-9]+ ]] || fail "--version prints no version number: [$OUT]"
}

test_help() {
        _run_sfs --help
        assert_eq 0 "$RC" "exit status of --help"
        [[ $OUT == *lowerdir* && $OUT == *upperdir* && $OUT == *workdir* ]] ||
                fail "--help does not describe lowerdir/upperdir/workdir: [$(head -c 400 <<<"$OUT")]"
}

test_daemonizes_once_mounted() {
        _lowers
        _run_sfs -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$MNT"
        assert_eq 0 "$RC" "exit status of a daemonizing mount ($OUT)"
        mountpoint -q "$MNT" || fail "not mounted when the command returned"
        assert_file_content "$MNT/f" hello
        echo w >"$MNT/w"
        fusermount3 -u "$MNT"
        assert_file_content "$UPPER/w" w
}

test_foreground_debug_flag() {
        _lowers
        "$STRATAFS" -d -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$MNT" >"$SFS_LOG" 2>&1 </dev/null &
        SFS_PID=$!
        local i
        for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
                mountpoint -q "$MNT" && break
                sleep 0.1
        done
        mountpoint -q "$MNT" || fail "-d: not mounted$(_log_tail)"
        kill -0 "$SFS_PID" 2>/dev/null || fail "-d: the process did not stay in the foreground"
        cat "$MNT/f" >/dev/null
        SFS_LOWERS=()
        sfs_umount
        [[ -s $SFS_LOG ]] || fail "-d printed no debug output"
}

test_single_threaded_flag() {
        _lowers
        "$STRATAFS" -f -s -o "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK" "$MNT" >"$SFS_LOG" 2>&1 </dev/null &
        SFS_PID=$!
        local i
        for ((i = 0; i < MOUNT_TIMEOUT * 10; i++)); do
                mountpoint -q "$MNT" && break
                sleep 0.1
        done
        assert_file_content "$MNT/f" hello
        echo s >"$MNT/s"
        SFS_LOWERS=()
        sfs_umount
        assert_file_content "$UPPER/s" s
}

# Every session loop serves the same: stratafs's own with and without
# spinning, one thread, and libfuse's (clone_fd); each ends at the unmount.
test_session_loops() {
        _lowers
        local opts i pids
        for opts in spin=0 spin=10000 max_threads=1 max_threads=2,max_idle_threads=0 clone_fd; do
                sfs_mount -o "$opts" "$L1"
                assert_file_content "$MNT/f" hello
                pids=()
                for i in $(seq 20); do
                        echo "$i" >"$MNT/n$i" &
                        pids+=($!)
                done
                wait "${pids[@]}" || fail "parallel creates with $opts failed"
                cat "$MNT"/n* >/dev/null
                rm "$MNT/f"
                dd if=/dev/zero of="$MNT/big" bs=64k count=64 status=none conv=fsync ||
                        fail "write and fsync with $opts failed"
                sfs_umount
                assert_whiteout_on_disk "$UPPER/f"
                assert_file_content "$UPPER/n20" 20
                assert_eq 4194304 "$(stat -c %s "$UPPER/big")" "size written with $opts"
                rm -rf "${UPPER:?}"/* "${WORK:?}"/*
        done
}

test_readonly_mount_returns_erofs() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/f" top
        mk_file "$L2/f" bottom
        mk_file "$L2/d/g" g
        mk_dir "$L2/empty"
        mk_whiteout "$L1/gone"
        mk_file "$L2/gone" hidden
        sfs_mount_ro "$L1" "$L2"
        assert_file_content "$MNT/f" top
        assert_file_content "$MNT/d/g" g
        assert_enoent "$MNT/gone"
        assert_errno EROFS creat "$MNT/new"
        assert_errno EROFS open_w "$MNT/f"
        assert_errno EROFS mkdir "$MNT/newdir"
        assert_errno EROFS unlink "$MNT/f"
        assert_errno EROFS rmdir "$MNT/empty"
        assert_errno EROFS rename "$MNT/f" "$MNT/f2"
        assert_errno EROFS chmod "$MNT/f" 600
        assert_errno EROFS setxattr "$MNT/f" user.x y
        assert_errno EROFS symlink f "$MNT/l"
        assert_listing "$UPPER" ""
}

test_podman_trailing_empty_option() {
        _lowers
        sfs_mount -o "" "$L1" # lowerdir=...,upperdir=...,workdir=..., (trailing comma)
        [[ $SFS_OPTS == *, ]] || fail "test bug: options do not end with a comma: $SFS_OPTS"
        assert_file_content "$MNT/f" hello
        echo x >"$MNT/x"
        assert_file_content "$UPPER/x" x
}

test_podman_double_comma_volatile() {
        _lowers
        sfs_mount -o ",volatile" "$L1" # ...,workdir=W,,volatile
        assert_file_content "$MNT/f" hello
        echo x >"$MNT/x"
        assert_file_content "$UPPER/x" x
}

test_fuse_overlayfs_options_accepted() {
        _lowers
        local opts=(squash_to_root squash_to_uid=0 squash_to_gid=0 static_nlink noacl timeout=1
                threaded=1 threaded=0 fsync=0 fsync=1 xattr_permissions=0
                "uidmapping=0:0:65536,gidmapping=0:0:65536" auto_unmount clone_fd max_threads=4
                default_permissions noatime)
        ((IS_ROOT)) && opts+=(allow_other allow_root suid dev)
        local o bad=()
        for o in "${opts[@]}"; do
                rm -rf "$WORK" && mkdir "$WORK"
                if ! (_sfs_start "lowerdir=$L1,upperdir=$UPPER,workdir=$WORK,$o" && cat "$MNT/f" >/dev/null &&
                        sfs_umount) >"$T/opt.out" 2>&1; then
                        bad+=("$o: $(tail -n 3 "$T/opt.out" | tr '\n' ' ')")
                        fusermount3 -uz "$MNT" 2>/dev/null || true
                fi
        done
        ((${#bad[@]} == 0)) || fail "options fuse-overlayfs accepts were refused: $(printf '\n  %s' "${bad[@]}")"
}

test_uidmapping_maps_owners() {
        need_root
        L1=$(mk_layer l1)
        mk_file "$L1/root-owned" r
        mk_file "$L1/id5" five
        chown 5:6 "$L1/id5"
        mk_file "$L1/unmapped" u
        chown 2000:2000 "$L1/unmapped"
        # fuse-overlayfs semantics: ids C..C+N-1 on disk show as H..H+N-1
        sfs_mount -o uidmapping=0:1000:10 -o gidmapping=0:1000:10 "$L1"
        assert_owner "$MNT/root-owned" 1000:1000
        assert_owner "$MNT/id5" 1005:1006
        assert_owner "$MNT/unmapped" 65534:65534
        chown 1003:1004 "$MNT/id5"
        assert_owner "$MNT/id5" 1003:1004
        assert_owner "$UPPER/id5" 3:4
}

test_squash_to_uid_and_gid() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_dir "$L1/d"
        sfs_mount -o squash_to_uid=4242 -o squash_to_gid=4343 "$L1"
        assert_owner "$MNT/f" 4242:4343
        assert_owner "$MNT/d" 4242:4343
        echo y >"$MNT/new"
        assert_owner "$MNT/new" 4242:4343
        assert_owner "$UPPER/new" "$(id -u):$(id -g)"
}

test_squash_to_root() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        ((IS_ROOT)) && chown 1234:5678 "$L1/f"
        sfs_mount -o squash_to_root "$L1"
        assert_owner "$MNT/f" 0:0
        assert_owner "$MNT" 0:0
}

test_colon_escaped_in_lowerdir() {
        mkdir -p "$LAYERS/with:colon"
        mk_file "$LAYERS/with:colon/f" colon
        L1=$LAYERS/with:colon
        SFS_LOWERS=("$L1")
        _snapshot_lowers
        _sfs_start "lowerdir=$LAYERS/with\\:colon,upperdir=$UPPER,workdir=$WORK"
        assert_file_content "$MNT/f" colon
}

test_root_mount_usable_by_other_users() {
        need_root
        ensure_test_user || skip "cannot create user $TEST_USER"
        _lowers
        mk_dir "$L1/shared" 1777
        sfs_mount "$L1"
        runuser -u "$TEST_USER" -- cat "$MNT/f" >/dev/null 2>&1 ||
                fail "$TEST_USER cannot read a root mount made without options (allow_other expected by default)"
        runuser -u "$TEST_USER" -- sh -c "echo by-user >'$MNT/shared/u'" ||
                fail "$TEST_USER cannot create a file in a 1777 dir"
        assert_owner "$UPPER/shared/u" "$(id -u "$TEST_USER"):$(id -g "$TEST_USER")"
}

test_explicit_allow_other() {
        need_root
        ensure_test_user || skip "cannot create user $TEST_USER"
        _lowers
        sfs_mount -o allow_other "$L1"
        assert_eq hello "$(runuser -u "$TEST_USER" -- cat "$MNT/f")" "read by $TEST_USER"
}

test_root_mount_has_suid_and_dev() {
        need_root
        _lowers
        sfs_mount "$L1"
        local flags
        flags=$(awk -v m="$MNT" '$5 == m { print $6 }' /proc/self/mountinfo)
        [[ -n $flags ]] || fail "mount not in mountinfo"
        [[ ,$flags, != *,nosuid,* ]] || fail "root mount is nosuid: $flags"
        [[ ,$flags, != *,nodev,* ]] || fail "root mount is nodev: $flags"
}

test_setuid_program_runs_setuid() {
        need_root
        ensure_test_user || skip "cannot create user $TEST_USER"
        _lowers
        mkdir -p "$L1/bin"
        cp /usr/bin/id "$L1/bin/id-suid"
        chown 4321:4321 "$L1/bin/id-suid"
        chmod 4755 "$L1/bin/id-suid"
        sfs_mount "$L1"
        local got
        got=$(runuser -u "$TEST_USER" -- "$MNT/bin/id-suid" -u) || fail "$TEST_USER cannot run a program from the mount"
        assert_eq 4321 "$got" "effective uid of a set-uid program run from the mount by $TEST_USER"
        assert_enoent "$UPPER/bin/id-suid"
}

run_tests "$@"
