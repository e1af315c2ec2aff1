"""Adds up JUnit XML reports (ctest, pytest) into one closing line: 'isthmus: N passed, N failed, N skipped'.

Exits 1 if anything failed or if no test ran at all (an empty run is a broken run)."""
import argparse
import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = skipped = 0
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format-failed", type=int, default=0)
    ap.add_argument("reports", nargs="*")
    args = ap.parse_args()
    passed = failed = skipped = 0
    for path in args.reports:
        try:
            p, f, s = count(path)
        except (OSError, ET.ParseError) as e:
            print(f"test_summary: cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"  {path}: {p} passed, {f} failed, {s} skipped")
        passed, failed, skipped = passed + p, failed + f, skipped + s
    # The format check counts as one test.
    if args.format_failed:
        failed += 1
    else:
        passed += 1
    print(f"isthmus: {passed} passed, {failed} failed, {skipped} skipped")
    if failed or passed <= 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
