"""Deploy Serve from a Ray job (the Ember server needs only the job client), then call it over HTTP
after the job has ended; also read the dashboard's cluster status routes. Usage: python serve_from_job.py DASH_PORT"""
import json, socket, sys, time, urllib.request
from pathlib import Path
from ray.job_submission import JobSubmissionClient
dash = sys.argv[1]
c = JobSubmissionClient(f"http://127.0.0.1:{dash}")
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
t0 = time.monotonic()
sid = c.submit_job(entrypoint=f"{sys.executable} apply.py", runtime_env={"working_dir": str(Path(__file__).parent / "serve_job"),
                                                                          "env_vars": {"SERVE_PORT": str(port)}})
while not c.get_job_status(sid).is_terminal(): time.sleep(0.1)
print("apply job", c.get_job_status(sid), round(time.monotonic() - t0, 2), "s;", [l for l in c.get_job_logs(sid).splitlines() if "ready" in l])
r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/ember-default-ep-blue-g1/score", data=b"{}"))
print("HTTP after the job ended:", r.status, r.read())
for route in ("/api/serve/applications/", "/api/cluster_status", "/nodes?view=summary"):
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{dash}{route}", timeout=5).read()
        d = json.loads(body)
        print(route, "->", json.dumps(d)[:300])
    except Exception as e:
        print(route, "->", type(e).__name__, str(e)[:150])
