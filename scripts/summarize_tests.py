#!/usr/bin/env python3
"""Sums test cases over meson's testlog.json and prints 'N passed, N failed'.

doctest executables report their own case counts; node:test files report '# pass N' and
'# fail N'. A test that reports neither counts as one case. A test meson marks failed (crash,
timeout) adds a failure even if its own report said otherwise. Exits 1 when anything failed.
"""
import json
import re
import sys

passed = failed = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        out = t.get("stdout", "") or ""
        ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
        m = re.search(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed", out)
        p = re.search(r"^# pass (\d+)$", out, re.M)
        q = re.search(r"^# fail (\d+)$", out, re.M)
        if m:
            tp, tf = int(m.group(2)), int(m.group(3))
        elif p and q:
            tp, tf = int(p.group(1)), int(q.group(1))
        else:
            tp, tf = (1, 0) if ok else (0, 1)
        if not ok and tf == 0:
            tf = 1
        passed += tp
        failed += tf
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
