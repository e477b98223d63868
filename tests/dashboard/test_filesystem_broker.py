"""The embedded default's broker hands a consumer whole messages only, each to one consumer.

kombu's own filesystem channel creates a message file before writing it, so a consumer polling
meanwhile can take an empty file (celery/kombu#1551; a Celery worker exits on it and the
message is lost). Producers and consumers here race on one folder as the web process, beat and
the workers do.
"""

from __future__ import annotations

import threading
from json import JSONDecodeError
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from dashboard import filesystem_broker
from dashboard.filesystem_broker import Transport

MESSAGES = 1000


def broker_options(folder: Path) -> dict[str, object]:
    """Transport options for a broker in `folder` (its folders made), as settings.py sets them."""
    for name in ("queue", "processed"):
        (folder / name).mkdir()
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


def race(folder: Path) -> tuple[list[int], list[Exception]]:
    """Two producers and two consumers of our transport on one folder; (message numbers read,
    read errors)."""
    options = broker_options(folder)
    read: list[int] = []
    errors: list[Exception] = []
    done = threading.Event()

    def channel():  # one connection per thread, as processes have
        return Connection(transport=Transport, transport_options=options).default_channel

    def produce(first: int) -> None:
        put = channel()._put
        for n in range(first, MESSAGES, 2):
            put("q", {"n": n})

    def consume() -> None:
        get = channel()._get
        while True:
            try:
                read.append(get("q")["n"])
            except Empty:
                if done.is_set():
                    return
            except Exception as exc:  # noqa: BLE001 - what a worker would die of
                errors.append(exc)

    producers = [threading.Thread(target=produce, args=(i,)) for i in range(2)]
    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in producers + consumers:
        thread.start()
    for thread in producers:
        thread.join()
    done.set()
    for thread in consumers:
        thread.join()
    return read, errors


def test_every_message_is_read_whole_and_once(tmp_path):
    read, errors = race(tmp_path)
    assert errors == []
    assert sorted(read) == list(range(MESSAGES))


@pytest.mark.parametrize(
    ("module", "transport"),
    [(filesystem, filesystem.Transport), (filesystem_broker, Transport)],
    ids=["kombu", "ours"],
)
def test_a_message_being_written_is_not_handed_out(tmp_path, monkeypatch, module, transport):
    """A consumer polls while a producer is between creating its file and writing it: kombu's
    channel hands out the empty file (the reason for ours), ours hands out nothing yet."""
    options = broker_options(tmp_path)
    consumer = Connection(transport=transport, transport_options=options).default_channel
    seen: list[object] = []
    serialise = module.dumps

    def dumps_while_polled(payload):  # runs after the file is opened, before it is written
        try:
            seen.append(consumer._get("q"))
        except Exception as exc:  # noqa: BLE001 - what the worker would get
            seen.append(exc)
        return serialise(payload)

    monkeypatch.setattr(module, "dumps", dumps_while_polled)
    Connection(transport=transport, transport_options=options).default_channel._put("q", {"n": 1})
    if transport is Transport:
        assert [type(s) for s in seen] == [Empty]
        assert consumer._get("q") == {"n": 1}
    else:
        assert [type(s) for s in seen] == [JSONDecodeError]
        with pytest.raises(Empty):  # and the message is gone
            consumer._get("q")
