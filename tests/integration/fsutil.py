#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Small file-system probes for the integration tests (see lib.sh).

Every subcommand prints what it observed and exits 0 when the observation is
the expected one, 1 otherwise (with a message saying expected vs actual), so
the shell tests stay one line per assertion:

  fsutil.py try OP ARGS...        run one syscall, print OK or the errno name
  fsutil.py manifest DIR          full metadata + content listing (lower check)
  fsutil.py dump DIR              canonical dump for tree comparisons
  fsutil.py readdir-offsets DIR   telldir/seekdir/reopen stability
  fsutil.py dino DIR              readdir d_ino == lstat st_ino for every entry
  fsutil.py ...                   (see main() for the rest)
"""

import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import mmap
import os
import random
import stat
import sys
import time

PRIVATE_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die(msg):
    print(msg)
    sys.exit(1)


def errname(e):
    return errno.errorcode.get(e, str(e))


# ---------------------------------------------------------------- syscalls

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2

_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                            ctypes.c_char_p, ctypes.c_uint]


def renameat2(old, new, flags):
    r = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def _write_file(path, data, flags):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


TRY_OPS = {
    "lstat": lambda p: os.lstat(p),
    "stat": lambda p: os.stat(p),
    "open_r": lambda p: os.close(os.open(p, os.O_RDONLY)),
    "open_w": lambda p: os.close(os.open(p, os.O_WRONLY)),
    "creat": lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)),
    "write": lambda p, data: _write_file(p, data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    "append": lambda p, data: _write_file(p, data, os.O_WRONLY | os.O_APPEND),
    "mkdir": lambda p: os.mkdir(p),
    "rmdir": lambda p: os.rmdir(p),
    "unlink": lambda p: os.unlink(p),
    "rename": lambda a, b: os.rename(a, b),
    "rename_noreplace": lambda a, b: renameat2(a, b, RENAME_NOREPLACE),
    "rename_exchange": lambda a, b: renameat2(a, b, RENAME_EXCHANGE),
    "link": lambda a, b: os.link(a, b),
    "symlink": lambda target, p: os.symlink(target, p),
    "readlink": lambda p: os.readlink(p),
    "truncate": lambda p, n: os.truncate(p, int(n)),
    "chmod": lambda p, m: os.chmod(p, int(m, 8)),
    "chown": lambda p, u, g: os.chown(p, int(u), int(g)),
    "utime": lambda p: os.utime(p),
    "mknod_fifo": lambda p: os.mkfifo(p),
    "setxattr": lambda p, n, v: os.setxattr(p, n, v.encode(), follow_symlinks=False),
    "getxattr": lambda p, n: os.getxattr(p, n, follow_symlinks=False),
    "removexattr": lambda p, n: os.removexattr(p, n, follow_symlinks=False),
    "listdir": lambda p: os.listdir(p),
    "access_w": lambda p: (None if os.access(p, os.W_OK) else (_ for _ in ()).throw(
        OSError(errno.EACCES, "access"))),
}


def cmd_try(args):
    op, rest = args[0], args[1:]
    try:
        TRY_OPS[op](*rest)
        print("OK")
    except OSError as e:
        print(errname(e.errno))
    return 0


# ------------------------------------------------------------ tree listings

def _xattrs(path, keep):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise
    out = []
    for n in sorted(names):
        if not keep(n):
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
        except OSError as e:
            v = ("<%s>" % errname(e.errno)).encode()
        out.append("%s=%s" % (n, v.hex()))
    return out


def _open_noatime(path):
    """Open for reading without touching the access time where allowed
    (the owner or root): a snapshot of a layer must not change it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)
    return os.fdopen(fd, "rb")


def _sha(path):
    h = hashlib.sha256()
    try:
        with _open_noatime(path) as f:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h.update(b)
    except OSError as e:
        return "<read:%s>" % errname(e.errno)
    return h.hexdigest()


