"""The machinery of bench/run.py: scenario model, runner, callgrind counts, reports, plots."""
