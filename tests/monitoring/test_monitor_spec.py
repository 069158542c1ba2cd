"""Monitor schedule YAML (``create_monitor``): Azure's example loads; bad files get one error
naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.monitors import monitor_from_dict
from ember.specs.schedules import load_schedule_spec

AZURE_EXAMPLE = """\
$schema: http://azureml/sdk-2-0/Schedule.json
name: fraud_detection_model_monitoring
trigger:
  type: recurrence
  frequency: day
  interval: 1
  schedule: {hours: 3, minutes: 15}
create_monitor:
  compute: {instance_type: standard_e4s_v3, runtime_version: "3.4"}
  monitoring_target:
    ml_task: classification
    endpoint_deployment_id: azureml:fraud-detection-endpoint:fraud-detection-deployment
  monitoring_signals:
    advanced_data_drift:
      type: data_drift
      production_data:
        data_context: model_inputs
        data_window: {lookback_window_size: P7D, lookback_window_offset: P0D}
      reference_data:
        input_data: {path: "azureml:my_model_training_data:1", type: mltable}
        data_context: training
        data_column_names: {target_column: is_fraud}
      features: {top_n_feature_importance: 20}
      alert_enabled: true
      metric_thresholds:
        numerical: {jensen_shannon_distance: 0.01}
        categorical: {pearsons_chi_squared_test: 0.02}
    quality:
      type: data_quality
      reference_data:
        input_data: {path: "azureml:my_model_training_data:1", type: mltable}
      features: [age, amount]
      metric_thresholds:
        - {applicable_feature_type: numerical, metric_name: null_value_rate, threshold: 0.01}
  alert_notification:
    emails: [abc@example.com]
    webhooks: ["http://127.0.0.1:9/hook"]
    actions:
      - action: create_job
        create_job: ./retrain.yml
        signals: [advanced_data_drift]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "retrain.yml").write_text("command: echo retrain\n")
    path = tmp_path / "monitor.yml"
    path.write_text(text)
    return path


def test_azures_example_loads(tmp_path: Path) -> None:
    s = load_schedule_spec(write(tmp_path, AZURE_EXAMPLE))
    m = s.create_monitor
    assert m is not None and s.create_job is None
    assert m.monitoring_target.endpoint_and_deployment == ("fraud-detection-endpoint",
                                                           "fraud-detection-deployment")
    drift = m.monitoring_signals["advanced_data_drift"]
    assert drift.type == "data_drift" and drift.top_n_feature_importance == 20
    assert drift.production_data is not None and drift.production_data.data_window is not None
    assert drift.production_data.data_window.lookback_window_size == "P7D"
    assert drift.reference_data is not None
    assert drift.reference_data.data_column_names == {"target_column": "is_fraud"}
    assert drift.metric_thresholds == {"numerical": {"jensen_shannon_distance": 0.01},
                                       "categorical": {"pearsons_chi_squared_test": 0.02}}
    quality = m.monitoring_signals["quality"]
    assert quality.features == ["age", "amount"]
    assert quality.metric_thresholds == {"numerical": {"null_value_rate": 0.01}}
    action = m.alert_notification.actions[0]
    assert action.signals == ["advanced_data_drift"]
    assert action.create_job.command == "echo retrain"
    assert m.alert_notification.webhooks == ["http://127.0.0.1:9/hook"]


def test_a_deployment_with_no_signals_listed_is_azures_out_of_box_monitor(
        tmp_path: Path) -> None:
    s = load_schedule_spec(write(tmp_path, "name: m\ntrigger: {type: cron, expression: "
                                 "'0 * * * *'}\ncreate_monitor:\n  monitoring_target:\n"
                                 "    endpoint_deployment_id: azureml:e:d\n"))
    assert s.create_monitor is not None and s.create_monitor.monitoring_signals == {}


@pytest.mark.parametrize("old, new, key, line, message", [
    ("      type: data_drift\n", "      type: data_drfit\n",
     "create_monitor.monitoring_signals.advanced_data_drift.type", 15, "did you mean"),
    ("        numerical: {jensen_shannon_distance: 0.01}",
     "        numerical: {jensen_shannon_distnce: 0.01}",
     "create_monitor.monitoring_signals.advanced_data_drift.metric_thresholds.numerical."
     "jensen_shannon_distnce", 26, "unknown key"),
    ("lookback_window_size: P7D", "lookback_window_size: 7 days",
     "create_monitor.monitoring_signals.advanced_data_drift.production_data.data_window."
     "lookback_window_size", 18, "ISO 8601"),
    ("endpoint_deployment_id: azureml:fraud-detection-endpoint:fraud-detection-deployment",
     "endpoint_deployment_id: fraud-detection-endpoint",
     "create_monitor.monitoring_target.endpoint_deployment_id", 12, "azureml:<endpoint>"),
    ("    emails: [abc@example.com]", "    emails: [not-an-address]",
     "create_monitor.alert_notification.emails", 36, "not an email address"),
    ('    webhooks: ["http://127.0.0.1:9/hook"]', '    webhooks: ["ftp://x/hook"]',
     "create_monitor.alert_notification.webhooks", 37, "http(s) URL"),
    ('input_data: {path: "azureml:my_model_training_data:1", type: mltable}\n        data_context',
     'input_data: {path: "./train.csv", type: mltable}\n        data_context',
     "create_monitor.monitoring_signals.advanced_data_drift.reference_data.input_data.path",
     20, "local path"),
    ("        data_column_names: {target_column: is_fraud}\n", "",
     None, None, "unused"),
    ("      features: {top_n_feature_importance: 20}",
     "      features: {top_n_feature_importance: 0}",
     "create_monitor.monitoring_signals.advanced_data_drift.features."
     "top_n_feature_importance", 23, "integer >= 1"),
    ("  monitoring_target:", "  monitoring_targte:",
     "create_monitor.monitoring_targte", 10, "did you mean 'monitoring_target'"),
    ("    quality:\n      type: data_quality\n",
     "    quality:\n      type: custom\n",
     "create_monitor.monitoring_signals.quality.reference_data", 30, "unknown key"),
    ("        create_job: ./retrain.yml", "        create_job: ./nope.yml",
     "create_monitor.alert_notification.actions[0].create_job", 40, "not found"),
])
def test_bad_monitor_yaml_names_file_line_and_key(tmp_path: Path, old: str, new: str,
                                                   key: str | None, line: int | None,
                                                   message: str) -> None:
    assert old in AZURE_EXAMPLE
    path = write(tmp_path, AZURE_EXAMPLE.replace(old, new))
    if key is None:   # removing the target column is fine for data drift
        load_schedule_spec(path)
        return
    with pytest.raises(SpecError) as info:
        load_schedule_spec(path)
    err = info.value
    assert message in str(err)
    assert err.key == key, str(err)
    assert err.file == str(path) and err.line == line, str(err)
    assert len(str(err).splitlines()) == 1


