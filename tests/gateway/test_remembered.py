"""The decision's bounded memory (remembered.py): values kept per key, never more than the limit."""

from oscar_gateway.remembered import Remembered


def test_a_value_is_kept_per_key_and_the_memory_starts_over_when_full():
    memory = Remembered(limit=3)
    assert memory.get("a") is None
    assert memory.put("a", 1) == 1 and memory.get("a") == 1
    memory.put("b", 2)
    memory.put("c", 3)
    assert [memory.get(k) for k in "abc"] == [1, 2, 3]
    memory.put("d", 4)  # full: a flood of new keys never grows it past the limit
    assert [memory.get(k) for k in "abcd"] == [None, None, None, 4]
