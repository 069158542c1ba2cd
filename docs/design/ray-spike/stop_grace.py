"""stop_job on an entrypoint that ignores SIGTERM: default grace, and RAY_JOB_STOP_WAIT_TIME_S per job. Usage: python stop_grace.py DASH_PORT"""
import sys, time
from ray.job_submission import JobSubmissionClient
c = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
code = "import signal,time; signal.signal(signal.SIGTERM, lambda *a: print('got TERM, ignoring', flush=True)); print('ready', flush=True); time.sleep(600)"
open("/tmp/ignore_term.py", "w").write(code)
for env in ({}, {"RAY_JOB_STOP_WAIT_TIME_S": "8"}):
    s = c.submit_job(entrypoint=f"{sys.executable} /tmp/ignore_term.py", runtime_env={"env_vars": env})
    while "ready" not in c.get_job_logs(s): time.sleep(0.05)
    t0 = time.monotonic(); c.stop_job(s)
    while not c.get_job_status(s).is_terminal(): time.sleep(0.05)
    time.sleep(0.3)
    print(env or "default", c.get_job_status(s), round(time.monotonic() - t0 - 0.3, 2), "s;", "got TERM" in c.get_job_logs(s), flush=True)
