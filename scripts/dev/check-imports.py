#!/usr/bin/env python3
"""Check that imports point down: no import circle among the files of a crate that spans
more than one folder, and none between the top-level modules of a crate.

    python3 scripts/dev/check-imports.py          check every crate under crates/
    python3 scripts/dev/check-imports.py --graph  also print each crate's module layers

Reads `crate::`, `super::` and `self::` paths (in `use` declarations, grouped or not, and in
code), resolves them to the file that defines the item (following `pub use` re-exports), and
looks for strongly connected components. Run by scripts/test.sh; exits 1 on a violation.
Text-based: a path built by a macro is not seen.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path (tuple) -> file
        for path in sorted(src.rglob("*.rs")):
            rel = path.relative_to(src).with_suffix("")
            parts = list(rel.parts)
            if parts in (["lib"], ["main"]):
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            self.files[tuple(parts)] = path
        # A package with both lib.rs and main.rs is two crates: the binary's own modules
        # (declared in main.rs) are left out of the library's picture.
        if (src / "lib.rs").exists() and (src / "main.rs").exists():
            main = strip_comments((src / "main.rs").read_text())
            for child in re.findall(r"^\s*mod\s+(\w+)\s*;", main, flags=re.M):
                self.files.pop((child,), None)
            self.files[()] = src / "lib.rs"
        self.text = {m: strip_comments(p.read_text()) for m, p in self.files.items()}
        self.reexports = {m: self._reexports(m) for m in self.files}

    def _use_trees(self, module, text, public_only):
        """(absolute path) of every item a `use` declaration names."""
        pattern = r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);" if public_only else r"\buse\s+([^;]+);"
        for tree in re.findall(pattern, text):
            # `Item as Alias` names Item; then whitespace goes.
            tree = re.sub(r"\s+as\s+\w+", "", tree)
            for path in expand(re.sub(r"\s+", "", tree)):
                absolute = self.absolute(module, path)
                if absolute is not None:
                    yield absolute

    def _reexports(self, module):
        out = {}
        for path in self._use_trees(module, self.text[module], True):
            if path:
                out[path[-1]] = path
        return out

    def absolute(self, module, path):
        """A path as seen from `module`, made absolute (None: another crate)."""
        if not path:
            return None
        if path[0] == "crate":
            return tuple(path[1:])
        if path[0] == "self":
            return module + tuple(path[1:])
        if path[0] == "super":
            base = list(module)
            while path and path[0] == "super":
                base = base[:-1]
                path = path[1:]
            return tuple(base) + tuple(path)
        if module + (path[0],) in self.files:  # a child module named without self::
            return module + tuple(path)
        return None

    def resolve(self, path, depth=0):
        """The module (file) that defines what an absolute path names."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.files:
                module, rest = path[:cut], path[cut:]
                if rest and depth < 8 and rest[0] in self.reexports[module]:
                    target = self.reexports[module][rest[0]] + rest[1:]
                    return self.resolve(target, depth + 1)
                return module
        return ()

    def edges(self):
        graph = defaultdict(set)
        for module, text in self.text.items():
            # A module presenting its own children's items (`pub use child::Item`) is a
            # facade, not a dependency of its code on them.
            facade = set(self._use_trees(module, text, True))
            paths = {
                p
                for p in self._use_trees(module, text, False)
                if not (p in facade and is_ancestor(module, self.resolve(p)))
            }
            text = re.sub(r"\bpub(?:\([^)]*\))?\s+use\s+[^;]+;", "", text)
            for match in re.finditer(r"\b(?:crate|super|self)(?:::\w+)+", text):
                absolute = self.absolute(module, match.group(0).split("::"))
                if absolute is not None:
                    paths.add(absolute)
            for path in paths:
                target = self.resolve(path)
                if target == module:
                    continue
                # A module names its ancestors on every path (crate::index::...): only an
                # item an ancestor defines itself is an import from it.
                if is_ancestor(target, module) and not defines_used(self, target, path):
                    continue
                graph[module].add(target)
        return graph


def is_ancestor(a, b):
    return len(a) < len(b) and b[: len(a)] == a


def defines_used(crate, target, path):
    """Whether a path into an ancestor module names an item that module defines itself (not
    a child module of it, nor a re-export)."""
    rest = path[len(target):]
    if not rest:
        return False
    name = rest[0]
    if target + (name,) in crate.files:
        return False
    return re.search(r"\b(?:struct|enum|trait|fn|const|static|type|union)\s+" + re.escape(name) + r"\b",
                     crate.text[target]) is not None


def expand(tree):
    """`a::{b, c::{d, e}}` -> [[a, b], [a, c, d], [a, c, e]]."""
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
    if start is None:
        parts = [p for p in tree.split("::") if p]
        return [parts] if parts else []
    prefix = [p for p in tree[:start].split("::") if p]
    inner = tree[start + 1: tree.rindex("}")]
    items, depth, current = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        current += ch
    items.append(current)
    out = []
    for item in filter(None, items):
        for sub in expand(item):
            if sub == ["self"]:
                out.append(prefix)
            elif sub and sub[0] != "*":
                out.append(prefix + sub)
            elif sub:
                out.append(prefix)
    return out


def components(graph, nodes):
    """Strongly connected components (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def name(module):
    return "::".join(module) or "crate"


def main():
    show = "--graph" in sys.argv
    failed = False
    for src in sorted(ROOT.glob("crates/*/src")):
        crate = Crate(src)
        graph = crate.edges()
        label = src.parent.name
        folder_of = {m: crate.files[m].parent for m in crate.files}
        for comp in components(graph, list(crate.files)):
            if len(comp) < 2:
                continue
            folders = {folder_of[m] for m in comp}
            kind = "across folders" if len(folders) > 1 else "inside one folder"
            print(f"{label}: import circle {kind}: " + ", ".join(sorted(name(m) for m in comp)))
            failed |= len(folders) > 1
        top = defaultdict(set)
        for a, targets in graph.items():
            for b in targets:
                if a[:1] != b[:1] and a and b:
                    top[a[:1]].add(b[:1])
        for comp in components(top, sorted({m[:1] for m in crate.files if m})):
            if len(comp) > 1:
                print(f"{label}: circle between top-level modules: " + ", ".join(sorted(name(m) for m in comp)))
                failed = True
        if show:
            print(f"\n{label}: top-level modules by layer, bottom first (each imports only from lines above it)")
            remaining = {m for m in (k[:1] for k in crate.files) if m}
            while remaining:
                layer = sorted(m for m in remaining if not (top[m] & remaining))
                if not layer:
                    break
                remaining -= set(layer)
                print("  " + ", ".join(name(m) for m in layer))
        edges = sum(len(t) for t in graph.values())
        print(f"{label}: {len(crate.files)} files, {edges} imports between files"
              + ("" if failed else ", no circle across folders"))
    if failed:
        print("imports do not point down (see above)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
