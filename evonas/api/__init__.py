"""The public API's implementation layer: :mod:`~evonas.api.study` (Study, SearchResult),
:mod:`~evonas.api.registry` (names to plug-ins), :mod:`~evonas.api.spec` (a run described by
names, as the CLI parses it) and :mod:`~evonas.api.compare` (multi-seed strategy comparisons).
Import public names from :mod:`evonas` itself.
"""
