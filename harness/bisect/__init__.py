"""Bisecting a version range: the candidates (``candidates``), an environment per candidate
(``environments``), and the search over them with the gate (``search``). Runs ``kbench ab``
between environments; never imports a framework."""
