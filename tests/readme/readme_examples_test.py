#!/usr/bin/python3
"""Every C++ block of the README is a program under examples/, byte for byte, and every program
under examples/ is a block of the README, so the blocks a user copies are the ones CI compiles
and runs (//examples). Usage: readme_examples_test.py README.md examples/a.cc examples/b.cc ..."""
import difflib
import os
import sys

CPP_FENCES = ("```cpp", "```c++", "```cc", "```cxx")


def cpp_blocks(path):
    """(line number of the fence, section heading, text) for each C++ block of the markdown."""
    blocks = []
    section = "(before the first heading)"
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):  # a heading: code blocks are stepped over whole
            section = line.lstrip("#").strip()
        if line.strip() in CPP_FENCES:
            start = i + 1
            j = start
            while j < len(lines) and lines[j] != "```":
                j += 1
            if j == len(lines):
                sys.exit(f"{path}:{i + 1}: the C++ block in \"{section}\" is never closed")
            blocks.append((i + 1, section, "".join(l + "\n" for l in lines[start:j])))
            i = j
        elif line.startswith("```"):  # another language's block: skip it, headings included
            j = i + 1
            while j < len(lines) and lines[j] != "```":
                j += 1
            i = j
        i += 1
    return blocks


def main(readme, example_paths):
    examples = {}
    for p in example_paths:
        with open(p, encoding="utf-8", newline="") as f:
            examples[os.path.join("examples", os.path.basename(p))] = f.read()
    blocks = cpp_blocks(readme)
    if not blocks:
        sys.exit(f"{readme}: no C++ block found; the test reads ```cpp fences")

    failures = []
    shown = set()
    for line, section, text in blocks:
        same = [name for name, body in examples.items() if body == text]
        if same:
            shown.update(same)
            continue
        first = text.split("\n", 1)[0]
        message = (f"README.md:{line}: the C++ block in section \"{section}\" (first line: "
                   f"{first!r}) is not identical to any examples/*.cc file")
        if examples:
            closest = max(examples, key=lambda n: difflib.SequenceMatcher(
                None, examples[n], text).ratio())
            diff = difflib.unified_diff(examples[closest].splitlines(True),
                                        text.splitlines(True),
                                        fromfile=closest,
                                        tofile=f"README.md, \"{section}\"")
            message += f"; against the closest, {closest}:\n" + "".join(diff)
        failures.append(message)
    for name in sorted(set(examples) - shown):
        failures.append(f"{name} is not in README.md: each example must be a ```cpp block "
                        "of it, byte for byte (or remove the file)")

    for f in failures:
        print("FAIL: " + f.rstrip("\n") + "\n", file=sys.stderr)
    if failures:
        print(f"{len(failures)} problem(s): every ```cpp block of README.md must be an "
              "examples/*.cc file byte for byte, and every examples/*.cc file a block; edit "
              "both together.", file=sys.stderr)
        return 1
    print(f"{len(blocks)} C++ blocks of README.md match examples/: "
          + ", ".join(sorted(shown)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
