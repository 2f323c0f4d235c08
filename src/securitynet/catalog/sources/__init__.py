"""Sources of public models, one module each (`catalog.builtin` says what a source module offers).

`BUILTIN_SOURCES` are SecurityNet's own card-source plug-ins, whose cards are the built-in catalog (pyproject.toml
declares the same entry points). `LOOKUP_SOURCES` make one card at a time from its id and list none.
"""

BUILTIN_SOURCES: tuple[str, ...] = (
    "securitynet.catalog.sources.yaml_cards",
    "securitynet.catalog.sources.pytorchcv",
    "securitynet.catalog.sources.medmnist",
    "securitynet.catalog.sources.adversary_loss_landscape",
    "securitynet.catalog.sources.robust_imagenet",
    "securitynet.catalog.sources.timm_hub",
    "securitynet.catalog.sources.torchvision_weights",
    "securitynet.catalog.sources.robustbench",
)
LOOKUP_SOURCES: tuple[str, ...] = ("securitynet.catalog.sources.hf_hub",)
