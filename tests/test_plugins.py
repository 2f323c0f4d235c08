"""The plug-in mechanism: a tiny installed distribution adds an attack, a dataset, an architecture and a card
source through entry points; a broken plug-in is one warning; two plug-ins claiming one name is an error."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from securitynet import plugins
from securitynet.errors import PluginConflictError

ROOT = Path(__file__).resolve().parents[1]

DOC = ROOT / "docs" / "plugins.md"


def doc_block(language: str) -> str:
    """The first ``language`` code block of docs/plugins.md: the example package is the one tested here."""
    return re.search(rf"^```{language}\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.S | re.M).group(1)


def entry_points_txt(groups: dict[str, dict[str, str]]) -> str:
    """pyproject's [project.entry-points.*] tables as the entry_points.txt that pip writes from them."""
    return "".join(f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items()) + "\n"
                   for group, points in groups.items())


def install(site: Path, distribution: str, entry_points: str, modules: dict[str, str] | None = None,
            version: str = "1.2") -> None:
    """Put a distribution in `site` the way pip installs one: a ``*.dist-info`` folder beside its modules."""
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)
    for name, text in (modules or {}).items():
        (site / f"{name}.py").write_text(text)


def install_doc_example(site: Path) -> None:
    project = tomllib.loads(doc_block("toml"))["project"]
    install(site, project["name"], entry_points_txt(project["entry-points"]),
            {"securitynet_demo": doc_block("python")}, version=project["version"])


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
    for name in [m for m in sys.modules if m.startswith(("sn_", "securitynet_demo"))]:
        del sys.modules[name]


def plugins_json(*args: str) -> tuple[int, list[dict]]:
    from securitynet.cli import app

    result = CliRunner().invoke(app, ["plugins", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_the_documented_package_adds_an_attack_a_dataset_an_architecture_and_cards(site: Path) -> None:
    from securitynet.catalog.builtin import load_builtin_catalog
    from securitynet.cli import app
    from securitynet.data import load_split
    from securitynet.zoo.archs import build_architecture

    install_doc_example(site)
    code, rows = plugins_json()
    assert code == 0
    demo = {row["group"]: row for row in rows if row["distribution"] == "securitynet-demo 0.1"}
    assert {group: (row["name"], row["object"], row["provides"]) for group, row in demo.items()} == {
        "securitynet.attacks": ("demo", "securitynet_demo:TestConfidence", ["demo.test_confidence"]),
        "securitynet.datasets": ("tiny_shapes", "securitynet_demo:TINY_SHAPES", ["tiny_shapes"]),
        "securitynet.architectures": ("tiny_mlp", "securitynet_demo:tiny_mlp", ["tiny_mlp"]),
        "securitynet.card_sources": ("demo", "securitynet_demo:cards", ["demo/tiny_shapes/tiny_mlp"]),
    }
    builtin = [row for row in rows if row["distribution"] != "securitynet-demo 0.1"]
    assert builtin and all(row["distribution"].startswith("securitynet") and not row["error"] for row in builtin)
    assert {"mia.correctness", "backdoor.strip"} <= {p for row in builtin for p in row["provides"]}

    listed = CliRunner().invoke(app, ["attacks", "list", "demo.*", "--format", "json"])
    assert [a["name"] for a in json.loads(listed.stdout)] == ["demo.test_confidence"]
    assert "demo/tiny_shapes/tiny_mlp" in {c.id for c in load_builtin_catalog().cards}

    # The example's dataset, network and measurement work together (through a minimal stand-in for the context).
    rng = np.random.default_rng(0)
    (site / "data" / "tiny_shapes").mkdir(parents=True)
    for split, n in (("train", 6), ("test", 4)):
        np.savez(site / "data" / "tiny_shapes" / f"{split}.npz", images=rng.integers(0, 256, (n, 8, 8), np.uint8),
                 labels=np.arange(n) % 2)
    roots = [site / "data"]
    assert len(load_split("tiny_shapes", "test", roots)) == 4
    network = build_architecture("tiny_mlp", num_classes=2)

    class Context:
        def dataset_info(self):
            return sys.modules["securitynet_demo"].TINY_SHAPES

        def load_split(self, split):
            return load_split("tiny_shapes", split, roots)

        def posteriors(self, target, split):
            return torch.softmax(target(torch.from_numpy(split.images / 255.0).float()), dim=1).detach().numpy()

    attack = sys.modules["securitynet_demo"].TestConfidence()
    confidence = attack.run(network, Context()).metrics["mean_confidence"]
    assert 0.5 <= confidence <= 1.0  # the mean top-1 posterior of two classes


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
    expected = r"'number' \(sn_odd:NUMBER, from sn-odd 1.2\) failed to load: PluginError: sn_odd:NUMBER is 'int', not"
    with pytest.warns(plugins.PluginWarning, match=expected + " a module or a constructor"):
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

    impostor = doc_block("python").replace('name = "demo.test_confidence"', 'name = "mia.correctness"')
    install(site, "sn-impostor", "[securitynet.attacks]\nimpostor = sn_impostor:TestConfidence\n",
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
