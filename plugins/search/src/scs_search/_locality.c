/* The locality bound of ``scs_search.locality.word_bounds``, one pass per row; the
   per-token LCS tables it reads (``fill_tables``); and the rows' gram counts of
   ``scs_search.grams.line_counts`` (``line_counts``).

See locality.py for what the bound means; its tests check it is never below RapidFuzz's
score. Tables are per bucket; the caller keeps them alive (values only ever loosen). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#define LOW (-100) /* an empty bucket's LCS: no match at all (int8 tables) */
#define MAX_WINDOW 63 /* the longest target (locality.LONGEST_TARGET): packed fields of 6 bits */
#define FIELD 63
#define PREFETCH 8 /* rows ahead whose first tokens are fetched */
#define CHUNK 256 /* a row's pairs are valued this many at a time */
#define LANES 8 /* int32 lanes of an AVX2 vector; CHUNK is a multiple */

/* The row loop and what it calls are built twice, for AVX2 and for any x86-64, and the
   loader picks one (GNU ifunc): the per-pair values are plain loops the compiler
   vectorizes. (One build for both would mix AVX and SSE code, which is slow.) */
#if defined(__x86_64__) && defined(__GLIBC__) && (defined(__GNUC__) || defined(__clang__))
#define VECTORIZED __attribute__((target_clones("avx2", "default")))
#else
#define VECTORIZED
#endif

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

/* A bucket's values as a row's pairs and edges read them, in one 32-bit word
   (``locality.pack``): LCS(T, its last w - 1 characters), LCS(T, its first w - 1),
   LCS(T, all of it), its length (63 at most: any longer leaves no room either) in 6 bits
   each, and from bit 24 its one-piece bound in characters of the window (``units``). */
#define LAST(x) ((int32_t)(x) & FIELD)
#define FIRST(x) ((int32_t)((x) >> 6) & FIELD)
#define WHOLE(x) ((int32_t)((x) >> 12) & FIELD)
#define LENGTH(x) ((int32_t)((x) >> 18) & FIELD)
#define UNITS(x) ((int32_t)((x) >> 24))

