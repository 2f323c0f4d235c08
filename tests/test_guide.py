"""docs/guide.md runs: its bash blocks, in order, in an empty folder and home, through the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.S | re.M)


def guide_script(text: str) -> str:
    """The guide's bash blocks as one script that stops at the first failing command."""
    blocks = BLOCK.findall(text)
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_the_script_is_every_bash_block_in_order() -> None:
    text = "intro\n```bash\necho one\n```\n```text\nnot run\n```\n```bash\necho two \\\n  three\n```\n"
    assert guide_script(text) == "set -euo pipefail\necho one\n\necho two \\\n  three\n"


@pytest.mark.slow
def test_the_guide_runs_from_a_model_to_its_report(tmp_path: Path) -> None:
    script = guide_script(GUIDE.read_text(encoding="utf-8"))
    assert "catalog add" in script and "evaluate" in script and "results" in script and "report" in script
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SECURITYNET_") or key == "SECURITYNET_SHARED_DATA"}
    # The interpreter and the `securitynet` command of this environment, whatever PATH says.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(SECURITYNET_OFFLINE="1", OMP_NUM_THREADS="1", COLUMNS="80")
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert (tmp_path / "securitynet-home").is_dir()  # the guide's home, nothing written elsewhere
    assert "guide/my_digits_mlp" in done.stdout
    # The results it stored are the ones `results --format csv` wrote: AUCs and an agreement, all measured.
    import pandas as pd

    results = pd.read_csv(tmp_path / "my_results.csv")
    assert set(results.model_id) == {"guide/my_digits_mlp"}
    assert {"mia.correctness", "mia.loss", "mia.entropy", "stealing.knockoff"} <= set(results.attack)
    assert (tmp_path / "my-report" / "report.html").stat().st_size > 10_000
