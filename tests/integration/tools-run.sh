#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# tools-run.sh - `strata run`: a busybox image run in bubblewrap (and with
# --chroot as root): exit statuses, /proc /dev /tmp and the host name,
# changes to files landing in the container, volumes, env, workdir, --rm,
# signals, commit and a second run on the committed image; then the same as
# an unprivileged user (in a user namespace over the subordinate ids, where
# chown works; bubblewrap mapping the user alone to 0 without them).
. "$(dirname "$0")/tools-lib.sh"
. "$(dirname "$0")/tools-rootless-lib.sh"

# Every test's runs mount under $T/tmp, so a leftover mount is found (and
# cleaned) by the harness.
export TMPDIR

add_bb() {
	need_mount
	need_bwrap
	TMPDIR=$T/tmp
	mkdir -p "$TMPDIR"
	st add "$(bb_rootfs_dir)" --tag bb -m "busybox" >/dev/null
}

upper_of() { st inspect --type container "$1" | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p'; }

no_run_left() {
	assert_no_mount_under "$TMPDIR"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "mount points left in $TMPDIR: $(ls -A "$TMPDIR")"
	assert_not_contains "$(st ps)" "Mounted" "a container is still recorded mounted"
}

test_exit_status_and_output() {
	add_bb
	expect_status 0 st run --rm bb echo hello
	assert_eq "$OUT" hello
	expect_status 7 st run --rm bb sh -c 'echo out; echo err >&2; exit 7'
	assert_eq "$OUT" out
	assert_contains "$ERR" err
	expect_status 137 st run --rm bb sh -c 'kill -9 $$'
	expect_status 0 st run --rm bb /bin/true
	no_run_left
}

test_not_found_127_not_executable_126() {
	add_bb
	expect_status 127 st run --rm bb no-such-command
	assert_contains "$ERR" "no-such-command"
	expect_status 127 st run --rm bb /no/such/path
	expect_status 126 st run --rm bb /etc/motd
	expect_status 126 st run --rm bb /etc
	expect_status 125 st run --rm no-such-image true
	mkdir "$T/vol"
	expect_status 125 st run --rm -v "$T/vol:/proc/sys/nope" bb true
	assert_contains "$ERR" "bubblewrap could not set up the sandbox"
	expect_status 2 st run
	no_run_left
}

test_proc_dev_tmp_hostname() {
	add_bb
	local cid out
	cid=$(st create --name box bb)
	expect_status 0 st run box sh -c '
		hostname; [ $$ -le 2 ] && echo pidns; [ -r /proc/self/status ] && echo proc
		echo x >/dev/null && [ -c /dev/null ] && echo devnull
		[ "$(ls /proc/self/fd | wc -l)" -le 4 ] && echo nofdleak
		grep -q " /tmp tmpfs" /proc/mounts && echo tmptmpfs
		touch /tmp/scratch && echo tmpok; id -u'
	out=$OUT
	assert_contains "$out" "^${cid:7:12}$" "host name is the short id"
	assert_contains "$out" "^pidns$" "own pid namespace"
	assert_contains "$out" "^proc$"
	assert_contains "$out" "^devnull$"
	assert_contains "$out" "^nofdleak$" "only stdin, stdout, stderr (and ls's own fd)"
	assert_contains "$out" "^tmptmpfs$"
	assert_contains "$out" "^0$"
	# /tmp was a tmpfs: nothing of it reaches the container
	[ ! -e "$(upper_of box)/tmp/scratch" ] || fail "/tmp/scratch in the upper"
	expect_status 0 st run --hostname sandy box hostname
	assert_eq "$OUT" sandy
	no_run_left
}

test_file_changes_land_in_container() {
	add_bb
	local up out
	st create --name c1 bb >/dev/null
	expect_status 0 st run c1 sh -c '
		set -e
		mkdir -p /srv/data && echo payload >/srv/data/file
		chown 1000:100 /srv/data/file
		chmod 640 /srv/data/file
		echo suid >/srv/tool && chmod 4755 /srv/tool
		rm /bin/vi /etc/motd
		ln -s data/file /srv/link'
	up=$(upper_of c1)
	assert_eq "$(cat "$up/srv/data/file")" payload
	assert_eq "$(stat -c %u:%g:%a "$up/srv/data/file")" 1000:100:640 "owner and mode on disk"
	assert_eq "$(stat -c %a "$up/srv/tool")" 4755
	out=$(st diff c1)
	assert_contains "$out" "^A /srv/data/file$"
	assert_contains "$out" "^D /bin/vi$"
	assert_contains "$out" "^D /etc/motd$"
	assert_contains "$out" "^A /srv/link$"
	assert_not_contains "$out" " /proc$" "mount points are not changes"
	assert_not_contains "$out" " /dev$"
	# the next run of the container sees them
	expect_status 0 st run c1 sh -c 'stat -c "%u:%g:%a" /srv/data/file; cat /srv/link;
		ls /bin/vi /etc/motd 2>&1 | grep -c "No such"'
	assert_eq "$OUT" $'1000:100:640\npayload\n2'
	no_run_left
}

test_volumes_env_workdir() {
	add_bb
	mkdir -p "$T/vol" "$T/rovol"
	echo from-host >"$T/rovol/in"
	export HOSTVAR=inherited
	expect_status 0 st run --rm -v "$T/vol:/mnt/vol" -v "$T/rovol:/mnt/ro:ro" \
		-e FOO=bar -e HOSTVAR -e PATH=/bin -w /work/here bb sh -c '
		echo written >/mnt/vol/out; cat /mnt/ro/in
		echo nope >/mnt/ro/x 2>/dev/null && echo ro-broken
		echo "$FOO $HOSTVAR $PATH $HOME"; pwd'
	assert_eq "$OUT" $'from-host\nbar inherited /bin /root\n/work/here'
	assert_eq "$(cat "$T/vol/out")" written "write through the volume"
	[ ! -e "$T/rovol/x" ] || fail "wrote through a read-only volume"
	expect_status 2 st run -v relative:/x bb true
	expect_status 2 st run -v "$T/vol:relative" bb true
	expect_status 2 st run -w relative bb true
	no_run_left
}

test_rm_name_and_kept_container() {
	add_bb
	local out
	expect_status 0 st run --name keep bb touch /kept
	out=$(st ps -a)
	assert_contains "$out" " keep$" "container kept without --rm"
	assert_contains "$out" "Created" "and not mounted"
	expect_status 0 st run --rm --name gone bb true
	assert_not_contains "$(st ps -a)" " gone$" "--rm removed it"
	# --rm on an existing container removes it too
	expect_status 0 st run --rm keep ls /kept
	assert_not_contains "$(st ps -a)" " keep$"
	expect_status 0 st run --name dup bb true
	expect_status 125 st run --name dup bb true
	assert_contains "$ERR" "dup"
	no_run_left
}

test_commit_then_run_committed_image() {
	add_bb
	local n0 n1
	expect_status 0 st run --name work bb sh -c '
		echo v2 >/etc/version; mkdir /opt/app -p; echo app >/opt/app/run
		chmod 755 /opt/app/run; chown 123:456 /opt/app/run; rm -r /var/log'
	n0=$(st history bb | tail -n +2 | wc -l)
	st commit -m "app" work app:1 >/dev/null
	n1=$(st history app:1 | tail -n +2 | wc -l)
	assert_eq "$n1" "$((n0 + 1))" "one layer more"
	st rm work >/dev/null
	expect_status 0 st run --rm app:1 sh -c 'cat /etc/version;
		stat -c "%u:%g:%a" /opt/app/run; [ -e /var/log ] || echo nolog'
	assert_eq "$OUT" $'v2\n123:456:755\nnolog'
	# the base image is untouched
	expect_status 0 st run --rm bb sh -c 'cat /etc/version 2>/dev/null; ls -d /var/log'
	assert_eq "$OUT" /var/log
	no_run_left
}

test_signal_unmounts() {
	add_bb
	local pid rc
	"$STRATA" --root "$ROOT" -q run --name sig bb sleep 60 &
	pid=$!
	for _ in $(seq 100); do
		grep -q "$TMPDIR/strata-run" /proc/self/mountinfo && break
		sleep 0.1
	done
	grep -q "$TMPDIR/strata-run" /proc/self/mountinfo || fail "never mounted"
	sleep 0.3
	kill -TERM "$pid"
	set +e
	wait "$pid"
	rc=$?
	set -e
	assert_eq "$rc" 143 "status of a command ended by SIGTERM"
	no_run_left
	assert_contains "$(st ps -a)" " sig$"
}

test_runs_in_an_already_mounted_container() {
	add_bb
	mkdir "$T/mnt"
	st mount --name m bb "$T/mnt" >/dev/null
	expect_status 0 st run m sh -c 'echo inside >/note'
	assert_eq "$(cat "$T/mnt/note")" inside "the run used the existing mount"
	mountpoint -q "$T/mnt" || fail "the existing mount was unmounted"
	st umount "$T/mnt"
}

# An OCI layout of the busybox root file system whose config sets Env,
# Entrypoint, Cmd and WorkingDir.
bb_layout() {
	local py
	py=$(command -v python3) || skip "python3 is not installed"
	tar -C "$(bb_rootfs_dir)" --numeric-owner -cf "$T/bb.tar" .
	"$py" - "$T/layout" "$T/bb.tar" "${BB_USER:-}" <<'PY'
import hashlib, json, os, sys
out, tar, user = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out + "/blobs/sha256", exist_ok=True)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
raw = open(tar, "rb").read()
ld, ln = blob(raw)
cfg = {"architecture": "amd64", "os": "linux",
       "config": {"Env": ["PATH=/bin", "GREETING=hello"], "Entrypoint": ["/bin/sh", "-c"],
                  "Cmd": ["echo $GREETING from $(pwd)"], "WorkingDir": "/srv"},
       "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}}
if user:
    cfg["config"]["User"] = user
cd, cn = blob(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ln}]}
md, mn = blob(json.dumps(man).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": mn}]}, open(out + "/index.json", "w"))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
}

