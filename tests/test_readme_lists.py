"""The README's lists of profiles, families, tasks and models match the registries, so a new
profile (or model, family, bundled task) without its README line fails here."""

from __future__ import annotations

import re

import pytest

from seqbench import config, paths
from seqbench.accel.profile import list_profiles
from seqbench.models import MODEL_REGISTRY

README = paths.REPO_ROOT / "README.md"


def section(title: str, text: str | None = None) -> str:
    """The text under the README heading ``### TITLE...`` up to the next heading."""
    text = README.read_text(encoding="utf-8") if text is None else text
    match = re.search(rf"^### {re.escape(title)}.*?$(.*?)(?=^#)", text, re.M | re.S)
    assert match, f"README.md has no '### {title}' section"
    return match.group(1)


def first_column(title: str, text: str | None = None) -> list[str]:
    """The backticked names in the first column of the section's table."""
    rows = [line for line in section(title, text).splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]


def bundled_tasks() -> dict[str, str]:
    """Bundled task name -> family (the user's own task folder is not the README's business)."""
    folder = paths.tasks_dir()
    return {
        name: config.load_task_spec(path).family
        for name, path in config.discover_tasks(folder).items()
    }


def _same(listed: list[str], registered: set[str], what: str) -> None:
    missing = sorted(registered - set(listed))
    extra = sorted(set(listed) - registered)
    assert not missing, f"README.md lists no line for {what} {missing}: add one"
    assert not extra, f"README.md lists {what} {extra} that nothing registers: remove them"
    assert len(listed) == len(set(listed)), f"README.md lists a {what} twice"


def test_every_profile_has_a_readme_line() -> None:
    _same(first_column("Accelerator profiles"), set(list_profiles()), "profile")


def test_every_family_has_a_readme_line() -> None:
    _same(first_column("Task families"), set(config.family_names()), "family")


def test_every_bundled_task_is_listed_under_its_family() -> None:
    rows = {
        re.match(r"\| `([^`]+)`", line).group(1): line.split("|")[2]
        for line in section("Task families").splitlines()
        if line.startswith("| `")
    }
    for task, family in bundled_tasks().items():
        assert f"`{task}`" in rows.get(family, ""), (
            f"README.md's `{family}` row does not name task `{task}`"
        )
    listed = {t for cell in rows.values() for t in re.findall(r"`([^`]+)`", cell)}
    assert listed <= set(bundled_tasks()), (
        f"README.md names tasks {listed - set(bundled_tasks())} that are not bundled"
    )


def test_every_model_has_a_readme_line_with_its_family() -> None:
    _same(first_column("Reference models"), set(MODEL_REGISTRY.names()), "model")
    for line in section("Reference models").splitlines():
        if line.startswith("| `"):
            name, family = (cell.strip(" `") for cell in line.split("|")[1:3])
            assert MODEL_REGISTRY.get(name).family == family, f"README.md: {name} is not {family}"


def test_a_missing_profile_line_is_caught() -> None:
    # The check can fail: a README without the `ice` row misses a registered profile.
    text = re.sub(r"^\| `ice` .*$", "", README.read_text(encoding="utf-8"), flags=re.M)
    with pytest.raises(AssertionError, match="ice"):
        _same(first_column("Accelerator profiles", text), set(list_profiles()), "profile")


def test_accelerators_readme_names_every_mapping_kind_effect_and_op_class() -> None:
    from seqbench.accel.effects import EFFECTS
    from seqbench.accel.mappings import MAPPINGS
    from seqbench.ops import OpClass

    text = (paths.REPO_ROOT / "accelerators" / "README.md").read_text(encoding="utf-8")
    names = [*MAPPINGS.names(), *EFFECTS.names(), *(c.value for c in OpClass)]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"accelerators/README.md does not name {missing}"


def test_tasks_readme_names_every_spec_key_and_preset() -> None:
    text = (paths.REPO_ROOT / "tasks" / "README.md").read_text(encoding="utf-8")
    keys = ["name", "family", "source", "tokenizer", "metrics", "models", "presets",
            "description", "subsets", "default_subset", "size", "teacher", *config.PRESETS,
            "effects_limit", "test_sets"]  # fmt: skip
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"tasks/README.md does not name {missing}"


def test_contributing_is_self_contained() -> None:
    # No path outside the repository, no issue numbers a newcomer cannot open.
    text = (paths.REPO_ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert "../" not in text and not re.search(r"\bissues? #?\d", text, re.I)
    for path in re.findall(r"`((?:seqbench|tests|tasks|accelerators)/[\w/.-]+)`", text):
        if "<" not in path:
            assert (paths.REPO_ROOT / path).exists(), (
                f"CONTRIBUTING.md names {path}, which is absent"
            )
