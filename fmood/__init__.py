"""fmood: out-of-distribution detection in the frozen embedding space of foundation models."""
__version__ = "0.1.0"
