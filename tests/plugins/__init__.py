"""Composer plugins for testing the host: a working dummy, and broken ones.

They use only ``hostapi`` (and mido), so the host contract is tested without
the LSTM plugin.
"""