typedef struct {
    const uint32_t *packed;
    const int8_t *suffix, *prefix, *whole;
    const int16_t *length;
    long m, w, extra;
    /* buckets 1 .. known - 1 are one token each, whose characters are
       ``chars[offsets[b] : offsets[b + 1]]`` (``exact``) */
    const Pattern *target, *reversed;  /* T, and T read backwards */
    const uint32_t *chars;
    const int64_t *offsets;
    Py_ssize_t known, total_chars;
    /* matching k of the window's characters: 100 k / w, and the most an edge window
       of the text can then score, 200 b / (100 + b) (``row_bound``) */
    double bound_of[MAX_WINDOW + 1], edges_of[MAX_WINDOW + 1];
} Tables;

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline long lmax(long a, long b) { return a > b ? a : b; }
static inline double dmax(double a, double b) { return a > b ? a : b; }
static inline double dmin(double a, double b) { return a < b ? a : b; }
static inline int32_t imin(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t imax(int32_t a, int32_t b) { return a > b ? a : b; }

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

/* Three or more pieces: at most ``taken`` matches in the suffix piece, ``middle`` in the
   middle token, ``rest`` after it. The suffix piece and what follows the middle token
   share ``cap + 1`` characters (``a`` of the suffix leave ``cap + 1 - a``) and a match
   takes a character, so together they hold ``cap + 1`` matches at most. */
static inline int32_t beyond(int32_t taken, int32_t middle, int32_t cap, int32_t rest) {
    return middle + imin(taken + rest, cap + 1);
}

/* The most ``cap`` characters from token ``third`` on can match, before any walk: the
   token, then every character after it */
static inline int32_t ahead_of(int32_t whole, int32_t length, int32_t cap) {
    return imin(cap, whole + imax(0, cap - length - 1));
}

/* Interior windows starting in token ``p``: two pieces (a suffix of it, a prefix of the
   next), then three or more (the next one whole in the middle, then what follows) */
VECTORIZED static long pieces(const Tables *t, long need, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p) {
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
    long taken = lmax(lmin(suffix[m], cap), 0), middle = t->whole[r];
    long three = beyond(taken, middle, cap, cap);
    if (three < need) return lmax(matched, lmin(three, w - 2));  /* loose will do */
    Py_ssize_t third = tok[p + 2];
    long third_length = t->length[third];
    long three_ahead = beyond(taken, middle, cap, ahead_of(t->whole[third], third_length, cap));
    if (three_ahead < need) return lmax(matched, lmin(three_ahead, w - 2));
    three = lmin(beyond(taken, middle, cap, tail(t, tok, count, p + 2, cap)), w - 2);
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
VECTORIZED static long exact(const Tables *t, const uint16_t *tok, Py_ssize_t count, Py_ssize_t p,
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
VECTORIZED static double edge(const Tables *t, const uint16_t *tok, Py_ssize_t count, int backwards) {
    const long w = t->w, extra = t->extra;
    long matched = 0, k = 0;
    double best = 0.0;
    for (Py_ssize_t i = 0; i < count; i++) {
        uint32_t b = t->packed[backwards ? tok[count - 1 - i] : tok[i]];
        long room = w - 1 - k;
        if (room <= 0) break;
        long gain = lmin(i > 0 ? WHOLE(b) : backwards ? LAST(b) : FIRST(b), room);
        /* a window holds its matches: separators the stream does not show (the text's
           own first characters) may match the target's ``extra`` ones */
        long L = lmin(matched + gain + extra, w - 1);
        long window = lmax(lmax(k + gain, L), 1);
        best = dmax(best, 200.0 * (double)L / (double)(w + window));
        long length = LENGTH(b);
        if (length > room) break;  /* no window of fewer than w characters gets past it */
        matched += gain;
        k += length + 1;
    }
    return best;
}

/* ``edge`` from the tokens' characters (one separator between tokens, none before the
   first: the most letters a window can hold), or -1 when a token the windows reach is
   not ``known``. ``L`` counts the target's ``extra`` characters as matched by separators. */
VECTORIZED static double exact_edge(const Tables *t, const uint16_t *tok, Py_ssize_t count, int backwards) {
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

/* ``bound`` (of the windows of ``w`` characters) with the text's edge windows: an edge
   window lies in the window of ``w`` characters at the same end, which matches no more,
   so ``edges``, the most an edge window can then score, will do under the floor. */
static inline __attribute__((always_inline)) double with_edges(
    const Tables *t, const uint16_t *tok, Py_ssize_t count, double bound, double edges, double floor) {
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

/* The row's bound. Every pair of adjacent tokens gets the cheap values ``pieces``
   starts from (two pieces: the suffix's and the prefix's best matches, not split along
   the target; three or more: up to the token after the middle one) in a loop without
   branches over a chunk of the row, which the compiler vectorizes; ``pieces`` refines
   the pairs whose cheap value reaches ``need``, a few in a hundred. */
static inline __attribute__((always_inline)) double row_bound(
    const Tables *t, const uint16_t *tok, Py_ssize_t count, long need, double floor) {
    const uint32_t *packed = t->packed;
    const long extra = t->extra;
    const int32_t w = (int32_t)t->w;
    if (count == 0) return extra ? 200.0 * (double)extra / (double)(w + extra) : 0.0;
    /* (a need beyond what a window holds acts as any other) */
    const int32_t needed = (int32_t)lmax(lmin(need, MAX_WINDOW + 1), -MAX_WINDOW - 1);
    /* lanes past a chunk's tokens are valued too (zeros, masked out): the loops below
       then run whole vectors, without a scalar tail */
    uint32_t rec[CHUNK + 2 + LANES];
    int32_t hit[CHUNK + LANES];
    long best = LOW;  /* the most target characters any window of two or more pieces holds */
    int32_t units = 0;
    for (Py_ssize_t c = 0; c < count; c += CHUNK) {
        int32_t n = (int32_t)lmin(CHUNK, count - c);  /* tokens c .. c + n - 1 */
        int32_t have = (int32_t)lmin(n + 2, count - c);  /* and the two after them */
        int32_t pairs = (int32_t)lmin(n, count - 1 - c), thirds = (int32_t)lmin(n, count - 2 - c);
        int32_t lanes = (n + LANES - 1) & -LANES;
        for (int32_t i = 0; i < have; i++) rec[i] = packed[tok[c + i]];
        for (int32_t i = have; i < lanes + 2; i++) rec[i] = 0;
        for (int32_t i = 0; i < lanes; i++) units = imax(units, UNITS(rec[i]));
        int32_t cheap = LOW, any = 0;
        for (int32_t i = 0; i < lanes; i++) {
            uint32_t l = rec[i], r = rec[i + 1], third = rec[i + 2];
            int32_t two = imin(LAST(l) + FIRST(r), w - 1);
            int32_t cap = w - 3 - LENGTH(r);  /* as in ``pieces`` */
            int32_t taken = imax(imin(LAST(l), cap), 0);
            int32_t three = beyond(taken, WHOLE(r), cap, ahead_of(WHOLE(third), LENGTH(third), cap));
            int32_t more = (cap >= 1) & (i < thirds);
            int32_t pair = i < pairs;
            int32_t refine = pair & ((two >= needed) | (more & (three >= needed)));
            hit[i] = refine;
            any |= refine;
            cheap = imax(cheap, refine | !pair ? LOW : imax(two, more ? imin(three, w - 2) : LOW));
        }
        best = lmax(best, cheap);
        for (int32_t i = 0; any && i < pairs; i++)
            if (hit[i]) {
                long value = pieces(t, need, tok, count, c + i);
                if (value >= need && t->known) value = lmin(value, exact(t, tok, count, c + i, value));
                best = lmax(best, value);
            }
    }
    long matched = lmax(units, lmin(best + extra, w));  /* of the window's w characters */
    double bound = t->bound_of[matched];
    if (bound >= 100.0) return bound;  /* no score is higher */
    /* An edge window (k < w characters, L of them matched, k >= L) lies in the interior
       window of w characters at the same end (the text is longer than w), which matches
       no more: L <= w * bound / 100, so it scores 200 L / (w + k) <= 200 bound / (100 +
       bound). Under the floor, that will do. */
    return with_edges(t, tok, count, bound, t->edges_of[matched], floor);
}

/* Each row's bound into ``values``: false (and no more) at a token outside the tables.
   ``interior_known``: ``values`` hold a bound of the windows of ``w`` characters already
   (``locality.query_bounds`` has one from the words), and only the edges are added. */
VECTORIZED static int bound_rows(const Tables *t, Py_ssize_t buckets, const uint16_t *tokens,
                                 const uint32_t *end_of, const int64_t *row, Py_ssize_t n,
                                 long need, double floor, double *values, int interior_known) {
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t start = row[i] ? end_of[row[i] - 1] : 0, count = end_of[row[i]] - start;
        if (i + PREFETCH < n) {  /* rows are scattered over the stream */
            const uint16_t *ahead = tokens + (row[i + PREFETCH] ? end_of[row[i + PREFETCH] - 1] : 0);
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 32);
        }
        if (buckets <= UINT16_MAX) {  /* (tables of 65,536 buckets hold every token) */
            int outside = 0;
            for (Py_ssize_t p = 0; p < count; p++) outside |= tokens[start + p] >= buckets;
            if (outside) return 0;
        }
        if (interior_known && count > 0) {
            if (values[i] < 100.0)  /* (an edge window scores as ``row_bound`` says) */
                values[i] = with_edges(t, tokens + start, count, values[i],
                                       200.0 * values[i] / (100.0 + values[i]), floor);
        } else {  /* (no tokens: the windows of separators alone, which row_bound knows) */
            double value = row_bound(t, tokens + start, count, need, floor);
            values[i] = interior_known ? dmax(values[i], value) : value;
        }
    }
    return 1;
}

static int need_size(Py_buffer *b, Py_ssize_t items, Py_ssize_t itemsize, const char *name) {
    if (b->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, b->len, items * itemsize);
        return 0;
    }
    return 1;
}

static PyObject *word_bounds(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer stream, ends, rows, packed, suffix, prefix, whole, length, out, letters, chars, offsets;
    long m, w, extra;
    double floor;
    Py_ssize_t known;
    int interior_known = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*w*llldy*y*y*n|p", &stream, &ends, &rows, &packed,
                          &suffix, &prefix, &whole, &length, &out, &m, &w, &extra, &floor,
                          &letters, &chars, &offsets, &known, &interior_known))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = out.len / 8, B = packed.len / 4, total = stream.len / 2, N = ends.len / 4;
    const int64_t *at = offsets.buf;
    Py_ssize_t tokens_known = offsets.len / 8 - 1, total_chars = chars.len / 4;
    if (m < 0 || w < 1 || extra < 0 || m + extra != w || w > MAX_WINDOW || letters.len != 4 * m ||
        known < 0 || known > tokens_known || known > B) {
        PyErr_SetString(PyExc_ValueError, "bad target sizes");
        goto done;
    }
    if (!need_size(&out, n, 8, "out") || !need_size(&rows, n, 8, "rows") ||
        !need_size(&ends, N, 4, "ends") || !need_size(&packed, B, 4, "packed") ||
        !need_size(&suffix, (m + 1) * B, 1, "suffix") ||
        !need_size(&prefix, (m + 1) * B, 1, "prefix") || !need_size(&whole, B, 1, "whole") ||
        !need_size(&length, B, 2, "length") || !need_size(&stream, total, 2, "stream"))
        goto done;
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
    Tables t = {packed.buf, suffix.buf, prefix.buf, whole.buf, length.buf, m, w, extra,
                &target, &reversed, chars.buf, at, known, total_chars};
    for (long k = 0; k <= w; k++) {
        t.bound_of[k] = 100.0 * (double)k / (double)w;
        t.edges_of[k] = 200.0 * t.bound_of[k] / (100.0 + t.bound_of[k]);
    }
    long need = (long)ceil(floor * (double)w / 100.0 - 1e-9) - extra;
    int inside;
    Py_BEGIN_ALLOW_THREADS
    inside = bound_rows(&t, B, stream.buf, end_of, row, n, need, floor, out.buf, interior_known);
    Py_END_ALLOW_THREADS
    if (!inside) {
        PyErr_SetString(PyExc_ValueError, "a token outside the tables");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&stream); PyBuffer_Release(&ends); PyBuffer_Release(&rows);
    PyBuffer_Release(&packed); PyBuffer_Release(&suffix); PyBuffer_Release(&prefix);
    PyBuffer_Release(&whole); PyBuffer_Release(&length); PyBuffer_Release(&out);
    PyBuffer_Release(&letters); PyBuffer_Release(&chars); PyBuffer_Release(&offsets);
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
   its first w - 1), ``whole[b]`` LCS(T, token), ``units[b]`` the one-piece bound in
   characters of the window (it scores ``100 units / w``): a window of the token and
   separators, ``min(LCS + extra, w)``; a word's window inside a token longer than it, the
   best LCS of the token's windows (any shorter piece of it lies in one of them). */
