#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# readdir of merged directories: content, size, stable offsets (STYLE.md §3.9).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# names 0..N-1 with a prefix, in DIR, created on disk directly
_mk_many() { # DIR PREFIX FIRST LAST
        mkdir -p "$1"
        "$PYTHON" - "$@" <<'EOF'
import os, sys
d, prefix, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for i in range(first, last + 1):
    with open(os.path.join(d, "%s%06d" % (prefix, i)), "w") as f:
        f.write(str(i))
EOF
}

_sorted_names() { fsutil names "$1" | LC_ALL=C sort; }

test_merge_of_layers() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L2/d/a" l2
        mk_file "$L2/d/b" l2
        mk_dir "$L2/d/sub"
        mk_file "$L1/d/b" l1
        mk_file "$L1/d/c" l1
        mk_symlink "$L1/d/l" a
        mk_file "$UPPER/d/c" upper
        mk_file "$UPPER/d/e" upper
        sfs_mount "$L1" "$L2"
        assert_listing "$MNT/d" "a b c e l sub"
        assert_eq "a b c e l sub" "$(_sorted_names "$MNT/d" | tr '\n' ' ' | sed 's/ $//')" "readdir names (no duplicates)"
        assert_file_content "$MNT/d/b" l1
        assert_file_content "$MNT/d/c" upper
        assert_listing "$UPPER/d" "c e"
}

test_dot_and_dotdot_listed_once() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_file "$L1/d/a" x
        mk_file "$L2/d/b" x
        mk_dir "$UPPER/d"
        sfs_mount "$L1" "$L2"
        local got
        got=$(ls -a "$MNT/d" | tr '\n' ' ')
        assert_eq ". .. a b " "$got" "ls -a of a dir present in 3 layers"
}

test_dtype_matches_stat() {
        L1=$(mk_layer l1)
        mk_file "$L1/f" x
        mk_dir "$L1/d"
        mk_symlink "$L1/l" f
        mkfifo "$L1/p"
        sfs_mount "$L1"
        local got
        got=$("$PYTHON" -c '
import os, sys
for e in sorted(os.scandir(sys.argv[1]), key=lambda e: e.name):
    t = "d" if e.is_dir(follow_symlinks=False) else "l" if e.is_symlink() else "f" if e.is_file(follow_symlinks=False) else "o"
    print(e.name + t, end=" ")' "$MNT")
        assert_eq "dd ff ll po " "$got" "scandir types"
}

test_250_entries_merged_with_whiteouts() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/big" n 0 199
        _mk_many "$L1/big" n 150 299
        local i expected
        for i in $(seq 0 9); do mk_whiteout "$L1/big/$(printf 'n%06d' "$i")"; done
        sfs_mount "$L1" "$L2"
        # delete 10 more and create 5 through the mount
        for i in $(seq 10 19); do rm "$MNT/big/$(printf 'n%06d' "$i")"; done
        for i in $(seq 300 304); do echo "$i" >"$MNT/big/$(printf 'n%06d' "$i")"; done
        expected=$(seq 20 304 | while read -r i; do printf 'n%06d\n' "$i"; done)
        assert_eq "$expected" "$(_sorted_names "$MNT/big")" "names in a 285-entry merged dir"
        assert_eq 285 "$(ls -A "$MNT/big" | wc -l)" "ls -A count"
        assert_whiteout_on_disk "$UPPER/big/n000010"
        assert_file_content "$UPPER/big/n000300" 300
}

