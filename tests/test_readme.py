"""Every Python block of the README runs as shown, each in a fresh interpreter.

The blocks that need what this machine may lack run with a stand-in: the GPU block on the CPU
when no GPU is present, the IBM block on a fake backend, the ``torchrun`` block under
``torchrun`` with two CPU processes. Nothing else is changed.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
       "MPLBACKEND": "Agg"}


def python_blocks(text: str) -> list[tuple[str, str]]:
    """``(id, code)`` of every fenced ``python`` block; the id is the section heading and a number."""
    blocks, heading, counts = [], "top", {}
    language, lines = None, []
    for line in text.split("\n"):
        if language is None and line.startswith("```"):
            language, lines = line[3:].strip(), []
        elif language is not None and line == "```":
            if language == "python":
                counts[heading] = counts.get(heading, 0) + 1
                blocks.append((f"{heading}-{counts[heading]}", "\n".join(lines) + "\n"))
            language = None
        elif language is not None:
            lines.append(line)
        elif line.startswith("#"):
            heading = re.sub(r"[^a-z0-9]+", "-", line.lstrip("#").strip().lower()).strip("-")
    return blocks


BLOCKS = python_blocks(README)

STAND_INS = {
    '"ibm:ibm_brisbane"': '"fake:FakeManilaV2"',  # no IBM account here: the same code on a fake backend
}
if not torch.cuda.is_available():
    STAND_INS['"cuda"'] = '"cpu"'  # the GPU block, on the CPU


def _stand_in(code: str) -> str:
    for real, stand_in in STAND_INS.items():
        code = code.replace(real, stand_in)
    return code


def test_the_readme_has_its_blocks():
    ids = [block_id for block_id, _ in BLOCKS]
    assert len(ids) >= 8 and len(set(ids)) == len(ids)
    assert any("init_distributed" in code for _, code in BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[block_id for block_id, _ in BLOCKS])
def test_readme_block_runs_in_a_fresh_interpreter(code, tmp_path):
    script = tmp_path / "block.py"
    script.write_text(_stand_in(code))
    if "init_distributed" in code:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
        command = [torchrun, "--standalone", "--nproc_per_node=2", str(script)]
    else:
        command = [sys.executable, str(script)]
    proc = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
