/*
 * qr.c: a small QR code encoder (ISO/IEC 18004) for otpauth:// URIs.
 *
 * kiln.qr_svg(text) draws the text as an SVG QR code (what POST
 * /auth/v1/factors answers as totp.qr_code); kiln.qr_modules(text) returns
 * the same symbol as rows of '#' (dark) and '.' (light), for tests and for
 * terminals. Byte mode only, versions 1 to 10, error correction level M
 * (level L when the text does not fit at M), the mask with the lowest
 * penalty score. Text longer than version 10-L holds (271 bytes) is 22023.
 *
 * Pure computation: no I/O, no catalog access, no state kept between
 * calls. Everything is palloc'd in the caller's memory context.
 */
#include "postgres.h"

#include "kiln.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#define QR_MAX_VERSION   10
#define QR_MAX_SIZE      (17 + 4 * QR_MAX_VERSION)
#define QR_MAX_CODEWORDS 346
#define QR_QUIET         4

/* Level indexes into the tables below, and their 2-bit format code. */
enum { QR_L = 0, QR_M = 1 };
static const int qr_level_bits[2] = {1, 0};

/* Codewords per version (data and error correction together). */
static const int qr_codewords[QR_MAX_VERSION + 1] = {0,   26,  44,  70,  100, 134,
                                                     172, 196, 242, 292, 346};
/* Error-correction codewords per block, and blocks, by level and version. */
static const int qr_ecc_per_block[2][QR_MAX_VERSION + 1] = {
    {0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18},
    {0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26},
};
static const int qr_blocks[2][QR_MAX_VERSION + 1] = {
    {0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4},
    {0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5},
};
/* Alignment pattern centres (row and column coordinates), 0-terminated. */
static const int qr_align[QR_MAX_VERSION + 1][4] = {
    {0},        {0},         {6, 18, 0},  {6, 22, 0},  {6, 26, 0},  {6, 30, 0},
    {6, 34, 0}, {6, 22, 38}, {6, 24, 42}, {6, 26, 46}, {6, 28, 50},
};

typedef struct QrSymbol {
    int size;
    uint8 dark[QR_MAX_SIZE][QR_MAX_SIZE]; /* [row][column] */
    bool fixed[QR_MAX_SIZE][QR_MAX_SIZE]; /* function patterns: never masked */
} QrSymbol;

/* ---- GF(256) and Reed-Solomon ------------------------------------------- */

/* a * b in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1. */
static uint8 gf_mul(uint8 a, uint8 b)
{
    unsigned r = 0;
    for (int i = 7; i >= 0; i--) {
        r = (r << 1) ^ ((r >> 7) * 0x11D);
        r ^= ((b >> i) & 1) * a;
    }
    return (uint8)r;
}

/* The error-correction codewords of data[0..n) into ecc[0..degree). */
static void rs_remainder(const uint8 *data, int n, int degree, uint8 *ecc)
{
    uint8 gen[32] = {0};
    uint8 root = 1;
    /* gen = (x - a^0)(x - a^1)...(x - a^(degree-1)), highest term implicit */
    gen[degree - 1] = 1;
    for (int i = 0; i < degree; i++) {
        for (int j = 0; j < degree; j++) {
            gen[j] = gf_mul(gen[j], root);
            if (j + 1 < degree)
                gen[j] ^= gen[j + 1];
        }
        root = gf_mul(root, 2);
    }
    memset(ecc, 0, degree);
    for (int i = 0; i < n; i++) {
        uint8 factor = data[i] ^ ecc[0];
        memmove(ecc, ecc + 1, degree - 1);
        ecc[degree - 1] = 0;
        for (int j = 0; j < degree; j++)
            ecc[j] ^= gf_mul(gen[j], factor);
    }
}

/* ---- codewords ----------------------------------------------------------- */

static int data_capacity(int level, int version)
{
    return qr_codewords[version] - qr_ecc_per_block[level][version] * qr_blocks[level][version];
}

/* Bits the text needs in byte mode at this version. */
static int bits_needed(int len, int version)
{
    return 4 + (version < 10 ? 8 : 16) + 8 * len;
}

