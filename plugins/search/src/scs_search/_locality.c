/* The locality bound of ``scs_search.locality.word_bounds``, one pass per row; and the
   per-token LCS tables it reads (``fill_tables``).

See locality.py for what the bound means; its tests check it is never below RapidFuzz's
score. Tables are per bucket; the caller keeps them alive (values only ever loosen). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>

#define LOW (-100) /* an empty bucket's LCS: no match at all (int8 tables) */
#define MAX_WINDOW 128 /* the longest target (locality.LONGEST_TARGET is less) */
#define PREFETCH 8 /* rows ahead whose first tokens are fetched */

/* Bit-parallel LCS (Allison-Dix, as Hyyro writes it): ``V`` starts with the low ``m``
   bits set and takes ``s`` one character at a time; then LCS(P[:j], s) is ``j`` less
   the bits set among V's low ``j``. ``match[c]``: the bits of P's characters equal to c. */
typedef struct {
    const uint32_t *P;
    long m;
    uint64_t ascii[128];
} Pattern;

static void pattern(Pattern *pat, const uint32_t *P, long m) {
    pat->P = P;
    pat->m = m;
    for (int c = 0; c < 128; c++) pat->ascii[c] = 0;
    for (long i = 0; i < m; i++)
        if (P[i] < 128) pat->ascii[P[i]] |= (uint64_t)1 << i;
}

static inline uint64_t match(const Pattern *pat, uint32_t c) {
    if (c < 128) return pat->ascii[c];
    uint64_t bits = 0;
    for (long i = 0; i < pat->m; i++)
        if (pat->P[i] == c) bits |= (uint64_t)1 << i;
    return bits;
}

static inline uint64_t lcs_start(const Pattern *pat) {
    return pat->m == 64 ? ~(uint64_t)0 : (((uint64_t)1 << pat->m) - 1);
}

/* ``V`` after ``s`` more characters, read forwards (``step`` 1) or backwards (-1) */
static uint64_t lcs_more(const Pattern *pat, uint64_t v, const uint32_t *s, long n, int step) {
    for (long k = 0; k < n; k++) {
        uint64_t u = v & match(pat, step > 0 ? s[k] : s[n - 1 - k]);
        v = (v + u) | (v - u);
    }
    return v;
}

static inline uint64_t lcs_bits(const Pattern *pat, const uint32_t *s, long n, int step) {
    return lcs_more(pat, lcs_start(pat), s, n, step);
}

/* LCS(P[:j], s) from ``lcs_bits``' result */
static inline long lcs_of_prefix(uint64_t v, long j) {
    uint64_t low = j == 64 ? ~(uint64_t)0 : (((uint64_t)1 << j) - 1);
    return j - __builtin_popcountll(v & low);
}

typedef struct {
    const double *single;
    const int8_t *suffix, *prefix, *whole;
    const int16_t *length;
    long m, w, extra;
    /* buckets 1 .. known - 1 are one token each, whose characters are
       ``chars[offsets[b] : offsets[b + 1]]`` (``exact``) */
    const Pattern *target, *reversed;  /* T, and T read backwards */
    const uint32_t *chars;
    const int64_t *offsets;
    Py_ssize_t known, total_chars;
} Tables;

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }
static inline double dmin(double a, double b) { return a < b ? a : b; }

/* The most target characters ``room`` characters of the text can match from token
   ``p`` on (no separator before it): whole tokens while they fit (a separator after
   each), then the first characters of the next. */
static long tail(const Tables *t, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p, long room) {
    const long m = t->m;
    long matched = 0, left = room;
    for (; left > 0 && p < count; p++) {
        Py_ssize_t b = tok[p];
        long length = t->length[b];
        if (length >= left) {
            matched += lmin(t->prefix[b * (m + 1)], left);
            break;
        }
        matched += t->whole[b];
        left -= length + 1;
    }
    return lmin(matched, room);
}

/* ``tail`` for every room ``0..cap`` at once (``out``): one walk. The common path needs
   one room only and ``tail`` stops early; this serves the refinement, which needs many. */
