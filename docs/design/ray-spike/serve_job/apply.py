"""Runs as a Ray job: deploys a Serve app and exits (the app must outlive this driver)."""
import os, time
from ray import serve
serve.start(http_options={"host": "127.0.0.1", "port": int(os.environ["SERVE_PORT"])})

@serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 0.25})
class Echo:
    async def __call__(self, request):
        return {"ok": True, "path": request.url.path}

t0 = time.monotonic()
serve.run(Echo.bind(), name="ember-default-ep-blue-g1", route_prefix="/ember-default-ep-blue-g1")
print("app ready in", round(time.monotonic() - t0, 2), "s", flush=True)
