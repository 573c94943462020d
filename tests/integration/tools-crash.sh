#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-crash.sh - kill -9 `strata add` and `strata commit` at random points;
# `strata check` must then repair the store, lose nothing committed before,
# and leave a store where the same operation works again.
. "$(dirname "$0")/tools-lib.sh"

# A source tree big enough that add/commit take a while: many files.
make_tree() {
	local dir=$1 n=$2 i
	mkdir -p "$dir"
	for i in $(seq 1 "$n"); do
		mkdir -p "$dir/d$((i % 20))"
		head -c $((i * 37 % 8192 + 1)) /dev/urandom >"$dir/d$((i % 20))/f$i"
	done
}

# Start "$@" in the background, kill -9 it after a random delay (0-N ms).
kill_randomly() {
	local max_ms=$1
	shift
	"$@" >/dev/null 2>&1 &
	local pid=$!
	sleep "0.$(printf '%03d' $((RANDOM % max_ms)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

test_kill_during_add_then_check() {
	local seed=${CRASH_SEED:-$RANDOM} i before
	RANDOM=$seed
	echo "# seed $seed"
	make_tree "$T/src" 1500
	tar -C "$T/src" -czf "$T/src.tar.gz" .
	st add "$T/src/d1" --tag kept >/dev/null
	before=$(st images -q --no-trunc)
	for i in 1 2 3 4 5 6; do
		kill_randomly 600 "$STRATA" --root "$ROOT" -q add "$T/src.tar.gz" --tag big
		st check >"$T/check.$i" || fail "check failed after kill $i: $(cat "$T/check.$i")"
		st check -n >/dev/null || fail "store still inconsistent after repair $i"
		# what was committed before is intact
		assert_contains "$(st images -q --no-trunc)" "$before"
		st verify kept >/dev/null || fail "kept image damaged"
		[ -z "$(ls -A "$ROOT/tmp")" ] || fail "tmp not cleaned: $(ls "$ROOT/tmp")"
	done
	# and the interrupted operation works afterwards
	st add "$T/src.tar.gz" --tag big >/dev/null
	st verify >/dev/null || fail "verify after re-add"
	assert_contains "$(st images)" "^big "
}

test_kill_during_commit_then_check() {
	local seed=${CRASH_SEED:-$RANDOM} i upper files
	RANDOM=$seed
	echo "# seed $seed"
	mkdir -p "$T/base" && echo base >"$T/base/base"
	st add "$T/base" --tag base >/dev/null
	for i in 1 2 3 4 5; do
		st create --name "c$i" base >/dev/null
		upper=$(st inspect --type container "c$i" | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
		make_tree "$upper" 800
		echo "marker $i" >"$upper/marker"
		kill_randomly 400 "$STRATA" --root "$ROOT" -q commit "c$i" "img:$i"
		st check >"$T/check.$i" || fail "check failed after kill $i: $(cat "$T/check.$i")"
		st check -n >/dev/null || fail "still inconsistent after repair $i"
		# the container's changes are either still in its upper, or in the
		# top layer of the image it now runs on: never lost
		upper=$(st inspect --type container "c$i" | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
		if [ -e "$upper/marker" ]; then
			files=$(find "$upper" -type f | wc -l)
		else
			local img top
			img=$(st inspect --type container "c$i" | sed -n 's/.*"Image": "\(.*\)".*/\1/p')
			top=$(st inspect "$img" | sed -n 's/.*"LowerDir": "\([^:]*\):.*/\1/p')
			[ -e "$top/marker" ] || fail "changes of c$i lost (no marker in $top)"
			assert_eq "$(cat "$top/marker")" "marker $i"
			files=$(find "$top" -type f | wc -l)
		fi
		assert_eq "$files" 801 "all files of c$i kept"
		st verify >/dev/null || fail "verify after kill $i"
	done
}

test_crash_between_publish_and_record() {
	local upper img top out
	mkdir -p "$T/a" && echo a >"$T/a/a"
	# add: the layer dir is in layers/ but unrecorded -> check removes it
	expect_status 137 env STRATA_FAULT=kill-after-publish "$STRATA" --root "$ROOT" add "$T/a" --tag a
	[ "$(ls "$ROOT/layers" | wc -l)" = 1 ] || fail "crash point not reached"
	expect_status 0 st check
	assert_contains "$OUT" "removed unrecorded layers/"
	assert_eq "$(ls "$ROOT/layers" | wc -l)" 0
	st add "$T/a" --tag a >/dev/null
	# commit: the upper was moved into layers/ -> check completes the commit
	st create --name c a >/dev/null
	upper=$(st inspect --type container c | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	echo changed >"$upper/new"
	expect_status 137 env STRATA_FAULT=kill-after-publish "$STRATA" --root "$ROOT" commit c done
	expect_status 1 st check -n
	assert_contains "$OUT" "found interrupted commit"
	expect_status 0 st check
	assert_contains "$OUT" "completed interrupted commit"
	out=$(st images)
	assert_contains "$out" "^done "
	img=$(st inspect --type container c | sed -n 's/.*"Image": "\(.*\)".*/\1/p')
	top=$(st inspect "$img" | sed -n 's/.*"LowerDir": "\([^:]*\):.*/\1/p')
	assert_eq "$(cat "$top/new")" changed
	assert_eq "$(st history -q done | wc -l)" 2
	expect_status 0 st check -n
	st verify >/dev/null
}

# A full disk: an add that does not fit fails with a message that says so,
# records nothing and leaves no partial layer; the store stays consistent
# and what was there before is intact; with room again the add works.
test_add_on_full_disk() {
	[ "$(id -u)" = 0 ] || skip "needs root (tmpfs)"
	mkdir -p "$T/small"
	mount -t tmpfs -o size=3m strata-test-full "$T/small" || skip "cannot mount tmpfs"
	local store=$T/small/store rc=0 err
	mkdir -p "$T/ok" && echo fits >"$T/ok/f"
	make_tree "$T/big" 300
	head -c $((4 << 20)) /dev/urandom >"$T/big/huge"
	"$STRATA" --root "$store" -q add "$T/ok" --tag ok >/dev/null || { umount "$T/small"; fail "small add failed"; }
	err=$("$STRATA" --root "$store" add "$T/big" --tag big 2>&1 >/dev/null) || rc=$?
	echo "# add on a full disk: status $rc: $err"
	local images layers check
	images=$("$STRATA" --root "$store" images 2>&1)
	check=$("$STRATA" --root "$store" check -n 2>&1) || check="FAILED: $check"
	layers=$(ls "$store/layers" | wc -l)
	"$STRATA" --root "$store" -q verify ok >/dev/null 2>&1 || check="$check; verify of ok failed"
	rm -rf "$T/big/huge"
	"$STRATA" --root "$store" -q add "$T/big" --tag big >/dev/null 2>&1 || check="$check; add failed with room again"
	umount "$T/small"
	[ "$rc" != 0 ] || fail "add of 5 MiB into a 3 MiB store succeeded"
	case $err in *"No space left on device"*) ;; *) fail "the error does not say the disk is full: $err" ;; esac
	assert_contains "$images" "^ok "
	case $images in *big*) fail "a failed add is listed: $images" ;; esac
	assert_eq 1 "$layers" "layers after the failed add"
	case $check in *FAILED*|*failed*) fail "store after the failed add: $check" ;; esac
}

