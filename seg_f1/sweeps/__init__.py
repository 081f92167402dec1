"""Many runs answering one question: the Optuna study's storage (``study``), heartbeats that
requeue a dead worker's trial (``heartbeat``), pruning (``pruning``), the report of any multirun
(``trials``, ``report``) and the paired loss table (``ablation``, ``ablation_report``). The Hydra
sweeper itself lives in ``hydra_plugins/seg_f1_sweepers``, where Hydra looks for it, and imports
from here."""
