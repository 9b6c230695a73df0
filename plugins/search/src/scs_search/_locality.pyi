import numpy as np
import numpy.typing as npt

def word_bounds(
    stream: npt.NDArray[np.uint16],
    ends: npt.NDArray[np.uint32],
    rows: npt.NDArray[np.int64],
    packed: npt.NDArray[np.uint32],
    suffix: npt.NDArray[np.int8],
    prefix: npt.NDArray[np.int8],
    whole: npt.NDArray[np.int8],
    length: npt.NDArray[np.int16],
    out: npt.NDArray[np.float64],
    m: int,
    window: int,
    extra: int,
    floor: float,
    letters: npt.NDArray[np.uint32],
    chars: npt.NDArray[np.uint32],
    offsets: npt.NDArray[np.int64],
    known: int,
    interior_known: bool = False,
    /,
) -> None:
    """Each row's locality bound into ``out`` (see ``locality.word_bounds``); buckets
    ``1 .. known - 1`` are the tokens whose characters ``chars`` and ``offsets`` hold.
    ``interior_known``: ``out`` holds the rows' bounds of their windows of the target's
    length, and only the text's ends are added."""

def fill_tables(
    letters: npt.NDArray[np.uint32],
    chars: npt.NDArray[np.uint32],
    offsets: npt.NDArray[np.int64],
    buckets: npt.NDArray[np.int64],
    window: int,
    units: npt.NDArray[np.int16],
    suffix: npt.NDArray[np.int8],
    prefix: npt.NDArray[np.int8],
    whole: npt.NDArray[np.int8],
    length: npt.NDArray[np.int16],
    /,
) -> None:
    """Fold each token's values into its bucket's (see ``locality.WordTables``): the
    one-piece bound, the LCS of ``letters`` with its last ``window - 1`` characters,
    its first, all of it, and its length (the shortest)."""

def line_counts(
    lines: npt.NDArray[np.uint8],
    width: int,
    hashes: npt.NDArray[np.int64],
    repeats: npt.NDArray[np.uint8],
    out: npt.NDArray[np.uint8],
    /,
) -> None:
    """For each row ``r < len(out)``, the sum of ``repeats[k]`` over the lines
    ``hashes[k]`` (of ``lines``: ``width`` bytes each, bit ``r`` for row ``r``) whose bit
    for ``r`` is set (see ``grams.line_counts``)."""

MAX_TARGETS: int

def gram_bounds(
    rows: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int32],
    targets: tuple[tuple[object, ...], ...],
    partial: npt.NDArray[np.float64],
    token: npt.NDArray[np.float64],
    factor: float,
    full: float,
    epsilon: float,
    /,
) -> None:
    """Each of ``rows``' gram bounds of PR and 0.99 x TS into ``partial`` and ``token``
    (see ``bounds.EveryRow.bounds``; ``targets`` as ``EveryRow.grams`` makes them, at most
    ``MAX_TARGETS``); ``lengths`` and the targets' counts hold every row."""

def cell_counts(
    targets: tuple[tuple[object, ...], ...],
    lengths: npt.NDArray[np.int32],
    length: int,
    wanted: npt.NDArray[np.uint8],
    cells: npt.NDArray[np.int32],
    counts: npt.NDArray[np.int64],
    /,
) -> None:
    """Each row's cell of ``tiers.cell_table`` into ``cells`` and how many rows each cell
    holds into ``counts`` (see ``tiers._cells``)."""
