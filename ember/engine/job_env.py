"""What a job's processes inherit from the server's environment: everything but its secrets.

A job runs the user's code as the server's user, so whatever is in the server's environment is
the job's to read (its own ``os.environ``, or ``/proc/<runner>/environ``): the secrets key, a
store URL with a password, cloud credentials, tokens. The runner (and through it the job), the
deployment workers and environment builds are started with :func:`scrubbed_environ` instead.
Names, not values, decide: a variable is dropped when it is one of Ember's own secrets or its
name says it holds a credential. What jobs need stays (``PATH``, ``HOME``, ``LANG``, proxies,
``CUDA_*``, caches), the job's ``MLFLOW_*``/``AZUREML_*`` variables are set by the workdir after
this, and a job that needs a credential is given it by name in its ``environment_variables``
(or a connection), applied after the scrub.

This keeps secrets out of a job's environment; it does not stop a job reading the server's own
``/proc/<pid>/environ`` or files, which share its user. Isolating jobs from the server and from
each other needs them run as another OS user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Ember's own secrets and the credentials the server itself may be given.
_EXACT = frozenset({
    "EMBER_SECRETS_KEY", "EMBER_STORE_URL", "EMBER_ROUTER_TOKEN", "EMBER_TOKEN",
    "EMBER_ALLOWED_DATASTORE_ROOTS", "DATABASE_URL", "PGPASSWORD", "PGPASSFILE",
    "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
    "GOOGLE_APPLICATION_CREDENTIALS", "SSH_AUTH_SOCK", "KRB5CCNAME",
})
# Cloud credential families, and names that say they hold a credential.
_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "ARM_CLIENT_", "AZUREML_SECRET")
_CREDENTIAL = re.compile(
    r"(^|_)(SECRET|SECRETS|PASSWORD|PASSWD|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|"
    r"CREDENTIALS?|AUTH)(_|$)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in _EXACT or upper.startswith(_PREFIXES) or bool(_CREDENTIAL.search(upper))


def scrubbed_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that carry the server's secrets."""
    return {k: v for k, v in environ.items() if not is_secret_name(k)}