/* Appends the low n bits of v to bits (MSB first) at *pos. */
static void put_bits(uint8 *bits, int *pos, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, (*pos)++)
        if ((v >> i) & 1)
            bits[*pos >> 3] |= (uint8)(0x80 >> (*pos & 7));
}

/* The final codeword sequence (data and ecc blocks interleaved) into out;
 * returns its length. */
static int make_codewords(const uint8 *text, int len, int level, int version, uint8 *out)
{
    uint8 data[QR_MAX_CODEWORDS] = {0};
    uint8 ecc[8][32];
    int cap = data_capacity(level, version);
    int pos = 0;
    int nblocks = qr_blocks[level][version], degree = qr_ecc_per_block[level][version];
    int nshort = nblocks - qr_codewords[version] % nblocks;
    int short_len = qr_codewords[version] / nblocks - degree; /* data codewords */
    int starts[8], lens[8], n = 0;

    put_bits(data, &pos, 4, 4); /* byte mode */
    put_bits(data, &pos, (unsigned)len, version < 10 ? 8 : 16);
    for (int i = 0; i < len; i++)
        put_bits(data, &pos, text[i], 8);
    pos += Min(4, cap * 8 - pos); /* terminator */
    pos = (pos + 7) & ~7;
    for (int i = pos / 8, pad = 0; i < cap; i++, pad ^= 1)
        data[i] = pad ? 0x11 : 0xEC;

    for (int b = 0, off = 0; b < nblocks; b++) {
        starts[b] = off;
        lens[b] = short_len + (b >= nshort);
        rs_remainder(data + off, lens[b], degree, ecc[b]);
        off += lens[b];
    }
    for (int i = 0; i <= short_len; i++)
        for (int b = 0; b < nblocks; b++)
            if (i < lens[b])
                out[n++] = data[starts[b] + i];
    for (int i = 0; i < degree; i++)
        for (int b = 0; b < nblocks; b++)
            out[n++] = ecc[b][i];
    return n;
}

/* ---- function patterns ----------------------------------------------------- */

static void set_fixed(QrSymbol *q, int row, int col, bool dark)
{
    q->dark[row][col] = dark;
    q->fixed[row][col] = true;
}

/* A finder pattern centred at (row, col), with its light separator. */
static void draw_finder(QrSymbol *q, int row, int col)
{
    for (int dr = -4; dr <= 4; dr++)
        for (int dc = -4; dc <= 4; dc++) {
            int r = row + dr, c = col + dc, d = Max(abs(dr), abs(dc));
            if (r >= 0 && r < q->size && c >= 0 && c < q->size)
                set_fixed(q, r, c, d != 2 && d != 4);
        }
}

static void draw_alignment(QrSymbol *q, int row, int col)
{
    for (int dr = -2; dr <= 2; dr++)
        for (int dc = -2; dc <= 2; dc++)
            set_fixed(q, row + dr, col + dc, Max(abs(dr), abs(dc)) != 1);
}

/* The 15 format bits (level and mask, BCH(15,5), masked with 0x5412). */
static unsigned format_bits(int level, int mask)
{
    unsigned data = (unsigned)(qr_level_bits[level] << 3 | mask), rem = data;

    for (int i = 0; i < 10; i++)
        rem = (rem << 1) ^ ((rem >> 9) * 0x537);
    return ((data << 10) | rem) ^ 0x5412;
}

static void draw_format(QrSymbol *q, int level, int mask)
{
    unsigned bits = format_bits(level, mask);
    int s = q->size;
    for (int i = 0; i < 15; i++) {
        bool b = (bits >> i) & 1;
        /* around the top-left finder */
        if (i < 6)
            set_fixed(q, i, 8, b);
        else if (i < 8)
            set_fixed(q, i + 1, 8, b);
        else if (i == 8)
            set_fixed(q, 8, 7, b);
        else
            set_fixed(q, 8, 14 - i, b);
        /* split between the other two finders */
        if (i < 8)
            set_fixed(q, 8, s - 1 - i, b);
        else
            set_fixed(q, s - 15 + i, 8, b);
    }
    set_fixed(q, s - 8, 8, true); /* the dark module */
}

