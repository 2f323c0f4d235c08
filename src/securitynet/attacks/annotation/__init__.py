"""Annotation: what a model does on the data it was trained on and on held-out data.

``annotation.accuracy`` (`accuracy`) measures train accuracy on the member pool, test accuracy, the overfit
gap, the number of classes in the output and the card's training-set size; `splits` chooses the member pool
and the test split (with the fallback to a subset that is present when the full training split is not).
It is a job like every attack: planned, keyed, run on any executor and stored by the engine.
"""
