#!/usr/bin/env python3
"""The test runner's summary line (scripts/summarize_tests.py) on made-up meson logs."""
import json
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "summarize_tests.py")


def run(entries):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "testlog.json")
        if entries is not None:
            with open(path, "w") as f:
                for e in entries:
                    f.write(json.dumps(e) + "\n")
        r = subprocess.run([sys.executable, SCRIPT, path], capture_output=True, text=True)
        return r.stdout.strip().splitlines()[-1], r.returncode


doctest = "[doctest] test cases:  3 |  3 passed | 0 failed | 0 skipped"
cases = [
    (None, ("0 passed, 1 failed", 1)),  # no log at all: not a pass
    ([], ("0 passed, 1 failed", 1)),
    ([{"result": "OK", "stdout": doctest}], ("3 passed, 0 failed", 0)),
    ([{"result": "OK", "stdout": "# pass 2\n# fail 0\n"}, {"result": "SKIP", "stdout": ""}],
     ("2 passed, 0 failed, 1 skipped", 0)),
    ([{"result": "FAIL", "stdout": doctest}], ("3 passed, 1 failed", 1)),  # crashed after its report
    ([{"result": "TIMEOUT", "stdout": ""}], ("0 passed, 1 failed", 1)),
]
bad = 0
for entries, want in cases:
    got = run(entries)
    if got != want:
        print(f"for {entries!r}: got {got!r}, want {want!r}")
        bad += 1
print(f"{len(cases) - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
