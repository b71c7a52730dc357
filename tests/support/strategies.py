"""Hypothesis strategies shared by the codec and signing tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_value_strategy(
    *,
    integers: st.SearchStrategy[int],
    text_size: int,
    key_size: int,
    container_size: int,
    max_leaves: int,
) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values: finite-float scalars nested in lists and string-keyed dicts."""
    scalars = (
        st.none()
        | st.booleans()
        | integers
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=text_size)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=container_size)
            | st.dictionaries(st.text(max_size=key_size), inner, max_size=container_size)
        ),
        max_leaves=max_leaves,
    )