static PyObject *fill_tables(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer letters, chars, offsets, buckets, units, suffix, prefix, whole, length;
    long window;
    if (!PyArg_ParseTuple(args, "y*y*y*y*lw*w*w*w*w*", &letters, &chars, &offsets, &buckets,
                          &window, &units, &suffix, &prefix, &whole, &length))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t m = letters.len / 4, count = offsets.len / 8 - 1, total = chars.len / 4;
    Py_ssize_t B = whole.len;
    const int64_t *at = offsets.buf, *bucket = buckets.buf;
    if (m > 64 || window < 1 || window > MAX_WINDOW || m > window || count < 0 ||
        !need_size(&buckets, count, 8, "buckets") || !need_size(&units, B, 2, "units") ||
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
    int16_t *one = units.buf;
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
        /* its last ``piece`` characters against T[:j] (``lcs_of_prefix`` for every j: the
           zero bits of v below j, counted as j grows) */
        uint64_t v = lcs_bits(&forwards, token + n - piece, piece, 1);
        for (long j = 0, value = 0; j <= m; value += !(v >> j & 1), j++)
            if (value > s[j]) s[j] = (int8_t)value;
        /* its first ``piece`` against T[j:]: both backwards, T's last m - j characters */
        v = lcs_bits(&backwards, token, piece, -1);
        for (long j = m, value = 0; j >= 0; value += !(v >> (m - j) & 1), j--)
            if (value > p[j]) p[j] = (int8_t)value;
        v = piece == n ? v : lcs_bits(&backwards, token, n, -1);
        long all = lcs_of_prefix(v, m);
        if (all > wh[bucket[t]]) wh[bucket[t]] = (int8_t)all;
        long value = n > window && extra == 0 ? best_window(&forwards, token, n, window)
                                              : lmin(all + extra, window);
        if (value > one[bucket[t]]) one[bucket[t]] = (int16_t)value;
        int16_t shortest = n < 32767 ? (int16_t)n : 32767;
        if (shortest < len[bucket[t]]) len[bucket[t]] = shortest;
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&letters); PyBuffer_Release(&chars); PyBuffer_Release(&offsets);
    PyBuffer_Release(&buckets); PyBuffer_Release(&units); PyBuffer_Release(&suffix);
    PyBuffer_Release(&prefix); PyBuffer_Release(&whole); PyBuffer_Release(&length);
    return result;
}

