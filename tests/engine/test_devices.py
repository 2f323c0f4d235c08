"""`--device` and `--gpus-per-job` wiring, checked without a GPU: parsing, one-line refusals, Ray's num_gpus."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from securitynet.cli import app
from securitynet.engine.executors import RayExecutor, make_executor
from securitynet.engine.plan import build_plan
from securitynet.engine.run import execute_plan
from securitynet.engine.worker import RunSettings
from securitynet.errors import DeviceError
from securitynet.store import Store
from securitynet.zoo.devices import check_available, parse_device, resolve_device

runner = CliRunner()


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has no GPU, even where the tests run on one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# --- parsing and checking ------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1"),
                                            (torch.device("cpu"), "cpu")])
def test_device_names_parse(spec: Any, expected: str) -> None:
    assert parse_device(spec) == torch.device(expected)


@pytest.mark.parametrize("spec", ["gpu", "mps", "cuda:x", "", "meta"])
def test_other_device_names_are_one_clear_error(spec: str) -> None:
    with pytest.raises(DeviceError, match=r"use cpu, cuda or cuda:N") as raised:
        parse_device(spec)
    assert repr(spec) in str(raised.value) and "\n" not in str(raised.value)


def test_cuda_without_a_gpu_is_refused(no_cuda: None) -> None:
    with pytest.raises(DeviceError, match=r"device cuda:0: no usable CUDA device on this machine.*--device cpu"):
        resolve_device("cuda:0")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")  # the default falls back to the CPU


def test_a_gpu_index_beyond_the_machine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_available(torch.device("cuda:1")) == torch.device("cuda:1")
    with pytest.raises(DeviceError, match=r"cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        check_available(torch.device("cuda:2"))


@pytest.mark.parametrize("executor, device, gpus, message", [
    ("local", None, 1.0, "--gpus-per-job applies to --executor ray, not local"),
    ("process", "cpu", 0.5, "--gpus-per-job applies to --executor ray, not process"),
    ("ray", "cuda:1", None, "Ray chooses each job's GPU; use --device cuda"),
    ("ray", "cpu", 1.0, "--gpus-per-job asks for GPUs but --device is cpu"),
    ("ray", "cuda", 0.0, "--gpus-per-job must be a number of GPUs above 0"),
    ("ray", "cuda", -1.0, "--gpus-per-job must be a number of GPUs above 0"),
])
def test_executors_refuse_contradictory_requests(executor: str, device: str | None, gpus: float | None,
                                                 message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        make_executor(executor).check_device(device, gpus)


def test_ray_checks_no_gpu_on_the_driver(no_cuda: None) -> None:
    """The driver of a cluster run often has no GPU: the cluster's GPUs are checked once connected."""
    make_executor("ray").check_device("cuda", 0.5)


# --- the CLI: one line, before anything runs -----------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "device cuda: no usable CUDA device on this machine"),
    (["--device", "tpu"], "device 'tpu' is not a device name: use cpu, cuda or cuda:N"),
    (["--gpus-per-job", "0.5"], "--gpus-per-job applies to --executor ray, not local"),
])
def test_evaluate_refuses_an_unusable_device_in_one_line(tmp_path, tiny_cards, no_cuda: None, args: list[str],
                                                         message: str) -> None:
    db = tmp_path / "cli.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    result = runner.invoke(app, ["--db", str(db), "evaluate", "--models", "test/tiny_*", "--attacks", "test.probe",
                                 "--no-progress", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    store = Store(str(db))
    assert store.jobs_frame().empty  # no job ran, none was recorded as failed


def test_annotate_refuses_an_unusable_device_in_one_line(tmp_path, tiny_cards, no_cuda: None) -> None:
    db = tmp_path / "annotate.sqlite"
    Store(str(db)).upsert_cards(tiny_cards)
    result = runner.invoke(app, ["--db", str(db), "annotate", "test/tiny_*", "--device", "cuda"])
    assert result.exit_code == 1
    assert "device cuda: no usable CUDA device" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert Store(str(db)).jobs_frame().empty


# --- Ray: num_gpus reaches the remote call ------------------------------------------------------


class _FakeRay(types.ModuleType):
    """Just enough of ray for RayExecutor.run: records the options of the remote call, runs nothing."""

    def __init__(self, gpus: float) -> None:
        super().__init__("ray")
        self.gpus = gpus
        self.options: dict[str, Any] | None = None
        self.submitted: list[RunSettings] = []
        import ray.exceptions  # the real error classes: the executor tells lost workers from failed code by them

        self.exceptions = ray.exceptions

    def is_initialized(self) -> bool:
        return True  # as if connected already: the executor neither starts nor stops it

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 4.0, "GPU": self.gpus} if self.gpus else {"CPU": 4.0}

    def remote(self, function: Any) -> Any:
        fake = self

        class _Task:
            def options(self, **options: Any) -> Any:
                fake.options = options
                return self

            def remote(self, group: Any, settings: RunSettings) -> Any:
                fake.submitted.append(settings)
                return iter(())  # a stream that ends at once: its jobs come back failed

        return _Task()

    def wait(self, refs: list[Any], num_returns: int = 1) -> tuple[list[Any], list[Any]]:
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref: Any) -> Any:
        return ref


