#!/usr/bin/env bash
# The built-in example: install what is missing, build, then mount a small
# stack of two read-only layers and one writable layer with stratafs, show
# the merged view, write through it, show where the writes went, unmount.
# Usage: tests/demo.sh            (root or not: stratafs works for both)
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh build unionfs/stratafs >/dev/null
stratafs=$PWD/build/unionfs/stratafs

demo=$(mktemp -d /tmp/strata-demo.XXXXXX)
mnt=$demo/merged
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && fusermount3 -u "$mnt"
  rm -rf "$demo"
}
trap cleanup EXIT
mkdir -p "$demo"/{base,app,upper,work,merged}

# layer "base" (bottom): a tiny system
mkdir -p "$demo"/base/etc "$demo"/base/usr/share/doc/tool
echo "debian 12" > "$demo"/base/etc/os-release
echo "motd from base" > "$demo"/base/etc/motd
echo "manual" > "$demo"/base/usr/share/doc/tool/README
# layer "app" (on top of base): changes motd, deletes the docs, adds an app
mkdir -p "$demo"/app/etc "$demo"/app/opt/app "$demo"/app/usr/share/doc
echo "motd from app" > "$demo"/app/etc/motd
echo 'echo hello' > "$demo"/app/opt/app/run.sh
touch "$demo"/app/usr/share/doc/.wh.tool      # an OCI-style whiteout

say() { if [ -t 1 ]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
say "mount: stratafs -o lowerdir=app:base,upperdir=upper,workdir=work merged"
"$stratafs" -o "lowerdir=$demo/app:$demo/base,upperdir=$demo/upper,workdir=$demo/work" "$mnt"

say "merged view"
(cd "$mnt" && find . -mindepth 1 | sort)
say "etc/motd comes from the top-most layer holding it"
cat "$mnt"/etc/motd

say "write through the mount: edit motd, add a file, delete os-release"
echo "motd edited through the mount" > "$mnt"/etc/motd
echo "new" > "$mnt"/etc/hostname
rm "$mnt"/etc/os-release
(cd "$mnt" && find . -mindepth 1 | sort)

say "where the writes went: the upper layer"
(cd "$demo"/upper && find . -mindepth 1 -printf '%y %p\n' | sort)
echo "(the 'c' entry is a whiteout: a character device 0/0 hiding etc/os-release)"
say "the lower layers are untouched"
cat "$demo"/app/etc/motd "$demo"/base/etc/os-release

fusermount3 -u "$mnt"
say "unmounted"
