#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Oracle for random-tree.sh: seeded random layer stacks, a reference merge,
and a seeded random sequence of operations applied to several trees at once.

  oracle.py gen SEED DIR            layers DIR/l0 (top-most) .. DIR/lN, prints
                                    their paths top-most first
  oracle.py kernelize SRC DST       copy of a layer with every marker in the
                                    kernel format (char 0/0, trusted.overlay.opaque)
  oracle.py merge LAYER...          canonical dump (fsutil.py dump format) of
                                    the union of the layers, top-most first
  oracle.py ops SEED N NAME=DIR...  N random operations applied to every DIR;
                                    stops at the first operation whose outcome
                                    differs; then compares the dumps
"""

import difflib
import errno
import os
import random
import stat
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fsutil  # noqa: E402

IS_ROOT = os.geteuid() == 0
NAMES = ["a", "b", "c", "d", "e"]
WH = ".wh."
OPQ = ".wh..wh..opq"


# ------------------------------------------------------------ generation

def _can_mknod_whiteout(d):
    p = os.path.join(d, ".probe-whiteout")
    try:
        os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(0, 0))
        os.unlink(p)
        return True
    except OSError:
        return False


def _content(rng):
    if rng.random() < 0.2:
        return b"shared content\n"  # equal content in different files
    return bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 10, 100, 1000, 5000])))


def _exists(p):
    return os.path.lexists(p)


def _has_marker(parent, name):
    return _exists(os.path.join(parent, WH + name))


def gen_layer(rng, root, kernel_wh):
    os.makedirs(root, exist_ok=True)
    files = []
    dir_modes = []
    for _ in range(rng.randint(8, 24)):
        depth = rng.choice([1, 1, 2, 2, 3])
        parts = [rng.choice(NAMES[:4] if i < depth - 1 else NAMES) for i in range(depth)]
        parent = root
        ok = True
        for comp in parts[:-1]:
            q = os.path.join(parent, comp)
            if _exists(q) and not (os.path.isdir(q) and not os.path.islink(q)):
                ok = False
                break
            if os.path.lexists(os.path.join(parent, WH + comp)):
                ok = False
                break
            if not _exists(q):
                os.mkdir(q)
            parent = q
        if not ok:
            continue
        name = parts[-1]
        p = os.path.join(parent, name)
        kind = rng.choices(["file", "dir", "symlink", "hardlink", "whiteout", "opaque", "xattr"],
                           [30, 14, 10, 8, 14, 10, 14])[0]
        if kind == "xattr":
            if _exists(p) and not os.path.islink(p) and not stat.S_ISCHR(os.lstat(p).st_mode):
                ns = "trusted" if IS_ROOT and rng.random() < 0.3 else "user"
                os.setxattr(p, "%s.k%d" % (ns, rng.randrange(3)), b"v%d" % rng.randrange(100))
            continue
        if kind == "opaque":
            if _exists(p) and not (os.path.isdir(p) and not os.path.islink(p)):
                continue
            if _has_marker(parent, name):
                continue
            if not _exists(p):
                os.mkdir(p)
            fmts = ["user", "fuseoverlayfs", "whopq"] + (["trusted", "trusted"] if IS_ROOT else [])
            fmt = rng.choice(fmts)
            if fmt == "whopq":
                open(os.path.join(p, OPQ), "w").close()
            else:
                ns = {"user": "user.overlay.", "fuseoverlayfs": "user.fuseoverlayfs.",
                      "trusted": "trusted.overlay."}[fmt]
                os.setxattr(p, ns + "opaque", b"y")
            continue
        if _exists(p) or _has_marker(parent, name):
            continue
        if kind == "file":
            with open(p, "wb") as f:
                f.write(_content(rng))
            # modes are applied at the end: a 0444 file takes no user.* xattr
            dir_modes.append((p, rng.choice([0o644, 0o644, 0o600, 0o755, 0o444, 0o640])))
            files.append(p)
        elif kind == "dir":
            os.mkdir(p)
            dir_modes.append((p, rng.choice([0o755, 0o755, 0o700, 0o750, 0o555])))
        elif kind == "symlink":
            os.symlink(rng.choice(["a", "../b", "c/d", "/nonexistent-strata-oracle", "."]), p)
        elif kind == "hardlink":
            if files:
                os.link(rng.choice(files), p)
        elif kind == "whiteout":
            if kernel_wh and rng.random() < 0.5:
                os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(0, 0))
            else:
                open(os.path.join(parent, WH + name), "w").close()
        if IS_ROOT and kind in ("file", "dir") and rng.random() < 0.3:
            os.lchown(p, rng.choice([0, 1000, 1234]), rng.choice([0, 100, 4321]))
    for p, m in reversed(dir_modes):
        if os.path.lexists(p) and not os.path.islink(p):
            os.chmod(p, m)


def cmd_gen(args):
    seed, out = int(args[0]), args[1]
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    kernel_wh = _can_mknod_whiteout(out)
    n = rng.randint(2, 4)
    paths = []
    for i in range(n):
        p = os.path.join(out, "l%d" % i)
        gen_layer(rng, p, kernel_wh)
        paths.append(p)
    print("\n".join(paths))
    return 0


# ------------------------------------------------------------ kernel format

def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def cmd_kernelize(args):
    """kernelize OUTDIR LAYER...: kernel-format copies of a stack, printed
    top-most first.  Whiteouts that hide nothing (no lower layer has the path,
    or they sit in an opaque dir) are dropped: kernel overlayfs lists them in
    a directory that is not merged, then fails their lookup (kernel quirk)."""
    out, layers = args[0], args[1:]
    os.makedirs(out, exist_ok=True)
    copies = []
    for src in layers:
        dst = os.path.join(out, os.path.basename(src))
        # cp -a keeps owners, modes, xattrs, special files and hard links
        if os.system("cp -a '%s' '%s'" % (src, dst)) != 0:
            print("cp -a failed", file=sys.stderr)
            return 1
        copies.append(dst)
    for dst in copies:
        for d, dirs, files in os.walk(dst):
            for n in list(files):
                p = os.path.join(d, n)
                if n == OPQ:
                    os.unlink(p)
                    os.setxattr(d, "trusted.overlay.opaque", b"y")
                elif n.startswith(WH):
                    os.unlink(p)
                    os.mknod(os.path.join(d, n[len(WH):]), stat.S_IFCHR | 0o600, os.makedev(0, 0))
            for n in dirs:
                p = os.path.join(d, n)
                for x in ("user.overlay.opaque", "user.fuseoverlayfs.opaque"):
                    try:
                        os.getxattr(p, x)
                        os.removexattr(p, x)
                        os.setxattr(p, "trusted.overlay.opaque", b"y")
                    except OSError:
                        pass
    for i, dst in enumerate(copies):
        for d, dirs, files in os.walk(dst):
            rel = os.path.relpath(d, dst)
            opaque = rel != "." and _opaque(d)
            for n in files:
                p = os.path.join(d, n)
                if not _is_whiteout(os.lstat(p)):
                    continue
                below = any(os.path.lexists(os.path.join(c, rel, n)) for c in copies[i + 1:])
                if opaque or not below:
                    os.unlink(p)
    print("\n".join(copies))
    return 0


# ------------------------------------------------------------ reference merge

def _opaque(p):
    for x in ("trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"):
        try:
            if os.getxattr(p, x) == b"y":
                return True
        except OSError:
            pass
    return _exists(os.path.join(p, OPQ))


def _lookup(stack, name):
    """stack: real dirs making one merged dir, top-most first.
    Returns None (absent), ('n', path) for a non-dir, ('d', [dirs])."""
    found = []
    for d in stack:
        if _exists(os.path.join(d, WH + name)):
            break
        p = os.path.join(d, name)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if _is_whiteout(st):
            break
        if not stat.S_ISDIR(st.st_mode):
            if not found:
                return ("n", p)
            break
        found.append(p)
        if _opaque(p):
            break
    return ("d", found) if found else None


def merge(layers):
    items = [(".", layers[0])]
    todo = [(".", list(layers))]
    while todo:
        rel, stack = todo.pop()
        names = set()
        for d in stack:
            for n in os.listdir(d):
                if n == OPQ:
                    continue
                if n.startswith(WH):
                    continue
                names.add(n)
        for n in sorted(names):
            r = n if rel == "." else rel + "/" + n
            got = _lookup(stack, n)
            if got is None:
                continue
            if got[0] == "n":
                items.append((r, got[1]))
            else:
                items.append((r, got[1][0]))
                todo.append((r, got[1]))
    return fsutil.format_entries(items)


def cmd_merge(args):
    for line in merge(args):
        print(line)
    return 0


# ------------------------------------------------------------ operations

def _walk_types(root):
    out = []
    for rel in fsutil._walk(root):
        if " <l" in rel:
            continue
        st = os.lstat(os.path.join(root, rel))
        out.append((rel, fsutil._ftype(st.st_mode)))
    return out


def _new_name(rng, entries):
    dirs = [r for r, t in entries if t == "d"]
    parent = rng.choice(dirs)
    name = rng.choice(NAMES + ["n1", "n2", "n3"])
    return name if parent == "." else parent + "/" + name


NOFOLLOW = os.O_NOFOLLOW


def _rmtree(p, kernel=False):
    """rm -r in sorted order, stopping at the first error: what is removed
    before an error must not depend on the readdir order of the tree.
    kernel: skip what the listing shows but lstat cannot find (kernel
    overlayfs lists whiteouts of a directory found in one layer only)."""
    for n in sorted(os.listdir(p)):
        c = os.path.join(p, n)
        try:
            st = os.lstat(c)
        except FileNotFoundError:
            if kernel:
                continue
            raise
        if stat.S_ISDIR(st.st_mode):
            _rmtree(c, kernel)
        else:
            os.unlink(c)
    os.rmdir(p)


def _apply(root, op, a, kernel=False):
    """Apply one op to the tree at root; return 'OK' or an errno name."""
    P = lambda r: os.path.join(root, r)  # noqa: E731
    try:
        if op == "create":
            fd = os.open(P(a[0]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | NOFOLLOW, 0o644)
            os.write(fd, a[1])
            os.close(fd)
        elif op == "write":
            fd = os.open(P(a[0]), os.O_WRONLY | os.O_TRUNC | NOFOLLOW)
            os.write(fd, a[1])
            os.close(fd)
        elif op == "append":
            fd = os.open(P(a[0]), os.O_WRONLY | os.O_APPEND | NOFOLLOW)
            os.write(fd, a[1])
            os.close(fd)
        elif op == "pwrite":
            fd = os.open(P(a[0]), os.O_WRONLY | NOFOLLOW)
            os.pwrite(fd, a[1], a[2])
            os.close(fd)
        elif op == "truncate":
            fd = os.open(P(a[0]), os.O_WRONLY | NOFOLLOW)
            os.ftruncate(fd, a[1])
            os.close(fd)
        elif op == "chmod":
            os.chmod(P(a[0]), a[1])
        elif op == "chown":
            os.chown(P(a[0]), a[1], a[2], follow_symlinks=False)
        elif op == "unlink":
            os.unlink(P(a[0]))
        elif op == "rmdir":
            os.rmdir(P(a[0]))
        elif op == "mkdir":
            os.mkdir(P(a[0]), 0o755)
        elif op == "rename":
            os.rename(P(a[0]), P(a[1]))
        elif op == "rename_noreplace":
            fsutil.renameat2(P(a[0]), P(a[1]), fsutil.RENAME_NOREPLACE)
        elif op == "rename_exchange":
            fsutil.renameat2(P(a[0]), P(a[1]), fsutil.RENAME_EXCHANGE)
        elif op == "symlink":
            os.symlink(a[1], P(a[0]))
        elif op == "link":
            os.link(P(a[0]), P(a[1]), follow_symlinks=False)
        elif op == "setxattr":
            os.setxattr(P(a[0]), a[1], a[2], follow_symlinks=False)
        elif op == "removexattr":
            os.removexattr(P(a[0]), a[1], follow_symlinks=False)
        elif op == "rmtree":
            _rmtree(P(a[0]), kernel)
        else:
            raise ValueError(op)
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def _choose(rng, entries):
    files = [r for r, t in entries if t == "f"]
    dirs = [r for r, t in entries if t == "d" and r != "."]
    nondirs = [r for r, t in entries if t not in ("d",)]
    anything = [r for r, t in entries if r != "."]
    fd = files + dirs
    ops = ["create", "create", "mkdir", "symlink", "rename", "rename", "rmdir", "rmtree",
           "rename_noreplace", "rename_exchange"]
    if files:
        ops += ["write", "append", "pwrite", "truncate", "link", "chmod"]
    if nondirs:
        ops += ["unlink", "unlink"]
    if fd:
        ops += ["setxattr", "setxattr", "chmod"] + (["chown"] if IS_ROOT else [])
    op = rng.choice(ops)
    data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 5, 100, 3000])))
    if op == "create":
        return op, (_new_name(rng, entries), data)
    if op == "mkdir":
        return op, (_new_name(rng, entries),)
    if op == "symlink":
        return op, (_new_name(rng, entries), rng.choice(["a", "../x", "/nonexistent-strata-oracle"]))
    if op in ("write", "append"):
        return op, (rng.choice(files), data)
    if op == "pwrite":
        return op, (rng.choice(files), data[:50] or b"x", rng.choice([0, 3, 4096]))
    if op == "truncate":
        return op, (rng.choice(files), rng.choice([0, 1, 50, 4000]))
    if op == "link":
        return op, (rng.choice(files), _new_name(rng, entries))
    if op == "chmod":
        return op, (rng.choice(fd), rng.choice([0o644, 0o600, 0o755, 0o700, 0o750]))
    if op == "chown":
        return op, (rng.choice(fd), rng.choice([0, 1000, 2000]), rng.choice([0, 100, 200]))
    if op == "unlink":
        return op, (rng.choice(nondirs),)
    if op in ("rmdir", "rmtree"):
        return (op, (rng.choice(dirs),)) if dirs else ("mkdir", (_new_name(rng, entries),))
    if op in ("rename", "rename_noreplace"):
        src = rng.choice(anything) if anything else "a"
        return op, (src, _new_name(rng, entries))
    if op == "rename_exchange":
        if len(anything) < 2:
            return "mkdir", (_new_name(rng, entries),)
        a, b = rng.sample(anything, 2)
        return op, (a, b)
    if op == "setxattr":
        ns = "trusted" if IS_ROOT and rng.random() < 0.3 else "user"
        return op, (rng.choice(fd), "%s.o%d" % (ns, rng.randrange(3)), b"val%d" % rng.randrange(1000))
    raise AssertionError(op)


def _dump(name, root):
    d = fsutil.dump(root)
    if name.startswith("kernel"):
        # kernel overlayfs lists whiteouts of a directory that exists in one
        # layer only (a "real" dir), then fails their lookup: a known kernel
        # quirk, not a difference the other trees must reproduce
        d = [x for x in d if not x.endswith(" <lstat:ENOENT>")]
    return d


def cmd_ops(args):
    seed, n = int(args[0]), int(args[1])
    trees = [a.split("=", 1) for a in args[2:]]
    rng = random.Random(seed * 7919 + 1)
    for step in range(1, n + 1):
        entries = _walk_types(trees[0][1])
        op, a = _choose(rng, entries)
        results = [(name, _apply(root, op, a, name.startswith("kernel"))) for name, root in trees]
        desc = "%s %s" % (op, " ".join(repr(x) if isinstance(x, bytes) and len(x) < 20 else
                                       ("<%d bytes>" % len(x) if isinstance(x, bytes) else str(x))
                                       for x in a))
        if len({r for _, r in results}) > 1:
            print("step %d: %s: outcomes differ: %s" % (step, desc,
                                                      ", ".join("%s %s" % r for r in results)))
            if os.environ.get("ORACLE_HOLD"):  # debugging: keep the trees for a look
                print("holding the trees for %s s: %s" % (os.environ["ORACLE_HOLD"], trees),
                      file=sys.stderr, flush=True)
                time.sleep(float(os.environ["ORACLE_HOLD"]))
            return 1
        if os.environ.get("ORACLE_VERBOSE"):
            print("step %d: %s -> %s" % (step, desc, results[0][1]))
    dumps = [(name, _dump(name, root)) for name, root in trees]
    bad = 0
    for name, d in dumps[1:]:
        if d != dumps[0][1]:
            bad = 1
            print("after %d operations, %s and %s differ (- %s, + %s):" % (n, dumps[0][0], name,
                                                                       dumps[0][0], name))
            for line in list(difflib.unified_diff(dumps[0][1], d, lineterm="", n=1))[2:42]:
                print("  " + line)
    if not bad:
        print("%d operations, %d trees identical (%d entries)" % (n, len(trees), len(dumps[0][1])))
    return bad


COMMANDS = {"gen": cmd_gen, "kernelize": cmd_kernelize, "merge": cmd_merge, "ops": cmd_ops}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
