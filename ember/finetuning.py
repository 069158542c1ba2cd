"""``from ember.finetuning import create_finetuning_job`` (as ``azure.ai.ml.finetuning``).

The public place of fine-tuning jobs: :func:`create_finetuning_job`, the task names
(:class:`FineTuningTaskType`) and the job classes it returns. The code lives in
:mod:`ember.client.finetuning` and :mod:`ember.entities.finetuning`; this module only
re-exports it.
"""

from ember.client.finetuning import FineTuningTaskType, create_finetuning_job
from ember.entities.finetuning import CustomModelFineTuningJob, FineTuningJob

__all__ = ["CustomModelFineTuningJob", "FineTuningJob", "FineTuningTaskType",
           "create_finetuning_job"]
