"""Trojaned models with ground truth: trigger functions, data poisoning, and the trojan zoo generator.

    from securitynet.zoo.trojan import apply_trigger, trigger_from_dict, build_trojan_zoo

Triggers work on uint8 images in the dataset's natural layout, like everything that feeds a `TargetModel`,
and are described by plain dicts (``{"kind": "patch", "size": 5, "position": "bottom-right", ...}``): the
same dicts that model cards carry in ``backdoor.trigger``, so a detector can rebuild a card's trigger.
"""

from securitynet.zoo.trojan.triggers import (
    TRIGGER_KINDS,
    BlendedTrigger,
    PatchTrigger,
    Trigger,
    TriggerError,
    WaNetTrigger,
    apply_trigger,
    sample_trigger,
    trigger_from_dict,
)

__all__ = [
    "TRIGGER_KINDS",
    "BlendedTrigger",
    "PatchTrigger",
    "Trigger",
    "TriggerError",
    "WaNetTrigger",
    "apply_trigger",
    "sample_trigger",
    "trigger_from_dict",
]
