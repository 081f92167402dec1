"""seg_f1's Hydra plugins; Hydra finds them by scanning the ``hydra_plugins`` namespace."""
