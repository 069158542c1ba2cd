"""Model monitors: the job each trigger of a monitor schedule runs, and its alerts.

At a trigger, :meth:`MonitorService.job_for` turns the schedule's ``create_monitor`` into a
command job, ``python -m ember.monitoring.job`` on the server's Python: each signal's
production data (by default the deployment's collected payloads, ``model_inputs`` or
``model_outputs``) in its lookback window ending at the trigger time less the offset, and its
reference data (a data asset, or, by default, the same collection before the production
window). With no signals listed a deployment gets Azure's out-of-box set: data drift, prediction
drift and data quality (a ``question_answering`` target: token statistics and latency).

When a monitor job ends, :meth:`MonitorService.on_job_event` reads its ``signals.json``; if a
signal with its alert enabled breached, it sends the alert notification (webhooks and email,
through ``services.notifications``) and starts the alert's ``create_job`` actions, in a
background thread, and writes what happened to ``alerts.json`` beside the results.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ember.engine.jobs import JobEvent, JobService, default_output_uri
from ember.engine.schedule_times import next_fire
from ember.entities.jobs import Job, JobInput, JobOutput, JobStatus
from ember.entities.monitors import (
    MonitorDefinition,
    MonitoringSignal,
    MonitorInputData,
)
from ember.entities.pipelines import Binding, PipelineJob, PipelineStep
from ember.entities.schedules import JobSchedule, RecurrenceTrigger, ScheduleFire
from ember.errors import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError
from ember.services.datastores import DatastoreService
from ember.services.notifications import Notifier
from ember.store.schedules import ScheduleStore

log = logging.getLogger("ember.monitors")

MONITOR_PROPERTY = "ember.monitor"
OUTPUT = "signals"
RESULT_FILE = "signals.json"
ALERTS_FILE = "alerts.json"
CONFIG_ENV = "EMBER_MONITOR_CONFIG"
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_FREQUENCY_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
                      "month": 30 * 86400}


def seconds(duration: str) -> float:
    """An ISO 8601 duration (weeks, days, hours, minutes, seconds) in seconds."""
    m = _DURATION.match(duration.upper())
    if not m:
        raise InvalidInputError(f"{duration!r} is not an ISO 8601 duration (e.g. P7D, PT1H)")
    w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return float(((w * 7 + d) * 24 + h) * 3600 + mi * 60 + s)


def default_signals(definition: MonitorDefinition) -> dict[str, MonitoringSignal]:
    """The signals a monitor runs: its own, or Azure's out-of-box set for a deployment."""
    if definition.monitoring_signals:
        return definition.monitoring_signals
    if definition.monitoring_target.ml_task == "question_answering":
        return {"token-usage-signal": MonitoringSignal(type="generation_token_statistics"),
                "latency-signal": MonitoringSignal(type="generation_latency")}
    return {"data-drift-signal": MonitoringSignal(type="data_drift"),
            "prediction-drift-signal": MonitoringSignal(type="prediction_drift"),
            "data-quality-signal": MonitoringSignal(type="data_quality")}


# The collection a signal reads by default: its outputs for prediction-side signals.
_OUTPUT_SIGNALS = {"prediction_drift", "model_performance", "generation_token_statistics",
                   "generation_latency"}


@dataclass
class DeploymentCollections:
    """What a deployment collects: the datastore URI of each enabled collection."""

    request: str | None
    response: str | None


# (workspace, endpoint, deployment) → its collections; raises NotFoundError.
CollectionsOf = Callable[[str, str, str], DeploymentCollections]
# Submits a job body or Job as POST /jobs does (the schedule service's submit).
Submit = Callable[[str, "dict[str, Any] | Job | PipelineJob", "str | None"], Job]


@dataclass
class MonitorRun:
    """One trigger of a monitor schedule, as ``GET .../monitor-runs`` returns it: its job
    (``status`` None when no job was made, or it was deleted), ``signals``: the parsed
    ``signals.json`` and ``alerts``: ``alerts.json`` (None until written); ``error``: why the
    trigger made no job."""

    job_name: str
    trigger_time: float
    status: str | None = None
    missed: bool = False
    error: str | None = None
    signals: dict[str, Any] | None = None
    alerts: dict[str, Any] | None = None
    read_error: str | None = None


