"""The per-channel mean and std (0..1 scale) a run normalises with unless its data config says
otherwise: ImageNet's, which pretrained encoders expect. Here, not in the datamodule, so that
inference can read them without loading Lightning."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
