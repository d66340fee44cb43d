"""book/execute.sh and book/execute.py: how CI executes a chapter.

These need the book's extras (papermill, ipywidgets, ipykernel); .ci/run runs them after
installing those. The stall itself is rare and timing-dependent, so no test can wait for it;
these check the mechanism that removes its cause (nothing is sent to the kernel's shell
channel while a widget cell runs) and the bounds on every execution.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("papermill")
pytest.importorskip("ipywidgets")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from widget_stall import write_minimal  # noqa: E402


def execute(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "book" / "execute.sh"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def test_widget_cell_outputs_land_in_the_cell_and_nothing_is_sent_on_shell(tmp_path, monkeypatch):
    """With nbclient's Output-widget mirror, interact's plot and print go into the widget's state
    and every one of them is answered with a comm_msg on the shell channel (the stall's trigger);
    without it they are ordinary cell outputs and the shell channel stays silent."""
    sys.path.insert(0, str(ROOT / "book"))
    import execute as book_execute
    import papermill
    from jupyter_client.channels import ZMQSocketChannel

    sent = []
    original = ZMQSocketChannel.send
    monkeypatch.setattr(ZMQSocketChannel, "send", lambda self, msg: (sent.append(msg.get("msg_type",
                        msg.get("header", {}).get("msg_type"))), original(self, msg))[1])
    notebook = write_minimal(tmp_path / "minimal.ipynb")
    papermill.execute_notebook(str(notebook), str(tmp_path / "out.ipynb"), kernel_name="python3",
                               engine_name=book_execute.ENGINE, progress_bar=False)
    cell = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[1]
    kinds = [output.output_type for output in cell.outputs]
    assert "stream" in kinds and any("image/png" in output.get("data", {}) for output in cell.outputs)
    assert "comm_msg" not in sent, sent


def test_execute_sh_writes_the_output_and_leaves_the_notebook(tmp_path):
    notebook = write_minimal(tmp_path / "minimal.ipynb")
    before = notebook.read_text()
    done = execute(str(notebook), str(tmp_path / "out.ipynb"))
    assert done.returncode == 0, done.stderr
    assert notebook.read_text() == before
    outputs = json.loads((tmp_path / "out.ipynb").read_text())["cells"][2]["outputs"]
    assert outputs[0]["text"] == ["after\n"]


def test_a_cell_past_its_limit_is_retried_once_then_fails(tmp_path):
    notebook = tmp_path / "slow.ipynb"
    slow = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time; time.sleep(60)")])
    slow.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(slow, notebook)
    times = tmp_path / "times.txt"
    env = {**__import__("os").environ, "CELL_TIMEOUT": "2", "NOTEBOOK_TIMES": str(times)}
    done = execute(str(notebook), str(tmp_path / "out.ipynb"), env=env)
    assert done.returncode == 1
    assert times.read_text().count("attempt") == 2 and "attempt 2 failed" in times.read_text()


def test_execute_sh_names_a_missing_notebook():
    done = execute("notebooks/no_such_chapter.ipynb")
    assert done.returncode == 2 and "no such notebook: notebooks/no_such_chapter.ipynb" in done.stderr
