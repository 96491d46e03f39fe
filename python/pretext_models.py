"""Pretext's encoders in plain PyTorch, for the state_dicts that `pretext-cli export` writes.

    import json, torch, pretext_models
    model = pretext_models.build(json.load(open("encoder.json")))
    model.load_state_dict(torch.load("encoder.pt"), strict=True)
    features = model.eval()(pretext_models.normalize(images))  # images [N, C, H, W] in [0, 1]

The modules take normalised images ((x - 0.5) / 0.5, as the sidecar's "input" says) and return
the features Pretext's probes evaluate: the mean over positions of the last stage, [N, D].
The ResNets use torchvision's key names (torchvision.models.resnet18/34 with a 3x3 conv1, no
max-pool and fc = Identity load the same files when the width is 64); ResNet here also builds
other widths. Needs nothing but torch.
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ConvNet", "MLP", "ResNet", "ViT", "build", "normalize"]


def normalize(images):
    """Images in [0, 1] -> the range the encoders were trained on."""
    return (images - 0.5) / 0.5


class ConvNet(nn.Sequential):
    """Four 3x3 Conv-BN-ReLU stages of widths w, 2w, 4w, 8w (2x2 max-pool after the first three),
    then global average pooling: an 8w-dimensional feature. norm: "batch", "layer" (GroupNorm
    with one group) or "none" (biased convolutions), as backbone.norm."""

    def __init__(self, in_channels=1, width=32, norm="batch"):
        widths = [in_channels, width, 2 * width, 4 * width, 8 * width]
        super().__init__()
        for i in range(4):
            c = widths[i + 1]
            n = {"batch": lambda: nn.BatchNorm2d(c), "layer": lambda: nn.GroupNorm(1, c),
                 "none": nn.Identity}[norm]()
            layers = [nn.Conv2d(widths[i], c, 3, padding=1, bias=norm == "none"), n,
                      nn.ReLU(inplace=True)]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            self.add_module("stage%d" % (i + 1), nn.Sequential(*layers))
        self.feature_dim = 8 * width

    def forward(self, x):
        return super().forward(x).mean((2, 3))


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet-18/34 under torchvision's key names (conv1, bn1, layer1..4, downsample), any width,
    with the small-image stem (3x3 stride-1 conv1, no max-pool) or the ImageNet one."""

    def __init__(self, depth=18, in_channels=1, width=64, stem="small"):
        super().__init__()
        blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(width)
        inplanes = width
        for s, n in enumerate(blocks):
            planes = width << s
            layer = []
            for b in range(n):
                layer.append(BasicBlock(inplanes, planes, 2 if (b == 0 and s > 0) else 1))
                inplanes = planes
            self.add_module("layer%d" % (s + 1), nn.Sequential(*layer))
        self.feature_dim = inplanes

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, "layer%d" % i)(x)
        return x.mean((2, 3))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x)) (ratio 4, exact GELU)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        b, l, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, l, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """MAE's ViT without a class token: patch embedding, fixed 2-D sin-cos position embeddings
    (a buffer, in the state_dict), pre-norm blocks, a final LayerNorm, mean of the tokens."""

    def __init__(self, in_channels=1, width=64, patch_size=4, depth=4, heads=4, image_size=28):
        super().__init__()
        grid = image_size // patch_size
        self.patch_embed = nn.Conv2d(in_channels, width, patch_size, patch_size)
        self.register_buffer("pos_embed", torch.zeros(1, grid * grid, width))
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.feature_dim = width

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x).mean(1)


class MLP(nn.Module):
    """One fully connected layer of `width` sigmoid units on the flattened image (the early
    denoising autoencoders' encoder): a `width`-dimensional feature."""

    def __init__(self, in_channels=1, width=256, image_size=28):
        super().__init__()
        self.fc = nn.Linear(in_channels * image_size * image_size, width)
        self.feature_dim = width

    def forward(self, x):
        return torch.sigmoid(self.fc(x.flatten(1)))


def build(sidecar):
    """The module a Pretext export's sidecar (encoder.json, as a dict) describes, untrained."""
    a = sidecar["architecture"] if "architecture" in sidecar else sidecar
    name, c, w = a["name"], a["in_channels"], a["width"]
    if name == "convnet":
        return ConvNet(c, w, a.get("norm", "batch"))
    if name in ("resnet18", "resnet34"):
        return ResNet(int(name[6:]), c, w, a.get("stem", "small"))
    if name == "vit":
        return ViT(c, w, a["patch_size"], a["depth"], a["heads"], a["image_size"])
    if name == "mlp":
        return MLP(c, w, a["image_size"])
    raise ValueError("unknown architecture %r (expected convnet, resnet18, resnet34, vit or mlp)" % name)