/* Bit i of a byte as byte i of a word (rows 8j .. 8j+7 of a gram line, one count each) */
static uint64_t spread_bits[256];

static void fill_spread_bits(void) {
    for (int b = 0; b < 256; b++) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            if (b >> i & 1) v |= (uint64_t)1 << (8 * i);
        spread_bits[b] = v;
    }
}

/* Row counts as bit planes: plane q holds bit q of 64 rows' counts a word (BLOCK words) */
#define BLOCK 64
#define PLANES 8

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LITTLE_ENDIAN_WORDS 1 /* a word's byte i is rows 8i .. 8i+7: memcpy moves eight */
#else
#define LITTLE_ENDIAN_WORDS 0
#endif

/* Rows 64j .. 64j+63 of a line (a byte holds 8 rows, low bit first); 0 past its end */
static inline uint64_t load_word(const uint8_t *line, Py_ssize_t width, Py_ssize_t j) {
    uint64_t word = 0;
    Py_ssize_t from = 8 * j, bytes = width - from < 8 ? width - from : 8;
    if (LITTLE_ENDIAN_WORDS && bytes == 8) {
        memcpy(&word, line + from, 8);
        return word;
    }
    for (Py_ssize_t i = 0; i < bytes; i++) word |= (uint64_t)line[from + i] << (8 * i);
    return word;
}