# The first batch of a big listing read cold carries names without
# attributes (readdir.c): what the caller sees is the same as ever.
test_big_cold_listing_names_types_and_inode_numbers() {
        need_root
        local L1 L2 i got
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/big" n 0 299
        _mk_many "$L1/big" n 250 399
        for i in 1 2 3; do
                mk_dir "$L2/big/sub$i"
                mk_symlink "$L1/big/link$i" n000001
        done
        mk_dir "$L1/big/sub2" # merged directory
        mk_whiteout "$L1/big/n000007"
        sfs_mount "$L1" "$L2"
        sync
        echo 3 >/proc/sys/vm/drop_caches
        got=$("$PYTHON" - "$MNT/big" <<'EOF2'
import os, stat, sys
bad, n = [], 0
for e in os.scandir(sys.argv[1]):
    n += 1
    st = os.lstat(e.path)
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
    dkind = "d" if e.is_dir(follow_symlinks=False) else "l" if e.is_symlink() else "f"
    if e.inode() != st.st_ino or kind != dkind:
        bad.append("%s: d_ino %d st_ino %d, d_type %s mode %s" % (e.name, e.inode(), st.st_ino, dkind, kind))
print(n, *bad[:5], sep="\n")
EOF2
)
        assert_eq 405 "$got" "entries of a 405-entry merged dir listed cold, and d_ino/d_type against lstat"
}

test_stable_offsets_merged_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/d" lo 0 199
        _mk_many "$L1/d" mid 0 79
        _mk_many "$UPPER/d" up 0 39
        mk_whiteout "$L1/d/lo000005"
        sfs_mount "$L1" "$L2"
        fsutil readdir-offsets "$MNT/d" 1 >&2 || fail "readdir offsets not stable (see above)"
        # the same after the directory was copied up and changed
        touch "$MNT/d/new1" "$MNT/d/new2"
        rm "$MNT/d/lo000100"
        fsutil readdir-offsets "$MNT/d" 2 >&2 || fail "readdir offsets not stable after changes (see above)"
        assert_whiteout_on_disk "$UPPER/d/lo000100"
}

test_stable_offsets_after_remount() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/d" lo 0 149
        _mk_many "$L1/d" hi 0 99
        sfs_mount "$L1" "$L2"
        fsutil names "$MNT/d" >"$T/order1"
        sfs_remount
        fsutil names "$MNT/d" >"$T/order2"
        diff -q "$T/order1" "$T/order2" >/dev/null || fail "readdir order of an unchanged dir differs across remount"
        assert_eq 250 "$(wc -l <"$T/order2")" "entries"
}

test_100k_entries() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        SFS_CHECK_LOWER=0 # a 100k-file manifest costs more than the test
        _mk_many "$L2/huge" e 0 59999
        _mk_many "$L1/huge" e 50000 99999
        sfs_mount "$L1" "$L2"
        local n
        n=$(fsutil names "$MNT/huge" | sort -u | wc -l)
        assert_eq 100000 "$n" "distinct names in a 100k-entry merged dir"
        assert_eq 100000 "$(fsutil names "$MNT/huge" | wc -l)" "names returned by readdir (duplicates?)"
        assert_file_content "$MNT/huge/e099999" 99999
        assert_file_content "$MNT/huge/e000000" 0
        touch "$MNT/huge/extra"
        assert_eq 100001 "$(fsutil names "$MNT/huge" | wc -l)" "names after one create"
        assert_exists "$UPPER/huge/extra"
}

# Entries removed or added while a directory is being read may or may not be
# returned, but every untouched entry must come exactly once.
test_untouched_entries_listed_once_during_changes() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/d" lo 0 199
        _mk_many "$L1/d" hi 0 99
        sfs_mount "$L1" "$L2"
        "$PYTHON" - "$MNT/d" <<'EOF2' >&2 || fail "entries lost or duplicated while the dir changed (see above)"
import os, sys
sys.path.insert(0, os.environ["TESTS_DIR"])
import fsutil
d = sys.argv[1]
all_names = sorted(os.listdir(d))
h = fsutil.Dir(d)
seen = []
for _ in range(100):
    seen.append(h.read()[0])
seen_set = set(seen)
# delete 30 already-read and 30 not-yet-read entries, add 30 new ones
gone = [n for n in all_names if n in seen_set and n not in (".", "..")][:30]
unread = [n for n in all_names if n not in seen_set][:30]
for n in gone + unread:
    os.unlink(os.path.join(d, n))
