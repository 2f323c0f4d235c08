"""Turn catalog cards into runnable models: architectures, weights (fetch, verify, safe load), TargetModel."""
