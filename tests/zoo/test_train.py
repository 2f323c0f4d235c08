"""The shared trainer: determinism, soft labels, recipes, augmentation, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from securitynet.catalog.card import InputSpec
from securitynet.errors import TrainingError
from securitynet.zoo.archs import build_architecture
from securitynet.zoo.target import images_to_tensor
from securitynet.zoo.train import TrainRecipe, _augment, init_module, train_architecture, train_classifier

SPEC = InputSpec(channels=1, size=(8, 8))
MLP_KWARGS = {"in_channels": 1, "input_size": 8, "hidden": [32]}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn digits as uint8 8x8 images (0..16 scaled to 0..255), split in two halves."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    labels = data.target.astype(np.int64)
    return images[::2], labels[::2], images[1::2], labels[1::2]


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _accuracy(module: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        return float((module(images_to_tensor(images, SPEC)).argmax(1).numpy() == labels).mean())


def test_same_seed_gives_identical_weights_and_another_seed_does_not(digits):
    images, labels, _, _ = digits
    recipe = TrainRecipe(epochs=2, batch_size=64, optimizer="sgd", lr=0.05, augmentation="crop")

    def run(seed: int) -> tuple[dict[str, torch.Tensor], float]:
        module, report = train_architecture(
            "small_cnn", images[:300], labels[:300], num_classes=10, input_spec=SPEC,
            recipe=recipe.replace(seed=seed), arch_kwargs={"in_channels": 1, "input_size": 8, "channels": [8]},
            device="cpu",
        )
        return _state(module), report.final_loss

    first, loss_first = run(0)
    again, loss_again = run(0)
    other, _ = run(1)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert loss_first == loss_again
    assert any(not torch.equal(first[k], other[k]) for k in first if first[k].is_floating_point())


def test_training_learns_digits_and_reports_what_it_did(digits):
    images, labels, test_images, test_labels = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    before = _accuracy(module, test_images, test_labels)
    report = train_classifier(
        module, images, labels, input_spec=SPEC, epochs=5, batch_size=32, optimizer="adam", lr=3e-3,
        weight_decay=0.0, device="cpu",
    )
    after = _accuracy(module, test_images, test_labels)
    assert before < 0.3 and after > 0.85
    assert not module.training
    batches = -(-len(images) // 32)
    assert report.steps == 5 * batches and report.epochs == pytest.approx(5.0)
    assert [h["epoch"] for h in report.history] == [1, 2, 3, 4, 5]
    assert report.history[-1]["loss"] < report.history[0]["loss"]
    assert report.final_loss == report.history[-1]["loss"]
    assert 0.85 < report.final_train_accuracy <= 1.0
    assert report.recipe_hash == TrainRecipe(
        epochs=5, batch_size=32, optimizer="adam", lr=3e-3, weight_decay=0.0
    ).hash()
    assert report.num_examples == len(images) and report.device == "cpu" and not report.stopped_early


def test_steps_mode_cosine_schedule_and_lone_last_example(digits):
    images, labels, _, _ = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    # 65 examples in batches of 32: the lone 65th joins the second batch (batch norm needs two).
    report = train_classifier(module, images[:65], labels[:65], input_spec=SPEC, steps=7, batch_size=32, device="cpu")
    assert report.steps == 7
    assert report.epochs == pytest.approx(3.5)
    assert len(report.history) == 4
    assert report.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine reaches zero at the last step


def test_soft_label_training_reduces_kl_to_the_targets(digits):
    images, _, _, _ = digits
    images = images[:400]
    teacher = init_module("mlp", 10, seed=7, arch_kwargs={"in_channels": 1, "input_size": 8, "hidden": [64]})
    with torch.no_grad():
        targets = torch.softmax(2.0 * teacher(images_to_tensor(images, SPEC)), dim=1).numpy()

    def kl(student: torch.nn.Module) -> float:
        with torch.no_grad():
            log_p = F.log_softmax(student(images_to_tensor(images, SPEC)), dim=1)
        return float(F.kl_div(log_p, torch.from_numpy(targets), reduction="batchmean"))

    for loss in ("kl", "soft_ce"):
        student = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
        before = kl(student)
        report = train_classifier(
            student, images, None, soft_labels=targets, input_spec=SPEC, epochs=30, batch_size=64,
            optimizer="adam", lr=3e-3, weight_decay=0.0, soft_label_loss=loss, device="cpu",
        )
        after = kl(student)
        assert after < 0.3 * before, (loss, before, after)
        assert report.history[-1]["loss"] < report.history[0]["loss"]
        # Agreement with the teacher's top label is what train accuracy means without hard labels.
        assert report.final_train_accuracy > 0.6


def test_recipe_validation_hash_and_round_trip():
    recipe = TrainRecipe(epochs=3, lr=0.1, seed=4)
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe
    assert recipe.hash() == TrainRecipe(epochs=3, lr=0.1, seed=4).hash()
    assert recipe.hash() != recipe.replace(lr=0.2).hash()
    assert recipe.hash() != recipe.replace(seed=5).hash()
    assert recipe.hash() == recipe.replace(max_time_s=5.0).hash()  # a time limit is not what is trained
    by_steps = recipe.replace(steps=100)
    assert by_steps.epochs is None and by_steps.steps == 100
    with pytest.raises(TrainingError, match="exactly one of epochs and steps"):
        TrainRecipe(epochs=3, steps=10)
    with pytest.raises(TrainingError, match="optimizer"):
        TrainRecipe(optimizer="rmsprop")  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="augmentation"):
        TrainRecipe(augmentation="mixup")  # type: ignore[arg-type]
    with pytest.raises(TrainingError, match="unknown fields"):
        TrainRecipe.from_dict({"epochs": 1, "warmup": 3})


def test_bad_training_inputs_give_one_clear_error(digits):
    images, labels, _, _ = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    with pytest.raises(TrainingError, match="uint8"):
        train_classifier(module, images.astype(np.float32), labels, input_spec=SPEC, device="cpu")
    with pytest.raises(TrainingError, match="labels go up to 12"):
        train_classifier(module, images[:4], np.array([0, 1, 2, 12]), input_spec=SPEC, device="cpu")
    with pytest.raises(TrainingError, match="labels must be 4 integers"):
        train_classifier(module, images[:4], np.array([0, 1, 2]), input_spec=SPEC, device="cpu")
    with pytest.raises(TrainingError, match="probability rows"):
        train_classifier(module, images[:4], soft_labels=np.full((4, 10), 0.5), input_spec=SPEC, device="cpu")
    with pytest.raises(TrainingError, match="soft labels have 3 classes"):
        train_classifier(module, images[:4], soft_labels=np.full((4, 3), 1 / 3), input_spec=SPEC, device="cpu")
    with pytest.raises(TrainingError, match="labels or soft_labels"):
        train_classifier(module, images[:4], input_spec=SPEC, device="cpu")
    diverging = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    too_high = r"^shadow 3 diverged: loss became .* at step \d+ \(learning rate .* too high\?\)$"
    with pytest.raises(TrainingError, match=too_high):
        train_classifier(diverging, images, labels, input_spec=SPEC, epochs=3, lr=1e12, momentum=0.0, device="cpu",
                         description="shadow 3")
    broken = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    with torch.no_grad():
        next(broken.parameters()).fill_(float("nan"))
    # Not finite before any update: the learning rate is not to blame, and the message does not say it is.
    with pytest.raises(TrainingError, match=r"^reference model 0 diverged: loss was nan on the first step") as info:
        train_classifier(broken, images, labels, input_spec=SPEC, epochs=1, device="cpu",
                         description="reference model 0")
    assert "learning rate" not in str(info.value)


def test_training_leaves_the_callers_random_state_alone(digits):
    images, labels, _, _ = digits
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    module = init_module("mlp", 10, seed=0, arch_kwargs={**MLP_KWARGS, "dropout": 0.5})
    train_classifier(module, images[:100], labels[:100], input_spec=SPEC, epochs=1, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_time_limit_stops_early_and_says_so(digits):
    images, labels, _, _ = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    report = train_classifier(
        module, images, labels, input_spec=SPEC, epochs=50, batch_size=16, max_time_s=1e-9, device="cpu"
    )
    assert report.stopped_early and report.steps == 1


def test_progress_bar_runs(digits):
    images, labels, _, _ = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    report = train_classifier(module, images[:64], labels[:64], input_spec=SPEC, epochs=2, progress=True, device="cpu")
    assert report.steps == 2


def _translations(image: np.ndarray, pad: int, flip: bool) -> list[np.ndarray]:
    padded = np.pad(image, pad)
    height, width = image.shape
    out = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy : dy + height, dx : dx + width]
            out.append(crop)
            if flip:
                out.append(crop[:, ::-1])
    return out


@pytest.mark.parametrize("kind", ["crop", "flip_crop"])
def test_augmentation_is_a_translation_and_flip_of_each_image(kind):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 2, 16, 16)).astype(np.float32)
    generator = torch.Generator().manual_seed(0)
    out = _augment(torch.from_numpy(images), kind, generator).numpy()
    assert out.shape == images.shape
    pad = 2  # 16 // 8
    flips = 0
    for original, augmented in zip(images, out, strict=True):
        candidates = [np.stack([c0, c1]) for c0, c1 in zip(
            _translations(original[0], pad, kind == "flip_crop"), _translations(original[1], pad, kind == "flip_crop"),
            strict=True,
        )]
        matches = [i for i, c in enumerate(candidates) if np.array_equal(c, augmented)]
        assert matches, "an augmented image is no translation (or flip) of its original"
        flips += kind == "flip_crop" and matches[0] % 2 == 1
    if kind == "flip_crop":
        assert 10 < flips < 54  # about half are flipped


@pytest.mark.parametrize("arch", ["mlp", "small_cnn", "lenet", "wrn"])
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 28), (3, 32)])
def test_small_architectures_fit_every_input_size(arch, channels, size):
    kwargs = {"in_channels": channels, "input_size": size}
    if arch == "wrn":
        kwargs.update(depth=10, widen_factor=1)
    module = build_architecture(arch, 7, **kwargs).eval()
    with torch.no_grad():
        out = module(torch.zeros(2, channels, size, size))
    assert out.shape == (2, 7)
    rebuilt = build_architecture(arch, 7, **kwargs)
    rebuilt.load_state_dict(module.state_dict())  # a saved state dict fits the module the card describes


def test_wide_resnet_depth_must_be_6n_plus_4():
    with pytest.raises(ValueError, match="6n\\+4"):
        build_architecture("wrn", 10, depth=12)


@pytest.mark.cuda
def test_training_on_the_gpu_learns(digits):
    images, labels, test_images, test_labels = digits
    module = init_module("mlp", 10, seed=0, arch_kwargs=MLP_KWARGS)
    report = train_classifier(module, images, labels, input_spec=SPEC, epochs=5, optimizer="adam", lr=3e-3,
                              batch_size=32, device="cuda")
    assert report.device.startswith("cuda")
    assert _accuracy(module.cpu(), test_images, test_labels) > 0.85
