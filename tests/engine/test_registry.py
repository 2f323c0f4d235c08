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


def _attack_class(**declared) -> type:
    from securitynet.attacks.base import Attack, AttackResult

    class Declared(Attack):
        name = "test.declared"
        version = "1"
        access = "posterior"

        def run(self, target, ctx):
            return AttackResult(metrics={})

    for key, value in declared.items():
        setattr(Declared, key, value)
    return Declared


def test_every_builtin_attack_declares_what_analysis_needs() -> None:
    families = {cls.name: cls.family for cls in list_attacks()}
    assert {name for name, family in families.items() if family == "membership"} == \
        {cls.name for cls in list_attacks("mia.*")}
    assert families["stealing.knockoff"] == "stealing"
    for detector in list_attacks("backdoor.*"):
        declared = detector.declaration()
        assert declared["family"] == "backdoor" and "score" in declared["score_metrics"]
        assert declared["score_direction"] == "higher-is-backdoored"


@pytest.mark.parametrize(("declared", "message"), [
    ({"family": "Membership"}, "lowercase family"),
    ({"score_metrics": ["score"]}, "score_metrics must be a tuple"),
    ({"score_metrics": ("score",)}, "score_metrics but no score_direction"),
    ({"score_metrics": ("score",), "score_direction": "up"}, "score_direction must read like"),
])
def test_malformed_declarations_are_refused_at_registration(declared, message) -> None:
    with pytest.raises(AttackError, match=message):
        _attack_class(**declared).validate_class()
    _attack_class(family="annotation").validate_class()  # a family analysis has no rule for is still a family