class MonitorService:
    def __init__(self, jobs: JobService, schedules: ScheduleStore, datastores: DatastoreService,
                 collections: CollectionsOf, notifier: Notifier, submit: Submit) -> None:
        self._jobs = jobs
        self._schedules = schedules
        self._datastores = datastores
        self._collections = collections
        self._notifier = notifier
        self._submit = submit
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        jobs.subscribe(self.on_job_event)

    # -- checks at create -------------------------------------------------------------------

    def check(self, workspace: str, definition: MonitorDefinition) -> None:
        """What can be checked before the first trigger: the deployment and its collection."""
        target = definition.monitoring_target.endpoint_and_deployment
        if target is None:
            return
        collections = self._collections(workspace, *target)
        for name, signal in default_signals(definition).items():
            if signal.production_data is not None and signal.production_data.path:
                continue
            sides = (["request", "response"] if signal.type == "feature_attribution_drift"
                     else ["response"] if signal.type in _OUTPUT_SIGNALS else ["request"])
            for side in sides:
                if getattr(collections, side) is not None:
                    continue
                raise InvalidInputError(
                    f"monitoring_signals.{name}: deployment {target[0]}/{target[1]} does not "
                    f"collect its {side}s: enable data_collector.collections."
                    f"{'model_outputs' if side == 'response' else 'model_inputs'} (logged by "
                    f"the scoring script) or .{side} (the router's payloads) on it, or give "
                    "production_data.input_data")

    # -- the job ------------------------------------------------------------------------------

    def job_for(self, workspace: str, schedule: JobSchedule, fire: ScheduleFire,
                marks: dict[str, str]) -> Job | PipelineJob:
        definition = schedule.create_monitor
        assert definition is not None
        trigger_time = fire.fire_time
        frequency = monitoring_frequency(schedule, trigger_time)
        inputs: dict[str, JobInput] = {}
        names: dict[tuple[str, str], str] = {}

        def input_for(path: str, kind: str) -> str:
            key = (path, kind)
            if key not in names:
                names[key] = f"data_{len(names)}"
                inputs[names[key]] = JobInput(type=kind, path=path)
            return names[key]

        target = definition.monitoring_target.endpoint_and_deployment
        collections = self._collections(workspace, *target) if target else None
        signals: dict[str, Any] = {}
        customs: dict[str, MonitoringSignal] = {}
        for name, signal in default_signals(definition).items():
            if signal.type == "custom":
                customs[name] = signal
                signals[name] = {"type": "custom", "metric_thresholds": signal.metric_thresholds,
                                 "alert_enabled": signal.alert_enabled,
                                 "custom_input": f"custom_{len(customs) - 1}"}
                continue
            prod = self._data_spec(signal, signal.production_data, collections, input_for,
                                   trigger_time, frequency, production=True)
            ref = None
            if signal.type not in ("generation_token_statistics", "generation_latency"):
                if signal.reference_data is not None:
                    ref = self._data_spec(signal, signal.reference_data, collections,
                                          input_for, trigger_time, frequency,
                                          production=False)
                else:   # earlier production data, up to the production window
                    ref = dict(prod, start=None, end=prod["start"])
            signals[name] = {"type": signal.type, "features": signal.features,
                             "top_n_feature_importance": signal.top_n_feature_importance,
                             "metric_thresholds": signal.metric_thresholds,
                             "alert_enabled": signal.alert_enabled,
                             "production": prod, "reference": ref}
        config = {"monitor": schedule.name, "trigger_time": marks["azureml.scheduleTriggerTime"],
                  "ml_task": definition.monitoring_target.ml_task, "signals": signals}
        own = list(inputs)   # the data the built-in signals read
        if customs:
            return self._pipeline(schedule, fire, marks, config, inputs, own, customs,
                                  input_for)
        args = "".join(f" --input {n}=${{{{inputs.{n}}}}}" for n in inputs)
        return Job(name=fire.job_name, display_name=fire.job_name, type="command",
                   command=f"python -m ember.monitoring.job{args}"
                           f" --output ${{{{outputs.{OUTPUT}}}}}",
                   experiment_name=schedule.name,
                   description=f"Monitor {schedule.name} at {config['trigger_time']}",
                   tags={**schedule.tags, "monitor": schedule.name},
                   properties={**marks, MONITOR_PROPERTY: schedule.name},
                   environment_variables={CONFIG_ENV: json.dumps(config)},
                   inputs=inputs, outputs={OUTPUT: JobOutput(type="uri_folder")},
                   status=JobStatus.QUEUED)

    @staticmethod
    def _pipeline(schedule: JobSchedule, fire: ScheduleFire, marks: dict[str, str],
                  config: dict[str, Any], inputs: dict[str, JobInput], own: list[str],
                  customs: dict[str, MonitoringSignal],
                  input_for: Callable[[str, str], str]) -> PipelineJob:
        """A monitor with custom signals runs as a pipeline: a step per custom signal (its
        component, with its data), then the ``monitor`` step, which computes the built-in
        signals, reads each custom step's ``signal_metrics`` and writes the results to the
        pipeline's ``signals`` output."""
        steps: dict[str, PipelineStep] = {}
        monitor_inputs = {n: Binding(parent_input=n) for n in own}
        for i, (name, signal) in enumerate(customs.items()):
            step = f"custom_{i}"
            bound = {port: Binding(parent_input=input_for(d.path or "", d.type))
                     for port, d in signal.input_data.items()}
            bound.update({k: Binding(literal=v, type=_literal_type(v))
                          for k, v in signal.inputs.items()})
            steps[step] = PipelineStep(name=step, kind="component",
                                       component_ref=signal.component_id, inputs=bound,
                                       outputs={"signal_metrics": Binding()},
                                       display_name=name)
            monitor_inputs[step] = Binding(step=step, step_output="signal_metrics")
        args = "".join(f" --input {n}=${{{{inputs.{n}}}}}" for n in monitor_inputs)
        steps["monitor"] = PipelineStep(
            name="monitor", kind="command", display_name="monitor",
            job=Job(name="", command=f"python -m ember.monitoring.job{args}"
                                     f" --output ${{{{outputs.{OUTPUT}}}}}",
                    environment_variables={CONFIG_ENV: json.dumps(config)},
                    outputs={OUTPUT: JobOutput(type="uri_folder")}),
            inputs=monitor_inputs, outputs={OUTPUT: Binding(parent_output=OUTPUT)})
        return PipelineJob(
            name=fire.job_name, display_name=fire.job_name, experiment_name=schedule.name,
            description=f"Monitor {schedule.name} at {config['trigger_time']}",
            tags={**schedule.tags, "monitor": schedule.name},
            properties={**marks, MONITOR_PROPERTY: schedule.name}, inputs=dict(inputs),
            outputs={OUTPUT: JobOutput(type="uri_folder",
                                       path=default_output_uri(fire.job_name, OUTPUT))},
            jobs=steps)

    @staticmethod
    def _data_spec(signal: MonitoringSignal, data: MonitorInputData | None,
                   collections: DeploymentCollections | None,
                   input_for: Callable[[str, str], str], trigger_time: float,
                   frequency: float, *, production: bool) -> dict[str, Any]:
        context = (data.data_context if data is not None and data.data_context else
                   "model_outputs" if signal.type in _OUTPUT_SIGNALS else
                   "model_inputs_outputs" if signal.type == "feature_attribution_drift"
                   and production else "model_inputs")
        extra: dict[str, str] = {}
        if data is not None and data.path:
            path, kind = data.path, data.type
            collected = False
        else:
            if collections is None:
                raise InvalidInputError("a monitor on a model needs production_data.input_data")
            side = "response" if context == "model_outputs" else "request"
            path, kind = getattr(collections, side), "uri_folder"
            if path is None:
                raise InvalidInputError(f"the deployment does not collect its {side}s")
            if context == "model_inputs_outputs":
                if collections.response is None:
                    raise InvalidInputError("the deployment does not collect its responses")
                extra["outputs_input"] = input_for(collections.response, "uri_folder")
            collected = True
        window = data.data_window if data is not None else None
        start = end = None
        if collected or (window is not None and window.lookback_window_size):
            offset = seconds(window.lookback_window_offset) if window else 0.0
            size = (seconds(window.lookback_window_size)
                    if window and window.lookback_window_size else frequency)
            end = trigger_time - offset
            start = end - size
            if not production and (window is None or not window.lookback_window_size):
                start = None
        return {"input": input_for(path, kind), "collected": collected, "context": context,
                "start": start, "end": end,
                "columns": dict(data.data_column_names) if data is not None else {}, **extra}

    # -- after the job --------------------------------------------------------------------------

    def on_job_event(self, event: JobEvent) -> None:
        if event.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
            return
        try:
            job = self._jobs.get(event.workspace, event.name, with_history=False)
        except NotFoundError:
            return
        if MONITOR_PROPERTY not in job.properties or job.parent_job_name:
            return
        self._start_alert(event.workspace, job)

    def recover(self, within: float = 86400.0) -> int:
        """At start-up: send the alerts of breached monitor runs that ended (in the last
        ``within`` seconds) while no alert was recorded for them, as when the server stopped
        between a run's end and its alerts. Webhooks carry the run's Idempotency-Key, so a
        receiver can drop an alert it had already been sent. Returns how many runs."""
        since = time.time() - within
        found = 0
        for workspace, job in self._jobs.list_in_status([JobStatus.FAILED],
                                                        with_history=False):
            if (MONITOR_PROPERTY not in job.properties or job.parent_job_name
                    or (job.end_time or job.creation_time) < since):
                continue
            try:
                result = self.results(workspace, job.name)
                if not result or not result.get("breached") or \
                        self.alerts(workspace, job.name) is not None:
                    continue
            except Exception:   # noqa: BLE001 - one unreadable run must not stop the others
                log.exception("monitor %s/%s: could not read its results", workspace, job.name)
                continue
            log.warning("monitor %s/%s breached but its alerts were not sent: sending them now",
                        workspace, job.name)
            found += 1
            self._start_alert(workspace, job)
        return found

    def _start_alert(self, workspace: str, job: Job) -> None:
        thread = threading.Thread(target=self._after, args=(workspace, job),
                                  name=f"ember-monitor-alert-{job.name}", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def results(self, workspace: str, job_name: str) -> dict[str, Any] | None:
        """A monitor job's ``signals.json``, or None when it wrote none."""
        return self._read_json(workspace, job_name, RESULT_FILE)

    def alerts(self, workspace: str, job_name: str) -> dict[str, Any] | None:
        return self._read_json(workspace, job_name, ALERTS_FILE)

    def runs(self, workspace: str, schedule: str, top: int = 20) -> list[MonitorRun]:
        """A monitor schedule's last ``top`` triggers, newest first: each one's job, its
        status, and the ``signals.json`` and ``alerts.json`` it wrote (None until written).
        Raises NotFoundError for an unknown schedule, InvalidInputError for a schedule that
        runs no monitor."""
        if self._schedules.get(workspace, schedule).create_monitor is None:
            raise InvalidInputError(f"schedule {schedule!r} is not a monitor (it has no "
                                    "create_monitor)")
        if not 1 <= top <= 1000:
            raise InvalidInputError(f"top={top}: give 1 to 1000 runs")
        fires = sorted(self._schedules.fires(workspace, schedule),
                       key=lambda f: -f.fire_time)[:top]
        return [self._run_of(workspace, f) for f in fires]

    def _run_of(self, workspace: str, fire: ScheduleFire) -> MonitorRun:
        run = MonitorRun(job_name=fire.job_name, trigger_time=fire.fire_time,
                         missed=fire.missed, error=fire.error)
        if fire.error or not fire.done:
            return run
        try:
            job = self._jobs.get(workspace, fire.job_name, with_history=False)
        except NotFoundError:   # deleted since
            return run
        run.status = job.status
        for file, attr in ((RESULT_FILE, "signals"), (ALERTS_FILE, "alerts")):
            try:
                setattr(run, attr, self._read_json(workspace, job.name, file))
            except NotFoundError:   # a job without the monitor's output
                pass
            except ValueError as exc:   # a file cut short or not JSON: said, not raised
                run.read_error = f"{file}: {exc}"
        return run

    def _read_json(self, workspace: str, job_name: str, file: str) -> dict[str, Any] | None:
        store, rel = self._output(workspace, job_name)
        path = f"{rel.rstrip('/')}/{file}"
        if not store.exists(path):
            return None
        with store.open_read(path) as fh:
            data = json.loads(fh.read())
        return data if isinstance(data, dict) else None

    def _output(self, workspace: str, job_name: str) -> tuple[Any, str]:
        uri = self._jobs.output_uri(workspace, job_name, OUTPUT)
        return self._datastores.locate_uri(workspace, uri)

    def _after(self, workspace: str, job: Job) -> None:
        try:
            self._alert(workspace, job)
        except Exception:   # noqa: BLE001 - an alert failure must not end the server
            log.exception("monitor %s/%s: sending its alerts failed", workspace, job.name)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _alert(self, workspace: str, job: Job) -> None:
        result = self.results(workspace, job.name)
        if not result or not result.get("breached"):
            return
        try:
            schedule = self._schedules.get(workspace, job.properties[MONITOR_PROPERTY])
        except NotFoundError:
            return
        if schedule.create_monitor is None:
            return
        alert = schedule.create_monitor.alert_notification
        breached = list(result["breached"])
        payload = {
            "schema": "ember.monitor.alert/1", "workspace": workspace,
            "monitor": schedule.name, "job": job.name,
            "job_url": f"/ws/{workspace}/jobs/{job.name}",
            "trigger_time": result.get("trigger_time"),
            "target": (schedule.create_monitor.monitoring_target.endpoint_deployment_id
                       or schedule.create_monitor.monitoring_target.model_id),
            "signals": [{"name": n, "type": e.get("type"), "breached": True,
                         "metrics": [m for m in e.get("metrics") or [] if m.get("breached")]}
                        for n, e in result["signals"].items() if n in breached]}
        record: dict[str, Any] = {"breached": breached, "deliveries": [], "jobs": []}
        for url in alert.webhooks:
            d = self._notifier.webhook(url, payload, key=f"{workspace}/{job.name}")
            record["deliveries"].append(asdict(d))
        if alert.emails:
            from ember.services.notifications import format_email

            subject, body = format_email(payload)
            record["deliveries"] += [asdict(d) for d in
                                     self._notifier.email(alert.emails, subject, body)]
        for i, action in enumerate(alert.actions):
            if action.signals and not set(action.signals) & set(breached):
                continue
            # Named after the run, so alerts sent again after a restart start it once.
            name = f"{job.name}-action{i + 1}"
            try:
                made = self._submit(workspace, _action_job(action.create_job, job.name,
                                                           schedule.name, name),
                                    schedule.created_by)
                record["jobs"].append({"name": made.name, "error": None})
            except (AlreadyExistsError, ConflictError):   # started before the restart
                record["jobs"].append({"name": name, "error": None})
                continue
                log.warning("monitor %s/%s breached (%s): started job %s", workspace,
                            schedule.name, ", ".join(breached), made.name)
            except Exception as exc:   # noqa: BLE001 - recorded, and the other actions go on
                record["jobs"].append({"name": None, "error": str(exc)})
        store, rel = self._output(workspace, job.name)
        store.write_bytes(f"{rel.rstrip('/')}/{ALERTS_FILE}",
                          json.dumps(record, indent=1).encode("utf-8"))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for alert threads in flight (at shutdown); False if some still run."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return True
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return False


def monitoring_frequency(schedule: JobSchedule, t: float) -> float:
    """Seconds between the schedule's triggers, the default production window (Azure: the
    monitoring frequency): a recurrence's frequency × interval; a cron expression's gap between
    its two triggers after ``t``, whatever its start and end times."""
    trigger = schedule.trigger
    if isinstance(trigger, RecurrenceTrigger):
        return float(_FREQUENCY_SECONDS[trigger.frequency] * max(1, trigger.interval))
    free = replace(trigger, start_time=None, end_time=None)
    try:
        first = next_fire(free, t, 0.0)
        second = next_fire(free, first, 0.0) if first is not None else None
    except (ValueError, OverflowError):
        return 86400.0
    return max(60.0, second - first) if first is not None and second is not None else 86400.0


def _literal_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"


def _action_job(create_job: Any, monitor_job: str, monitor: str,
                name: str) -> dict[str, Any] | Job:
    marks = {"ember.monitorAlertOf": monitor_job, "ember.monitorName": monitor}
    if isinstance(create_job, str):
        raise InvalidInputError("an alert action's create_job must be a job definition")
    body = json.loads(json.dumps(create_job))
    body["properties"] = {**(body.get("properties") or {}), **marks}
    body["name"] = name
    return dict(body)
