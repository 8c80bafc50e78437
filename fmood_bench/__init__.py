"""fmood's benchmark and demo: code that runs fmood on generated data, outside the library.

Shipped in fmood's wheel beside :mod:`fmood`; its dependencies come with the extras
(``pip install 'fmood[demo]'`` for the demo data, ``'fmood[bench]'`` for pytorch-ood). The
library never imports it, except the ``fmood demo`` command and deprecated aliases.

- :mod:`fmood_bench.datasets.medical`: the medical OOD dataset of real images that install
  with pip, built for the demo and the benchmark.
- :mod:`fmood_bench.evaluation`: pytorch-ood's detectors as baselines on the same features,
  every method of the benchmark scored, and the benchmark's tables.
- :mod:`fmood_bench.demo`: ``fmood demo``'s job, from the data to a checked OOD report.
"""
