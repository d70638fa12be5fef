"""What deepfit shows a person: tables in the terminal (and, later, plots and HTML)."""
