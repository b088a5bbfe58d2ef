"""The list of subcommand registrars; a new subcommand module adds its ``register`` here."""

from evonas.cli import benchmark_cmd, export_cmd, profile_cmd, report_cmd, search_cmd

REGISTRY = [search_cmd.register_search, search_cmd.register_front, search_cmd.register_history,
            export_cmd.register, report_cmd.register, benchmark_cmd.register, profile_cmd.register]
