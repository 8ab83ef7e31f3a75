"""Hugging Face hub sources through ``datasets.load_dataset``, loud and fast-failing.

Nothing is fetched silently: every split fetched is announced on stderr. Before touching the
network a 3-second TCP probe of the hub (or the HTTPS proxy) decides whether we are online;
offline, ``datasets`` runs in offline mode (it still finds copies in the local HF cache) so an
unreachable hub fails in about a second instead of minutes of retries, with a one-line error
that says how to provide the data locally. ``hub_id`` may also be a local folder shaped like
the hub data set (split files with the same field names), e.g. a downloaded snapshot. What a
family makes of the rows lives in its own ``sources.py``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub endpoint (or the HTTPS proxy) opens in time."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ) not in ("", "0"):
        return False
    from huggingface_hub import constants

    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urlparse(proxy or constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def offline_mode() -> Iterator[None]:
    """Make ``datasets`` use only its local cache (no HTTP retries) inside the block."""
    import datasets.config
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def load_split(
    hub_id: str, config: str | None, name: str, limit: int | None, cache_dir: str | None
) -> Any:
    """One split of a hub data set as an Arrow table (its first ``limit`` rows when given)."""
    import datasets

    if limit is None:
        dataset = datasets.load_dataset(hub_id, config, split=name, cache_dir=cache_dir)
        return dataset.with_format("arrow")[:]
    # Streaming reads only the first ``limit`` rows instead of the whole split.
    stream = datasets.load_dataset(hub_id, config, split=name, streaming=True, cache_dir=cache_dir)
    import pyarrow as pa

    return pa.Table.from_pylist(list(itertools.islice(stream, limit)))
