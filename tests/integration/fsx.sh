#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Data integrity under random operations, in the manner of xfstests' fsx:
# reads, writes, truncates, mmap, fallocate (plain, keep-size, punch-hole,
# zero-range), copy_file_range and reopening, on a small lower file (served
# by the daemon), a big one (passed through when the kernel can) and a new
# file, each checked against a model of its bytes after every operation,
# then on disk in the upper layer.  Once per way of serving files.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FSX_OPS=${FSX_OPS:-2500}
FSX_MAXLEN=$((3 * 1024 * 1024)) # past the 1 MiB where passthrough starts

_fsx() { # OPTIONS: mount with them and exercise the three files
        L1=$(mk_layer l1)
        head -c 300000 /dev/urandom >"$L1/small"
        head -c 2500000 /dev/urandom >"$L1/big"
        sfs_mount ${1:+-o "$1"} "$L1"
        : >"$MNT/new"
        local f seed=${SEED_BASE:-1} out
        for f in small big new; do
                out=$(fsutil fsx "$MNT/$f" "$seed" "$FSX_OPS" "$FSX_MAXLEN" "$T/model.$f") ||
                        fail "$out"
                seed=$((seed + 1))
        done
        sfs_umount # also checks the lower layer
        for f in small big new; do
                cmp -s "$T/model.$f" "$UPPER/$f" || fail "upper file $f differs from the model"
        done
}

test_fsx() { _fsx ""; }
test_fsx_served_by_the_daemon() { _fsx passthrough=0; }
test_fsx_with_the_writeback_cache() { _fsx passthrough=0,writeback=1; }
test_fsx_without_opens() { _fsx zero_open=1; }

run_tests "$@"
