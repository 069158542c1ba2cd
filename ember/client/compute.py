"""``client.compute``: the computes jobs can run on. Ember has one, ``local`` (this machine),
so the list is answered on the client without asking the server."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from ember.errors import NotFoundError

LOCAL_COMPUTE = "local"


@dataclass(frozen=True)
class Compute:
    """A compute target, with azure-ai-ml's ``name``, ``type`` and ``provisioning_state``."""

    name: str
    type: str
    description: str = ""
    provisioning_state: str = "Succeeded"


_LOCAL = Compute(name=LOCAL_COMPUTE, type="local",
                 description="the machine the Ember server runs on")


class ComputeOperations:
    def list(self) -> builtins.list[Compute]:
        return [_LOCAL]

    def get(self, name: str) -> Compute:
        """The compute ``name``; raises NotFoundError for any name but ``local``."""
        if name != LOCAL_COMPUTE:
            raise NotFoundError(f"compute {name!r} not found: Ember runs jobs on the compute "
                                f"'{LOCAL_COMPUTE}' only")
        return _LOCAL
