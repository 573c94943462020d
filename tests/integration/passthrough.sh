#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Passthrough: the kernel reads and writes open files on the layers itself
# (the daemon as root, Linux 6.9 or later).  The daemon's debug log shows
# which requests still reach it.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

_kernel_has_passthrough() {
        local major minor config
        IFS=. read -r major minor _ <<<"$(uname -r)"
        ((major > 6 || (major == 6 && minor >= 9))) || return 1
        if [[ -r /proc/config.gz ]]; then
                config=$(zcat /proc/config.gz)
        elif [[ -r /boot/config-$(uname -r) ]]; then
                config=$(<"/boot/config-$(uname -r)")
        else
                return 0
        fi
        grep -q '^CONFIG_FUSE_PASSTHROUGH=y' <<<"$config"
}

_pt_mount() { # LOWER... : mount with the debug log, passthrough on
        ((EUID == 0)) || skip "passthrough needs root"
        case ",${SFS_TEST_OPTS:-}," in
        *,zero_open=1,* | *,clone_fd,* | *,passthrough=0,*)
                skip "passthrough is off in this run (SFS_TEST_OPTS=$SFS_TEST_OPTS)" ;;
        esac
        sfs_mount -o debug "$@"
        stat "$MNT" >/dev/null # the kernel's INIT has been answered
        grep -q "passthrough: on" "$SFS_LOG" && return 0
        _kernel_has_passthrough && fail "passthrough is not in use, though this kernel has it$(_log_tail)"
        skip "this kernel has no FUSE passthrough"
}

_requests() { # OPCODE: how many reached the daemon so far
        grep -c "opcode: $1 (" "$SFS_LOG" || true
}

