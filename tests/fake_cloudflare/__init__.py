"""A test double of the Cloudflare API v4 (see server.py), with its contract checks and helpers."""

from .server import ACCOUNT_ID, API_TOKEN, TEAM_NAME, FakeCloudflare

__all__ = ["ACCOUNT_ID", "API_TOKEN", "TEAM_NAME", "FakeCloudflare"]
