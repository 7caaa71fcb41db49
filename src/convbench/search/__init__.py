"""Architecture search: the fastest model that meets an accuracy floor, with latency measured on the target runtime.

A layer between bench and report: a trial trains with ``train``, exports with ``export`` and is timed with
``bench``'s harness; the report layer renders a :class:`SearchResult`. Ray (``search(ray=…)``) is imported only
when asked for.
"""

from convbench.search.engine import (
    RESULT_FILE,
    STUDY_DB,
    TRIALS_DIR,
    Timing,
    check_floor,
    parse_budget,
    parse_deployment,
    recommend,
    search,
)
from convbench.search.records import (
    Deployment,
    Latency,
    SearchResult,
    SearchSettings,
    TestScore,
    TrialParams,
    TrialRecord,
)
from convbench.search.space import ArchitectureSpace, SearchSpace, default_space, load_space

__all__ = [
    "RESULT_FILE",
    "STUDY_DB",
    "TRIALS_DIR",
    "ArchitectureSpace",
    "Deployment",
    "Latency",
    "SearchResult",
    "SearchSettings",
    "SearchSpace",
    "TestScore",
    "Timing",
    "TrialParams",
    "TrialRecord",
    "check_floor",
    "default_space",
    "load_space",
    "parse_budget",
    "parse_deployment",
    "recommend",
    "search",
]
