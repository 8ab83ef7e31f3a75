"""Hugging Face hub sources through ``datasets.load_dataset``, loud and fast-failing.

Nothing is fetched silently: every split fetched is announced on stderr. Before touching the
network a 3-second TCP probe of the hub (or the HTTPS proxy) decides whether we are online;
offline, ``datasets`` runs in offline mode (it still finds copies in the local HF cache) so an
unreachable hub fails in about a second instead of minutes of retries, with a one-line error
that says how to provide the data locally. ``hub_id`` may also be a local folder shaped like
the hub data set (split files with the same field names), e.g. a downloaded snapshot.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from seqbench.data.sources import Fields, Pair, table_pairs
from seqbench.errors import SeqbenchError
from seqbench.progress import console

PROBE_TIMEOUT_S = 3.0
DEFAULT_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


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
def _offline_mode() -> Iterator[None]:
    """Make ``datasets`` use only its local cache (no HTTP retries) inside the block."""
    import datasets.config
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def _offline_error(
    hub_id: str, config: str | None, fields: Fields, err: Exception
) -> SeqbenchError:
    name = hub_id + (f" [{config}]" if config else "")
    return SeqbenchError(
        f"cannot fetch {name} from the Hugging Face hub: offline and not in the local HF cache",
        f"download it where there is network and pass --source local:PATH (split files "
        f"train/validation/test .jsonl or .parquet with fields {fields.src!r}, {fields.tgt!r})",
    )


def _load_split(
    hub_id: str, config: str | None, name: str, limit: int | None, cache_dir: str | None
) -> Any:
    import datasets

    if limit is None:
        dataset = datasets.load_dataset(hub_id, config, split=name, cache_dir=cache_dir)
        return dataset.with_format("arrow")[:]
    # Streaming reads only the first ``limit`` rows instead of the whole split.
    stream = datasets.load_dataset(hub_id, config, split=name, streaming=True, cache_dir=cache_dir)
    import pyarrow as pa

    return pa.Table.from_pylist(list(itertools.islice(stream, limit)))


def _is_missing_split(err: Exception) -> bool:
    return isinstance(err, ValueError | KeyError) and "split" in str(err).lower()


def load_hub(
    hub_id: str,
    config: str | None = None,
    fields: dict[str, Any] | None = None,
    splits: dict[str, str] | None = None,
    limits: dict[str, int | None] | None = None,
) -> dict[str, list[Pair]]:
    """``{split: [(src, tgt)]}`` of a hub data set (or a local folder shaped like one).

    ``splits`` maps our split names (train/dev/test) to the data set's (default train,
    validation, test); a missing dev split is left out (the caller carves one from train).
    ``limits`` caps rows per split by streaming only the first rows (nothing else fetched).
    """
    parsed = Fields.of(fields)
    names = {**DEFAULT_SPLITS, **(splits or {})}
    limits = limits or {}
    local = Path(hub_id).expanduser().is_dir()
    online = local or hub_reachable()
    out: dict[str, list[Pair]] = {}
    with contextlib.ExitStack() as stack:
        cache_dir = None
        if local:  # a local folder: keep datasets' Arrow copies out of the shared HF cache
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="seqbench-hf-"))
        if not online:
            stack.enter_context(_offline_mode())
        for split, name in names.items():
            limit = limits.get(split)
            what = f"the first {limit:,} rows of " if limit else ""
            origin = "local folder" if local else "Hugging Face hub" if online else "HF cache"
            console.print(
                f"fetching {what}{hub_id} [{config or 'default'}] {name} ({origin})",
                markup=False,
                highlight=False,
            )
            try:
                table = _load_split(hub_id, config, name, limit, cache_dir)
            except ConnectionError as err:
                raise _offline_error(hub_id, config, parsed, err) from err
            except (ValueError, KeyError) as err:
                if split == "dev" and _is_missing_split(err):
                    continue
                raise SeqbenchError(
                    f"{hub_id}: cannot load split {name!r}: {str(err).splitlines()[0]}",
                    f"map our splits in the spec: `splits: {{{split}: <name>}}`",
                ) from err
            except FileNotFoundError as err:
                raise SeqbenchError(
                    f"{hub_id}: not a hub data set or data folder ({str(err).splitlines()[0]})",
                    "check the hub id, or use --source local:PATH",
                ) from err
            out[split] = table_pairs(table, parsed, f"{hub_id} {name}")
    if "train" not in out:
        raise SeqbenchError(f"{hub_id} has no train split", "map it with `splits: {train: NAME}`")
    return out