test_image_config_env_entrypoint_cmd_workdir() {
	add_bb
	st import --help >/dev/null 2>&1 || skip "no strata import (OCI) in this build"
	bb_layout
	st import "oci:$T/layout" cfg:1 >/dev/null
	expect_status 0 st run --rm cfg:1
	assert_eq "$OUT" "hello from /srv" "Entrypoint + Cmd, Env and WorkingDir of the image"
	# arguments replace Cmd, not Entrypoint; -e and -w override
	expect_status 0 st run --rm -e GREETING=bye -w /tmp cfg:1 'echo $GREETING $PATH; pwd'
	assert_eq "$OUT" $'bye /bin\n/tmp'
	# a committed image keeps its parent's config
	expect_status 0 st run --name c cfg:1 'echo changed >/srv/file'
	st commit c cfg:2 >/dev/null
	expect_status 0 st run --rm cfg:2 'cat file; echo $GREETING'
	assert_eq "$OUT" $'changed\nhello'
	no_run_left
}

# --user and the image's "User": names from the image's passwd and group
# files, the primary group and those listing the user, its HOME; root as
# the default; a user the image does not have is refused (125).
test_user_option_and_image_user() {
	add_bb
	st run --name u bb sh -c 'echo "alice:x:1000:1000::/home/alice:/bin/sh" >>/etc/passwd
		echo "alice:x:1000:" >>/etc/group; echo "staff:x:50:bob,alice" >>/etc/group
		mkdir -p /home/alice && chown 1000:1000 /home/alice' >/dev/null
	st commit u bbu >/dev/null
	local ids='id -u; id -g; id -G | tr " " "\n" | sort -n | tr "\n" " "; echo; echo $HOME'
	expect_status 0 st run --rm -u alice bbu sh -c "$ids; touch /home/alice/f && stat -c %u:%g /home/alice/f
		touch /etc/x 2>/dev/null || echo denied"
	assert_eq "$OUT" $'1000\n1000\n50 1000 \n/home/alice\n1000:1000\ndenied'
	expect_status 0 st run --rm --user 1234:staff bbu sh -c "$ids"
	assert_eq "$OUT" $'1234\n50\n50 \n/root'
	expect_status 0 st run --rm -u root bbu sh -c 'id -u; touch /etc/x && echo root-writes'
	assert_eq "$OUT" $'0\nroot-writes'
	expect_status 125 st run --rm -u mallory bbu true
	assert_contains "$ERR" "unable to find user mallory"
	expect_status 125 st run --rm -u alice:nogroup bbu true
	assert_contains "$ERR" "unable to find group nogroup"
	if [ "$(id -u)" = 0 ]; then
		expect_status 0 st run --rm --chroot -u alice bbu sh -c "$ids"
		assert_eq "$OUT" $'1000\n1000\n50 1000 \n/home/alice'
	fi
	# an image's "User" is the default, and --user overrides it
	if st import --help >/dev/null 2>&1; then
		BB_USER=4321:4321 bb_layout
		st import "oci:$T/layout" cfg:user >/dev/null
		expect_status 0 st run --rm cfg:user 'id -u; id -g'
		assert_eq "$OUT" $'4321\n4321'
		expect_status 0 st run --rm -u 0 cfg:user 'id -u'
		assert_eq "$OUT" 0
	fi
	no_run_left
}

