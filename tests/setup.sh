#!/usr/bin/env bash
# Install what building and testing Strata needs (Debian 12), then build.
# Usage: tests/setup.sh [BUILDDIR [TARGET...]]   (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-build}
shift || true

packages=(
  # build
  gcc libc6-dev meson ninja-build pkg-config zlib1g-dev libjson-c-dev
  libfuse3-dev libsqlite3-dev libzstd-dev libxxhash-dev libarchive-dev libssl-dev
  # run and test
  fuse3 attr acl libcap2-bin python3 busybox-static util-linux e2fsprogs
  # peers, sandboxes and engines used by end-to-end tests and the benchmark
  fuse-overlayfs unionfs-fuse bubblewrap fio skopeo podman runc uidmap
  umoci docker-registry curl mmdebstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d "$builddir" ]; then
  meson setup "$builddir" >/dev/null
fi
ninja -C "$builddir" "$@"
