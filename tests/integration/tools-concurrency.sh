#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-concurrency.sh - several strata processes at once (adds, commits, rmi,
# creates, mounts) never corrupt the database or lose an update.
. "$(dirname "$0")/tools-lib.sh"

mk_src() {
	mkdir -p "$1/etc"
	echo "$2" >"$1/etc/id"
	head -c 20000 /dev/urandom >"$1/etc/blob"
}

consistent() {
	st check -n >"$T/check" || fail "store inconsistent: $(cat "$T/check")"
	st verify >/dev/null || fail "verify failed"
	[ "$(sqlite3 "$ROOT/strata.db" 'PRAGMA integrity_check' 2>/dev/null || echo ok)" = ok ] ||
		fail "sqlite integrity_check"
}

test_parallel_adds_all_recorded() {
	local i pids=()
	for i in $(seq 0 9); do mk_src "$T/s$i" "$i"; done
	for i in $(seq 0 9); do
		st add "$T/s$i" --tag "img$i" >"$T/out$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "add $i failed: $(cat "$T/out$i")"; done
	assert_eq "$(st images -q | wc -l)" 10
	assert_eq "$(st layers -q | wc -l)" 10
	consistent
}

test_parallel_identical_adds_dedup() {
	local i pids=() id
	mk_src "$T/same" same
	for i in $(seq 0 7); do
		st add "$T/same" --tag "same$i" >"$T/out$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "add $i failed: $(cat "$T/out$i")"; done
	id=$(cat "$T/out0")
	for i in $(seq 1 7); do assert_eq "$(cat "$T/out$i")" "$id" "same id"; done
	assert_eq "$(st layers -q | wc -l)" 1
	assert_eq "$(ls "$ROOT/layers" | wc -l)" 1
	consistent
}

test_parallel_mixed_workload() {
	local i pids=() base
	mk_src "$T/base" base
	base=$(st add "$T/base" --tag base)
	for i in $(seq 0 5); do
		mk_src "$T/s$i" "$i"
		st create --name "c$i" base >/dev/null
		upper=$(st inspect --type container "c$i" | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
		mk_src "$upper" "changed $i"
	done
	for i in $(seq 0 5); do
		# (tags are not hex: "a5" could name an image id that starts so)
		{ st add "$T/s$i" --parent base --tag "tmp$i" && st rmi "tmp$i"; } >"$T/add$i" 2>&1 &
		pids+=($!)
		st commit "c$i" "k$i" >"$T/commit$i" 2>&1 &
		pids+=($!)
		{ st create base >/dev/null && st images >/dev/null && st ps -a >/dev/null; } \
			>"$T/misc$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "job $i failed: $(cat "$T"/add* "$T"/commit* "$T"/misc*)"; done
	for i in $(seq 0 5); do
		st inspect "k$i" >/dev/null || fail "commit k$i lost"
		expect_status 1 st inspect --type image "tmp$i"
	done
	assert_eq "$(st ps -a -q | wc -l)" 12
	consistent
}

test_parallel_add_and_rmi_of_same_content() {
	local i j pids=()
	mk_src "$T/same" same
	for i in 0 1 2 3; do
		{
			for j in 1 2 3 4 5; do
				st add "$T/same" --tag "t$i" >/dev/null || exit 1
				st rmi "t$i" >/dev/null 2>&1 || true
			done
			st add "$T/same" --tag "t$i" >/dev/null
		} >"$T/out$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "worker $i failed: $(cat "$T/out$i")"; done
	# every recorded layer has its directory, and the final adds all stuck
	for i in 0 1 2 3; do st inspect "t$i" >/dev/null || fail "t$i lost"; done
	assert_eq "$(ls "$ROOT/layers" | wc -l)" 1
	consistent
}

test_parallel_mounts() {
	need_mount
	local i pids=()
	mk_src "$T/base" base
	st add "$T/base" --tag base >/dev/null
	for i in 0 1 2 3; do
		mkdir -p "$T/m$i"
		st mount base "$T/m$i" --name "m$i" >"$T/out$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "mount $i failed: $(cat "$T/out$i")"; done
	for i in 0 1 2 3; do
		assert_eq "$(cat "$T/m$i/etc/id")" base
		echo "$i" >"$T/m$i/etc/id"
	done
	assert_eq "$(st ps -q | wc -l)" 4
	pids=()
	for i in 0 1 2 3; do
		st commit "m$i" "snap$i" >"$T/c$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "commit $i failed: $(cat "$T/c$i")"; done
	for i in 0 1 2 3; do st umount "m$i"; done
	assert_eq "$(st ps -q | wc -l)" 0
	consistent
}

run_tests
