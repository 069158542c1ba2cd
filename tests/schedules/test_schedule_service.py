"""The schedule service on a Platform (not started: jobs stay Queued), its clock driven by the
test through ``tick(now)``."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ember.client.convert import job_to_json
from ember.engine.schedules import job_name
from ember.entities.jobs import Job, JobInput
from ember.entities.schedules import CronTrigger, JobSchedule, RecurrenceTrigger
from ember.entities.workspaces import DEFAULT_WORKSPACE as WS
from ember.errors import ConflictError, SpecError
from ember.server.context import Platform
from ember.settings import Settings
from ember.specs.schedules import load_schedule_spec

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 5, 5, 10, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(Settings(home=tmp_path / "home", port=0))
    p.schedules.clock = lambda: T0
    try:
        yield p
    finally:
        p.close()


def _body(command: str = "echo hi", **inputs: str) -> dict[str, object]:
    job = Job(name="", command=command,
              inputs={k: JobInput(type="string", value=v) for k, v in inputs.items()})
    return job_to_json(job)


def _hourly(name: str = "hourly", **kw: object) -> JobSchedule:
    return JobSchedule(name=name, trigger=CronTrigger("0 * * * *", **kw),  # type: ignore[arg-type]
                       create_job=_body("echo ${{inputs.when}} ${{inputs.me}}",
                                        when="${{creation_context.trigger_time}}",
                                        me="${{name}}"))


def test_no_start_time_fires_at_once_then_on_each_slot(platform: Platform) -> None:
    s = platform.schedules.create_or_update(WS, _hourly())
    assert s.next_fire_time == T0
    [job] = platform.schedules.tick(T0)
    assert job.name == "hourly-20260505T100000Z" == job.display_name
    assert job.inputs["when"].value == "2026-05-05T10:00:00Z"   # the macros resolved
    assert job.inputs["me"].value == job.name
    assert job.properties["azureml.scheduleName"] == "hourly"
    assert platform.schedules.tick(T0 + 1) == []                # no double fire
    [job2] = platform.schedules.tick(T0 + 3600)
    assert job2.name == "hourly-20260505T110000Z"
    assert "ember.missedTrigger" not in job2.properties
    assert [f.job_name for f in platform.schedules.history(WS, "hourly")] == [
        job.name, job2.name]


def test_a_missed_trigger_fires_once_and_says_so(platform: Platform,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    platform.schedules.create_or_update(WS, _hourly(start_time="2026-05-05T09:00:00Z"))
    # The server was down from 10:30 to 15:10: five slots passed, one job is made
    made = platform.schedules.tick(T0 + 5 * 3600 + 600)
    assert [j.name for j in made] == ["hourly-20260505T110000Z"]
    assert made[0].properties["ember.missedTrigger"] == "true"
    assert made[0].tags["missed_trigger"] == "2026-05-05T11:00:00Z"
    assert "missed while no server ran" in caplog.text
    assert platform.schedules.get(WS, "hourly").next_fire_time == T0 + 6 * 3600
    assert platform.schedules.tick(T0 + 5 * 3600 + 601) == []


def test_disable_enable_end_time_and_delete(platform: Platform) -> None:
    platform.schedules.create_or_update(WS, _hourly(end_time="2026-05-05T11:30:00Z"))
    platform.schedules.disable(WS, "hourly")
    assert platform.schedules.tick(T0 + 3600) == []
    assert [s.name for s in platform.schedules.list(WS, "disabled_only")] == ["hourly"]
    platform.schedules.clock = lambda: T0 + 3600 + 5
    platform.schedules.enable(WS, "hourly")      # slots passed while disabled don't fire
    assert platform.schedules.tick(T0 + 2 * 3600) == []   # 12:00 is after end_time
    assert platform.schedules.get(WS, "hourly").next_fire_time is None
    with pytest.raises(ConflictError, match="disable it first"):
        platform.schedules.delete(WS, "hourly")
    platform.schedules.disable(WS, "hourly")
    platform.schedules.delete(WS, "hourly")
    assert platform.schedules.list(WS, "all") == []


def test_trigger_now_and_an_existing_job_by_reference(platform: Platform) -> None:
    platform.jobs.create(WS, Job(name="base", command="echo base",
                                 inputs={"x": JobInput(type="string", value="1")}))
    s = JobSchedule(name="rerun", trigger=RecurrenceTrigger("day", 1),
                    create_job="azureml:base",
                    create_job_overrides={"inputs": {"x": "2"}, "tags": {"k": "v"}})
    platform.schedules.create_or_update(WS, s)
    job = platform.schedules.trigger(WS, "rerun", T0 + 42)
    assert job.name == job_name("rerun", T0 + 42) == "rerun-20260505T100042Z"
    assert (job.command, job.inputs["x"].value, job.tags["k"]) == ("echo base", "2", "v")
    with pytest.raises(ConflictError, match="already triggered"):
        platform.schedules.trigger(WS, "rerun", T0 + 42)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_platforms_on_one_database_fire_each_trigger_once(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite"
           else request.getfixturevalue("pg_url"))
    platforms = [Platform(Settings(home=tmp_path / f"h{i}", port=0, store_url=url))
                 for i in range(2)]
    try:
        for p in platforms:
            p.schedules.clock = lambda: T0
        platforms[0].schedules.create_or_update(WS, _hourly())
        made: list[list[Job]] = [[], []]
        for slot in range(4):
            now = T0 + slot * 3600
            barrier = threading.Barrier(2)

            def run(i: int, now: float = now, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                made[i] += platforms[i].schedules.tick(now)
            threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        names = sorted(j.name for j in made[0] + made[1])
        assert names == [job_name("hourly", T0 + k * 3600) for k in range(4)]
        assert len(platforms[0].schedules.history(WS, "hourly")) == 4
    finally:
        for p in platforms:
            p.close()


def test_schedule_yaml_loads_and_bad_yaml_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "job.yml").write_text("command: echo ${{inputs.when}}\n"
                                      "inputs:\n  when: ${{creation_context.trigger_time}}\n")
    good = tmp_path / "s.yml"
    good.write_text("$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json\n"
                    "name: nightly\ntrigger:\n  type: recurrence\n  frequency: day\n"
                    "  interval: 1\n  schedule:\n    hours: [4]\n    minutes: [0, 30]\n"
                    "  time_zone: W. Europe Standard Time\ncreate_job: ./job.yml\n")
    s = load_schedule_spec(good)
    assert isinstance(s.trigger, RecurrenceTrigger) and s.trigger.schedule is not None
    assert s.trigger.schedule.minutes == [0, 30]
    assert isinstance(s.create_job, Job)
    cases = {
        "  type: cron\n  expression: '61 * * * *'\n": (4, "trigger.expression"),
        "  type: cron\n  expression: '0 * * * *'\n  time_zone: Nowhere Time\n":
            (5, "trigger.time_zone"),
        "  type: recurrence\n  frequency: fortnight\n": (4, "trigger.frequency"),
        "  type: recurrence\n  frequency: day\n  schedule:\n    hours: [25]\n    minutes: [0]\n":
            (6, "trigger.schedule.hours"),
        "  type: cron\n  expresion: '0 * * * *'\n": (4, "trigger.expresion"),
    }
    for trigger, (line, key) in cases.items():
        bad = tmp_path / "bad.yml"
        bad.write_text(f"name: b\ntrigger:\n{trigger}create_job: azureml:x\n")
        with pytest.raises(SpecError) as err:
            load_schedule_spec(bad)
        assert (err.value.file, err.value.line, err.value.key) == (str(bad), line, key), trigger


def test_a_workspace_with_an_enabled_schedule_is_not_deleted(platform: Platform) -> None:
    from ember.entities.workspaces import Workspace

    platform.workspaces.create(Workspace(name="w2", creation_time=T0))
    platform.schedules.create_or_update("w2", _hourly())
    with pytest.raises(ConflictError, match="enabled schedule 'hourly'"):
        platform.delete_workspace("w2")
    platform.schedules.disable("w2", "hourly")
    platform.delete_workspace("w2")


def test_create_job_inline_and_file_with_overrides(tmp_path: Path, platform: Platform) -> None:
    (tmp_path / "job.yml").write_text("command: echo ${{inputs.x}}\n"
                                      "inputs:\n  x: one\nexperiment_name: e1\n")
    inline = tmp_path / "inline.yml"
    inline.write_text("name: inline\ntrigger:\n  type: cron\n  expression: '0 * * * *'\n"
                      "create_job:\n  type: command\n  command: echo inline\n")
    s = load_schedule_spec(inline)
    assert isinstance(s.create_job, Job) and s.create_job.command == "echo inline"
    over = tmp_path / "over.yml"
    over.write_text("name: over\ntrigger:\n  type: cron\n  expression: '0 * * * *'\n"
                    "create_job:\n  job: ./job.yml\n  inputs:\n    x: two\n"
                    "  experiment_name: e2\n  tags:\n    k: v\n")
    s = load_schedule_spec(over)
    assert s.create_job_overrides == {"inputs": {"x": "two"}, "experiment_name": "e2",
                                      "tags": {"k": "v"}}
    s.create_job = job_to_json(s.create_job)
    platform.schedules.create_or_update(WS, s)
    [job] = platform.schedules.tick(T0)
    assert (job.inputs["x"].value, job.experiment_name, job.tags["k"]) == ("two", "e2", "v")


def test_a_fire_claimed_but_never_submitted_is_submitted_at_start_up(platform: Platform
                                                                     ) -> None:
    from ember.entities.schedules import ScheduleFire

    platform.schedules.create_or_update(WS, _hourly())
    # A process claimed the 10:00 trigger and stopped before submitting its job.
    fire = ScheduleFire("hourly", T0, job_name("hourly", T0))
    assert platform.store.schedules.claim_fire(WS, "hourly", T0, T0 + 3600, fire)
    [job] = platform.schedules.recover()
    assert job.name == "hourly-20260505T100000Z"
    assert platform.schedules.recover() == []
    assert platform.schedules.tick(T0 + 10) == []
    [f] = platform.schedules.history(WS, "hourly")
    assert (f.done, f.error) == (True, None)


def test_an_existing_pipeline_job_by_reference_runs_again_with_overrides(
        tmp_path: Path, platform: Platform) -> None:
    from ember.specs.pipelines import load_pipeline_spec

    (tmp_path / "p.yml").write_text(
        "type: pipeline\nexperiment_name: nightly-train\n"
        "inputs:\n  greeting: hello\n"
        "jobs:\n  say:\n    type: command\n    command: echo ${{inputs.g}}\n"
        "    inputs:\n      g: ${{parent.inputs.greeting}}\n")
    first = platform.pipelines.create(WS, load_pipeline_spec(tmp_path / "p.yml"))
    s = JobSchedule(name="retrain", trigger=RecurrenceTrigger("day", 1),
                    create_job=f"azureml:{first.name}",
                    create_job_overrides={"inputs": {"greeting": "at ${{creation_context."
                                                                 "trigger_time}}"},
                                          "tags": {"k": "v"}})
    platform.schedules.create_or_update(WS, s)
    job = platform.schedules.trigger(WS, "retrain", T0 + 7)
    assert job.type == "pipeline" and job.name == "retrain-20260505T100007Z"
    assert job.experiment_name == "nightly-train" and job.tags["k"] == "v"
    assert job.inputs["greeting"].value == "at 2026-05-05T10:00:07Z"
    assert job.properties["azureml.scheduleName"] == "retrain"
    assert job.definition is not None and set(job.definition["jobs"]) == {"say"}
