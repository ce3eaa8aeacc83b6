"""Suites: config, expansion into TrialSpecs, orchestration (Ray) and the engine."""
