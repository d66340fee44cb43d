#!/usr/bin/env bash
# Execute every chapter with papermill (outputs written into the notebooks), then build the
# HTML book with Jupyter Book (warnings are errors). Extra arguments go to papermill, e.g.
#   bash book/build.sh -p EPOCHS 50 -p IMAGE_SIZE 128
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p _build
: > _build/notebook_times.txt
# Chapters share the small models they train through a cache (daad_lib.book.trained); start it
# empty so that every build really trains them (nbval, run afterwards, reuses them).
rm -rf _build/book_cache
for notebook in notebooks/*.ipynb; do
  start=$(date +%s)
  # A hang, not an error: twice on a heavily loaded 2-core machine papermill waited forever on a
  # chapter's first ipywidgets cell while the kernel sat idle (ipykernel 6.31 and 7.4). A chapter
  # that fails or runs longer than 15 minutes is run once more from a fresh kernel (papermill
  # re-executes every cell); a real error fails the second time too.
  if ! timeout 900 papermill "$notebook" "$notebook" --log-level WARNING --no-progress-bar "$@"; then
    echo "$notebook: stopped or failed; running it once more" | tee -a _build/notebook_times.txt
    papermill "$notebook" "$notebook" --log-level WARNING --no-progress-bar "$@"
  fi
  echo "$notebook: $(( $(date +%s) - start )) s (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a _build/notebook_times.txt
done
python book/strip_widget_outputs.py notebooks/*.ipynb
jupyter-book build . -W --keep-going
echo "book: file://$(pwd)/_build/html/index.html"
