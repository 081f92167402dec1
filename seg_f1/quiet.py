"""Console messages a user cannot act on, dropped at their source so the run's own output (and
every warning that asks for a change) stays visible."""

from __future__ import annotations

import logging
import warnings

UNACTIONABLE = ("💡 Tip:",)  # Lightning's advertisements for litlogger and litmodels


class DropUnactionable(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(UNACTIONABLE)


def quiet_lightning() -> None:
    """Idempotent: the filter is added once per logger. Lightning's own use of a deprecated
    torch pytree check (``lightning/pytorch/utilities/_pytree.py``) is Lightning's to fix."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropUnactionable) for f in logger.filters):
            logger.addFilter(DropUnactionable())