/* Version information (versions 7 and up): 6 bits and BCH(18,6). */
static void draw_version(QrSymbol *q, int version)
{
    unsigned rem = (unsigned)version, bits;

    if (version < 7)
        return;
    for (int i = 0; i < 12; i++)
        rem = (rem << 1) ^ ((rem >> 11) * 0x1F25);
    bits = (unsigned)version << 12 | rem;
    for (int i = 0; i < 18; i++) {
        bool b = (bits >> i) & 1;
        int a = q->size - 11 + i % 3, c = i / 3;
        set_fixed(q, c, a, b);
        set_fixed(q, a, c, b);
    }
}

static void draw_function_patterns(QrSymbol *q, int version, int level)
{
    int s = q->size;
    const int *al = qr_align[version];
    int k = 0;

    for (int i = 0; i < s; i++) {
        set_fixed(q, 6, i, i % 2 == 0);
        set_fixed(q, i, 6, i % 2 == 0);
    }
    draw_finder(q, 3, 3);
    draw_finder(q, 3, s - 4);
    draw_finder(q, s - 4, 3);
    while (k < 3 && al[k])
        k++;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            if (!((i == 0 && j == 0) || (i == 0 && j == k - 1) || (i == k - 1 && j == 0)))
                draw_alignment(q, al[i], al[j]);
    draw_format(q, level, 0); /* reserves the format area; redrawn per mask */
    draw_version(q, version);
}

/* ---- data and masks ------------------------------------------------------- */

/* Places the codewords in the zigzag order, two columns at a time from the
 * right, skipping the vertical timing column. */
static void draw_codewords(QrSymbol *q, const uint8 *cw, int n)
{
    int s = q->size, i = 0;
    for (int right = s - 1; right >= 1; right -= 2) {
        bool upward;

        if (right == 6)
            right = 5;
        upward = ((right + 1) & 2) == 0;
        for (int v = 0; v < s; v++)
            for (int j = 0; j < 2; j++) {
                int col = right - j, row = upward ? s - 1 - v : v;
                if (q->fixed[row][col])
                    continue;
                q->dark[row][col] = i < n * 8 && ((cw[i >> 3] >> (7 - (i & 7))) & 1);
                i++;
            }
    }
}

static bool mask_bit(int mask, int r, int c)
{
    switch (mask) {
    case 0:
        return (r + c) % 2 == 0;
    case 1:
        return r % 2 == 0;
    case 2:
        return c % 3 == 0;
    case 3:
        return (r + c) % 3 == 0;
    case 4:
        return (r / 2 + c / 3) % 2 == 0;
    case 5:
        return (r * c) % 2 + (r * c) % 3 == 0;
    case 6:
        return ((r * c) % 2 + (r * c) % 3) % 2 == 0;
    default:
        return ((r + c) % 2 + (r * c) % 3) % 2 == 0;
    }
}

/* XORs a mask over the data modules (applying it twice undoes it). */
static void apply_mask(QrSymbol *q, int mask)
{
    for (int r = 0; r < q->size; r++)
        for (int c = 0; c < q->size; c++)
            if (!q->fixed[r][c] && mask_bit(mask, r, c))
                q->dark[r][c] ^= 1;
}

/* The module at line i, position j: rows when horizontal, else columns. */
static int at(const QrSymbol *q, bool horizontal, int i, int j)
{
    return horizontal ? q->dark[i][j] : q->dark[j][i];
}

/* The penalty score of the symbol as it stands (the four rules). */
static long penalty(const QrSymbol *q)
{
    static const int finder_like[2][11] = {{1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0},
                                           {0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1}};
    int s = q->size;
    long score = 0, dark = 0, total = (long)s * s;

    for (int h = 0; h < 2; h++)
        for (int i = 0; i < s; i++) {
            int run = 1;
            for (int j = 1; j <= s; j++) {
                if (j < s && at(q, h, i, j) == at(q, h, i, j - 1)) {
                    run++;
                    continue;
                }
                if (run >= 5)
                    score += 3 + run - 5;
                run = 1;
            }
            for (int j = 0; j + 11 <= s; j++)
                for (int p = 0; p < 2; p++) {
                    int k = 0;
                    while (k < 11 && at(q, h, i, j + k) == finder_like[p][k])
                        k++;
                    if (k == 11)
                        score += 40;
                }
        }
    for (int r = 0; r < s; r++)
        for (int c = 0; c < s; c++) {
            dark += q->dark[r][c];
            if (r + 1 < s && c + 1 < s && q->dark[r][c] == q->dark[r][c + 1] &&
                q->dark[r][c] == q->dark[r + 1][c] && q->dark[r][c] == q->dark[r + 1][c + 1])
                score += 3;
        }
    score += 10 * (labs(dark * 20 - total * 10) / total);
    return score;
}

