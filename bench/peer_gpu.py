#!/usr/bin/env python3
"""The PyTorch peer of bench_gpu: SimCLR with a CIFAR ResNet-18 on 32x32 colour images, written the
way a user would for a GPU: per-image torchvision transforms in a Dataset over the uint8 array, a
DataLoader with workers and pinned memory, bf16 autocast, channels-last, cudnn.benchmark, the
loss read back only when printed. The same model as Pretext's (core/models/resnet.cpp: 3x3 stride-1
stem, no max-pool; projector 512-2048-128 with batch norm), loss (NT-Xent, T = 0.5), augmentation
(core/augment/presets.cpp "simclr"), optimiser (Adam, no weight decay on biases and norms) and batch.

Reads CIFAR-10's binary files (data_batch_1..5.bin) from DIR. Counts source images per second
(two views each) over STEPS steps after 20 warm-up steps, and prints a human line and
  RESULT img_per_s=... ms_per_step=... params=...
  python3 bench/peer_gpu.py DIR [STEPS] [WORKERS] [DEVICE] [BATCH]   (default 100 8 cuda 512)"""
import os, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import peer_transforms
from PIL import Image

root = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
device = torch.device(sys.argv[4] if len(sys.argv) > 4 else 'cuda')
batch = int(sys.argv[5]) if len(sys.argv) > 5 else 512
torch.manual_seed(0)
if device.type == 'cpu': torch.set_num_threads(2)
torch.backends.cudnn.benchmark = True

files = [os.path.join(root, f'data_batch_{i}.bin') for i in range(1, 6)]
raw = np.concatenate([np.fromfile(f, np.uint8) for f in files]).reshape(-1, 3073)
images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # HWC for PIL

aug = peer_transforms.simclr(32)  # core/augment/presets.cpp "simclr"

class Views(torch.utils.data.Dataset):
    def __len__(self): return len(images)
    def __getitem__(self, i):
        im = Image.fromarray(images[i])
        return aug(im), aug(im)

class Block(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        self.conv2, self.bn2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.shortcut = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                         if stride != 1 or i != o else nn.Identity())
    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

class ResNet18(nn.Module):
    def __init__(self, w=64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        layers, i = [], w
        for s in range(4):
            o = w << s
            layers += [Block(i, o, 2 if s > 0 else 1), Block(o, o, 1)]
            i = o
        self.layers = nn.Sequential(*layers)
    def forward(self, x): return self.layers(self.stem((x - 0.5) / 0.5)).mean((2, 3))

model = nn.Sequential(ResNet18(), nn.Linear(512, 2048, bias=False), nn.BatchNorm1d(2048),
                      nn.ReLU(inplace=True), nn.Linear(2048, 128)).to(device, memory_format=torch.channels_last)
params = list(model.parameters())
groups = [{'params': [p for p in params if p.dim() > 1]},
          {'params': [p for p in params if p.dim() <= 1], 'weight_decay': 0.0}]
opt = torch.optim.Adam(groups, lr=1e-3, weight_decay=1e-6)
n_params = sum(p.numel() for p in params)

def nt_xent(z1, z2, t=0.5):
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.t() / t
    logits.fill_diagonal_(float('-inf'))
    n = z1.shape[0]
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device))

loader = torch.utils.data.DataLoader(Views(), batch_size=batch, shuffle=True, drop_last=True,
                                     num_workers=workers, pin_memory=device.type == 'cuda',
                                     persistent_workers=workers > 0)
amp = device.type == 'cuda'
warm = 20
it = iter(loader)
for i in range(warm + steps):
    if i == warm:
        if amp: torch.cuda.synchronize()
        t0 = time.time()
    try: v1, v2 = next(it)
    except StopIteration:
        it = iter(loader)
        v1, v2 = next(it)
    x = torch.cat([v1, v2]).to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        z = model(x)
    loss = nt_xent(*z.chunk(2))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
if amp: torch.cuda.synchronize()
dt = time.time() - t0
print(f"peer simclr resnet18 (torchvision + DataLoader, {workers} workers, batch {batch}, {device}): "
      f"{steps * batch / dt:.0f} source img/s ({dt / steps * 1000:.1f} ms/step), loss {loss.item():.3f}; "
      f"{n_params} parameters")
print(f"RESULT img_per_s={steps * batch / dt:.1f} ms_per_step={dt / steps * 1000:.2f} params={n_params}")