# The host's /etc/resolv.conf and /etc/hosts, read-only over the image's own
# (the sandbox shares the host's network), also where the image has none;
# its mount point then leaves nothing in the container's changes.
test_name_service_files_of_the_host() {
	add_bb
	[ -r /etc/resolv.conf ] || skip "the host has no /etc/resolv.conf"
	expect_status 0 st run --name n bb sh -c 'cat /etc/resolv.conf'
	assert_eq "$OUT" "$(cat /etc/resolv.conf)" "resolv.conf inside an image without one"
	assert_not_contains "$(st diff n)" "resolv.conf" "a resolv.conf was added to the container"
	assert_not_contains "$(st diff n)" "hosts" "a hosts file was added to the container"
	mkdir -p "$T/own/etc"
	echo "nameserver 192.0.2.1" >"$T/own/etc/resolv.conf"
	st add "$T/own" -p bb --tag bbr >/dev/null
	expect_status 0 st run --rm bbr sh -c 'cat /etc/resolv.conf'
	assert_eq "$OUT" "$(cat /etc/resolv.conf)" "resolv.conf inside"
	expect_status 1 st run --rm bbr sh -c 'echo x >>/etc/resolv.conf'
	echo "nameserver 192.0.2.2" >"$T/res"
	expect_status 0 st run --rm -v "$T/res:/etc/resolv.conf:ro" bbr sh -c 'cat /etc/resolv.conf'
	assert_eq "$OUT" "nameserver 192.0.2.2" "a volume replaces it"
	no_run_left
}

