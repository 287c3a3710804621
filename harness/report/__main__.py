"""`python -m harness.report RUN_DIR` or `python -m harness.report compare RUN_A RUN_B`.

A stand-in for `invoice-chaos report|compare` while debugging the report alone.
"""
from __future__ import annotations

import sys

from harness.errors import EXIT_USAGE, HarnessError
from harness.report import compare, write_report


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "compare":
            print(compare(argv[1], argv[2]), end="")
        elif len(argv) == 1:
            print(write_report(argv[0]))
        else:
            print("usage: python -m harness.report RUN_DIR | compare RUN_A RUN_B",
                  file=sys.stderr)
            return EXIT_USAGE
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
