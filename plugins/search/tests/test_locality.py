"""The token-stream word bound (``locality``) never falls below the true word score."""

from __future__ import annotations

import random

import numpy as np
import pytest
from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq
from scs_search import locality
from scs_search.locality import TokenStream, Vocabulary, interior_of, split, word_bounds
from scs_search.scoring import make_query

from .conftest import needs_kernel
from .corpus import rows


@pytest.fixture(autouse=True)
def kernel() -> None:
    needs_kernel()


def bounds_of(
    vocabulary: Vocabulary,
    word: str,
    texts: list[str],
    floor: float = 0.0,
    interior: np.ndarray | None = None,
) -> list[float]:
    """The bound of each text (encoded first, then the tables: as a snapshot would);
    with ``interior``, the texts' bounds of their windows of the word's length, only the
    ends are added to them."""
    stream: list[int] = []
    ends = []
    for text in texts:
        tokens, _ = split(text, len(text))
        stream.extend(vocabulary.encode(tokens))
        ends.append(len(stream))
    values = word_bounds(
        vocabulary.tables(word),
        TokenStream(vocabulary, np.array(stream, dtype=np.uint16), np.array(ends, dtype=np.uint32)),
        np.arange(len(texts), dtype=np.int64),
        floor,
        None if interior is None else interior.astype(np.float64),
        interior_known=interior is not None,
    )
    return [float(value) for value in values]


def test_a_window_across_a_separator_is_bounded_through_adjacency() -> None:
    # "pol ic" scores 83.3, while neither token alone comes near it: the bound must see
    # the two tokens side by side, and only then
    texts = ["xpol icyx", "xpol zz icyx", "icyx xpol", "xpol -- x"]
    vocabulary = Vocabulary()
    bounds = bounds_of(vocabulary, "policy", texts)
    truth = [fuzz.partial_ratio("policy", text) for text in texts]
    assert truth[0] == pytest.approx(500 / 6)
    assert all(b + 1e-9 >= t for b, t in zip(bounds, truth, strict=True)), (bounds, truth)
    assert bounds[0] >= 500 / 6 - 1e-9
    assert bounds[2] < 500 / 6 - 1  # the same tokens in the other order cannot do it


@pytest.mark.parametrize("buckets", [1 << 16, 64])
def test_tables_built_on_two_threads_equal_those_built_on_one(
    buckets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the tokens are cut in two parts, one a thread, at the last token with a bucket of
    # its own at the latest (64 buckets: the later tokens share the last 4)
    monkeypatch.setattr(locality, "PARALLEL_MIN_TOKENS", 2)
    rnd = random.Random(7)
    tokens = [
        "".join(rnd.choice("admiléwtu") for _ in range(rnd.randint(1, 12))) for _ in range(400)
    ]
    built = []
    for workers in (1, 2):
        vocabulary = Vocabulary(buckets)
        vocabulary.encode(tokens)
        built.append(vocabulary.tables("auth middlwaré", workers))
    one, two = built
    for name in ("units", "suffix", "prefix", "whole", "length", "packed"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert (one.whole > 0).mean() > 0.9  # (not equal for being empty)


@pytest.mark.parametrize("floor", [0.0, 80.0])
def test_a_long_row_is_bounded_across_the_chunks_it_is_read_in(floor: float) -> None:
    # the kernel values a row's pairs 256 tokens at a time: a match whose two or three
    # pieces straddle the end of a chunk must still be seen
    vocabulary = Vocabulary()
    for match in ["xpol icyx", "xpo l icyx", "xpoli cy"]:
        texts = [" ".join(["zz"] * at + [match] + ["zz"] * 300) for at in range(251, 259)]
        texts.append(" ".join(["zz"] * 510 + [match]))
        bounds = bounds_of(vocabulary, "policy", texts, floor)
        for text, bound in zip(texts, bounds, strict=True):
            truth = fuzz.partial_ratio("policy", text)
            assert truth >= 60.0  # (three pieces: 4 of 6 characters at most)
            assert bound + 1e-9 >= truth, (match, text.index("x") // 3, bound, truth)


def test_a_bucket_keeps_its_shortest_token() -> None:
    # With 5 buckets the 4 first ids (the unknown token's and 3 more) get one each and
    # every later token shares the last: "it" lands there in the same batch as longer
    # tokens, and the room a window has after the first token is that of the shortest
    # ("it is" scores 72.7)
    text = "it is will latency postmortem trace docker migration on in replica"
    vocabulary = Vocabulary(5)
    bound = bounds_of(vocabulary, "itiswi", ["xxxxxxxx yyyyyyyy zzzzzzzz", text])[1]
    assert vocabulary.bucket(vocabulary.ids["it"]) == vocabulary.bucket(vocabulary.ids["replica"])
    assert bound + 1e-9 >= fuzz.partial_ratio("itiswi", text) == pytest.approx(800 / 11)


def random_texts(rnd: random.Random, alphabet: str = "abcde") -> list[str]:
    """Texts full of separators, edges and repeats, then some of the test corpus's."""
    separators = " -_./"
    texts = []
    for _ in range(400):
        pieces = []
        for _ in range(rnd.randint(1, 8)):
            pieces.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 7))))
            pieces.append("".join(rnd.choice(separators) for _ in range(rnd.randint(1, 2))))
        start = rnd.choice(["", " ", "-"])
        texts.append(start + "".join(pieces[: rnd.choice([-1, len(pieces)])]))
    return texts + [text for text in (row["content"].lower() for row in rows(200, seed=3)) if text]