def _walk(root):
    """Yield relative paths of everything under root (root itself is '.'), sorted."""
    yield "."
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            names = sorted(os.listdir(full))
        except OSError as e:
            yield "%s <listdir:%s>" % (rel or ".", errname(e.errno))
            continue
        for n in names:
            r = os.path.join(rel, n) if rel else n
            try:
                st = os.lstat(os.path.join(root, r))
            except OSError as e:
                yield "%s <lstat:%s>" % (r, errname(e.errno))
                continue
            yield r
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)


def _ftype(mode):
    for t, c in ((stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"),
                 (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b"), (stat.S_ISFIFO, "p"),
                 (stat.S_ISSOCK, "s")):
        if t(mode):
            return c
    return "?"


def manifest(root):
    """Everything that must not change in a lower layer (atime excluded)."""
    lines = []
    for rel in sorted(_walk(root)):
        if " <l" in rel:
            lines.append(rel)
            continue
        p = os.path.join(root, rel)
        st = os.lstat(p)
        t = _ftype(st.st_mode)
        extra = ""
        if t == "f":
            extra = _sha(p)
        elif t == "l":
            extra = os.readlink(p)
        elif t in "cb":
            extra = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        size = st.st_size if t != "d" else 0
        lines.append("%s %s %o %d:%d n=%d s=%d m=%d c=%d %s %s" % (
            rel, t, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_nlink,
            size, st.st_mtime_ns, st.st_ctime_ns, extra,
            ",".join(_xattrs(p, lambda n: True))))
    return lines


def keep_public_xattr(n):
    if n.startswith(PRIVATE_XATTR_PREFIXES):
        return False
    return n.startswith("user.") or n.startswith("trusted.")


def format_entries(items, with_owner=True):
    """Canonical dump lines of [(relpath, backing path)]: the backing path is
    what the entry is read from (the path itself for a mount)."""
    entries = {}
    inos = {}
    for rel, p in items:
        if " <l" in rel:
            entries[rel] = rel
            continue
        st = os.lstat(p)
        t = _ftype(st.st_mode)
        fields = [rel, t, "%o" % stat.S_IMODE(st.st_mode)]
        if with_owner:
            fields.append("%d:%d" % (st.st_uid, st.st_gid))
        if t == "f":
            fields += ["size=%d" % st.st_size, _sha(p)]
            inos.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif t == "l":
            fields.append("->" + os.readlink(p))
        elif t in "cb":
            fields.append("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        x = _xattrs(p, keep_public_xattr)
        if x:
            fields.append("xattrs=" + ",".join(x))
        entries[rel] = fields
    # hard-link groups: name every member of a group by its smallest path
    groups = {}
    for paths in inos.values():
        if len(paths) > 1:
            first = min(paths)
            for q in paths:
                groups[q] = first
    lines = []
    for rel in sorted(entries):
        f = entries[rel]
        if isinstance(f, str):
            lines.append(f)
            continue
        if rel in groups:
            f = f + ["link=" + groups[rel]]
        lines.append(" ".join(f))
    return lines


def dump(root, with_owner=True):
    """Canonical dump of a tree as seen by programs: one line per entry."""
    return format_entries([(rel, os.path.join(root, rel)) for rel in _walk(root)], with_owner)


def cmd_manifest(args):
    for line in manifest(args[0]):
        print(line)
    return 0


def cmd_dump(args):
    with_owner = True
    if args and args[0] == "--no-owner":
        with_owner = False
        args = args[1:]
    for line in dump(args[0], with_owner):
        print(line)
    return 0


# ------------------------------------------------------ readdir with libc

class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]


_libc.opendir.restype = ctypes.c_void_p
_libc.opendir.argtypes = [ctypes.c_char_p]
_libc.readdir.restype = ctypes.POINTER(Dirent)
_libc.readdir.argtypes = [ctypes.c_void_p]
_libc.telldir.restype = ctypes.c_long
_libc.telldir.argtypes = [ctypes.c_void_p]
_libc.seekdir.restype = None
_libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
_libc.closedir.argtypes = [ctypes.c_void_p]
_libc.rewinddir.argtypes = [ctypes.c_void_p]
_libc.rewinddir.restype = None


class Dir:
    def __init__(self, path):
        self.d = _libc.opendir(os.fsencode(path))
        if not self.d:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)

    def read(self):
        ctypes.set_errno(0)
        ent = _libc.readdir(self.d)
        if not ent:
            e = ctypes.get_errno()
            if e:
                raise OSError(e, os.strerror(e))
            return None
        return ent.contents.d_name.decode("utf-8", "surrogateescape"), ent.contents.d_ino

    def tell(self):
        return _libc.telldir(self.d)

    def seek(self, pos):
        _libc.seekdir(self.d, pos)

    def close(self):
        if self.d:
            _libc.closedir(self.d)
            self.d = None

    def read_all(self):
        """[(telldir before the entry, name)] until the end."""
        out = []
        while True:
            pos = self.tell()
            ent = self.read()
            if ent is None:
                return out
            out.append((pos, ent[0]))


def cmd_readdir_offsets(args):
    path = args[0]
    rng = random.Random(int(args[1]) if len(args) > 1 else 1)
    errs = []
    d = Dir(path)
    first = d.read_all()
    names = [n for _, n in first]
    if len(names) != len(set(names)):
        dup = sorted({n for n in names if names.count(n) > 1})[:5]
        errs.append("duplicate names in one pass: %s" % dup)
    # seekdir/telldir on the same handle
    for pos, name in rng.sample(first, min(60, len(first))):
        d.seek(pos)
        ent = d.read()
        got = ent[0] if ent else None
        if got != name:
            errs.append("same handle: seekdir(%d) then readdir gave %r, expected %r" % (pos, got, name))
            break
    d.close()
    # a reopen lists the same entries in the same order
    d2 = Dir(path)
    second = d2.read_all()
    d2.close()
    if [n for _, n in second] != names:
        errs.append("order differs after reopen (%d vs %d entries)" % (len(second), len(first)))
    # offsets from the first handle are valid in a new handle: resume a listing
    for i in sorted(rng.sample(range(len(first)), min(25, len(first)))):
        d3 = Dir(path)
        d3.seek(first[i][0])
        rest = [n for _, n in d3.read_all()]
        d3.close()
        if rest != names[i:]:
            missing = sorted(set(names[i:]) - set(rest))[:5]
            extra = sorted(set(rest) - set(names[i:]))[:5]
            errs.append("resume at entry %d (offset %d) in a reopened dir: got %d entries, "
                        "expected %d; missing %s extra %s" % (i, first[i][0], len(rest),
                                                             len(names) - i, missing, extra))
            break
    # partial read, close, reopen, resume: no loss, no duplicate
    d4 = Dir(path)
    half = []
    for _ in range(len(first) // 2):
        half.append(d4.read()[0])
    pos = d4.tell()
    d4.close()
    d5 = Dir(path)
    d5.seek(pos)
    tail = [n for _, n in d5.read_all()]
    d5.close()
    if half + tail != names:
        errs.append("read half (%d), close, reopen, seekdir(telldir): got %d+%d entries, "
                    "expected %d" % (len(half), len(half), len(tail), len(names)))
    if errs:
        die("\n".join(errs))
    print("ok: %d entries" % len(names))
    return 0


def cmd_dino(args):
    path = args[0]
    d = Dir(path)
    bad = []
    n = 0
    while True:
        ent = d.read()
        if ent is None:
            break
        name, ino = ent
        if name == "..":
            continue
        st = os.lstat(os.path.join(path, name))
        n += 1
        if st.st_ino != ino:
            bad.append("%s: d_ino=%d st_ino=%d" % (name, ino, st.st_ino))
    d.close()
    if bad:
        die("d_ino != st_ino:\n" + "\n".join(bad))
    print("ok: %d entries" % n)
    return 0


def cmd_names(args):
    """Print the names readdir returns (without . and ..), one a line, unsorted."""
    for n in os.listdir(args[0]):
        print(n)
    return 0


def cmd_inos(args):
    """Print 'st_ino relpath' for every entry under a dir, recursively."""
    root = args[0]
    for rel in _walk(root):
        print("%d %s" % (os.lstat(os.path.join(root, rel)).st_ino, rel))
    return 0


# --------------------------------------------------------------- file ops

def cmd_mmap_shared(args):
    path = args[0]
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        m = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        m2 = mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
        m[0:5] = b"MMAP!"
        m[size - 3:size] = b"END"
        if m2[0:5] != b"MMAP!":
            die("second shared mapping does not see the write: %r" % m2[0:5])
        m.flush()
        m.close()
        m2.close()
    with open(path, "rb") as f:
        data = f.read()
    if data[0:5] != b"MMAP!" or data[-3:] != b"END":
        die("read after munmap: head %r tail %r, expected b'MMAP!' and b'END'" % (data[:5], data[-3:]))
    print("ok")
    return 0


def cmd_locks(args):
    path = args[0]
    fd = os.open(path, os.O_RDWR)
    errs = []
    fcntl.flock(fd, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:
        fd2 = os.open(path, os.O_RDWR)
        code = 0
        try:
            fcntl.flock(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
            code = 10  # got a lock that another process holds
        except OSError as e:
            code = 0 if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else 11
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        errs.append("flock: second process could take LOCK_EX held by the first (code %d)"
                    % os.waitstatus_to_exitcode(status))
    fcntl.flock(fd, fcntl.LOCK_UN)
    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)  # POSIX lock on bytes 0..9
    pid = os.fork()
    if pid == 0:
        fd2 = os.open(path, os.O_RDWR)
        code = 0
        try:
            fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
            code = 20
        except OSError as e:
            code = 0 if e.errno in (errno.EACCES, errno.EAGAIN) else 21
        if code == 0:
            try:
                fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 100)  # other range is free
            except OSError:
                code = 22
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    c = os.waitstatus_to_exitcode(status)
    if c == 20:
        errs.append("POSIX lock: second process locked a range held by the first")
    elif c == 21:
        errs.append("POSIX lock: unexpected errno for a conflicting lock")
    elif c == 22:
        errs.append("POSIX lock: a free range could not be locked")
    os.close(fd)
    if errs:
        die("\n".join(errs))
    print("ok")
    return 0


def cmd_odirect(args):
    """odirect PATH PROBE: aligned O_DIRECT I/O works through PATH; unaligned
    O_DIRECT I/O fails with EINVAL through PATH if it does on PROBE (a file on
    the upper layer's own file system), i.e. O_DIRECT reached the backing file."""
    path, probe = args[0], args[1]
    buf = mmap.mmap(-1, 8192)
    buf.write(b"D" * 8192)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
    if not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
        die("O_DIRECT not set on the open file description")
    try:
        n = os.pwritev(fd, [buf], 0)
    except OSError as e:
        die("aligned O_DIRECT write (8192 bytes from a page-aligned buffer at offset 0): %s"
            % errname(e.errno))
    if n != 8192:
        die("aligned O_DIRECT write returned %d" % n)
    rbuf = mmap.mmap(-1, 8192)
    try:
        n = os.preadv(fd, [rbuf], 0)
    except OSError as e:
        die("aligned O_DIRECT read (8192 bytes into a page-aligned buffer): %s" % errname(e.errno))
    if n != 8192 or rbuf[:] != b"D" * 8192:
        die("aligned O_DIRECT read returned %d bytes / wrong data" % n)

    def unaligned(f):
        try:
            os.pwrite(f, b"x" * 100, 1)
            return "OK"
        except OSError as e:
            return errname(e.errno)

    pfd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
    expect = unaligned(pfd)
    os.close(pfd)
    os.unlink(probe)
    got = unaligned(fd)
    os.close(fd)
    if expect != got:
        die("unaligned O_DIRECT write: backing fs gives %s, the mount gives %s "
            "(O_DIRECT not passed to the backing file?)" % (expect, got))
    print("ok (unaligned write: %s)" % got)
    return 0


def cmd_deleted_open(args):
    """deleted-open PATH: open r+, unlink, then write/read through the fd."""
    path = args[0]
    fd = os.open(path, os.O_RDWR)
    before = os.pread(fd, 4096, 0)
    os.unlink(path)
    if os.path.lexists(path):
        die("%s still exists after unlink" % path)
    if os.pread(fd, 4096, 0) != before:
        die("content changed after unlink")
    os.pwrite(fd, b"AFTER-UNLINK", 0)
    os.fsync(fd)
    got = os.pread(fd, 12, 0)
    if got != b"AFTER-UNLINK":
        die("read back after unlink: %r" % got)
    st = os.fstat(fd)
    if st.st_size < 12:
        die("fstat after unlink: size %d" % st.st_size)
    os.ftruncate(fd, 3)
    if os.fstat(fd).st_size != 3:
        die("ftruncate through a deleted file's fd failed")
    os.close(fd)
    print("ok")
    return 0


def cmd_seek_data(args):
    """seek-data PATH: create a sparse file and check SEEK_DATA/SEEK_HOLE."""
    path = args[0]
    m = 1 << 20
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, b"a" * 4096, 0)
    os.pwrite(fd, b"b" * 4096, m)
    os.ftruncate(fd, 4 * m)
    os.fsync(fd)
    errs = []
    d = os.lseek(fd, 8192, os.SEEK_DATA)
    if d != m:
        errs.append("SEEK_DATA from 8192 = %d, expected %d" % (d, m))
    h = os.lseek(fd, 0, os.SEEK_HOLE)
    if not 4096 <= h < m:
        errs.append("SEEK_HOLE from 0 = %d, expected in [4096, %d)" % (h, m))
    h = os.lseek(fd, m, os.SEEK_HOLE)
    if not m + 4096 <= h < 4 * m:
        errs.append("SEEK_HOLE from %d = %d, expected in [%d, %d)" % (m, h, m + 4096, 4 * m))
    try:
        d = os.lseek(fd, 2 * m, os.SEEK_DATA)
        errs.append("SEEK_DATA past the last data = %d, expected ENXIO" % d)
    except OSError as e:
        if e.errno != errno.ENXIO:
            errs.append("SEEK_DATA past the last data: %s, expected ENXIO" % errname(e.errno))
    os.close(fd)
    if errs:
        die("\n".join(errs))
    print("ok")
    return 0


def cmd_copy_file_range(args):
    src, dst = args[0], args[1]
    fi = os.open(src, os.O_RDONLY)
    fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size = os.fstat(fi).st_size
    done = 0
    while done < size:
        n = os.copy_file_range(fi, fo, size - done)
        if n <= 0:
            break
        done += n
    os.close(fi)
    os.close(fo)
    if done != size:
        die("copy_file_range copied %d of %d bytes" % (done, size))
    print("ok")
    return 0


def cmd_fsync(args):
    path = args[0]
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"synced\n")
    os.fsync(fd)
    os.fdatasync(fd)
    os.close(fd)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    print("ok")
    return 0


