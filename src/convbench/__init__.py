"""convbench: pick, shrink and ship a CNN image classifier to a small device.

Layers, each a subpackage: data → models → train → export → runtime → bench → report → experiment.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter off the terminal

__version__ = "0.1.0"