static void tails(const Tables *t, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p, long cap,
                  long *out) {
    const long m = t->m;
    long offset = 0, matched = 0, filled = 0;  /* token p starts ``offset`` characters in */
    out[0] = 0;
    for (; p < count && filled < cap; p++) {
        Py_ssize_t b = tok[p];
        long length = t->length[b], start = t->prefix[b * (m + 1)];
        long end = lmin(offset + length, cap);
        for (long room = offset + 1; room <= end; room++)  /* ending inside the token */
            out[room] = matched + lmin(start, room - offset);
        matched += t->whole[b];
        filled = end;
        if (offset + length + 1 <= cap) out[filled = offset + length + 1] = matched;
        offset += length + 1;
    }
    for (long room = filled + 1; room <= cap; room++) out[room] = matched;  /* the text ended */
    for (long room = 1; room <= cap; room++) out[room] = lmin(out[room], room);
}

/* Interior windows starting in token ``p``: two pieces (a suffix of it, a prefix of the
   next), then three or more (the next one whole in the middle, then what follows) */
static long pieces(const Tables *t, long need, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p) {
    const long m = t->m, w = t->w;
    Py_ssize_t l = tok[p], r = tok[p + 1];
    const int8_t *suffix = t->suffix + l * (m + 1);
    const int8_t *prefix = t->prefix + r * (m + 1);
    long matched = lmin((long)suffix[m] + (long)prefix[0], w - 1);
    if (matched >= need) {
        int best = LOW;
        for (long j = 0; j <= m; j++) {
            int v = suffix[j] + prefix[j];
            if (v > best) best = v;
        }
        matched = lmin(best, w - 1);
    }
    if (p + 2 >= count) return matched;
    /* a characters of ``l``, a separator, ``r``, a separator, then w - 2 - len(r) - a
       characters from token p + 2 on: ``cap + 1 - a`` */
    long cap = w - 3 - (long)t->length[r];
    if (cap < 1) return matched;  /* the middle token leaves no room */
    long taken = lmax(lmin(suffix[m], cap), 0);
    long three = taken + (long)t->whole[r];
    if (three + cap < need) return lmax(matched, lmin(three + cap, w - 2));  /* loose will do */
    Py_ssize_t third = tok[p + 2];
    long third_length = t->length[third];
    /* the next token, then every character after it matched: no walk yet */
    long ahead = lmin(cap, (long)t->whole[third] + lmax(0, cap - third_length - 1));
    if (three + ahead < need) return lmax(matched, lmin(three + ahead, w - 2));
    three = lmin(three + tail(t, tok, count, p + 2, cap), w - 2);
    if (three >= need) {  /* split at j only: the suffix's matches in T[:j], the rest's after */
        long rests[MAX_WINDOW];  /* rests[room]: ``tail`` from token p + 2 */
        tails(t, tok, count, p + 2, cap, rests);
        long head = LOW;
        for (long j = 0; j <= m; j++) {
            /* the suffix piece is at least as long as its matches and one character */
            long taken_j = lmax(lmin(suffix[j], cap), 0);
            long rest = cap + 1 - lmax(taken_j, 1);
            head = lmax(head, taken_j + (long)prefix[j] + rests[rest]);
        }
        three = lmin(head, w - 2);
    }
    if (three >= need) {
        /* the matches split along T: the suffix's in T[:j], the middle's in T[j:k], the
           rest's in T[k:]; the middle token is whole, so its last w - 1 characters are
           all of it and LCS(T[j:k], r) <= min(LCS(T[j:], r), LCS(T[:k], r), k - j) */
        const int8_t *middle_end = t->suffix + r * (m + 1);
        const int8_t *third_start = t->prefix + third * (m + 1);
        long head = LOW;
        for (long j = 0; j <= m; j++) {
            /* the suffix piece is at least as long as its matches and one character */
            long taken_j = lmax(lmin(suffix[j], cap), 0);
            if (taken_j + (m - j) <= head) continue;  /* cannot do better */
            long rest = cap + 1 - lmax(taken_j, 1);  /* characters from token p + 2 on */
            /* after the third token (if it fits whole): not split along T, at most m - k */
            long beyond = third_length >= rest ? 0 : tail(t, tok, count, p + 3, rest - third_length - 1);
            long best = LOW;
            for (long k = j; k <= m; k++) {
                long mid = lmin(lmin(prefix[j], middle_end[k]), k - j);
                long after = lmin(lmin(third_start[k], rest) + beyond, lmin(rest, m - k));
                best = lmax(best, mid + after);
            }
            head = lmax(head, taken_j + best);
        }
        three = lmin(head, w - 2);
    }
    return lmax(matched, three);
}