/* Eight rows' counts (byte i: row i) at ``counts``, of which ``rows`` are wanted */
static inline void store_eight(uint8_t *counts, uint64_t eight, Py_ssize_t rows) {
    if (LITTLE_ENDIAN_WORDS && rows == 8) {
        memcpy(counts, &eight, 8);
        return;
    }
    for (Py_ssize_t i = 0; i < rows; i++) counts[i] = (uint8_t)(eight >> (8 * i));
}

/* For each of the first n rows, the sum of repeats[k] over the lines hashes[k] whose bit
 * for that row is set (grams.line_counts). Each line is added 64 rows a word into bit
 * planes (a ripple-carry adder: bitwise, so it vectorizes), then the planes become one
 * byte a row. */
VECTORIZED static void count_lines(const uint8_t *bits, Py_ssize_t width, const int64_t *line,
                                   const uint8_t *repeat, Py_ssize_t count, int planes,
                                   uint8_t *counts, Py_ssize_t n) {
    uint64_t plane[PLANES][BLOCK], carry[BLOCK], low[BLOCK];
    Py_ssize_t words = (n + 63) / 64;
    for (Py_ssize_t first = 0; first < words; first += BLOCK) {
        Py_ssize_t size = words - first < BLOCK ? words - first : BLOCK;
        for (int q = 0; q < planes; q++)
            for (Py_ssize_t j = 0; j < BLOCK; j++) plane[q][j] = 0;
        for (Py_ssize_t k = 0; k < count; k++) {
            const uint8_t *source = bits + line[k] * width;
            for (Py_ssize_t j = 0; j < size; j++) low[j] = load_word(source, width, first + j);
            for (Py_ssize_t j = size; j < BLOCK; j++) low[j] = 0;
            for (int from = 0; from < planes; from++) {
                if (!(repeat[k] >> from & 1)) continue;
                for (Py_ssize_t j = 0; j < BLOCK; j++) carry[j] = low[j];
                for (int q = from; q < planes; q++)
                    for (Py_ssize_t j = 0; j < BLOCK; j++) {
                        uint64_t both = plane[q][j] & carry[j];
                        plane[q][j] ^= carry[j];
                        carry[j] = both;
                    }
            }
        }
        for (Py_ssize_t j = 0; j < size; j++)
            for (int b = 0; b < 8; b++) {
                Py_ssize_t row = 64 * (first + j) + 8 * b;
                if (row >= n) break;
                uint64_t eight = 0;
                for (int q = 0; q < planes; q++)
                    eight |= spread_bits[plane[q][j] >> (8 * b) & 255] << q;
                store_eight(counts + row, eight, n - row < 8 ? n - row : 8);
            }
    }
}

