"""runtime_env pip: first and second job with the same pip list (cache?), then a different list. Usage: python pip_env.py DASH_PORT"""
import sys, time
from ray.job_submission import JobSubmissionClient
c = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
def run(pip):
    t0 = time.monotonic()
    s = c.submit_job(entrypoint="python -c 'import sys, six; print(sys.executable, six.__version__)'", runtime_env={"pip": pip})
    while (st := c.get_job_status(s)).is_terminal() is False: time.sleep(0.1)
    print(pip, st, round(time.monotonic() - t0, 2), "s", c.get_job_logs(s).strip().splitlines()[-1][:200], flush=True)
run(["six==1.16.0"]); run(["six==1.16.0"]); run(["six==1.17.0"])
