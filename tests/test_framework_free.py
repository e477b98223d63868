"""The engine stays framework-free: nothing under selfheal/ imports a web or queue framework."""

import ast
from pathlib import Path

FORBIDDEN = {"django", "celery", "rest_framework", "redis", "kombu", "drf_spectacular"}
ENGINE = Path(__file__).resolve().parent.parent / "selfheal"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_it_finds_engine_modules():
    assert len(list(ENGINE.rglob("*.py"))) >= 3


def test_it_keeps_selfheal_free_of_frameworks():
    offenders = {
        str(path.relative_to(ENGINE.parent)): sorted(imported_roots(path) & FORBIDDEN)
        for path in ENGINE.rglob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_it_detects_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom django.db import models\n")
    assert imported_roots(bad) & FORBIDDEN == {"django"}
