"""The `trainwatch` command line: `main` (argument parsing), `demo` (the
broken-then-fixed scenarios) and `report` (findings table and plot)."""
