"""Values worked out once per key and remembered, at most a bounded number; when full, the memory starts over.

The decision's pure results (a URL's split, the policy's answer per path and subject, a person's headers, a valid
session cookie's id hash) are asked for over and over with the same few keys. Starting over when full costs nothing on
a hit (no LRU bookkeeping) and a flood of new keys cannot grow the memory. Safe for the listener's threads: a lost
race only works a value out twice, and ``put`` swaps in a new dictionary rather than clearing the one others read.
"""

LIMIT = 4096


class Remembered:
    def __init__(self, limit=LIMIT):
        self.limit = limit
        self._values = {}

    def get(self, key):
        """The value remembered for ``key``, or None."""
        return self._values.get(key)

    def put(self, key, value):
        """Remember ``value`` for ``key`` (starting over first when full); returns ``value``."""
        values = self._values
        if len(values) >= self.limit:
            values = self._values = {}
        values[key] = value
        return value
