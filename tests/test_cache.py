"""The shared cache (config/cache.py): Django's Redis backend with one client kept per server."""

from __future__ import annotations

from django.core.cache import caches


def test_the_cache_reuses_its_redis_client_and_still_counts() -> None:
    cache = caches["default"]
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client() is client  # one server: reads and writes share it

    cache.delete("config-cache-test")
    assert cache.add("config-cache-test", 0, 60)
    assert not cache.add("config-cache-test", 0, 60)
    assert cache.incr("config-cache-test") == 1
    assert cache.get("config-cache-test") == 1
    cache.delete("config-cache-test")