def cmd_write_at(args):
    """write-at PATH OFFSET TEXT (no truncation, file must exist)."""
    fd = os.open(args[0], os.O_WRONLY)
    os.pwrite(fd, args[2].encode(), int(args[1]))
    os.close(fd)
    return 0


def cmd_mtime_ns(args):
    print(os.lstat(args[0]).st_mtime_ns)
    return 0


def cmd_stress_worker(args):
    """stress-worker MNT ID SECONDS SEED OUT.json: random ops on files named
    w<ID>_*, in shared dirs d0..d3; records the final state it expects."""
    mnt, wid, secs, seed, out = args[0], int(args[1]), float(args[2]), int(args[3]), args[4]
    rng = random.Random(seed)
    dirs = ["d%d" % i for i in range(4)]
    model = {}  # relpath -> content
    # lower files this worker owns (created by stress.sh): lw<ID>_<n> in d*/
    for d in dirs:
        for n in os.listdir(os.path.join(mnt, d)):
            if n.startswith("lw%d_" % wid):
                with open(os.path.join(mnt, d, n)) as f:
                    model[os.path.join(d, n)] = f.read()
    counter = 0
    ops = 0
    errors = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        ops += 1
        op = rng.choice(["create", "create", "write", "append", "rename", "unlink",
                         "read", "list", "truncate"])
        try:
            if op == "create" or not model:
                counter += 1
                rel = os.path.join(rng.choice(dirs), "w%d_%d" % (wid, counter))
                data = "%d:%d\n" % (wid, counter) * rng.randint(1, 50)
                with open(os.path.join(mnt, rel), "w") as f:
                    f.write(data)
                model[rel] = data
                continue
            rel = rng.choice(sorted(model))
            p = os.path.join(mnt, rel)
            if op == "write":
                data = "rewritten %d %d\n" % (wid, ops)
                with open(p, "w") as f:
                    f.write(data)
                model[rel] = data
            elif op == "append":
                with open(p, "a") as f:
                    f.write("+%d" % ops)
                model[rel] += "+%d" % ops
            elif op == "truncate":
                os.truncate(p, 3)
                model[rel] = model[rel].encode()[:3].decode("utf-8", "ignore")
            elif op == "rename":
                counter += 1
                nrel = os.path.join(rng.choice(dirs), "w%d_%d" % (wid, counter))
                os.rename(p, os.path.join(mnt, nrel))
                model[nrel] = model.pop(rel)
            elif op == "unlink":
                os.unlink(p)
                del model[rel]
            elif op == "read":
                with open(p) as f:
                    got = f.read()
                if got != model[rel]:
                    errors.append("read %s: %r expected %r" % (rel, got[:40], model[rel][:40]))
            elif op == "list":
                os.listdir(os.path.join(mnt, rng.choice(dirs)))
        except OSError as e:
            errors.append("%s on %s: %s" % (op, rel if op != "create" else "-", e))
    with open(out, "w") as f:
        json.dump({"model": model, "ops": ops, "errors": errors}, f)
    return 0


