"""Built-in datasets; each module registers its datasets when imported."""

from securitynet.data.datasets import (  # noqa: F401
    cifar,
    cub,
    digits,
    gtsrb,
    imagenet,
    medmnist,
    mnist,
    samples,
    svhn,
)
