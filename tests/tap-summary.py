#!/usr/bin/env python3
"""Count the TAP test cases of a meson test log: 'N passed, N failed, N skipped'."""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        cases = 0
        for l in (t.get("stdout") or "").splitlines():
            m = re.match(r"^(not ok|ok)\b.*?(#\s*(SKIP|skip)\b.*)?$", l)
            if not m:
                continue
            cases += 1
            if m.group(2):
                skipped += 1
            elif m.group(1) == "ok":
                passed += 1
            else:
                failed += 1
        if cases == 0:
            # a program that printed no TAP line: count it as one case
            res = t.get("result", "")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif res == "SKIP":
                skipped += 1
            else:
                failed += 1
        elif t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP"):
            # crashed or timed out after some cases: that is a failure too
            if not any(re.match(r"^not ok", l) for l in (t.get("stdout") or "").splitlines()):
                failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
