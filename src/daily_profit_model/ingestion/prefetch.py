"""Fetch ahead: the next endpoint-days download while the current one is stored.

Two workers, one contract (``depth`` items ahead of the consumer; an error in the
producer is raised in the consumer; a consumer that stops early stops the producer):

- ``thread``: a thread of this process. Decoding pages is CPU work under the
  interpreter lock, so every query the store makes (each one releases the lock) waits
  for the decoding thread to give it back: measured, the store's small steps ran 5-10×
  slower and set the pace of a backfill (``benchmarks/ingestion.py``).
- ``process``: a forked child fetches and decodes, and hands each item over through a
  pipe, pickled (an ``ApiDay``'s table pickles as one Arrow IPC stream), so this
  process's lock serves the store alone. A fork, not a spawn: the child
  starts in milliseconds with the modules, the client's settings and the source
  already loaded (a spawned interpreter takes about 3 s to import them here), and
  nothing secret is pickled. Where ``fork`` does not exist the thread is used.

multiprocessing's ``Queue`` is not used because it pickles in a feeder thread, where a
failure to pickle is printed, not raised; ``Pipe`` and an explicit ``pickle.dumps``
make the child's every failure reach the consumer.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import queue
import threading
import traceback
from collections.abc import Iterator
from typing import Literal, TypeVar

Item = TypeVar("Item")
Worker = Literal["thread", "process"]
WORKERS = ("thread", "process")


class FetchProcessError(RuntimeError):
    """The fetching process ended without handing over its last item or an error."""


def prefetched(items: Iterator[Item], depth: int, worker: Worker) -> Iterator[Item]:
    """``items``, produced by ``worker`` up to ``depth`` items ahead of the consumer.

    Args:
        items: What to produce (a lazy iterator: nothing runs before the first item).
        depth: Items produced ahead; 0 produces each one when it is asked for, in the
            consumer's thread.
        worker: ``thread`` or ``process`` (see the module docstring).

    Raises:
        ValueError: An unknown ``worker``.
        FetchProcessError: The child process died (killed, out of memory).
    """
    if worker not in WORKERS:
        raise ValueError(f"prefetch_worker must be one of {WORKERS}, not {worker!r}")
    if depth < 1:
        return items
    if worker == "process" and "fork" in multiprocessing.get_all_start_methods():
        return _in_child_process(items, depth)
    return _in_thread(items, depth)


def _in_thread(items: Iterator[Item], depth: int) -> Iterator[Item]:
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put(exc)

    producer = threading.Thread(target=produce, name="api-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = buffer.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=30)


def _in_child_process(items: Iterator[Item], depth: int) -> Iterator[Item]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    # Frozen, the objects the child inherits are never collected there: a connection
    # in a garbage cycle finalised in the child would close the parent's session.
    gc.freeze()
    try:
        child = context.Process(
            target=_produce, args=(items, receiver, sender, depth), name="api-prefetch"
        )
        child.daemon = True
        child.start()
    finally:
        gc.unfreeze()
    sender.close()
    try:
        while True:
            try:
                kind, item = _receive(receiver)
            except EOFError:
                child.join(timeout=30)
                raise FetchProcessError(
                    f"The API fetching process (pid {child.pid}) ended with exit code "
                    f"{child.exitcode} before its last day; the days stored so far are "
                    "committed: run again to fetch the rest."
                ) from None
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        receiver.close()
        if child.is_alive():  # the consumer stopped early, or failed
            child.terminate()
        child.join(timeout=30)


def _produce(items: Iterator, receiver, sender, depth: int) -> None:
    """The child's loop: every item, then ``done``, or the error that stopped it.

    The child closes its copy of the pipe's reading end first: while it held one, a
    parent killed (SIGKILL) left the child blocked for ever on a full pipe it was
    itself the last reader of, instead of failing with a broken pipe and exiting.
    """
    receiver.close()
    try:
        # the child's own read-ahead: it downloads while the parent unpickles
        for item in prefetched(items, depth - 1, "thread"):
            _send(sender, ("item", item))
            del item  # not held while the next one downloads
        _send(sender, ("done", None))
    except BrokenPipeError:
        return  # the parent is gone or stopped reading: nothing to hand over
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        try:
            sender.send_bytes(pickle.dumps((0, _pickled_error(exc))))
        except BrokenPipeError:
            return
    finally:
        sender.close()


def _send(sender, message: tuple) -> None:
    """``message`` pickled, its large buffers (an Arrow IPC stream) out of band.

    A buffer goes down the pipe as it is, not copied into the pickle first: a day of
    914,703 all-time metrics rows is a 1.2 GB stream, which in band was held three
    times over in the child (the stream, its bytes, the pickle) besides the table.
    """
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(message, protocol=5, buffer_callback=buffers.append)
    sender.send_bytes(pickle.dumps((len(buffers), head)))
    for buffer in buffers:
        sender.send_bytes(buffer.raw())


def _receive(receiver) -> tuple:
    """A message :func:`_send` sent, or ``EOFError`` once the child's end closed."""
    count, head = pickle.loads(receiver.recv_bytes())
    buffers = [receiver.recv_bytes() for _ in range(count)]
    return pickle.loads(head, buffers=buffers)


def _pickled_error(exc: BaseException) -> bytes:
    """``exc`` as the parent will raise it, with the child's traceback as a note; an
    exception that does not survive pickling travels as its type and message."""
    note = "Raised in the API fetching process:\n" + "".join(
        traceback.format_exception(exc)
    )
    exc.add_note(note)
    try:
        data = pickle.dumps(("error", exc))
        pickle.loads(data)
    except Exception:  # noqa: BLE001 - any failure to round-trip: send what can be
        substitute = FetchProcessError(f"{type(exc).__name__}: {exc}")
        substitute.add_note(note)
        data = pickle.dumps(("error", substitute))
    return data
