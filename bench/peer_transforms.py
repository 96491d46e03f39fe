"""Torchvision pipelines of Pretext's augmentation presets (core/augment/presets.cpp), shared by
the PyTorch peers."""
from torchvision import transforms


def simclr(size=32):
    """The "simclr" preset: SimCLR's colour recipe; blur kernel 3 at 32 px (10% of the side, odd,
    at least 3)."""
    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.08, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.RandomGrayscale(p=0.2),
        transforms.RandomApply([transforms.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5),
        transforms.ToTensor(),
    ])
