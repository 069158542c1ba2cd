"""DDP on Ray, two ways. Usage: python ddp.py DASH_PORT GCS_PORT"""
import os, socket, subprocess, sys, time
from pathlib import Path
HERE = Path(__file__).parent

# A. A Ray job whose entrypoint is torch's launcher (one node: --nproc_per_node).
# Gotcha: a bare `python` in an entrypoint is the first on the PATH of the `ray start` shell, not the venv Ray runs from.
from ray.job_submission import JobSubmissionClient
c = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
t0 = time.monotonic()
s = c.submit_job(entrypoint=f"{sys.executable} -m torch.distributed.run --nproc_per_node 2 train_ddp.py",
                 runtime_env={"working_dir": str(HERE / "ddp_code")}, entrypoint_num_cpus=2)
while not c.get_job_status(s).is_terminal(): time.sleep(0.1)
print("A. job + torchrun:", c.get_job_status(s), round(time.monotonic() - t0, 2), "s")
print("\n".join(l for l in c.get_job_logs(s).splitlines() if "rank" in l))

# B. Placement group: one actor per rank (STRICT_SPREAD across nodes for instance_count>1; PACK here),
#    each runs the unchanged script as a subprocess with the launcher's variables.
import ray
from ray.util.placement_group import placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
ray.init(address=f"127.0.0.1:{sys.argv[2]}", runtime_env={"working_dir": str(HERE / "ddp_code")}, log_to_driver=False)
t0 = time.monotonic()
world = 2
pg = placement_group([{"CPU": 1}] * world, strategy="PACK")
ray.get(pg.ready())

@ray.remote(num_cpus=1)
class Rank:
    def addr_port(self):
        s = socket.socket(); s.bind(("", 0)); p = s.getsockname()[1]; s.close()
        return ray.util.get_node_ip_address(), p
    def node(self):
        return ray.get_runtime_context().get_node_id()
    def run(self, env):
        e = dict(os.environ, **env)
        r = subprocess.run([sys.executable, "train_ddp.py"], env=e, capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

actors = [Rank.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)).remote()
          for i in range(world)]
addr, port = ray.get(actors[0].addr_port.remote())
nodes = ray.get([a.node.remote() for a in actors])
local = {}
envs = []
for i, n in enumerate(nodes):
    lr = local.setdefault(n, []); lr.append(i)
    envs.append({"MASTER_ADDR": addr, "MASTER_PORT": str(port), "WORLD_SIZE": str(world), "RANK": str(i),
                 "LOCAL_RANK": str(len(lr) - 1), "NODE_RANK": str(list(local).index(n)),
                 "LOCAL_WORLD_SIZE": str(nodes.count(n))})
out = ray.get([a.run.remote(e) for a, e in zip(actors, envs)])
print("B. placement group actors:", [rc for rc, _ in out], round(time.monotonic() - t0, 2), "s")
for rc, o in out: print(o.strip())
