#!/usr/bin/env python3
"""Lists the `crate::`/`super::` edges between a Rust crate's modules and
reports cycles: between top-level modules, and between the submodules of each
top-level module. Exits 1 when there is a cycle.

usage: module-cycles.py [--edges] CRATE_SRC_DIR...   (e.g. src benches/loadgen)

A file's module path comes from its place under the directory (mod.rs, lib.rs
and main.rs name their directory). Edges come from `use` trees and from inline
paths; comments and string literals are ignored. A module's own parent is not
an edge (children always see their parents)."""
import os
import re
import sys


def module_of(root, path):
    parts = os.path.relpath(path, root)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return parts


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def expand_use(tree):
    """`a::{b::{c, d}, e as f}` -> [a::b::c, a::b::d, a::e]."""
    out = []

    def walk(prefix, s):
        s = s.strip()
        if not s:
            return
        brace = s.find("{")
        if brace == -1:
            out.append(prefix + s.split(" as ")[0].strip())
            return
        head, inner = s[:brace], s[brace + 1 : s.rfind("}")]
        depth, part = 0, ""
        for ch in inner:
            depth += ch == "{"
            depth -= ch == "}"
            if ch == "," and depth == 0:
                walk(prefix + head, part)
                part = ""
            else:
                part += ch
        walk(prefix + head, part)

    walk("", tree)
    return out


def edges(root, depth):
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            me = module_of(root, path)
            text = strip(open(path, encoding="utf-8").read())
            paths = [p for m in re.finditer(r"\buse\s+([^;]+);", text) for p in expand_use(m.group(1))]
            paths += re.findall(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text)
            for p in paths:
                segments = [s for s in p.split("::") if s]
                if segments[0] == "crate":
                    target = segments[1:]
                elif segments[0] in ("super", "self"):
                    target = list(me)
                    while segments and segments[0] in ("super", "self"):
                        if segments[0] == "super":
                            target = target[:-1]
                        segments = segments[1:]
                    target += segments
                else:
                    continue
                a, b = tuple(me[:depth]), tuple(target[:depth])
                if not a or not b or a == b or a[: len(b)] == b or b[: len(a)] == a:
                    continue
                found.setdefault(a, set()).add(b)
    return found


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return result


def name(module):
    return "::".join(module)


def report(root, show_edges):
    top = edges(root, 1)
    inner = {a: {b for b in bs if b[0] == a[0]} for a, bs in edges(root, 2).items() if len(a) == 2}
    if show_edges:
        for a in sorted(top):
            print(f"  {name(a)} -> {', '.join(sorted(name(b) for b in top[a]))}")
    found = cycles(top) + cycles(inner)
    for component in found:
        members = set(component)
        graph = top if len(component[0]) == 1 else inner
        print(f"{root}: cycle between {', '.join(name(m) for m in component)}")
        for a in component:
            for b in sorted(graph.get(a, ())):
                if b in members:
                    print(f"    {name(a)} -> {name(b)}")
    if not found:
        print(f"{root}: no module cycles")
    return len(found)


if __name__ == "__main__":
    show = "--edges" in sys.argv
    roots = [arg for arg in sys.argv[1:] if arg != "--edges"] or ["src"]
    sys.exit(1 if sum(report(root, show) for root in roots) else 0)
