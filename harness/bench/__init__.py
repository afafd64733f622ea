"""Benchmarks (`phash-harness bench WHAT`). Each module `harness.bench.<what>`
defines `add_arguments(parser)` and `main(args) -> int`, prints its figures
(pairs/s/core, images/s/core, peak memory) and writes them under results/bench/."""
