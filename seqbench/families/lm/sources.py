"""From a source spec to documents per split (``{split: [(title, text)]}``).

Three source kinds (a registry, :data:`SOURCE_KINDS`): ``generator: pydoc-topics`` (embedded:
the language-reference topics CPython ships in ``pydoc_data.topics``), ``hub`` (WikiText on
the Hugging Face hub, parquet with a ``text`` field) and ``local`` (one or more ``.txt``
files). A source without its own splits is split by document, seeded, about 90/5/5, so no
document's text is in two splits.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqbench.config import SourceSpec
from seqbench.data import hub
from seqbench.data.splits import SPLITS, split_of
from seqbench.errors import SeqbenchError
from seqbench.progress import console

Document = tuple[str, str]  # (title, text)
HOLDOUT_FRACTION = 0.05  # dev and test shares when a source has no splits of its own
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
PYDOC_VERSION = 2  # bump when the topic split changes (2: topics sharing text stay together)
SHARED_LINE = 60  # characters: a shared line this long means two documents share text


@dataclass(frozen=True)
class OpenedSource:
    """A source ready to read: its fingerprint identity, a description and a reader."""

    identity: dict[str, Any]
    description: str
    read: Callable[[], dict[str, list[Document]]]


def text_groups(docs: list[Document]) -> list[list[int]]:
    """Documents that share text, grouped: two documents sharing any line of at least
    ``SHARED_LINE`` characters are in one group (pydoc's ``compound`` topic holds the whole
    text of ``if``, ``while``, ``try``...: split apart they would leak test text into train)."""
    parent = list(range(len(docs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_owner: dict[str, int] = {}
    for i, (_, text) in enumerate(docs):
        for line in text.splitlines():
            key = line.strip()
            if len(key) >= SHARED_LINE:
                parent[root(i)] = root(first_owner.setdefault(key, i))
    groups: dict[int, list[int]] = {}
    for i in range(len(docs)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def split_documents(docs: list[Document], seed: int) -> dict[str, list[Document]]:
    """Whole groups of documents (:func:`text_groups`) to train/dev/test, seeded, about
    90/5/5 of the characters (at least one group each), documents in source order.

    Groups are drawn in a seeded order; test, then dev, takes each drawn group that fits its
    5% share until the share is reached; a group too large for the share stays in train.
    """
    groups = text_groups(docs)
    if len(groups) < 3:
        raise SeqbenchError(
            f"only {len(groups)} separate document(s): cannot make train/dev/test without "
            "putting one text in two splits",
            "provide at least 3 documents (separate them with a blank line in a .txt file)",
        )
    size = [sum(len(docs[i][1]) for i in g) for g in groups]
    share = HOLDOUT_FRACTION * sum(size)
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    where: dict[int, str] = {}
    filled = {"test": 0, "dev": 0}
    for held in ("test", "dev"):
        for g in order:
            if g not in where and filled[held] < share and size[g] <= share:
                where[g] = held
                filled[held] += size[g]
        if not filled[held]:  # every group exceeds the share: the smallest one left
            g = min((k for k in order if k not in where), key=lambda k: size[k])
            where[g] = held
            filled[held] = size[g]
    out: dict[str, list[Document]] = {s: [] for s in SPLITS}
    owner = {i: where.get(g, "train") for g, members in enumerate(groups) for i in members}
    for i, doc in enumerate(docs):
        out[owner[i]].append(doc)
    return out


# --- embedded: pydoc topics ---------------------------------------------------------------


def pydoc_topics() -> list[Document]:
    """Every topic of ``pydoc_data.topics`` as (name, text), sorted by name."""
    from pydoc_data.topics import topics

    return [(name, topics[name]) for name in sorted(topics)]


def _open_generator(source: SourceSpec, seed: int) -> OpenedSource:
    if source.generator != "pydoc-topics":
        raise SeqbenchError(
            f"unknown lm generator {source.generator!r}", "the lm family embeds `pydoc-topics`"
        )
    docs = pydoc_topics()
    digest = hashlib.sha256("".join(t for _, t in docs).encode()).hexdigest()[:16]
    identity = {"generator": "pydoc-topics", "version": PYDOC_VERSION, "text_sha256": digest}
    return OpenedSource(identity, "pydoc_data.topics", lambda: split_documents(docs, seed))


# --- hub: WikiText ------------------------------------------------------------------------


def wikitext_documents(lines: list[str]) -> list[Document]:
    """WikiText rows (one paragraph or heading each) grouped into articles at `` = Title = ``."""
    docs: list[Document] = []
    for line in lines:
        stripped = line.strip()
        is_title = stripped.startswith("= ") and not stripped.startswith("= =")
        if is_title or not docs:
            docs.append((stripped.strip("= ") or "untitled", ""))
        if stripped:
            docs[-1] = (docs[-1][0], docs[-1][1] + stripped + "\n")
    return [d for d in docs if d[1].strip()]


def _offline_error(hub_id: str, config: str | None) -> SeqbenchError:
    return SeqbenchError(
        f"cannot fetch {hub_id} [{config or 'default'}] from the Hugging Face hub: offline and "
        "not in the local HF cache",
        "download it where there is network and pass --source local:PATH (.txt files, or a "
        "folder of train/validation/test parquet files with a `text` field as --source hub:DIR)",
    )


def _open_hub(source: SourceSpec, seed: int) -> OpenedSource:
    hub_id, config = str(source.hub), source.hub_config
    field = source.fields.get("text", "text")
    names = {**HUB_SPLITS, **source.splits}
    identity: dict[str, Any] = {"hub": hub_id, "config": config, "field": field, "splits": names}
    folder = Path(hub_id).expanduser()
    if folder.is_dir():
        identity["files"] = _file_stats(sorted(p for p in folder.rglob("*") if p.is_file()))

    def read() -> dict[str, list[Document]]:
        local = folder.is_dir()
        online = local or hub.hub_reachable()
        out: dict[str, list[Document]] = {}
        with contextlib.ExitStack() as stack:
            cache_dir = None
            if local:
                cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="seqbench-hf-"))
            if not online:
                stack.enter_context(hub.offline_mode())
            for split, name in names.items():
                console.print(f"fetching {hub_id} [{config}] {name}", markup=False)
                try:
                    table = hub.load_split(hub_id, config, name, None, cache_dir)
                except ConnectionError as err:
                    raise _offline_error(hub_id, config) from err
                except (ValueError, KeyError, FileNotFoundError) as err:
                    if not online:
                        raise _offline_error(hub_id, config) from err
                    raise SeqbenchError(
                        f"{hub_id}: cannot load split {name!r}: {str(err).splitlines()[0]}",
                        f"map our splits in the spec: `splits: {{{split}: <name>}}`",
                    ) from err
                if field not in table.column_names:
                    raise SeqbenchError(
                        f"{hub_id} {name}: no field {field!r} (has {table.column_names})",
                        "name the text field with `fields: {text: NAME}`",
                    )
                out[split] = wikitext_documents([str(t) for t in table.column(field).to_pylist()])
        return out

    return OpenedSource(identity, source.describe(), read)


# --- local: .txt files --------------------------------------------------------------------


def _file_stats(files: list[Path]) -> list[dict[str, Any]]:
    return [
        {"path": str(p.resolve()), "size": p.stat().st_size, "mtime": p.stat().st_mtime_ns}
        for p in files
    ]


def text_files(where: str) -> list[Path]:
    """The ``.txt`` files at ``where`` (a file, or every ``.txt`` under a folder)."""
    path = Path(where).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.rglob("*.txt"))
    else:
        raise SeqbenchError(f"no such file or folder: {where}", "pass --source local:PATH.txt")
    if not files:
        raise SeqbenchError(f"no .txt files under {where}", "put plain text in NAME.txt files")
    return files


def paragraphs(path: Path) -> list[Document]:
    """A text file's blank-line separated paragraphs as documents (title: file and number)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SeqbenchError(f"cannot read {path}: {err}", "pass UTF-8 plain text") from err
    if not text.strip():
        raise SeqbenchError(f"{path} is empty", "remove it or put text in it")
    blocks = [b.strip() + "\n" for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return [(f"{path.name}#{i}", b) for i, b in enumerate(blocks)]


def _open_local(source: SourceSpec, seed: int) -> OpenedSource:
    files = text_files(str(source.local))
    identity = {"local": _file_stats(files)}

    def read() -> dict[str, list[Document]]:
        by_split = {f: split_of(f.name) for f in files}
        if all(by_split.values()) and {"train", "test"} <= set(by_split.values()):
            out: dict[str, list[Document]] = {s: [] for s in SPLITS}
            for f, split in by_split.items():
                out[str(split)] += paragraphs(f)
            if not out["dev"]:  # carve dev from train, by paragraph
                carved = split_documents(out["train"], seed)
                out["train"], out["dev"] = carved["train"] + carved["test"], carved["dev"]
            return out
        return split_documents([d for f in files for d in paragraphs(f)], seed)

    return OpenedSource(identity, f"local {source.local}", read)


SOURCE_KINDS: dict[str, Callable[[SourceSpec, int], OpenedSource]] = {
    "generator": _open_generator,
    "hub": _open_hub,
    "local": _open_local,
}


def open_source(source: SourceSpec, seed: int) -> OpenedSource:
    """Resolve ``source`` (nothing is read or fetched yet)."""
    return SOURCE_KINDS[source.kind](source, seed)
