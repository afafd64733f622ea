"""Engine stage: runs dataset x transforms x hashers and writes results."""

from .run import Results, library_versions, run_experiment, write_table
from .work import hash_images

__all__ = ["Results", "hash_images", "library_versions", "run_experiment", "write_table"]