def _run_on_fake_ray(monkeypatch, tmp_path, cards, fake: _FakeRay, device: str | None, gpus: float | None):
    monkeypatch.setitem(sys.modules, "ray", fake)
    store = Store(f"sqlite:///{tmp_path / 'ray.sqlite'}")
    plan = build_plan(cards[:2], "test.probe", seeds=1, store=store)
    return execute_plan(plan, store, executor=RayExecutor(), device=device, gpus_per_job=gpus, progress=False)


@pytest.mark.parametrize("device, gpus, cluster_gpus, expected_gpus, task_device", [
    ("cuda", None, 2, 1, "cuda"),       # a GPU job reserves one GPU by default
    ("cuda", 0.5, 1, 0.5, "cuda"),      # fractional: two jobs share one GPU
    (None, 0.25, 1, 0.25, None),        # asking for GPUs implies a GPU job
    (None, None, 4, 1, None),           # the default device reserves a GPU where the cluster has some
    (None, None, 0, None, "cpu"),       # ... and runs on the CPU where it has none
    ("cpu", None, 4, None, "cpu"),      # an explicit CPU run reserves nothing
])
def test_ray_tasks_request_the_gpus_asked_for(monkeypatch, tmp_path, tiny_cards, device, gpus, cluster_gpus,
                                              expected_gpus, task_device) -> None:
    fake = _FakeRay(cluster_gpus)
    _run_on_fake_ray(monkeypatch, tmp_path, tiny_cards, fake, device, gpus)
    assert fake.options is not None and fake.options.get("num_gpus") == expected_gpus
    assert len(fake.submitted) == 2 and {s.device for s in fake.submitted} == {task_device}


def test_ray_refuses_a_gpu_run_on_a_cluster_without_enough_gpus(monkeypatch, tmp_path, tiny_cards) -> None:
    fake = _FakeRay(gpus=1)
    with pytest.raises(DeviceError, match=r"each job asks for 2 GPU\(s\) but the Ray cluster has 1"):
        _run_on_fake_ray(monkeypatch, tmp_path, tiny_cards, fake, "cuda", 2.0)
    assert fake.submitted == []  # refused before any task was submitted


# --- the device a job ran on is stored with its result ---------------------------------------------

def test_a_job_run_on_an_explicit_cpu_device_stores_cpu(tmp_path, tiny_cards, one_attack_per_family) -> None:
    store = Store(f"sqlite:///{tmp_path / 'device.sqlite'}")
    attacks = one_attack_per_family
    plan = build_plan(tiny_cards[2:], ",".join(attacks), seeds=1, params=attacks, store=store)
    summary = execute_plan(plan, store, device=torch.device("cpu"), progress=False)
    assert [r.error for r in summary.failed] == []
    jobs = store.jobs_frame()
    assert sorted(jobs.attack) == sorted(one_attack_per_family)
    assert set(jobs.device) == {"cpu"}
    # Which physical GPUs a job saw is kept with it (None here: nothing restricted them).
    assert all("cuda_visible_devices" in data["environment"] for data in jobs.data_json)


def test_zoo_refuses_an_unusable_device_in_one_line(tmp_path, no_cuda: None) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "zoo.sqlite"), "zoo", "trojan", "--dataset", "digits",
                                 "--clean", "1", "--trojaned", "1", "--device", "cuda"])
    assert result.exit_code == 1
    assert "device cuda: no usable CUDA device" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # refused before any model trained


def test_process_pool_spawns_its_workers(monkeypatch, tmp_path, tiny_cards) -> None:
    """CUDA cannot be used in forked children, so workers are spawned, for --device cuda as for any other run."""
    from securitynet.engine import executors

    asked: list[str | None] = []

    class _Stop(Exception):
        pass

    def get_context(method: str | None = None) -> Any:
        asked.append(method)
        raise _Stop

    monkeypatch.setattr(executors.mp, "get_context", get_context)
    plan = build_plan(tiny_cards[:1], "test.probe", seeds=1, store=Store(f"sqlite:///{tmp_path / 'p.sqlite'}"))
    settings = RunSettings(run_id="r", software_version="0", executor="process", device="cuda")
    with pytest.raises(_Stop):
        list(make_executor("process").run(plan.groups, settings))
    assert asked == ["spawn"]
