#!/usr/bin/python3
"""The PyTorch peer of Pretext's {simclr,rotation,moco,byol,mae}-fashion presets, written the way a
user would: per-image torchvision transforms in a Dataset (PIL image in, tensor out), a DataLoader,
the same models (core/models: ConvNet, MLP heads, ViT), the same loss, the same optimiser (param
groups without weight decay on biases and norms, as Pretext's exclude_bias_norm) and batch size.

Counts SOURCE images per second: a batch of 256 Fashion-MNIST images is 256 images whether the
method makes two views of each (simclr, moco, byol), four rotated copies (rotation) or one masked
view (mae); Pretext's trainer and bench_train count the same way.

Prints, after STEPS steps following 3 warm-up steps, a human line and a machine line:
  RESULT method=... img_per_s=... ms_per_step=... cpu_ms_per_step=... data_ms=... forward_ms=... backward_ms=...
         optim_ms=... params_trainable=... params_total=...
data_ms: time per step spent waiting for the DataLoader (decode + per-image transforms + collate);
forward: the method's forward and loss; optim: the optimiser step plus, for moco and byol, the
momentum (EMA) update of the key/target network and the queue. cpu_ms_per_step: CPU time of this
process (all its threads; not the DataLoader's worker processes), steadier than wall time on a
loaded machine.
Needs Debian's python3-torch python3-torchvision (scripts/setup.sh --bench).
  /usr/bin/python3 bench/peer_train.py METHOD [STEPS] [WORKERS]     (default 20 steps, 0 workers)"""
import gzip, math, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from torchvision import transforms
from PIL import Image

METHODS = ('simclr', 'rotation', 'moco', 'byol', 'mae')
method = sys.argv[1] if len(sys.argv) > 1 else 'simclr'
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
workers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if method not in METHODS:
    sys.exit(f"peer_train.py: unknown method {method!r}; known: {', '.join(METHODS)}")
torch.set_num_threads(2)
torch.manual_seed(0)

with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)

# The presets' augmentations (core/augment/presets.cpp).
simclr_gray = transforms.Compose([        # simclr, moco, byol: "simclr-gray"
    transforms.RandomResizedCrop(28, scale=(0.2, 1.0)),
    transforms.RandomHorizontalFlip(),
    transforms.RandomApply([transforms.ColorJitter(0.4, 0.4)], p=0.8),
    transforms.ToTensor(),
])
weak = transforms.Compose([               # rotation, mae: "weak"
    transforms.RandomResizedCrop(28, scale=(0.6, 1.0)),
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
])
two_views = method in ('simclr', 'moco', 'byol')
aug = simclr_gray if two_views else weak

class Views(torch.utils.data.Dataset):
    def __len__(self): return len(images)
    def __getitem__(self, i):
        im = Image.fromarray(images[i])
        return (aug(im), aug(im)) if two_views else aug(im)

# core/models/convnet.cpp: four Conv-BN-ReLU stages (w, 2w, 4w, 8w), max-pool after the first three.
def stage(i, o, pool):
    layers = [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
    return nn.Sequential(*(layers + ([nn.MaxPool2d(2)] if pool else [])))

class ConvNet(nn.Module):
    def __init__(self, w=32):
        super().__init__()
        self.body = nn.Sequential(stage(1, w, True), stage(w, 2*w, True), stage(2*w, 4*w, True), stage(4*w, 8*w, False))
    def forward(self, x): return self.body((x - 0.5) / 0.5).mean((2, 3))

# core/models/backbone.cpp makeMlp: Linear (no bias before a BN) -> [BN] -> ReLU -> Linear.
def mlp(i, hidden, o, bn=True):
    return nn.Sequential(nn.Linear(i, hidden, bias=not bn), *([nn.BatchNorm1d(hidden)] if bn else []),
                         nn.ReLU(inplace=True), nn.Linear(hidden, o))

# core/models/vit.cpp: the ViT as MAE uses it (timm's Block: qkv attention, pre-norm, MLP ratio 4).
def sincos_2d(dim, g):
    k = dim // 4
    omega = 1.0 / 10000 ** (np.arange(k) / k)
    rows, cols = np.repeat(np.arange(g), g), np.tile(np.arange(g), g)
    axis = lambda p: np.concatenate([np.sin(np.outer(p, omega)), np.cos(np.outer(p, omega))], 1)
    return torch.tensor(np.concatenate([axis(cols), axis(rows)], 1), dtype=torch.float32).unsqueeze(0)

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.qkv, self.proj = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, 3*d), nn.Linear(d, d)
        self.norm2, self.fc1, self.fc2 = nn.LayerNorm(d, eps=1e-6), nn.Linear(d, 4*d), nn.Linear(4*d, d)
    def forward(self, x):
        b, l, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, l, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))

