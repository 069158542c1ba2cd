"""What the endpoint pages share: the tab bars and the snippets of a Consume tab."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    href: str


def tabs(base: str, names: list[tuple[str, str]]) -> list[Tab]:
    """Tabs as stable URLs: the first at ``base``, the others at ``base/<key>``."""
    return [Tab(key, label, base if i == 0 else f"{base}/{key}")
            for i, (key, label) in enumerate(names)]


def q(name: str) -> str:
    return quote(name, safe="")


def scoring_snippets(scoring_uri: str, sample: object) -> dict[str, str]:
    """curl and Python that call an online endpoint with a key from ``$ENDPOINT_KEY``."""
    body = json.dumps(sample)
    return {
        "curl": (f"curl -X POST '{scoring_uri}' \\\n"
                 "  -H \"Authorization: Bearer $ENDPOINT_KEY\" \\\n"
                 "  -H 'Content-Type: application/json' \\\n"
                 f"  -d '{body}'"),
        "python": ("import os\n\nimport httpx\n\n"
                   f"answer = httpx.post(\n    \"{scoring_uri}\",\n"
                   "    headers={\"Authorization\": f\"Bearer {os.environ['ENDPOINT_KEY']}\"},\n"
                   f"    json={body},\n    timeout=60,\n)\n"
                   "answer.raise_for_status()\nprint(answer.json())"),
    }


def chat_snippets(base_url: str, model: str) -> dict[str, str]:
    """curl and the OpenAI client against a language model's ``/v1`` API."""
    message = {"messages": [{"role": "user", "content": "Hello!"}]}
    return {
        "curl": (f"curl -X POST '{base_url}/chat/completions' \\\n"
                 "  -H \"Authorization: Bearer $ENDPOINT_KEY\" \\\n"
                 "  -H 'Content-Type: application/json' \\\n"
                 f"  -d '{json.dumps(message)}'"),
        "python": ("import os\n\nfrom openai import OpenAI\n\n"
                   f"client = OpenAI(base_url=\"{base_url}\", "
                   "api_key=os.environ[\"ENDPOINT_KEY\"])\n"
                   "answer = client.chat.completions.create(\n"
                   f"    model=\"{model}\",\n"
                   "    messages=[{\"role\": \"user\", \"content\": \"Hello!\"}],\n)\n"
                   "print(answer.choices[0].message.content)"),
    }


def model_name(reference: str) -> str:
    """A model's name as the OpenAI API takes it, from ``.../models/<name>[/versions/<v>]`` or
    ``azureml:<name>:<version>``."""
    parts = reference.split("/")
    if "models" in parts and parts.index("models") + 1 < len(parts):
        return parts[parts.index("models") + 1]
    if reference.startswith("azureml:"):
        return reference.removeprefix("azureml:").split(":")[0].split("@")[0]
    return parts[-1]
