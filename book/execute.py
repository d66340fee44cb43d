"""papermill for the book's chapters: the same CLI, with one change that keeps widget cells
from stalling the execution.

    python book/execute.py notebooks/03_block_memory.ipynb out.ipynb -p EPOCHS 2

``book/execute.sh`` wraps this with a time limit and one retry; CI runs it for every chapter.

Why not plain ``papermill``. nbclient (which papermill drives) mirrors every ipywidgets
``Output`` widget of the kernel: whenever the kernel sends output into one (``interact`` puts
its function's plots and prints there), nbclient sends a ``comm_msg`` back to the kernel on the
*shell* channel. It sends it from the coroutine that reads IOPub, while another coroutine is
awaiting the cell's ``execute_reply`` on that same shell socket (pyzmq's asyncio ``poll``).
Now and then that wake-up is lost: the reply is already in the socket (``ZMQ_EVENTS`` has
``POLLIN``, one ``poll`` future waits on it) but the event loop never learns of it, and with
papermill's default of no cell timeout the wait lasts forever. Measured on 2 cores under load
(``benchmarks/widget_stall.py``): 5 of 12 runs of a three-cell ``interact`` notebook stalled
that way; with the mirror's sends removed, none of 20 did. This is jupyter/nbclient#312
(proposed fix #311) and nteract/papermill#723.

The mirror only exists to store the widget's captured output in the saved notebook, which
``book/strip_widget_outputs.py`` removes anyway: the static book shows precomputed offline
players instead. So :class:`ChapterClient` does not mirror Output widgets. nbclient then never
writes to the shell channel while a cell runs, and the function's outputs land in the cell's
own outputs. A reader with a live kernel is not affected: this only changes how papermill
executes the chapters.
"""
from __future__ import annotations

import sys

from papermill.cli import papermill as papermill_cli
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import remove_args

ENGINE = "daad-book"


class ChapterClient(PapermillNotebookClient):
    """papermill's client without nbclient's mirror of ipywidgets Output widgets."""

    def on_comm_open_jupyter_widget(self, msg: dict) -> None:
        # nbclient returns an OutputWidget mimic here for "@jupyter-widgets/output"; with None,
        # the widget's state is still recorded (nbclient.handle_comm_msg) but nothing is sent back.
        return None


class ChapterEngine(NBClientEngine):
    """papermill's nbclient engine, running cells with :class:`ChapterClient`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        # the same arguments as NBClientEngine gives its client, only the client class differs
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        client = ChapterClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                               kernel_name=kernel_name, log=logger, log_output=log_output,
                               stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
        return client.execute()


papermill_engines.register(ENGINE, ChapterEngine)


def main(argv: list[str]) -> None:
    """papermill's own command line, with the book's engine as the default."""
    if "--engine" not in argv:
        argv = [*argv, "--engine", ENGINE]
    papermill_cli.main(args=argv, prog_name="book/execute.py")


if __name__ == "__main__":
    main(sys.argv[1:])
