"""Smallest Ray Serve deployment on loopback: HTTP route, replicas, start time, handle call. Usage: python serve_min.py GCS_PORT"""
import json, socket, sys, time, urllib.request
import ray
from ray import serve
ray.init(address=f"127.0.0.1:{sys.argv[1]}", log_to_driver=False)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
t0 = time.monotonic()
serve.start(http_options={"host": "127.0.0.1", "port": port})
print("serve.start", round(time.monotonic() - t0, 2), "s", flush=True)

@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0.25})
class Score:
    def __init__(self):
        import os; self.pid = os.getpid()
    async def __call__(self, request):
        body = await request.json()
        return {"pid": self.pid, "echo": body}

t0 = time.monotonic()
handle = serve.run(Score.bind(), name="ep1-blue", route_prefix="/ep1/blue")
print("serve.run (2 replicas ready)", round(time.monotonic() - t0, 2), "s", flush=True)
pids = set()
t0 = time.monotonic()
for i in range(20):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/ep1/blue", data=json.dumps({"i": i}).encode(),
                                 headers={"Content-Type": "application/json"})
    pids.add(json.loads(urllib.request.urlopen(req).read())["pid"])
print("20 HTTP calls via Serve proxy", round(time.monotonic() - t0, 3), "s; replica pids", pids)
print("status:", {k: v.status for k, v in serve.status().applications.items()})
t0 = time.monotonic()
serve.run(Score.options(num_replicas=1).bind(), name="ep1-blue", route_prefix="/ep1/blue")
print("scale to 1 replica", round(time.monotonic() - t0, 2), "s")
t0 = time.monotonic(); serve.delete("ep1-blue"); print("delete app", round(time.monotonic() - t0, 2), "s")
t0 = time.monotonic(); serve.shutdown(); print("serve.shutdown", round(time.monotonic() - t0, 2), "s")
