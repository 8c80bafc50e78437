"""The ``fmood`` command line: fit, score, distance, neighbors, demo."""
