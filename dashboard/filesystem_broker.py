"""kombu's filesystem transport (the embedded default's broker) with messages that appear whole.

kombu 5's filesystem `Channel._put` creates a message file under its final name and writes it
afterwards; a worker listing the folder in between takes the still-empty file, cannot parse it
(`JSONDecodeError: Expecting value`, which Celery reports as "Unrecoverable error") and exits,
and the message is lost with it (celery/kombu#1551). Our reliability checks met it as a health
check that never ran and a worker gone for the rest of the run. Here a message is written under
a name no consumer picks (`….msg.part`) and renamed into place, which is atomic within a folder;
a consumer claims a message by renaming it into the processed folder of the same broker tree
(kombu moves it to the system's temporary folder, which may be another file system, where the
move becomes a copy that two consumers can both make).

Selected in `settings.py` as `CELERY_BROKER_TRANSPORT` whenever the filesystem broker is used.
"""

from __future__ import annotations

import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

PARTIAL = ".part"


class Channel(filesystem.Channel):
    """A filesystem channel whose messages are written, and claimed, by an atomic rename."""

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]  # kombu's own signature
        """Write `payload` next to its final name, then rename it into place."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """Claim the oldest message of `queue` (one consumer wins the rename), read and drop it."""
        wanted = f"{queue}.msg"
        claimed_folder = self.processed_folder
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(claimed_folder, f"{os.getpid()}-{name}")
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer took it first
            try:
                with open(claimed, "rb") as message:
                    payload = message.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class Transport(filesystem.Transport):
    """kombu's filesystem transport with `Channel` above."""

    Channel = Channel
