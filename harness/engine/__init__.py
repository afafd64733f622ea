"""Engine stage: runs dataset x transforms x hashers and writes results."""
from .run import Results, compute_histograms, library_versions, run_experiment
from .work import hash_images

__all__ = ["Results", "compute_histograms", "hash_images", "library_versions", "run_experiment"]
