"""Root pytest configuration: notebooks under nbval run with the smoke budget unless told otherwise."""
import os

# Kernels started by nbval inherit this environment: GANLIB_BUDGET=smoke makes every training run in
# the chapters a few steps long. Set GANLIB_BUDGET=default to run the chapters' real budget under pytest.
os.environ.setdefault("GANLIB_BUDGET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
