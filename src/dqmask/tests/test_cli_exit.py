"""The ``dqmask`` console script leaves quickly once its work is done (``cli.console``):
exit code, output and ``atexit`` functions kept, only the module teardown skipped; the
usual exit whenever that would not be safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import atexit, os, sys, threading, time
    from pathlib import Path

    folder = Path(sys.argv[1])
    atexit.register(lambda: (folder / "atexit").write_text("ran"))

    class Witness:  # its __del__ runs only when the interpreter tears its modules down
        def __init__(self):  # holds what it needs: globals may be gone by then
            self.fd = os.open(folder / "teardown", os.O_WRONLY | os.O_CREAT, 0o644)
            self.write = os.write

        def __del__(self):
            self.write(self.fd, b"ran")

    witness = Witness()
    if "thread" in sys.argv:
        def late():
            time.sleep(0.3)
            (folder / "thread").write_text("done")
        threading.Thread(target=late).start()
    if "trace" in sys.argv:
        sys.settrace(lambda *a: None)
    import dqmask.cli as cli

    cli.main = lambda argv=None: (print("x" * 200000, end=""), 3)[1]
    cli.console()
""")


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), *extra],
                          capture_output=True, text=True, timeout=60)


def test_console_keeps_the_exit_code_output_and_atexit_and_skips_the_teardown(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 3
    assert done.stdout == "x" * 200000  # flushed before leaving
    assert done.stderr == ""
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "teardown").read_text() == ""  # the module teardown was skipped


def test_console_exits_the_usual_way_while_another_thread_runs(tmp_path):
    done = _run(tmp_path, "thread")
    assert done.returncode == 3
    assert done.stdout == "x" * 200000
    assert (tmp_path / "thread").read_text() == "done"  # waited for, as Python does
    assert (tmp_path / "atexit").read_text() == "ran"


def test_console_exits_the_usual_way_under_a_tracer(tmp_path):
    done = _run(tmp_path, "trace")
    assert done.returncode == 3
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "teardown").read_text() == "ran"  # coverage, cProfile see the end


def test_python_dash_m_dqmask_is_the_console_script():
    done = subprocess.run([sys.executable, "-m", "dqmask", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout.startswith("dqmask ")
