"""The engine: plain-PyTorch primitives that train and evaluate one trial.

It knows no protocol: ``context`` builds what a trial's stages share,
``fit`` trains one stage, ``evaluate`` scores it, ``rows`` turns both into
stored rows. Protocols (``lore_bench.suite.protocols``) compose these;
``lore_bench.suite.run.run_trial`` sits above them.
"""
