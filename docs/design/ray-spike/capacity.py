"""Capacity: jobs with entrypoint_num_cpus=1 on a 2-CPU cluster wait PENDING for a slot. Usage: python capacity.py DASH_PORT"""
import sys, time
from ray.job_submission import JobSubmissionClient
c = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
ids = [c.submit_job(entrypoint="sleep 3", entrypoint_num_cpus=1) for _ in range(3)]
time.sleep(2)
print("after 2 s:", [str(c.get_job_status(i)) for i in ids])
t0 = time.monotonic()
while not all(c.get_job_status(i).is_terminal() for i in ids): time.sleep(0.1)
print("all done", round(time.monotonic() - t0, 2), "s later")
