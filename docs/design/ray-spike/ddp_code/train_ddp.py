"""A DDP script as written for Azure ML: reads the launcher's variables, gloo, all_reduce."""
import os, torch, torch.distributed as dist
dist.init_process_group("gloo")  # env:// -> MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"rank {rank}/{world} local_rank {os.environ['LOCAL_RANK']} master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} all_reduce={t.item()}", flush=True)
assert t.item() == world * (world + 1) / 2
dist.destroy_process_group()