for i in range(30):
    open(os.path.join(d, "new%02d" % i), "w").close()
while True:
    e = h.read()
    if e is None:
        break
    seen.append(e[0])
h.close()
untouched = set(all_names) - set(gone) - set(unread)
errs = []
for n in sorted(untouched):
    c = seen.count(n)
    if c != 1:
        errs.append("%s returned %d times" % (n, c))
dups = sorted({n for n in seen if seen.count(n) > 1})
if dups:
    errs.append("duplicates: %s" % dups[:10])
if errs:
    print("\n".join(errs[:20]))
    sys.exit(1)
print("ok: %d untouched entries each returned once" % len(untouched))
EOF2
        local wh
        wh=$(find "$UPPER/d" -mindepth 1 \( -type c -o -name '.wh.*' \) | wc -l)
        assert_eq 60 "$wh" "whiteouts in upper after deleting 60 lower entries"
        assert_eq 270 "$(fsutil names "$MNT/d" | wc -l)" "entries after the changes"
}

test_readdir_sees_changes_after_reopen() {
        L1=$(mk_layer l1)
        mk_file "$L1/d/a" a
        mk_file "$L1/d/b" b
        sfs_mount "$L1"
        assert_listing "$MNT/d" "a b"
        rm "$MNT/d/a"
        touch "$MNT/d/c"
        mkdir "$MNT/d/e"
        assert_listing "$MNT/d" "b c e"
        assert_whiteout_on_disk "$UPPER/d/a"
        assert_type "$UPPER/d/c" f
        assert_type "$UPPER/d/e" d
}

test_empty_merged_dir() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        mk_dir "$L1/e"
        mk_file "$L2/e/gone" x
        mk_whiteout "$L1/e/gone"
        sfs_mount "$L1" "$L2"
        assert_listing "$MNT/e" ""
        rmdir "$MNT/e" # empty in the merged view: rmdir must succeed
        assert_enoent "$MNT/e"
        assert_whiteout_on_disk "$UPPER/e"
}

# A listing of a big directory is kept, so that the lookups that follow it
# go straight to the layer holding each name (readdir.c): what they find
# must be what a full lookup finds, before and after changes.
_big_dir_layers() {
        L1=$(mk_layer l1) L2=$(mk_layer l2)
        _mk_many "$L2/d" f 0 399
        mk_file "$L2/d/sub/x" x
        mk_file "$L1/d/f000010" l1
        mk_whiteout "$L1/d/f000020"
        rm "$L2/d/f000030"
        mk_dir "$L2/d/f000030"
        mk_file "$L1/d/f000030" file-over-dir
        mk_file "$L1/d/f000040/inner" dir-over-file
        rm "$L2/d/f000040"
        mk_file "$L2/d/f000040" lower-file
        _mk_many "$L1/d" g 0 99
        mk_file "$L1/d/sub/y" y
}

# name, type and content (or listing) of every entry of DIR, by name
_manifest() {
        "$PYTHON" - "$1" <<'EOF2'
import os, stat, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    p = os.path.join(d, name)
    st = os.lstat(p)
    if stat.S_ISDIR(st.st_mode):
        print(name, "d", " ".join(sorted(os.listdir(p))))
    else:
        print(name, "f", open(p).read())
EOF2
}

_drop_dentries() { ((IS_ROOT)) && { sync; echo 2 >/proc/sys/vm/drop_caches; }; :; }

