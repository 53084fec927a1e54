"""Attribute docstrings of dataclasses: the string literal written under each field.

evorl documents every config field and optimizer setting that way (tyro's convention), and the
same text serves ``evorl evolve --help``, ``evorl list`` and the generated config reference.
Only the standard library is imported here, so the command line can read the docs quickly.

Example:
    >>> from evorl.optimizers.snes import SNESSettings
    >>> field_docs(SNESSettings)["center_learning_rate"]
    '``eta_mu``.'
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` read from the class source ({} where the source is unavailable)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # no source (frozen app, REPL): docs are optional
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs
