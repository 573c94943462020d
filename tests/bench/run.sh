#!/usr/bin/env bash
# Run unionbench (../shared/bench/unionbench, or $UNIONBENCH) with stratafs
# next to kernel overlayfs, fuse-overlayfs and unionfs-fuse, and keep the
# report in tests/bench/results.md (markdown) and results.json.
# Usage: sudo tests/bench/run.sh [--quick] [more unionbench options...]
# Timing belongs here, never in the pass/fail tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
unionbench=${UNIONBENCH:-$top/../shared/bench/unionbench}
[ -x "$unionbench" ] || { echo "bench: unionbench not found at $unionbench (set UNIONBENCH)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (unionbench mounts and drops caches)" >&2; exit 1; }

tests/setup.sh build unionfs/stratafs >/dev/null
out=$top/tests/bench
"$unionbench" --systems kernel,fuse-overlayfs,unionfs-fuse,ours \
  --ours "$top/build/unionfs/stratafs -o lowerdir={lowerdirs},upperdir={upper},workdir={work} {mnt}" \
  --out "$out/results.json" --md "$out/results.md" "$@"
echo "bench: report in $out/results.md"