# A damaged database: every command refuses with a message naming the file,
# and changes nothing (not the database, not the layers); a damaged page
# that a command does not read is found by `strata check`.
test_corrupt_database_refused() {
	local before after
	mkdir -p "$T/a" && echo a >"$T/a/a"
	st add "$T/a" --tag a >/dev/null
	cp "$ROOT/strata.db" "$T/good.db"
	before=$(cd "$ROOT/layers" && find . | sort | md5sum)
	printf 'not a database at all' | dd of="$ROOT/strata.db" conv=notrunc status=none
	cp "$ROOT/strata.db" "$T/bad.db"
	expect_status 1 st images
	assert_contains "$ERR" "strata.db' is damaged"
	expect_status 1 st add "$T/a" --tag b
	expect_status 1 st check
	cmp -s "$ROOT/strata.db" "$T/bad.db" || fail "the damaged database was changed"
	after=$(cd "$ROOT/layers" && find . | sort | md5sum)
	assert_eq "$before" "$after" "layers after commands on a damaged database"
	# the backup brings everything back
	cp "$T/good.db" "$ROOT/strata.db"
	rm -f "$ROOT/strata.db-wal" "$ROOT/strata.db-shm"
	st verify a >/dev/null || fail "verify after restoring the database"
	# a damaged page in the middle: check finds it
	local size
	size=$(stat -c %s "$ROOT/strata.db")
	head -c 4096 /dev/urandom | dd of="$ROOT/strata.db" bs=1 seek=$((size / 2)) conv=notrunc status=none
	expect_status 1 st check -n
}

run_tests
