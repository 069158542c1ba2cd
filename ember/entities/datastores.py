from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_DATASTORE = "workspaceblobstore"


@dataclass
class Datastore:
    """A named root that data URIs point into (``azureml://datastores/<name>/paths/<p>``).

    ``root`` is an fsspec URL or local folder. The default datastore's root is a folder inside
    the workspace's artifact store, given as the empty string.
    """

    name: str
    type: str = "local"
    root: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    is_default: bool = False
    creation_time: float = 0.0
