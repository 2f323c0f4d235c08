"""An earlier version of one of the project's modules, loaded from git history to run side by side with today's.

Speed-ups are measured against the implementation they replace without keeping a copy of it in the tree: the
module's source at a given commit is read with ``git show`` and executed under another name. Its
``@register_attack`` decorators are dropped, so the old attack class does not replace today's in the registry;
everything else it imports is today's code.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def module_at(rev: str, path: str, name: str) -> ModuleType:
    """The module at ``path`` (relative to the project's root) as it was at commit ``rev``, imported as ``name``."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    source = source.replace("@register_attack\n", "")
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the source runs
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)  # noqa: S102 - the project's own history
    return module
