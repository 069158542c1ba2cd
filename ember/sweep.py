"""``from ember.sweep import Choice, Uniform, BanditPolicy, ...`` (as ``azure.ai.ml.sweep``).

The classes live in :mod:`ember.client.sweeps`; this module only re-exports them.
"""

from ember.client.sweeps import *  # noqa: F401,F403
from ember.client.sweeps import __all__  # noqa: F401
