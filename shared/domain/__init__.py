"""Domain rules: plain functions and values with no I/O (amounts, assets, references, matching, lifecycle)."""