/* Whether bucket ``b`` is one token whose characters the tables have */
static inline int is_known(const Tables *t, Py_ssize_t b) {
    const int64_t *at = t->offsets;
    return b > 0 && b < t->known && at[b] >= 0 && at[b] <= at[b + 1] && at[b + 1] <= t->total_chars;
}

/* The windows starting in token ``p`` (``a`` of its last characters, then the next
   tokens' with one separator before each, ``w`` characters in all) from the tokens'
   characters: the most of T any of them matches, or ``LONG_MAX`` when a token the
   windows reach is not ``known``. Separators count one character (a longer one leaves
   fewer letters in the window: only ever too high). Stops once ``enough`` is reached
   (the caller keeps the lower of this and ``enough``). */
static long exact(const Tables *t, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p,
                  long enough) {
    const long w = t->w, m = t->m;
    const int64_t *at = t->offsets;
    Py_ssize_t l = tok[p];
    if (!is_known(t, l)) return LONG_MAX;
    long best = LOW;
    for (long a = lmin((long)(at[l + 1] - at[l]), w - 1); a >= 1 && best < enough; a--) {
        uint64_t v = lcs_more(t->target, lcs_start(t->target), t->chars + at[l + 1] - a, a, 1);
        long room = w - a;
        for (Py_ssize_t q = p + 1; q < count && room > 1; q++) {
            Py_ssize_t b = tok[q];
            if (!is_known(t, b)) return LONG_MAX;
            long length = (long)(at[b + 1] - at[b]), take = lmin(length, room - 1);
            v = lcs_more(t->target, v, t->chars + at[b], take, 1);
            room -= take + 1;
        }
        best = lmax(best, lcs_of_prefix(v, m));
    }
    return best;
}

/* The text's first (``backwards``: last) characters, fewer than ``w``: a window of
   ``k`` characters scores ``200 L / (w + k)``. Walking the end tokens outwards, the
   window ends ``gain`` characters into a token (a match costs a character, so ending
   right after the token's possible matches is its best), and goes on only past a token
   that fits whole. ``L`` counts every target character a token can match (``whole``;
   for the end token its first or last ``w - 1`` characters) and every ``extra`` one as
   matched by separators; ``k`` counts the tokens' shortest lengths and one character a
   separator, and is at least ``L``: all only ever too high a score. */
static double edge(const Tables *t, const uint16_t *tok, Py_ssize_t count, int backwards) {
    const long w = t->w, m = t->m, extra = t->extra;
    long matched = 0, k = 0;
    double best = 0.0;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t b = backwards ? tok[count - 1 - i] : tok[i];
        long room = w - 1 - k;
        if (room <= 0) break;
        long gain = i > 0 ? t->whole[b] : backwards ? t->suffix[b * (m + 1) + m] : t->prefix[b * (m + 1)];
        gain = lmax(lmin(gain, room), 0);
        /* a window holds its matches: separators the stream does not show (the text's
           own first characters) may match the target's ``extra`` ones */
        long L = lmin(matched + gain + extra, w - 1);
        long window = lmax(lmax(k + gain, L), 1);
        best = dmax(best, 200.0 * (double)L / (double)(w + window));
        long length = t->length[b];
        if (length > room) break;  /* no window of fewer than w characters gets past it */
        matched += gain;
        k += length + 1;
    }
    return best;
}

/* ``edge`` from the tokens' characters (one separator between tokens, none before the
   first: the most letters a window can hold), or -1 when a token the windows reach is
   not ``known``. ``L`` counts the target's ``extra`` characters as matched by separators. */