class MAE(nn.Module):  # mae-fashion: ViT 128-d, patch 4, depth 4, 4 heads; decoder 64-d, depth 2, 4 heads
    def __init__(self, dim=128, patch=4, depth=4, heads=4, ddim=64, ddepth=2, dheads=4, ratio=0.75):
        super().__init__()
        self.patch, self.ratio, g = patch, ratio, 28 // patch
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.register_buffer('pos', sincos_2d(dim, g))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dec_embed = nn.Linear(dim, ddim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, ddim) * 0.02)
        self.register_buffer('dec_pos', sincos_2d(ddim, g))
        self.dec_blocks = nn.ModuleList(Block(ddim, dheads) for _ in range(ddepth))
        self.dec_norm, self.dec_pred = nn.LayerNorm(ddim, eps=1e-6), nn.Linear(ddim, patch * patch)
    def patchify(self, x):
        n, p = x.shape[0], self.patch
        g = x.shape[2] // p
        return x.reshape(n, 1, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(n, g * g, p * p)
    def forward(self, x):
        t = self.patch_embed((x - 0.5) / 0.5).flatten(2).transpose(1, 2) + self.pos
        n, l, d = t.shape
        keep_n = round(l * (1 - self.ratio))
        shuffle = torch.rand(n, l).argsort(1)
        restore = shuffle.argsort(1)
        keep = shuffle[:, :keep_n]
        mask = torch.ones(n, l)
        mask[:, :keep_n] = 0
        mask = mask.gather(1, restore)
        h = t.gather(1, keep.unsqueeze(-1).expand(-1, -1, d))
        for b in self.blocks: h = b(h)
        y = self.dec_embed(self.norm(h))
        y = torch.cat([y, self.mask_token.expand(n, l - keep_n, -1)], 1)
        y = y.gather(1, restore.unsqueeze(-1).expand(-1, -1, y.shape[2])) + self.dec_pos
        for b in self.dec_blocks: y = b(y)
        pred = self.dec_pred(self.dec_norm(y))
        loss = ((pred - self.patchify(x)) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum()

def nt_xent(z1, z2, t):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / t
    logits.fill_diagonal_(float('-inf'))
    n = z1.shape[0]
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2*n), torch.arange(n)]))

def byol_loss(p, z): return (2 - 2 * F.cosine_similarity(p, z, dim=1)).mean()

def copy_of(net):
    import copy
    other = copy.deepcopy(net)
    for p in other.parameters(): p.requires_grad_(False)
    return other

# Models and batch sizes of the presets (resources/presets/*-fashion.json).
batch = 128 if method == 'rotation' else 256
if method == 'mae':
    model = MAE()
    trainable, extra = list(model.parameters()), []
else:
    enc = ConvNet()
    if method == 'simclr': heads = [mlp(256, 512, 128)]
    elif method == 'rotation': heads = [mlp(256, 256, 4)]
    elif method == 'moco': heads = [mlp(256, 512, 128, bn=False)]
    else: heads = [mlp(256, 512, 128), mlp(128, 512, 128)]          # byol: projector, predictor
    online = nn.Sequential(enc, heads[0])
    trainable = list(online.parameters()) + (list(heads[1].parameters()) if method == 'byol' else [])
    extra = []
    if method in ('moco', 'byol'):
        target = copy_of(online)                                     # key / target network
        extra = list(target.parameters())
    if method == 'moco':
        queue = F.normalize(torch.randn(4096, 128), dim=1)
        queue_ptr = 0

decay = [p for p in trainable if p.dim() > 1]
plain = [p for p in trainable if p.dim() <= 1]
groups = [{'params': decay}, {'params': plain, 'weight_decay': 0.0}]
if method == 'mae': opt = torch.optim.AdamW(groups, lr=1.5e-3, weight_decay=0.05)
else: opt = torch.optim.Adam(groups, lr=2e-3, weight_decay=1e-6)
n_trainable = sum(p.numel() for p in trainable)
n_total = n_trainable + sum(p.numel() for p in extra)

