"""The Redis cache backend: one client per connection pool, reused across operations."""

from __future__ import annotations

from typing import Any

from dashboard.cache import RedisCache


def test_it_reuses_one_client_per_pool() -> None:
    cache = RedisCache("redis://127.0.0.1:6379/7", {"OPTIONS": {"socket_timeout": 1}})
    client = cache._cache.get_client("a")  # building a client does not connect
    assert cache._cache.get_client("b", write=True) is client
    helpers: Any = cache._cache
    assert client.connection_pool is helpers._get_connection_pool(True)
