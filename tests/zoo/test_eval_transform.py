"""InputSpec.resize_shorter / center_crop: the ImageNet-style evaluation transform inside the preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from securitynet.catalog.card import InputSpec
from securitynet.errors import CardError
from securitynet.zoo.target import images_to_tensor

IMAGENET = InputSpec(channels=3, size=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     resize_shorter=256, center_crop=True)


def _reference(images: np.ndarray, spec: InputSpec) -> torch.Tensor:
    """torchvision's Resize(shorter) + CenterCrop + Normalize on the same floats."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = v2.functional.resize(x, [spec.resize_shorter], antialias=True)
    x = v2.functional.center_crop(x, list(spec.size))
    return v2.functional.normalize(x, list(spec.mean), list(spec.std))


@pytest.mark.parametrize("shape", [(300, 400), (500, 333), (256, 256), (64, 48)])
def test_resize_shorter_and_centre_crop_match_torchvision(shape: tuple[int, int]) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(2, *shape, 3), dtype=np.uint8)
    ours = images_to_tensor(images, IMAGENET)
    assert ours.shape == (2, 3, 224, 224)
    assert torch.allclose(ours, _reference(images, IMAGENET), atol=1e-4)


def test_images_already_at_the_spec_size_are_not_cropped_again() -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(1, 224, 224, 3), dtype=np.uint8)
    plain = IMAGENET.model_copy(update={"resize_shorter": None, "center_crop": False})
    # A dataset loader stores ImageNet already resized and cropped: the transform must not zoom in a second time.
    assert torch.equal(images_to_tensor(images, IMAGENET), images_to_tensor(images, plain))


def test_without_the_fields_behaviour_is_unchanged() -> None:
    images = np.random.default_rng(2).integers(0, 256, size=(1, 300, 400, 3), dtype=np.uint8)
    spec = InputSpec(channels=3, size=(224, 224))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    expected = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    assert torch.allclose(images_to_tensor(images, spec), expected)
    assert spec.resize_shorter is None and spec.center_crop is False


def test_resize_without_crop_then_fits_the_size() -> None:
    spec = InputSpec(channels=1, size=(32, 32), resize_shorter=40)
    images = np.random.default_rng(3).integers(0, 256, size=(1, 80, 120), dtype=np.uint8)
    assert images_to_tensor(images, spec).shape == (1, 1, 32, 32)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"size": (28, 28, 28), "resize_shorter": 32}, "2D images only"),
        ({"size": (224, 224), "resize_shorter": 200, "center_crop": True}, "resize_shorter >= the crop size"),
        ({"size": (224, 224), "center_crop": True}, "resize_shorter >= the crop size"),
    ],
)
def test_inconsistent_transforms_are_refused(fields: dict, message: str) -> None:
    from securitynet.catalog.card import ModelCard

    with pytest.raises(CardError, match=message):
        ModelCard.from_dict({"id": "t/x", "name": "x", "source": "file", "dataset": "imagenet",
                             "input": {"channels": 3, **fields}})


def test_pytorchcv_imagenet_cards_carry_imgclsmob_eval_transform() -> None:
    from securitynet.catalog.sources import pytorchcv

    card = pytorchcv.pytorchcv_card("resnet18")
    transform = card.extra["pytorchcv"]["eval_transform"]
    assert card.input.resize_shorter == transform["resize_short_side"] == 256
    assert card.input.center_crop and card.input.size == (transform["center_crop"],) * 2
    cifar = pytorchcv.pytorchcv_card("resnet20_cifar10")
    assert cifar.input.resize_shorter is None and not cifar.input.center_crop
