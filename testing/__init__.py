"""Fakes and loopback stubs that the tests and bench/ share (never imported by the service)."""
