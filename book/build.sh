#!/usr/bin/env bash
# Execute every chapter with book/execute.sh (papermill; outputs written into the notebooks,
# every cell and chapter time-limited, one retry), then build the HTML book with Jupyter Book
# (warnings are errors). Extra arguments go to papermill, e.g.
#   bash book/build.sh -p EPOCHS 50 -p IMAGE_SIZE 128
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p _build
: > _build/notebook_times.txt
# Chapters share the small models they train through a cache (daad_lib.book.trained); start it
# empty so that every build really trains them (nbval, run afterwards, reuses them).
rm -rf _build/book_cache
export NOTEBOOK_TIMES=_build/notebook_times.txt   # book/execute.sh notes any retry there
for notebook in notebooks/*.ipynb; do
  start=$(date +%s)
  bash book/execute.sh "$notebook" "$@"
  echo "$notebook: $(( $(date +%s) - start )) s (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a _build/notebook_times.txt
done
python book/strip_widget_outputs.py notebooks/*.ipynb
jupyter-book build . -W --keep-going
echo "book: file://$(pwd)/_build/html/index.html"
