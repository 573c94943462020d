#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-rootless.sh - a day with `strata` as an ordinary user (no
# capabilities; /dev/fuse 0666 and a setuid fusermount3, as distributions
# ship them), on the default store under $XDG_DATA_HOME/strata: add, images,
# mount, write, umount, commit, rmi refused, rm, prune, check; what the
# user's layers look like to root afterwards; tars with files of other
# users (owners kept in user.containers.override_stat); and `strata run`,
# which shows those owners (and lets the container chown) when the user has
# subordinate ids, and says it cannot when not (a user without them is added
# for that test and removed afterwards).
. "$(dirname "$0")/tools-lib.sh"
. "$(dirname "$0")/tools-rootless-lib.sh"

ID_RE='^xxh128:[0-9a-f]{32}$'

# Run "$@" as the user; require status $1; output in $OUT/$ERR.
uexpect() {
	local want=$1
	shift
	set +e
	as_user "$@" >"$T/.out" 2>"$T/.err"
	local rc=$?
	set -e
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
	[ "$rc" = "$want" ] || fail "'$*' exited $rc as $TEST_USER, wanted $want; stderr: $ERR"
}

test_store_defaults_to_xdg_data_home() {
	need_user
	local id
	id=$(ust add "$(user_bb_rootfs)" --tag bb)
	assert_match "$id" "$ID_RE"
	[ -f "$UXDG/strata/strata.db" ] || fail "no store under \$XDG_DATA_HOME/strata"
	[ -z "$(find "$UXDG/strata" ! -user "$(as_user id -un)" | head -1)" ] ||
		fail "files not owned by the user: $(find "$UXDG/strata" ! -user "$(as_user id -un)")"
	# without XDG_DATA_HOME: ~/.local/share/strata
	UXDG=
	ust add "$(user_bb_rootfs)" --tag bb2 >/dev/null
	[ -f "$UHOME/.local/share/strata/strata.db" ] || fail "no store under ~/.local/share/strata"
}

