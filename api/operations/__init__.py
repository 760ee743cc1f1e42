"""Signed write operations: the catalogue of them, their prechecks, and the HTTP edge they share."""
