#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# podman with stratafs as overlay.mount_program (DESIGN.md contract 1, issue 5
# "Container engines"), as root and rootless (user $TEST_USER).
#
# Everything podman keeps lives in a private temp dir: its own graphroot and
# runroot, containers.conf (runc, cgroupfs, file events logger, no network)
# and storage.conf (overlay driver, mount_program = stratafs), passed through
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, so the machine's podman state is
# not touched.  The base image is imported from a busybox-static root file
# system (no registry); the image built by the build test is reused by the
# tests after it.
#
# Output is TAP: one line per test_* function (each run in a subshell, in file
# order), then the plan.  Arguments select tests by (sub)name.
#
# Environment:
#   STRATAFS          daemon (default /work/main/build/unionfs/stratafs); it
#                     is copied into the private dir so a rebuild during the
#                     run does not change it under podman.
#                     STRATAFS=/usr/bin/fuse-overlayfs runs the same tests on
#                     fuse-overlayfs, to compare
#   TEST_USER         unprivileged user for the rootless tests (stratatest)
#   SFS_DEBUG=1       podman runs stratafs through podman-sfs-debug.sh, which
#                     records each call (and the mounts the lowers are on) in
#                     PRIVATE/MODE/sfslog/calls.log and keeps a -d log of every
#                     mount next to it (use with KEEP=1)
#   KEEP=1            keep the private dir (logs, storage) for inspection;
#                     containers are still removed and everything unmounted
#   VERBOSE=1         print the output of passing tests too
#   PODMAN_TIMEOUT    seconds per podman command (default 120)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STRATAFS=${STRATAFS:-/work/main/build/unionfs/stratafs}
TEST_USER=${TEST_USER:-stratatest}
PODMAN_TIMEOUT=${PODMAN_TIMEOUT:-120}
IMG_BASE=localhost/strata-bb:latest
IMG_BUILT=localhost/strata-built:latest
IMG_COMMITTED=localhost/strata-committed:latest
IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1
# the file system type of the mounts (libfuse names it after the program,
# which is always copied as stratafs: STRATAFS=fuse-overlayfs compares)
FSTYPE=fuse.stratafs

# ------------------------------------------------------------------ harness

P= # private dir
ROOT_OK=0 USER_OK=0 ROOT_WHY="" USER_WHY=""

skip() {
        printf '%s\n' "$*" >"$P/.skip"
        exit 77
}
fail() {
        echo "FAIL: $*" >&2
        exit 1
}
assert_eq() { # EXPECTED ACTUAL WHAT
        [[ "$1" == "$2" ]] || fail "${3:-value}: expected [$1], got [$2]"
}

# ------------------------------------------------------------ podman access

# _env MODE: environment of a podman command for MODE (root|user)
_env() {
        local d=$P/$1
        printf '%s\n' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                HOME="$d/home" XDG_RUNTIME_DIR="$d/xdg" XDG_CONFIG_HOME="$d/home/.config" \
                XDG_DATA_HOME="$d/home/.local/share" CONTAINERS_CONF="$d/containers.conf" \
                CONTAINERS_STORAGE_CONF="$d/storage.conf" TMPDIR="$d/tmp" LC_ALL=C \
                SFS_DEBUG_DIR="$d/sfslog"
}

# as MODE CMD...: run CMD with MODE's podman environment (as TEST_USER for user)
as() {
        local mode=$1
        shift
        local e
        mapfile -t e < <(_env "$mode")
        if [[ $mode != root ]] && ((IS_ROOT)); then
                runuser -u "$TEST_USER" -- env -i "${e[@]}" "$@"
        else
                env -i "${e[@]}" "$@"
        fi
}

# pm MODE ARGS...: podman, with a timeout; the command line goes to stderr
pm() {
        local mode=$1
        shift
        echo "+ [$mode] podman $*" >&2
        as "$mode" timeout -k 5 "$PODMAN_TIMEOUT" podman "$@"
}

# pm_ok MODE ARGS...: podman that must succeed; its stdout is printed
pm_ok() {
        local out rc=0
        out=$(pm "$@" 2>"$P/.pm.err") || rc=$?
        cat "$P/.pm.err" >&2
        if ((rc != 0)); then
                printf '%s\n' "$out" >&2
                fail "podman ${*:2} exited with status $rc"
        fi
        printf '%s\n' "$out"
}

# need MODE: end the test as SKIP when MODE's podman is not set up
need() {
        if [[ $1 == root ]]; then
                ((ROOT_OK)) || skip "$ROOT_WHY"
        else
                ((USER_OK)) || skip "$USER_WHY"
        fi
}

# the graph root of MODE
graph() { echo "$P/$1/graph"; }

# stratafs mounts visible to MODE's podman (rootless: in its mount namespace)
sfs_mounts() {
        if [[ $1 == root ]]; then
                grep -F " $FSTYPE " /proc/mounts || true
        else
                pm "$1" unshare cat /proc/self/mounts 2>/dev/null | grep -F " $FSTYPE " || true
        fi
}

# stratafs daemons that serve MODE's graph root
sfs_procs() {
        pgrep -a -f "^$P/bin/stratafs .*$(graph "$1")/overlay" || true
}

# the mounts and daemons a finished command must not leave behind
assert_no_leftovers() { # MODE WHAT
        local m p i
        for ((i = 0; i < 50; i++)); do
                m=$(sfs_mounts "$1" | grep -F "$(graph "$1")" || true)
                p=$(sfs_procs "$1")
                [[ -z $m && -z $p ]] && return 0
                sleep 0.2
        done
        [[ -z $m ]] || fail "$2: stratafs mounts left behind: $m"
        fail "$2: stratafs daemons left running: $p"
}

# ------------------------------------------------------------------- setup

_mk_rootfs() { # DIR
        local r=$1 c
        mkdir -p "$r"/{bin,etc,srv/dir,tmp,root}
        cp "$BUSYBOX" "$r/bin/busybox"
        for c in sh ls cat echo mkdir rm chmod chown touch id stat sed sleep ln mv grep find wc head cut tr test true false mknod mkfifo dd; do
                ln -s busybox "$r/bin/$c"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
        printf 'root:x:0:\n' >"$r/etc/group"
        printf 'lower\n' >"$r/srv/lower.txt"
        printf 'mode\n' >"$r/srv/mode.txt"
        chmod 0644 "$r/srv/mode.txt"
        printf 'a\n' >"$r/srv/dir/a"
        printf 'b\n' >"$r/srv/dir/b"
        printf 'keep\n' >"$r/srv/keep.txt"
        chmod 1777 "$r/tmp"
}

