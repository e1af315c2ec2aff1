# Train a model across centers with DDP + Isthmus.  Run on 2 centers x 2 ranks with:
#   isthmus-run --centers 2 --ranks-per-center 2 -- python examples/quickstart.py
import torch
import isthmus.torch  # also binds `isthmus`
from torch.nn.parallel import DistributedDataParallel as DDP

isthmus.init()                            # rank, center and store from isthmus-run's environment
isthmus.torch.init_process_group()        # the Gloo group DDP needs for its bookkeeping
torch.manual_seed(0)
model = DDP(torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1)))
model.register_comm_hook(None, isthmus.torch.hierarchical_hook(codec="int8"))  # int8 across centers
opt = torch.optim.SGD(model.parameters(), lr=0.05)
data = torch.Generator().manual_seed(isthmus.rank())          # each rank sees different data
target = torch.randn(32, 1, generator=torch.Generator().manual_seed(1))
for step in range(100):
    x = torch.randn(64, 32, generator=data)
    loss = torch.nn.functional.mse_loss(model(x), x @ target)
    opt.zero_grad(); loss.backward(); opt.step()
sent = isthmus.traffic()["inter_bytes_sent"]
print(f"rank {isthmus.rank()} center {isthmus.center()}: loss {loss.item():.4f}, {sent} bytes sent to other centers")
isthmus.shutdown()                        # a barrier, then the communicator is closed
