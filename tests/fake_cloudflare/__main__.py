"""Run the fake by hand: python -m tests.fake_cloudflare (from the repository root)."""

from .server import main

main()