def forward(data):
    global k1, k2
    if method == 'simclr':
        v1, v2 = data
        z = online(torch.cat([v1, v2]))
        loss = nt_xent(*z.chunk(2), 0.2)
    elif method == 'rotation':
        x = torch.cat([torch.rot90(data, k, (2, 3)) for k in range(4)])
        labels = torch.arange(4).repeat_interleave(data.shape[0])
        loss = F.cross_entropy(online(x), labels)
    elif method == 'moco':  # symmetric: each view once the query, once the key (separate forwards)
        v1, v2 = data
        with torch.no_grad():
            k2, k1 = F.normalize(target(v2), dim=1), F.normalize(target(v1), dim=1)
        def infonce(z, k):
            q = F.normalize(z, dim=1)
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.t()], 1) / 0.2
            return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
        loss = 0.5 * (infonce(online(v1), k2) + infonce(online(v2), k1))
    elif method == 'byol':
        v1, v2 = data
        views = torch.cat([v1, v2])
        p = heads[1](online(views))
        with torch.no_grad(): zt = target(views)
        n = v1.shape[0]
        loss = byol_loss(p[:n], zt[n:]) + byol_loss(p[n:], zt[:n])
    else:
        loss = model(data)
    return loss

def after_step(progress):  # momentum / EMA update of the key or target network, enqueue keys
    global queue_ptr
    with torch.no_grad():
        if method == 'moco':
            for k, q in zip(target.parameters(), online.parameters()): k.mul_(0.99).add_(q.detach(), alpha=0.01)
            keys = torch.cat([k2, k1])
            queue[queue_ptr:queue_ptr + keys.shape[0]] = keys      # 4096 is a multiple of 512
            queue_ptr = (queue_ptr + keys.shape[0]) % queue.shape[0]
        elif method == 'byol':
            tau = 1 - (1 - 0.99) * (math.cos(math.pi * progress) + 1) / 2
            for t, o in zip(target.parameters(), online.parameters()): t.mul_(tau).add_(o.detach(), alpha=1 - tau)

loader = torch.utils.data.DataLoader(Views(), batch_size=batch, shuffle=True, drop_last=True,
                                     num_workers=workers, persistent_workers=workers > 0)
it = iter(loader)
import os
trace = os.environ.get('BENCH_TRACE')  # see bench_train.cpp: an op-level profile of the timed steps
profiler = torch.autograd.profiler.profile(use_kineto=False) if trace else None
warm, parts = 3, np.zeros(4)  # data, forward, backward, optimiser (+ momentum/EMA update)
for i in range(steps + warm):
    if i == warm:
        if profiler: profiler.__enter__()
        t0, c0 = time.time(), time.process_time()
    t = [time.time()]
    data = next(it); t.append(time.time())
    opt.zero_grad()
    loss = forward(data); t.append(time.time())
    loss.backward(); t.append(time.time())
    opt.step(); after_step(i / 1000); t.append(time.time())
    if i >= warm: parts += np.diff(t)
dt, cpu = time.time() - t0, time.process_time() - c0
if profiler:
    profiler.__exit__(None, None, None)
    profiler.export_chrome_trace(trace + '-peer.json')
ms = parts / steps * 1000
views = {'rotation': '4 rotations of each', 'mae': '1 masked view each'}.get(method, '2 views each')
print(f"peer {method} (torchvision + DataLoader, {workers} workers, batch {batch}, {views}): "
      f"{steps*batch/dt:.0f} source img/s ({dt/steps*1000:.1f} ms/step: data {ms[0]:.1f}, forward {ms[1]:.1f}, backward {ms[2]:.1f}, "
      f"optimiser {ms[3]:.1f}), loss {loss.item():.3f}; parameters {n_trainable} trained, {n_total} in all")
print(f"RESULT method={method} workers={workers} img_per_s={steps*batch/dt:.1f} ms_per_step={dt/steps*1000:.2f} "
      f"cpu_ms_per_step={cpu/steps*1000:.2f} data_ms={ms[0]:.2f} forward_ms={ms[1]:.2f} backward_ms={ms[2]:.2f} optim_ms={ms[3]:.2f} params_trainable={n_trainable} params_total={n_total}")
