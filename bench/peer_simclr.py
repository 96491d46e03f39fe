#!/usr/bin/python3
"""The PyTorch peer of Pretext's simclr-fashion preset, written the way a user would: per-image
torchvision transforms in a Dataset, a DataLoader, the same ConvNet, projector, NT-Xent and Adam.
Prints img/s over STEPS steps after a warm-up.  Needs Debian's python3-torch python3-torchvision
(scripts/setup.sh --bench).   /usr/bin/python3 bench/peer_simclr.py [STEPS] [WORKERS]"""
import gzip, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from torchvision import transforms
from PIL import Image

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
workers = int(sys.argv[2]) if len(sys.argv) > 2 else 0
torch.set_num_threads(2)
torch.manual_seed(0)

with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)

aug = transforms.Compose([
    transforms.RandomResizedCrop(28, scale=(0.2, 1.0)),
    transforms.RandomHorizontalFlip(),
    transforms.RandomApply([transforms.ColorJitter(0.4, 0.4)], p=0.8),
    transforms.ToTensor(),
])

class Pairs(torch.utils.data.Dataset):
    def __len__(self): return len(images)
    def __getitem__(self, i):
        im = Image.fromarray(images[i])
        return aug(im), aug(im)

def stage(i, o, pool):
    layers = [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return nn.Sequential(*(layers + ([nn.MaxPool2d(2)] if pool else [])))

class ConvNet(nn.Module):
    def __init__(self, w=32):
        super().__init__()
        self.body = nn.Sequential(stage(1, w, True), stage(w, 2*w, True), stage(2*w, 4*w, True), stage(4*w, 8*w, False))
    def forward(self, x): return self.body((x - 0.5) / 0.5).mean((2, 3))

enc = ConvNet()
proj = nn.Sequential(nn.Linear(256, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, 128))
opt = torch.optim.Adam(list(enc.parameters()) + list(proj.parameters()), lr=2e-3, weight_decay=1e-6)

def nt_xent(z1, z2, t=0.2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / t
    logits.fill_diagonal_(float('-inf'))
    n = z1.shape[0]
    targets = torch.cat([torch.arange(n, 2*n), torch.arange(n)])
    return F.cross_entropy(logits, targets)

loader = torch.utils.data.DataLoader(Pairs(), batch_size=256, shuffle=True, drop_last=True,
                                     num_workers=workers, persistent_workers=workers > 0)
it = iter(loader)
warm = 3
for i in range(steps + warm):
    if i == warm: t0 = time.time()
    v1, v2 = next(it)
    z = proj(enc(torch.cat([v1, v2])))
    loss = nt_xent(*z.chunk(2))
    opt.zero_grad(); loss.backward(); opt.step()
dt = time.time() - t0
print(f"peer simclr (torchvision + DataLoader, {workers} workers): {steps*256/dt:.0f} img/s "
      f"({dt/steps*1000:.1f} ms/step), loss {loss.item():.3f}")
