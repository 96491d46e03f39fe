#!/usr/bin/python3
"""The PyTorch peer of bench_augment: Pretext's SimCLR augmentation presets written as torchvision
transforms applied per image, the way a Dataset does it in a DataLoader with 0 workers (a PIL
image in, a tensor out). Times batches of 512 images (median of RUNS after one warm-up batch).
  simclr-gray on 1x28x28 (Fashion-MNIST images): RandomResizedCrop(28, scale 0.2-1), horizontal
    flip 0.5, ColorJitter(brightness 0.4, contrast 0.4) with p 0.8.
  simclr on 3x32x32 (random colour images; no CIFAR on this machine): RandomResizedCrop(32,
    scale 0.08-1), flip 0.5, ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, RandomGrayscale(0.2),
    GaussianBlur(kernel 3 = Pretext's ~10% of the side, sigma 0.1-2) with p 0.5.
Crop aspect ratios 3/4-4/3 and bilinear resampling in both. Prints one line per preset and
  RESULT preset=... img_per_s=... ms_per_batch=... cpu_ms_per_batch=... (CPU time of the process,
  steadier than wall time on a loaded machine)
  /usr/bin/python3 bench/peer_augment.py [RUNS]      (default 5)"""
import gzip, sys, time
import numpy as np
import torch
from torchvision import transforms
import peer_transforms
from PIL import Image

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
torch.set_num_threads(2)
B = 512

with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    gray = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:B].copy()
colour = np.random.default_rng(0).integers(0, 256, (B, 32, 32, 3), dtype=np.uint8)

presets = {
    'simclr-gray': (gray, transforms.Compose([
        transforms.RandomResizedCrop(28, scale=(0.2, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4)], p=0.8),
        transforms.ToTensor(),
    ])),
    'simclr': (colour, peer_transforms.simclr(32)),
}

for name, (images, aug) in presets.items():
    def batch():  # what a Dataset's __getitem__ does per image, then the default collate
        return torch.stack([aug(Image.fromarray(im)) for im in images])
    out = batch()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = batch()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ms = sorted(times)[len(times) // 2] * 1000
    cpu_ms = sorted(cpu)[len(cpu) // 2] * 1000
    shape = 'x'.join(map(str, out.shape))
    print(f"peer {name:12s} torchvision per image [{shape}] {ms:8.1f} ms/batch {B / ms * 1000:8.0f} images/s  (cpu {cpu_ms:7.1f} ms)")
    print(f"RESULT preset={name} img_per_s={B / ms * 1000:.1f} ms_per_batch={ms:.2f} cpu_ms_per_batch={cpu_ms:.2f}")
