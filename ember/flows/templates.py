"""``pf flow init``: the starter flows promptflow writes (standard, chat, evaluation), as files.

The file contents follow what ``pf flow init`` 1.18 writes (docs/design/issue-12-facts.md §2.1);
the chat flow's connection is ``open_ai_connection``, which a user points at any
OpenAI-compatible server, an Ember language-model deployment included.
"""

from __future__ import annotations

from pathlib import Path

from ember.errors import AlreadyExistsError, InvalidInputError

_SCHEMA = "$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json\n"

STANDARD = {
    "flow.dag.yaml": _SCHEMA + """inputs:
  text:
    type: string
    default: Hello World!
outputs:
  output_prompt:
    type: string
    reference: ${echo_my_prompt.output}
nodes:
- name: hello_prompt
  type: prompt
  source:
    type: code
    path: hello.jinja2
  inputs:
    text: ${inputs.text}
- name: echo_my_prompt
  type: python
  source:
    type: code
    path: hello.py
  inputs:
    input1: ${hello_prompt.output}
environment:
  python_requirements_txt: requirements.txt
""",
    "hello.jinja2": "{# Please replace the template with your own prompt. #}\n"
                    "Write a simple {{text}} program that displays the greeting message.",
    "hello.py": '''from promptflow.core import tool


@tool
def my_python_tool(input1: str) -> str:
    return "Prompt: " + input1
''',
    "data.jsonl": '{"text": "Hello World!"}\n',
    "requirements.txt": "promptflow\n",
}

CHAT = {
    "flow.dag.yaml": _SCHEMA + """inputs:
  chat_history:
    type: list
    is_chat_history: true
    default: []
  question:
    type: string
    is_chat_input: true
outputs:
  answer:
    type: string
    reference: ${chat.output}
    is_chat_output: true
nodes:
- name: chat
  type: llm
  source:
    type: code
    path: chat.jinja2
  inputs:
    deployment_name: gpt-35-turbo
    max_tokens: '256'
    temperature: '0.7'
    chat_history: ${inputs.chat_history}
    question: ${inputs.question}
  api: chat
  connection: open_ai_connection
environment:
  python_requirements_txt: requirements.txt
""",
    "chat.jinja2": """system:
You are a helpful assistant.

{% for item in chat_history %}
user:
{{item.inputs.question}}
assistant:
{{item.outputs.answer}}
{% endfor %}

user:
{{question}}
""",
    "openai.yaml": """$schema: https://azuremlschemas.azureedge.net/promptflow/latest/OpenAIConnection.schema.json
name: open_ai_connection
type: open_ai
api_key: "<user-input>"
# base_url: http://127.0.0.1:<port>/v1   # any OpenAI-compatible server
""",
    "data.jsonl": '{"question": "What is ChatGPT?", "chat_history": []}\n',
    "requirements.txt": "promptflow\npromptflow-tools\n",
}

EVALUATION = {
    "flow.dag.yaml": _SCHEMA + """inputs:
  groundtruth:
    type: string
  prediction:
    type: string
outputs:
  results:
    type: string
    reference: ${line_process.output}
nodes:
- name: line_process
  type: python
  source:
    type: code
    path: line_process.py
  inputs:
    groundtruth: ${inputs.groundtruth}
    prediction: ${inputs.prediction}
- name: aggregate
  type: python
  source:
    type: code
    path: aggregate.py
  inputs:
    processed_results: ${line_process.output}
  aggregation: true
environment:
  python_requirements_txt: requirements.txt
""",
    "line_process.py": '''from promptflow.core import tool


@tool
def line_process(groundtruth: str, prediction: str) -> str:
    return "Correct" if groundtruth.lower() == prediction.lower() else "Incorrect"
''',
    "aggregate.py": '''from typing import List

from promptflow.core import log_metric, tool


@tool
def aggregate(processed_results: List[str]):
    accuracy = round(processed_results.count("Correct") / len(processed_results), 2)
    log_metric(key="accuracy", value=accuracy)
    return {"accuracy": accuracy}
''',
    "data.jsonl": '{"groundtruth": "App", "prediction": "App"}\n',
    "requirements.txt": "promptflow\n",
}

KINDS = {"standard": STANDARD, "chat": CHAT, "evaluation": EVALUATION}


def init_flow(folder: Path, *, kind: str = "standard", overwrite: bool = False) -> list[Path]:
    """Write the starter files into ``folder``; refuses to overwrite unless told to."""
    files = KINDS.get(kind)
    if files is None:
        raise InvalidInputError(f"flow type {kind!r}: use one of {', '.join(KINDS)}")
    existing = [folder / name for name in files if (folder / name).exists()]
    if existing and not overwrite:
        raise AlreadyExistsError(f"{existing[0]} exists; pass --yes to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
