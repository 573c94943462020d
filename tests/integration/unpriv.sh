#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The mount tests again as an unprivileged user (rootless containers): the
# daemon must then write the unprivileged formats (.wh.NAME or a char 0/0
# where the kernel allows it, user.overlay.opaque) and every root-only test
# skips itself.  Run as root: creates the user $TEST_USER if missing and makes
# /dev/fuse usable by everyone (0666, as distributions ship it).
#
#   UNPRIV_SCRIPTS="lookup rename" to run a subset; UNPRIV_SEEDS (default 15)
#   seeds for random-tree.sh (the oracle is then the reference merge and a
#   plain directory, no kernel overlayfs).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPTS=${UNPRIV_SCRIPTS:-lookup readdir whiteout copyup rename fileops fsx xattr random-tree}

((IS_ROOT)) || skip "run as root: re-runs the mount tests as user $TEST_USER"
_preflight
ensure_test_user || skip "cannot create user $TEST_USER"
fuse_dev_for_all || skip "cannot make /dev/fuse usable by $TEST_USER"

TMP_USER=$(mktemp -d "${TMPDIR:-/tmp}/strata-unpriv.XXXXXX")
chown "$TEST_USER:" "$TMP_USER"
chmod 0755 "$TMP_USER"
cleanup() {
        local m
        for m in $(_mounts_under "$TMP_USER"); do fusermount3 -uz "$m" 2>/dev/null; done
        rm -rf "$TMP_USER"
        # /dev/fuse stays 0666: that is how distributions ship it, and other
        # users of this machine may rely on it by now
}
trap cleanup EXIT

ORACLE_TIMEOUT=${TEST_TIMEOUT_ORACLE:-280}
((TEST_TIMEOUT > ORACLE_TIMEOUT)) && ORACLE_TIMEOUT=$TEST_TIMEOUT

as_user() {
        runuser -u "$TEST_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
                HOME="$TMP_USER" TMPDIR="$TMP_USER" LANG=C.UTF-8 \
                STRATAFS="$STRATAFS" TESTS_DIR="$TESTS_DIR" PYTHON="$PYTHON" \
                TEST_TIMEOUT="$TEST_TIMEOUT" VERBOSE="${VERBOSE:-}" \
                SEEDS="${UNPRIV_SEEDS:-15}" SEED_BASE="${SEED_BASE:-1}" SEED_LIST="${SEED_LIST:-}" \
                ORACLE_OPS="${ORACLE_OPS:-60}" TEST_TIMEOUT_ORACLE="$ORACLE_TIMEOUT" "$@"
}

as_user test -x "$STRATAFS" || skip "$TEST_USER cannot execute $STRATAFS"
as_user test -r "$TESTS_DIR/lib.sh" || skip "$TEST_USER cannot read $TESTS_DIR"

n=0
failed=0
for s in $SCRIPTS; do
        echo "# --- $s.sh as $TEST_USER"
        while IFS= read -r line; do
                if [[ $line =~ ^(not\ ok|ok)\ [0-9]+\ -\ (.*)$ ]]; then
                        n=$((n + 1))
                        [[ ${BASH_REMATCH[1]} == "not ok" ]] && failed=$((failed + 1))
                        echo "${BASH_REMATCH[1]} $n - $s/${BASH_REMATCH[2]}"
                elif [[ $line =~ ^1\.\.0\ \#\ SKIP\ (.*)$ ]]; then
                        n=$((n + 1))
                        echo "ok $n - $s # SKIP ${BASH_REMATCH[1]}"
                elif [[ $line =~ ^1\.\.[0-9]+$ ]]; then
                        :
                else
                        echo "# ${line#\# }"
                fi
        done < <(cd "$TMP_USER" && as_user bash "$TESTS_DIR/$s.sh" 2>&1)
done
echo "1..$n"
((failed == 0)) || {
        echo "# $failed of $n failed"
        exit 1
}
exit 0
