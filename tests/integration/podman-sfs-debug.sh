#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A stand-in for stratafs as podman's overlay.mount_program that keeps a debug
# log of every mount (used by podman.sh with SFS_DEBUG=1).  It records the
# call in $SFS_DEBUG_DIR/calls.log, runs `stratafs -f -d` in the background
# with its output in $SFS_DEBUG_DIR/<n>.log, and exits 0 once the mount
# answers, as stratafs itself does when it daemonizes; if the daemon exits
# first, it exits with the daemon's status.  stratafs is the file `stratafs`
# next to this script (podman.sh copies both into its private dir).
sfs=$(dirname "$0")/stratafs
dir=${SFS_DEBUG_DIR:-/tmp}
for a in "$@"; do
        case $a in
        -V | --version | -h | --help) exec "$sfs" "$@" ;;
        esac
done
n=$(date +%s%N)
log=$dir/$n.log
mnt=${!#}
[[ $mnt == /* ]] || mnt=$PWD/$mnt
{
        printf '%s uid=%s cwd=%s log=%s:' "$(date +%T.%N)" "$(id -u)" "$PWD" "$log"
        printf ' [%s]' "$@"
        echo
} >>"$dir/calls.log"
# the mounts the layers live on (podman's --uidmap lowers are idmapped mounts)
opts=$(printf '%s\n' "$@" | sed -n 's/.*lowerdir=\([^,]*\).*/\1/p' | head -n 1)
IFS=: read -r -a lowers <<<"$opts"
for l in "${lowers[@]}"; do
        [[ -n $l ]] || continue
        awk -v p="$l" 'index(p, $5 "/") == 1 && $5 != "/" { print "  lower on: " $0 }' /proc/self/mountinfo
done | sort -u >>"$dir/calls.log"
"$sfs" -f -d "$@" >"$log" 2>&1 </dev/null &
pid=$!
echo "pid $pid" >>"$dir/calls.log"
for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
                wait "$pid"
                rc=$?
                echo "$n: exited $rc before the mount was live" >>"$dir/calls.log"
                exit $rc
        fi
        if awk -v m="$mnt" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo 2>/dev/null; then
                exit 0
        fi
        sleep 0.05
done
echo "$n: not mounted after 10s" >>"$dir/calls.log"
exit 1