def cmd_stress_check(args):
    """stress-check MNT WORKERS OUT_PREFIX: the tree matches the workers' models."""
    mnt, workers, prefix = args[0], int(args[1]), args[2]
    errs = []
    total_ops = 0
    for w in range(workers):
        with open("%s%d.json" % (prefix, w)) as f:
            r = json.load(f)
        total_ops += r["ops"]
        errs += ["worker %d: %s" % (w, e) for e in r["errors"][:10]]
        model = r["model"]
        seen = {}
        for d in ["d%d" % i for i in range(4)]:
            for n in os.listdir(os.path.join(mnt, d)):
                if n.startswith("w%d_" % w) or n.startswith("lw%d_" % w):
                    with open(os.path.join(mnt, d, n)) as fh:
                        seen[os.path.join(d, n)] = fh.read()
        for rel in sorted(set(model) | set(seen)):
            if rel not in seen:
                errs.append("worker %d: %s missing from the tree" % (w, rel))
            elif rel not in model:
                errs.append("worker %d: %s in the tree but deleted/renamed by the worker" % (w, rel))
            elif seen[rel] != model[rel]:
                errs.append("worker %d: %s has %r, expected %r" % (w, rel, seen[rel][:40], model[rel][:40]))
    if errs:
        die("\n".join(errs[:40]))
    print("ok: %d operations by %d workers" % (total_ops, workers))
    return 0


