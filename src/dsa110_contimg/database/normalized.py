"""The normalized flux and error as SQL expressions over the photometry base tables.

Normalization stores factors (migration 0020): the image's in ``photometry_products``
(``norm_factor``, ``norm_factor_err``), each reference's own (leave-one-out) one in
``photometry_factors``. A statement that reads ``photometry_rows`` directly (not the view
``photometry``, which computes them the same way) gets its normalized columns here: the
row's own stored value (rows written before 0020, or through the view) where it has one,
else ``flux / F`` and ``sqrt((err / F)^2 + (flux * F_err / F^2)^2)``, ``F`` the row's own
factor or else its image's, with the IEEE operations of
:func:`dsa110_contimg.variability.normalization.apply_factor` in the same order (squares as
products), so the values are the same to the last bit; non-finite results are NULL.
"""

from __future__ import annotations

import numpy as np

__all__ = ["factor_columns", "factors_join", "normalized_columns", "normalized_values"]


def factors_join(rows: str = "r", factors: str = "x") -> str:
    """Return the ``LEFT JOIN`` of ``photometry_factors`` (alias ``factors``) to ``rows``."""
    return (
        f" LEFT JOIN photometry_factors {factors} ON {factors}.source_key = {rows}.source_key"
        f" AND {factors}.image_key = {rows}.image_key"
    )


def factor_columns(products: str = "p", factors: str = "x") -> tuple[str, str]:
    """Return the SQL of the factor and of its error that apply to a row.

    The row's own (leave-one-out) factor where :func:`factors_join` found one, else its
    image's.
    """
    p, x = products, factors
    return (
        f"(CASE WHEN {x}.image_key IS NOT NULL THEN {x}.factor ELSE {p}.norm_factor END)",
        f"(CASE WHEN {x}.image_key IS NOT NULL THEN {x}.factor_err ELSE {p}.norm_factor_err END)",
    )


def _finite(x: str, dialect: str) -> str:
    inf = "9e999" if dialect == "sqlite" else "CAST('Infinity' AS float8)"
    return f"CASE WHEN abs({x}) < {inf} THEN {x} END"  # NaN sorts above infinity in PostgreSQL


def normalized_columns(
    dialect: str, rows: str = "r", products: str = "p", factors: str = "x"
) -> tuple[str, str]:
    """Return the SQL of the normalized flux and of its error.

    Parameters
    ----------
    dialect : str
        ``sqlite`` or ``postgresql``.
    rows, products, factors : str
        Aliases of ``photometry_rows``, ``photometry_products`` (joined on ``image_key``) and
        ``photometry_factors`` (joined with :func:`factors_join`).

    Examples
    --------
    >>> nf, ne = normalized_columns("sqlite")
    >>> nf.startswith("coalesce(r.normalized_flux_jy, ")
    True
    """
    r = rows
    f, fe = factor_columns(products, factors)
    nf = f"{r}.flux_jy / {f}"
    a = f"({r}.flux_err_jy / {f})"
    b = f"({r}.flux_jy * {fe} / ({f} * {f}))"
    ne = f"sqrt({a} * {a} + {b} * {b})"
    return (
        f"coalesce({r}.normalized_flux_jy, {_finite(nf, dialect)})",
        f"coalesce({r}.normalized_flux_err_jy, {_finite(ne, dialect)})",
    )


def normalized_values(
    flux: np.ndarray,
    err: np.ndarray,
    own_flux: np.ndarray,
    own_err: np.ndarray,
    factor: np.ndarray,
    factor_err: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return what :func:`normalized_columns` computes, over arrays (NaN for NULL).

    For a reader that fetches the factors (:func:`factor_columns`) instead of the computed
    columns: the arithmetic is :func:`dsa110_contimg.variability.normalization.apply_factor`
    (the SQL repeats its IEEE operations), so the values are the same to the last bit. A
    row's own stored value wins; a non-finite result (a zero factor too, which the SQL
    would refuse with a division-by-zero error) is NaN.

    Examples
    --------
    >>> nan = float("nan")
    >>> nf, ne = normalized_values(np.array([2.0, 2.0]), np.array([0.1, 0.1]),
    ...                            np.array([nan, 7.0]), np.array([nan, 0.7]),
    ...                            np.array([2.0, 2.0]), np.array([0.0, 0.0]))
    >>> nf.tolist(), ne.tolist()
    ([1.0, 7.0], [0.05, 0.7])
    """
    from ..variability.normalization import apply_factor  # numpy only; loaded by the caller

    nf, ne = apply_factor(flux, err, factor, factor_err)
    nf = np.where(np.isnan(own_flux), np.where(np.isfinite(nf), nf, np.nan), own_flux)
    ne = np.where(np.isnan(own_err), np.where(np.isfinite(ne), ne, np.nan), own_err)
    return nf, ne
