"""Data generated for the demo and the benchmark (:mod:`fmood_bench.datasets.medical`)."""
