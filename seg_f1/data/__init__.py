from seg_f1.data.datamodule import FaceParsingDataModule
from seg_f1.data.folder import FolderSource, Sample

__all__ = ["FaceParsingDataModule", "FolderSource", "Sample"]
