"""The shared cache (Redis on ``REDIS_URL``): Django's Redis backend, with one client per server.

Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` for every call (an ``add``,
an ``incr``), and building one costs about half a millisecond of CPU (redis-py fills its table
of ~100 response callbacks each time); the public API's rate limits make one to three such calls
per request. The client is thread-safe and only borrows connections from its pool, so one per
server is kept and reused. Everything else is Django's backend, unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: object = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients[index] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
