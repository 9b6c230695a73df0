"""What the token-stream word bound (``scs_search.locality``) would prune, and its cost.

    uv run python bench/locality_probe.py                 # corpus of 100 x 1,000
    uv run python bench/locality_probe.py --sessions 20

In process, no MCP: builds the corpus of ``search_rows_scored.py`` (the same
deterministic texts the MCP benches seed), cuts every row into tokens over one
vocabulary, then for each two-word query (and two one-word ones) as ``alice``:

- checks that each word's bound is never below its true ``partial_ratio`` on any
  visible row (RapidFuzz over every row: the oracle);
- derives a bound of ``PR`` (the whole query) from the words' bounds (plugins/search
  README, fifth round: ``d1 >= max D_j``, ``d1 + d2 >= sum D_j``) and checks it too;
- prints how many rows the bounds leave at or above the query's final 10th best score
  (what an exact ranking would still have to score), for the token bounds and for the
  words' exact scores (the best any word bound can do), with the time the token
  bound took (tables per word, then all rows), and the bytes the stream would cost.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from scs_search.bounds import bounds
from scs_search.locality import Vocabulary, split, word_bounds
from scs_search.ranking import allowed_classes, rank
from scs_search.scoring import TOKEN_FACTOR, make_query
from scs_search.service import scope_rule
from scs_search.text import prepare_query
from search_bench import CALLER, QUERIES
from search_rows_scored import build

F64 = npt.NDArray[np.float64]


def partial_from_words(n: int, words: list[str], scores: list[F64]) -> F64:
    """The bound of PR (query length ``n``) from upper bounds of its words' scores."""
    lows = [
        np.maximum(0, np.ceil(len(w) * (1 - s / 100) - 1e-6))
        for w, s in zip(words, scores, strict=True)
    ]
    total, top = np.sum(lows, axis=0), np.max(lows, axis=0)
    d1 = np.minimum(np.maximum(top, np.ceil(total / 2)), n)
    d2 = np.maximum(0, total - d1)
    bound: F64 = 200 * (n - d1) / (2 * n - d1 + d2) + 1e-9
    return bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    snapshot = build(args.sessions, 0).snapshot()
    n = snapshot.n
    texts = snapshot.texts[:n]
    started = time.process_time()
    vocabulary = Vocabulary()
    stream: list[int] = []
    starts, counts = [], []
    for text, base in zip(texts, snapshot.base_len[:n].tolist(), strict=True):
        tokens, _ = split(text, base)
        starts.append(len(stream))
        counts.append(len(tokens))
        stream.extend(vocabulary.encode(tokens))
    tokenised = (time.process_time() - started) * 1000
    buckets = np.array(stream, dtype=np.uint16)
    allowed = allowed_classes(snapshot.class_keys, scope_rule(CALLER, "all"))
    visible = np.flatnonzero(allowed[snapshot.classes[:n]])
    row_starts = np.array(starts, dtype=np.int64)[visible]
    row_counts = np.array(counts, dtype=np.int64)[visible]
    lengths = snapshot.full_len[:n][visible]
    visible_texts = [texts[row] for row in visible.tolist()]
    print(
        f"{n} messages ({len(visible)} visible to {CALLER.agent_id}), {len(vocabulary.words)} distinct"
        f" tokens, {len(stream) / n:.1f} tokens a message: {2 * len(stream) / n + 8:.0f} bytes"
        f" a message as 16-bit buckets + a 64-bit start (+ {vocabulary.nbytes() / n:.1f} of"
        f" vocabulary); tokenising {tokenised:.0f} ms CPU"
    )
    queries = [q for q in QUERIES if len(q.split()) == 2] + ["deadlock", "flamegraph"]
    unsound = 0
    for text in queries:
        query = make_query(prepare_query(text))
        hits = rank(snapshot, query, 60.0, 10, allowed)
        tenth = hits[-1].score if len(hits) == 10 else 60.0
        words = list(query.tokens) or [query.text]
        bounded: list[F64] = []
        exact: list[F64] = []
        tables_ms = rows_ms = 0.0
        for word in words:
            started = time.process_time()
            tables = vocabulary.tables(word)
            middle = time.process_time()
            # below this a word's score cannot lift the row to the 10th best (the other
            # words at 100): its bound may stay loose there
            weight = query.weights[words.index(word)] if query.tokens else 1.0
            total = query.total_weight if query.tokens else 1.0
            floor = (
                tenth / (TOKEN_FACTOR if query.tokens else 1.0) * total - 100 * (total - weight)
            ) / weight
            bound = word_bounds(tables, buckets, row_starts, row_counts, floor)
            tables_ms += (middle - started) * 1000
            rows_ms += (time.process_time() - middle) * 1000
            bound = np.where(lengths <= len(word), np.inf, np.minimum(bound, 100.0) + 1e-9)
            truth = process.cdist(
                [word], visible_texts, scorer=fuzz.partial_ratio, processor=None, dtype=np.float64
            )[0]
            unsound += int(np.count_nonzero(bound < truth))
            bounded.append(np.minimum(bound, 100.0))
            exact.append(truth)
        if query.tokens:
            started = time.process_time()
            direct = word_bounds(
                vocabulary.tables(query.text), buckets, row_starts, row_counts, tenth
            )
            direct_ms = (time.process_time() - started) * 1000
            rows_ms += direct_ms
            # the gram bounds the ranking uses (bigrams and trigrams), and the variant that
            # bounds only the whole query by locality and keeps the words' gram bounds
            gram_partial, gram_token = bounds(snapshot, query, visible.astype(np.int64), True)
            only_query = np.maximum(np.minimum(direct + 1e-9, gram_partial), gram_token)
            partial = np.where(
                lengths <= len(query.text),
                np.inf,
                np.minimum(partial_from_words(len(query.text), words, bounded), direct + 1e-9),
            )
            truth = process.cdist(
                [query.text],
                visible_texts,
                scorer=fuzz.partial_ratio,
                processor=None,
                dtype=np.float64,
            )[0]
            unsound += int(np.count_nonzero(partial < truth))
            token = sum(w * b for w, b in zip(query.weights, bounded, strict=True)) * TOKEN_FACTOR
            token = token / query.total_weight + 1e-9
            ideal_partial = np.where(
                lengths <= len(query.text),
                np.inf,
                partial_from_words(len(query.text), words, exact),
            )
            ideal_token = (
                sum(w * b for w, b in zip(query.weights, exact, strict=True)) * TOKEN_FACTOR
            )
            ideal = np.maximum(ideal_partial, ideal_token / query.total_weight)
            detail = (
                f"PR bound {int(np.count_nonzero(partial >= tenth))},"
                f" word bound {int(np.count_nonzero(token >= tenth))};"
                f" with exact words {int(np.count_nonzero(ideal >= tenth))};"
                f" gram bounds {int(np.count_nonzero(np.maximum(gram_partial, gram_token) >= tenth))},"
                f" locality for the whole query only {int(np.count_nonzero(only_query >= tenth))}"
                f" ({direct_ms:.0f} ms)"
            )
            bound = np.maximum(partial, token)
        else:
            bound, detail = bounded[0], "one word"
        print(
            f"{text:>20}: 10th best {tenth:6.2f}; rows reaching it: "
            f"{int(np.count_nonzero(bound >= tenth)):>6} of {len(visible)} ({detail});"
            f" tables {tables_ms:.0f} ms, rows {rows_ms:.0f} ms CPU"
        )
    print(
        f"rows where a bound fell below the truth: {unsound}; load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
