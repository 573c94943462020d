#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Oracle test (STYLE.md §2.10): seeded random layer stacks (files, dirs,
# symlinks, hard links, xattrs, whiteouts and opaque dirs of every format)
# mounted by stratafs and compared entry by entry with a reference merge
# (oracle.py) and, as root, with kernel overlayfs; then a seeded random
# sequence of operations applied to stratafs, kernel overlayfs (root) and a
# plain directory copy, the trees compared, and stratafs's upper layer mounted
# by kernel overlayfs and compared too.
#
#   SEEDS=N (default 30) seeds SEED_BASE.. (default 1), or SEED_LIST="17 42"
#   ORACLE_OPS=N operations per seed (default 60)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEEDS=${SEEDS:-30}
SEED_BASE=${SEED_BASE:-1}
ORACLE_OPS=${ORACLE_OPS:-60}
TEST_TIMEOUT=${TEST_TIMEOUT_ORACLE:-280}
ORACLE=("$PYTHON" "$TESTS_DIR/oracle.py")

oracle() { "${ORACLE[@]}" "$@"; }

_seeds() {
        if [[ -n ${SEED_LIST:-} ]]; then
                echo "$SEED_LIST"
        else
                seq "$SEED_BASE" $((SEED_BASE + SEEDS - 1))
        fi
}

_kernel_ok() {
        ((IS_ROOT)) && grep -qw overlay /proc/filesystems 2>/dev/null
}

# per-seed private dirs (the lib's variables point into them)
_seed_dirs() { # SEED
        T=$ROOT_T/s$1
        LAYERS=$T/layers UPPER=$T/upper WORK=$T/work MNT=$T/mnt SFS_LOG=$T/stratafs.log
        mkdir -p "$LAYERS" "$UPPER" "$WORK" "$MNT"
        : >"$SFS_LOG"
        SFS_PID= SFS_LOWERS=()
}

_diff_or_fail() { # EXPECTED_FILE ACTUAL_FILE MESSAGE
        diff -u "$1" "$2" >"$T/diff" && return 0
        echo "$3 (- $(basename "$1"), + $(basename "$2")):" >&2
        head -n 50 "$T/diff" | sed 's/^/    /' >&2
        fail "$3"
}

_kernelize_all() { # LAYER... -> prints kernel-format copies
        oracle kernelize "$T/klayers" "$@"
}

# phase 1: the merged view of a random stack
_read_seed() { # SEED
        _seed_dirs "$1"
        local ls=()
        mapfile -t ls < <(oracle gen "$1" "$LAYERS")
        ((${#ls[@]} >= 2)) || fail "generator failed"
        oracle merge "${ls[@]}" >"$T/reference"
        sfs_mount_ro "${ls[@]}"
        fsutil dump "$MNT" >"$T/stratafs"
        sfs_umount
        _diff_or_fail "$T/reference" "$T/stratafs" "read-only stratafs mount differs from the reference merge"
        sfs_mount "${ls[@]}"
        fsutil dump "$MNT" >"$T/stratafs-rw"
        sfs_umount
        _diff_or_fail "$T/reference" "$T/stratafs-rw" "read-write stratafs mount differs from the reference merge"
        if _kernel_ok; then
                local ks=()
                mapfile -t ks < <(_kernelize_all "${ls[@]}")
                ovl_mount "$T/kmnt" - - "${ks[@]}"
                # (kernel quirk: whiteouts in a dir of one layer only are listed, then ENOENT)
                fsutil dump "$T/kmnt" | grep -v ' <lstat:ENOENT>$' >"$T/kernel"
                ovl_umount "$T/kmnt"
                _diff_or_fail "$T/reference" "$T/kernel" "kernel overlayfs differs from the reference merge (oracle bug?)"
        fi
        echo "seed $1: $(wc -l <"$T/reference") entries identical" >&2
}

# phase 2: random operations, then the upper layer under kernel overlayfs
_ops_seed() { # SEED
        _seed_dirs "$1"
        local ls=() kernel=0
        mapfile -t ls < <(oracle gen "$1" "$LAYERS")
        if _kernel_ok; then
                kernel=1
                # the kernel reads only its own format: run everything on kernel-format copies
                mapfile -t ls < <(_kernelize_all "${ls[@]}")
        fi
        oracle merge "${ls[@]}" >"$T/reference"
        sfs_mount "${ls[@]}"
        fsutil dump "$MNT" >"$T/stratafs-before"
        _diff_or_fail "$T/reference" "$T/stratafs-before" "stratafs differs from the reference merge before any operation"
        cp -a "$MNT/." "$T/plain"
        fsutil dump "$T/plain" >"$T/plain-before"
        _diff_or_fail "$T/reference" "$T/plain-before" "plain copy (cp -a) of the mount differs from the reference"
        local trees=("stratafs=$MNT" "plain=$T/plain")
        if ((kernel)); then
                ovl_mount -o index=on,redirect_dir=on,metacopy=on "$T/kmnt" "$T/kupper" "$T/kwork" "${ls[@]}"
                trees+=("kernel=$T/kmnt")
        fi
        oracle ops "$1" "$ORACLE_OPS" "${trees[@]}" >"$T/ops.out" 2>&1 || {
                cat "$T/ops.out" >&2
                fail "random operations: trees differ"
        }
        cat "$T/ops.out" >&2
        fsutil dump "$MNT" >"$T/stratafs-after"
        sfs_umount
        if ((kernel)); then
                ovl_umount "$T/kmnt"
                ovl_mount -o redirect_dir=on,metacopy=on "$T/kmnt2" "$UPPER" "$T/kwork2" "${ls[@]}"
                fsutil dump "$T/kmnt2" >"$T/kernel-on-stratafs-upper"
                ovl_umount "$T/kmnt2"
                _diff_or_fail "$T/stratafs-after" "$T/kernel-on-stratafs-upper" \
                        "kernel overlayfs on stratafs's upper layer differs from stratafs"
        fi
}

_over_seeds() { # FUNCTION TEST_NAME
        local fn=$1 name=$2 seed failed=() n=0
        ROOT_T=$T
        for seed in $(_seeds); do
                n=$((n + 1))
                # a failing seed must not end the loop (nor trip the test's own errexit)
                local rc=0
                trap - ERR
                set +e
                (
                        set -eE -o pipefail
                        trap '_on_err $? $LINENO' ERR
                        "$fn" "$seed"
                ) >"$ROOT_T/seed$seed.out" 2>&1
                rc=$?
                set -e
                trap '_on_err $? $LINENO' ERR
                _cleanup_troot "$ROOT_T/s$seed"
                if ((rc != 0)); then
                        failed+=("$seed")
                        echo "--- seed $seed FAILED (rerun: SEED_LIST=$seed bash $0 $name)" >&2
                        sed 's/^/  /' "$ROOT_T/seed$seed.out" | head -n 80 >&2
                elif [[ -n ${VERBOSE:-} ]]; then
                        cat "$ROOT_T/seed$seed.out" >&2
                fi
        done
        T=$ROOT_T
        ((${#failed[@]} == 0)) || fail "${#failed[@]} of $n seeds failed: ${failed[*]} (rerun one: SEED_LIST=<seed> bash $0 $name)"
        echo "$n seeds passed" >&2
}

test_random_stacks_match_reference() { _over_seeds _read_seed test_random_stacks_match_reference; }
test_random_operations_match() { _over_seeds _ops_seed test_random_operations_match; }

run_tests "$@"
