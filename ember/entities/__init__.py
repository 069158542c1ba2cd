"""Domain objects of every asset: pure data, no I/O."""
