#!/usr/bin/env bash
# Runs every test: the format check, the C++ tests (ctest: unit, multiproc, wan, gpu labels; gpu
# tests skip without a GPU, wan tests skip without root) and the Python tests (pytest). Ends with
# one summary line: "isthmus: N passed, N failed, N skipped". Exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ISTHMUS_BUILD_DIR:-build}
REPORTS=$BUILD_DIR/test-reports
mkdir -p "$REPORTS"
rm -f "$REPORTS"/*.xml

format_failed=0
echo "== clang-format --dry-run -Werror over the tree"
if git ls-files '*.h' '*.cc' '*.cu' '*.cuh' | xargs -r clang-format --dry-run -Werror; then
  echo "format: clean"
else
  format_failed=1
fi

echo "== ctest"
(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 -j"${ISTHMUS_CTEST_JOBS:-2}" \
  --output-junit test-reports/ctest.xml)

if [ -d tests/python ]; then
  echo "== pytest"
  PYTHONPATH="$PWD/$BUILD_DIR/python_bindings/pkg${PYTHONPATH:+:$PYTHONPATH}" \
    ISTHMUS_BUILD_DIR="$PWD/$BUILD_DIR" \
    .venv/bin/python -m pytest tests/python -q --timeout=300 --junitxml="$REPORTS/pytest.xml"
fi

.venv/bin/python scripts/test_summary.py --format-failed "$format_failed" "$REPORTS"/*.xml
