"""One-off GPU kernel-tuning tools (run as modules from the repository root: `python -m tools.NAME`); the
history they produced is in docs/gpu-tuning/."""