static PyObject *line_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer lines, hashes, repeats, out;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*ny*y*w*", &lines, &width, &hashes, &repeats, &out)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t count = hashes.len / 8, n = out.len, height = width > 0 ? lines.len / width : 0;
    const int64_t *line = hashes.buf;
    const uint8_t *repeat = repeats.buf;
    unsigned total = 0;
    if (width <= 0 || lines.len != height * width || n > 8 * width ||
        !need_size(&repeats, count, 1, "repeats")) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad line sizes");
        goto done;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        total += repeat[k];
        if (line[k] < 0 || line[k] >= height) {
            PyErr_SetString(PyExc_ValueError, "a line outside the signatures");
            goto done;
        }
    }
    if (total > 255) { /* a row's count is one byte */
        PyErr_SetString(PyExc_ValueError, "more than 255 positions");
        goto done;
    }
    int planes = 1;
    while ((1u << planes) <= total) planes++;
    Py_BEGIN_ALLOW_THREADS
    count_lines(lines.buf, width, line, repeat, count, planes, out.buf, n);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&lines); PyBuffer_Release(&hashes); PyBuffer_Release(&repeats);
    PyBuffer_Release(&out);
    return result;
}

/* The gram bounds of many rows at once (``bounds.bounds`` over ``EveryRow``'s counts) */
#define MAX_TARGETS 32

/* numpy rounds a product before it adds it: so must ``bound_grams``, to give its values
   to the bit (no fused multiply-add, which some targets have in their base set) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#define SEPARATE_ROUNDING
#elif defined(__GNUC__)
#define SEPARATE_ROUNDING __attribute__((optimize("fp-contract=off")))
#else
#define SEPARATE_ROUNDING
#endif

typedef struct {
    const uint8_t *two, *three;  /* per row: the target's present bigram, trigram positions */
    const double *table;  /* grams.bound_table: (positions2 + 1) x (positions3 + 1) */
    long positions2, positions3, length;
    double weight;
} GramTarget;