test_lookups_after_a_big_listing() {
        _big_dir_layers
        sfs_mount "$L1" "$L2"
        local want got fd
        want=$(_manifest "$MNT/d")
        assert_eq 500 "$(ls -f "$MNT/d" | grep -vc '^\.\.\?$')" "entries listed"
        assert_true "overridden file from the top layer" grep -q 'f000010 f l1' <<<"$want"
        assert_true "file over a lower dir" grep -q 'f000030 f file-over-dir' <<<"$want"
        assert_true "dir over a lower file" grep -q 'f000040 d inner' <<<"$want"
        assert_true "merged subdir" grep -q 'sub d x y' <<<"$want"
        assert_enoent "$MNT/d/f000020"
        # list, forget the entries (the directory stays held), look up again
        exec {fd}<"$MNT/d"
        ls -f "$MNT/d" >/dev/null
        _drop_dentries
        got=$(_manifest "$MNT/d")
        assert_eq "$want" "$got" "entries looked up after a listing"
        # a copy-up does not change the listing: the kept one must not
        # send the lookup to the lower file
        echo more >>"$MNT/d/f000005"
        _drop_dentries
        assert_file_content "$MNT/d/f000005" "5more"
        # changes through the mount, then the same again
        rm "$MNT/d/f000006"
        echo new >"$MNT/d/f000007"
        ls -f "$MNT/d" >/dev/null
        _drop_dentries
        assert_file_content "$MNT/d/f000005" "5more"
        assert_enoent "$MNT/d/f000006"
        assert_file_content "$MNT/d/f000007" new
        assert_file_content "$MNT/d/f000008" 8
        assert_file_content "$MNT/d/g000050" 50
        assert_file_content "$MNT/d/f000010" l1
        exec {fd}<&-
        sfs_umount
        assert_upper_content "$UPPER/d/f000005" "5more"
        assert_whiteout_on_disk "$UPPER/d/f000006"
}

test_lookups_after_a_big_listing_read_only() {
        _big_dir_layers
        ovl_mount "$T/ovl" - - "$L1" "$L2"
        local want
        want=$(_manifest "$T/ovl/d")
        ovl_umount "$T/ovl"
        sfs_mount_ro "$L1" "$L2"
        local fd
        exec {fd}<"$MNT/d"
        ls -f "$MNT/d" >/dev/null
        _drop_dentries
        assert_eq "$want" "$(_manifest "$MNT/d")" "entries as kernel overlayfs shows them"
        exec {fd}<&-
}

# Blocks COMMAND... read from the disk (its own and its children's).
_disk_reads() {
        python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock)' "$@"
}

# Wait until the daemon has read nothing from the disk for 0.3 s.
_daemon_reads_settle() {
        local prev=-1 cur i
        for ((i = 0; i < 100; i++)); do
                cur=$(awk '$1 == "read_bytes:" { print $2 }' "/proc/$SFS_PID/io")
                [[ $cur == "$prev" ]] && return 0
                prev=$cur
                sleep 0.3
        done
}

# The read-ahead checks count blocks read from the disk.  Pages may be
# evicted at any moment here (a DAMON pageout scheme reclaims memory it sees
# idle, /sys/kernel/mm/damon), so a page read ahead can be gone before it is
# used: measure up to three times.  _readahead_check MEASURE ARGS... runs
# "MEASURE OPTION ARGS..." (it prints the blocks read) without and with the
# read-ahead; succeeds when an attempt read blocks without it and none with
# it, skips when nothing ever counted blocks, else fails leaving the last
# attempt's counts in RA_WITHOUT and RA_WITH.
_readahead_check() {
        local attempt counted=0
        for attempt in 1 2 3; do
                RA_WITHOUT=$("$@" dir_readahead=0) || fail "measuring without read-ahead failed"
                RA_WITH=$("$@" dir_readahead=1) || fail "measuring with read-ahead failed"
                ((RA_WITHOUT > 0)) && counted=1
                ((RA_WITHOUT > 0 && RA_WITH == 0)) && return 0
        done
        ((counted)) || skip "the layers' file system does not count blocks read"
        return 1
}

