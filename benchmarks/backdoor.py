"""Neural Cleanse: ours against the Adversarial Robustness Toolbox's, on the public BadNets MNIST model.

The model is verazuo's BadNet (../shared/data/models/mnist, target label 1, white 5x5 patch). ART's
`NeuralCleanse` supports Keras classifiers only, so the same weights are ported into an equivalent Keras
model (the port is checked: posteriors on 256 test images must match to 1e-4) with the model's
preprocessing ((x - 0.5) / 0.5) inside it, since ART's optimisation calls the Keras model directly.

Both run the paper's L1 objective with the same settings: the same clean test images, batch 32, one epoch
= ``n_images / 32`` steps, at most ``--max-epochs`` epochs, Adam lr 0.1, initial lambda 1e-3, patience 5,
multiplier 1.5, early stopping after 10 epochs without improvement, success threshold 0.99. Both anomaly
indices use the same MAD rule (consistency constant 1.4826, flagged above 2 for norms below the median).
Ours optimises every class in one batch and drops a class once it stops; ART optimises classes one after
the other. ART runs in a child process of its own: TensorFlow and PyTorch in one process crash. Prints
the anomaly index, the flagged classes and the wall time of each, and the ratio ours / ART (target: at
most 0.5, with the same verdict and target label).

    .venv/bin/pip install -e '.[bench]'
    SECURITYNET_MIRROR=../shared/data/models/mnist .venv/bin/python benchmarks/backdoor.py [--n-images 256]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import numpy as np
import torch

from securitynet.attacks.backdoor.neural_cleanse import NeuralCleanse, detect_outliers
from securitynet.catalog.builtin import find_card
from securitynet.data import load_split
from securitynet.engine.context import JobContext
from securitynet.zoo.loader import load_target

MODEL_ID = "file/badnet_verazuo_mnist"


def keras_badnet(state: dict[str, np.ndarray]):  # -> keras.Model (imported in the ART process only)
    """verazuo's BadNet in Keras, channels last, preprocessing inside, weights copied from the state dict."""
    import keras

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(2.0, offset=-1.0),  # (x - 0.5) / 0.5
        layers.Conv2D(16, 5, activation="relu"),
        layers.AveragePooling2D(2),
        layers.Conv2D(32, 5, activation="relu"),
        layers.AveragePooling2D(2),
        layers.Permute((3, 1, 2)),  # flatten in PyTorch's (C, H, W) order, as fc1 expects
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.layers[1].set_weights([conv(state["conv1.0.weight"]), state["conv1.0.bias"]])
    model.layers[3].set_weights([conv(state["conv2.0.weight"]), state["conv2.0.bias"]])
    model.layers[7].set_weights([state["fc1.0.weight"].T, state["fc1.0.bias"]])
    model.layers[8].set_weights([state["fc2.0.weight"].T, state["fc2.0.bias"]])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    return model


def conv(weight: np.ndarray) -> np.ndarray:
    """PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out)."""
    return weight.transpose(2, 3, 1, 0)


def run_ours(card, target, args) -> dict:
    params = {
        "n_images": args.n_images, "batch_size": 32, "steps_per_epoch": args.n_images // 32,
        "max_epochs": args.max_epochs, "lr": 0.1, "init_cost": 1e-3, "patience": 5, "cost_multiplier": 1.5,
        "early_stop_patience": 10, "early_stop_threshold": 0.99, "success_threshold": 0.99,
    }
    ctx = JobContext.standalone(card, seed=args.seed, device="cpu", job_key="benchmark-backdoor")
    started = time.perf_counter()
    result = NeuralCleanse(params).run(target, ctx)
    seconds = time.perf_counter() - started
    per_class = _read_json(result.artifacts["per_class"]["path"])
    return {
        "norms": np.array(per_class["l1_norm"]), "seconds": seconds,
        "indices": ctx.notes["clean_images"]["indices"], "epochs": per_class["epochs"],
    }


