"""Ray Tune baseline: 50 trials of a trivial trial function on the local cluster. Usage: python tune_50.py GCS_PORT"""
import sys, time, tempfile
import ray
from ray import tune
ray.init(address=f"127.0.0.1:{sys.argv[1]}", log_to_driver=False)

def trial(config):
    x = config["x"]
    for step in range(3):
        tune.report({"loss": (x - 0.3) ** 2 + 1.0 / (step + 1)})

t0 = time.monotonic()
tuner = tune.Tuner(trial, param_space={"x": tune.uniform(0, 1)},
                   tune_config=tune.TuneConfig(num_samples=50, metric="loss", mode="min"),
                   run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0))
res = tuner.fit()
el = time.monotonic() - t0
print(f"50 trials: {el:.2f} s ({el/50*1000:.0f} ms/trial), errors={res.num_errors}, best x={res.get_best_result().config['x']:.3f}")
