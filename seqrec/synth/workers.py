"""Process pools for corpus synthesis that survive a crashing worker.

eSpeak NG can kill its process: the espeak-ng library in the espeakng-loader wheel
ends in a segmentation fault on a few rare combinations of text, voice variant and
pitch (for example ``"pigeon secretly"`` with ``en-us+Demonic`` at pitch 21). A
``multiprocessing.Pool`` waits forever for the work of a process that died, so a
corpus generator needs a pool that notices, finds the job that crashes and goes on
without it. Jobs run in no fixed order, so each job carries its own seed
(:func:`job_seed`).
"""

import hashlib
import logging
import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from tqdm import tqdm

log = logging.getLogger(__name__)


def job_seed(*parts: object) -> int:
    """A 64-bit generator seed from the parts (corpus seed, split, item...): the same
    parts always give the same seed, different parts unrelated ones."""
    key = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _run_chunk(function: Callable, chunk: Sequence) -> list:
    return [function(job) for job in chunk]


def run_jobs(
    function: Callable,
    jobs: Sequence,
    num_workers: int,
    initializer: Callable | None = None,
    initargs: tuple = (),
    chunksize: int = 1,
    desc: str = "synthesising",
    unit: str = "it",
) -> tuple[list, list]:
    """``function(job)`` for every job in ``num_workers`` processes, with a progress
    bar: returns (the results of the jobs that ran, in no set order; the jobs whose
    process died).

    When a process dies, the pool is replaced. The jobs it may have held (the
    ``(num_workers + 1) * chunksize`` oldest unfinished ones) then run one at a
    time, so that the job that kills its process is found; it is returned, not
    retried, and the rest go back to the parallel pool. An exception raised by
    ``function`` is not a crash: it propagates.
    """
    # fork is safe: eSpeak is only ever initialised inside the workers
    context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)

    def pool(workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, context, initializer, initargs)

    results: list = []
    crashed: list = []
    pending = list(jobs)
    suspects_per_crash = (num_workers + 1) * chunksize
    with tqdm(total=len(pending), desc=desc, unit=unit) as progress:
        while pending:
            finished = _run_parallel(
                pool(num_workers), function, pending, chunksize, results, progress
            )
            if finished is None:
                break
            pending = [job for i, job in enumerate(pending) if i not in finished]
            suspects, pending = pending[:suspects_per_crash], pending[suspects_per_crash:]
            executor = pool(1)
            try:
                for job in suspects:  # one at a time: a crash names its job
                    try:
                        results.append(executor.submit(function, job).result())
                        progress.update(1)
                    except BrokenProcessPool:
                        crashed.append(job)
                        executor.shutdown(wait=False)
                        executor = pool(1)
            finally:
                executor.shutdown()
    return results, crashed


def _run_parallel(
    executor: ProcessPoolExecutor,
    function: Callable,
    jobs: list,
    chunksize: int,
    results: list,
    progress: tqdm,
) -> set[int] | None:
    """Run ``jobs`` in chunks on ``executor``; None when all finished, else the
    indices of the jobs that finished before a process died."""
    try:
        futures = {
            executor.submit(_run_chunk, function, jobs[start : start + chunksize]): start
            for start in range(0, len(jobs), chunksize)
        }
        finished: set[int] = set()
        for future in as_completed(futures):
            if isinstance(future.exception(), BrokenProcessPool):
                log.warning("a synthesis process died; looking for the job that crashed it")
                return finished
            chunk_results = future.result()  # re-raises the job's own error
            results.extend(chunk_results)
            progress.update(len(chunk_results))
            start = futures[future]
            finished.update(range(start, start + len(chunk_results)))
        return None
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
