"""The fault suite stops only a Redis of its own. The machine's shared Redis serves other test
sessions at the same time, so while a private one is down the shared one must keep answering and
keep its data."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis

from tests.conftest import require_service
from tests.faults.redis_control import (
    SHARED_REDIS_HOST,
    SHARED_REDIS_PORT,
    SHARED_REDIS_URL,
    PrivateRedis,
    redis_answers,
)


def test_stopping_a_private_redis_leaves_the_shared_one_alone(tmp_path: Path) -> None:
    require_service("Redis", SHARED_REDIS_HOST, SHARED_REDIS_PORT)
    key = f"bridge-fault-shared-{uuid.uuid4().hex}"
    with redis.Redis.from_url(SHARED_REDIS_URL) as shared:
        shared.set(key, "still here", ex=120)
        private = PrivateRedis(tmp_path).start()
        try:
            assert private.port != SHARED_REDIS_PORT
            with redis.Redis.from_url(private.url) as mine:
                mine.set("queued", "1")
            with private.down():
                assert not redis_answers(private.url)
                assert redis_answers(SHARED_REDIS_URL)
                assert shared.get(key) == b"still here"
            # Back on the same port, with nothing kept: a stop loses every queue.
            with redis.Redis.from_url(private.url) as mine:
                assert mine.get("queued") is None
            assert shared.get(key) == b"still here"
        finally:
            private.close()
            shared.delete(key)
    assert not redis_answers(private.url), "close() stops the private Redis"
    assert redis_answers(SHARED_REDIS_URL)
