from seg_f1.data.celebamask_hq import CelebAMaskHQ
from seg_f1.data.datamodule import FaceParsingDataModule
from seg_f1.data.folder import FolderSource, Sample
from seg_f1.data.helen import Helen
from seg_f1.data.lapa import LaPa

__all__ = ["CelebAMaskHQ", "FaceParsingDataModule", "FolderSource", "Helen", "LaPa", "Sample"]
