"""Job lifecycle, scheduling, environments and the in-job runner.

Keep this package's ``__init__`` empty: the runner process imports ``ember.engine.runner`` and must
stay light (stdlib only) so a job reaches Running quickly.
"""
