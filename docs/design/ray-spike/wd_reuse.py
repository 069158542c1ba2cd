"""Is an unchanged working_dir uploaded again? And 10 sequential jobs with a working_dir + env_vars config
(the shape Ember's Ray jobs will have). Usage: python wd_reuse.py DASH_PORT"""
import logging, sys, time
from pathlib import Path
from ray.job_submission import JobSubmissionClient
uploads = []
class Catch(logging.Handler):
    def emit(self, r):
        if "Uploading package" in r.getMessage() or "already exists" in r.getMessage(): uploads.append(r.getMessage())
logging.getLogger("ray.dashboard.modules.dashboard_sdk").addHandler(Catch())
c = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
wd = str(Path(__file__).parent / "job_code")
t0 = time.monotonic()
for i in range(10):
    n = len(uploads); t1 = time.monotonic()
    s = c.submit_job(entrypoint="python -c \"import os; print(os.environ['EMBER_RUNNER_CONFIG'])\"",
                     runtime_env={"working_dir": wd, "env_vars": {"EMBER_RUNNER_CONFIG": '{"job": "j%d"}' % i}})
    sub = time.monotonic() - t1
    while not c.get_job_status(s).is_terminal(): time.sleep(0.05)
    print(i, c.get_job_status(s), f"submit {sub*1000:.0f} ms", "log lines:", uploads[n:], flush=True)
el = time.monotonic() - t0
print(f"10 sequential jobs with working_dir + env_vars: {el:.2f} s, {el/10*1000:.0f} ms/job")
