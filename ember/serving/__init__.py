"""Online and batch serving: deployment workers, the endpoint router, and their supervisor."""
