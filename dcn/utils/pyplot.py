"""``pyplot`` on the file-only Agg backend (training machines and demos have no display).

``from dcn.utils.pyplot import plt``: the backend is chosen here, once, before
pyplot is first imported, so the modules that draw need no import ordering.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after the backend choice

__all__ = ["plt"]
