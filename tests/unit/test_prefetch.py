"""Reading the weights ahead while torch imports (engine/prefetch.py)."""

import json
import subprocess
import sys

from arcus_desktop.engine import prefetch

CHILD = r"""
import json, sys
from arcus_desktop.engine import prefetch
thread = prefetch.start(sys.argv[1])
if thread is not None:
    thread.join(timeout=60)
print(json.dumps({"started": thread is not None, "alive": bool(thread and thread.is_alive()),
                  "torch_imported": "torch" in sys.modules}))
"""


def _run(model_dir) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(model_dir)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_reads_the_model_without_importing_torch(tiny_model):
    assert _run(tiny_model) == {"started": True, "alive": False, "torch_imported": False}


def test_no_model_is_left_to_the_load_to_report(tmp_path):
    assert _run(tmp_path / "nowhere")["started"] is False


def test_free_memory_comes_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:    2048 kB\n")
    assert prefetch.available_bytes(str(meminfo)) == 2048 * 1024
    assert prefetch.available_bytes(str(tmp_path / "missing")) == 0
