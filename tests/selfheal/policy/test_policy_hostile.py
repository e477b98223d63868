"""Hostile documents are refused quickly and cheaply, by libyaml and by the pure-Python parser:
no alias is ever expanded, no tag constructed, no deep structure built."""

import time
import tracemalloc

import pytest

from selfheal.policy import PolicyError, load_policy, load_policy_file

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

# Built once: the test measures the loader, not the construction of its input.
HOSTILE = {
    "billion-laughs": (BILLION_LAUGHS, 1, "anchors (&a) are not allowed"),
    "ten-megabytes": ("actions: " + "x" * 10_000_000, 1, "larger than 262144 bytes"),
    "ten-megabytes-multibyte": ("# " + "é" * 200_000, 1, "larger than 262144 bytes"),
    "10000-deep-flow-lists": ("[" * 10_000 + "]" * 10_000, 1, "nested more than 64 deep"),
    "10000-deep-flow-maps": ("{a: " * 10_000 + "1" + "}" * 10_000, 1, "nested more than 64"),
    "128k-deep-flow-lists": ("[" * 131_000, 1, "nested more than 64 deep"),
    "60-deep-flow-lists": ("[" * 60 + "]" * 60, 1, "nesting is deeper than 8"),
    "10000-deep-block-lists": ("- " * 10_000 + "x\n", 1, "nesting is deeper than 8"),
    "python-object-apply": (
        'actions: !!python/object/apply:os.system ["touch /tmp/selfheal-pwned"]\n',
        1,
        "tags (!!python/object/apply:os.system) are not allowed",
    ),
    "python-object-new": (
        "policies:\n  r: !!python/object/new:subprocess.Popen [[touch, /tmp/pwned]]\n",
        2,
        "tags (!!python/object/new:subprocess.Popen) are not allowed",
    ),
    "python-name": ("version: !!python/name:os.system\n", 1, "tags (!!python/name:os.system)"),
    "many-documents": ("a: 1\n" + "---\na: 1\n" * 20_000, 2, "only one YAML document"),
    "many-aliases": ("a: &x 1\nb: [" + "*x, " * 50_000 + "]\n", 1, "anchors (&x)"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_it_refuses_hostile_documents_fast_and_without_memory_growth(case, parser):
    text, line, message = HOSTILE[case]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PolicyError) as caught:
            load_policy(text)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    problem = caught.value.problems[0]
    assert problem.line == line
    assert message in problem.message
    assert elapsed < 1.0
    assert peak < 4 * 1024 * 1024


def test_it_refuses_a_document_that_is_slightly_too_large():
    text = "#" * (256 * 1024 - 4) + "\n" + "é" * 4  # under the cap in characters, over in bytes

    with pytest.raises(PolicyError, match="larger than"):
        load_policy(text)


def test_it_never_constructs_python_objects(tmp_path):
    marker = tmp_path / "pwned"
    text = f'actions: !!python/object/apply:os.system ["touch {marker}"]\n'

    with pytest.raises(PolicyError):
        load_policy(text)

    assert not marker.exists()


def test_it_checks_a_file_size_before_reading_it(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB of NULs, never read
    tracemalloc.start()
    try:
        with pytest.raises(PolicyError, match="larger than"):
            load_policy_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 1024 * 1024
