"""Imports follow the dependency direction of ARCHITECTURE.md §1.

    agent_web, admin_web -> telephony, chat_channel, email_channel, campaigns, workflows
                         -> platform

`platform` imports none of its siblings; the channel packages (and campaigns, workflows,
telephony) import only `platform`, so they talk to each other through platform services
and bus events; the two web packages import the layers below but not each other; only
the composition roots, `parley.app` and `parley.cli`, may import everything, and no
package imports them. Every import counts, including ones inside functions and under
`TYPE_CHECKING`: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import parley

PLATFORM = "platform"
CHANNELS = frozenset({"telephony", "chat_channel", "email_channel", "campaigns", "workflows"})
WEB = frozenset({"agent_web", "admin_web"})
COMPOSITION_ROOTS = frozenset({"app", "cli"})
ROOT = "<parley>"  # the `parley` package itself: its __init__ and `__version__`
KNOWN_PARTS = frozenset({PLATFORM, ROOT}) | CHANNELS | WEB | COMPOSITION_ROOTS


@dataclass(frozen=True, order=True)
class Violation:
    module: str
    imported: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.reason}"


def _module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _part(module: str, package: str) -> str | None:
    """Which part of the architecture `module` belongs to; None outside the package."""
    pieces = module.split(".")
    if pieces[0] != package:
        return None
    return pieces[1] if len(pieces) > 1 else ROOT


def _imports(
    tree: ast.Module, module: str, is_package: bool, known: set[str]
) -> list[tuple[str, int]]:
    """Every module `tree` imports, with the line: relative imports resolved, and
    `from x import y` counted as importing x.y when y is a module."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.append((source, node.lineno))
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    found.append((f"{source}.{alias.name}", node.lineno))
    return found


def _reason(importer: str, imported: str) -> str | None:
    """Why a module of part `importer` may not import one of part `imported`, if so."""
    if importer == imported or importer in COMPOSITION_ROOTS:
        return None
    if importer not in KNOWN_PARTS:
        return f"parley.{importer} is in no layer: add it to this test's layers"
    if imported in COMPOSITION_ROOTS:
        return "only the composition roots import parley.app and parley.cli"
    if imported == ROOT:
        return None
    if importer == ROOT:
        return "the parley package's __init__ must not load subpackages"
    if importer == PLATFORM:
        return "platform imports none of its siblings"
    if importer in CHANNELS and imported != PLATFORM:
        return "channels, campaigns, workflows and telephony talk only through platform"
    if importer in WEB and imported not in CHANNELS | {PLATFORM}:
        return "web packages import the layers below them, not each other"
    return None


def find_violations(package_dir: Path) -> tuple[list[Violation], int]:
    """The imports under `package_dir` that break the direction, and how many modules
    were read (so a test can tell "clean" from "read nothing")."""
    package = package_dir.name
    paths = sorted(package_dir.rglob("*.py"))
    known = {_module_name(package_dir, path) for path in paths}
    violations: list[Violation] = []
    for path in paths:
        module = _module_name(package_dir, path)
        importer = _part(module, package)
        assert importer is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for imported_module, line in _imports(tree, module, path.name == "__init__.py", known):
            imported = _part(imported_module, package)
            if imported is None:
                continue
            reason = _reason(importer, imported)
            if reason:
                violations.append(Violation(module, imported_module, line, reason))
    return sorted(set(violations)), len(paths)


def test_parley_imports_follow_the_dependency_direction() -> None:
    violations, modules_read = find_violations(Path(parley.__file__).resolve().parent)
    assert modules_read > 20
    assert not violations, "\n".join(str(violation) for violation in violations)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def test_the_checker_catches_every_kind_of_violation(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "parley/__init__.py": "__version__ = '0'\n",
            "parley/app.py": (
                "from parley.admin_web import api\nfrom parley.agent_web import desktop\n"
                "import parley.cli\n"
            ),
            "parley/cli.py": "from parley import app\n",
            "parley/platform/__init__.py": "from parley import __version__\n",
            "parley/platform/bus.py": "from parley.admin_web.api import router\n",
            "parley/platform/sub/__init__.py": "",
            "parley/platform/sub/relative.py": "from ...chat_channel import service\n",
            "parley/platform/sub/lazy.py": (
                "def later():\n    from parley import workflows\n    return workflows\n"
            ),
            "parley/chat_channel/__init__.py": "",
            "parley/chat_channel/service.py": (
                "from parley.platform import bus\nimport parley.email_channel.service\n"
            ),
            "parley/email_channel/__init__.py": "",
            "parley/email_channel/service.py": "from . import service as itself\n",
            "parley/workflows/__init__.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from parley.agent_web.desktop import Desktop\n"
            ),
            "parley/agent_web/__init__.py": "",
            "parley/agent_web/desktop.py": (
                "from parley.chat_channel import service\nfrom parley.platform import bus\n"
                "from parley.admin_web import api\n"
            ),
            "parley/admin_web/__init__.py": "",
            "parley/admin_web/api.py": "from parley.app import create_app\n",
            "parley/reports/__init__.py": "from parley.platform import bus\n",
        },
    )
    violations, modules_read = find_violations(tmp_path / "parley")
    found = {(violation.module, violation.imported) for violation in violations}
    assert found == {
        ("parley.platform.bus", "parley.admin_web.api"),
        ("parley.platform.sub.relative", "parley.chat_channel"),
        ("parley.platform.sub.relative", "parley.chat_channel.service"),
        ("parley.platform.sub.lazy", "parley.workflows"),
        ("parley.chat_channel.service", "parley.email_channel.service"),
        ("parley.workflows", "parley.agent_web.desktop"),
        ("parley.agent_web.desktop", "parley.admin_web"),
        ("parley.agent_web.desktop", "parley.admin_web.api"),
        ("parley.admin_web.api", "parley.app"),
        ("parley.reports", "parley.platform"),
        ("parley.reports", "parley.platform.bus"),
    }
    assert modules_read == 18