test_day_in_the_life() {
	need_user
	local mnt=$UHOME/mnt base new out up
	base=$(ust add "$(user_bb_rootfs)" --tag busybox:1 -m "base")
	out=$(ust images)
	assert_contains "$out" "^busybox *1 *${base:7:12} "
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name day busybox:1 "$mnt"
	is_mounted "$mnt" || fail "not mounted"
	grep -q " ${mnt} .* fuse" /proc/self/mountinfo || fail "not a FUSE mount"
	assert_contains "$(ust ps)" "Mounted *$mnt *day"
	as_user sh -c "echo hello >'$mnt/etc/motd' && mkdir '$mnt/data' && echo 42 >'$mnt/data/answer' &&
		rm '$mnt/bin/vi' && chmod 700 '$mnt/data' && ln -s answer '$mnt/data/link'"
	as_user test ! -e "$mnt/bin/vi" || fail "vi still visible"
	up=$(ust inspect --type container day | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	[ -f "$up/data/answer" ] || fail "no data/answer in the upper dir"
	out=$(ust diff day)
	assert_contains "$out" "^C /etc/motd$"
	assert_contains "$out" "^A /data/answer$"
	assert_contains "$out" "^D /bin/vi$"
	# umount goes through fusermount3 -u, as the user
	uexpect 0 "$STRATA" -q umount "$mnt"
	! is_mounted "$mnt" || fail "still mounted"
	new=$(ust commit -m "day" day busybox:2)
	assert_match "$new" "$ID_RE"
	assert_eq "$(ust history busybox:2 | tail -n +2 | wc -l)" 2 "one layer more"
	# rmi refused while the container exists
	uexpect 1 "$STRATA" -q rmi "${new:7:12}"
	assert_contains "$ERR" "conflict: unable to delete ${new:7:12} (must be forced) - image is being used by stopped container"
	# mounted: "running container"
	uexpect 0 "$STRATA" -q mount day "$mnt"
	assert_eq "$(as_user cat "$mnt/etc/motd")" hello "the container continues on the new image"
	uexpect 1 "$STRATA" -q rmi "${new:7:12}"
	assert_contains "$ERR" "running container"
	uexpect 1 "$STRATA" -q rm day
	uexpect 0 "$STRATA" -q rm -f day
	! is_mounted "$mnt" || fail "rm -f left it mounted"
	uexpect 0 "$STRATA" -q rmi busybox:2
	assert_contains "$OUT" "Untagged: busybox:2"
	assert_contains "$OUT" "Deleted: $new"
	uexpect 0 "$STRATA" -q prune
	uexpect 0 "$STRATA" -q check
	assert_contains "$OUT" "consistent"
	uexpect 0 "$STRATA" -q verify
	uexpect 0 "$STRATA" -q df
	uexpect 0 "$STRATA" -q tag busybox:1 other:x
	uexpect 0 "$STRATA" -q search other
	assert_contains "$OUT" "^${base:7:12} "
	uexpect 0 "$STRATA" -q search --file /bin/busybox
	assert_contains "$OUT" "${base:7:12}"
	uexpect 0 "$STRATA" -q create --name later other:x
	uexpect 0 "$STRATA" -q layers
	uexpect 0 "$STRATA" -q inspect other:x
	uexpect 0 "$STRATA" -q rm later
	uexpect 0 "$STRATA" -q rmi other:x
	uexpect 0 "$STRATA" -q rmi busybox:1
	assert_eq "$(ust images -q | wc -l)" 0
	assert_eq "$(ust layers -q | wc -l)" 0
}

test_tar_add_and_export_round_trip() {
	need_user
	local a b
	as_user tar -C "$(user_bb_rootfs)" -czf "$UHOME/bb.tar.gz" .
	a=$(ust add "$UHOME/bb.tar.gz" --tag fromtar)
	b=$(ust add "$(user_bb_rootfs)" --tag fromdir)
	assert_eq "$a" "$b" "same content, same id (tar and directory, rootless)"
	uexpect 0 "$STRATA" -q export -o "$UHOME/out.tar" fromtar
	[ -s "$UHOME/out.tar" ] || fail "empty export"
}

test_whiteouts_of_a_rootless_commit_read_under_root() {
	need_user
	[ "$(id -u)" = 0 ] || skip "needs root for the second half"
	local mnt=$UHOME/mnt rmnt=$T/rootmnt store
	ust add "$(user_bb_rootfs)" --tag bb >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name w bb "$mnt"
	as_user sh -c "rm -r '$mnt/var' '$mnt/etc/motd' && mkdir '$mnt/home/new' && rm -r '$mnt/bin' &&
		mkdir '$mnt/bin' && echo only >'$mnt/bin/only'"
	uexpect 0 "$STRATA" -q umount "$mnt"
	ust commit w bb2 >/dev/null
	ust rm w >/dev/null
	# root mounts the user's store: the deletions and the opaque /bin hold
	store=$UXDG/strata
	mkdir "$rmnt"
	"$STRATA" --root "$store" -q mount --name asroot bb2 "$rmnt" >/dev/null
	[ ! -e "$rmnt/var" ] && [ ! -e "$rmnt/etc/motd" ] || fail "whiteouts not honoured under root"
	[ -d "$rmnt/home/new" ] || fail "no /home/new"
	assert_eq "$(ls "$rmnt/bin")" only "opaque /bin under root"
	"$STRATA" --root "$store" -q umount "$rmnt"
	"$STRATA" --root "$store" -q rm asroot >/dev/null
	# and back to the user: the store is still theirs
	[ -z "$(find "$store" ! -user "$(as_user id -un)" | head -1)" ] ||
		fail "root left files the user does not own: $(find "$store" ! -user "$(as_user id -un)")"
	uexpect 0 "$STRATA" -q check
}

# A tar like Debian's: entries owned by other users (usr/bin/chage 0:42 mode
# 02755, etc/seven.conf and home/seven 7:8), the rest 0:0 (with a 01777
# /tmp), made by the user with GNU tar's --owner/--group; with $1, a busybox
# root file system underneath.
owned_tar() {
	local src=$UHOME/owned out=$UHOME/owned.tar
	[ -z "${1:-}" ] || { as_user cp -a "$(user_bb_rootfs)" "$src"; as_user rm -f "$src/.done"; }
	as_user sh -c "mkdir -p '$src/usr/bin' '$src/home/seven' '$src/etc' '$src/tmp' &&
		echo chage >'$src/usr/bin/chage' && chmod 2755 '$src/usr/bin/chage' &&
		echo seven >'$src/home/seven/f' && chmod 640 '$src/home/seven/f' &&
		chmod 750 '$src/home/seven' && echo seven >'$src/etc/seven.conf' &&
		chmod 640 '$src/etc/seven.conf' && chmod 1777 '$src/tmp' && cd '$src' &&
		tar --numeric-owner --owner=0 --group=0 --exclude=./usr/bin/chage \
			--exclude=./home/seven --exclude=./etc/seven.conf -cf '$out' . &&
		tar --numeric-owner --owner=0 --group=42 -rf '$out' ./usr/bin/chage &&
		tar --numeric-owner --owner=7 --group=8 -rf '$out' ./home/seven ./etc/seven.conf"
	echo "$out"
}

# The value of xattr $2 of $1 (read as root or as the user: the layers are theirs).
xattr_of() {
	command -v getfattr >/dev/null || skip "no getfattr (apt-get install attr)"
	getfattr --absolute-names --only-values -n "$2" "$1" 2>/dev/null || true
}

test_foreign_owners_of_a_tar_kept_in_override_xattr() {
	need_user
	local tar layer uid
	tar=$(owned_tar)
	assert_contains "$(tar -tvf "$tar")" "^-rwxr-sr-x 0/42 .*usr/bin/chage$"
	ust add "$tar" --tag owned >/dev/null
	layer=$(echo "$UXDG"/strata/layers/*)
	[ -d "$layer" ] || fail "expected one layer, got: $layer"
	# the files are the user's (no chown without privileges) ...
	uid=$(as_user id -u)
	assert_eq "$(stat -c %u "$layer/usr/bin/chage")" "$uid" "owner on disk"
	# ... and the archive's owners and modes are in fuse-overlayfs's xattr
	assert_eq "$(xattr_of "$layer/usr/bin/chage" user.containers.override_stat)" "0:42:02755"
	assert_eq "$(xattr_of "$layer/home/seven" user.containers.override_stat)" "7:8:0750"
	assert_eq "$(xattr_of "$layer/home/seven/f" user.containers.override_stat)" "7:8:0640"
	assert_eq "$(xattr_of "$layer/usr" user.containers.override_stat)" "0:0:0755"
	assert_eq "$(xattr_of "$layer/tmp" user.containers.override_stat)" "0:0:01777"
	uexpect 0 "$STRATA" -q verify
	assert_contains "$OUT" ": ok"
}

test_foreign_owners_shown_through_a_rootless_mount() {
	need_user
	local mnt=$UHOME/mnt out
	ust add "$(owned_tar)" --tag owned >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name o owned "$mnt"
	out=$(as_user stat -c '%n %u:%g %a' "$mnt/usr/bin/chage" "$mnt/home/seven" \
		"$mnt/etc/seven.conf" "$mnt/usr" "$mnt/tmp")
	uexpect 0 "$STRATA" -q umount "$mnt"
	assert_contains "$out" "/usr/bin/chage 0:42 2755$"
	assert_contains "$out" "/home/seven 7:8 750$"
	assert_contains "$out" "/etc/seven.conf 7:8 640$"
	assert_contains "$out" "/usr 0:0 755$"
	assert_contains "$out" "/tmp 0:0 1777$"
}

test_foreign_owners_get_the_layer_id_root_gets() {
	need_user
	[ "$(id -u)" = 0 ] || skip "needs root for the other half"
	local tar a b f
	tar=$(owned_tar)
	a=$(ust add "$tar" --tag owned)
	b=$(st add "$tar" --tag owned)
	f=$(echo "$ROOT"/layers/*/usr/bin/chage)
	assert_eq "$(stat -c '%u:%g %a' "$f")" "0:42 2755" "root chowns"
	assert_eq "$(xattr_of "$f" user.containers.override_stat)" "" "and writes no override"
	assert_eq "$a" "$b" "same tar, same layer id, rootless and as root"
	# exported by the user, the tar carries the owners again
	uexpect 0 "$STRATA" -q export -o "$UHOME/out.tar" owned
	assert_contains "$(tar -tvf "$UHOME/out.tar")" "^-rwxr-sr-x 0/42 .*usr/bin/chage$"
	assert_contains "$(tar -tvf "$UHOME/out.tar")" "^drwxr-x--- 7/8 .*home/seven/$"
}

test_emulated_owners_survive_a_rootless_commit() {
	need_user
	local mnt=$UHOME/mnt out
	ust add "$(owned_tar)" --tag owned >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name c owned "$mnt"
	# stratafs records the user's chmod in the same xattr (xattr_permissions=2)
	as_user sh -c "echo new >'$mnt/tmp/new' && chmod 4711 '$mnt/tmp/new'"
	uexpect 0 "$STRATA" -q umount "$mnt"
	ust commit c owned:2 >/dev/null
	ust rm c >/dev/null
	uexpect 0 "$STRATA" -q mount --name c2 owned:2 "$mnt"
	out=$(as_user stat -c '%n %u:%g %a' "$mnt/usr/bin/chage" "$mnt/tmp/new")
	uexpect 0 "$STRATA" -q umount "$mnt"
	assert_contains "$out" "/usr/bin/chage 0:42 2755$"
	assert_contains "$out" "/tmp/new $(as_user id -u):$(as_user id -g) 4711$"
	uexpect 0 "$STRATA" -q verify
}

# A busybox root file system as a tar: srv/mine (0:0, 0644) like the rest,
# srv/theirs (0750) and srv/theirs/file (0640) owned by 42:43.
owners_tar() {
	local src=$UHOME/owners out=$UHOME/owners.tar
	as_user cp -a "$(user_bb_rootfs)" "$src"
	as_user rm -f "$src/.done"
	as_user sh -c "mkdir -p '$src/srv/theirs' && echo mine >'$src/srv/mine' &&
		chmod 644 '$src/srv/mine' && echo theirs >'$src/srv/theirs/file' &&
		chmod 640 '$src/srv/theirs/file' && chmod 750 '$src/srv/theirs' && cd '$src' &&
		tar --numeric-owner --owner=0 --group=0 --exclude=./srv/theirs -cf '$out' . &&
		tar --numeric-owner --owner=42 --group=43 -rf '$out' ./srv/theirs"
	echo "$out"
}

STAT='stat -c "%n %u:%g %a"'

# strata run with subordinate ids: stratafs runs in the sandbox's user
# namespace (0 is the user, 1..65536 the subordinate ids), so the archive's
# owners are what the container sees, and its root reads everything.
test_rootless_run_of_foreign_owned_files() {
	need_user
	need_user_bwrap
	need_subids
	local out
	ust add "$(owned_tar bb)" --tag owned >/dev/null
	uexpect 0 "$STRATA" -q run --rm owned sh -c "$STAT /usr/bin/chage /home/seven \
		/home/seven/f /etc/seven.conf /usr /bin/busybox && cat /home/seven/f &&
		echo x >/etc/new && $STAT /etc/new"
	assert_eq "$ERR" "" "nothing on stderr"
	assert_contains "$OUT" "^/usr/bin/chage 0:42 2755$"
	assert_contains "$OUT" "^/home/seven 7:8 750$"
	assert_contains "$OUT" "^/home/seven/f 7:8 640$"
	assert_contains "$OUT" "^/etc/seven.conf 7:8 640$"
	assert_contains "$OUT" "^/usr 0:0 755$"
	assert_contains "$OUT" "^/bin/busybox 0:0 755$"
	assert_contains "$OUT" "^seven$"
	assert_contains "$OUT" "^/etc/new 0:0 644$"
}

test_rootless_run_shows_the_archive_owners() {
	need_user
	need_user_bwrap
	need_subids
	ust add "$(owners_tar)" --tag owners >/dev/null
	uexpect 0 "$STRATA" -q run --rm owners sh -c "id -u; $STAT / /srv/mine /srv/theirs /srv/theirs/file"
	assert_eq "$OUT" $'0\n/ 0:0 755\n/srv/mine 0:0 644\n/srv/theirs 42:43 750\n/srv/theirs/file 42:43 640'
}

# chown, chmod, a new user's files: shown through the mount, recorded in
# user.containers.override_stat on the user's own files, kept by a commit,
# seen again by the next run, and exported with those owners.
RUN_CHANGES='set -e
chown 7:8 /srv/mine && '$STAT' /srv/mine
chmod 4755 /srv/mine && '$STAT' /srv/mine
chown 0:0 /srv/theirs/file && '$STAT' /srv/theirs/file
echo "u:x:1000:1000::/home/u:/bin/sh" >>/etc/passwd
echo "u:x:1000:" >>/etc/group
touch /x && chown 1000:1000 /x && '$STAT' /x
mkdir /home/u && chown u:u /home/u && chmod 700 /home/u
su u -c "umask 022; echo hi >/home/u/made; mkdir /home/u/d; chown 0 /home/u/made 2>/dev/null || echo refused"
'$STAT' /home/u /home/u/made /home/u/d
mkfifo -m 600 /fifo && stat -c "%n %F %u:%g %a" /fifo
mknod /null c 1 3 2>/dev/null || echo "no device in a user namespace"'
RUN_SEEN='/srv/mine 7:8 644
/srv/mine 7:8 4755
/srv/theirs/file 0:0 640
/x 1000:1000 644
refused
/home/u 1000:1000 700
/home/u/made 1000:1000 644
/home/u/d 1000:1000 755
/fifo fifo 0:0 600
no device in a user namespace'
RUN_AGAIN='/srv/mine 7:8 4755
/srv/theirs/file 0:0 640
/x 1000:1000 644
/home/u 1000:1000 700
/home/u/made 1000:1000 644
/home/u/d 1000:1000 755
uid=1000(u) gid=1000(u) groups=1000(u)
hi'

test_rootless_run_chown_chmod_useradd_kept_by_commit() {
	need_user
	need_user_bwrap
	need_subids
	local up layer uid
	uid=$(as_user id -u)
	ust add "$(owners_tar)" --tag owners >/dev/null
	uexpect 0 "$STRATA" -q run --name c owners sh -c "$RUN_CHANGES"
	assert_eq "$OUT" "$RUN_SEEN" "seen in the run"
	assert_eq "$ERR" "" "nothing on stderr"
	# on disk: the user's files, the owners and modes in the xattr
	up=$(ust inspect --type container c | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	assert_eq "$(stat -c %u "$up/srv/mine" "$up/x" "$up/home/u/made")" "$uid"$'\n'"$uid"$'\n'"$uid" \
		"owned by the user on disk"
	assert_eq "$(xattr_of "$up/srv/mine" user.containers.override_stat)" "7:8:04755"
	assert_eq "$(xattr_of "$up/x" user.containers.override_stat)" "1000:1000:0644"
	assert_eq "$(xattr_of "$up/home/u/made" user.containers.override_stat)" "1000:1000:0644"
	ust commit c owners:2 >/dev/null
	ust rm c >/dev/null
	uexpect 0 "$STRATA" -q run --rm owners:2 sh -c "$STAT /srv/mine /srv/theirs/file /x \
		/home/u /home/u/made /home/u/d && su u -c 'id; cat /home/u/made'"
	assert_eq "$OUT" "$RUN_AGAIN" "seen in a run of the commit"
	# the committed layer, as root reads it: its xattrs, and an export
	[ "$(id -u)" = 0 ] || return 0
	layer=$(dirname "$(ls -d "$UXDG"/strata/layers/*/x)")
	assert_eq "$(xattr_of "$layer/x" user.containers.override_stat)" "1000:1000:0644"
	assert_eq "$(xattr_of "$layer/srv/mine" user.containers.override_stat)" "7:8:04755"
	"$STRATA" --root "$UXDG/strata" -q export -o "$T/c.tar" owners:2
	out=$(tar --numeric-owner -tvf "$T/c.tar")
	assert_contains "$out" "^-rwsr-xr-x 7/8 .* srv/mine$"
	assert_contains "$out" "^-rw-r----- 0/0 .* srv/theirs/file$"
	assert_contains "$out" "^-rw-r--r-- 1000/1000 .* x$"
	assert_contains "$out" "^drwx------ 1000/1000 .* home/u/$"
	assert_contains "$out" "^drwxr-x--- 42/43 .* srv/theirs/$"
	[ -z "$(find "$UXDG/strata" ! -user "$(as_user id -un)" | head -1)" ] ||
		fail "root left files the user does not own: $(find "$UXDG/strata" ! -user "$(as_user id -un)")"
}

# A chmod in a rootless run is recorded with the archive's owner; a commit
# keeps both (seen through `strata mount`, which emulates them too).
test_rootless_run_chmod_kept_by_commit() {
	need_user
	need_user_bwrap
	local mnt=$UHOME/mnt out
	ust add "$(owned_tar bb)" --tag owned >/dev/null
	uexpect 0 "$STRATA" -q run --name r owned chmod 700 /usr/bin/chage
	ust commit r owned:2 >/dev/null
	ust rm r >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name m owned:2 "$mnt"
	out=$(as_user stat -c '%n %u:%g %a' "$mnt/usr/bin/chage")
	uexpect 0 "$STRATA" -q umount "$mnt"
	assert_contains "$out" "/usr/bin/chage 0:42 700$"
}

# While it runs, the container is recorded as mounted on a mount point that
# stays empty on the host (the mount is in the run's namespace), and holds
# the container lock, so `strata check` does not take the record for a
# stale one and an rm waits; a SIGTERM ends the command, and the mount,
# stratafs, the record and the mount point go with it.
test_rootless_run_recorded_and_cleaned_up() {
	need_user
	need_user_bwrap
	need_subids
	local pidf=$UHOME/strata.pid pid rc i up mp
	ust add "$(owners_tar)" --tag owners >/dev/null
	ust create --name bg owners >/dev/null
	up=$(ust inspect --type container bg | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	as_user sh -c "echo \$\$ >'$pidf'; exec '$STRATA' -q run bg sh -c 'touch /ready; sleep 60'" \
		>"$T/bg.out" 2>"$T/bg.err" &
	local job=$!
	trap '[ ! -s "$pidf" ] || kill -TERM "$(cat "$pidf")" 2>/dev/null || true' EXIT
	for i in $(seq 100); do
		[ ! -e "$up/ready" ] || break
		sleep 0.1
	done
	[ -e "$up/ready" ] || fail "the command did not start: $(cat "$T/bg.err")"
	if command -v sqlite3 >/dev/null; then
		mp=$(sqlite3 -readonly "$UXDG/strata/strata.db" "SELECT mountpoint FROM containers")
		assert_match "$mp" "^$UHOME/tmp/strata-run\.[A-Za-z0-9]{6}$" "the recorded mount point"
		[ -d "$mp" ] && ! is_mounted "$mp" || fail "$mp: not an empty directory on the host"
	fi
	uexpect 0 "$STRATA" -q check
	assert_contains "$OUT" "consistent"
	uexpect 124 timeout 1 "$STRATA" -q rm -f bg
	pid=$(cat "$pidf")
	kill -TERM "$pid"
	set +e
	wait "$job"
	rc=$?
	set -e
	assert_eq "$rc" 143 "status after SIGTERM; stderr: $(cat "$T/bg.err")"
	assert_eq "$(cat "$T/bg.err")" "" "stderr"
	assert_contains "$(ust ps -a)" "Created .* bg$"
	uexpect 0 "$STRATA" -q check
	assert_contains "$OUT" "consistent"
	[ -z "$(ls -A "$UHOME/tmp")" ] || fail "mount points left: $(ls -A "$UHOME/tmp")"
	! ps -o args= -u "$(as_user id -u)" | grep -F "upperdir=$up," || fail "its stratafs still runs"
	assert_no_mount_under "$UHOME"
}

# A container the user mounted with `strata mount` (its stratafs outside,
# reporting host ids): run where it is, left mounted, with a note that the
# owners other than the user's show as nobody's there.
test_rootless_run_in_a_container_mounted_outside() {
	need_user
	need_user_bwrap
	local mnt=$UHOME/mnt
	ust add "$(owned_tar bb)" --tag owned >/dev/null
	as_user mkdir "$mnt"
	uexpect 0 "$STRATA" -q mount --name m owned "$mnt"
	uexpect 0 "$STRATA" -q run m sh -c "$STAT /usr/bin/chage; cat /etc/seven.conf 2>/dev/null ||
		echo unreadable; cat /etc/motd"
	assert_eq "$OUT" $'/usr/bin/chage 65534:65534 2755\nunreadable\nstrata test rootfs'
	assert_eq "$ERR" "strata: container 'm' is mounted on '$mnt' (strata mount): files not yours show as nobody's; unmount it to see the image's owners"
	is_mounted "$mnt" || fail "no longer mounted"
	uexpect 0 "$STRATA" -q umount "$mnt"
}

# A user without subordinate ids: the old way, said on stderr (files are the
# user's, root's inside; chown only to 0).  The user is made here, without a
# home or subordinate ids, and removed on the way out.
NOSUB_USER=strata-nosub
test_rootless_run_without_subids() {
	[ "$(id -u)" = 0 ] || skip "needs root to add a user"
	command -v useradd >/dev/null || skip "no useradd"
	! id -u "$NOSUB_USER" >/dev/null 2>&1 || userdel "$NOSUB_USER" 2>/dev/null || true
	useradd -M -N -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 -s /bin/sh "$NOSUB_USER" ||
		fail "cannot add user $NOSUB_USER"
	trap 'userdel "$NOSUB_USER" 2>/dev/null || true' EXIT
	! grep -q "^$NOSUB_USER:" /etc/subuid || fail "useradd gave $NOSUB_USER subordinate ids"
	TEST_USER=$NOSUB_USER
	need_user
	need_user_bwrap
	ust add "$(owned_tar bb)" --tag owned >/dev/null
	uexpect 0 "$STRATA" -q run --rm owned sh -c "$STAT /usr/bin/chage /home/seven/f &&
		cat /home/seven/f && { chown 7:8 /etc/motd 2>/dev/null || echo refused; }"
	assert_eq "$ERR" "strata: no subordinate ids for $NOSUB_USER in /etc/subuid: files show as root's, chown is limited"
	assert_eq "$OUT" $'/usr/bin/chage 0:0 2755\n/home/seven/f 0:0 640\nseven\nrefused'
	assert_no_mount_under "$UHOME"
}

# newuidmap refusing the map (a failing stand-in first in $PATH): the same
# way as without subordinate ids, and said so.
test_rootless_run_when_the_map_is_refused() {
	need_user
	need_user_bwrap
	need_subids
	mkdir -p "$T/fake"
	printf '#!/bin/sh\necho "newuidmap: refused (test stand-in)" >&2\nexit 1\n' >"$T/fake/newuidmap"
	chmod 755 "$T/fake" "$T/fake/newuidmap"
	ust add "$(owned_tar bb)" --tag owned >/dev/null
	PATH=$T/fake:$PATH uexpect 0 "$STRATA" -q run --rm owned sh -c "$STAT /usr/bin/chage"
	assert_eq "$ERR" "newuidmap: refused (test stand-in)
strata: cannot make a user namespace with the subordinate ids: Operation not permitted: files show as root's, chown is limited"
	assert_eq "$OUT" "/usr/bin/chage 0:0 2755"
	assert_eq "$(ust ps -aq | wc -l)" 0 "--rm: no container left"
	uexpect 0 "$STRATA" -q check
	assert_contains "$OUT" "consistent"
	[ -z "$(ls -A "$UHOME/tmp")" ] || fail "mount points left: $(ls -A "$UHOME/tmp")"
	assert_no_mount_under "$UHOME"
}

test_errors_as_user() {
	need_user
	uexpect 1 "$STRATA" -q mount no-such-image "$UHOME"
	assert_contains "$ERR" "^strata: "
	uexpect 1 "$STRATA" -q --root /var/lib/strata-nope images
	uexpect 2 "$STRATA" -q mount
}

run_tests