# An image without /proc, /dev, /tmp or /etc: the mount points the sandbox
# makes for them go again after the run, unless the command used them.
test_mount_points_leave_no_trace() {
	add_bb
	local d=$T/bare mode
	mkdir -p "$d/bin"
	cp "$(bb_rootfs_dir)/bin/busybox" "$d/bin/" && ln -s busybox "$d/bin/sh"
	st add "$d" --tag bare >/dev/null
	for mode in "" --chroot; do
		[ -z "$mode" ] || [ "$(id -u)" = 0 ] || continue
		expect_status 0 st run $mode --name "bare$mode" bare /bin/busybox sh -c \
			'[ -r /proc/self/status ] && [ -c /dev/null ] && touch /tmp/x && echo ok'
		assert_eq "$OUT" ok "the sandbox in a bare image ($mode)"
		assert_eq "" "$(st diff "bare$mode")" "changes left by the sandbox's mount points ($mode)"
		expect_status 0 st run $mode "bare$mode" /bin/busybox mkdir -p /etc/kept
		assert_contains "$(st diff "bare$mode")" "^A /etc/kept$" "a directory the command made"
	done
	no_run_left
}

test_symlinks_in_the_image_stay_inside() {
	add_bb
	local d=$T/esc tag=strata-escape-$$-$RANDOM
	mkdir -p "$d/bin" "$d/etc"
	cp "$(bb_rootfs_dir)/bin/busybox" "$d/bin/" && ln -s busybox "$d/bin/sh"
	ln -s /etc "$d/abs"
	ln -s ../../../../../etc "$d/rel"
	st add "$d" --tag esc >/dev/null
	expect_status 0 st run --rm -w "/abs/$tag" esc sh -c pwd
	assert_eq "$OUT" "/abs/$tag"
	expect_status 0 st run --rm -w "/rel/$tag" esc sh -c 'ls /etc'
	assert_contains "$OUT" "^$tag\$" "the working directory was made in the container's /etc"
	expect_status 127 st run --rm esc /abs/hostname
	if [ "$(id -u)" = 0 ]; then
		expect_status 0 st run --rm --chroot -v "$T:/abs/$tag" esc sh -c "ls /etc/$tag >/dev/null"
	fi
	[ ! -e "/etc/$tag" ] || { rm -rf "/etc/$tag"; fail "created /etc/$tag on the host"; }
	no_run_left
}

test_chroot_as_root() {
	[ "$(id -u)" = 0 ] || skip "--chroot needs root"
	add_bb
	local cid
	mkdir -p "$T/vol"
	echo ro >"$T/rofile"
	cid=$(st create --name ch bb)
	expect_status 5 st run --chroot -v "$T/vol:/v" -v "$T/rofile:/etc/ro:ro" -e A=b -w /w ch sh -c '
		hostname; echo pid=$$ $A; pwd; [ -c /dev/null ] && echo devnull
		[ "$(ls /proc/self/fd | wc -l)" -le 4 ] && echo nofdleak
		grep -q " /tmp tmpfs" /proc/mounts && echo tmptmpfs
		echo vol >/v/f; cat /etc/ro; echo x 2>/dev/null >/etc/ro || echo ro-refused
		echo kept >/kept; chown 7:8 /kept; exit 5'
	assert_eq "$OUT" "${cid:7:12}"$'\npid=1 b\n/w\ndevnull\nnofdleak\ntmptmpfs\nro\nro-refused'
	assert_eq "$(cat "$T/vol/f")" vol
	assert_eq "$(stat -c %u:%g "$(upper_of ch)/kept")" 7:8
	expect_status 127 st run --chroot ch nothere
	expect_status 126 st run --chroot ch /etc/motd
	# the namespace's mounts died with it
	assert_not_contains "$(awk '{print $5}' /proc/self/mountinfo)" "/etc/ro"
	no_run_left
}

