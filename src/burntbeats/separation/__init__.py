"""Stem separation: engines behind one interface, a chunked file driver, and the stems job."""