# Mount with OPTION, list top cold, then walk the layers' subdirectories
# of top directly (their entries, not below): prints the blocks that walk
# had to read from the disk.
_walk_after_cold_listing() { # L1 L2 OPTION
        sfs_mount -o "$3" "$1" "$2"
        sync
        echo 3 >/proc/sys/vm/drop_caches
        _disk_reads find / -maxdepth 0 >/dev/null # the tools come from the disk once
        ls -f "$MNT/top" >/dev/null
        _daemon_reads_settle
        _disk_reads find "$1/top" "$2/top" -maxdepth 2 -printf '%s %m\n'
        sfs_umount
}

test_cold_listing_reads_subdirectories_ahead() {
        need_root
        [[ $(stat -f -c %T "$T") != tmpfs ]] || skip "needs a disk file system under the layers"
        [[ ${SFS_TEST_OPTS:-} != *dir_readahead* ]] || skip "SFS_TEST_OPTS sets dir_readahead"
        local L1 L2 i j
        L1=$(mk_layer l1)
        L2=$(mk_layer l2)
        for i in 1 2 3 4 5 6; do
                mkdir -p "$L2/top/sub$i/deeper" "$L1/top/sub$i"
                for j in $(seq 40); do
                        mk_file "$L2/top/sub$i/f$j" "$j"
                done
                for j in $(seq 10); do
                        mk_file "$L1/top/sub$i/g$j" "$j"
                done
        done
        mk_file "$L1/top/file" x
        _readahead_check _walk_after_cold_listing "$L1" "$L2" ||
                fail "blocks read from the disk by a walk below a directory listed cold: $RA_WITH (without read-ahead: $RA_WITHOUT), in each of 3 attempts"
        # the read-ahead reads: the merged view is the same as ever
        sfs_mount "$L1" "$L2"
        assert_file_content "$MNT/top/sub3/f7" 7
        assert_file_content "$MNT/top/sub3/g7" 7
        assert_eq 51 "$(ls -A "$MNT/top/sub5" | wc -l)" "entries of a merged subdirectory"
}

# Mount with OPTION, list docs cold and read two of its files through the
# mount, then read the others from the layer directly: prints the blocks
# that had to come from the disk.
_read_after_cold_listing() { # L1 OPTION
        sfs_mount -o "$2" "$1"
        sync
        echo 3 >/proc/sys/vm/drop_caches
        _disk_reads cat /dev/null >/dev/null # the tools come from the disk once
        ls -f "$MNT/docs" >/dev/null
        cat "$MNT/docs/f01" "$MNT/docs/f02" >/dev/null
        _daemon_reads_settle
        _disk_reads cat "$1"/docs/f{03..24}
        sfs_umount
}

test_files_of_a_walk_are_read_ahead() {
        need_root
        [[ $(stat -f -c %T "$T") != tmpfs ]] || skip "needs a disk file system under the layers"
        [[ ${SFS_TEST_OPTS:-} != *dir_readahead* ]] || skip "SFS_TEST_OPTS sets dir_readahead"
        [[ ${SFS_TEST_OPTS:-} != *zero_open=1* ]] || skip "zero_open=1: the daemon sees no opens to read ahead from"
        local L1 i
        L1=$(mk_layer l1)
        mkdir -p "$L1/docs"
        for i in $(seq -w 1 24); do
                head -c 65536 /dev/urandom >"$L1/docs/f$i"
        done
        _readahead_check _read_after_cold_listing "$L1" ||
                fail "blocks read from the disk for the other files of a directory whose files a walk reads: $RA_WITH (without read-ahead: $RA_WITHOUT), in each of 3 attempts"
        # reading once through the mount is no walk: one file read ahead
        sfs_mount "$L1"
        sync
        echo 3 >/proc/sys/vm/drop_caches
        _disk_reads cat /dev/null >/dev/null
        cat "$MNT/docs/f01" >/dev/null
        _daemon_reads_settle
        assert_true "the other files were not read" \
                test "$(_disk_reads cat "$L1"/docs/f{03..24})" -gt 0
        assert_eq "$(cat "$L1"/docs/f{01..24} | cksum)" "$(cat "$MNT"/docs/f{01..24} | cksum)" "data through the mount"
}

run_tests "$@"