def run_art(model, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> dict:
    from art.defences.transformer.poisoning import NeuralCleanse as ArtNeuralCleanse
    from art.estimators.classification import KerasClassifier
    from art.estimators.poison_mitigation.neural_cleanse.keras import KerasNeuralCleanse

    _keep_learning_rate_on_reset(KerasNeuralCleanse)

    classifier = KerasClassifier(model=model, clip_values=(0.0, 1.0), use_logits=False)
    cleanse = ArtNeuralCleanse(classifier)(
        classifier, steps=args.max_epochs, init_cost=1e-3, norm=1, learning_rate=0.1,
        attack_success_threshold=0.99, patience=5, early_stop=True, early_stop_threshold=0.99,
        early_stop_patience=10, cost_multiplier=1.5, batch_size=32,
    )
    x = images[..., None].astype(np.float32) / 255.0
    y = np.eye(10, dtype=np.float32)[labels]
    norms = []
    started = time.perf_counter()
    # ART prints every step's accuracy and draws progress bars; both are part of its run, not of the table.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for label in range(10):
            mask, _pattern = cleanse.generate_backdoor(x, y, np.eye(10, dtype=np.float32)[label])
            norms.append(float(np.sum(np.abs(mask))))
    return {"norms": np.array(norms), "seconds": time.perf_counter() - started}


def _keep_learning_rate_on_reset(cls: type) -> None:
    """Compatibility fix for ART 1.20 under Keras 3, not a change of its algorithm.

    ``KerasNeuralCleanse.reset`` (called before every class) zeroes every variable of its Adam optimizer to
    clear the moments; under Keras 3 those variables include the learning rate, so the optimisation never
    moves and every class returns its initial random mask (anomaly index 0). The learning rate is restored.
    """
    if getattr(cls.reset, "_keeps_learning_rate", False):
        return
    original = cls.reset

    def reset(self) -> None:
        rate = float(self.opt.learning_rate)
        original(self)
        self.opt.learning_rate = rate

    reset._keeps_learning_rate = True  # type: ignore[attr-defined]
    cls.reset = reset


def _read_json(path: str) -> dict:
    import json

    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def art_worker(args: argparse.Namespace) -> None:
    """ART in its own process: TensorFlow and PyTorch in one process crash (oneDNN/OpenMP clash, exit 139)."""
    import json

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    data = np.load(args.art_worker)
    state = {key.removeprefix("state."): data[key] for key in data.files if key.startswith("state.")}
    model = keras_badnet(state)
    images, labels = data["images"], data["labels"]
    port_error = float(np.abs(model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0)
                              - data["posteriors"]).max())
    result = {"port_error": port_error}
    if port_error <= 1e-4:
        art = run_art(model, images, labels, args)
        result.update({"norms": art["norms"].tolist(), "seconds": art["seconds"]})
    with open(args.art_worker + ".json", "w", encoding="utf-8") as fh:
        json.dump(result, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-images", type=int, default=256, help="clean test images (one epoch = n/32 steps)")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for both frameworks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--art-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.art_worker:
        art_worker(args)
        return
    torch.set_num_threads(args.threads)

    card = find_card(MODEL_ID)
    target = load_target(card, device="cpu")
    test = load_split("mnist", "test")
    print(f"model {MODEL_ID} (true target label {card.backdoor.target_label}), {args.n_images} clean test images, "
          f"at most {args.max_epochs} epochs of {args.n_images // 32} steps, {args.threads} thread(s)", flush=True)
    ours = run_ours(card, target, args)
    positions = test.positions_of(np.array(ours["indices"]))
    images, labels = test.images[positions], test.labels[positions]

    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nc-benchmark-") as folder:
        exchange = os.path.join(folder, "art.npz")
        state = {f"state.{k}": v.cpu().numpy() for k, v in target.module.state_dict().items()}
        np.savez(exchange, images=images, labels=labels, posteriors=target.predict_proba(images), **state)
        subprocess.run(
            [sys.executable, __file__, "--art-worker", exchange, "--max-epochs", str(args.max_epochs),
             "--threads", str(args.threads)],
            check=True,
        )
        with open(exchange + ".json", encoding="utf-8") as fh:
            art = json.load(fh)
    print(f"Keras port max |posterior difference| {art['port_error']:.1e}")
    if "norms" not in art:
        raise SystemExit(f"the Keras port differs from the PyTorch model by {art['port_error']}")
    art["norms"] = np.array(art["norms"])

    rows = []
    for name, run in (("securitynet", ours), ("ART 1.20 (Keras)", art)):
        report = detect_outliers(run["norms"], 2.0)
        rows.append((name, report, run["seconds"], run["norms"]))
    header = f"{'implementation':<18} {'anomaly index':>13} {'flagged':>8} {'target':>6} {'wall s':>8}"
    print(f"{header}  L1 norms per class")
    for name, report, seconds, norms in rows:
        flagged = ",".join(map(str, report.flagged_classes)) or "-"
        print(f"{name:<18} {report.model_anomaly_index:>13.2f} {flagged:>8} {report.suspected_target:>6} "
              f"{seconds:>8.1f}  {np.round(norms, 1).tolist()}")
    print(f"epochs per class, ours: {ours['epochs']}")
    (_, ours_report, ours_s, _), (_, art_report, art_s, _) = rows
    same = ours_report.flagged_classes[:1] == art_report.flagged_classes[:1] and bool(ours_report.flagged_classes)
    print(f"wall-time ratio ours / ART = {ours_s / art_s:.3f} (target <= 0.5); same verdict and target: {same}")


if __name__ == "__main__":
    main()
