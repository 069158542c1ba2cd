"""The ``ember`` command line: a thin layer over the SDK, one module per noun."""
