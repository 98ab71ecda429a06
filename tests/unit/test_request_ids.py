"""Request ids: unique, hex, and never shared with a forked child."""

from __future__ import annotations

import os
import re

from modelyard.serving.request_ids import RequestIds, request_ids


def test_ids_are_32_hex_characters_and_unique() -> None:
    ids = RequestIds()
    drawn = [ids.next() for _ in range(5_000)]  # several refills of the buffer
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_forked_child_does_not_reuse_its_parents_buffered_ids() -> None:
    request_ids.next()  # the buffer now holds ids the parent will hand out next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        os.write(write, request_ids.next().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_next = [request_ids.next() for _ in range(300)]
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id not in parent_next
