"""`make bench`: what Burki adds on top of the telephony provider, measured side by side (see bench/run.py)."""