/* Encodes text into q: the smallest version at level M (else L) that holds
 * it, with the best mask. 22023 when it is too long. */
static void qr_encode(const uint8 *text, int len, QrSymbol *q)
{
    int level = -1, version = 0, n, best = 0;
    long best_score = -1;
    uint8 cw[QR_MAX_CODEWORDS];

    for (int l = QR_M; l >= QR_L && level < 0; l--)
        for (int v = 1; v <= QR_MAX_VERSION; v++)
            if (bits_needed(len, v) <= data_capacity(l, v) * 8) {
                level = l, version = v;
                break;
            }
    if (level < 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("text too long for a QR code"),
                 errdetail("The text is %d bytes; at most 271 fit.", len)));
    n = make_codewords(text, len, level, version, cw);
    memset(q, 0, sizeof *q);
    q->size = 17 + 4 * version;
    draw_function_patterns(q, version, level);
    draw_codewords(q, cw, n);
    for (int m = 0; m < 8; m++) {
        long sc;

        apply_mask(q, m);
        draw_format(q, level, m);
        sc = penalty(q);
        if (best_score < 0 || sc < best_score)
            best = m, best_score = sc;
        apply_mask(q, m);
    }
    apply_mask(q, best);
    draw_format(q, level, best);
}

/* ---- SQL-callable ---------------------------------------------------------- */

PG_FUNCTION_INFO_V1(kiln_qr_svg);

/* kiln.qr_svg(text) -> text: SVG markup, one path of unit squares on a
 * white background with a 4-module quiet zone. */
Datum kiln_qr_svg(PG_FUNCTION_ARGS)
{
    text *t = PG_GETARG_TEXT_PP(0);
    QrSymbol *q = palloc(sizeof *q);
    int w;
    StringInfoData b;

    qr_encode((const uint8 *)VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), q);
    w = q->size + 2 * QR_QUIET;
    initStringInfo(&b);
    appendStringInfo(
        &b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
        "width=\"%d\" height=\"%d\" shape-rendering=\"crispEdges\">"
        "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/><path fill=\"#000000\" d=\"",
        w, w, w * 4, w * 4, w, w);
    for (int r = 0; r < q->size; r++)
        for (int c = 0; c < q->size; c++)
            if (q->dark[r][c])
                appendStringInfo(&b, "M%d %dh1v1h-1z", c + QR_QUIET, r + QR_QUIET);
    appendStringInfoString(&b, "\"/></svg>");
    pfree(q);
    PG_RETURN_TEXT_P(cstring_to_text_with_len(b.data, b.len));
}

PG_FUNCTION_INFO_V1(kiln_qr_modules);

/* kiln.qr_modules(text) -> text: the symbol, one line per row, '#' dark and
 * '.' light, no quiet zone. */
Datum kiln_qr_modules(PG_FUNCTION_ARGS)
{
    text *t = PG_GETARG_TEXT_PP(0);
    QrSymbol *q = palloc(sizeof *q);
    StringInfoData b;

    qr_encode((const uint8 *)VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), q);
    initStringInfo(&b);
    for (int r = 0; r < q->size; r++) {
        for (int c = 0; c < q->size; c++)
            appendStringInfoChar(&b, q->dark[r][c] ? '#' : '.');
        if (r + 1 < q->size)
            appendStringInfoChar(&b, '\n');
    }
    pfree(q);
    PG_RETURN_TEXT_P(cstring_to_text_with_len(b.data, b.len));
}