def a_query(rnd: random.Random, texts: list[str], alphabet: str = "abcde") -> str:
    """Some words and separators cut from a text, maybe with a typo."""
    source = rnd.choice(texts)
    start = rnd.randrange(len(source))
    query = source[start : start + rnd.randint(3, 16)].strip(" -_./") or "ab cd"
    if rnd.random() < 0.5:
        spot = rnd.randrange(len(query))
        query = query[:spot] + rnd.choice(alphabet) + query[spot + 1 :]
    return query


@pytest.mark.parametrize("buckets", [1 << 16, 7, 5])
def test_bound_is_never_below_partial_ratio(buckets: int) -> None:
    """Random texts full of separators, edges and repeats; words and whole queries (with
    separators) cut from them, with typos; few buckets force collisions (they may only
    loosen the bound); a floor leaves the values under it loose, never too low."""
    rnd = random.Random(buckets)
    alphabet = "abcde"
    texts = random_texts(rnd, alphabet)
    checked = 0
    for _ in range(120):
        source = rnd.choice(texts)
        if rnd.random() < 0.5:  # a word
            word = "".join(ch for ch in source if ch.isalnum())[: rnd.randint(2, 12)] or "ab"
        else:  # a whole query: separators too
            start = rnd.randrange(len(source))
            word = source[start : start + rnd.randint(2, 16)] or "a b"
        if rnd.random() < 0.5:  # a typo
            spot = rnd.randrange(len(word))
            word = word[:spot] + rnd.choice(alphabet) + word[spot + 1 :]
        vocabulary = Vocabulary(buckets)
        floor = rnd.choice([0.0, 50.0, 80.0])  # refined only from there: still sound
        for text, bound in zip(texts, bounds_of(vocabulary, word, texts, floor), strict=True):
            if len(text) <= len(word):
                continue  # the roles swap inside partial_ratio: the caller gives no bound
            truth = fuzz.partial_ratio(word, text)
            assert bound + 1e-9 >= truth, (word, text, bound, truth)
            checked += 1
    assert checked > 20_000