# ---- the same, unprivileged ------------------------------------------------------

test_rootless_run_commit_rerun() {
	need_user
	need_user_bwrap
	local out up chowned=1000:1000
	# without subordinate ids, the user alone is mapped (to 0)
	has_subids || chowned=refused
	TMPDIR=$UHOME/tmp
	ust add "$(user_bb_rootfs)" --tag bb >/dev/null
	mkdir -p "$T/vol" && chmod 777 "$T/vol"
	set +e
	out=$(ust run --name rl -v "$T/vol:/vol" -e FOO=bar -w /work bb sh -c '
		id -u; echo "$FOO"; pwd; hostname >/dev/null
		echo payload >/root/file; chown 0:0 /root/file; chmod 4750 /root/file
		stat -c "%u:%g:%a" /root/file
		echo u >/root/ufile
		chown 1000:1000 /root/ufile 2>/dev/null && stat -c %u:%g /root/ufile || echo refused
		rm /bin/vi; echo v >/vol/out; exit 9' 2>"$T/err")
	local rc=$?
	set -e
	assert_eq "$rc" 9 "exit status, rootless; stderr: $(cat "$T/err")"
	assert_eq "$out" $'0\nbar\n/work\n0:0:4750\n'"$chowned"
	[ -f "$T/vol/out" ] || fail "volume write"
	up=$(ust inspect --type container rl | sed -n 's/.*"UpperDir": "\(.*\)".*/\1/p')
	assert_eq "$(stat -c %U "$up/root/file")" "$(as_user id -un)" "owned by the user on disk"
	out=$(ust diff rl)
	assert_contains "$out" "^A /root/file$"
	assert_contains "$out" "^D /bin/vi$"
	ust commit rl bb2 >/dev/null
	out=$(ust run --rm bb2 sh -c 'cat /root/file; stat -c %a /root/file; ls /bin/vi 2>/dev/null || echo novi
		stat -c %u:%g /root/ufile')
	[ "$chowned" != refused ] || chowned=0:0
	assert_eq "$out" $'payload\n4750\nnovi\n'"$chowned"
	assert_no_mount_under "$UHOME"
	[ -z "$(ls -A "$UHOME/tmp")" ] || fail "mount points left: $(ls -A "$UHOME/tmp")"
	ust rm rl >/dev/null
	ust check >/dev/null
}

# --user rootless: through strata-setuser in the subordinate-id namespace,
# or bubblewrap's own --uid when the user alone is mapped
test_rootless_user_option() {
	need_user
	need_user_bwrap
	TMPDIR=$UHOME/tmp
	ust add "$(user_bb_rootfs)" --tag bb >/dev/null
	ust run --name u bb sh -c 'echo "alice:x:1000:1000::/home/alice:/bin/sh" >>/etc/passwd
		mkdir -p /home/alice && chown 1000:1000 /home/alice 2>/dev/null; true' >/dev/null
	ust commit u bbu >/dev/null
	local out
	out=$(ust run --rm -u alice bbu sh -c 'id -u; id -g; echo $HOME; touch /tmp/f && stat -c %u /tmp/f')
	assert_eq "$out" $'1000\n1000\n/home/alice\n1000'
	assert_no_mount_under "$UHOME"
}

test_rootless_exit_codes_and_rm() {
	need_user
	need_user_bwrap
	ust add "$(user_bb_rootfs)" --tag bb >/dev/null
	set +e
	ust run --rm bb sh -c 'exit 3'
	assert_eq "$?" 3
	ust run --rm bb nothere 2>/dev/null
	assert_eq "$?" 127
	ust run --rm bb /etc/motd 2>/dev/null
	assert_eq "$?" 126
	ust run --chroot bb true 2>/dev/null
	assert_eq "$?" 125 "--chroot refused unprivileged"
	set -e
	assert_eq "$(ust ps -aq | wc -l)" 0 "no container left"
	assert_no_mount_under "$UHOME"
}

run_tests
