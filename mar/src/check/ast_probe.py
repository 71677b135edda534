# Reads Python source on stdin and prints, as JSON, the facts `mar check` needs to judge a
# TorchServe entry point the way ts/model_loader.py resolves it. Nothing is imported or run.
import ast
import json
import sys


def signature(fn):
    a = fn.args
    positional = len(a.posonlyargs) + len(a.args)
    kw_required = sum(1 for d in a.kw_defaults if d is None)
    return {
        "line": fn.lineno,
        "positional": positional,
        "defaults": len(a.defaults),
        "vararg": a.vararg is not None,
        "kwonly_required": kw_required,
    }


def target_names(t):
    if isinstance(t, ast.Name):
        yield t.id
    elif isinstance(t, (ast.Tuple, ast.List)):
        for e in t.elts:
            yield from target_names(e)
    elif isinstance(t, ast.Starred):
        yield from target_names(t.value)


def nested_bodies(stmt):
    """Statement lists run at module level too (if/try/with/for/while), not def/class bodies."""
    for field in ("body", "orelse", "finalbody"):
        yield getattr(stmt, field, None) or []
    for h in getattr(stmt, "handlers", None) or []:
        yield h.body
    for c in getattr(stmt, "cases", None) or []:
        yield c.body


def class_facts(cls):
    members = {}
    def visit(body):
        for s in body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                members[s.name] = signature(s)
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    for n in target_names(t):
                        members[n] = None
            elif isinstance(s, (ast.AnnAssign, ast.AugAssign)) and isinstance(s.target, ast.Name):
                if not isinstance(s, ast.AnnAssign) or s.value is not None:
                    members[s.target.id] = None
            elif isinstance(s, (ast.If, ast.Try, ast.With)) or type(s).__name__ == "TryStar":
                for b in nested_bodies(s):
                    visit(b)
    visit(cls.body)
    return {
        "line": cls.lineno,
        "bases": [ast.unparse(b) for b in cls.bases],
        "members": sorted(members),
        "methods": {k: v for k, v in members.items() if v is not None},
    }


def main():
    source = sys.stdin.buffer.read()
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        print(json.dumps({"syntax_error": {"line": e.lineno, "offset": e.offset, "msg": e.msg}}))
        return
    except ValueError as e:
        print(json.dumps({"syntax_error": {"line": None, "offset": None, "msg": str(e)}}))
        return
    # name -> ("function", sig) | ("class", facts) | ("other", None); the last binding wins.
    bindings = {}
    star_import = False

    def visit(body):
        nonlocal star_import
        for s in body:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bindings[s.name] = {"kind": "function", "function": signature(s)}
            elif isinstance(s, ast.ClassDef):
                bindings[s.name] = {"kind": "class", "class": class_facts(s)}
            elif isinstance(s, ast.Assign):
                for t in s.targets:
                    for n in target_names(t):
                        bindings[n] = {"kind": "other", "line": s.lineno}
            elif isinstance(s, ast.AnnAssign):
                if s.value is not None:
                    for n in target_names(s.target):
                        bindings[n] = {"kind": "other", "line": s.lineno}
            elif isinstance(s, ast.AugAssign):
                for n in target_names(s.target):
                    bindings[n] = {"kind": "other", "line": s.lineno}
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for alias in s.names:
                    if alias.name == "*":
                        star_import = True
                        continue
                    name = alias.asname or alias.name.split(".")[0]
                    bindings[name] = {"kind": "other", "line": s.lineno}
            else:
                if isinstance(s, (ast.For, ast.AsyncFor)):
                    for n in target_names(s.target):
                        bindings[n] = {"kind": "other", "line": s.lineno}
                if isinstance(s, (ast.With, ast.AsyncWith)):
                    for item in s.items:
                        if item.optional_vars is not None:
                            for n in target_names(item.optional_vars):
                                bindings[n] = {"kind": "other", "line": s.lineno}
                for b in nested_bodies(s):
                    visit(b)

    visit(tree.body)
    print(json.dumps({"syntax_error": None, "star_import": star_import, "bindings": bindings}))


main()
