"""Detection and multi-label evaluation.

Importing this package imports nothing: the numpy-only core
(:mod:`.functional`, :mod:`.samples`, :mod:`.detection`) loads without
mmengine, and the registered metrics (:mod:`.metrics`) are imported on
demand through the registry's ``locations``.
"""