static double exact_edge(const Tables *t, const uint16_t *tok, Py_ssize_t count, int backwards) {
    const long w = t->w, m = t->m, extra = t->extra;
    const Pattern *pat = backwards ? t->reversed : t->target;
    const int64_t *at = t->offsets;
    uint64_t v = lcs_start(pat);
    long k = 0;
    double best = 0.0;
    for (Py_ssize_t i = 0; i < count && k < w - 1; i++) {
        Py_ssize_t b = backwards ? tok[count - 1 - i] : tok[i];
        if (!is_known(t, b)) return -1.0;
        long n = (long)(at[b + 1] - at[b]);
        for (long c = i > 0 ? -1 : 0; c < n && k < w - 1; c++) {  /* -1: the separator */
            if (c >= 0) {
                const uint32_t *ch = t->chars + (backwards ? at[b + 1] - 1 - c : at[b] + c);
                v = lcs_more(pat, v, ch, 1, 1);
            }
            k++;
            long L = lmin(lcs_of_prefix(v, m) + extra, k);
            best = dmax(best, 200.0 * (double)L / (double)(w + k));
        }
    }
    return best;
}

/* The row's bound: every pair of adjacent tokens through the cheap values ``pieces``
   would return (the suffix's and the prefix's best matches, not split along the target;
   three or more pieces up to the token after the middle one), computed without
   branches; ``pieces`` itself only where those reach ``need``, which is rare. The
   values are those ``pieces`` gives (it returns the same cheap ones below ``need``). */
static double row_bound(const Tables *t, const int8_t *last, const int8_t *first,
                        const uint16_t *tok, Py_ssize_t count, long need, double floor) {
    const long w = t->w, extra = t->extra;
    if (count == 0) return extra ? 200.0 * (double)extra / (double)(w + extra) : 0.0;
    const double *single = t->single;
    const int8_t *whole = t->whole;
    const int16_t *length = t->length;
    double best_single = single[tok[count - 1]];
    long best = LOW;  /* the most target characters any window of two or more pieces holds */
    for (Py_ssize_t p = 0; p + 1 < count; p++) {
        Py_ssize_t l = tok[p], r = tok[p + 1], third = tok[p + 2 < count ? p + 2 : p + 1];
        best_single = dmax(best_single, single[l]);
        long two = lmin((long)last[l] + (long)first[r], w - 1);
        long cap = w - 3 - (long)length[r];  /* as in ``pieces`` */
        long three = lmax(lmin(last[l], cap), 0) + (long)whole[r];
        long ahead = lmin(cap, (long)whole[third] + lmax(0, cap - (long)length[third] - 1));
        int more = (cap >= 1) & (p + 2 < count);
        long reach = three + cap < need ? three + cap : three + ahead;
        long value = lmax(two, more ? lmin(reach, w - 2) : LOW);
        if (__builtin_expect((two >= need) | (more & (three + ahead >= need)), 0)) {
            value = pieces(t, need, tok, count, p);
            if (value >= need && t->known) value = lmin(value, exact(t, tok, count, p, value));
        }
        best = lmax(best, value);
    }
    double bound = dmax(best_single, (double)lmin(best + extra, w) * (100.0 / (double)w));
    if (bound >= 100.0) return bound;  /* no score is higher */
    /* An edge window (k < w characters, L of them matched, k >= L) lies in the interior
       window of w characters at the same end (the text is longer than w), which matches
       no more: L <= w * bound / 100, so it scores 200 L / (w + k) <= 200 bound / (100 +
       bound). Under the floor, that will do. */
    double edges = 200.0 * bound / (100.0 + bound);
    if (edges < floor) return edges;
    for (int backwards = 0; backwards <= 1; backwards++) {
        double value = edge(t, tok, count, backwards);
        if (value > bound && value >= floor && t->known) {  /* it matters: is it so high? */
            double exactly = exact_edge(t, tok, count, backwards);
            if (exactly >= 0.0) value = dmin(value, exactly);
        }
        bound = dmax(bound, value);
    }
    return bound;
}

static int need_size(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name) {
    if (b->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, b->len, items * itemsize);
        return 0;
    }
    return 1;
}

