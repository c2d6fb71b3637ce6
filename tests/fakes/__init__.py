"""Fake telephony providers on 127.0.0.1: the real SDKs talk real HTTP(S) to them, and tests read what arrived."""
