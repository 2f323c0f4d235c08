"""Jobs on a GPU: every family of attack, the process pool (spawned workers) and Ray's GPU tasks.

Needs CUDA: skipped with a reason elsewhere (the `cuda` marker, see tests/conftest.py). The wiring that needs
no GPU is tested in test_devices.py; benchmarks/gpu_smoke.sh runs every attack on a public model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from securitynet.engine.executors import make_executor
from securitynet.engine.plan import build_plan
from securitynet.engine.run import execute_plan
from securitynet.store import Store

pytestmark = pytest.mark.cuda

def _run(tmp_path, name: str, cards, attacks: dict, **options):
    store = Store(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
    plan = build_plan(cards, ",".join(attacks), seeds=1, params=attacks, store=store)
    summary = execute_plan(plan, store, progress=False, **options)
    assert [r.error for r in summary.failed] == []
    return store.jobs_frame(), store.results_frame()


def test_every_family_runs_on_the_gpu_and_records_it(tmp_path, tiny_cards, one_attack_per_family) -> None:
    jobs, results = _run(tmp_path, "cuda", tiny_cards[2:], one_attack_per_family, device="cuda")
    name = torch.cuda.get_device_name(0)
    assert set(jobs.device) == {f"cuda:0 ({name})"[:64]}
    assert sorted(jobs.attack) == sorted(one_attack_per_family)
    _, on_cpu = _run(tmp_path, "cpu", tiny_cards[2:], {"mia.correctness": {"n": 100}}, device="cpu")
    # Label-only membership on the same images: the GPU's posteriors give the same top-1 labels.
    gpu = results[results.attack == "mia.correctness"].set_index("metric").value
    cpu = on_cpu.set_index("metric").value
    np.testing.assert_allclose(gpu.loc["auc"], cpu.loc["auc"], atol=0.02)


def test_an_explicit_gpu_index_is_used(tmp_path, tiny_cards) -> None:
    last = torch.cuda.device_count() - 1
    jobs, _ = _run(tmp_path, "index", tiny_cards[:1], {"mia.correctness": {"n": 100}}, device=f"cuda:{last}")
    assert set(jobs.device) == {f"cuda:{last} ({torch.cuda.get_device_name(last)})"[:64]}


def test_trainer_and_target_keep_tensors_on_the_gpu_and_answer_in_numpy(tiny_cards, digits_train) -> None:
    from securitynet.zoo.loader import build_module, load_target
    from securitynet.zoo.train import train_classifier

    card = tiny_cards[0]
    module = build_module(card)
    report = train_classifier(module, digits_train.images[:256], digits_train.labels[:256], input_spec=card.input,
                              device="cuda", steps=5)
    assert report.device.startswith("cuda") and {p.device.type for p in module.parameters()} == {"cuda"}
    target = load_target(card, device="cuda")
    probs = target.predict_proba(digits_train.images[:64])
    assert isinstance(probs, np.ndarray) and probs.shape == (64, 10)


def test_process_pool_runs_gpu_jobs_in_spawned_workers(tmp_path, tiny_cards) -> None:
    jobs, _ = _run(tmp_path, "process", tiny_cards, {"mia.correctness": {"n": 100}},
                   executor=make_executor("process", workers=2), device="cuda")
    assert len(jobs) == len(tiny_cards) and all(d.startswith("cuda:0 (") for d in jobs.device)


def test_ray_gpu_tasks_use_the_gpu_ray_assigned(tmp_path, tiny_cards) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install 'securitynet[ray]')")
    jobs, _ = _run(tmp_path, "ray", tiny_cards, {"mia.correctness": {"n": 100}},
                   executor=make_executor("ray", workers=2), device="cuda", gpus_per_job=0.5)
    assert len(jobs) == len(tiny_cards) and all(d.startswith("cuda:0 (") for d in jobs.device)
    visible = {d["environment"]["cuda_visible_devices"] for d in jobs.data_json}
    assert None not in visible and "" not in visible  # Ray set CUDA_VISIBLE_DEVICES for each task