_write_conf() { # MODE
        local d=$P/$1 nofile nproc
        nofile=$(ulimit -Hn)
        [[ $nofile == unlimited ]] && nofile=1048576
        nproc=$(ulimit -Hu)
        # podman lowers its own RLIMIT_NPROC to 32768 before starting runc, and
        # runc cannot raise it back without CAP_SYS_RESOURCE
        [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
        mkdir -p "$d"/{graph,run,tmp,home,xdg,sfslog}
        cat >"$d/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
        local prog=$P/bin/stratafs
        ((${SFS_DEBUG:-0})) && prog=$P/bin/stratafs-debug
        cat >"$d/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$d/graph"
rootless_storage_path = "$d/graph"
runroot = "$d/run"
[storage.options.overlay]
mount_program = "$prog"
EOF
        # userfm: containers/storage keeps modes and owners in the
        # user.containers.override_stat xattr and asks for xattr_permissions=2
        [[ $1 == userfm ]] && echo 'force_mask = "shared"' >>"$d/storage.conf"
        chmod 0644 "$d/containers.conf" "$d/storage.conf"
        chmod 0700 "$d/xdg"
        chmod 0777 "$d/sfslog"
        if [[ $1 != root ]] && ((IS_ROOT)); then
                chown -R "$TEST_USER:" "$d"
        fi
}

_install() {
        ((IS_ROOT)) || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$P/apt.log" 2>&1 && return 0
        apt-get update -q >>"$P/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$P/apt.log" 2>&1
}

_setup_mode() { # MODE: import the base image; sets <MODE>_OK or <MODE>_WHY
        local mode=$1 out
        _write_conf "$mode"
        if ! out=$(tar --numeric-owner --owner=0 --group=0 -C "$P/rootfs" -c . | as "$mode" timeout 120 podman import - "$IMG_BASE" 2>&1); then
                echo "# [$mode] podman import failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
                return 1
        fi
        # the image's layer, to check later that no container changed it
        BASE_DIFF[$mode]=$(as "$mode" podman image inspect --format '{{.GraphDriver.Data.UpperDir}}' "$IMG_BASE" 2>/dev/null)
        _manifest "${BASE_DIFF[$mode]}" >"$P/$mode/base.manifest"
        return 0
}

_manifest() { # DIR: every entry with type, mode, owner, size, content digest
        (cd "$1" && find . -printf '%p %y %m %U:%G %s %l\n' | LC_ALL=C sort) || echo "cannot read $1"
        (cd "$1" && find . -type f -exec md5sum {} + | LC_ALL=C sort) 2>/dev/null
}

declare -A BASE_DIFF=()

setup() {
        P=$(mktemp -d "${TMPDIR:-/tmp}/strata-podman.XXXXXX") || exit 1
        chmod 0755 "$P"
        trap cleanup EXIT
        trap 'exit 130' INT TERM

        if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
                _install podman runc uidmap || {
                        echo "1..0 # SKIP podman/runc not installed and cannot be installed (see apt log)"
                        exit 0
                }
        fi
        BUSYBOX=/bin/busybox
        if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
                _install busybox-static file || true
        fi
        file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || {
                echo "1..0 # SKIP no static busybox (busybox-static) for the base image"
                exit 0
        }
        [[ -x $STRATAFS ]] || {
                echo "Bail out! STRATAFS=$STRATAFS is not an executable"
                exit 1
        }
        mkdir -p "$P/bin"
        cp "$STRATAFS" "$P/bin/stratafs"
        cp "$HERE/podman-sfs-debug.sh" "$P/bin/stratafs-debug" 2>/dev/null
        chmod 0755 "$P/bin"/*
        _mk_rootfs "$P/rootfs"
        echo "# podman $(podman --version | awk '{print $3}'), $(runc --version | head -n 1), stratafs $("$P/bin/stratafs" --version 2>&1 | head -n 1 | awk '{print $NF}'), private dir $P"

        if ((IS_ROOT)); then
                if _setup_mode root; then ROOT_OK=1; else ROOT_WHY="podman as root could not import the base image"; fi
        else
                ROOT_WHY="needs root"
        fi

        # rootless
        local u=$TEST_USER
        if ((IS_ROOT)); then
                if ! id "$u" >/dev/null 2>&1; then
                        useradd -m "$u" >/dev/null 2>&1 || true
                fi
                if id "$u" >/dev/null 2>&1; then
                        [[ $(stat -c %a /dev/fuse 2>/dev/null) == 666 ]] || chmod 0666 /dev/fuse
                        command -v newuidmap >/dev/null || _install uidmap || true
                        grep -q "^$u:" /etc/subuid 2>/dev/null || echo "$u:200000:65536" >>/etc/subuid
                        grep -q "^$u:" /etc/subgid 2>/dev/null || echo "$u:200000:65536" >>/etc/subgid
                fi
        else
                u=$(id -un)
        fi
        if ! id "$u" >/dev/null 2>&1; then
                USER_WHY="no user $u"
        elif ! command -v newuidmap >/dev/null; then
                USER_WHY="no newuidmap (uidmap package)"
        elif ! grep -q "^$u:" /etc/subuid || ! grep -q "^$u:" /etc/subgid; then
                USER_WHY="no /etc/subuid or /etc/subgid entry for $u"
        elif [[ $(stat -c %a /dev/fuse 2>/dev/null) != 666 ]]; then
                USER_WHY="/dev/fuse is not 0666"
        elif _setup_mode user; then
                USER_OK=1
        else
                USER_WHY="rootless podman could not import the base image"
        fi
}

cleanup() {
        local rc=$? mode m pid
        set +e
        trap - EXIT
        [[ -n $P && -d $P ]] || exit $rc
        for mode in root user userfm; do
                [[ -f $P/$mode/storage.conf ]] || continue
                # containers first (this unmounts them), then image mounts
                as "$mode" timeout 60 podman rm -a -f -t 0 >/dev/null 2>&1
                if [[ $mode == root ]]; then
                        as "$mode" timeout 60 podman image unmount -a -f >/dev/null 2>&1
                else
                        as "$mode" timeout 60 podman unshare podman image unmount -a -f >/dev/null 2>&1
                fi
                # files of other ids in a rootless store: only its namespace can remove them
                if [[ $mode != root ]] && ((!IS_ROOT)); then
                        as "$mode" timeout 60 podman unshare rm -rf "$P/$mode/graph" "$P/$mode/run" >/dev/null 2>&1
                fi
                # the rootless pause process holds podman's namespaces
                pid=$(cat "$P/$mode/xdg/libpod/tmp/pause.pid" 2>/dev/null)
                [[ -n $pid ]] && kill "$pid" 2>/dev/null
        done
        # daemons serving our graph roots (only ours: they run from $P/bin)
        for pid in $(pgrep -f "^$P/bin/stratafs" 2>/dev/null); do
                kill "$pid" 2>/dev/null
        done
        # anything still mounted under the private dir, deepest first
        for m in $(awk -v d="$P/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
                fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null ||
                        fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        done
        if [[ -n ${KEEP:-} ]]; then
                echo "# kept $P"
        elif [[ -n $(awk -v d="$P/" 'index($5, d) == 1' /proc/self/mountinfo) ]]; then
                echo "# mounts left under $P, not removing it"
        else
                chmod -R u+rwX "$P" 2>/dev/null
                rm -rf "$P"
        fi
        exit $rc
}

# ------------------------------------------------------------ shared checks

# Shell run inside a container: `t DESCRIPTION TEST...` records a failed check
# and goes on; the script ends with `done_checks`.
CHECK_LIB='
fails=0
t() { d=$1; shift; if ! "$@"; then echo "CHECK FAILED: $d"; fails=$((fails+1)); fi; }
eq() { [ "$1" = "$2" ] || { echo "  expected [$1], got [$2]"; return 1; }; }
done_checks() { if [ "$fails" = 0 ]; then echo ALL-CHECKS-OK; else echo "$fails checks failed"; exit 1; fi; }
'

# the file operations of a container on the base image's layer
FILEOPS='
t "root of the container is stratafs" eq "@FSTYPE@" "$(grep -E "^[^ ]+ / " /proc/mounts | cut -d" " -f3)"
t "read a lower file" eq lower "$(cat /srv/lower.txt)"
t "append to a lower file (copy-up)" sh -c "echo more >> /srv/lower.txt"
t "appended content" eq "lower more" "$(cat /srv/lower.txt | tr "\n" " " | sed "s/ $//")"
t "create a file" sh -c "echo new > /srv/new.txt"
t "new file content" eq new "$(cat /srv/new.txt)"
t "mkdir -p" mkdir -p /srv/newdir/sub/deeper
t "file in new dir" sh -c "echo deep > /srv/newdir/sub/deeper/f"
t "chmod lower file" chmod 0600 /srv/mode.txt
t "mode after chmod" eq 600 "$(stat -c %a /srv/mode.txt)"
t "chmod 4755 new file" chmod 4755 /srv/new.txt
t "mode after chmod 4755" eq 4755 "$(stat -c %a /srv/new.txt)"
t "chown lower file" chown 12:34 /srv/mode.txt
t "owner after chown" eq 12:34 "$(stat -c %u:%g /srv/mode.txt)"
t "chown -h symlink" chown -h 5:6 /bin/cat
t "symlink owner" eq 5:6 "$(stat -c %u:%g /bin/cat)"
t "chown new dir" chown 1000:1000 /srv/newdir
t "owner of new dir" eq 1000:1000 "$(stat -c %u:%g /srv/newdir)"
t "rm lower file" rm /srv/dir/a
t "lower file gone" eq "" "$(ls /srv/dir/a 2>/dev/null)"
t "listing after rm" eq b "$(ls /srv/dir)"
t "rm -rf lower dir" rm -rf /srv/dir
t "lower dir gone" test ! -e /srv/dir
t "recreate dir" mkdir /srv/dir
t "recreated dir is empty" eq "" "$(ls -A /srv/dir)"
t "file in recreated dir" sh -c "echo c > /srv/dir/c"
t "listing of recreated dir" eq c "$(ls -A /srv/dir)"
t "rename lower file" mv /srv/keep.txt /srv/moved.txt
t "renamed content" eq keep "$(cat /srv/moved.txt)"
t "old name gone" test ! -e /srv/keep.txt
t "rm lower binary link" rm /bin/sed
t "binary link gone" test ! -e /bin/sed
t "hard link" ln /srv/new.txt /srv/new.link
t "hard link count" eq 2 "$(stat -c %h /srv/new.txt)"
t "symlink" ln -s /srv/moved.txt /srv/sym
t "read through symlink" eq keep "$(cat /srv/sym)"
t "/srv listing" eq "dir lower.txt mode.txt moved.txt new.link new.txt newdir sym" "$(ls /srv | tr "\n" " " | sed "s/ $//")"
t "write into /tmp" sh -c "echo tmp > /tmp/x && cat /tmp/x >/dev/null"
t "touch -d" touch -d "2001-02-03 04:05:06" /srv/lower.txt
t "mtime after touch" eq 2001-02-03 "$(stat -c %y /srv/lower.txt | cut -c1-10)"
t "sleep runs" sleep 0
t "id runs" eq 0 "$(id -u)"
'

# the Containerfile of the build test: two RUN steps
CONTAINERFILE="FROM $IMG_BASE
RUN mkdir -p /data /d2 && echo one > /data/one && echo keep > /data/keep && chmod 600 /data/keep && echo a > /d2/a && rm /bin/sleep && chown 3:4 /srv/lower.txt
RUN echo two > /data/two && chown 7:8 /data/keep && rm /data/one && rm -rf /d2 && mkdir /d2 && echo b > /d2/b && echo step2 >> /srv/lower.txt && rm /srv/dir/a
"

# the checks on an image built from CONTAINERFILE
BUILT_CHECKS='
t "RUN 1 file" eq keep "$(cat /data/keep)"
t "RUN 1 chmod, RUN 2 chown" eq "600 7:8" "$(stat -c "%a %u:%g" /data/keep)"
t "RUN 2 file" eq two "$(cat /data/two)"
t "RUN 1 file deleted by RUN 2" test ! -e /data/one
t "/data listing" eq "keep two" "$(ls /data | tr "\n" " " | sed "s/ $//")"
t "dir replaced by RUN 2 (opaque)" eq b "$(ls -A /d2 | tr "\n" " " | sed "s/ $//")"
t "base file deleted by RUN 1" test ! -e /bin/sleep
t "base file changed by both" eq "lower step2" "$(cat /srv/lower.txt | tr "\n" " " | sed "s/ $//")"
t "base file owner changed by RUN 1" eq 3:4 "$(stat -c %u:%g /srv/lower.txt)"
t "base file deleted by RUN 2" eq b "$(ls /srv/dir)"
t "base file untouched" eq keep "$(cat /srv/keep.txt)"
'

# in_container MODE CHECKS [podman run options...]: run CHECKS in a --rm container
in_container() {
        local mode=$1 checks=$2 out rc=0
        shift 2
        checks=${checks//@FSTYPE@/$FSTYPE}
        out=$(pm "$mode" run --rm "$@" sh -c "$CHECK_LIB$checks
done_checks" 2>&1) || rc=$?
        printf '%s\n' "$out" >&2
        ((rc == 0)) && grep -qx ALL-CHECKS-OK <<<"$out" && return 0
        fail "container checks failed (podman exit $rc)"
}

# ------------------------------------------------------------ test bodies

_t_info() { # MODE: podman reports stratafs as the mount program
        need "$1"
        local out
        out=$(pm_ok "$1" info --format '{{json .Store.GraphOptions}} {{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Host.Security.Rootless}}')
        echo "$out" >&2
        [[ $out == *"overlay.mount_program"*"$P/bin/stratafs"* ]] || fail "podman info does not show stratafs as overlay.mount_program: $out"
        [[ $out == *"version"* ]] || fail "podman did not get stratafs --version: $out"
        [[ $out == *" overlay runc "* ]] || fail "expected the overlay driver and runc: $out"
}

_t_run_fileops() { # MODE
        need "$1"
        in_container "$1" "$FILEOPS" "$IMG_BASE"
        assert_no_leftovers "$1" "podman run --rm"
}

_t_live_mount() { # MODE: the merged dir of a running container is a stratafs mount
        need "$1"
        local mode=$1 id m
        id=$(pm_ok "$mode" run -d --name live "$IMG_BASE" sleep 60)
        m=$(sfs_mounts "$mode")
        echo "stratafs mounts: $m" >&2
        echo "daemons: $(sfs_procs "$mode")" >&2
        grep -qE "^[^ ]+ $(graph "$mode")/overlay/[0-9a-f]+/merged $FSTYPE " <<<"$m" ||
                fail "no stratafs mount of the container's merged dir while it runs"
        [[ -n $(sfs_procs "$mode") ]] || fail "no stratafs daemon for the running container"
        # the daemon's options are the fuse-overlayfs form podman uses
        sfs_procs "$mode" | grep -q -- "-o lowerdir=$(graph "$mode")/overlay/l/" ||
                fail "unexpected stratafs command line: $(sfs_procs "$mode")"
        local got
        got=$(pm_ok "$mode" exec live sh -c 'echo hello > /srv/exec.txt && cat /srv/exec.txt')
        assert_eq hello "$got" "podman exec in the running container"
        pm_ok "$mode" rm -f -t 0 live >/dev/null
        assert_no_leftovers "$mode" "podman rm -f of a running container"
        : "$id"
}

_t_build() { # MODE: podman build with two RUN steps
        need "$1"
        local mode=$1 ctx=$P/$1/ctx
        mkdir -p "$ctx"
        printf '%s' "$CONTAINERFILE" >"$ctx/Containerfile"
        [[ $mode == user ]] && ((IS_ROOT)) && chown -R "$TEST_USER:" "$ctx"
        pm_ok "$mode" build --network=none --layers=true -t "$IMG_BUILT" -f "$ctx/Containerfile" "$ctx" >&2
        local n
        n=$(pm_ok "$mode" image inspect --format '{{len .RootFS.Layers}}' "$IMG_BUILT")
        assert_eq 3 "$n" "layers of the built image (base + 2 RUN steps)"
        assert_no_leftovers "$mode" "podman build"
}

_need_built() {
        pm "$1" image exists "$IMG_BUILT" 2>/dev/null || fail "no $IMG_BUILT: the build test failed"
}

_t_run_built() { # MODE: run the built image (three lower layers)
        need "$1"
        _need_built "$1"
        in_container "$1" "$BUILT_CHECKS" "$IMG_BUILT"
        assert_no_leftovers "$1" "podman run --rm of the built image"
}

_t_commit() { # MODE: commit a changed container, run the committed image
        need "$1"
        local mode=$1 up
        _need_built "$mode"
        pm_ok "$mode" run --name tocommit "$IMG_BUILT" sh -c \
                'echo committed > /data/committed && rm /data/two && chown 9:9 /data/keep && chmod 4711 /data/keep && rm -rf /d2 && mkdir -p /d2/x && echo deleted >> /srv/keep.txt' >&2
        up=$(pm_ok "$mode" inspect --format '{{.GraphDriver.Data.UpperDir}}' tocommit)
        echo "upper dir of the container: $up" >&2
        ls -lanR "$up" >&2 || true
        pm_ok "$mode" commit -q tocommit "$IMG_COMMITTED" >&2
        pm_ok "$mode" rm tocommit >/dev/null
        in_container "$mode" '
t "committed file" eq committed "$(cat /data/committed)"
t "deleted before commit" test ! -e /data/two
t "mode and owner committed" eq "4711 9:9" "$(stat -c "%a %u:%g" /data/keep)"
t "replaced dir (opaque) committed" eq x "$(ls -A /d2 | tr "\n" " " | sed "s/ $//")"
t "copied-up file committed" eq "keep deleted" "$(cat /srv/keep.txt | tr "\n" " " | sed "s/ $//")"
t "older layers still seen" eq "lower step2" "$(cat /srv/lower.txt | tr "\n" " " | sed "s/ $//")"
t "older deletions still seen" test ! -e /bin/sleep
' "$IMG_COMMITTED"
        assert_no_leftovers "$mode" "podman commit"
}

# --uidmap/--gidmap.  As root, Debian 12's podman (containers/storage of 4.3)
# hands the mount program idmapped mounts of the lower layers (already shifted
# 0 -> 100000) AND uidmapping=:0:100000:65536, so ids are shifted twice unless
# the mount program undoes the idmapped lowers; fuse-overlayfs 1.10 fails here
# the same way (image files show as 65534 and runc gets EACCES creating
# /etc/hosts).  Later containers/storage releases skip the idmapped mounts
# when a mount program is set.
_t_uidmap() { # MODE
        need "$1"
        local mode=$1 host
        if [[ $mode == root ]]; then host=100000; else host=1; fi
        _need_built "$mode"
        pm_ok "$mode" run --name mapped --uidmap "0:$host:65536" --gidmap "0:$host:65536" "$IMG_BUILT" sh -c "$CHECK_LIB"'
t "id inside" eq 0:0 "$(id -u):$(id -g)"
t "image file owned by root inside" eq 0:0 "$(stat -c %u:%g /bin/busybox)"
t "image file owner from RUN" eq 7:8 "$(stat -c %u:%g /data/keep)"
t "read image file" eq two "$(cat /data/two)"
t "create a file" sh -c "echo mapped > /data/mapped"
t "new file owned by root inside" eq 0:0 "$(stat -c %u:%g /data/mapped)"
t "chown inside" chown 20:30 /data/two
t "owner after chown" eq 20:30 "$(stat -c %u:%g /data/two)"
t "chmod a lower file" chmod 0700 /data/keep
t "mode after chmod" eq "700 7:8" "$(stat -c "%a %u:%g" /data/keep)"
t "rm a lower file" rm /srv/keep.txt
t "lower file gone" test ! -e /srv/keep.txt
t "listing" eq "keep mapped two" "$(ls /data | tr "\n" " " | sed "s/ $//")"
t "root dir owner" eq 0:0 "$(stat -c %u:%g /)"
done_checks' >&2
        # on disk, the container layer keeps the ids as the container sees them
        # (like every layer: commit copies it as it is), whatever the mapping
        local up got
        up=$(pm_ok "$mode" inspect --format '{{.GraphDriver.Data.UpperDir}}' mapped)
        if [[ $mode == root ]]; then
                ls -lanR "$up" >&2 || true
                got=$(stat -c %u:%g "$up/data/mapped" "$up/data/two" | tr '\n' ' ')
        else
                pm user unshare ls -lanR "$up" >&2 || true
                got=$(pm_ok "$mode" unshare stat -c %u:%g "$up/data/mapped" "$up/data/two" | tr '\n' ' ')
        fi
        assert_eq "0:0 20:30 " "$got" "owners on disk$([[ $mode == user ]] && echo " (in podman's user namespace)") of a file created / chowned to 20:30 in the mapped container"
        # podman's own cleanup of a --uidmap container's shm mount can lag
        # behind the exit (EBUSY on userdata/shm): give it a moment
        local i
        for i in 1 2 3 4 5; do
                pm "$mode" rm mapped >/dev/null 2>&1 && break
                sleep 1
        done
        pm_ok "$mode" rm -i mapped >/dev/null
        assert_no_leftovers "$mode" "podman run --uidmap"
}

_t_image_mount() { # MODE: podman image mount (read-only, several lowers)
        need "$1"
        local mode=$1 script
        _need_built "$mode"
        # shellcheck disable=SC2016
        script='
set -u
img=$1 g=$2
p=$(podman image mount "$img") || { echo "podman image mount failed"; exit 1; }
echo "mounted at $p"
fails=0
chk() { if [ "$2" != "$3" ]; then echo "CHECK FAILED: $1: expected [$2], got [$3]"; fails=$((fails+1)); fi; }
chk "mount type" "@FSTYPE@" "$(awk -v p="$p" '\''$2 == p { print $3 }'\'' /proc/self/mounts)"
chk "RUN 2 file" two "$(cat "$p/data/two" 2>&1)"
chk "/data listing" "keep two" "$(ls "$p/data" 2>&1 | tr "\n" " " | sed "s/ $//")"
chk "opaque dir" b "$(ls -A "$p/d2" 2>&1 | tr "\n" " " | sed "s/ $//")"
chk "deleted base file" "" "$(ls "$p/bin/sleep" 2>/dev/null)"
chk "base file" "lower step2" "$(cat "$p/srv/lower.txt" 2>&1 | tr "\n" " " | sed "s/ $//")"
chk "owner" "600 7:8" "$(stat -c "%a %u:%g" "$p/data/keep" 2>&1)"
chk "whiteouts hidden" "" "$(ls -a "$p/data" "$p/d2" "$p/bin" "$p/srv" "$p/srv/dir" | grep -F .wh.)"
if touch "$p/data/new" 2>/dev/null; then echo "CHECK FAILED: the image mount is writable"; fails=$((fails+1)); fi
chk "second image mount returns the same path" "$p" "$(podman image mount "$img")"
podman image unmount "$img" >/dev/null || { echo "CHECK FAILED: unmount 1"; fails=$((fails+1)); }
podman image unmount "$img" >/dev/null || { echo "CHECK FAILED: unmount 2"; fails=$((fails+1)); }
if grep -qF " $p " /proc/self/mounts; then echo "CHECK FAILED: still mounted after podman image unmount"; fails=$((fails+1)); fi
[ "$fails" = 0 ] && echo ALL-CHECKS-OK
'
        local out rc=0
        script=${script//@FSTYPE@/$FSTYPE}
        if [[ $mode == root ]]; then
                out=$(as root timeout -k 5 "$PODMAN_TIMEOUT" sh -c "$script" sh "$IMG_BUILT" "$(graph root)" 2>&1) || rc=$?
        else
                out=$(pm user unshare sh -c "$script" sh "$IMG_BUILT" "$(graph user)" 2>&1) || rc=$?
        fi
        printf '%s\n' "$out" >&2
        grep -qx ALL-CHECKS-OK <<<"$out" || fail "podman image mount checks failed (exit $rc)"
        assert_no_leftovers "$mode" "podman image unmount"
}

_t_lower_unchanged() { # MODE: the base image's layer is what was imported
        need "$1"
        local d=${BASE_DIFF[$1]}
        [[ -n $d ]] || fail "no base layer dir recorded"
        _manifest "$d" >"$P/$1/base.manifest.after"
        diff -u "$P/$1/base.manifest" "$P/$1/base.manifest.after" >&2 ||
                fail "the base image's layer $d was modified by the containers"
}

_t_volatile_opts() { # MODE: podman passed the fuse-overlayfs option forms (recorded by SFS_DEBUG)
        need "$1"
        ((${SFS_DEBUG:-0})) || skip "only with SFS_DEBUG=1 (records the options podman passes)"
        local log=$P/$1/sfslog/calls.log
        [[ -s $log ]] || fail "no stratafs calls recorded"
        cat "$log" >&2
}

_t_build_copy() { # MODE: COPY, USER, WORKDIR steps (buildah writes through the mount)
        need "$1"
        local mode=$1 ctx=$P/$1/ctx2
        mkdir -p "$ctx/sub"
        printf 'copied\n' >"$ctx/sub/file"
        printf 'script\n' >"$ctx/run.sh"
        chmod 0755 "$ctx/run.sh"
        printf '%s\n' "FROM $IMG_BASE" \
                "COPY sub /opt/sub" \
                "COPY --chown=42:43 run.sh /opt/run.sh" \
                "WORKDIR /opt/work" \
                "RUN echo made > made && chmod 0640 made && chown 42:43 made" \
                "USER 42:43" \
                "RUN echo user > /tmp/user-file && (id -u > /opt/uid 2>/dev/null || true)" \
                >"$ctx/Containerfile"
        [[ $mode == user ]] && ((IS_ROOT)) && chown -R "$TEST_USER:" "$ctx"
        pm_ok "$mode" build --network=none -t localhost/strata-copy:latest -f "$ctx/Containerfile" "$ctx" >&2
        in_container "$mode" '
t "COPY dir" eq copied "$(cat /opt/sub/file)"
t "COPY --chown" eq "755 42:43" "$(stat -c "%a %u:%g" /opt/run.sh)"
t "WORKDIR" eq /opt/work "$(pwd)"
t "RUN in WORKDIR" eq "640 42:43 made" "$(stat -c "%a %u:%g" /opt/work/made) $(cat /opt/work/made)"
t "USER step could not write to /opt" test ! -e /opt/uid
t "USER step wrote /tmp" eq user "$(cat /tmp/user-file)"
t "running as the image USER" eq 42:43 "$(id -u):$(id -g)"
' localhost/strata-copy:latest
        assert_no_leftovers "$mode" "podman build with COPY"
}

_t_nonroot_user() { # MODE: permission checks for a non-root user in the container
        need "$1"
        in_container "$1" '
t "id" eq 1000 "$(id -u)"
t "read a lower file" eq lower "$(cat /srv/lower.txt)"
t "write to a root-owned lower file is refused" sh -c "! echo x 2>/dev/null >> /srv/lower.txt"
t "create in a root-owned dir is refused" sh -c "! touch /srv/new 2>/dev/null"
t "rm in a root-owned dir is refused" sh -c "! rm -f /srv/keep.txt 2>/dev/null"
t "file still there" eq keep "$(cat /srv/keep.txt)"
t "write to /tmp (1777)" sh -c "echo mine > /tmp/mine"
t "owner of the new file" eq 1000:1000 "$(stat -c %u:%g /tmp/mine)"
t "sticky /tmp" eq 1777 "$(stat -c %a /tmp)"
' --user 1000:1000 "$IMG_BASE"
}

_t_keep_id() { # rootless --userns=keep-id: the user is itself in the container
        need user
        local uid
        uid=$(as user id -u)
        in_container user "
t \"id\" eq $uid \"\$(id -u)\"
t \"image files owned by root\" eq 0:0 \"\$(stat -c %u:%g /bin/busybox)\"
t \"write to /tmp\" sh -c \"echo k > /tmp/k\"
t \"owner of the new file\" eq $uid \"\$(stat -c %u /tmp/k)\"
t \"root-owned dir refused\" sh -c \"! touch /srv/x 2>/dev/null\"
" --userns=keep-id "$IMG_BASE"
        assert_no_leftovers user "podman run --userns=keep-id"
}

_t_diff_export() { # MODE: podman diff and podman export of a changed container
        need "$1"
        local mode=$1 d want
        pm_ok "$mode" run --name difftest "$IMG_BASE" sh -c 'echo a > /srv/added && rm /srv/keep.txt && echo m >> /srv/lower.txt && rm -rf /srv/dir' >&2
        d=$(pm_ok "$mode" diff difftest | LC_ALL=C sort | tr '\n' ' ')
        echo "podman diff: $d" >&2
        for want in "A /srv/added" "D /srv/keep.txt" "C /srv/lower.txt" "D /srv/dir"; do
                [[ " $d" == *" $want "* ]] || fail "podman diff lacks [$want]: $d"
        done
        [[ $d != *".wh."* ]] || fail "podman diff shows whiteout files: $d"
        pm_ok "$mode" export -o "$P/$mode/export.tar" difftest >&2
        local list
        list=$(tar -tf "$P/$mode/export.tar" | sed 's#^\./##' | LC_ALL=C sort | tr '\n' ' ')
        echo "export: $list" >&2
        [[ " $list" == *" srv/added "* ]] || fail "export lacks srv/added"
        [[ " $list" != *" srv/keep.txt "* && " $list" != *" srv/dir/"* ]] || fail "export has deleted entries"
        [[ $list != *".wh."* ]] || fail "export has whiteout files"
        local got
        got=$(tar -xOf "$P/$mode/export.tar" --wildcards '*srv/lower.txt' | tr '\n' ' ')
        assert_eq "lower m " "$got" "srv/lower.txt in the export"
        pm_ok "$mode" rm difftest >/dev/null
        assert_no_leftovers "$mode" "podman diff/export"
}

_t_more_fileops() { # MODE: directory renames, special files, big files, podman cp; then commit
        need "$1"
        local mode=$1
        pm_ok "$mode" run --name more -e MODE="$mode" "$IMG_BASE" sh -c "$CHECK_LIB"'
t "rename a lower dir" mv /srv/dir /srv/dir2
t "renamed dir content" eq "a b" "$(ls /srv/dir2 | tr "\n" " " | sed "s/ $//")"
t "old dir gone" test ! -e /srv/dir
t "file in renamed dir" eq a "$(cat /srv/dir2/a)"
t "write in renamed dir" sh -c "echo n > /srv/dir2/n"
t "recreate the old name" mkdir /srv/dir
t "recreated dir empty" eq "" "$(ls -A /srv/dir)"
t "mkfifo" mkfifo /srv/fifo
t "fifo type" eq "fifo" "$(stat -c %F /srv/fifo)"
# a rootless container cannot make devices (no CAP_MKNOD in the user namespace)
if [ "$MODE" = root ]; then
t "mknod char device" mknod /srv/null c 1 3
t "char device numbers" eq "character special file 1,3" "$(stat -c "%F %t,%T" /srv/null)"
else
t "mknod refused rootless" sh -c "! mknod /srv/null c 1 3 2>/dev/null"
fi
t "write 8 MiB" dd if=/dev/zero of=/srv/big bs=1M count=8 2>/dev/null
t "size" eq 8388608 "$(stat -c %s /srv/big)"
t "truncate a lower file" sh -c ": > /srv/mode.txt"
t "truncated" eq 0 "$(stat -c %s /srv/mode.txt)"
t "chmod a lower dir" chmod 0750 /srv
t "mode of /srv" eq 750 "$(stat -c %a /srv)"
t "dir mtime changes on create" sh -c "a=\$(stat -c %Y /srv/dir2); sleep 1; touch /srv/dir2/t; b=\$(stat -c %Y /srv/dir2); [ \$b -gt \$a ]"
t "500 files" sh -c "mkdir /many && i=0; while [ \$i -lt 500 ]; do : > /many/f\$i; i=\$((i+1)); done"
t "count" eq 500 "$(ls /many | wc -l)"
t "rm -rf many" rm -rf /many
t "many gone" test ! -e /many
done_checks' >&2
        printf 'from host\n' >"$P/$mode/hostfile"
        [[ $mode == user ]] && ((IS_ROOT)) && chown "$TEST_USER:" "$P/$mode/hostfile"
        pm_ok "$mode" cp "$P/$mode/hostfile" more:/srv/dir2/hostfile >&2
        pm_ok "$mode" cp more:/srv/dir2/a "$P/$mode/out-a" >&2
        assert_eq a "$(cat "$P/$mode/out-a")" "podman cp out of the container"
        pm_ok "$mode" commit -q more localhost/strata-more:latest >&2
        pm_ok "$mode" rm more >/dev/null
        in_container "$mode" '
t "renamed dir committed" eq "a b hostfile n t" "$(ls /srv/dir2 | tr "\n" " " | sed "s/ $//")"
t "podman cp file" eq "from host" "$(cat /srv/dir2/hostfile)"
t "recreated dir committed empty" eq "" "$(ls -A /srv/dir)"
t "fifo committed" eq fifo "$(stat -c %F /srv/fifo)"
[ "$MODE" = root ] && t "device committed" eq "character special file 1,3" "$(stat -c "%F %t,%T" /srv/null)"
t "big file committed" eq 8388608 "$(stat -c %s /srv/big)"
t "truncation committed" eq 0 "$(stat -c %s /srv/mode.txt)"
t "dir mode committed" eq 750 "$(stat -c %a /srv)"
t "no whiteouts visible" eq "" "$(ls -a / /srv /srv/dir /srv/dir2 | grep -F .wh.)"
' -e MODE="$mode" localhost/strata-more:latest
        assert_no_leftovers "$mode" "more file operations"
}

# A two-layer docker-archive whose second layer holds AUFS-style whiteouts
# (.wh.NAME, .wh..wh..opq), as image registries ship them; containers/storage
# keeps them as such files for a mount program.
_mk_whiteout_archive() { # DIR -> $DIR/archive.tar
        local d=$1 id1 id2
        mkdir -p "$d/l1" "$d/l2/opq" "$d/l2/srv" "$d/out"
        cp -a "$P/rootfs/." "$d/l1/"
        mkdir -p "$d/l1/opq/sub" "$d/l1/gone"
        echo old1 >"$d/l1/opq/old1"
        echo old2 >"$d/l1/opq/sub/old2"
        echo g >"$d/l1/gone/file"
        : >"$d/l2/opq/.wh..wh..opq"
        echo new >"$d/l2/opq/new"
        : >"$d/l2/.wh.gone"
        : >"$d/l2/srv/.wh.keep.txt"
        tar --numeric-owner --owner=0 --group=0 -C "$d/l1" -cf "$d/out/layer1.tar" .
        tar --numeric-owner --owner=0 --group=0 -C "$d/l2" -cf "$d/out/layer2.tar" .
        id1=$(sha256sum "$d/out/layer1.tar" | cut -d' ' -f1)
        id2=$(sha256sum "$d/out/layer2.tar" | cut -d' ' -f1)
        printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
                "$id1" "$id2" >"$d/out/config.json"
        printf '[{"Config":"config.json","RepoTags":["localhost/strata-wh:latest"],"Layers":["layer1.tar","layer2.tar"]}]' \
                >"$d/out/manifest.json"
        tar -C "$d/out" -cf "$d/archive.tar" manifest.json config.json layer1.tar layer2.tar
        chmod 0644 "$d/archive.tar"
}

_t_load_whiteouts() { # MODE: an image whose layer has .wh. whiteouts and an opaque dir
        need "$1"
        local mode=$1 d=$P/whiteout-archive
        [[ -f $d/archive.tar ]] || _mk_whiteout_archive "$d" >&2
        pm_ok "$mode" load -i "$d/archive.tar" >&2
        local up
        up=$(pm_ok "$mode" image inspect --format '{{.GraphDriver.Data.UpperDir}}' localhost/strata-wh:latest)
        echo "top layer on disk:" >&2
        if [[ $mode == user ]]; then pm user unshare ls -laR "$up" >&2; else ls -laR "$up" >&2; fi
        in_container "$mode" '
t "opaque dir shows only the new layer" eq new "$(ls -A /opq | tr "\n" " " | sed "s/ $//")"
t "new file" eq new "$(cat /opq/new)"
t "old file hidden" test ! -e /opq/old1
t "old subdir hidden" test ! -e /opq/sub
t "whited-out dir gone" test ! -e /gone
t "whited-out file gone" test ! -e /srv/keep.txt
t "rest of /srv" eq "dir lower.txt mode.txt" "$(ls /srv | tr "\n" " " | sed "s/ $//")"
t "no .wh. names visible" eq "" "$(ls -a / /opq /srv | grep -F .wh.)"
t "create in the opaque dir" sh -c "echo more > /opq/more"
t "listing" eq "more new" "$(ls /opq | tr "\n" " " | sed "s/ $//")"
t "recreate a whited-out name" sh -c "mkdir /gone && ls -A /gone | wc -l | grep -qx 0"
t "recreate a whited-out file" sh -c "echo again > /srv/keep.txt && cat /srv/keep.txt | grep -qx again"
' localhost/strata-wh:latest
        assert_no_leftovers "$mode" "image with .wh. whiteouts"
}

_t_parallel() { # MODE: four containers at once, each with its own stratafs
        need "$1"
        local mode=$1 i pids=() rc=0
        for i in 1 2 3 4; do
                pm "$mode" run --rm "$IMG_BASE" sh -c "mkdir -p /w/$i && j=0; while [ \$j -lt 100 ]; do echo \$j > /w/$i/f\$j; j=\$((j+1)); done; rm /srv/lower.txt; [ \$(ls /w/$i | wc -l) = 100 ] && [ ! -e /srv/lower.txt ] && echo OK-$i" \
                        >"$P/$mode/par.$i" 2>&1 &
                pids+=($!)
        done
        for i in "${!pids[@]}"; do
                wait "${pids[$i]}" || rc=$?
        done
        cat "$P/$mode"/par.* >&2
        for i in 1 2 3 4; do
                grep -q "^OK-$i$" "$P/$mode/par.$i" || fail "container $i of 4 parallel ones failed"
        done
        ((rc == 0)) || fail "a podman run exited with status $rc"
        assert_no_leftovers "$mode" "parallel podman run --rm"
}

# rootless with storage.conf's force_mask: podman passes xattr_permissions=2,
# and ownership and modes live in user.containers.override_stat (issue 5:
# "chown, chmod 4755 ... look right through the mount and survive remount and
# commit").
_t_force_mask() {
        need user
        local mode=userfm out
        [[ -f $P/$mode/storage.conf ]] || _setup_mode "$mode" >&2 || fail "cannot set up a force_mask store"
        pm_ok "$mode" run -d --name fm "$IMG_BASE" sleep 600 >/dev/null
        local procs
        procs=$(sfs_procs "$mode")
        echo "daemon: $procs" >&2
        [[ $procs == *xattr_permissions=2* ]] || fail "podman did not pass xattr_permissions=2 with force_mask: $procs"
        local checks='
t "file mode and owner" eq "4711 5:6" "$(stat -c "%a %u:%g" /srv/new.txt)"
t "dir mode" eq "700 0:0" "$(stat -c "%a %u:%g" /srv/private)"
t "chmod of a lower file" eq "600 0:0" "$(stat -c "%a %u:%g" /srv/mode.txt)"
t "chown of a lower file" eq "644 7:8" "$(stat -c "%a %u:%g" /srv/lower.txt)"
t "ls -ln agrees with stat" eq "-rws--x--x 5 6" "$(ls -ln /srv/new.txt | sed "s/  */ /g" | cut -d" " -f1,3,4)"
t "image files keep their modes" eq "755 0:0" "$(stat -c "%a %u:%g" /bin/busybox)"
'
        # every phase is checked, and the test fails at the end with the list
        local bad=()
        out=$(pm "$mode" exec fm sh -c "$CHECK_LIB"'
t "create" sh -c "echo new > /srv/new.txt"
t "chown" chown 5:6 /srv/new.txt
t "chmod 4711" chmod 4711 /srv/new.txt
t "mkdir 700" sh -c "mkdir /srv/private && chmod 700 /srv/private"
t "chmod a lower file" chmod 600 /srv/mode.txt
t "chown a lower file" chown 7:8 /srv/lower.txt
'"$checks"'
done_checks' 2>&1) || true
        printf '%s\n' "$out" >&2
        grep -qx ALL-CHECKS-OK <<<"$out" || bad+=("in the running container")
        # stop and start: a new mount of the same layers
        pm_ok "$mode" stop -t 0 fm >/dev/null
        pm_ok "$mode" start fm >/dev/null
        out=$(pm "$mode" exec fm sh -c "$CHECK_LIB$checks
done_checks" 2>&1) || true
        printf '%s\n' "$out" >&2
        grep -qx ALL-CHECKS-OK <<<"$out" || bad+=("after podman stop/start (remount)")
        pm_ok "$mode" commit -q fm localhost/strata-fm:latest >&2
        pm_ok "$mode" rm -f -t 0 fm >/dev/null
        # podman 4.3's commit (containers/storage) writes the new layer's
        # override_stat from a Go FileMode masked with 07777, which drops the
        # set-id bits: "5:6:0711" for a 4711 file.  The mount must show what
        # the layer records, so the expected mode comes from the layer.
        local layer recorded
        layer=$(pm_ok "$mode" image inspect --format '{{.GraphDriver.Data.UpperDir}}' localhost/strata-fm:latest)
        recorded=$(getfattr --absolute-names -n user.containers.override_stat --only-values "$layer/srv/new.txt" 2>/dev/null)
        echo "committed layer: srv/new.txt override_stat=$recorded" >&2
        case $recorded in
        5:6:04711*) ;;
        5:6:0711*)
                echo "note: podman's commit dropped the set-uid bit in the layer it wrote" >&2
                checks=${checks//4711 5:6/711 5:6}
                checks=${checks//-rws--x--x/-rwx--x--x}
                ;;
        *) bad+=("committed layer records [$recorded] for srv/new.txt") ;;
        esac
        ( in_container "$mode" "$checks" localhost/strata-fm:latest ) || bad+=("in a container of the committed image")
        assert_no_leftovers "$mode" "force_mask"
        ((${#bad[@]} == 0)) || fail "modes or owners wrong: $(printf '[%s] ' "${bad[@]}")"
}

# Contract 2: the layers stratafs writes for podman read the same through
# fuse-overlayfs (the engine's usual mount program), e.g. after a user switches
# mount_program back.  A chmod/chown of a big lower file must not leave an
# upper file that only stratafs can read.
_t_upper_interop() { # MODE: a container's layers read the same through kernel overlayfs
        need "$1"
        local mode=$1 up low out rc=0
        # The upper layer uses kernel overlayfs's metacopy and redirect
        # formats (README): kernel overlayfs with metacopy=on,redirect_dir=on
        # reads it; fuse-overlayfs knows neither (stratafs -o metacopy=off
        # gives layers for it).  Rootless uppers use user.overlay.* xattrs,
        # which the kernel accepts only without metacopy.
        [[ $mode == root ]] || skip "kernel overlayfs reads user.overlay.metacopy files only as root with metacopy=on"
        pm_ok "$mode" run --name interop "$IMG_BASE" sh -c 'chmod 700 /bin/busybox && chown 1:1 /srv/lower.txt && touch -d "2001-01-01 00:00:00" /srv/keep.txt && echo appended >> /srv/mode.txt && rm -rf /srv/dir && mkdir /srv/dir && echo c > /srv/dir/c && rm /bin/sed && mv /srv /srv2' >&2
        up=$(pm_ok "$mode" inspect --format '{{.GraphDriver.Data.UpperDir}}' interop)
        low=$(pm_ok "$mode" inspect --format '{{.GraphDriver.Data.LowerDir}}' interop)
        # shellcheck disable=SC2016
        local script='
set -u
up=$1 low=$2 base=$3 m=$4
mkdir -p "$m" "$m.work"
mount -t overlay overlay -o "lowerdir=$up:$low,metacopy=on,redirect_dir=on" "$m" || { echo "kernel overlay mount failed"; exit 1; }
fails=0
for f in bin/busybox; do
        if ! cmp -s "$m/$f" "$base/$f"; then
                echo "CHECK FAILED: $f reads differently through kernel overlayfs: $(od -An -tx1 -N8 "$m/$f" 2>&1)"
                fails=$((fails+1))
        fi
done
for f in lower.txt keep.txt; do
        if ! cmp -s "$m/srv2/$f" "$base/srv/$f"; then
                echo "CHECK FAILED: srv2/$f reads differently through kernel overlayfs"
                fails=$((fails+1))
        fi
done
[ "$(stat -c %a "$m/bin/busybox")" = 700 ] || { echo "CHECK FAILED: mode of bin/busybox"; fails=$((fails+1)); }
[ "$(cat "$m/srv2/mode.txt" | tr "\n" " ")" = "mode appended " ] || { echo "CHECK FAILED: srv2/mode.txt"; fails=$((fails+1)); }
[ "$(ls -A "$m/srv2/dir" | tr "\n" " ")" = "c " ] || { echo "CHECK FAILED: opaque srv2/dir lists [$(ls -A "$m/srv2/dir" | tr "\n" " ")]"; fails=$((fails+1)); }
[ ! -e "$m/bin/sed" ] || { echo "CHECK FAILED: deleted bin/sed is back"; fails=$((fails+1)); }
[ ! -e "$m/srv" ] || { echo "CHECK FAILED: renamed /srv is back"; fails=$((fails+1)); }
ls -ls "$up/bin/busybox"
getfattr -d -m - -h "$up/bin/busybox" 2>/dev/null
umount "$m"
[ "$fails" = 0 ] && echo ALL-CHECKS-OK
'
        local m=$P/$mode/interop-mnt
        out=$(sh -c "$script" sh "$up" "$low" "$P/rootfs" "$m" 2>&1) || rc=$?
        printf '%s\n' "$out" >&2
        pm_ok "$mode" rm interop >/dev/null
        grep -qx ALL-CHECKS-OK <<<"$out" || fail "the container's layers do not read the same through kernel overlayfs (exit $rc)"
}

_t_overlay_volume() { # MODE: podman run -v DIR:/mnt:O (an overlay of a host dir, through the mount program)
        need "$1"
        local mode=$1 h=$P/$1/hostdir
        mkdir -p "$h/sub"
        printf 'f\n' >"$h/f"
        printf 'g\n' >"$h/g"
        printf 's\n' >"$h/sub/s"
        [[ $mode != root ]] && ((IS_ROOT)) && chown -R "$TEST_USER:" "$h"
        local before
        before=$(_manifest "$h")
        in_container "$mode" '
t "overlay volume" eq "f g sub" "$(ls /mnt | tr "\n" " " | sed "s/ $//")"
t "create" sh -c "echo new > /mnt/new"
t "rm" rm /mnt/f
t "append" sh -c "echo more >> /mnt/g"
t "rm -rf dir" rm -rf /mnt/sub
t "listing" eq "g new" "$(ls /mnt | tr "\n" " " | sed "s/ $//")"
' -v "$h:/mnt:O" "$IMG_BASE"
        assert_eq "$before" "$(_manifest "$h")" "the host dir under the :O volume (must be unchanged)"
        assert_no_leftovers "$mode" "podman run -v DIR:/mnt:O"
}

_t_read_only() { # MODE: podman run --read-only
        need "$1"
        in_container "$1" '
t "read" eq lower "$(cat /srv/lower.txt)"
t "write refused" sh -c "! touch /srv/x 2>/dev/null"
t "/tmp is writable" sh -c "echo x > /tmp/x"
' --read-only "$IMG_BASE"
}

# ------------------------------------------------------------------- tests

test_root_info() { _t_info root; }
test_root_run_fileops() { _t_run_fileops root; }
test_root_live_mount() { _t_live_mount root; }
test_root_build() { _t_build root; }
test_root_run_built() { _t_run_built root; }
test_root_commit() { _t_commit root; }
test_root_uidmap() { _t_uidmap root; }
test_root_image_mount() { _t_image_mount root; }
test_root_build_copy() { _t_build_copy root; }
test_root_nonroot_user() { _t_nonroot_user root; }
test_root_diff_export() { _t_diff_export root; }
test_root_read_only() { _t_read_only root; }
test_root_more_fileops() { _t_more_fileops root; }
test_root_load_whiteouts() { _t_load_whiteouts root; }
test_root_parallel() { _t_parallel root; }
test_root_upper_interop() { _t_upper_interop root; }
test_root_overlay_volume() { _t_overlay_volume root; }
test_root_lower_unchanged() { _t_lower_unchanged root; }
test_rootless_info() { _t_info user; }
test_rootless_run_fileops() { _t_run_fileops user; }
test_rootless_live_mount() { _t_live_mount user; }
test_rootless_build() { _t_build user; }
test_rootless_run_built() { _t_run_built user; }
test_rootless_commit() { _t_commit user; }
test_rootless_uidmap() { _t_uidmap user; }
test_rootless_image_mount() { _t_image_mount user; }
test_rootless_build_copy() { _t_build_copy user; }
test_rootless_nonroot_user() { _t_nonroot_user user; }
test_rootless_keep_id() { _t_keep_id; }
test_rootless_diff_export() { _t_diff_export user; }
test_rootless_read_only() { _t_read_only user; }
test_rootless_more_fileops() { _t_more_fileops user; }
test_rootless_load_whiteouts() { _t_load_whiteouts user; }
test_rootless_parallel() { _t_parallel user; }
test_rootless_upper_interop() { _t_upper_interop user; }
test_rootless_overlay_volume() { _t_overlay_volume user; }
test_rootless_force_mask() { _t_force_mask; }
test_rootless_lower_unchanged() { _t_lower_unchanged user; }

# ------------------------------------------------------------------ runner

main() {
        local tests=() t a
        for t in $(grep -oE '^test_[A-Za-z0-9_]+ *\(\)' "${BASH_SOURCE[0]}" | sed 's/ *()$//'); do
                if (($# == 0)); then
                        tests+=("$t")
                else
                        for a in "$@"; do [[ $t == *"$a"* ]] && tests+=("$t") && break; done
                fi
        done
        setup
        local n=0 failed=0 rc start
        for t in "${tests[@]}"; do
                n=$((n + 1))
                rm -f "$P/.skip"
                start=$SECONDS
                (
                        set -o pipefail
                        "$t"
                ) >"$P/.out" 2>&1 </dev/null
                rc=$?
                case $rc in
                0) echo "ok $n - $t" ;;
                77) echo "ok $n - $t # SKIP $(head -n 1 "$P/.skip" 2>/dev/null)" ;;
                *)
                        failed=$((failed + 1))
                        echo "not ok $n - $t"
                        ;;
                esac
                if [[ $rc != 0 && $rc != 77 ]] || [[ -n ${VERBOSE:-} ]]; then
                        sed 's/^/# /' "$P/.out"
                fi
                echo "# ($((SECONDS - start))s)"
        done
        echo "1..$n"
        ((failed == 0)) || {
                echo "# $failed of $n failed"
                return 1
        }
        return 0
}

main "$@"