# ---------------------------------------------------------------- fsx

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def _fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


class Fsx:
    """Random operations on one file through every path a program uses
    (pread/pwrite, mmap, truncate, fallocate, copy_file_range, reopening),
    each checked against a model of the file's bytes, in the manner of
    xfstests' fsx.  A second fd, opened after the first write, must always
    read what the first wrote."""

    def __init__(self, path, seed, maxlen):
        self.path, self.maxlen = path, maxlen
        self.rng = random.Random(seed)
        with open(path, "rb") as f:
            self.model = bytearray(f.read())
        self.fd = os.open(path, os.O_RDWR)
        self.fd2 = None
        self.log = []
        self.unsupported = set()

    def fail(self, what):
        die("fsx %s: %s\nlast operations (newest last):\n  %s" % (
            self.path, what, "\n  ".join(self.log[-12:])))

    def check(self, off, data, how):
        want = bytes(self.model[off:off + len(data)])
        if data != want:
            bad = next(i for i in range(min(len(data), len(want)))
                       if data[i] != want[i]) if len(data) == len(want) else -1
            self.fail("%s at %d+%d: %d bytes differ from the model (first at %d, "
                      "got %d bytes, expected %d)" % (
                          how, off, len(data), sum(a != b for a, b in zip(data, want)),
                          off + bad if bad >= 0 else -1, len(data), len(want)))

    def span(self, within=None):
        end = self.maxlen if within is None else within
        off = self.rng.randrange(0, max(end, 1))
        length = self.rng.randrange(1, min(65536, self.maxlen - off) + 1) \
            if off < self.maxlen else 1
        if within is not None:
            length = min(length, max(within - off, 0))
        return off, length

    def op_read(self):
        off, n = self.span(len(self.model))
        fd = self.fd2 if self.fd2 is not None and self.rng.random() < 0.5 else self.fd
        self.check(off, os.pread(fd, n, off), "read" if fd == self.fd else "read (2nd fd)")

    def op_write(self):
        off, n = self.span()
        data = self.rng.randbytes(n)
        if os.pwrite(self.fd, data, off) != n:
            self.fail("short write")
        if off > len(self.model):
            self.model.extend(bytes(off - len(self.model)))
        self.model[off:off + n] = data
        if self.fd2 is None:
            self.fd2 = os.open(self.path, os.O_RDONLY)

    def op_truncate(self):
        size = self.rng.randrange(0, self.maxlen + 1)
        os.ftruncate(self.fd, size)
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    def op_mapread(self):
        if not self.model:
            return
        off, n = self.span(len(self.model))
        with mmap.mmap(self.fd, len(self.model), mmap.MAP_SHARED, mmap.PROT_READ) as m:
            self.check(off, m[off:off + n], "mapread")

    def op_mapwrite(self):
        off, n = self.span()
        if off + n > len(self.model):
            os.ftruncate(self.fd, off + n)
            self.model.extend(bytes(off + n - len(self.model)))
        data = self.rng.randbytes(n)
        with mmap.mmap(self.fd, len(self.model), mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[off:off + n] = data
            if self.rng.random() < 0.5:
                m.flush()
        self.model[off:off + n] = data

    def _falloc(self, name, mode, extends):
        if name in self.unsupported:
            return
        off, n = self.span()
        try:
            _fallocate(self.fd, mode, off, n)
        except OSError as e:
            if e.errno in (errno.EOPNOTSUPP, errno.ENOSYS):
                self.unsupported.add(name)
                return
            raise
        end = min(off + n, len(self.model)) if not extends else off + n
        if extends and end > len(self.model):
            self.model.extend(bytes(end - len(self.model)))
        if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) and off < end:
            self.model[off:end] = bytes(end - off)

    def op_fallocate(self):
        self._falloc("fallocate", 0, True)

    def op_fallocate_keep_size(self):
        self._falloc("keep_size", FALLOC_FL_KEEP_SIZE, False)

    def op_punch_hole(self):
        self._falloc("punch_hole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, False)

    def op_zero_range(self):
        self._falloc("zero_range", FALLOC_FL_ZERO_RANGE, True)

    def op_copy_range(self):
        size = len(self.model)
        if size < 2:
            return
        n = self.rng.randrange(1, min(65536, size // 2) + 1)
        src = self.rng.randrange(0, size - n + 1)
        dst = self.rng.randrange(0, self.maxlen - n + 1)
        if src < dst + n and dst < src + n:
            return  # overlapping ranges of one file are refused
        done = 0
        while done < n:
            k = os.copy_file_range(self.fd, self.fd, n - done, src + done, dst + done)
            if k <= 0:
                break
            done += k
        if done != n:
            self.fail("copy_file_range copied %d of %d bytes" % (done, n))
        data = bytes(self.model[src:src + n])
        if dst > len(self.model):
            self.model.extend(bytes(dst - len(self.model)))
        self.model[dst:dst + n] = data

    def op_reopen(self):
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR)
        if self.fd2 is not None and self.rng.random() < 0.5:
            os.close(self.fd2)
            self.fd2 = os.open(self.path, os.O_RDONLY)

    OPS = [("read", 6), ("write", 6), ("truncate", 1), ("mapread", 2), ("mapwrite", 2),
           ("fallocate", 1), ("fallocate_keep_size", 1), ("punch_hole", 1),
           ("zero_range", 1), ("copy_range", 2), ("reopen", 1)]

    def run(self, count):
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        for i in range(count):
            name = self.rng.choices(names, weights)[0]
            self.log.append("%d %s" % (i, name))
            try:
                getattr(self, "op_" + name)()
            except OSError as e:
                self.fail("%s: %s" % (name, errname(e.errno or 0)))
            size = os.fstat(self.fd).st_size
            if size != len(self.model):
                self.fail("size %d after %s, expected %d" % (size, name, len(self.model)))
            if i % 16 == 0 and os.stat(self.path).st_size != len(self.model):
                self.fail("size of the name %d, expected %d" % (
                    os.stat(self.path).st_size, len(self.model)))
        os.close(self.fd)
        if self.fd2 is not None:
            os.close(self.fd2)
        with open(self.path, "rb") as f:
            data = f.read()
        self.check(0, data, "final read")
        if len(data) != len(self.model):
            self.fail("final size %d, expected %d" % (len(data), len(self.model)))


def cmd_fsx(args):
    """fsx PATH SEED COUNT MAXLEN [MODEL_OUT]: random operations on PATH
    checked against a model; MODEL_OUT gets the expected content."""
    fsx = Fsx(args[0], int(args[1]), int(args[3]))
    fsx.run(int(args[2]))
    if len(args) > 4:
        with open(args[4], "wb") as f:
            f.write(fsx.model)
    skipped = ",".join(sorted(fsx.unsupported))
    print("ok%s" % (" (unsupported: %s)" % skipped if skipped else ""))
    return 0


COMMANDS = {
    "try": cmd_try,
    "manifest": cmd_manifest,
    "dump": cmd_dump,
    "readdir-offsets": cmd_readdir_offsets,
    "dino": cmd_dino,
    "names": cmd_names,
    "inos": cmd_inos,
    "mmap-shared": cmd_mmap_shared,
    "locks": cmd_locks,
    "odirect": cmd_odirect,
    "deleted-open": cmd_deleted_open,
    "seek-data": cmd_seek_data,
    "copy-file-range": cmd_copy_file_range,
    "fsync": cmd_fsync,
    "write-at": cmd_write_at,
    "mtime-ns": cmd_mtime_ns,
    "fsx": cmd_fsx,
    "stress-worker": cmd_stress_worker,
    "stress-check": cmd_stress_check,
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print("usage: fsutil.py {%s} ARGS..." % ",".join(sorted(COMMANDS)), file=sys.stderr)
        return 2
    try:
        return COMMANDS[sys.argv[1]](sys.argv[2:])
    except OSError as e:
        msg = "%s: %s (%s)" % (sys.argv[1], e, errname(e.errno or 0))
        print(msg)
        if not sys.stdout.isatty():
            print(msg, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
