"""The plug-in mechanism: a tiny installed distribution adds an attack, a dataset, an architecture and a card
source through entry points; a broken plug-in is one warning; two plug-ins claiming one name is an error."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from securitynet import plugins
from securitynet.errors import PluginConflictError

ROOT = Path(__file__).resolve().parents[1]

# The package the test distribution installs: one object for each group.
DEMO_MODULE = '''
import dataclasses

import torch.nn as nn

from securitynet.attacks.base import Attack, AttackResult
from securitynet.catalog.card import ModelCard
from securitynet.data import get_dataset


class EchoAttack(Attack):
    """Reports a constant: enough to be listed and run."""

    name = "demo.echo"
    version = "1"
    access = "posterior"

    def run(self, target, ctx):
        return AttackResult(metrics={"echo": 1.0})


DIGITS_COPY = dataclasses.replace(get_dataset("digits"), name="demo_digits")


def tiny_net(num_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))


def cards():
    return [ModelCard(id="demo/tiny", name="tiny", source="demo", dataset="demo_digits",
                      architecture="demo_net")]
'''

DEMO_ENTRY_POINTS = """
[securitynet.attacks]
demo = sn_demo_plugin:EchoAttack

[securitynet.datasets]
demo_digits = sn_demo_plugin:DIGITS_COPY

[securitynet.architectures]
demo_net = sn_demo_plugin:tiny_net

[securitynet.card_sources]
demo = sn_demo_plugin:cards
"""


def install(site: Path, distribution: str, entry_points: str, modules: dict[str, str] | None = None) -> None:
    """Put a distribution in `site` the way pip installs one: a ``*.dist-info`` folder beside its modules."""
    info = site / f"{distribution.replace('-', '_')}-1.2.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text(entry_points)
    for name, text in (modules or {}).items():
        (site / f"{name}.py").write_text(text)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder on sys.path for test distributions; every registry back as it was afterwards."""
    from securitynet.attacks import registry as attacks
    from securitynet.catalog import sources
    from securitynet.data import registry as datasets
    from securitynet.zoo import archs

    attacks.load_attacks()  # the built-ins are registered once per process: copied below, not imported again
    archs.list_architectures()
    for module in (attacks, datasets, archs):
        monkeypatch.setattr(module, "_REGISTRY", dict(module._REGISTRY))
    monkeypatch.setattr(attacks, "_LOAD_ERRORS", {})
    monkeypatch.setattr(plugins, "_ONCE", {})
    monkeypatch.setattr(plugins, "_OUTCOMES", {})
    # The card sources load every card; one built-in source is enough to see where each comes from.
    monkeypatch.setattr(sources, "BUILTIN_SOURCES", ("securitynet.catalog.sources.yaml_cards",))
    monkeypatch.delenv("SECURITYNET_ATTACK_MODULES", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("sn_")]:
        del sys.modules[name]