static PyObject *word_bounds(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer stream, ends, rows, single, suffix, prefix, whole, length, last_of, first_of, out,
        letters, chars, offsets;
    long m, w, extra;
    double floor;
    Py_ssize_t known;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*w*llldy*y*y*n", &stream, &ends, &rows,
                          &single, &suffix, &prefix, &whole, &length, &last_of, &first_of, &out,
                          &m, &w, &extra, &floor, &letters, &chars, &offsets, &known))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = out.len / 8, B = single.len / 8, total = stream.len / 2, N = ends.len / 4;
    const int64_t *at = offsets.buf;
    Py_ssize_t tokens_known = offsets.len / 8 - 1, total_chars = chars.len / 4;
    if (m < 0 || w < 1 || extra < 0 || m + extra != w || w > MAX_WINDOW || m > 64 ||
        letters.len != 4 * m || known < 0 || known > tokens_known || known > B) {
        PyErr_SetString(PyExc_ValueError, "bad target sizes");
        goto done;
    }
    if (!need_size(&out, n, 8, "out") || !need_size(&rows, n, 8, "rows") ||
        !need_size(&ends, N, 4, "ends") || !need_size(&single, B, 8, "single") ||
        !need_size(&suffix, (m + 1) * B, 1, "suffix") ||
        !need_size(&prefix, (m + 1) * B, 1, "prefix") || !need_size(&whole, B, 1, "whole") ||
        !need_size(&length, B, 2, "length") || !need_size(&last_of, B, 1, "last") ||
        !need_size(&first_of, B, 1, "first") || !need_size(&stream, total, 2, "stream"))
        goto done;
    const uint16_t *tokens = stream.buf;
    const uint32_t *end_of = ends.buf;  /* row r's tokens: from end_of[r - 1] (0) to end_of[r] */
    const int64_t *row = rows.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = row[i];
        if (r < 0 || r >= N || end_of[r] > total || (r > 0 && end_of[r - 1] > end_of[r])) {
            PyErr_SetString(PyExc_ValueError, "a row lies outside the stream");
            goto done;
        }
    }
    Pattern target, reversed;
    uint32_t backwards[64];
    const uint32_t *T = letters.buf;
    for (long i = 0; i < m; i++) backwards[i] = T[m - 1 - i];
    pattern(&target, T, m);
    pattern(&reversed, backwards, m);
    Tables t = {single.buf, suffix.buf, prefix.buf, whole.buf, length.buf, m, w, extra,
                &target, &reversed, chars.buf, at, known, total_chars};
    long need = (long)ceil(floor * (double)w / 100.0 - 1e-9) - extra;
    double *values = out.buf;
    int outside = 0;
    const int8_t *last = last_of.buf, *first = first_of.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !outside; i++) {
        Py_ssize_t start = row[i] ? end_of[row[i] - 1] : 0, count = end_of[row[i]] - start;
        if (i + PREFETCH < n) {  /* rows are scattered over the stream */
            const uint16_t *ahead = tokens + (row[i + PREFETCH] ? end_of[row[i + PREFETCH] - 1] : 0);
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 32);
        }
        if (B <= UINT16_MAX)  /* (tables of 65,536 buckets hold every token) */
            for (Py_ssize_t p = 0; p < count; p++) outside |= tokens[start + p] >= B;
        if (!outside) values[i] = row_bound(&t, last, first, tokens + start, count, need, floor);
    }
    Py_END_ALLOW_THREADS
    if (outside) {
        PyErr_SetString(PyExc_ValueError, "a token outside the tables");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&stream); PyBuffer_Release(&ends); PyBuffer_Release(&rows);
    PyBuffer_Release(&single); PyBuffer_Release(&suffix); PyBuffer_Release(&prefix);
    PyBuffer_Release(&whole); PyBuffer_Release(&length); PyBuffer_Release(&last_of);
    PyBuffer_Release(&first_of); PyBuffer_Release(&out); PyBuffer_Release(&letters);
    PyBuffer_Release(&chars); PyBuffer_Release(&offsets);
    return result;
}

/* The highest LCS of T with ``n`` characters read ``w`` at a time (every window) */
static long best_window(const Pattern *pat, const uint32_t *s, long n, long w) {
    long best = 0;
    for (long start = 0; start + w <= n; start++) {
        long value = lcs_of_prefix(lcs_bits(pat, s + start, w, 1), pat->m);
        if (value > best) best = value;
    }
    return best;
}

/* Fold each token's values into its bucket's (the highest; the shortest length):
   ``suffix[b, j]`` LCS(T[:j], its last w - 1 characters), ``prefix[b, j]`` LCS(T[j:],
   its first w - 1), ``whole[b]`` LCS(T, token), ``single[b]`` the one-piece bound: a
   window of the token and separators, ``100 min(LCS + extra, w) / w``; a word's window
   inside a token longer than it, ``100 L / w`` at the best of the token's windows (any
   shorter piece of it lies in one of them). */
