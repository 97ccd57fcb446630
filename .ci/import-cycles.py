#!/usr/bin/env python3
"""File-level dependency graph of a Rust crate's src/ and its cycles.

A file depends on another when it names (through `use` or an inline path) an item the other
defines. Re-exports (`pub use` / `pub(crate) use`) only forward names; they are not uses.
Each `#[cfg(test)] mod tests` block is a node of its own (`file#tests`).
Usage: .ci/import-cycles.py SRC_DIR [--tests] [--edges]; exits 1 when there is a cycle.
"""
import os
import re
import sys

SRC = sys.argv[1]
WITH_TESTS = '--tests' in sys.argv
SHOW_EDGES = '--edges' in sys.argv

ITEM = re.compile(
    r'^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+|const\s+|async\s+|extern\s+"C"\s+)*'
    r'(fn|struct|enum|trait|type|const|static|union|mod|macro_rules!)\s+([A-Za-z_]\w*)')
TL_STATIC = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?static\s+([A-Za-z_]\w*)\s*:')


def strip(text):
    """Removes comments and string literals (keeping line structure)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif text.startswith('/*', i):
            j = text.find('*/', i)
            out.append('\n' * text[i:j].count('\n'))
            i = n if j < 0 else j + 2
        elif c == 'r' and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            out.append('""' + '\n' * text[i:j].count('\n'))
            i = j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append('""' + '\n' * text[i:j].count('\n'))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or (c == "'" and re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12])):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def split_tests(code):
    """(main part, test part) of a file: the test part is its `#[cfg(test)] mod tests { }`."""
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+tests\s*\{', code)
    if not m:
        return code, ''
    depth, j = 0, m.end() - 1
    while j < len(code):
        if code[j] == '{':
            depth += 1
        elif code[j] == '}':
            depth -= 1
            if depth == 0:
                break
        j += 1
    return code[:m.start()] + code[j + 1:], code[m.end():j]


def use_trees(code):
    """Yields (is_pub, [paths as segment lists], alias per path) of each `use` statement."""
    for m in re.finditer(r'(?m)^\s*(pub(?:\([^)]*\))?\s+)?use\s+([^;]*);', code):
        is_pub = bool(m.group(1))
        tree = re.sub(r'\s*([{},]|::)\s*', r'\1', re.sub(r'\s+', ' ', m.group(2)).strip())
        for path, alias in expand(tree):
            yield is_pub, path, alias


def expand(tree, prefix=()):
    """Expands a use tree into (segments, bound name)."""
    res = []
    if '{' in tree:
        k = tree.index('{')
        head = [s for s in tree[:k].split('::') if s]
        body = tree[k + 1:tree.rindex('}')]
        parts, depth, cur = [], 0, ''
        for ch in body:
            if ch == ',' and depth == 0:
                parts.append(cur)
                cur = ''
                continue
            depth += ch == '{'
            depth -= ch == '}'
            cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            res += expand(p, prefix + tuple(head))
        return res
    alias = None
    if ' as ' in tree:
        tree, alias = tree.split(' as ')
    segs = list(prefix) + [s for s in tree.split('::') if s]
    if segs and segs[-1] == 'self':
        segs = segs[:-1]
    name = alias or (segs[-1] if segs else None)
    res.append((segs, name))
    return res


class Module:
    def __init__(self, path, node):
        self.path = path          # module path, list of names
        self.node = node          # graph node (file, or file#tests)
        self.children = {}        # name -> Module
        self.items = set()        # names defined here
        self.bindings = {}        # name -> segments (from `use`)
        self.glob = []            # glob-imported paths


modules = {}                     # tuple(path) -> Module
codes = {}                       # node -> code to scan for uses


def load(path, file_path, node_name):
    text = strip(open(file_path, encoding='utf-8').read())
    main, tests = split_tests(text)
    mod = Module(path, node_name)
    modules[tuple(path)] = mod
    codes[node_name] = (mod, main)
    here = os.path.dirname(file_path)
    base = os.path.basename(file_path)
    sub_dir = here if base in ('mod.rs', 'lib.rs') else os.path.join(here, base[:-3])
    for line in main.split('\n'):
        m = ITEM.match(line)
        if m:
            kind, name = m.groups()
            if kind == 'mod':
                if re.search(r'\bmod\s+' + name + r'\s*;', line):
                    f1 = os.path.join(sub_dir, name + '.rs')
                    f2 = os.path.join(sub_dir, name, 'mod.rs')
                    f = f1 if os.path.exists(f1) else f2
                    mod.children[name] = load(path + [name], f, os.path.relpath(f, SRC))
                continue
            mod.items.add(name)
        else:
            t = TL_STATIC.match(line)
            if t:
                mod.items.add(t.group(1))
    for is_pub, segs, alias in use_trees(main):
        if segs and segs[-1] == '*':
            if segs[0] in ('crate', 'super', 'self'):
                mod.glob.append((is_pub, segs[:-1]))
        elif alias:
            mod.bindings[alias] = (is_pub, segs)
    if tests:
        t = Module(path + ['tests'], node_name + '#tests')
        modules[tuple(path + ['tests'])] = t
        mod.children['tests'] = t
        codes[t.node] = (t, tests)
        for line in tests.split('\n'):
            m = ITEM.match(line)
            if m:
                t.items.add(m.group(2))
            else:
                s = TL_STATIC.match(line)
                if s:
                    t.items.add(s.group(1))
        for is_pub, segs, alias in use_trees(tests):
            if segs and segs[-1] == '*':
                if segs[0] in ('crate', 'super', 'self'):
                    t.glob.append((is_pub, segs[:-1]))
            elif alias:
                t.bindings[alias] = (is_pub, segs)
    return mod


def start(mod, seg):
    if seg == 'crate':
        return modules[()]
    if seg == 'self':
        return mod
    if seg == 'super':
        return modules[tuple(mod.path[:-1])]
    return None


def resolve(mod, segs, depth=0):
    """The node defining the item `segs` names from `mod`, or None (outside the crate)."""
    if depth > 30 or not segs:
        return None
    first = start(mod, segs[0])
    if first is not None:
        cur, rest = first, segs[1:]
        while rest and rest[0] == 'super':
            cur = modules[tuple(cur.path[:-1])]
            rest = rest[1:]
    else:
        cur, rest = mod, segs
        if segs[0] not in mod.children and segs[0] not in mod.bindings and segs[0] not in mod.items:
            for _, g in mod.glob:
                r = resolve(mod, g + segs, depth + 1)
                if r:
                    return r
            return None
    while rest:
        s = rest[0]
        if s in cur.children:
            cur = cur.children[s]
            rest = rest[1:]
        elif s in cur.items:
            return cur.node
        elif s in cur.bindings:
            target = cur.bindings[s][1]
            return resolve(cur, target + rest[1:], depth + 1)
        else:
            for _, g in cur.glob:
                r = resolve(cur, g + rest, depth + 1)
                if r:
                    return r
            return cur.node
    return None  # a module itself


load([], os.path.join(SRC, 'lib.rs'), 'lib.rs')

PATH = re.compile(r'(?<![\w:])((?:[A-Za-z_]\w*::)+[A-Za-z_]\w*)')
edges = {}
for node, (mod, code) in codes.items():
    if node.endswith('#tests') and not WITH_TESTS:
        continue
    deps = edges.setdefault(node, {})
    for is_pub, segs, alias in use_trees(code):
        if is_pub or not segs or segs[-1] == '*':
            continue
        r = resolve(mod, segs)
        if r and r != node:
            deps.setdefault(r, set()).add('use ' + '::'.join(segs))
    body = re.sub(r'(?m)^\s*(pub(?:\([^)]*\))?\s+)?use\s+[^;]*;', '', code)
    for m in PATH.finditer(body):
        segs = m.group(1).split('::')
        r = resolve(mod, segs)
        if r and r != node:
            deps.setdefault(r, set()).add(m.group(1))
    # Items named bare that come from `use` bindings are covered above; bare names of a
    # parent's items reached through `use super::*` are covered by the globs.
    for is_pub, g in mod.glob:
        if is_pub:
            continue
        r_mod = None
        try:
            cur = start(mod, g[0]) or mod
            for s in g[1:] if start(mod, g[0]) else g:
                cur = cur.children[s] if s not in ('super',) else modules[tuple(cur.path[:-1])]
            r_mod = cur
        except (KeyError, IndexError):
            pass
        if r_mod and r_mod.node != node:
            deps.setdefault(r_mod.node, set()).add('use ' + '::'.join(g) + '::*')

if not WITH_TESTS:
    for d in edges.values():
        for k in [k for k in d if k.endswith('#tests')]:
            del d[k]

if SHOW_EDGES:
    for a in sorted(edges):
        for b in sorted(edges[a]):
            print(f'{a} -> {b}: {", ".join(sorted(edges[a][b]))}')
    print()

# Strongly connected components (Tarjan).
index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
sys.setrecursionlimit(10000)


def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            strong(w)
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
        if len(comp) > 1:
            sccs.append(sorted(comp))


for v in sorted(edges):
    if v not in index:
        strong(v)

if not sccs:
    print('no cycles')
for comp in sccs:
    print('cycle among:', ', '.join(comp))
    for a in comp:
        for b in sorted(edges.get(a, {})):
            if b in comp:
                print(f'    {a} -> {b}: {", ".join(sorted(edges[a][b]))}')
sys.exit(1 if sccs else 0)
