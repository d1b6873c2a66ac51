"""core.ast_guard: concurrent ast.parse calls run one at a time (CPython gh-106905 on Python < 3.13)."""

import ast
import gc
import threading
import time

from core import ast_guard


def test_importing_core_installs_the_guard_where_python_needs_it():
    assert getattr(ast.parse, "__inflow_guarded__", False) is ast_guard.NEEDED
    assert ast_guard.install(force=True) is True
    assert ast.parse.__name__ == "parse" and ast.parse("x = 1").body[0].targets[0].id == "x"


def test_installing_twice_wraps_once():
    ast_guard.install(force=True)
    first = ast.parse
    ast_guard.install(force=True)
    assert ast.parse is first and not getattr(first.__wrapped__, "__inflow_guarded__", False)


def test_calls_from_many_threads_never_overlap():
    inside, most = 0, 0
    lock = threading.Lock()

    def slow_parse(text):
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)
        with lock:
            inside -= 1
        return text

    parse = ast_guard.guarded(slow_parse)
    threads = [threading.Thread(target=lambda: [parse("x") for _ in range(5)]) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1 and inside == 0


def test_the_same_thread_may_parse_again_inside_a_parse():
    # A garbage-collection callback can run Python that parses while the thread is inside ast.parse.
    parse = ast_guard.guarded(lambda text, inner=False: text if inner else parse(text, inner=True))
    assert parse("y") == "y"


def test_real_parses_from_threads_with_collections_between_raise_nothing():
    # The shape of the CPython report: collections (which switch threads mid-build) while many parse.
    ast_guard.install(force=True)
    source = "\n".join(f"def f{i}(a, b=[1, {{2: (3, 4)}}]):\n    return [x for x in a if x > b]" for i in range(60))
    errors = []

    def collect(phase, info):
        [str(i) for i in range(200)]

    def work():
        try:
            for _ in range(10):
                ast.parse(source)
        except SystemError as exc:
            errors.append(exc)

    gc.callbacks.append(collect)
    try:
        threads = [threading.Thread(target=work) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.callbacks.remove(collect)
    assert errors == []
