"""PyTorch side of bench/mlp-throughput.ts: trains the same MLP on the same standardised
train rows and prints one JSON line with the training throughput.

argv: X.f32 y.i32 features classes epochs batch_size hidden layers dropout lr threads seed
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

(x_path, y_path, f, k, epochs, batch, hidden, layers, dropout, lr, threads, seed) = sys.argv[1:]
f, k, epochs, batch, hidden, layers, threads, seed = map(int, (f, k, epochs, batch, hidden, layers, threads, seed))
dropout, lr = float(dropout), float(lr)
if threads > 0:
    torch.set_num_threads(threads)
torch.manual_seed(seed)

X = torch.from_numpy(np.fromfile(x_path, dtype="<f4").reshape(-1, f))
y = torch.from_numpy(np.fromfile(y_path, dtype="<i4").astype(np.int64))
n = X.shape[0]

mods = []
width = f
for _ in range(layers):
    mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
    width = hidden
mods.append(nn.Linear(width, k))  # logits; CrossEntropyLoss applies the softmax
model = nn.Sequential(*mods)
opt = torch.optim.Adam(model.parameters(), lr=lr)
loss_fn = nn.CrossEntropyLoss()

model.train()
start = time.perf_counter()
cpu_start = time.process_time()
for epoch in range(epochs):
    order = torch.randperm(n)
    total = 0.0
    for s in range(0, n, batch):
        idx = order[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
seconds = time.perf_counter() - start
cpu_seconds = time.process_time() - cpu_start
print(json.dumps({
    "windows_per_s": n * epochs / seconds,
    "seconds": seconds,
    "windows_per_cpu_s": n * epochs / cpu_seconds,
    "last_loss": total / n,
    "threads": torch.get_num_threads(),
    "torch": torch.__version__,
}))