/* Reads ``targets`` (a tuple of (bigram counts, trigram counts or b"", table, positions2,
   positions3, the target's length, its weight)) into ``into``, holding 3 buffers each in
   ``held``; false with an exception set when one does not fit ``rows_total`` rows. */
static int gram_targets(PyObject *targets, Py_ssize_t rows_total, GramTarget *into,
                        Py_buffer *held, Py_ssize_t *count) {
    Py_ssize_t k = PyTuple_GET_SIZE(targets);
    *count = 0;
    if (k < 1 || k > MAX_TARGETS) {
        PyErr_SetString(PyExc_ValueError, "1 to 32 targets");
        return 0;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        GramTarget *t = into + i;
        Py_buffer *b = held + 3 * i;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(targets, i), "y*y*y*llld", b, b + 1, b + 2,
                              &t->positions2, &t->positions3, &t->length, &t->weight))
            return 0;
        *count = i + 1;
        if (t->positions2 < 0 || t->positions3 < 0 || b[0].len != rows_total ||
            (b[1].len != rows_total && b[1].len != 0) ||
            b[2].len != (t->positions2 + 1) * (t->positions3 + 1) * 8) {
            PyErr_SetString(PyExc_ValueError, "a target's counts or table do not fit");
            return 0;
        }
        t->two = b[0].buf;
        t->three = b[1].len ? b[1].buf : NULL;
        t->table = b[2].buf;
    }
    return 1;
}

static void release_targets(Py_buffer *held, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < 3 * count; i++) PyBuffer_Release(held + i);
}

/* Each row's bound of PR (target 0, the whole query) and of 0.99 x TS (the weighted
   words: ``factor`` is 0.99 over their total weight, ``full`` the total at 100 each),
   as ``bounds.bounds`` computes them in numpy, to the bit. (A count above its target's
   positions, which the counts never hold, counts as all of them: only ever looser.) */
SEPARATE_ROUNDING static void bound_grams(const GramTarget *targets, Py_ssize_t k, const int64_t *row, Py_ssize_t n,
                       const int32_t *lengths, double factor, double full, double epsilon,
                       double *partial, double *token) {
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = row[i];
        double total = 0.0;
        for (Py_ssize_t j = 0; j < k; j++) {
            const GramTarget *t = targets + j;
            double b = 100.0;  /* no bound: a text not longer than the target, no bigram */
            if (t->positions2 > 0 && lengths[r] > t->length) {
                long absent2 = t->positions2 - lmin(t->two[r], t->positions2);
                long absent3 = t->three ? t->positions3 - lmin(t->three[r], t->positions3) : 0;
                b = dmin(t->table[absent2 * (t->positions3 + 1) + absent3] + epsilon, 100.0);
            }
            if (j == 0)
                partial[i] = b;
            else
                total += t->weight * b;
        }
        token[i] = k > 1 ? total * factor + (total < full ? epsilon : 0.0) : 0.0;
    }
}

