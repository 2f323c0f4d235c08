"""One rule for values JSON cannot write itself (what the engine saves as artifacts and the store keeps in
JSON columns): numpy arrays and tensors become lists, numpy scalars numbers, anything else its text."""

from __future__ import annotations

from typing import Any


def json_default(obj: Any) -> Any:
    """The ``default=`` of ``json.dumps``: called for each value it cannot write."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)
