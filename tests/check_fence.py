#!/usr/bin/env python3
"""The header fence (lib/common/internal.h), checked three ways; fails if any is broken:
1. every header under lib/ includes lib/common/internal.h;
2. nothing in server/, examples/ or bench/ includes a header of lib/;
3. a file outside the library that includes a private header does not compile (and does compile
   with PWGRID_INTERNAL defined, so that the failure is the fence and not something else).
Usage: check_fence.py SOURCE_ROOT CXX [CXX_ARGS...]"""
import pathlib
import re
import subprocess
import sys
import tempfile

root = pathlib.Path(sys.argv[1])
cxx = sys.argv[2:]
failures = []

for header in sorted((root / 'lib').rglob('*.h')):
    if header.name == 'internal.h':
        continue
    if '#include "lib/common/internal.h"' not in header.read_text():
        failures.append(f'{header.relative_to(root)} does not include lib/common/internal.h')

include_lib = re.compile(r'^\s*#\s*include\s*[<"]lib/', re.M)
for folder in ('server', 'examples', 'bench'):
    for f in sorted((root / folder).rglob('*')):
        if f.suffix in ('.h', '.cc', '.cpp') and include_lib.search(f.read_text()):
            failures.append(f'{f.relative_to(root)} includes a private header of lib/')

with tempfile.TemporaryDirectory() as tmp:
    src = pathlib.Path(tmp) / 'outside.cc'
    src.write_text('#include "lib/relay/ws_frame.h"\nint main() { return 0; }\n')
    base = cxx + ['-std=c++17', '-fsyntax-only', '-I', str(root), '-I', str(root / 'include'), str(src)]
    fenced = subprocess.run(base, capture_output=True, text=True)
    if fenced.returncode == 0:
        failures.append('a private header compiled without PWGRID_INTERNAL')
    elif 'private to libpwgrid' not in fenced.stderr:
        failures.append('compiling outside.cc failed, but not at the fence:\n' + fenced.stderr)
    inside = subprocess.run(base + ['-DPWGRID_INTERNAL'], capture_output=True, text=True)
    if inside.returncode != 0:
        failures.append('a private header does not compile with PWGRID_INTERNAL:\n' + inside.stderr)

for f in failures:
    print('FAIL:', f)
print('header fence:', 'broken' if failures else 'holds')
sys.exit(1 if failures else 0)
