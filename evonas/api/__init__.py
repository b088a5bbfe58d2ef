"""The public API's implementation layer: :mod:`~evonas.api.study` (Study, SearchResult),
:mod:`~evonas.api.registry` (names to plug-ins), :mod:`~evonas.api.spec` (a run described by
names, as the CLI parses it), :mod:`~evonas.api.launch` (a Study from such a spec) and
:mod:`~evonas.api.compare` (multi-seed strategy comparisons).
Import public names from :mod:`evonas` itself.
"""
