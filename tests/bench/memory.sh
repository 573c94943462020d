#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's memory and descriptors after walks of unionbench's dataset:
# the daemon must forget what the kernel forgets, so after the kernel drops
# its caches (echo 3 > drop_caches sends FORGETs) the daemon shrinks back.
# Usage: sudo tests/bench/memory.sh [DATASET_LAYERS_DIR]; writes
# tests/bench/memory.md.  Run after tests/bench/run.sh (which makes the
# dataset); not a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
stratafs=${STRATAFS:-$top/build/unionfs/stratafs}
layers=${1:-}
if [[ -z $layers ]]; then
	layers=$(ls -d /var/tmp/unionbench/dataset-full-*/layers 2>/dev/null | head -n 1 || true)
fi
[[ -d $layers ]] || { echo "memory: no unionbench dataset (run tests/bench/run.sh first, or give its layers dir)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "memory: run as root (drops caches)" >&2; exit 1; }

lowers=$(ls -d "$layers"/l* | sort -r | paste -sd: -)
t=$(mktemp -d /tmp/strata-mem.XXXXXX)
mkdir -p "$t"/{upper,work,mnt}
pid=
cleanup() {
	mountpoint -q "$t/mnt" && fusermount3 -u "$t/mnt"
	[[ -n $pid ]] && wait "$pid" 2>/dev/null
	rm -rf "$t"
}
trap cleanup EXIT
"$stratafs" -f -o "lowerdir=$lowers,upperdir=$t/upper,workdir=$t/work" "$t/mnt" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$t/mnt" && break; sleep 0.1; done
mountpoint -q "$t/mnt" || { echo "memory: mount failed" >&2; exit 1; }

row() { # WHEN
	local rss hwm fds
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	fds=$(ls "/proc/$pid/fd" | wc -l)
	printf '| %s | %s MiB | %s MiB | %s |\n' "$1" "$((rss / 1024))" "$((hwm / 1024))" "$fds"
}
entries=$(find "$layers" -mindepth 1 | wc -l)
{
	echo "## stratafs memory, $(date -u +%FT%TZ)"
	echo
	echo "Dataset: \`$layers\` ($entries entries in its layers). RSS now and at its peak, open descriptors."
	echo
	echo "| after | RSS | peak RSS | fds |"
	echo "|:--|--:|--:|--:|"
	row "mount"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	find "$t/mnt" -printf '%s %m\n' >/dev/null
	row "cold walk (find -printf)"
	find "$t/mnt" -printf '%s %m\n' >/dev/null
	row "warm walk"
	tar -C "$t/mnt" -cf - --exclude=./opt/ubdata . | wc -c >/dev/null
	row "tar -c of the tree"
	echo 3 >/proc/sys/vm/drop_caches
	sleep 3
	echo 3 >/proc/sys/vm/drop_caches
	sleep 1
	row "the kernel dropped its caches (FORGETs)"
	for i in 1 2 3; do
		find "$t/mnt" -printf '%s %m\n' >/dev/null
		tar -C "$t/mnt" -cf - --exclude=./opt/ubdata . | wc -c >/dev/null
		echo 3 >/proc/sys/vm/drop_caches
		sleep 1
	done
	row "3 more rounds of walk, tar -c and drop (memory reused, not grown)"
} | tee "$top/tests/bench/memory.md"
