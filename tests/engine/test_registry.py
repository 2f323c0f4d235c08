"""Attacks from plug-in modules (SECURITYNET_ATTACK_MODULES); a broken plug-in is reported, not fatal.

Entry points from installed distributions: tests/test_plugins.py."""

from __future__ import annotations

import sys

import pytest

from securitynet import plugins
from securitynet.attacks import AttackError, get_attack, list_attacks, load_errors, registry


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch, tmp_path):
    registry.load_attacks()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOAD_ERRORS", {})
    monkeypatch.setattr(plugins, "_ONCE", {})
    monkeypatch.setattr(plugins, "_OUTCOMES", {})
    (tmp_path / "sn_broken_plugin.py").write_text("raise ImportError('needs a package that is not installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("sn_broken_plugin", None)


def test_plugin_modules_register_attacks(isolated_registry, monkeypatch) -> None:
    monkeypatch.setenv(registry.PLUGIN_ENV, "securitynet_test_attacks, sn_broken_plugin, sn_missing_plugin")
    with pytest.warns(plugins.PluginWarning, match="failed to load"):
        registry.load_attacks(reload=True)
    assert "test.probe" in {cls.name for cls in list_attacks("test.*")}
    errors = load_errors()
    assert "needs a package that is not installed" in errors["sn_broken_plugin"]
    assert "sn_missing_plugin" in errors
    with pytest.raises(AttackError, match="failed to import: .*sn_missing_plugin"):
        get_attack("ep.absent")


def test_builtin_attacks_come_without_configuration() -> None:
    assert get_attack("mia.correctness").access == "label"
