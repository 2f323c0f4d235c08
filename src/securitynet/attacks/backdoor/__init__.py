"""Backdoor detection: is a model trojaned, and if so, towards which label?

Model-level detectors (Neural Cleanse, ABS, MNTD) score a model without knowing any trigger; STRIP scores
inputs and, where the card records the trigger, reports input-level AUROC on triggered test images. Every
detector stores per-model ``score`` (higher means "backdoored"), ``flagged`` (0/1) and, where it names one,
``suspected_target`` and ``target_hit``, so analysis (``analysis.stats.backdoor_detection``) recomputes
model-level AUROC for any subset of models from the stored results, the detectors' declared scores and the
cards' ground truth. What every detector declares alike (family, headline and score metrics, the 2-D image
check) is stated once, in `detector.BackdoorDetector`.
"""
