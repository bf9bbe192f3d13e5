"""The argon2 bound: how many send+check flows per second the cores could do if hashing
were the only cost. One process per core runs the service's own ``CodeHasher`` (HMAC +
argon2id with the same preset) at the niceness of the service's argon2 threads: a hash
(the send) and a verify (the check) per flow."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

from otpservice.app import lower_thread_priority
from otpservice.domain.codes import CodeHasher, HashPreset

SECRET = b"bench-secret-bench-secret-bench-secret"


def _work(preset: tuple[int, int, int], start_at: float, duration: float) -> float:
    lower_thread_priority()  # as the service's argon2 threads: same cores, same share
    hasher = CodeHasher(SECRET, HashPreset(*preset))
    hasher.hash("warm-up", "login", "123456")  # the memory faulted in once, as in a warm service
    while time.time() < start_at:
        time.sleep(0.001)
    started = time.perf_counter()
    deadline = started + duration
    flows, last = 0, started
    while last < deadline and flows < 1_000_000:
        vid = os.urandom(32).hex()
        stored = hasher.hash(vid, "login", "123456")
        if not hasher.matches(stored, vid, "login", "123456"):
            raise RuntimeError("argon2 verify failed")
        flows += 1
        last = time.perf_counter()
    # Flows over the time they took, up to the last one's end: neither the flow cut off at
    # the deadline nor the time spent on it is counted.
    return flows / (last - started)


def argon2_bound(preset: HashPreset, duration: float, processes: int | None = None) -> float:
    """Flows per second with ``processes`` (default: all cores) hashing in parallel."""
    n = processes or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=n) as pool:
        start_at = time.time() + 0.5  # every process starts together, after the pool is up
        args = (preset.memory_kib, preset.time_cost, preset.parallelism)
        futures = [pool.submit(_work, args, start_at, duration) for _ in range(n)]
        return sum(f.result() for f in futures)
