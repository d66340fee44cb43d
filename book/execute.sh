#!/usr/bin/env bash
# Execute one chapter exactly as CI does (book/build.sh calls this for every chapter):
#
#   bash book/execute.sh NOTEBOOK [OUTPUT] [papermill options, e.g. -p EPOCHS 2]
#
# OUTPUT defaults to NOTEBOOK itself (CI executes the chapters in place). The chapter runs
# through book/execute.py (papermill without nbclient's mirror of widget output, the cause of
# the stalls on widget cells; its docstring says why). Every cell has a time limit
# (CELL_TIMEOUT seconds, default 600) and so has the whole chapter (CHAPTER_TIMEOUT, default
# 1200); a chapter that fails or runs out of time is run once more from a fresh kernel, and if
# that fails too the script fails. So the worst case is bounded: 2 x CHAPTER_TIMEOUT.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: bash book/execute.sh NOTEBOOK [OUTPUT] [papermill options]" >&2
  exit 2
fi
notebook=$1; shift
output=$notebook
if [ $# -gt 0 ] && [ "${1:0:1}" != "-" ]; then output=$1; shift; fi
if [ ! -f "$notebook" ]; then
  echo "book/execute.sh: no such notebook: $notebook" >&2
  exit 2
fi
cell_timeout=${CELL_TIMEOUT:-600}
chapter_timeout=${CHAPTER_TIMEOUT:-1200}

for attempt in 1 2; do
  timeout --kill-after=30 "$chapter_timeout" python book/execute.py "$notebook" "$output" \
    --execution-timeout "$cell_timeout" --log-level WARNING --no-progress-bar "$@"
  status=$?
  [ $status -eq 0 ] && exit 0
  reason="failed (exit $status)"
  [ $status -eq 124 ] || [ $status -eq 137 ] && reason="ran past ${chapter_timeout} s"
  echo "$notebook: attempt $attempt $reason" | tee -a "${NOTEBOOK_TIMES:-/dev/null}" >&2
done
exit 1
