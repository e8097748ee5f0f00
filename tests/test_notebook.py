"""examples/analysis.ipynb runs from top to bottom, and is committed without outputs."""

from __future__ import annotations

import pathlib
import sys

import nbformat
from nbclient import NotebookClient

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "analysis.ipynb"


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    assert nb.cells[-1].outputs[0]["text"].strip() == sys.prefix  # the kernel runs this venv
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the rate plot and the JSON field plot
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert tables  # DataFrames rendered
    text = "".join(o.get("text", "") for o in outputs)
    assert "seek landed at 2026-01-01 00:00:30" in text  # seek_time(pandas.Timestamp)
    assert "orders shard 1 from sequence 100" in text
    assert "default:" in text and "at offset" in text  # the damaged file's error
    assert "on_damage='skip':" in text and "1 warning(s)" in text
    assert "orders in demo.parquet" in text  # the export
