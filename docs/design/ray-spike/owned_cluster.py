"""A test-session cluster we own: `ray start --head --block` in its own session and temp dir, stopped by
its pid (SIGTERM to `ray start --block` makes it stop the node it started), never `ray stop`.
Also: inside a Ray job, `ray.init()` with no address joins the job's cluster. Usage: python owned_cluster.py"""
import os, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
bin_ = Path(sys.executable).parent
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
gcs, dash = free(), free()
tmp = tempfile.mkdtemp(prefix="rt-")  # Ray's socket paths must stay short (<107 bytes)
env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PATH=f"{bin_}:{os.environ['PATH']}")
t0 = time.monotonic()
p = subprocess.Popen([str(bin_ / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                      f"--port={gcs}", "--num-cpus=2", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
                      "--disable-usage-stats", "--object-store-memory=200000000", f"--temp-dir={tmp}"],
                     env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{dash}/api/version", timeout=1); break
    except OSError:
        time.sleep(0.1)
print("owned cluster ready", round(time.monotonic() - t0, 2), "s", flush=True)
from ray.job_submission import JobSubmissionClient
c = JobSubmissionClient(f"http://127.0.0.1:{dash}")
s = c.submit_job(entrypoint="python -c \"import ray; ray.init(); print('in-job ray.init nodes', len(ray.nodes()), ray.cluster_resources().get('CPU'))\"")
while not c.get_job_status(s).is_terminal(): time.sleep(0.1)
print(c.get_job_status(s), [l for l in c.get_job_logs(s).splitlines() if "in-job" in l])
def ray_pids():
    out = subprocess.run(["pgrep", "-f", tmp], capture_output=True, text=True).stdout.split()
    return out
print("processes naming our temp dir:", len(ray_pids()))
t0 = time.monotonic()
p.send_signal(signal.SIGTERM); p.wait(timeout=60)
print("SIGTERM to `ray start --block` -> exited", p.returncode, "in", round(time.monotonic() - t0, 2), "s")
deadline = time.monotonic() + 20
while ray_pids() and time.monotonic() < deadline: time.sleep(0.2)
print("left after", round(time.monotonic() - t0, 2), "s:", len(ray_pids()))
left = ray_pids()
if left:
    os.killpg(p.pid, signal.SIGKILL)
    time.sleep(1); print("after killpg:", len(ray_pids()))
