"""PyTorch side of bench/neural-throughput.ts: trains the twin of one of our tfjs models on
the same standardised inputs and prints one JSON line with the training throughput.

argv: X.f32 y.i32 model seq_len features classes epochs batch_size hidden layers dropout lr threads seed

model: mlp (X is [n, features]) | lstm | gru (X is [n, seq_len, features], oldest window
first, as our BatchGatherer cuts them). The twins: mlp = layers x (Linear, ReLU, Dropout)
-> Linear; lstm/gru = a stacked nn.LSTM/nn.GRU of `layers` layers (dropout between them),
Dropout on the last step's state -> Linear. Loss: CrossEntropyLoss on logits (our models
end in a softmax and clip the log, which is the same loss); Adam(lr).
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

(x_path, y_path, model, seq_len, f, k, epochs, batch, hidden, layers, dropout, lr, threads, seed) = sys.argv[1:]
seq_len, f, k, epochs, batch, hidden, layers, threads, seed = map(
    int, (seq_len, f, k, epochs, batch, hidden, layers, threads, seed))
dropout, lr = float(dropout), float(lr)
if threads > 0:
    torch.set_num_threads(threads)
torch.manual_seed(seed)

y = torch.from_numpy(np.fromfile(y_path, dtype="<i4").astype(np.int64))
n = y.shape[0]
shape = (n, f) if model == "mlp" else (n, seq_len, f)
X = torch.from_numpy(np.fromfile(x_path, dtype="<f4").reshape(shape))


class Recurrent(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(f, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, k)

    def forward(self, x):
        seq, _ = self.rnn(x)
        return self.out(self.drop(seq[:, -1, :]))


if model == "mlp":
    mods = []
    width = f
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    mods.append(nn.Linear(width, k))
    net = nn.Sequential(*mods)
else:
    net = Recurrent(nn.LSTM if model == "lstm" else nn.GRU)
opt = torch.optim.Adam(net.parameters(), lr=lr)
loss_fn = nn.CrossEntropyLoss()

net.train()
start = time.perf_counter()
cpu_start = time.process_time()
for epoch in range(epochs):
    order = torch.randperm(n)
    total = 0.0
    for s in range(0, n, batch):
        idx = order[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(X[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
seconds = time.perf_counter() - start
cpu_seconds = time.process_time() - cpu_start
print(json.dumps({
    "windows_per_s": n * epochs / seconds,
    "windows_per_cpu_s": n * epochs / cpu_seconds,
    "seconds": seconds,
    "last_loss": total / n,
    "threads": torch.get_num_threads(),
    "torch": torch.__version__,
}))