test_reads_writes_and_mmap_bypass_the_daemon() {
        L1=$(mk_layer l1)
        head -c 3000000 /dev/urandom >"$L1/big"
        mk_file "$L1/small" abcdef
        _pt_mount "$L1"
        cmp "$L1/big" "$MNT/big" || fail "read of a lower file"
        "$PYTHON" - "$MNT" "$L1" <<'PY' || fail "mmap through the mount"
import mmap, os, sys
mnt, lower = sys.argv[1:]
with open(f"{mnt}/big", "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    assert m[:] == open(f"{lower}/big", "rb").read()
with open(f"{mnt}/new", "wb") as f:
    f.write(b"\0" * 8192)
with open(f"{mnt}/new", "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    m[4096:4101] = b"hello"
    m.flush()
PY
        printf X | dd of="$MNT/small" bs=1 seek=2 conv=notrunc status=none
        printf 'more' >>"$MNT/small"
        assert_file_content "$UPPER/small" abXdefmore
        cmp -n 4101 <(head -c 4096 /dev/zero; printf hello) "$UPPER/new" || fail "mmap write on disk"
        assert_eq 0 "$(_requests READ)" "READ requests"
        assert_eq 0 "$(_requests WRITE)" "WRITE requests"
        # a small file opened for reading only is served by the daemon
        # and then cached by the kernel
        assert_file_content "$MNT/small" abXdefmore
        assert_eq 10 "$(stat -c %s "$MNT/small")" "size after the writes"
        assert_eq 1 "$(_requests READ)" "READ requests after reading a small file"
        assert_file_content "$MNT/small" abXdefmore
        assert_eq 1 "$(_requests READ)" "READ requests after reading it again"
        # while a reader holds it cached, a writer is served too, and the
        # reader sees what it wrote
        local fd
        exec {fd}<"$MNT/small"
        printf 'end' >>"$MNT/small"
        assert_eq abXdefmoreend "$(cat <&"$fd")" "the reader after a write"
        exec {fd}<&-
        assert_file_content "$UPPER/small" abXdefmoreend
}

# A small file's pages, cached by the kernel across opens, must not outlive
# a write that went through passthrough meanwhile (mtime and size restored,
# so the kernel's own check of the attributes sees no change): the
# passthrough open, answered without keep_cache, drops them.
test_cached_pages_after_a_passthrough_write() {
        L1=$(mk_layer l1)
        mk_file "$L1/s" aaaa
        _pt_mount "$L1"
        assert_file_content "$MNT/s" aaaa
        "$PYTHON" -c 'import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, b"bbbb", 0); os.close(fd)' "$MNT/s"
        touch -m -r "$L1/s" "$MNT/s"
        assert_file_content "$UPPER/s" bbbb
        assert_file_content "$MNT/s" bbbb
}

_atime_year() { date -d "@$(stat -c %X "$1")" +%Y; }

# Reading a lower file leaves it as it was, access time included (the
# kernel opens backing files with the reader's flags, without O_NOATIME).
test_reading_lower_files_keeps_their_atime() {
        L1=$(mk_layer l1)
        _big_lower "$L1/big"
        mk_file "$L1/small" small
        mk_file "$T/probe" probe
        touch -a -d 2001-01-01 "$L1/big" "$L1/small" "$T/probe" # relatime would update them
        cat "$T/probe" >/dev/null
        [[ $(_atime_year "$T/probe") != 2001 ]] || skip "no atime updates on this file system"
        _pt_mount "$L1"
        cat "$MNT/big" >/dev/null
        "$PYTHON" -c 'import mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
    m[:]' "$MNT/big"
        assert_eq 0 "$(_requests READ)" "READ requests for the big file"
        cat "$MNT/small" >/dev/null
        assert_eq 2001 "$(_atime_year "$L1/big")" "atime of the big lower file"
        assert_eq 2001 "$(_atime_year "$L1/small")" "atime of the small lower file"
}

# The control: the log counts what it should.
test_passthrough_0_serves_file_io_in_the_daemon() {
        ((EUID == 0)) || skip "passthrough needs root"
        L1=$(mk_layer l1)
        mk_file "$L1/f" lower-content
        sfs_mount -o debug,passthrough=0 "$L1"
        assert_file_content "$MNT/f" lower-content
        echo x >"$MNT/g"
        sync "$MNT/g"
        (($(_requests READ) > 0)) || fail "no READ reached the daemon with passthrough=0"
        (($(_requests WRITE) > 0)) || fail "no WRITE reached the daemon with passthrough=0"
        if grep -q "passthrough: on" "$SFS_LOG"; then fail "passthrough=0 ignored"; fi
}

_big_lower() { # PATH: a lower file big enough to be passed through, "lower-content" first
        { echo lower-content; head -c 2000000 /dev/zero; } >"$1"
}

test_open_for_writing_while_the_lower_file_is_read() {
        L1=$(mk_layer l1)
        _big_lower "$L1/f"
        _pt_mount "$L1"
        local ino fd
        ino=$(stat -c %i "$MNT/f")
        exec {fd}<"$MNT/f"
        echo replaced >"$MNT/f" || fail "open for writing while a reader holds the lower file"
        assert_file_content "$MNT/f" replaced
        assert_file_content "$UPPER/f" replaced
        assert_eq lower-content "$(head -n 1 <&"$fd")" "the reader that was there keeps the lower file"
        # and can still fstat it (tail -f does), after the read made the
        # kernel ask for the attributes again
        assert_eq 2000014 "$("$PYTHON" -c 'import os, sys
print(os.fstat(int(sys.argv[1])).st_size)' "$fd")" "fstat through the reader's fd"
        # xattrs through the reader's fd are the copy's, as through the name
        assert_eq 1 "$("$PYTHON" -c 'import os, sys
fd = int(sys.argv[1])
os.setxattr(fd, "user.t", b"1")
print(os.getxattr(fd, "user.t").decode())' "$fd")" "xattr through the reader's fd"
        assert_xattr "$UPPER/f" user.t 1
        assert_eq "$ino" "$(stat -c %i "$MNT/f")" "st_ino after the copy-up"
        local mtime
        mtime=$(stat -c %Y.%y "$MNT/f")
        sleep 0.01
        echo again >>"$MNT/f"
        [[ $(stat -c %Y.%y "$MNT/f") != "$mtime" ]] || fail "mtime unchanged by a write"
        exec {fd}<&-
        assert_file_content "$MNT/f" "$(printf 'replaced\nagain')"
        assert_eq 0 "$(_requests WRITE)" "WRITE requests"
}

# A reader of a replaced node changes the metadata of the copy, as through
# the name (fchmod, futimens, fsetxattr of a read-only fd), and its fstat
# shows them, while it keeps reading the lower file.
test_metadata_through_the_reader_of_a_replaced_file() {
        L1=$(mk_layer l1)
        _big_lower "$L1/f"
        chmod 644 "$L1/f"
        _pt_mount "$L1"
        local fd
        exec {fd}<"$MNT/f"
        echo replaced >"$MNT/f" || fail "open for writing while a reader holds the lower file"
        stat -c %a "$MNT/f" >/dev/null # the name's node caches its attributes
        "$PYTHON" - "$fd" <<'PY' || fail "metadata through the reader's fd"
import os, sys
fd = int(sys.argv[1])
os.fchmod(fd, 0o600)
os.utime(fd, ns=(1_000_000_000, 2_000_000_000))
os.setxattr(fd, "user.r", b"yes")
st = os.fstat(fd)
assert st.st_mode & 0o7777 == 0o600, oct(st.st_mode)
assert st.st_mtime_ns == 2_000_000_000, st.st_mtime_ns
assert st.st_size == 2000014, st.st_size  # the file it reads
assert os.read(fd, 13) == b"lower-content", "the reader's data"
with open("/proc/self/fd/%d" % fd, "rb") as f:  # a new reader of the old node
    assert f.read(13) == b"lower-content", "reopened through /proc"
PY
        assert_eq 600 "$(stat -c %a "$MNT/f")" "mode through the name"
        assert_eq 2 "$(stat -c %Y "$MNT/f")" "mtime through the name"
        assert_eq 600 "$(stat -c %a "$UPPER/f")" "mode of the copy"
        assert_xattr "$UPPER/f" user.r yes
        assert_eq 644 "$(stat -c %a "$L1/f")" "mode of the lower file"
        # and the other way: a change through the name shows in the reader's fstat
        chmod 640 "$MNT/f"
        assert_eq 640 "$("$PYTHON" -c 'import os, sys
print(oct(os.fstat(int(sys.argv[1])).st_mode & 0o7777)[2:])' "$fd")" "fstat after chmod by name"
        exec {fd}<&-
        assert_file_content "$MNT/f" replaced
}

test_truncate_while_the_lower_file_is_read() {
        L1=$(mk_layer l1)
        _big_lower "$L1/f"
        _pt_mount "$L1"
        local fd
        exec {fd}<"$MNT/f"
        truncate -s 5 "$MNT/f"
        assert_file_content "$MNT/f" lower
        assert_file_content "$UPPER/f" lower
        exec {fd}<&-
}

# Readers keep opening lower files while writers copy them up: the
# writers' opens get ESTALE once and must succeed on the kernel's retry,
# whatever the readers do in between.
test_writers_and_readers_of_lower_files_at_once() {
        L1=$(mk_layer l1)
        local i
        for i in 1 2 3 4 5 6 7 8; do
                head -c 1100000 /dev/zero >"$L1/b$i"
        done
        _pt_mount "$L1"
        "$PYTHON" - "$MNT" <<'PY' || fail "readers and writers of lower files at once"
import os, random, sys, threading
mnt = sys.argv[1]
errors = []
def reader(i):
    p = f"{mnt}/b{i % 8 + 1}"
    for _ in range(300):
        try:
            fd = os.open(p, os.O_RDONLY)
            data = os.pread(fd, 4096, random.randrange(0, 1000000))
            os.close(fd)
            if data != b"\0" * 4096:
                errors.append(("read", p, "wrong data"))
        except OSError as e:
            errors.append(("read", p, os.strerror(e.errno)))
def writer(i):
    p = f"{mnt}/b{i + 1}"
    for _ in range(20):
        try:
            fd = os.open(p, os.O_WRONLY | os.O_APPEND)
            os.write(fd, b"y")
            os.close(fd)
        except OSError as e:
            errors.append(("write", p, os.strerror(e.errno)))
threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
threads += [threading.Thread(target=writer, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit(f"{len(errors)} errors, first: {errors[:3]}")
PY
        for i in 1 2 3 4 5 6 7 8; do
                assert_eq 1100020 "$(stat -c %s "$MNT/b$i")" "size of b$i"
                assert_eq 1100020 "$(stat -c %s "$UPPER/b$i")" "size of upper b$i"
        done
}

test_readers_and_writers_of_one_file_together() {
        L1=$(mk_layer l1)
        _big_lower "$L1/l"
        _pt_mount "$L1"
        local r1 r2 w
        # two readers of a lower file
        exec {r1}<"$MNT/l" {r2}<"$MNT/l"
        assert_eq lower-content "$(head -n 1 <&"$r1")" "first reader"
        assert_eq lower-content "$(head -n 1 <&"$r2")" "second reader"
        exec {r1}<&- {r2}<&-
        assert_eq 0 "$(_requests READ)" "READ requests"
        # a reader and a writer of an upper file see the same data
        echo data >"$MNT/u"
        exec {r1}<"$MNT/u" {w}>>"$MNT/u"
        echo more >&"$w"
        assert_eq "$(printf 'data\nmore')" "$(cat <&"$r1")" "reader after the writer's append"
        exec {r1}<&- {w}>&-
        # two names of one upper file
        ln "$MNT/u" "$MNT/v"
        exec {r1}<"$MNT/v"
        echo last >>"$MNT/u"
        assert_eq "$(printf 'data\nmore\nlast')" "$(cat <&"$r1")" "the other name's reader"
        assert_eq 15 "$(stat -c %s "$MNT/v")" "size through the other name"
        exec {r1}<&-
}

test_programs_run_from_a_lower_layer() {
        L1=$(mk_layer l1)
        cp /bin/true "$L1/true"
        cp /bin/sleep "$L1/sleep"
        printf '#!/bin/sh\necho script-ran\n' >"$L1/script"
        chmod 755 "$L1/script"
        _pt_mount "$L1"
        "$MNT/true" || fail "exec of a lower binary"
        assert_eq script-ran "$("$MNT/script")" "a lower script"
        # opening a running binary for writing is ETXTBSY on the mount, as
        # on the kernel's own file systems
        "$MNT/sleep" 5 &
        local pid=$!
        sleep 0.3
        assert_errno ETXTBSY open_w "$MNT/sleep"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
}

# The kernel takes no backing file on a stacked file system (ELOOP): such
# a layer's files are served by the daemon, and an inode the kernel caches
# for them takes no passthrough open until they are closed.
test_a_lower_layer_on_a_stacked_file_system() {
        ((EUID == 0)) || skip "needs root"
        L1=$(mk_layer l1)
        _big_lower "$L1/f"
        L0=$(mk_layer l0)
        ovl_mount "$T/stacked" - - "$L1" "$L0"
        _pt_mount "$T/stacked"
        local fd
        exec {fd}<"$MNT/f"
        assert_eq lower-content "$(head -n 1 "$MNT/f")" "a big file on the stacked layer"
        (($(_requests READ) > 0)) || fail "a file on the stacked layer was not served by the daemon"
        { echo replaced; head -c 2000000 /dev/zero; } >"$MNT/f" ||
                fail "open for writing while the daemon serves a reader"
        assert_eq replaced "$(head -n 1 <&"$fd")" "the reader after the copy-up"
        exec {fd}<&-
        assert_eq replaced "$(head -n 1 "$UPPER/f")" "the upper file"
        # no file of that node open any more: the upper file goes through
        local reads
        reads=$(_requests READ)
        cmp "$UPPER/f" "$MNT/f" || fail "read of the upper file"
        assert_eq "$reads" "$(_requests READ)" "READ requests for the upper file"
        sfs_umount
        ovl_umount "$T/stacked"
}

run_tests "$@"
