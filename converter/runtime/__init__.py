"""Code that runs inside the kernel and the runner during a run: masking, journal, step helpers."""