def test_the_tables_hold_each_tokens_lcs_values() -> None:
    """``fill_tables`` (bit-parallel) against RapidFuzz's LCS, token by token (a bucket
    each): prefixes and suffixes of the target against the token's ends and all of it,
    and the one-piece bound, with tokens longer than the window, empty, or not ASCII."""
    rnd = random.Random(21)
    tokens = ["", "é", "middleware", "a" * 40, "wareauthmiddle" * 3, "xmiddlwarex"]
    tokens += [
        "".join(rnd.choice("admiléwtu") for _ in range(rnd.randint(1, 20))) for _ in range(300)
    ]
    buckets = np.arange(1, len(tokens) + 1, dtype=np.int64)  # (0: the unknown token's)
    for target in ["auth middlwaré", "middlwaré"]:  # a whole query (a separator), a word
        letters = target.replace(" ", "")
        w = len(target)
        tables = locality._empty(target, len(tokens) + 1)
        locality._fill(tables, buckets, locality._concatenated(tokens))
        for b, token in enumerate(tokens, start=1):
            last, first = token[-(w - 1) :] if token else "", token[: w - 1]
            for j in range(len(letters) + 1):
                assert tables.suffix[b, j] == LCSseq.similarity(letters[:j], last), (token, j)
                assert tables.prefix[b, j] == LCSseq.similarity(letters[j:], first), (token, j)
            whole = LCSseq.similarity(letters, token)
            assert tables.whole[b] == whole
            assert tables.length[b] == len(token)
            if len(token) > w and letters == target:  # a word inside a longer token
                windows = [token[i : i + w] for i in range(len(token) - w + 1)]
                best = max(LCSseq.similarity(letters, window) for window in windows)
                assert tables.units[b] == best
                assert 100 * best / w <= fuzz.partial_ratio(letters, token) + 1e-9
            else:
                extra = w - len(letters)
                assert tables.units[b] == min(whole + extra, w)
            # what the pass over a row's pairs reads of it, in one word
            word, m = int(tables.packed[b]), len(letters)
            fields = [word >> shift & locality.FIELD for shift in (0, 6, 12, 18)]
            assert fields == [tables.suffix[b, m], tables.prefix[b, 0], whole, min(len(token), 63)]
            assert word >> 24 == tables.units[b]


def interior_score(query: str, text: str) -> float:
    """The best ``ratio`` of ``query`` with a window of ``text`` of its own length."""
    n = len(query)
    return max(fuzz.ratio(query, text[i : i + n]) for i in range(len(text) - n + 1))


def test_each_word_bounds_the_query_windows_of_the_query_length() -> None:
    """``interior_of``: from a word's true ``partial_ratio`` (the tightest bound the
    kernel could give), never below the best window of the query's length."""
    rnd = random.Random(5)
    texts = random_texts(rnd)
    checked = exact = useful = 0
    for _ in range(60):
        query = a_query(rnd, texts)
        words = make_query(query).tokens
        if not words:
            continue
        for text in texts:
            if len(text) <= len(query):
                continue  # the roles swap inside partial_ratio: no bound is given
            truth = interior_score(query, text)
            for word in words:
                word_score = np.array([fuzz.partial_ratio(word, text)])
                bound = float(interior_of(query, word, word_score)[0])
                assert bound >= truth, (query, word, text, bound, truth)
                checked += 1
                exact += bound - truth < 1e-6
                useful += bound < 100.0 - 1e-6
    assert checked > 10_000
    # (100 everywhere would pass the first assertion): most bounds say something, and
    # some are the best window's score exactly
    assert useful > checked // 2
    assert exact > 100


@pytest.mark.parametrize("buckets", [1 << 16, 5])
def test_the_ends_alone_added_to_a_known_interior_bound_the_query(buckets: int) -> None:
    """``word_bounds(..., interior_known=True)``: given each row's best window of the
    query's length, the pass adds the text's shorter windows at its ends, so the result
    is never below ``partial_ratio``. Texts whose best window is such an end ("auth
    middl" scores 83.3 at the start of "auth middl zzz ...", 71.4 inside) would fail
    if the ends were left out."""
    rnd = random.Random(buckets)
    texts = random_texts(rnd)
    texts += ["auth middl zzz zzz zzz zzz", "zzz zzz zzz zzz h middlwar", "xx auth middl zz zz zz"]
    assert fuzz.partial_ratio("auth middlware", texts[-3]) == pytest.approx(2000 / 24)
    queries = ["auth middlware"] + [a_query(rnd, texts) for _ in range(40)]
    checked = 0
    for query in queries:
        long_enough = [text for text in texts if len(text) > len(query)]
        interior = np.array([interior_score(query, text) for text in long_enough])
        vocabulary = Vocabulary(buckets)
        floor = rnd.choice([0.0, 60.0, 80.0])
        bounds = bounds_of(vocabulary, query, long_enough, floor, interior)
        for text, inside, bound in zip(long_enough, interior, bounds, strict=True):
            truth = fuzz.partial_ratio(query, text)
            assert bound + 1e-9 >= truth, (query, text, inside, bound, truth)
            assert bound >= inside
            checked += 1
    assert checked > 10_000
