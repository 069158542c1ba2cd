"""Ray job-submission API spike: submit/status/logs/stop/list, overhead, loopback reporting. Usage: python jobs_api.py DASH_PORT"""
import asyncio, json, os, subprocess, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from ray.job_submission import JobStatus, JobSubmissionClient

ADDR = f"http://127.0.0.1:{sys.argv[1]}"
HERE = Path(__file__).parent
TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
c = JobSubmissionClient(ADDR)

def wait(sid, limit=120.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s = c.get_job_status(sid)
        if s in TERMINAL:
            return s
        time.sleep(0.05)
    raise TimeoutError(sid)

def section(t): print(f"\n=== {t}", flush=True)

# --- loopback server that checks a bearer token (Ember's runner routes stand-in)
got = []
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = self.headers.get("Authorization") == "Bearer tok-123"
        got.append((self.path, ok, json.loads(body)))
        self.send_response(200 if ok else 401); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()

section("1. submit with chosen submission_id, working_dir, env_vars, metadata; loopback report")
sid = f"ember-job-{uuid.uuid4().hex[:8]}"
t0 = time.monotonic()
r = c.submit_job(entrypoint="python report.py", submission_id=sid,
                 runtime_env={"working_dir": str(HERE / "job_code"),
                              "env_vars": {"MY_VAR": "x", "EMBER_URL": f"http://127.0.0.1:{srv.server_port}",
                                           "EMBER_TOKEN": "tok-123"}},
                 metadata={"ember_ws": "default", "ember_job": sid})
print("submit returned", r, "in", round(time.monotonic() - t0, 3), "s")
print("status", wait(sid), "total", round(time.monotonic() - t0, 2), "s")
print("logs:\n" + c.get_job_logs(sid))
print("server got", got)
info = c.get_job_info(sid)
print("info:", {k: getattr(info, k) for k in ("submission_id", "job_id", "status", "message", "metadata",
                                               "start_time", "end_time", "entrypoint", "driver_exit_code")})
try:
    c.submit_job(entrypoint="echo again", submission_id=sid)
except Exception as e:
    print("duplicate submission_id ->", type(e).__name__, str(e)[:200])

section("2. failing job")
sid2 = c.submit_job(entrypoint="echo bad >&2; exit 3")
print(wait(sid2), repr(c.get_job_info(sid2).message), c.get_job_info(sid2).driver_exit_code, repr(c.get_job_logs(sid2)))

section("3. stop_job: process tree (bash -> sleep children), speed")
sid3 = c.submit_job(entrypoint="bash -c 'sleep 300 & sleep 301 & echo started; wait'")
while "started" not in c.get_job_logs(sid3): time.sleep(0.05)
def pids(pat): return subprocess.run(["pgrep", "-f", pat], capture_output=True, text=True).stdout.split()
print("before stop: sleep 300/301 pids", pids("sleep 30[01]"))
t0 = time.monotonic(); print("stop_job ->", c.stop_job(sid3)); print("stop_job call", round(time.monotonic() - t0, 3), "s")
print("status", wait(sid3), "after", round(time.monotonic() - t0, 2), "s")
time.sleep(0.5)
print("after stop: sleep pids", pids("sleep 30[01]"))
sid3b = c.submit_job(entrypoint="python -c \"import signal,time,sys; signal.signal(signal.SIGTERM, lambda *a: print('got TERM, ignoring', flush=True)); print('ready', flush=True); time.sleep(600)\"")
while "ready" not in c.get_job_logs(sid3b): time.sleep(0.05)
t0 = time.monotonic(); c.stop_job(sid3b); print("SIGTERM-ignoring job:", wait(sid3b), "after", round(time.monotonic() - t0, 2), "s; logs", repr(c.get_job_logs(sid3b)[-80:]))

section("4. tail_job_logs from a second client (reattach) while running, from the start")
sid4 = c.submit_job(entrypoint="for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done", submission_id="reattach-demo-" + uuid.uuid4().hex[:6])
time.sleep(1.0)
c2 = JobSubmissionClient(ADDR)  # a restarted submitter
print("found by id:", c2.get_job_status(sid4), "in list_jobs:", any(j.submission_id == sid4 for j in c2.list_jobs()))
async def tail():
    chunks = []
    async for chunk in c2.tail_job_logs(sid4):
        chunks.append(chunk)
    return chunks
ch = asyncio.run(tail())
print("tail chunks", len(ch), repr("".join(ch)))
print("status after tail ends", c2.get_job_status(sid4))

section("5. overhead: 20 sequential, 20 concurrent `echo hi`")
t0 = time.monotonic()
for _ in range(20):
    wait(c.submit_job(entrypoint="echo hi"))
seq = time.monotonic() - t0
print(f"sequential: {seq:.2f} s total, {seq/20*1000:.0f} ms/job")
t0 = time.monotonic()
ids = [c.submit_job(entrypoint="echo hi") for _ in range(20)]
sub = time.monotonic() - t0
for i in ids: wait(i)
par = time.monotonic() - t0
print(f"concurrent: submit 20 in {sub:.2f} s, all done {par:.2f} s, {par/20*1000:.0f} ms/job")
t0 = time.monotonic(); js = c.list_jobs(); print("list_jobs", len(js), "jobs in", round(time.monotonic() - t0, 3), "s")

section("6. working_dir upload size")
big = Path("/tmp/ray-big"); big.mkdir(exist_ok=True)
for name, mb in (("a.bin", 60),):
    (big / name).write_bytes(os.urandom(mb * 1024 * 1024))
t0 = time.monotonic()
try:
    s = c.submit_job(entrypoint="ls -la", runtime_env={"working_dir": str(big)})
    print("60 MiB working_dir submit", round(time.monotonic() - t0, 2), "s ->", wait(s), round(time.monotonic() - t0, 2), "s")
except Exception as e:
    print("60 MiB ->", type(e).__name__, str(e)[:300])
(big / "b.bin").write_bytes(os.urandom(80 * 1024 * 1024))
t0 = time.monotonic()
try:
    s = c.submit_job(entrypoint="ls -la", runtime_env={"working_dir": str(big)})
    print("140 MiB working_dir ->", wait(s), round(time.monotonic() - t0, 2), "s")
except Exception as e:
    print("140 MiB ->", type(e).__name__, str(e)[:400])
(big / ".rayignore").write_text("b.bin\n")
try:
    s = c.submit_job(entrypoint="ls", runtime_env={"working_dir": str(big), "excludes": ["b.bin"]})
    print("140 MiB with excludes=['b.bin'] ->", wait(s), repr(c.get_job_logs(s)))
except Exception as e:
    print("excludes ->", type(e).__name__, str(e)[:300])
