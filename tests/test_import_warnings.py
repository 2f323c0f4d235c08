"""Importing the libraries behind the catalog prints nothing about their own code to the user."""

from __future__ import annotations

import os
import subprocess
import sys


def test_timm_import_prints_no_torch_jit_deprecation() -> None:
    # timm 1.0.9 uses torch.jit.interface, deprecated by torch 2.14: without securitynet's filter the import
    # prints a FutureWarning on every command that lists the catalog.
    script = "import warnings; warnings.simplefilter('default'); import securitynet, timm"
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "torch.jit.interface" not in result.stderr
