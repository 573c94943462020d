#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Concurrency: several processes create, rename, write and delete in the same
# directories; the daemon survives and the final tree is what they did.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRESS_SECONDS=${STRESS_SECONDS:-20}
WORKERS=${STRESS_WORKERS:-6}

test_concurrent_workers_in_shared_dirs() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        local w i d
        for d in 0 1 2 3; do
                for w in $(seq 0 $((WORKERS - 1))); do
                        for i in 1 2 3; do
                                mk_file "$L2/d$d/lw${w}_$d$i" "lower $w $d $i"
                        done
                        mk_file "$L1/d$d/lw${w}_top$d" "top $w $d"
                done
                mk_file "$L2/d$d/shared-ro" "never touched"
        done
        sfs_mount "$L1" "$L2"
        local pids=()
        for w in $(seq 0 $((WORKERS - 1))); do
                fsutil stress-worker "$MNT" "$w" "$STRESS_SECONDS" "$((RANDOM + w))" "$T/worker$w.json" &
                pids+=($!)
        done
        # a reader listing and stat-ing everything meanwhile
        (
                end=$((SECONDS + STRESS_SECONDS))
                while ((SECONDS < end)); do
                        find "$MNT" -mindepth 1 >/dev/null 2>&1 || true
                        ls -lR "$MNT" >/dev/null 2>&1 || true
                done
        ) &
        pids+=($!)
        local p rc=0
        for p in "${pids[@]}"; do wait "$p" || rc=$?; done
        ((rc == 0)) || fail "a worker failed (status $rc)"
        assert_daemon_alive
        fsutil stress-check "$MNT" "$WORKERS" "$T/worker" >&2 || fail "final tree does not match the workers' operations (see above)"
        for d in 0 1 2 3; do assert_file_content "$MNT/d$d/shared-ro" "never touched"; done
        fsutil dump "$MNT" >"$T/dump.before"
        sfs_remount
        fsutil stress-check "$MNT" "$WORKERS" "$T/worker" >&2 || fail "tree after remount does not match the workers' operations"
        fsutil dump "$MNT" >"$T/dump.after"
        diff -u "$T/dump.before" "$T/dump.after" >&2 || fail "tree changed across remount"
        [[ -n $(ls -A "$UPPER/d0") ]] || fail "nothing written to the upper layer"
}

test_concurrent_copy_up_of_one_file() {
        L1=$(mk_layer l1)
        mk_file "$L1/log" "first line
"
        head -c 5000000 /dev/urandom >"$L1/bigger"
        sfs_mount "$L1"
        local pids=() w
        for w in $(seq 1 8); do
                "$PYTHON" - "$MNT/log" "$w" <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(200):
    os.write(fd, b"w%s line %d\n" % (sys.argv[2].encode(), i))
os.close(fd)
EOF
                pids+=($!)
                (cat "$MNT/bigger" >/dev/null; chmod 0600 "$MNT/bigger"; cat "$MNT/bigger" | cmp -s - "$L1/bigger" || echo "bigger corrupted" >&2) &
                pids+=($!)
        done
        local p rc=0
        for p in "${pids[@]}"; do wait "$p" || rc=$?; done
        ((rc == 0)) || fail "a writer failed (status $rc)"
        assert_eq 1601 "$(wc -l <"$MNT/log")" "lines after 8 concurrent appenders (1 + 8 * 200)"
        assert_eq 1601 "$(wc -l <"$UPPER/log")" "lines in the upper file"
        assert_eq "first line" "$(head -n 1 "$MNT/log")" "first line"
        for w in $(seq 1 8); do
                assert_eq 200 "$(grep -c "^w$w line" "$MNT/log")" "lines of writer $w"
        done
        assert_same_content "$L1/bigger" "$MNT/bigger"
        assert_mode "$UPPER/bigger" 0600
}

test_concurrent_directory_churn() {
        L1=$(mk_layer l1)
        local i
        for i in $(seq 0 9); do mk_file "$L1/top/dir$i/f" "$i"; done
        sfs_mount "$L1"
        local pids=() w
        for w in $(seq 1 4); do
                "$PYTHON" - "$MNT/top" "$w" "$((STRESS_SECONDS / 2))" <<'EOF' &
import os, random, sys, time
top, w, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(w)
end = time.monotonic() + secs
while time.monotonic() < end:
    a = os.path.join(top, "dir%d" % rng.randrange(10))
    b = os.path.join(top, "dir%d" % rng.randrange(10))
    op = rng.randrange(6)
    try:
        if op == 0:
            os.rename(a, b)
        elif op == 1:
            os.mkdir(a)
        elif op == 2:
            for n in os.listdir(a):
                os.unlink(os.path.join(a, n))
            os.rmdir(a)
        elif op == 3:
            with open(os.path.join(a, "w%d" % w), "w") as f:
                f.write("x")
        elif op == 4:
            os.listdir(top)
        else:
            os.stat(os.path.join(a, "f"))
    except OSError:
        pass  # races between workers are expected; the daemon must survive them
EOF
                pids+=($!)
        done
        local p
        for p in "${pids[@]}"; do wait "$p"; done
        assert_daemon_alive
        # self-consistent: every listed entry can be looked up and read
        local n bad=
        for n in $(ls -A "$MNT/top"); do
                [[ -d $MNT/top/$n ]] || bad+=" $n"
                ls -A "$MNT/top/$n" >/dev/null 2>&1 || bad+=" $n(list)"
        done
        [[ -z $bad ]] || fail "listed but not usable: $bad"
        fsutil dump "$MNT" >"$T/dump.before"
        sfs_remount
        fsutil dump "$MNT" >"$T/dump.after"
        diff -u "$T/dump.before" "$T/dump.after" >&2 || fail "tree changed across remount"
}

# No global lock: a long copy-up must not stall unrelated operations.
test_long_copy_up_does_not_block_others() {
        need_space 7
        L1=$(mk_layer l1)
        SFS_CHECK_LOWER=0 # a manifest of 3 GiB costs more than the test
        dd if=/dev/zero of="$L1/huge" bs=1M count=3072 status=none
        local i
        for i in $(seq 1 40); do mk_file "$L1/other/f$i" "$i"; done
        sfs_mount "$L1"
        ( echo x >>"$MNT/huge" ) &
        local writer=$!
        for ((i = 0; i < 300; i++)); do
                [[ -n $(find "$WORK" "$UPPER" -type f -size +1M 2>/dev/null | head -n 1) ]] && break
                sleep 0.01
        done
        kill -0 "$writer" 2>/dev/null || skip "copy-up finished before the probe (too fast to judge)"
        local start=$SECONDS
        for i in $(seq 1 40); do
                cat "$MNT/other/f$i" >/dev/null
                ls -l "$MNT/other" >/dev/null
                echo "$i" >"$MNT/new$i"
        done
        local busy=no
        kill -0 "$writer" 2>/dev/null && busy=yes
        wait "$writer" || fail "append to the huge file failed"
        assert_eq yes "$busy" "copy-up of 3 GiB still running when 120 unrelated operations (lookup, readdir, create) were done ($((SECONDS - start))s)"
        assert_eq $(((3072 << 20) + 2)) "$(stat -c %s "$MNT/huge")" "size after the append"
        assert_file_content "$UPPER/new40" 40
}

run_tests "$@"