static PyObject *gram_bounds(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer rows, lengths, partial, token;
    PyObject *targets;
    double factor, full, epsilon;
    if (!PyArg_ParseTuple(args, "y*y*O!w*w*ddd", &rows, &lengths, &PyTuple_Type, &targets,
                          &partial, &token, &factor, &full, &epsilon))
        return NULL;
    PyObject *result = NULL;
    GramTarget target[MAX_TARGETS];
    Py_buffer held[3 * MAX_TARGETS];
    Py_ssize_t k = 0, n = rows.len / 8, total = lengths.len / 4;
    if (!gram_targets(targets, total, target, held, &k)) goto done;
    if (!need_size(&rows, n, 8, "rows") || !need_size(&partial, n, 8, "partial") ||
        !need_size(&token, n, 8, "token"))
        goto done;
    const int64_t *row = rows.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (row[i] < 0 || row[i] >= total) {
            PyErr_SetString(PyExc_ValueError, "a row outside the counts");
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    bound_grams(target, k, row, n, lengths.buf, factor, full, epsilon, partial.buf, token.buf);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release_targets(held, k);
    PyBuffer_Release(&rows); PyBuffer_Release(&lengths); PyBuffer_Release(&partial);
    PyBuffer_Release(&token);
    return result;
}

/* Each row's cell of ``tiers.cell_table`` (the targets' absent bigram positions in C
   order; ``cells`` for a text not longer than the query, ``cells + 1`` for a row not
   wanted) into ``cell``, and how many rows each cell holds into ``counts`` (a count
   above its target's positions counts as all of them, as in ``bound_grams``). */
static void cell_rows(const GramTarget *targets, Py_ssize_t k, Py_ssize_t n, const int32_t *lengths,
                     long length, const uint8_t *wanted, int32_t cells, int32_t *cell,
                     int64_t *counts) {
    for (Py_ssize_t r = 0; r < n; r++) {
        int32_t c = 0;
        for (Py_ssize_t j = 0; j < k; j++) {
            const GramTarget *t = targets + j;
            c = c * (int32_t)(t->positions2 + 1) + (int32_t)(t->positions2 - lmin(t->two[r], t->positions2));
        }
        if (lengths[r] <= length) c = cells;
        if (!wanted[r]) c = cells + 1;
        cell[r] = c;
        counts[c]++;
    }
}

static PyObject *cell_counts(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer lengths, wanted, cell, counts;
    PyObject *targets;
    long length;
    if (!PyArg_ParseTuple(args, "O!y*ly*w*w*", &PyTuple_Type, &targets, &lengths, &length, &wanted,
                          &cell, &counts))
        return NULL;
    PyObject *result = NULL;
    GramTarget target[MAX_TARGETS];
    Py_buffer held[3 * MAX_TARGETS];
    Py_ssize_t k = 0, n = cell.len / 4;
    if (!gram_targets(targets, n, target, held, &k)) goto done;
    int64_t cells = 1;  /* (stops growing past INT32_MAX: that is too many already) */
    for (Py_ssize_t j = 0; j < k && cells < INT32_MAX; j++) cells *= target[j].positions2 + 1;
    if (cells > INT32_MAX - 2) {
        PyErr_SetString(PyExc_ValueError, "too many cells");
        goto done;
    }
    if (!need_size(&lengths, n, 4, "lengths") || !need_size(&wanted, n, 1, "wanted") ||
        !need_size(&counts, cells + 2, 8, "counts"))
        goto done;
    memset(counts.buf, 0, counts.len);
    Py_BEGIN_ALLOW_THREADS
    cell_rows(target, k, n, lengths.buf, length, wanted.buf, (int32_t)cells, cell.buf, counts.buf);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release_targets(held, k);
    PyBuffer_Release(&lengths); PyBuffer_Release(&wanted); PyBuffer_Release(&cell);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"fill_tables", fill_tables, METH_VARARGS,
     "Fold each token's LCS values with T into its bucket's (see locality.py)."},
    {"word_bounds", word_bounds, METH_VARARGS, "The locality bound of each row (see locality.py)."},
    {"line_counts", line_counts, METH_VARARGS,
     "Each row's count of the gram lines set for it (see grams.line_counts)."},
    {"gram_bounds", gram_bounds, METH_VARARGS, "Rows' gram bounds of PR and TS (see bounds.py)."},
    {"cell_counts", cell_counts, METH_VARARGS, "Rows' cells of the tiers' table (see tiers.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_locality", "The locality bound, compiled.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__locality(void) {
    fill_spread_bits();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "MAX_TARGETS", MAX_TARGETS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
