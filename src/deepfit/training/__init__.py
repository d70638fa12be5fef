"""One training loop, its typed state, and a few callbacks."""
