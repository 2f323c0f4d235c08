"""Attacks from entry points and plug-in modules; a broken plug-in is reported, not fatal."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

from securitynet.attacks import AttackError, get_attack, list_attacks, load_errors, registry

EP_MODULE = '''
from securitynet.attacks.base import Attack, AttackResult


class EntryPointAttack(Attack):
    name = "ep.example"
    version = "3"
    access = "posterior"

    def run(self, target, ctx):
        return AttackResult(metrics={"x": 1.0})
'''


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOAD_ERRORS", {})
    (tmp_path / "sn_ep_plugin.py").write_text(EP_MODULE)
    (tmp_path / "sn_broken_plugin.py").write_text("raise ImportError('needs a package that is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("sn_ep_plugin", "sn_broken_plugin"):
        sys.modules.pop(name, None)


def test_entry_points_and_plugin_modules_register_attacks(isolated_registry, monkeypatch) -> None:
    points = [
        EntryPoint(name="example", value="sn_ep_plugin:EntryPointAttack", group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name="broken", value="sn_broken_plugin", group=registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setenv(registry.PLUGIN_ENV, "securitynet_test_attacks, sn_missing_plugin")
    with pytest.warns(UserWarning, match="failed"):
        registry.load_attacks(reload=True)
    assert get_attack("ep.example").version == "3"
    assert "test.probe" in {cls.name for cls in list_attacks("test.*")}
    errors = load_errors()
    assert "needs a package that is not installed" in errors["sn_broken_plugin"]
    assert "sn_missing_plugin" in errors
    with pytest.raises(AttackError, match="failed to import: .*sn_missing_plugin"):
        get_attack("ep.absent")


def test_builtin_attacks_come_without_configuration() -> None:
    assert get_attack("mia.correctness").access == "label"
