"""cxone-tune: keep NICE CXone outbound pacing in step with the agents actually available."""

__version__ = "0.1.0"
