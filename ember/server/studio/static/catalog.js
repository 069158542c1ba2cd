/* The catalog's Deploy and Fine-tune forms: as the form changes, the spec it stands for is
   shown as the YAML file(s) the CLI takes; Submit sends the same spec through the REST API
   and shows the API's error when it refuses. */
"use strict";
(function () {
  const model = Ember.data("model-data");
  const files = document.getElementById("yaml-files");
  const errorBox = document.getElementById("form-error");
  const value = (id) => (document.getElementById(id) || {}).value || "";

  function showFiles(list) {
    files.replaceChildren();
    for (const f of list) {
      const id = "yaml-" + f.file.replace(/[^a-z0-9]/gi, "-");
      files.append(
        Ember.el("h3", { text: f.file, id: id + "-title" }),
        Ember.el("pre", { class: "yaml-file", id: id, "data-file": f.file, tabindex: "0",
                          "aria-labelledby": id + "-title" }, [EmberYaml.dump(f.spec)]),
        Ember.el("p", { class: "muted" }, [Ember.el("code", { text: f.command })]));
    }
  }

  function fail(error) {
    errorBox.textContent = error.message || String(error);
    Ember.notice("", "");
  }

  // --- deploy ---------------------------------------------------------------------------
  function deploySpecs() {
    const kind = (document.querySelector('input[name="kind"]:checked') || {}).value || "serverless";
    const name = value("endpoint-name").trim();
    if (kind === "serverless") {
      return { kind, files: [{ file: "endpoint.yml",
        command: "ember serverless-endpoint create -f endpoint.yml",
        spec: { name: name, model_id: model.model_id } }] };
    }
    const deployment = {
      name: value("deployment-name").trim(),
      endpoint_name: name,
      model: model.reference,
      runtime: value("runtime"),
      instance_count: Number(value("instances")) || 1,
      environment_variables: { EMBER_LLM_THREADS: String(value("threads") || "1") },
    };
    return { kind, files: [
      { file: "endpoint.yml", command: "ember online-endpoint create -f endpoint.yml",
        spec: { name: name, auth_mode: "key" } },
      { file: "deployment.yml",
        command: "ember online-deployment create -f deployment.yml --all-traffic",
        spec: deployment }] };
  }

  function refreshDeploy() {
    errorBox.textContent = "";
    const specs = deploySpecs();
    for (const el of document.querySelectorAll(".online-only")) el.hidden = specs.kind !== "online";
    const url = new URL(location.href);
    if (url.searchParams.get("kind") !== specs.kind) {
      url.searchParams.set("kind", specs.kind);
      history.replaceState(null, "", url);
    }
    showFiles(specs.files);
  }

  async function submitDeploy(event) {
    event.preventDefault();
    errorBox.textContent = "";
    const specs = deploySpecs();
    const first = specs.files[0].spec;
    if (!first.name) { fail(new Error("Give the endpoint a name.")); return; }
    const button = document.getElementById("deploy-submit");
    button.disabled = true;
    try {
      if (specs.kind === "serverless") {
        await Ember.api("PUT", Ember.ws("/serverless-endpoints/" + encodeURIComponent(first.name)),
                        { model_id: first.model_id });
      } else {
        const d = Object.assign({}, specs.files[1].spec);
        if (!d.name) throw new Error("Give the deployment a name.");
        await Ember.api("POST", Ember.ws("/online-endpoints"), first);
        const path = "/online-endpoints/" + encodeURIComponent(first.name) + "/deployments/" +
          encodeURIComponent(d.name) + "?all_traffic=true";
        delete d.name; delete d.endpoint_name;
        await Ember.api("PUT", Ember.ws(path), d);
      }
      Ember.notice("Endpoint " + first.name + " is being created.", "ok");
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  }

  // --- fine-tune ------------------------------------------------------------------------
  function finetuneSpec() {
    const spec = {
      type: "finetuning",
      task: value("task"),
      model_provider: "custom",
      model: { path: model.reference, type: "mlflow_model" },
      training_data: value("training-data") ? { type: "uri_file", path: value("training-data") } : undefined,
      validation_data: value("validation-data") ? { type: "uri_file", path: value("validation-data") } : undefined,
      hyperparameters: {},
      outputs: { registered_model: { name: value("output-name").trim(), type: "mlflow_model" } },
    };
    if (value("experiment").trim()) spec.experiment_name = value("experiment").trim();
    for (const id of ["hp-epochs", "hp-lr", "hp-batch"]) {
      const input = document.getElementById(id);
      if (input.value.trim()) spec.hyperparameters[input.name] = input.value.trim();
    }
    return spec;
  }

  function refreshFinetune() {
    errorBox.textContent = "";
    showFiles([{ file: "finetune.yml", command: "ember job create -f finetune.yml",
                 spec: finetuneSpec() }]);
  }

  async function submitFinetune(event) {
    event.preventDefault();
    errorBox.textContent = "";
    const spec = finetuneSpec();
    if (!spec.training_data) { fail(new Error("Choose the training data.")); return; }
    const button = document.getElementById("finetune-submit");
    button.disabled = true;
    try {
      const job = await Ember.api("POST", Ember.ws("/jobs"), JSON.parse(JSON.stringify(spec)));
      Ember.notice("Fine-tuning job " + job.name + " submitted.", "ok");
      const link = Ember.el("a", { href: "/ws/" + encodeURIComponent(document.body.dataset.workspace) + "/jobs", id: "job-link", "data-job": job.name, text: "Open the job list" });
      document.getElementById("notice").append(" ", link);
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  }

  const deployForm = document.getElementById("deploy-form");
  if (deployForm) {
    deployForm.addEventListener("input", refreshDeploy);
    deployForm.addEventListener("change", refreshDeploy);
    deployForm.addEventListener("submit", submitDeploy);
    refreshDeploy();
  }
  const ftForm = document.getElementById("finetune-form");
  if (ftForm) {
    ftForm.addEventListener("input", refreshFinetune);
    ftForm.addEventListener("change", refreshFinetune);
    ftForm.addEventListener("submit", submitFinetune);
    refreshFinetune();
  }
})();
