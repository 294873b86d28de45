"""Cross-backend parity: the same weights give the same model on every backend.

``checks`` runs two workers per backend (``worker``: measure, then load) and compares build,
forward, ``.keras`` portability and training. May import ``harness.run`` (to launch children
and compile models), ``harness.backends`` and ``harness.records``.
"""
