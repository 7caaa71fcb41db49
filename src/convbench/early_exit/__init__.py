"""Early exit: a backbone with a cheap exit for redundant images, trained, placed, calibrated, timed and evaluated.

A layer between bench and search: it trains with ``train``, exports with ``export``, runs with ``runtime`` and times
with ``bench``; the layers above render it (``report``), run it as study steps (``experiment``) and expose it as
commands (``cli``). Its modules:

- ``training``: the early-exit network and its baseline on one main + redundant mix (``train_early_exit``);
- ``placement``: where to put the exit (train at each candidate point, keep the fastest good one), timed as
  deployed by ``placement_timing``;
- ``open_world``: how well an exit rejects redundant images (AUROC, FPR at 95 % TPR) and threshold calibration;
- ``measurement``: the exit's decisions, per-image latency on a test mix, each path alone, the ideal saving;
- ``paths``: where the saving goes, each part and path timed alone;
- ``accuracy``: paired accuracy against the baseline (bootstrap interval, McNemar's test);
- ``evaluation``: export → test mix → timing → sweeps, for ``convbench early-exit eval`` and the study steps.

The rest of convbench reaches early exit through thin registry entries only: the model builder
(``models/early_exit.py``), the runner (``runtime/early_exit.py``, registered with
``runtime.base.register_card_runner``), the exporter (``export/early_exit.py``, registered with
``export.exporter.register_card_exporter``), the mixed data set (``data/mix.py``), the report's renderers and plots
(``report/early_exit_section.py``, ``report/early_exit_paths.py``, ``report/study_plots.py``), the study's step
kinds (``experiment/kinds/early_exit_*.py``) and the command (``cli/early_exit_cmd.py``).

Importing this package imports none of its modules (training loads Keras).
"""
