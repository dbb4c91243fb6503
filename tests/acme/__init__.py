"""Debian's pebble (Let's Encrypt's RFC 8555 test server) on loopback, for the ACME tests."""
