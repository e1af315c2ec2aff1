"""2 centers x 2 ranks: DDP + isthmus.torch.hierarchical_hook(int8), or isthmus.torch.DiLoCo
(int8), with the model on a device.

argv: device ("cpu" or "cuda"), mode ("hook" or "diloco"). Every rank uses cuda:0 (one GPU,
several processes). Rank 0 prints `LOSSES <l1> <l2> ...` (the training loss every 5 steps, reduced
over ranks)."""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

import isthmus
import isthmus.torch as itorch
from common import ok

device = torch.device("cuda:0" if sys.argv[1] == "cuda" else "cpu")
mode = sys.argv[2] if len(sys.argv) > 2 else "hook"
torch.set_num_threads(1)
isthmus.init(timeout=60)
itorch.init_process_group(timeout=60)
r = isthmus.rank()
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
net = net.to(device)
if mode == "hook":
    model = DDP(net, bucket_cap_mb=0.02, device_ids=[0] if device.type == "cuda" else None)
    model.register_comm_hook(None, itorch.hierarchical_hook(codec="int8"))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    diloco = None
else:
    model = net
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    diloco = itorch.DiLoCo(
        net, opt, sync_every=5, outer_lr=0.7, outer_momentum=0.9, codec="int8"
    )
w_true = torch.randn(64, 1, generator=torch.Generator().manual_seed(7))
g = torch.Generator().manual_seed(100 + r)
losses = []
for step in range(40):
    x = torch.randn(32, 64, generator=g)  # drawn on the CPU: identical data on either device
    loss = F.mse_loss(model(x.to(device)), (x @ w_true).to(device))
    opt.zero_grad()
    loss.backward()
    if diloco is None:
        opt.step()
    else:
        diloco.step()
    if step % 5 == 4:
        lt = torch.tensor([loss.item()])
        isthmus.allreduce(lt, op="avg", codec="fp32")
        losses.append(lt.item())
if diloco is not None:
    diloco.finish()
if r == 0:
    print("LOSSES " + " ".join(f"{v:.9g}" for v in losses), flush=True)
ok()
