"""Reading, describing, splitting and preparing tabular data."""
