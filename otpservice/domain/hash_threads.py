"""Hashing off the event loop: argon2 runs on the hash threads' pool (app.py sizes it and
lowers its priority), and each hash's wall and CPU time is told to admission control,
which reads the hash threads' starvation there (throttling/admission.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class HashThreads:
    def __init__(
        self,
        pool: ThreadPoolExecutor | None,
        timing: Callable[[float, float], None] | None = None,
    ) -> None:
        """``timing(wall, cpu)`` is called from the hash thread after each hash."""
        self._pool = pool
        self._timing = timing

    async def run(self, fn: Callable[[], T]) -> T:
        observe = self._timing
        if observe is None:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

        def timed() -> T:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn()
            finally:
                observe(time.perf_counter() - wall, time.thread_time() - cpu)

        return await asyncio.get_running_loop().run_in_executor(self._pool, timed)