def test_signal_rules(tmp_path: Path) -> None:
    base = ("name: m\ntrigger: {type: cron, expression: '0 * * * *'}\ncreate_monitor:\n"
            "  monitoring_target: {model_id: 'azureml:m:1'}\n  monitoring_signals:\n")
    cases = {
        "    a: {type: data_drift}\n": "production_data: is required when monitoring_target",
        "    a: {type: model_performance, production_data: {data_context: model_outputs}}\n":
            "reference_data: is required for a model_performance signal",
        ("    a:\n      type: feature_attribution_drift\n      production_data: {}\n"
         "      reference_data: {input_data: {path: 'azureml:t:1'}}\n"):
            "needs data_column_names.target_column",
        ("    a:\n      type: data_drift\n      production_data:\n        input_data: "
         "{path: 'azureml:p:1'}\n        pre_processing_component: azureml:pp:1\n"):
            "pre_processing_component: is not supported",
    }
    for text, message in cases.items():
        path = write(tmp_path, base + text)
        with pytest.raises(SpecError, match=message.replace("(", r"\(")):
            load_schedule_spec(path)
    path = write(tmp_path, "name: m\ntrigger: {type: cron, expression: '0 * * * *'}\n"
                 "create_job: ./retrain.yml\ncreate_monitor:\n  monitoring_target: "
                 "{endpoint_deployment_id: 'azureml:e:d'}\n")
    with pytest.raises(SpecError, match="not both"):
        load_schedule_spec(path)


def test_custom_signal_rules(tmp_path: Path) -> None:
    base = ("name: m\ntrigger: {type: cron, expression: '0 * * * *'}\ncreate_monitor:\n"
            "  monitoring_target: {model_id: 'azureml:m:1'}\n  monitoring_signals:\n"
            "    c:\n      type: custom\n")
    cases = {
        "      input_data: {d: {input_data: {path: 'azureml:d:1'}}}\n":
            "component_id: is required",
        "      component_id: my_signal\n      input_data: {d: {input_data: {path: 'azureml:d:1'}}}\n":
            "is not azureml:<component>:<version>",
        "      component_id: azureml:s:1\n": "input_data: is required",
        "      component_id: azureml:s:1\n      input_data: {d: {data_context: test}}\n":
            "needs input_data.path",
        ("      component_id: azureml:s:1\n      input_data: {d: {input_data: {path: 'azureml:d:1'}}}\n"
         "      metric_thresholds: [{metric_name: m, threshold: high}]\n"):
            "item 0 must be",
        ("      component_id: azureml:s:1\n      input_data: {d: {input_data: {path: 'azureml:d:1'}}}\n"
         "      features: [a]\n"): "unknown key",
    }
    for text, message in cases.items():
        path = write(tmp_path, base + text)
        with pytest.raises(SpecError, match=message.replace("(", r"\(")):
            load_schedule_spec(path)
    made = load_schedule_spec(write(tmp_path, base + (
        "      component_id: azureml:s:1\n      input_data: {d: {input_data: {path: 'azureml:d:1'}}}\n"
        "      inputs: {k: 3}\n      metric_thresholds: [{metric_name: m, threshold: 2}]\n")))
    assert made.create_monitor is not None
    signal = made.create_monitor.monitoring_signals["c"]
    assert signal.metric_thresholds == {"m": 2.0} and signal.inputs == {"k": 3}
    from ember.specs.monitors import monitor_to_dict

    again = monitor_from_dict(monitor_to_dict(made.create_monitor))
    assert again == made.create_monitor


def test_a_definition_sent_as_json_is_checked_as_the_yaml_is() -> None:
    with pytest.raises(SpecError) as info:
        monitor_from_dict({"monitoring_target": {"endpoint_deployment_id": "azureml:e:d"},
                           "monitoring_signals": {"s": {"type": "data_drift",
                                                        "metric_thresholds": {
                                                            "numerical": {"psi": 1}}}}})
    assert info.value.key == "create_monitor.monitoring_signals.s.metric_thresholds.numerical.psi"
    made = monitor_from_dict({
        "monitoring_target": {"endpoint_deployment_id": "azureml:e:d"},
        "alert_notification": {"actions": [{"action": "create_job",
                                            "create_job": {"command": "echo hi"}}]}})
    assert made.alert_notification.actions[0].create_job == {"command": "echo hi"}
