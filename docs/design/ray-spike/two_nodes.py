"""Two raylets on one host (a second `ray start --address` = a 'node'): STRICT_SPREAD placement group for instance_count=2. Usage: python two_nodes.py GCS_PORT"""
import sys, time, ray
from ray.util.placement_group import placement_group
ray.init(address=f"127.0.0.1:{sys.argv[1]}", log_to_driver=False)
print("nodes alive:", sum(n["Alive"] for n in ray.nodes()), "resources:", ray.cluster_resources().get("CPU"))
pg = placement_group([{"CPU": 1}, {"CPU": 1}], strategy="STRICT_SPREAD")
t0 = time.monotonic(); ok = pg.wait(timeout_seconds=10); print("STRICT_SPREAD 2 bundles ready:", ok, round(time.monotonic() - t0, 2), "s")
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy as S
@ray.remote(num_cpus=1)
def node(): return ray.get_runtime_context().get_node_id()[:8]
print("bundle nodes:", ray.get([node.options(scheduling_strategy=S(pg, placement_group_bundle_index=i)).remote() for i in range(2)]))
