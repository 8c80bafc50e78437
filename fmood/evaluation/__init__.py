"""Deprecated: the benchmark's evaluation moved to :mod:`fmood_bench.evaluation`, the probe to
:mod:`fmood.metrics.probe`; the modules here forward their names with a DeprecationWarning."""
