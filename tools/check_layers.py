#!/usr/bin/env python3
"""Checks the floors of DESIGN.md on the quoted #include lines of the tree:
a folder includes only the folders below it (the table), and no header include loop exists.
Prints one line per violation (file:line: what) and exits 1 when there is any.
  tools/check_layers.py [SOURCE_DIR]     check the tree
  tools/check_layers.py --self-test      check that the check sees a broken tree"""
import os
import re
import sys

# Source folder -> the folders its files may include (its own folder always allowed).
# The longest matching source prefix wins.
ALLOWED = {
    "base/": [],
    "cards/": ["base/"],
    "emulator/usb/": ["base/"],
    # The trace writer sees transfers only, as usb::Device reports them to its tap.
    "emulator/trace/": ["base/", "emulator/usb/"],
    "emulator/ccid/": ["base/", "cards/", "emulator/usb/"],
    "emulator/usbredir/": ["base/", "cards/", "emulator/usb/", "emulator/ccid/"],
    "scenarios/": ["base/", "cards/", "emulator/usb/", "emulator/ccid/", "emulator/usbredir/", "emulator/trace/"],
    # Where drivers run. The Windows model's WDM and smclib parts follow Windows, not ISO: they
    # share no protocol code with cards/ and know nothing of the emulator.
    "hosts/linux_guest/": ["base/", "cards/", "emulator/", "scenarios/"],
    # The Windows guest runs on the Linux guest's QEMU process, monitor and agent client.
    "hosts/windows_guest/": ["base/", "cards/", "emulator/", "scenarios/", "hosts/linux_guest/"],
    "hosts/windows_model/wdm/": ["base/"],
    "hosts/windows_model/smclib/": ["base/", "hosts/windows_model/wdm/"],
    "hosts/windows_model/rdf/": ["base/", "cards/", "emulator/", "hosts/windows_model/wdm/",
                                "hosts/windows_model/smclib/"],
    "hosts/windows_model/port/": ["base/", "cards/", "emulator/", "scenarios/", "hosts/windows_model/"],
    "conformance/runners/": ["base/", "cards/", "emulator/", "scenarios/", "hosts/", "conformance/"],
    "conformance/": ["base/", "cards/", "emulator/", "scenarios/"],
    # Drivers see only the Windows model's headers a real driver would (the ABI, WDM, smclib).
    "drivers_under_test/reference_rdf/": ["hosts/windows_model/rdf/readerlab_rdf.h", "hosts/windows_model/rdf/usb_io.h",
                                          "hosts/windows_model/smclib/", "hosts/windows_model/wdm/"],
    "drivers_under_test/agent/": ["base/"],
    "examples/": ["hosts/windows_model/rdf/readerlab_rdf.h", "hosts/windows_model/smclib/",
                  "hosts/windows_model/wdm/"],
    "app/": ["base/", "cards/", "emulator/", "scenarios/", "hosts/", "conformance/"],
}
# Tests, benchmarks and fuzz targets sit beside the tree and may include any of it.
FREE = ("tests/", "bench/", "fuzz/")
SOURCE = re.compile(r"\.(c|cc|cpp|h|hpp)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def rule_for(path):
    best = None
    for prefix in ALLOWED:
        if path.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def main(root):
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        for name in names:
            if SOURCE.search(name):
                files.append(os.path.relpath(os.path.join(folder, name), root))
    problems = []
    graph = {}
    for path in sorted(files):
        rule = rule_for(path)
        edges = graph.setdefault(path, [])
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as source:
            for number, line in enumerate(source, 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                target = match.group(1)
                if "/" not in target:  # a sibling or a system-style header found by -I
                    sibling = os.path.normpath(os.path.join(os.path.dirname(path), target))
                    if os.path.exists(os.path.join(root, sibling)):
                        edges.append(sibling)
                    continue
                if not os.path.exists(os.path.join(root, target)):
                    continue  # generated (build dir) or found by an include path
                edges.append(target)
                if path.startswith(FREE) or rule is None:
                    continue
                if target.startswith(rule) or any(target.startswith(p) for p in ALLOWED[rule]):
                    continue
                problems.append(f"{path}:{number}: includes {target}, a floor {rule} may not reach")
        if rule is None and not path.startswith(FREE):
            problems.append(f"{path}:1: no floor in tools/check_layers.py names this folder")
    problems += find_loops(graph)
    for problem in problems:
        print(problem)
    print(f"{len(files)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


def find_loops(graph):
    loops, state = [], {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(graph.get(start, [])))]
        path = [start]
        state[start] = 1  # on the path
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2  # done
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                loops.append(f"{node}:1: include loop: {' -> '.join(path[path.index(child):] + [child])}")
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(graph.get(child, []))))
                path.append(child)
    return loops


def self_test():
    """The check must see a floor broken and a loop made, or it proves nothing."""
    import tempfile
    with tempfile.TemporaryDirectory() as root:
        files = {
            "cards/card.h": '#include "emulator/ccid/reader.h"\n',
            "emulator/ccid/reader.h": '#include "emulator/ccid/slot.h"\n',
            "emulator/ccid/slot.h": '#include "emulator/ccid/reader.h"\n',
            "hosts/windows_model/smclib/src/t1.cpp": '#include "cards/card.h"\n',
            "tests/cards/any_test.cpp": '#include "app/main.h"\n#include "cards/card.h"\n',
        }
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as out:
                out.write(text)
        import io
        import contextlib
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            status = main(root)
        lines = printed.getvalue().splitlines()
        expected = ["cards/card.h:1: includes emulator/ccid/reader.h",
                    "hosts/windows_model/smclib/src/t1.cpp:1: includes cards/card.h",
                    "include loop: emulator/ccid/reader.h -> emulator/ccid/slot.h -> emulator/ccid/reader.h"]
        missing = [e for e in expected if not any(e in line for line in lines)]
        if status != 1 or missing or any(line.startswith("tests/") for line in lines):
            print("self-test failed; printed:\n" + printed.getvalue() + "missing: " + repr(missing))
            return 1
    print("self-test: a broken floor, a smclib file reaching cards/ and a loop are all reported")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
