#!/usr/bin/env python3
"""Sums test cases over meson's testlog.json and prints 'N passed, N failed' (', N skipped').

doctest executables report their own case counts; node:test files report '# pass N' and
'# fail N'. A test that reports neither counts as one case. A test meson marks failed (crash,
timeout) adds a failure even if its own report said otherwise. A test meson skipped (exit 77)
counts as skipped, not passed. A missing or unreadable log is one failure: no test result is
not a pass. Exits 1 when anything failed.
"""
import json
import re
import sys


def summarize(path):
    passed = failed = skipped = 0
    try:
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"summarize_tests: cannot read {path}: {e}", file=sys.stderr)
        return 0, 1, 0
    if not lines:
        return 0, 1, 0
    for t in lines:
        out = t.get("stdout", "") or ""
        result = t.get("result")
        if result == "SKIP":
            skipped += 1
            continue
        ok = result in ("OK", "EXPECTEDFAIL")
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
    return passed, failed, skipped


if __name__ == "__main__":
    passed, failed, skipped = summarize(sys.argv[1] if len(sys.argv) > 1 else "")
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    sys.exit(1 if failed else 0)
