"""The harness checking itself: is the step time honest, what can the regression gate catch?

Grouped by subject: ``timing/`` (is the step time honest?), ``gate/`` (what can the gate
catch, and what sets a process's level?), and ``flops_xla`` and ``ray_costs`` on their own.
Each module runs from the repository root as ``python -m validation.<module>``; the
figures and the commands that produced them are in ``validation/NOTEBOOK.md``, indexed in
``validation/README.md``. This package uses the harness's public API only (the top-level
modules such as ``harness.registry``, and the names in a subpackage's ``__all__``, such as
``harness.stats``), and the harness never imports it.
"""