static PyObject *fill_tables(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer letters, chars, offsets, buckets, single, suffix, prefix, whole, length;
    long window;
    if (!PyArg_ParseTuple(args, "y*y*y*y*lw*w*w*w*w*", &letters, &chars, &offsets, &buckets,
                          &window, &single, &suffix, &prefix, &whole, &length))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t m = letters.len / 4, count = offsets.len / 8 - 1, total = chars.len / 4;
    Py_ssize_t B = whole.len;
    const int64_t *at = offsets.buf, *bucket = buckets.buf;
    if (m > 64 || window < 1 || window > MAX_WINDOW || m > window || count < 0 ||
        !need_size(&buckets, count, 8, "buckets") || !need_size(&single, B, 8, "single") ||
        !need_size(&suffix, (m + 1) * B, 1, "suffix") ||
        !need_size(&prefix, (m + 1) * B, 1, "prefix") || !need_size(&length, B, 2, "length")) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad sizes");
        goto done;
    }
    for (Py_ssize_t t = 0; t < count; t++) {
        if (at[t] < 0 || at[t] > at[t + 1] || at[t + 1] > total || bucket[t] < 0 ||
            bucket[t] >= B) {
            PyErr_SetString(PyExc_ValueError, "a token lies outside the characters or tables");
            goto done;
        }
    }
    const uint32_t *T = letters.buf, *c = chars.buf;
    int8_t *suf = suffix.buf, *pre = prefix.buf, *wh = whole.buf;
    int16_t *len = length.buf;
    double *one = single.buf;
    const long extra = window - (long)m;
    uint32_t reversed[64];
    for (Py_ssize_t i = 0; i < m; i++) reversed[i] = T[m - 1 - i];
    Pattern forwards, backwards;
    pattern(&forwards, T, m);
    pattern(&backwards, reversed, m);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < count; t++) {
        long n = (long)(at[t + 1] - at[t]), piece = n < window - 1 ? n : window - 1;
        const uint32_t *token = c + at[t];
        int8_t *s = suf + bucket[t] * (m + 1), *p = pre + bucket[t] * (m + 1);
        /* its last ``piece`` characters against T[:j] */
        uint64_t v = lcs_bits(&forwards, token + n - piece, piece, 1);
        for (long j = 0; j <= m; j++) {
            long value = lcs_of_prefix(v, j);
            if (value > s[j]) s[j] = (int8_t)value;
        }
        /* its first ``piece`` against T[j:]: both backwards, T's last m - j characters */
        v = lcs_bits(&backwards, token, piece, -1);
        for (long j = 0; j <= m; j++) {
            long value = lcs_of_prefix(v, m - j);
            if (value > p[j]) p[j] = (int8_t)value;
        }
        v = piece == n ? v : lcs_bits(&backwards, token, n, -1);
        long all = lcs_of_prefix(v, m);
        if (all > wh[bucket[t]]) wh[bucket[t]] = (int8_t)all;
        double value = n > window && extra == 0
                           ? 100.0 * (double)best_window(&forwards, token, n, window) / (double)window
                           : 100.0 * (double)lmin(all + extra, window) / (double)window;
        if (value > one[bucket[t]]) one[bucket[t]] = value;
        int16_t shortest = n < 32767 ? (int16_t)n : 32767;
        if (shortest < len[bucket[t]]) len[bucket[t]] = shortest;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&letters); PyBuffer_Release(&chars); PyBuffer_Release(&offsets);
    PyBuffer_Release(&buckets); PyBuffer_Release(&single); PyBuffer_Release(&suffix);
    PyBuffer_Release(&prefix); PyBuffer_Release(&whole); PyBuffer_Release(&length);
    return result;
}

static PyMethodDef methods[] = {
    {"fill_tables", fill_tables, METH_VARARGS,
     "Fold each token's LCS values with T into its bucket's (see locality.py)."},
    {"word_bounds", word_bounds, METH_VARARGS, "The locality bound of each row (see locality.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_locality", "The locality bound, compiled.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__locality(void) { return PyModule_Create(&module); }