def plugins_json(*args: str) -> tuple[int, list[dict]]:
    from securitynet.cli import app

    result = CliRunner().invoke(app, ["plugins", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_a_distribution_adds_an_attack_a_dataset_an_architecture_and_cards(site: Path) -> None:
    from securitynet.attacks import get_attack
    from securitynet.catalog.builtin import load_builtin_catalog
    from securitynet.cli import app
    from securitynet.data import get_dataset, load_split
    from securitynet.zoo.archs import build_architecture

    install(site, "sn-demo-plugin", DEMO_ENTRY_POINTS, {"sn_demo_plugin": DEMO_MODULE})
    code, rows = plugins_json()
    assert code == 0
    demo = {row["group"]: row for row in rows if row["distribution"] == "sn-demo-plugin 1.2"}
    assert {group: (row["name"], row["object"], row["provides"]) for group, row in demo.items()} == {
        "securitynet.attacks": ("demo", "sn_demo_plugin:EchoAttack", ["demo.echo"]),
        "securitynet.datasets": ("demo_digits", "sn_demo_plugin:DIGITS_COPY", ["demo_digits"]),
        "securitynet.architectures": ("demo_net", "sn_demo_plugin:tiny_net", ["demo_net"]),
        "securitynet.card_sources": ("demo", "sn_demo_plugin:cards", ["demo/tiny"]),
    }
    builtin = [row for row in rows if row["distribution"] != "sn-demo-plugin 1.2"]
    assert builtin and all(row["distribution"].startswith("securitynet") and not row["error"] for row in builtin)
    assert {"mia.correctness", "backdoor.strip"} <= {p for row in builtin for p in row["provides"]}

    listed = CliRunner().invoke(app, ["attacks", "list", "demo.*", "--format", "json"])
    assert [a["name"] for a in json.loads(listed.stdout)] == ["demo.echo"]
    assert get_attack("demo.echo").version == "1"
    assert len(load_split("demo_digits", "test")) == len(load_split(get_dataset("digits"), "test"))
    assert build_architecture("demo_net", num_classes=3)[1].out_features == 3
    catalog = load_builtin_catalog()
    assert catalog.sources["sn_demo_plugin:cards"] == 1 and "demo/tiny" in {c.id for c in catalog.cards}


def test_a_broken_plugin_is_one_line_and_the_others_load(site: Path) -> None:
    from securitynet.attacks import get_attack, load_errors
    from securitynet.attacks.registry import load_attacks

    install(site, "sn-broken", "[securitynet.attacks]\nneeds = sn_broken_plugin\n",
            {"sn_broken_plugin": "import sn_package_that_is_not_installed\n"})
    with pytest.warns(plugins.PluginWarning) as caught:
        load_attacks(reload=True)
    message = str(caught[0].message)
    assert message.count("\n") == 0
    for part in ("'needs'", "sn_broken_plugin", "sn-broken 1.2", "ModuleNotFoundError", "sn_package_that_is_not"):
        assert part in message
    assert get_attack("mia.correctness").name == "mia.correctness"
    assert "sn-broken 1.2" in load_errors()["sn_broken_plugin"]

    code, rows = plugins_json("--group", "attacks")
    assert code == 1
    [broken] = [row for row in rows if row["error"]]
    assert broken["name"] == "needs" and broken["items"] is None and "sn_package_that_is_not" in broken["error"]


def test_an_entry_point_naming_something_unusable_is_a_clear_error(site: Path) -> None:
    from securitynet.zoo.archs import list_architectures

    install(site, "sn-odd", "[securitynet.architectures]\nnumber = sn_odd:NUMBER\n", {"sn_odd": "NUMBER = 3\n"})
    with pytest.warns(plugins.PluginWarning, match=r"'number' \(sn_odd:NUMBER, from sn-odd 1.2\) failed to load: "
                                                   r"PluginError: .* names a int, not a module or a constructor"):
        assert "small_cnn" in list_architectures()


def test_two_plugins_claiming_one_name_is_an_error(site: Path) -> None:
    from securitynet.attacks.registry import load_attacks

    install(site, "sn-first", "[securitynet.attacks]\nshared = sn_first\n", {"sn_first": ""})
    install(site, "sn-second", "[securitynet.attacks]\nshared = sn_second\n", {"sn_second": ""})
    with pytest.raises(PluginConflictError, match=r"two plug-ins claim the name 'shared' in group "
                                                  r"securitynet.attacks: .*sn-first 1.2.* and .*sn-second 1.2"):
        load_attacks(reload=True)
    with pytest.raises(PluginConflictError):  # every later use says so too, not only the first
        load_attacks()
    code, rows = plugins_json("--group", "attacks")
    assert code == 1 and "claim the name 'shared'" in rows[0]["error"]


def test_a_plugin_registering_a_builtin_attack_name_is_an_error(site: Path) -> None:
    from securitynet.attacks.registry import load_attacks

    impostor = DEMO_MODULE.replace('name = "demo.echo"', 'name = "mia.correctness"')
    install(site, "sn-impostor", "[securitynet.attacks]\nimpostor = sn_impostor:EchoAttack\n",
            {"sn_impostor": impostor})
    with pytest.raises(PluginConflictError, match=r"'impostor' .*sn-impostor 1.2.*: attack name 'mia.correctness' "
                                                  r"is registered twice"):
        load_attacks(reload=True)


def test_builtins_come_from_the_tree_whatever_securitynet_installed_metadata_says(site: Path) -> None:
    """An editable install keeps the entry points of the day it was installed: ours are read from the tree."""
    from securitynet.attacks import list_attacks
    from securitynet.attacks.registry import load_attacks

    install(site, "securitynet", "[securitynet.attacks]\nremoved_since = securitynet.attacks.removed_since\n")
    load_attacks(reload=True)
    outcomes = plugins.outcomes(plugins.ATTACKS)
    assert all(o.error is None and o.plugin.distribution == "securitynet" for o in outcomes)
    assert "removed_since" not in {o.plugin.name for o in outcomes}
    assert len(list_attacks("mia.*")) >= 10


def test_pyproject_declares_exactly_the_in_tree_builtin_plugins() -> None:
    from securitynet.attacks.registry import BUILTIN_PLUGINS as attacks
    from securitynet.catalog.builtin import builtin_source_plugins
    from securitynet.data.registry import BUILTIN_PLUGINS as datasets
    from securitynet.zoo.archs import BUILTIN_PLUGINS as architectures

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared == {plugins.ATTACKS: attacks, plugins.DATASETS: datasets,
                        plugins.ARCHITECTURES: architectures, plugins.CARD_SOURCES: builtin_source_plugins()}


@pytest.mark.parametrize("package", ["securitynet.attacks", "securitynet.zoo.archs"])
def test_every_builtin_module_that_registers_something_is_a_plugin(package: str) -> None:
    """A new attack or architecture module must be added to BUILTIN_PLUGINS (and pyproject), or it is never seen."""
    from securitynet.attacks.registry import _REGISTRY as attacks
    from securitynet.attacks.registry import load_attacks
    from securitynet.zoo.archs import _REGISTRY as architectures
    from securitynet.zoo.archs import list_architectures

    load_attacks()
    list_architectures()
    registry = attacks if package == "securitynet.attacks" else architectures
    before = set(registry)
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)
    assert set(registry) == before


def test_plugins_table_fits_80_columns(console_width, table_problems) -> None:
    from securitynet.cli import app

    console_width(80)
    result = CliRunner().invoke(app, ["plugins", "--group", "attacks", "--group", "architectures"])
    assert result.exit_code == 0, result.output
    assert table_problems(result.stdout, 80, ["membership.metric_attacks", "robustbench_zoo"],
                          ["group", "name", "object", "from", "items"]) == []
    assert "error" not in result.stdout.splitlines()[1]  # no failure, no error column
