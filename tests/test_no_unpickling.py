"""Nothing in the project unpickles: every torch.load passes weights_only=True, and no code calls
pickle/dill/joblib loaders or numpy loaders with allow_pickle=True. Checked on the syntax tree."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("sdk", "trainer", "kernels", "benchmarks") for p in (ROOT / d).rglob("*.py"))
UNPICKLERS = {("pickle", "load"), ("pickle", "loads"), ("pickle", "Unpickler"), ("dill", "load"), ("dill", "loads"),
              ("joblib", "load"), ("cloudpickle", "load"), ("cloudpickle", "loads")}


def dotted(node: ast.AST) -> tuple[str, ...]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def violations(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        where = f"line {node.lineno}: {'.'.join(name)}"
        if name[-2:] == ("torch", "load"):
            weights_only = keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                found.append(where + " without weights_only=True")
        if name[-2:] in UNPICKLERS:
            found.append(where)
        if name[-1:] in (("load",), ("loadtxt",)) and len(name) >= 2 and name[-2] in ("np", "numpy"):
            allow = keyword(node, "allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                found.append(where + " with allow_pickle=True")
    return found


@pytest.mark.parametrize("bad,expected", [
    ("import torch\ntorch.load('x.pt')", "torch.load without weights_only=True"),
    ("import torch\ntorch.load('x.pt', weights_only=False)", "torch.load without weights_only=True"),
    ("import pickle\npickle.loads(b'')", "pickle.loads"),
    ("import numpy as np\nnp.load('x.npy', allow_pickle=True)", "np.load with allow_pickle=True"),
])
def test_the_checker_catches_each_pattern(bad, expected):
    assert any(expected in v for v in violations(bad))


def test_no_code_path_unpickles():
    assert len(SOURCES) > 20
    found = {str(p.relative_to(ROOT)): v for p in SOURCES if (v := violations(p.read_text(encoding="utf-8")))}
    assert not found, f"unpickling call sites: {found}"
