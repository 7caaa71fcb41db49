"""convbench: pick, shrink and ship a CNN image classifier to a small device.

Layers, each a subpackage, each importing only the layers before it (``tests/test_layers.py`` checks it):
data → models → train → runtime → export → bench → early_exit → search → report → experiment → cli. Runtimes come
before export because the exporter checks every file it writes by running it (parity), and after train because the
Keras runner loads trained ``.keras`` models. Early exit comes after bench because it trains, exports, runs and times
its two-path networks with the layers below, and before report, experiment and cli, which render it, run it as study
steps and expose it as commands. The architecture search comes after bench (a trial trains, exports and is timed
with the harness) and before report (which renders a search's result). ``vocabulary``, ``errors``, ``io``,
``checks``, ``locks``, ``env``, ``verbosity`` (what reaches the terminal) and ``outputs`` (which files convbench
may replace) sit beneath every layer; ``artifacts`` (model cards, which record
data's preprocessing) sits just above data.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the terminal

__version__ = "0.1.0"
