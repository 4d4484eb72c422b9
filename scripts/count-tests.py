#!/usr/bin/env python3
"""Counts meson test results from one or more testlog.json files and prints
'N passed, N failed' (skips are reported separately).  Exit status is 1 when
no test ran or any failed."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line).get("result", "")
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except OSError as e:
        print(f"count-tests: {e}", file=sys.stderr)
        failed += 1
line = f"{passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(0 if passed > 0 and failed == 0 else 1)
