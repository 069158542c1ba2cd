"""A job entrypoint: POSTs status and a metric to a loopback server with a bearer token (Ember's runner does this)."""
import json, os, sys, time, urllib.request

url, token = os.environ["EMBER_URL"], os.environ["EMBER_TOKEN"]
for path, body in [("/runner/status", {"status": "Running"}), ("/runner/metrics", {"key": "loss", "value": 0.5})]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        print(path, r.status, flush=True)
print("cwd", os.getcwd(), "files", sorted(os.listdir(".")), "MY_VAR", os.environ.get("MY_VAR"), flush=True)
print("RAY_JOB_ID", os.environ.get("RAY_JOB_SUBMISSION_ID"), flush=True)
