"""Search strategies behind one ask/tell interface, and the Pareto archive."""

from populations.aging import AgingEvolution
from evonas.core.pareto import ParetoArchive, hypervolume, rank_and_crowding
from populations.base import Strategy
from populations.random_search import RandomSearch

__all__ = ["AgingEvolution", "ParetoArchive", "RandomSearch", "Strategy", "hypervolume", "rank_and_crowding"]
