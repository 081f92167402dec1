"""The datasets and the datamodule, imported on first use (PEP 562): ``seg_f1.data.images`` and
the other light modules load without Lightning and albumentations, which predict never needs."""

from importlib import import_module

_HOMES = {
    "CelebAMaskHQ": "celebamask_hq",
    "FaceParsingDataModule": "datamodule",
    "FolderSource": "folder",
    "Helen": "helen",
    "LaPa": "lapa",
    "LfwParts": "lfw_parts",
    "Sample": "folder",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
