"""Property tests for state patches (backend/domain/patches.py) against RFC 6901.

A small, independent pointer resolver written from the RFC is the oracle: what a `set` puts
at a pointer must be what the RFC's evaluation of that pointer finds, and a patch list either
applies whole or leaves the input untouched."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend.domain.errors import InvalidInput
from backend.domain.patches import apply_patches, parse_pointer

# RFC 6901 section 4: an array index is "0" or digits without a leading zero, ASCII only.
ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*", re.ASCII)

scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.text(max_size=6), json_values, max_size=5)
# Tokens mixing the characters RFC 6901 escapes with digits of other scripts (Arabic-Indic,
# Extended Arabic-Indic, mathematical double-struck).
tokens = st.text(alphabet=st.sampled_from("ab~/0123 -\u0663\u0661\u06f2\U0001d7d9"), max_size=6)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(path: list[str]) -> str:
    return "".join("/" + escape(t) for t in path)


def resolve(document: Any, path: list[str]) -> Any:
    """RFC 6901 section 4 evaluation; KeyError when the pointer names nothing."""
    node = document
    for token in path:
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            if not ARRAY_INDEX.fullmatch(token) or int(token) >= len(node):
                raise KeyError(token)
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


def locations(document: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every pointer (as tokens) that names an existing value below the root."""
    found: list[list[str]] = []
    items = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, child in items:
        here = (*prefix, str(key))
        found.append(list(here))
        found.extend(locations(child, here))
    return found


@given(st.lists(tokens, max_size=5))
def test_a_pointer_parses_back_to_its_tokens(path):
    assert parse_pointer(pointer(path)) == path


@given(documents, json_values, st.data())
def test_set_at_an_existing_location_is_what_the_pointer_then_names(document, value, data):
    spots = locations(document)
    if not spots:
        return
    path = data.draw(st.sampled_from(spots))
    before = copy.deepcopy(document)
    after = apply_patches(document, [("set", pointer(path), value)])
    assert resolve(after, path) == value
    assert document == before  # the input is never modified
    # everything outside the target is as it was
    assert apply_patches(after, [("set", pointer(path), resolve(before, path))]) == before


@given(st.lists(json_values, min_size=1, max_size=4), tokens)
@example(["a", "b"], "\u0661")  # Arabic-Indic one
@example(["a", "b"], "\U0001d7d9")  # mathematical double-struck one
@example(["a", "b"], "01")
def test_only_ascii_decimal_tokens_index_arrays(array, token):
    """Only ASCII decimal without a leading zero is an array index (RFC 6901 section 4)."""
    document = {"arr": array}
    path = "/arr/" + escape(token)
    valid = token == "-" or (ARRAY_INDEX.fullmatch(token) and int(token) <= len(array))
    try:
        after = apply_patches(document, [("set", path, "x")])
    except InvalidInput:
        assert not valid, f"{token!r} is a valid index for {len(array)} items"
        return
    assert valid, f"{token!r} was taken as an array index"
    index = len(array) if token == "-" else int(token)
    assert after["arr"][index] == "x"


patch_ops = st.tuples(
    st.sampled_from(["set", "append", "remove", "move"]),
    st.lists(tokens | st.sampled_from(["a", "b", "0", "-"]), max_size=3).map(pointer),
    json_values,
)


@settings(max_examples=300)
@given(documents, st.lists(patch_ops, min_size=1, max_size=6))
def test_a_patch_list_applies_whole_or_not_at_all(document, patches):
    before = copy.deepcopy(document)
    try:
        result = apply_patches(document, patches)
    except InvalidInput as exc:
        assert document == before
        assert exc.errors and all("index" in e for e in exc.errors)
        failed = exc.errors[0]["index"]
        # every patch before the failing one applies on its own, in order
        if failed:
            apply_patches(document, patches[:failed])
        return
    assert document == before
    # the same as applying the patches one by one
    stepwise = document
    for patch in patches:
        stepwise = apply_patches(stepwise, [patch])
    assert result == stepwise


@given(documents, tokens.filter(bool), json_values)
def test_remove_undoes_set_of_a_new_member(document, key, value):
    if key in document:
        return
    path = "/" + escape(key)
    added = apply_patches(document, [("set", path, value)])
    assert apply_patches(added, [("remove", path, None)]) == document


@given(documents, st.lists(st.lists(json_values, max_size=3), min_size=1, max_size=3), json_values)
def test_a_value_set_is_a_copy(document, value, item):
    """A later patch in the same list never changes what an earlier one was given (the
    request's value is what the event logs)."""
    sent = copy.deepcopy(value)
    result = apply_patches(document, [("set", "/v", value), ("append", "/v/0", item)])
    assert value == sent
    assert result["v"][0] == [*sent[0], item]
