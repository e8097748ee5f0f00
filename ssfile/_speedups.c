/*
 * ssfile._speedups: optional C twins of the codec's two hot loops.
 *
 *   scan_frames   the decoder's inner loop over one stretch between beacons
 *                 (ssfile/codec/decoder.py, Decoder._decode);
 *   encode_frame  the encoder's common case, one frame written whole (beacons are then
 *                 placed by ssfile/codec/encoder.py, Encoder.encode).
 *
 * and one twin of a search: resync_candidate, the cheap test that picks positions worth a
 * full read after damage (ssfile/codec/resync.py, _candidate_pure; same result).
 *
 * Both do the common case only.  Anything else (for scan_frames a frame cut by a beacon or by
 * the end of the data; a key not seen yet, a bad timestamp, a checksum mismatch, the EOS
 * frame, an argument out of range) is handed back to the Python code untouched: scan_frames
 * stops before that frame, encode_frame returns None having changed nothing.  The Python code then does what it
 * always does, so every error message and every rare path exists once, in Python.
 * tests/test_speedups.py checks that both paths give the same events, errors and bytes.
 *
 * The module is loaded by ssfile/codec/accel.py (not at all when SSFILE_PURE=1), which checks
 * ABI_VERSION so that a stale build is ignored rather than misused.
 *
 * Objects: a Message (and the encoder's StreamState) is a plain class with __slots__.  Rather
 * than calling it, configure_*() reads the byte offset of each slot from the class's member
 * descriptors once, after checking the class has exactly those slots and nothing else; new
 * objects are then allocated with tp_alloc and their slots filled directly, which is what the
 * member descriptors themselves do.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <limits.h>

#define ABI_VERSION 5
#define SEPARATOR 0x0D        /* the byte ending every frame */
#define FRAME_OVERHEAD 32     /* frame size without key and payload */
#define HEAD_FIXED 28         /* shard, sequence, timestamp (u64 each), payload length (u32) */

/* ---- CRC-16/CDMA2000: poly 0xC867, init 0xFFFF, MSB first, no final xor ------------------
 *
 * crc_table[0] is the usual byte-at-a-time table (as in ssfile/format/crc.py).  Eight bytes at
 * a time ("slicing by 8"): crc_table[j][x] is the CRC contribution of byte x followed by j zero
 * bytes, so the eight lookups of a block are independent instead of one long chain.  The two
 * bytes of the running CRC are xored into the block's first two bytes. */

static uint16_t crc_table[8][256];

static void
crc_make_table(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t c = (uint16_t)(i << 8);
        for (int j = 0; j < 8; j++)
            c = (c & 0x8000) ? (uint16_t)((c << 1) ^ 0xC867) : (uint16_t)(c << 1);
        crc_table[0][i] = c;
    }
    for (int j = 1; j < 8; j++)
        for (int i = 0; i < 256; i++) {
            uint16_t c = crc_table[j - 1][i];
            crc_table[j][i] = crc_table[0][c >> 8] ^ (uint16_t)(c << 8);
        }
}

static inline uint16_t
crc16(const unsigned char *p, Py_ssize_t n, uint16_t crc)
{
    for (; n >= 8; n -= 8, p += 8)
        crc = crc_table[7][p[0] ^ (crc >> 8)] ^ crc_table[6][p[1] ^ (crc & 0xFF)]
            ^ crc_table[5][p[2]] ^ crc_table[4][p[3]] ^ crc_table[3][p[4]]
            ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
    while (n-- > 0)
        crc = crc_table[0][((crc >> 8) ^ *p++) & 0xFF] ^ (uint16_t)(crc << 8);
    return crc;
}

/* ==== fast CRC-16 (issue 17): carry-less multiplication where the CPU has it =============
 *
 * crc16_fast(p, n, crc) equals crc16(p, n, crc).  On x86-64 with PCLMULQDQ and SSSE3 (checked
 * at run time, once) data of 64 bytes or more is folded 16 bytes at a time: the bytes, read
 * big-endian, are a polynomial X; with X = H x^64 + L (64-bit halves), X x^128 is congruent
 * mod P to H (x^192 mod P) + L (x^128 mod P), two carry-less products of under 80 bits, so the
 * next block is xored onto them and the running value never grows past 128 bits.  Four
 * lanes run side by side (folding by x^512), then merge; the last 16 bytes of the folded value
 * and the tail go through the tables.  The CRC's starting value is xored into the first two
 * bytes (a register preset is the same as that).  Anywhere else: the tables. */

static int crc_use_clmul;

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER))
#define SS_HAVE_CLMUL 1
#include <immintrin.h>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define SS_TARGET_CLMUL
#else
#include <cpuid.h>
#define SS_TARGET_CLMUL __attribute__((target("pclmul,ssse3")))
#endif

static uint64_t crc_fold_k[8];  /* x^e mod P for e = 192, 128 (one lane), 576, 512 (four),
                                   448, 384, 320, 256 (merging lanes 0-2 onto lane 3) */

static uint64_t
crc_xpow(unsigned e)
{
    uint32_t r = 1;
    while (e--) {
        r <<= 1;
        if (r & 0x10000)
            r ^= 0x1C867;
    }
    return r;
}

static int
crc_clmul_supported(void)
{
#if defined(_MSC_VER) && !defined(__clang__)
    int info[4];
    __cpuid(info, 1);
    return (info[2] & (1 << 1)) && (info[2] & (1 << 9));  /* pclmulqdq, ssse3 */
#else
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return (c & (1u << 1)) && (c & (1u << 9));  /* pclmulqdq, ssse3 */
#endif
}

static void
crc_fast_init(void)
{
    static const unsigned e[8] = {192, 128, 576, 512, 448, 384, 320, 256};
    for (int i = 0; i < 8; i++)
        crc_fold_k[i] = crc_xpow(e[i]);
    crc_use_clmul = crc_clmul_supported();
}

SS_TARGET_CLMUL static __m128i
crc_fold(__m128i x, __m128i k)  /* k: high qword multiplies x's high half, low the low */
{
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00));
}

SS_TARGET_CLMUL static uint16_t
crc16_clmul(const unsigned char *p, Py_ssize_t n, uint16_t crc)
{
    const __m128i swap = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
#define LOAD(q) _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(q)), swap)
    __m128i x0 = _mm_xor_si128(LOAD(p), _mm_set_epi64x((long long)((uint64_t)crc << 48), 0));
    __m128i x1 = LOAD(p + 16), x2 = LOAD(p + 32), x3 = LOAD(p + 48);
    p += 64;
    n -= 64;
    const __m128i k4 = _mm_set_epi64x((long long)crc_fold_k[2], (long long)crc_fold_k[3]);
    while (n >= 64) {
        x0 = _mm_xor_si128(crc_fold(x0, k4), LOAD(p));
        x1 = _mm_xor_si128(crc_fold(x1, k4), LOAD(p + 16));
        x2 = _mm_xor_si128(crc_fold(x2, k4), LOAD(p + 32));
        x3 = _mm_xor_si128(crc_fold(x3, k4), LOAD(p + 48));
        p += 64;
        n -= 64;
    }
    __m128i x = x3;
    x = _mm_xor_si128(x, crc_fold(x0, _mm_set_epi64x((long long)crc_fold_k[4], (long long)crc_fold_k[5])));
    x = _mm_xor_si128(x, crc_fold(x1, _mm_set_epi64x((long long)crc_fold_k[6], (long long)crc_fold_k[7])));
    x = _mm_xor_si128(x, crc_fold(x2, _mm_set_epi64x((long long)crc_fold_k[0], (long long)crc_fold_k[1])));
    const __m128i k1 = _mm_set_epi64x((long long)crc_fold_k[0], (long long)crc_fold_k[1]);
    while (n >= 16) {
        x = _mm_xor_si128(crc_fold(x, k1), LOAD(p));
        p += 16;
        n -= 16;
    }
#undef LOAD
    unsigned char last[16];
    _mm_storeu_si128((__m128i *)(void *)last, _mm_shuffle_epi8(x, swap));
    return crc16(p, n, crc16(last, 16, 0));
}
#else
static void
crc_fast_init(void)
{
    crc_use_clmul = 0;
}
#endif

static inline uint16_t
crc16_fast(const unsigned char *p, Py_ssize_t n, uint16_t crc)
{
#ifdef SS_HAVE_CLMUL
    if (n >= 64 && crc_use_clmul)
        return crc16_clmul(p, n, crc);
#endif
    return crc16(p, n, crc);
}

/* crc16_table(data, initial=0xFFFF): the table kernel alone (tests hold both kernels equal) */
static PyObject *
py_crc16_table(PyObject *mod, PyObject *args)
{
    Py_buffer view;
    unsigned int initial = 0xFFFF;
    if (!PyArg_ParseTuple(args, "y*|I", &view, &initial))
        return NULL;
    uint16_t crc = crc16(view.buf, view.len, (uint16_t)initial);
    PyBuffer_Release(&view);
    return PyLong_FromLong(crc);
}

/* ==== end of fast CRC-16 =================================================================== */

/* ---- big-endian integers ------------------------------------------------------------------ */

static inline uint64_t
get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline uint32_t
get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void
put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* ---- slotted classes ---------------------------------------------------------------------- */

typedef struct {
    PyTypeObject *type;       /* strong reference, NULL until configured */
    Py_ssize_t offset[6];     /* byte offset of each slot, in the order of the names */
} Slots;

#define SLOT(obj, slots, i) (*(PyObject **)((char *)(obj) + (slots).offset[i]))

/* Fill `out` for `type`, whose slots must be exactly `names` (writable object slots, no
 * __dict__, no __weakref__, base object, default allocator); `out` is left alone on error. */
static int
slots_configure(Slots *out, PyObject *type_obj, const char *const *names, int n)
{
    Py_ssize_t offset[6];
    if (!PyType_Check(type_obj))
        return PyErr_Format(PyExc_TypeError, "expected a class"), -1;
    PyTypeObject *type = (PyTypeObject *)type_obj;
    if (type->tp_base != &PyBaseObject_Type || type->tp_dictoffset != 0
            || type->tp_weaklistoffset != 0 || type->tp_alloc != PyType_GenericAlloc
            || type->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + n * sizeof(PyObject *))) {
        PyErr_Format(PyExc_TypeError, "%s is not a plain class with %d slots", type->tp_name, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString(type_obj, names[i]);
        if (d == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();  /* no such slot: the TypeError below */
            d = Py_NewRef(Py_None);
        }
        if (d == NULL)
            return -1;
        PyMemberDef *m = Py_IS_TYPE(d, &PyMemberDescr_Type) ? ((PyMemberDescrObject *)d)->d_member : NULL;
        int ok = m != NULL && m->type == T_OBJECT_EX && !(m->flags & READONLY);
        if (ok)
            offset[i] = m->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a writable slot", type->tp_name, names[i]);
            return -1;
        }
    }
    memcpy(out->offset, offset, n * sizeof(Py_ssize_t));
    Py_INCREF(type);
    Py_XSETREF(out->type, type);
    return 0;
}

/* A new instance with its slots set to `values` (new references, stolen even on failure). */
static PyObject *
slots_new(Slots *s, PyObject **values, int n)
{
    PyObject *obj = NULL;
    for (int i = 0; i < n; i++)
        if (values[i] == NULL)
            goto fail;
    obj = s->type->tp_alloc(s->type, 0);
    if (obj == NULL)
        goto fail;
    for (int i = 0; i < n; i++)
        SLOT(obj, *s, i) = values[i];
    return obj;
fail:
    for (int i = 0; i < n; i++)
        Py_XDECREF(values[i]);
    return NULL;
}

/* ---- decoder ------------------------------------------------------------------------------ */

static const char *const MESSAGE_SLOTS[] = {
    "stream_key", "shard_id", "sequence", "timestamp_ms", "payload", "offset"};
static Slots message;
static uint64_t max_timestamp;           /* types.MAX_TIMESTAMP_MS */
static PyObject *eos_key, *eos_payload;  /* bytes: the EOS frame's key and payload */

static PyObject *
configure_decoder(PyObject *mod, PyObject *args)
{
    PyObject *type, *key, *payload;
    unsigned long long max_ts;
    if (!PyArg_ParseTuple(args, "OKO!O!", &type, &max_ts, &PyBytes_Type, &key,
                          &PyBytes_Type, &payload))
        return NULL;
    if (slots_configure(&message, type, MESSAGE_SLOTS, 6) < 0)
        return NULL;
    max_timestamp = max_ts;
    Py_INCREF(key);
    Py_XSETREF(eos_key, key);
    Py_INCREF(payload);
    Py_XSETREF(eos_payload, payload);
    Py_RETURN_NONE;
}

static int
bytes_equal(PyObject *b, const unsigned char *p, Py_ssize_t n)
{
    return PyBytes_GET_SIZE(b) == n && memcmp(PyBytes_AS_STRING(b), p, n) == 0;
}

/* The keys seen during one scan_frames call: raw key bytes -> str, both strong references.
 * The decoder's dict is the real cache; this one only avoids building a bytes object per
 * frame to look it up. */
#define KEY_CACHE 16
typedef struct {
    int n, next;
    PyObject *raw[KEY_CACHE], *key[KEY_CACHE];
} KeyCache;

/* The str for raw key bytes from `keys` (borrowed from the cache), or NULL: not there yet
 * (no exception set: Python decodes and checks it) or an error (exception set). */
static PyObject *
key_lookup(KeyCache *c, PyObject *keys, const unsigned char *raw, Py_ssize_t k)
{
    for (int i = 0; i < c->n; i++)
        if (bytes_equal(c->raw[i], raw, k))
            return c->key[i];
    PyObject *b = PyBytes_FromStringAndSize((const char *)raw, k);
    if (b == NULL)
        return NULL;
    PyObject *key = PyDict_GetItemWithError(keys, b);
    if (key == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    int i = c->n < KEY_CACHE ? c->n++ : c->next++ % KEY_CACHE;
    if (c->raw[i] != NULL) {
        Py_DECREF(c->raw[i]);
        Py_DECREF(c->key[i]);
    }
    c->raw[i] = b;
    c->key[i] = Py_NewRef(key);
    return key;
}

static void
key_cache_clear(KeyCache *c)
{
    for (int i = 0; i < c->n; i++) {
        Py_DECREF(c->raw[i]);
        Py_DECREF(c->key[i]);
    }
}

/* scan_frames(buf, pos, seg_end, base, keys, check_crc, out, limit) -> new pos
 *
 * Decode the whole frames of buf[pos:seg_end] (a stretch with no beacon inside) into Message
 * objects appended to `out`, at most `limit` of them; `base` is the absolute offset of buf[0].
 * Stops before the first frame that is not complete in the stretch, has a key not in `keys`,
 * a timestamp out of range, a checksum mismatch (when checking), or is the EOS frame. */
static PyObject *
scan_frames(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8)
        return PyErr_Format(PyExc_TypeError, "scan_frames() takes 8 arguments");
    if (message.type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_decoder() first");
    PyObject *buf = args[0], *keys = args[4], *out = args[6];
    if (!PyBytes_Check(buf) || !PyDict_Check(keys) || !PyList_Check(out))
        return PyErr_Format(PyExc_TypeError, "scan_frames(bytes, int, int, int, dict, bool, list, int)");
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    long long base = PyLong_AsLongLong(args[3]);
    int check = PyObject_IsTrue(args[5]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred())
        return NULL;
    if (pos < 0)
        return PyErr_Format(PyExc_ValueError, "negative position");
    if (end > PyBytes_GET_SIZE(buf))
        end = PyBytes_GET_SIZE(buf);

    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(buf);
    KeyCache cache = {0};
    int failed = 0;
    for (Py_ssize_t done = 0; done < limit && pos < end; done++) {
        Py_ssize_t k = b[pos];
        Py_ssize_t p0 = pos + 1 + k + HEAD_FIXED;       /* the payload starts here */
        if (p0 > end)
            break;
        const unsigned char *fixed = b + pos + 1 + k;
        Py_ssize_t p1 = p0 + (Py_ssize_t)get_u32(fixed + 24);  /* ... and ends here */
        if (p1 + 3 > end)
            break;
        if (bytes_equal(eos_key, b + pos + 1, k) && bytes_equal(eos_payload, b + p0, p1 - p0))
            break;
        uint64_t ts = get_u64(fixed + 16);
        if (ts > max_timestamp)
            break;
        if (check && ((b[p1] << 8) | b[p1 + 1]) != crc16_fast(b + p0, p1 - p0, 0xFFFF))
            break;
        PyObject *key = key_lookup(&cache, keys, b + pos + 1, k);
        if (key == NULL) {
            failed = PyErr_Occurred() != NULL;
            break;
        }
        PyObject *values[6] = {
            Py_NewRef(key),
            PyLong_FromUnsignedLongLong(get_u64(fixed)),
            PyLong_FromUnsignedLongLong(get_u64(fixed + 8)),
            PyLong_FromUnsignedLongLong(ts),
            PyBytes_FromStringAndSize((const char *)b + p0, p1 - p0),
            PyLong_FromLongLong(base + pos),
        };
        PyObject *msg = slots_new(&message, values, 6);
        if (msg == NULL || PyList_Append(out, msg) < 0) {
            Py_XDECREF(msg);
            failed = 1;
            break;
        }
        Py_DECREF(msg);
        pos = p1 + 3;
    }
    key_cache_clear(&cache);
    return failed ? NULL : PyLong_FromSsize_t(pos);
}

/* ---- encoder ------------------------------------------------------------------------------ */

static const char *const STATE_SLOTS[] = {"sequence", "timestamp_ms", "running", "count"};
enum { ST_SEQUENCE, ST_TIMESTAMP, ST_RUNNING, ST_COUNT };
static Slots stream_state;
static uint64_t max_payload;             /* constants.MAX_PAYLOAD */
static PyObject *reserved_key;           /* bytes: SEA_STREAMER_INTERNAL, never encoded here */
/* The payload CRC of a long payload comes from this callable (bytes -> int), when given: the
 * codec passes fastcrc's CDMA2000 function (ssfile/format/crc.py), 2-3x faster than
 * crc16_fast from 1 KiB on (it uses wider vector instructions; bench/write_sizes.py), while
 * below that the call costs more than the tables.  Both are tested equal to crc16_py. */
static PyObject *crc_long;
#define CRC_LONG_MIN 1024

static PyObject *
configure_encoder(PyObject *mod, PyObject *args)
{
    PyObject *type, *reserved, *crc = Py_None;
    unsigned long long max_ts, max_len;
    if (!PyArg_ParseTuple(args, "OKKO!|O", &type, &max_ts, &max_len, &PyBytes_Type, &reserved,
                          &crc))
        return NULL;
    if (crc != Py_None && !PyCallable_Check(crc))
        return PyErr_Format(PyExc_TypeError, "configure_encoder(): crc must be callable or None");
    Py_XSETREF(crc_long, crc == Py_None ? NULL : Py_NewRef(crc));
    if (slots_configure(&stream_state, type, STATE_SLOTS, 4) < 0)
        return NULL;
    max_timestamp = max_ts;
    max_payload = max_len;
    Py_INCREF(reserved);
    Py_XSETREF(reserved_key, reserved);
    Py_RETURN_NONE;
}

/* An int in [0, 2^64) as uint64_t; 0 if it is not one (no exception left set). */
static int
as_u64(PyObject *v, uint64_t *out)
{
    if (!PyLong_Check(v))
        return 0;
    *out = PyLong_AsUnsignedLongLong(v);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/* encode_frame(buf, used, keys, streams, key, shard, seq, ts, payload, offset, interval)
 *     -> (new offset, payload crc) or None
 *
 * Encoder.encode's common case: the key's bytes are in `keys` (and are not the reserved key
 * SEA_STREAMER_INTERNAL: Python refuses it, or writes the EOS frame), its (key, shard) state in
 * `streams`, every value in range.  Writes the whole frame into the bytearray `buf` (the
 * encoder's arena) at index `used`, growing it only if the frame does not fit, with one copy of
 * the payload, and updates the stream's state (largest sequence and timestamp, running
 * checksum, count).  A frame that reaches the next beacon is written whole all the same: the
 * caller moves the part after the boundary behind the beacon(s) (the beacons carry the state
 * updated by this frame).  Returns None, having changed nothing, in any other case. */
static PyObject *
encode_frame(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11)
        return PyErr_Format(PyExc_TypeError, "encode_frame() takes 11 arguments");
    if (stream_state.type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_encoder() first");
    PyObject *buf = args[0], *keys = args[2], *streams = args[3], *key = args[4];
    PyObject *shard = args[5], *seq = args[6], *ts = args[7], *payload = args[8];
    Py_ssize_t used = PyLong_AsSsize_t(args[1]);
    long long offset = PyLong_AsLongLong(args[9]), interval = PyLong_AsLongLong(args[10]);
    if (PyErr_Occurred())
        return NULL;
    uint64_t shard_v, seq_v, ts_v, old_seq, old_ts;
    if (!PyByteArray_CheckExact(buf) || !PyDict_CheckExact(keys) || !PyDict_CheckExact(streams)
            || !PyUnicode_CheckExact(key) || !PyBytes_CheckExact(payload) || interval <= 0
            || used < 0 || used > PyByteArray_GET_SIZE(buf)
            || !as_u64(shard, &shard_v) || !as_u64(seq, &seq_v) || !as_u64(ts, &ts_v)
            || ts_v > max_timestamp || (uint64_t)PyBytes_GET_SIZE(payload) > max_payload)
        Py_RETURN_NONE;
    PyObject *kb = PyDict_GetItemWithError(keys, key);
    if (kb == NULL || !PyBytes_CheckExact(kb) || PyBytes_GET_SIZE(kb) > 255)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    /* the reserved key (the EOS frame, or a refusal): always Python's */
    if (reserved_key == NULL
            || bytes_equal(kb, (const unsigned char *)PyBytes_AS_STRING(reserved_key),
                           PyBytes_GET_SIZE(reserved_key)))
        Py_RETURN_NONE;
    Py_ssize_t k = PyBytes_GET_SIZE(kb), n = PyBytes_GET_SIZE(payload);
    Py_ssize_t size = FRAME_OVERHEAD + k + n;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(payload);
    long crc_got = -1;
    if (crc_long != NULL && n >= CRC_LONG_MIN) {
        PyObject *r = PyObject_CallOneArg(crc_long, payload);
        crc_got = r != NULL && PyLong_Check(r) ? PyLong_AsLong(r) : -1;
        Py_XDECREF(r);
        if (crc_got < 0 || crc_got > 0xFFFF) {  /* cannot be: the tables then */
            PyErr_Clear();
            crc_got = -1;
        }
        /* the call ran outside code: `kb` was borrowed, look it up again */
        kb = PyDict_GetItemWithError(keys, key);
        if (kb == NULL || !PyBytes_CheckExact(kb) || PyBytes_GET_SIZE(kb) != k)
            return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    }
    PyObject *pair = PyTuple_Pack(2, key, shard);
    if (pair == NULL)
        return NULL;
    PyObject *state = PyDict_GetItemWithError(streams, pair);  /* borrowed */
    Py_DECREF(pair);
    if (state == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    if (!Py_IS_TYPE(state, stream_state.type))
        Py_RETURN_NONE;
    PyObject *running_o = SLOT(state, stream_state, ST_RUNNING);
    PyObject *count_o = SLOT(state, stream_state, ST_COUNT);
    long running = running_o && PyLong_Check(running_o) ? PyLong_AsLong(running_o) : -1;
    long long count = count_o && PyLong_Check(count_o) ? PyLong_AsLongLong(count_o) : -1;
    if (PyErr_Occurred())
        PyErr_Clear();
    if (running < 0 || running > 0xFFFF || count < 0 || count == LLONG_MAX
            || !SLOT(state, stream_state, ST_SEQUENCE) || !SLOT(state, stream_state, ST_TIMESTAMP)
            || !as_u64(SLOT(state, stream_state, ST_SEQUENCE), &old_seq)
            || !as_u64(SLOT(state, stream_state, ST_TIMESTAMP), &old_ts))
        Py_RETURN_NONE;

    /* everything checked: compute, then build every new object before changing anything */
    uint16_t crc = crc_got >= 0 ? (uint16_t)crc_got : crc16_fast(data, n, 0xFFFF);
    unsigned char crc_be[2] = {(unsigned char)(crc >> 8), (unsigned char)crc};
    uint16_t new_running = crc16(crc_be, 2, (uint16_t)running);
    PyObject *new_running_o = PyLong_FromLong(new_running);
    PyObject *new_count_o = PyLong_FromLongLong(count + 1);
    PyObject *result = PyTuple_New(2);
    if (result != NULL) {
        PyTuple_SET_ITEM(result, 0, PyLong_FromLongLong(offset + size));
        PyTuple_SET_ITEM(result, 1, PyLong_FromLong(crc));
        if (!PyTuple_GET_ITEM(result, 0) || !PyTuple_GET_ITEM(result, 1))
            Py_CLEAR(result);
    }
    Py_ssize_t old_len = PyByteArray_GET_SIZE(buf);
    int grown = new_running_o && new_count_o && result;
    if (grown && used + size > old_len)  /* the arena doubles (Python's _put does the same) */
        grown = PyByteArray_Resize(buf, used + size > 2 * old_len ? used + size : 2 * old_len) == 0;
    if (!grown) {  /* out of memory, or `buf` is exported: Python meets the same error */
        Py_XDECREF(new_running_o);
        Py_XDECREF(new_count_o);
        Py_XDECREF(result);
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    unsigned char *w = (unsigned char *)PyByteArray_AS_STRING(buf) + used;
    *w++ = (unsigned char)k;
    memcpy(w, PyBytes_AS_STRING(kb), k);
    w += k;
    put_u64(w, shard_v);
    put_u64(w + 8, seq_v);
    put_u64(w + 16, ts_v);
    w[24] = (unsigned char)(n >> 24);
    w[25] = (unsigned char)(n >> 16);
    w[26] = (unsigned char)(n >> 8);
    w[27] = (unsigned char)n;
    w += HEAD_FIXED;
    memcpy(w, data, n);
    w += n;
    w[0] = crc_be[0];
    w[1] = crc_be[1];
    w[2] = SEPARATOR;

    /* the stream's state, as Encoder.encode updates it (the caller's int objects are kept) */
    if (seq_v > old_seq)
        Py_SETREF(SLOT(state, stream_state, ST_SEQUENCE), Py_NewRef(seq));
    if (ts_v > old_ts)
        Py_SETREF(SLOT(state, stream_state, ST_TIMESTAMP), Py_NewRef(ts));
    Py_SETREF(SLOT(state, stream_state, ST_RUNNING), new_running_o);
    Py_SETREF(SLOT(state, stream_state, ST_COUNT), new_count_o);
    return result;
}

/* ---- resync: the next position worth a full read after damage ----------------------------
 *
 * resync_candidate(buf, start, stop, seg, size, can_cross) -> index or -1, exactly as
 * _candidate_pure in ssfile/codec/resync.py: the first q in [start, stop) whose byte is a key
 * length <= 249 followed by key bytes of [A-Za-z0-9._-] (up to seg), and whose declared frame
 * fits the data and, when it ends inside the segment, ends with 0x0D; a frame whose head runs
 * past seg is possible only when can_cross.  Without can_cross, positions after the last 0x0D
 * of the segment (less 30) cannot hold a frame and are not looked at. */

static int key_byte[256];

static void
key_bytes_init(void)
{
    for (int c = 0; c < 256; c++)
        key_byte[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                      || c == '.' || c == '_' || c == '-';
}

static PyObject *
resync_candidate(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "resync_candidate takes 6 arguments");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), stop = PyLong_AsSsize_t(args[2]);
    Py_ssize_t seg = PyLong_AsSsize_t(args[3]), size = PyLong_AsSsize_t(args[4]);
    int can_cross = PyObject_IsTrue(args[5]);
    if (PyErr_Occurred() || can_cross < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *b = view.buf;
    Py_ssize_t n = view.len, found = -1;
    if (seg > n)
        seg = n;
    if (size > n)
        size = n;
    if (start < 0)
        start = 0;
    if (!can_cross) {
        Py_ssize_t last = seg - 1;
        while (last >= start && b[last] != SEPARATOR)
            last--;
        if (last < start)
            last = -1;
        if (stop > last - 30)
            stop = last - 30;
    }
    if (stop > n)
        stop = n;
    for (Py_ssize_t q = start; q < stop; q++) {
        unsigned k = b[q];
        if (k > 249)
            continue;
        Py_ssize_t fixed = q + 1 + k;
        if (fixed + HEAD_FIXED > seg) {
            if (!can_cross)
                continue;
        } else {
            const unsigned char *l = b + fixed + 24;
            uint64_t length = ((uint64_t)l[0] << 24) | ((uint64_t)l[1] << 16) | ((uint64_t)l[2] << 8) | l[3];
            Py_ssize_t end = fixed + 31 + (Py_ssize_t)length;
            if (end > size || (end <= seg && b[end - 1] != SEPARATOR))
                continue;
        }
        Py_ssize_t key_end = fixed < seg ? fixed : seg;
        Py_ssize_t j = q + 1;
        while (j < key_end && key_byte[b[j]])
            j++;
        if (j < key_end)
            continue;
        found = q;
        break;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(found);
}

/* ==== columnar scan (issue 17): header columns of a whole mapped file ======================
 *
 * scan_columns is the C twin of the vectorised numpy scan (ssfile/export/columns.py, driven
 * from ssfile/export/cscan.py).  It walks the frames of the *logical* stream (the segments of
 * frame bytes between beacons, as ssfile/export/layout.py finds them) sequentially, straight
 * from the memory map, and writes one row per kept message into numpy columns the caller
 * allocated.  Like the decoder's twin it does the common case only and stops at anything
 * else, leaving the position at the frame concerned and saying why (COL_*):
 *
 *   DONE      the position reached `stop`;
 *   FULL      the columns (or the payload buffer) have no room for the frame: grow, call again;
 *   NEWKEY    the frame's key is not in `keys` yet: Python checks it and learns it;
 *   WIDEN     a key code does not fit the int16 code column: Python widens it to int32;
 *   BAD_TS    the timestamp is beyond MAX_TIMESTAMP_MS;
 *   BAD_CRC   the payload checksum does not match (only when checking);
 *   EOS       the frame is the end-of-stream frame (its timestamp and checksum were checked);
 *   TORN      the frame runs past the end of the logical stream.
 *
 * Python builds every error from that (the same messages as the numpy path), so each error
 * text exists once.  The walk itself runs without the GIL (no Python object is touched in
 * it); only a key seen for the first time in a call goes back to the dict, with the GIL.
 * A frame cut by a beacon (it continues in the next segment) is copied whole into a scratch
 * buffer first, which happens once per beacon interval at most.
 */

enum {
    COL_DONE, COL_FULL, COL_NEWKEY, COL_WIDEN, COL_BAD_TS, COL_BAD_CRC, COL_EOS, COL_TORN,
    COL_KEYMISS = 100, COL_NOMEM = 101  /* internal: never returned to Python */
};

typedef struct {
    const unsigned char *raw;   /* the key's bytes (owned by `obj`) */
    PyObject *obj;              /* bytes, strong reference; NULL: an empty slot */
    uint32_t hash;
    int len, code;
    unsigned char wanted, internal;
} ColKey;

typedef struct {
    /* input: the map and its segments (logical [logical[j], logical[j]+length[j]) lives at
     * physical phys[j]) */
    const unsigned char *buf;
    Py_ssize_t buflen, nseg, seg;
    const int64_t *phys, *logical, *length;
    int64_t pos, stop, total;
    /* keys seen in this call: open addressing, `mask + 1` slots */
    ColKey *table;
    Py_ssize_t mask, used;
    /* what to keep */
    const uint64_t *shards;
    Py_ssize_t nshards;         /* -1: every shard */
    int64_t since, until;       /* since <= ts < until */
    uint64_t max_ts;
    int check_crc;
    /* output */
    char *code;
    int code_size;              /* 2 or 4 */
    uint64_t *shard, *seq;
    int64_t *ts, *offset, *lengths;
    Py_ssize_t row, cap;
    unsigned char *pbuf;
    Py_ssize_t pfill, pcap, need;
    /* the frame at `pos` when it stopped at a key miss */
    const unsigned char *miss_raw;
    int miss_len;
    uint32_t miss_hash;
    /* a frame cut by a beacon, copied whole */
    unsigned char *scratch;
    size_t scratch_cap;
} ColScan;

static uint32_t
col_hash(const unsigned char *p, int n)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static ColKey *
col_find(ColScan *s, const unsigned char *raw, int len, uint32_t h)
{
    Py_ssize_t i = (Py_ssize_t)(h & (uint32_t)s->mask);
    for (;;) {
        ColKey *e = &s->table[i];
        if (e->obj == NULL)
            return e;
        if (e->hash == h && e->len == len && memcmp(e->raw, raw, len) == 0)
            return e;
        i = (i + 1) & s->mask;
    }
}

/* Copy logical bytes [from, from + n) into dst (they exist: the caller checked `total`). */
static void
col_gather(const ColScan *s, int64_t from, int64_t n, unsigned char *dst)
{
    Py_ssize_t j = s->seg;
    while (n > 0) {
        while (j + 1 < s->nseg && from >= s->logical[j + 1])
            j++;
        int64_t in_seg = s->logical[j] + s->length[j] - from;
        int64_t take = in_seg < n ? in_seg : n;
        memcpy(dst, s->buf + s->phys[j] + (from - s->logical[j]), (size_t)take);
        dst += take;
        from += take;
        n -= take;
        j++;
    }
}

static int
col_shard_kept(const ColScan *s, uint64_t shard)
{
    Py_ssize_t lo = 0, hi = s->nshards;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (s->shards[mid] < shard)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->nshards && s->shards[lo] == shard;
}

/* The walk: no Python API in here (it runs without the GIL). */
static int
col_walk(ColScan *s)
{
    for (;;) {
        int64_t pos = s->pos;
        if (pos >= s->stop)
            return COL_DONE;
        while (s->seg + 1 < s->nseg && pos >= s->logical[s->seg + 1])
            s->seg++;
        int64_t seg_left = s->logical[s->seg] + s->length[s->seg] - pos;
        int64_t left = s->total - pos;
        const unsigned char *f = s->buf + s->phys[s->seg] + (pos - s->logical[s->seg]);
        int k;
        uint64_t plen;
        if (seg_left >= 1 + 255 + HEAD_FIXED) {  /* the whole head is here */
            k = f[0];
            plen = get_u32(f + 1 + k + 24);
        } else {  /* near a beacon or the end: read the head through the gaps */
            unsigned char head[1 + 255 + HEAD_FIXED];
            if (left < 1)
                return COL_TORN;
            col_gather(s, pos, 1, head);
            k = head[0];
            if (left < 1 + k + HEAD_FIXED)
                return COL_TORN;
            col_gather(s, pos, 1 + k + HEAD_FIXED, head);
            plen = get_u32(head + 1 + k + 24);
        }
        int64_t size = (int64_t)(FRAME_OVERHEAD + k + plen);
        if (size > left)
            return COL_TORN;
        if (size > seg_left) {  /* cut by a beacon: copy it whole */
            if ((size_t)size > s->scratch_cap) {
                size_t want = (size_t)size < 65536 ? 65536 : (size_t)size;
                unsigned char *p = (unsigned char *)realloc(s->scratch, want);
                if (p == NULL)
                    return COL_NOMEM;
                s->scratch = p;
                s->scratch_cap = want;
            }
            col_gather(s, pos, size, s->scratch);
            f = s->scratch;
        }
        const unsigned char *fixed = f + 1 + k;
        const unsigned char *payload = fixed + HEAD_FIXED;
        uint32_t h = col_hash(f + 1, k);
        ColKey *e = col_find(s, f + 1, k, h);
        if (e->obj == NULL) {
            s->miss_raw = f + 1;  /* valid until the map or the scratch changes: used at once */
            s->miss_len = k;
            s->miss_hash = h;
            return COL_KEYMISS;
        }
        uint64_t ts = get_u64(fixed + 16);
        if (ts > s->max_ts)
            return COL_BAD_TS;
        if (s->check_crc && ((payload[plen] << 8) | payload[plen + 1])
                                != crc16_fast(payload, (Py_ssize_t)plen, 0xFFFF))
            return COL_BAD_CRC;
        if (e->internal && plen == 3 && memcmp(payload, "EOS", 3) == 0)
            return COL_EOS;
        uint64_t shard = get_u64(fixed);
        int keep = e->wanted && (s->nshards < 0 || col_shard_kept(s, shard))
                   && (int64_t)ts >= s->since && (int64_t)ts < s->until;
        if (keep) {
            if (s->row >= s->cap)
                return COL_FULL;
            if (s->pbuf != NULL && (int64_t)plen > s->pcap - s->pfill) {
                s->need = (Py_ssize_t)plen;
                return COL_FULL;
            }
            if (s->code_size == 2) {
                if (e->code > 32767)
                    return COL_WIDEN;
                ((int16_t *)s->code)[s->row] = (int16_t)e->code;
            } else {
                ((int32_t *)s->code)[s->row] = (int32_t)e->code;
            }
            Py_ssize_t r = s->row++;
            s->shard[r] = shard;
            s->seq[r] = get_u64(fixed + 8);
            s->ts[r] = (int64_t)ts;
            s->offset[r] = s->phys[s->seg] + (pos - s->logical[s->seg]);
            if (s->lengths != NULL)
                s->lengths[r] = (int64_t)plen;
            if (s->pbuf != NULL) {
                memcpy(s->pbuf + s->pfill, payload, (size_t)plen);
                s->pfill += (Py_ssize_t)plen;
            }
        }
        s->pos = pos + size;
    }
}

static int
col_table_grow(ColScan *s)
{
    Py_ssize_t old_n = s->mask + 1, n = old_n * 2;
    ColKey *old = s->table, *t = (ColKey *)calloc((size_t)n, sizeof(ColKey));
    if (t == NULL)
        return -1;
    s->table = t;
    s->mask = n - 1;
    for (Py_ssize_t i = 0; i < old_n; i++)
        if (old[i].obj != NULL)
            *col_find(s, old[i].raw, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* The key at the miss: found in `keys` -> added to the table (0); not there -> 1; error -1. */
static int
col_learn(ColScan *s, PyObject *keys, PyObject *names, PyObject *streams, PyObject *internal)
{
    PyObject *raw = PyBytes_FromStringAndSize((const char *)s->miss_raw, s->miss_len);
    if (raw == NULL)
        return -1;
    PyObject *code_o = PyDict_GetItemWithError(keys, raw);  /* borrowed */
    if (code_o == NULL) {
        Py_DECREF(raw);
        return PyErr_Occurred() ? -1 : 1;
    }
    long code = PyLong_AsLong(code_o);
    if (code == -1 && PyErr_Occurred()) {
        Py_DECREF(raw);
        return -1;
    }
    int wanted = 1;
    if (streams != Py_None) {
        PyObject *name = code >= 0 && code < PyList_GET_SIZE(names)
                             ? PyList_GET_ITEM(names, code) : NULL;
        wanted = name == NULL ? -1 : PySet_Contains(streams, name);
        if (wanted < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "key code out of range of names");
            Py_DECREF(raw);
            return -1;
        }
    }
    if ((s->used + 1) * 2 > s->mask + 1 && col_table_grow(s) < 0) {
        Py_DECREF(raw);
        PyErr_NoMemory();
        return -1;
    }
    ColKey *e = col_find(s, s->miss_raw, s->miss_len, s->miss_hash);
    e->obj = raw;
    e->raw = (const unsigned char *)PyBytes_AS_STRING(raw);
    e->len = s->miss_len;
    e->hash = s->miss_hash;
    e->code = (int)code;
    e->wanted = (unsigned char)wanted;
    e->internal = (unsigned char)bytes_equal(internal, e->raw, e->len);
    s->used++;
    return 0;
}

/* A writable, C-contiguous buffer of `count` items of `itemsize` bytes at least (or None,
 * when allowed: view->obj stays NULL). */
static int
col_out(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int none_ok, const char *what)
{
    view->obj = NULL;
    view->buf = NULL;
    view->len = 0;
    if (obj == Py_None && none_ok)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != itemsize && !(itemsize == 0 && (view->itemsize == 2 || view->itemsize == 4))) {
        PyErr_Format(PyExc_TypeError, "scan_columns: %s has items of %zd bytes", what, view->itemsize);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

/* scan_columns(buf, phys, logical, length, pos, stop, keys, names, streams, shards, since,
 *              until, check_crc, max_ts, internal, columns, row, pbuf, pfill)
 *     -> (pos, row, pfill, reason, need)
 *
 * buf: the whole file (a buffer); phys/logical/length: int64 arrays, the segments; pos/stop:
 * logical positions (scan frames starting in [pos, stop)); keys: dict raw key bytes -> code,
 * names: list of key str by code; streams: a set of str to keep or None; shards: a sorted
 * uint64 array to keep or None; since/until: int or None; max_ts: MAX_TIMESTAMP_MS;
 * internal: the bytes of SEA_STREAMER_INTERNAL; columns: (code int16|int32, shard uint64,
 * sequence uint64, timestamp int64, offset int64, length int64 or None), filled from index
 * `row` up to their length; pbuf: a uint8 array receiving the kept payloads back to back from
 * `pfill`, or None.  `need`: the payload size that did not fit pbuf (reason FULL). */
static PyObject *
scan_columns(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 19)
        return PyErr_Format(PyExc_TypeError, "scan_columns() takes 19 arguments");
    PyObject *keys = args[6], *names = args[7], *streams = args[8], *internal = args[14];
    PyObject *cols = args[15];
    if (!PyDict_Check(keys) || !PyList_Check(names) || !PyBytes_Check(internal)
            || !PyTuple_Check(cols) || PyTuple_GET_SIZE(cols) != 6
            || (streams != Py_None && !PyAnySet_Check(streams)))
        return PyErr_Format(PyExc_TypeError, "scan_columns: bad argument types");

    ColScan s;
    memset(&s, 0, sizeof s);
    Py_buffer in = {0}, seg[3] = {{0}}, shards = {0}, out[6], pbuf = {0};
    for (int i = 0; i < 6; i++)
        out[i].obj = NULL;
    PyObject *result = NULL;
    int reason = -1;

    if (PyObject_GetBuffer(args[0], &in, PyBUF_SIMPLE) < 0)
        goto done;
    for (int i = 0; i < 3; i++)
        if (col_out(args[1 + i], &seg[i], 8, 0, "a segment array") < 0)
            goto done;
    if (col_out(args[9], &shards, 8, 1, "shards") < 0)
        goto done;
    if (col_out(PyTuple_GET_ITEM(cols, 0), &out[0], 0, 0, "the code column") < 0)
        goto done;
    for (int i = 1; i < 6; i++)
        if (col_out(PyTuple_GET_ITEM(cols, i), &out[i], 8, i == 5, "a column") < 0)
            goto done;
    if (col_out(args[17], &pbuf, 1, 1, "the payload buffer") < 0)
        goto done;

    s.buf = (const unsigned char *)in.buf;
    s.buflen = in.len;
    s.nseg = seg[0].len / 8;
    if (s.nseg < 1 || seg[1].len / 8 != s.nseg || seg[2].len / 8 != s.nseg) {
        PyErr_SetString(PyExc_ValueError, "scan_columns: segment arrays differ in length");
        goto done;
    }
    s.phys = (const int64_t *)seg[0].buf;
    s.logical = (const int64_t *)seg[1].buf;
    s.length = (const int64_t *)seg[2].buf;
    for (Py_ssize_t j = 0; j < s.nseg; j++)
        if (s.phys[j] < 0 || s.length[j] < 0 || s.phys[j] + s.length[j] > s.buflen
                || (j > 0 && s.logical[j] != s.logical[j - 1] + s.length[j - 1])) {
            PyErr_SetString(PyExc_ValueError, "scan_columns: segments outside the buffer");
            goto done;
        }
    s.total = s.logical[s.nseg - 1] + s.length[s.nseg - 1];
    s.pos = PyLong_AsLongLong(args[4]);
    s.stop = PyLong_AsLongLong(args[5]);
    s.since = args[10] == Py_None ? INT64_MIN : PyLong_AsLongLong(args[10]);
    s.until = args[11] == Py_None ? INT64_MAX : PyLong_AsLongLong(args[11]);
    s.check_crc = PyObject_IsTrue(args[12]);
    s.max_ts = PyLong_AsUnsignedLongLong(args[13]);
    s.row = PyLong_AsSsize_t(args[16]);
    s.pfill = PyLong_AsSsize_t(args[18]);
    if (PyErr_Occurred() || s.check_crc < 0)
        goto done;
    if (s.stop > s.total)
        s.stop = s.total;
    if (s.pos < s.logical[0]) {
        PyErr_SetString(PyExc_ValueError, "scan_columns: position before the first segment");
        goto done;
    }
    s.shards = shards.obj ? (const uint64_t *)shards.buf : NULL;
    s.nshards = shards.obj ? shards.len / 8 : -1;
    s.code = (char *)out[0].buf;
    s.code_size = (int)out[0].itemsize;
    s.shard = (uint64_t *)out[1].buf;
    s.seq = (uint64_t *)out[2].buf;
    s.ts = (int64_t *)out[3].buf;
    s.offset = (int64_t *)out[4].buf;
    s.lengths = out[5].obj ? (int64_t *)out[5].buf : NULL;
    s.cap = out[0].len / out[0].itemsize;
    for (int i = 1; i < 6; i++)
        if (out[i].obj && out[i].len / 8 < s.cap)
            s.cap = out[i].len / 8;
    s.pbuf = pbuf.obj ? (unsigned char *)pbuf.buf : NULL;
    s.pcap = pbuf.len;
    if (s.row < 0 || s.row > s.cap || s.pfill < 0 || s.pfill > s.pcap) {
        PyErr_SetString(PyExc_ValueError, "scan_columns: row or pfill out of range");
        goto done;
    }
    s.mask = 63;
    s.table = (ColKey *)calloc(64, sizeof(ColKey));
    if (s.table == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        reason = col_walk(&s);
        Py_END_ALLOW_THREADS
        if (reason == COL_NOMEM) {
            PyErr_NoMemory();
            goto done;
        }
        if (reason != COL_KEYMISS)
            break;
        int got = col_learn(&s, keys, names, streams, internal);
        if (got < 0)
            goto done;
        if (got > 0) {
            reason = COL_NEWKEY;
            break;
        }
    }
    result = Py_BuildValue("(LnniL)", (long long)s.pos, s.row, s.pfill, reason,
                           (long long)s.need);
done:
    if (s.table != NULL) {
        for (Py_ssize_t i = 0; i <= s.mask; i++)
            Py_XDECREF(s.table[i].obj);
        free(s.table);
    }
    free(s.scratch);
    if (in.obj)
        PyBuffer_Release(&in);
    for (int i = 0; i < 3; i++)
        if (seg[i].obj)
            PyBuffer_Release(&seg[i]);
    if (shards.obj)
        PyBuffer_Release(&shards);
    for (int i = 0; i < 6; i++)
        if (out[i].obj)
            PyBuffer_Release(&out[i]);
    if (pbuf.obj)
        PyBuffer_Release(&pbuf);
    return result;
}

/* split_payloads(buf, lengths, count) -> list of bytes: the first `count` payloads of the
 * uint8 buffer `buf`, back to back with the int64 `lengths`. */
static PyObject *
split_payloads(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "split_payloads() takes 3 arguments");
    Py_buffer b, l;
    if (PyObject_GetBuffer(args[0], &b, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &l, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&b);
        return NULL;
    }
    Py_ssize_t count = PyLong_AsSsize_t(args[2]);
    PyObject *out = NULL;
    if (count < 0 || count > l.len / 8) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "split_payloads: count out of range");
        goto done;
    }
    out = PyList_New(count);
    if (out == NULL)
        goto done;
    const int64_t *len = (const int64_t *)l.buf;
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (len[i] < 0 || len[i] > b.len - at) {
            PyErr_SetString(PyExc_ValueError, "split_payloads: lengths exceed the buffer");
            Py_CLEAR(out);
            goto done;
        }
        PyObject *p = PyBytes_FromStringAndSize((const char *)b.buf + at, (Py_ssize_t)len[i]);
        if (p == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, p);
        at += (Py_ssize_t)len[i];
    }
done:
    PyBuffer_Release(&b);
    PyBuffer_Release(&l);
    return out;
}

/* ==== end of the columnar scan ============================================================= */

/* ==== JSON field extraction (issue 20: the viewer's plots) ================================
 *
 * json_field(buf, lengths, parts, values, status): for each payload of the uint8 buffer
 * `buf` (back to back, int64 `lengths`), the number at the field path `parts` (a tuple of
 * bytes: an object key as UTF-8, or int: an array index), without building any Python
 * object.  Writes float64 `values` (NaN where there is none) and uint8 `status`:
 *
 *   0 a finite number (or a boolean, as 0/1) is at the path
 *   1 the payload is a JSON object with no finite number at the path
 *   2 UTF-8 text that is not a JSON object
 *   3 binary: not UTF-8 (or not JSON and holding a control byte other than tab and newlines)
 *   4 not decided here: the Python twin (ssfile/export/series.py, field_one) decides
 *
 * The result is what json.loads and the path walk in series.py give (tests/test_series_c.py
 * holds them equal): the grammar of Python's json module (NaN, Infinity and -Infinity are
 * numbers, not finite; the last of duplicate keys wins), strict UTF-8 as bytes.decode.
 * Handed back (4): a key on the path written with escapes, nesting deeper than JF_DEPTH,
 * a number token longer than JF_NUMBER.  Numbers at the path are converted exactly: up to
 * 15 significant digits and a power of ten within 1e22 by one correctly rounded operation,
 * the others afterwards, with the GIL, by PyOS_string_to_double (Python's float()).  The scan
 * itself runs without the GIL, so a server thread goes on answering meanwhile. */

#include <math.h>

#define JF_DEPTH 64
#define JF_NUMBER 600
#define JF_PARTS 32
enum { JF_VALUE, JF_MISSING, JF_NOT_JSON, JF_BINARY, JF_FALLBACK, JF_DEFER };
enum { JF_OK = 0, JF_BAD = -1, JF_HAND = -2 };

typedef struct {
    const unsigned char *key;   /* NULL: an array index */
    Py_ssize_t klen;
    long long index;
} JfPart;

typedef struct {
    const unsigned char *p, *end;
    const JfPart *parts;
    int nparts, depth;
    int found;                  /* JF_MISSING, JF_VALUE or JF_DEFER */
    double value;
    const unsigned char *num;   /* JF_DEFER: the number token */
    Py_ssize_t numlen;
} JfScan;

static const double jf_pow10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
    1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strict UTF-8 (as bytes.decode: no overlong forms, no surrogates, at most U+10FFFF) */
static int
jf_utf8(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        uint64_t eight;
        if (n - i >= 8) {   /* ASCII eight bytes at a time */
            memcpy(&eight, s + i, 8);
            if (!(eight & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0))
                return 0;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
                return 0;
            i += 4;
        } else
            return 0;
    }
    return 1;
}

static void
jf_ws(JfScan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int
jf_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* a string at s->p (its '"'): its content [*a, *b) and whether it holds escapes */
static int
jf_string(JfScan *s, const unsigned char **a, const unsigned char **b, int *escaped)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    *a = p;
    *escaped = 0;
    while (p < end) {
        unsigned char c = *p;
        if (c == '"') {
            *b = p;
            s->p = p + 1;
            return JF_OK;
        }
        if (c < 0x20)
            return JF_BAD;
        if (c == '\\') {
            *escaped = 1;
            if (p + 1 >= end)
                return JF_BAD;
            c = p[1];
            if (c == 'u') {
                if (end - p < 6 || !jf_hex(p[2]) || !jf_hex(p[3]) || !jf_hex(p[4]) || !jf_hex(p[5]))
                    return JF_BAD;
                p += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", c) || c == 0)
                return JF_BAD;
            p += 2;
            continue;
        }
        p++;
    }
    return JF_BAD;
}

static int
jf_word(JfScan *s, const char *w, Py_ssize_t n)
{
    if (s->end - s->p < n || memcmp(s->p, w, (size_t)n) != 0)
        return 0;
    s->p += n;
    return 1;
}

/* a number at s->p ('-' or a digit); `target`: its value is the one looked for */
static int
jf_number(JfScan *s, int target)
{
    const unsigned char *p = s->p, *end = s->end, *start = p;
    int neg = 0, is_int = 1, sig = 0, fraclen = 0;
    unsigned long long w = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end)
        return JF_BAD;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            if (sig < 19)
                w = w * 10 + (unsigned long long)(*p - '0');
            sig++;
            p++;
        }
    } else
        return JF_BAD;
    if (p + 1 < end && *p == '.' && p[1] >= '0' && p[1] <= '9') {
        is_int = 0;
        p++;
        while (p < end && *p >= '0' && *p <= '9') {
            if (sig || *p != '0') {
                if (sig < 19)
                    w = w * 10 + (unsigned long long)(*p - '0');
                sig++;
            }
            if (sig <= 19)
                fraclen++;
            p++;
        }
    }
    long long e10 = 0;
    int expdigits = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        const unsigned char *q = p + 1;
        int eneg = 0;
        if (q < end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        const unsigned char *d = q;
        while (q < end && *q >= '0' && *q <= '9') {
            if (expdigits < 6)
                e10 = e10 * 10 + (*q - '0');
            expdigits++;
            q++;
        }
        if (q > d) {   /* else "e" is not part of the number (and the JSON is bad) */
            is_int = 0;
            p = q;
            if (eneg)
                e10 = -e10;
        }
    }
    s->p = p;
    if (p - start > JF_NUMBER)
        return JF_HAND;
    if (!target)
        return JF_OK;
    /* sig > 19 digits dropped: fraclen counts kept fraction digits only when sig <= 19 */
    if (sig <= 15 && expdigits < 6) {
        long long e = e10 - fraclen;
        double v;
        if (w == 0)
            v = 0.0;
        else if (e >= 0 && e <= 22)
            v = (double)w * jf_pow10[e];
        else if (e < 0 && e >= -22)
            v = (double)w / jf_pow10[-e];
        else
            goto defer;
        s->found = JF_VALUE;
        s->value = neg && !(is_int && w == 0) ? -v : v;   /* int("-0") is 0 */
        return JF_OK;
    }
defer:
    s->found = JF_DEFER;
    s->num = start;
    s->numlen = p - start;
    return JF_OK;
}

static int jf_value(JfScan *s, int follow);

static int
jf_object(JfScan *s, int follow)
{
    const JfPart *want = follow >= 0 && follow < s->nparts ? &s->parts[follow] : NULL;
    if (want != NULL && want->key == NULL)
        want = NULL;   /* an index asked of an object: nothing here is on the path */
    s->p++;
    jf_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return JF_OK;
    }
    for (;;) {
        const unsigned char *a, *b;
        int escaped, r;
        if (s->p >= s->end || *s->p != '"')
            return JF_BAD;
        if ((r = jf_string(s, &a, &b, &escaped)) != JF_OK)
            return r;
        jf_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return JF_BAD;
        s->p++;
        jf_ws(s);
        int on = -1;
        if (want != NULL) {
            if (escaped)
                return JF_HAND;
            if (b - a == want->klen && memcmp(a, want->key, (size_t)want->klen) == 0) {
                on = follow + 1;
                s->found = JF_MISSING;   /* the last of duplicate keys wins */
            }
        }
        if ((r = jf_value(s, on)) != JF_OK)
            return r;
        jf_ws(s);
        if (s->p >= s->end)
            return JF_BAD;
        if (*s->p == '}') {
            s->p++;
            return JF_OK;
        }
        if (*s->p != ',')
            return JF_BAD;
        s->p++;
        jf_ws(s);
    }
}

static int
jf_array(JfScan *s, int follow)
{
    long long want = -1;
    if (follow >= 0 && follow < s->nparts && s->parts[follow].key == NULL)
        want = s->parts[follow].index;
    s->p++;
    jf_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return JF_OK;
    }
    for (long long i = 0;; i++) {
        int r = jf_value(s, i == want ? follow + 1 : -1);
        if (r != JF_OK)
            return r;
        jf_ws(s);
        if (s->p >= s->end)
            return JF_BAD;
        if (*s->p == ']') {
            s->p++;
            return JF_OK;
        }
        if (*s->p != ',')
            return JF_BAD;
        s->p++;
        jf_ws(s);
    }
}

/* one value at s->p; `follow`: the path parts it has matched (-1: off the path) */
static int
jf_value(JfScan *s, int follow)
{
    int target = follow == s->nparts;
    if (s->p >= s->end)
        return JF_BAD;
    unsigned char c = *s->p;
    int r;
    switch (c) {
    case '{':
    case '[':
        if (++s->depth > JF_DEPTH)
            return JF_HAND;
        r = c == '{' ? jf_object(s, target ? -1 : follow) : jf_array(s, target ? -1 : follow);
        s->depth--;
        return r;
    case '"': {
        const unsigned char *a, *b;
        int escaped;
        return jf_string(s, &a, &b, &escaped);
    }
    case 't':
    case 'f':
        if (!(c == 't' ? jf_word(s, "true", 4) : jf_word(s, "false", 5)))
            return JF_BAD;
        if (target) {
            s->found = JF_VALUE;
            s->value = c == 't' ? 1.0 : 0.0;
        }
        return JF_OK;
    case 'n':
        return jf_word(s, "null", 4) ? JF_OK : JF_BAD;
    case 'N':
        return jf_word(s, "NaN", 3) ? JF_OK : JF_BAD;   /* not finite: missing */
    case 'I':
        return jf_word(s, "Infinity", 8) ? JF_OK : JF_BAD;
    case '-':
        if (jf_word(s, "-Infinity", 9))
            return JF_OK;
        return jf_number(s, target);
    default:
        if (c >= '0' && c <= '9')
            return jf_number(s, target);
        return JF_BAD;
    }
}

/* the status of one payload (and s->value / s->num for JF_VALUE / JF_DEFER) */
static int
jf_payload(JfScan *s, const unsigned char *p, Py_ssize_t n)
{
    if (!jf_utf8(p, n))
        return JF_BINARY;
    s->p = p;
    s->end = p + n;
    s->depth = 0;
    s->found = JF_MISSING;
    jf_ws(s);
    int object = s->p < s->end && *s->p == '{';
    int r = jf_value(s, object ? 0 : -1);
    if (r == JF_OK) {
        jf_ws(s);
        if (s->p != s->end)
            r = JF_BAD;
    }
    if (r == JF_HAND)
        return JF_FALLBACK;
    if (r == JF_BAD) {
        for (Py_ssize_t i = 0; i < n; i++) {   /* not JSON: binary if it holds control bytes */
            unsigned char c = p[i];
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
                return JF_BINARY;
        }
        return JF_NOT_JSON;
    }
    if (!object)
        return JF_NOT_JSON;
    return s->found;
}

static PyObject *
json_field(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5)
        return PyErr_Format(PyExc_TypeError, "json_field() takes 5 arguments");
    PyObject *parts = args[2];
    if (!PyTuple_Check(parts) || PyTuple_GET_SIZE(parts) < 1 || PyTuple_GET_SIZE(parts) > JF_PARTS)
        return PyErr_Format(PyExc_ValueError, "json_field: parts must be a tuple of 1 to %d items",
                            JF_PARTS);
    JfPart part[JF_PARTS];
    int nparts = (int)PyTuple_GET_SIZE(parts);
    for (int i = 0; i < nparts; i++) {
        PyObject *o = PyTuple_GET_ITEM(parts, i);
        if (PyBytes_Check(o)) {
            part[i].key = (const unsigned char *)PyBytes_AS_STRING(o);
            part[i].klen = PyBytes_GET_SIZE(o);
            part[i].index = -1;
        } else if (PyLong_Check(o)) {
            part[i].key = NULL;
            part[i].klen = 0;
            part[i].index = PyLong_AsLongLong(o);
            if (part[i].index < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "json_field: negative index");
                return NULL;
            }
        } else
            return PyErr_Format(PyExc_TypeError, "json_field: parts are bytes or int");
    }
    Py_buffer b, l, v, st;
    int got = 0;
    PyObject *out = NULL;
    Py_ssize_t *defer = NULL, ndefer = 0;
    if (PyObject_GetBuffer(args[0], &b, PyBUF_SIMPLE) < 0)
        return NULL;
    got = 1;
    if (PyObject_GetBuffer(args[1], &l, PyBUF_SIMPLE) < 0)
        goto done;
    got = 2;
    if (PyObject_GetBuffer(args[3], &v, PyBUF_WRITABLE) < 0)
        goto done;
    got = 3;
    if (PyObject_GetBuffer(args[4], &st, PyBUF_WRITABLE) < 0)
        goto done;
    got = 4;
    Py_ssize_t count = l.len / 8;
    if (v.len < count * 8 || st.len < count) {
        PyErr_SetString(PyExc_ValueError, "json_field: output arrays too short");
        goto done;
    }
    const int64_t *len = (const int64_t *)l.buf;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (len[i] < 0 || len[i] > b.len - total) {
            PyErr_SetString(PyExc_ValueError, "json_field: lengths exceed the buffer");
            goto done;
        }
        total += (Py_ssize_t)len[i];
    }
    /* deferred numbers: (row, start in buf, length) triples */
    Py_ssize_t dcap = 0;
    int nomem = 0;
    double *values = (double *)v.buf;
    unsigned char *status = (unsigned char *)st.buf;
    const unsigned char *base = (const unsigned char *)b.buf;
    Py_BEGIN_ALLOW_THREADS
    JfScan s;
    s.parts = part;
    s.nparts = nparts;
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        int r = jf_payload(&s, base + at, (Py_ssize_t)len[i]);
        values[i] = NAN;
        if (r == JF_VALUE)
            values[i] = s.value;
        else if (r == JF_DEFER) {
            if (ndefer + 3 > dcap) {
                Py_ssize_t cap = dcap ? dcap * 2 : 3 * 1024;
                Py_ssize_t *grown = (Py_ssize_t *)realloc(defer, (size_t)cap * sizeof(Py_ssize_t));
                if (grown == NULL) {
                    nomem = 1;
                    break;
                }
                defer = grown;
                dcap = cap;
            }
            defer[ndefer++] = i;
            defer[ndefer++] = s.num - base;
            defer[ndefer++] = s.numlen;
        }
        status[i] = (unsigned char)r;
        at += (Py_ssize_t)len[i];
    }
    Py_END_ALLOW_THREADS
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < ndefer; k += 3) {
        Py_ssize_t i = defer[k], n = defer[k + 2];
        const char *tok = (const char *)base + defer[k + 1];
        char text[JF_NUMBER + 1];
        memcpy(text, tok, (size_t)n);
        text[n] = 0;
        char *stop;
        double d = PyOS_string_to_double(text, &stop, NULL);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            status[i] = JF_FALLBACK;
            continue;
        }
        if (!memchr(text, '.', (size_t)n) && !memchr(text, 'e', (size_t)n)
            && !memchr(text, 'E', (size_t)n) && d == 0.0)
            d = 0.0;   /* an int: no negative zero */
        if (isfinite(d)) {
            values[i] = d;
            status[i] = JF_VALUE;
        } else
            status[i] = JF_MISSING;
    }
    out = Py_NewRef(Py_None);
done:
    free(defer);
    if (got >= 4)
        PyBuffer_Release(&st);
    if (got >= 3)
        PyBuffer_Release(&v);
    if (got >= 2)
        PyBuffer_Release(&l);
    PyBuffer_Release(&b);
    return out;
}

/* ==== end of JSON field extraction ======================================================== */

/* ==== Message.timestamp (issue 17): ms -> aware UTC datetime =============================
 *
 * datetime_from_ms(ms) -> datetime or None: the datetime ssfile.types.ms_to_datetime builds
 * (1970-01-01 UTC plus ms milliseconds), made directly from the civil date (days to
 * year/month/day, the proleptic Gregorian calendar, as datetime counts); None outside
 * 0 .. MAX_TIMESTAMP_MS, where the Python code decides.  The last result is kept: messages
 * of the same millisecond (the usual case in a recording) share one immutable object. */

#include <datetime.h>

static long long ts_last_ms = -1;
static PyObject *ts_last;

static PyObject *
datetime_from_ms(PyObject *mod, PyObject *arg)
{
    long long ms = PyLong_AsLongLong(arg);
    if (ms == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (ms < 0 || ms > 253402300799999LL)
        Py_RETURN_NONE;
    if (ms == ts_last_ms && ts_last != NULL)
        return Py_NewRef(ts_last);
    long long z = ms / 86400000 + 719468, rem = ms % 86400000;  /* days from 0000-03-01 */
    long long era = z / 146097, doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1);
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    PyObject *dt = PyDateTimeAPI->DateTime_FromDateAndTime(
        year, month, day, (int)(rem / 3600000), (int)(rem / 60000 % 60),
        (int)(rem / 1000 % 60), (int)(rem % 1000) * 1000, PyDateTime_TimeZone_UTC,
        PyDateTimeAPI->DateTimeType);
    if (dt == NULL)
        return NULL;
    Py_XSETREF(ts_last, Py_NewRef(dt));
    ts_last_ms = ms;
    return dt;
}

/* message_timestamp(message) -> its timestamp: Message.timestamp's getter in C (the slot is
 * read through the configured Message layout); outside the C range, or on anything but a
 * configured Message, the Python function given to configure_timestamp decides. */
static PyObject *ts_fallback;

static PyObject *
configure_timestamp(PyObject *mod, PyObject *fallback)
{
    Py_XSETREF(ts_fallback, Py_NewRef(fallback));
    Py_RETURN_NONE;
}

static PyObject *
message_timestamp(PyObject *mod, PyObject *msg)
{
    if (ts_fallback == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_timestamp() first");
    if (message.type != NULL && Py_IS_TYPE(msg, message.type)) {
        PyObject *ms = SLOT(msg, message, 3);  /* timestamp_ms */
        if (ms != NULL && PyLong_CheckExact(ms)) {
            PyObject *got = datetime_from_ms(mod, ms);
            if (got != Py_None)
                return got;
            Py_DECREF(got);
        }
    }
    return PyObject_CallOneArg(ts_fallback, msg);
}

/* ==== end of Message.timestamp ============================================================= */

/* ==== stdio lines (ssfile/lines.py) =========================================================
 *
 * Twins of the stdio line format's common cases, for batches of lines:
 *
 *   parse_lines(lines)      lines: a list of bytes (line ends removed).  One item per line:
 *                           (timestamp_ms, stream_key, sequence, shard_id, payload bytes),
 *                           missing fields None, as lines.parse_raw gives; or None where this
 *                           code does not decide (any error, a non-ASCII meta block, a signed
 *                           or extended timestamp, a payload starting with non-ASCII
 *                           whitespace...): the caller parses that line in Python, which
 *                           raises the error with its line number.
 *   line_payload_ok(p)      whether bytes p can be a line's payload (lines.unrepresentable
 *                           gives None): UTF-8, no newline, no leading whitespace before text.
 *   format_lines(items)     items: a list of (key, shard, sequence, timestamp_ms, payload),
 *                           each already checked; the lines "[ts | key | seq | shard] payload\n"
 *                           as one bytes object (lines.format_lines), or None if an item is not
 *                           what this code formats (then Python does all of them).
 *
 * Whitespace is Rust's char::is_whitespace (lines.WHITESPACE); the meta block is ASCII here. */

static inline int
line_ascii_ws(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');  /* \t \n \v \f \r */
}

static inline int
line_unicode_ws(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
        || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* the code point at s (valid UTF-8, n > 0 bytes left) */
static uint32_t
line_code_point(const unsigned char *s)
{
    if (s[0] < 0x80)
        return s[0];
    if (s[0] < 0xE0)
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    if (s[0] < 0xF0)
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12)
        | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static inline Py_ssize_t
line_cp_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Python's strict UTF-8: no overlong forms, no surrogates, at most U+10FFFF */
static int
line_utf8_valid(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {  /* ASCII, eight bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] >= 0xA0))
                return 0;  /* overlong; surrogate */
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80
                || (s[i + 3] & 0xC0) != 0x80)
                return 0;
            if ((c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] >= 0x90))
                return 0;  /* overlong; beyond U+10FFFF */
            i += 4;
        }
        else
            return 0;
    }
    return 1;
}

static inline int
line_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || c == '.' || c == '_' || c == '-';
}

static inline int
line_digits(const unsigned char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static long long
line_days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = y / 400;  /* y >= 1969 here */
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYYY-MM-DDTHH:MM:SS[.F+] with year 1970..9999 and valid fields -> ms; -1 otherwise
 * (then Python decides: another shape, an extension, or an error) */
static long long
line_timestamp(const unsigned char *s, Py_ssize_t n)
{
    int year, month, day, hh, mm, ss, milli = 0;
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    if (!line_digits(s, 4, &year) || !line_digits(s + 5, 2, &month)
        || !line_digits(s + 8, 2, &day) || !line_digits(s + 11, 2, &hh)
        || !line_digits(s + 14, 2, &mm) || !line_digits(s + 17, 2, &ss))
        return -1;
    if (n > 19) {
        if (s[19] != '.' || n == 20)
            return -1;
        for (Py_ssize_t i = 20; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            if (i < 23)
                milli = milli * 10 + (s[i] - '0');
        }
        for (Py_ssize_t i = n; i < 23; i++)
            milli *= 10;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1970 || month < 1 || month > 12 || hh > 23 || mm > 59 || ss > 59 || day < 1)
        return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[month - 1] + (month == 2 && leap))
        return -1;
    long long days = line_days_from_civil(year, month, day);
    return ((days * 86400 + hh * 3600 + mm * 60 + ss) * 1000) + milli;
}

/* Rust's u64 parse: optional "+", ASCII digits; 0 if not that or beyond 2^64-1 */
static int
line_u64(const unsigned char *s, Py_ssize_t n, unsigned long long *out)
{
    if (n > 0 && s[0] == '+') {
        s++;
        n--;
    }
    if (n == 0)
        return 0;
    unsigned long long v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = s[i] - '0';
        if (v > (ULLONG_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* The last stream key made, reused while lines repeat it (the usual case). */
static PyObject *line_last_key;

static PyObject *
line_key(const unsigned char *s, Py_ssize_t n)
{
    if (line_last_key != NULL && PyUnicode_GET_LENGTH(line_last_key) == n
        && memcmp(PyUnicode_DATA(line_last_key), s, n) == 0)
        return Py_NewRef(line_last_key);
    PyObject *key = PyUnicode_DecodeASCII((const char *)s, n, NULL);
    if (key != NULL)
        Py_XSETREF(line_last_key, Py_NewRef(key));
    return key;
}

/* One line -> new tuple, Py_None (Python decides), or NULL (an exception). */
static PyObject *
parse_one_line(PyObject *raw)
{
    if (!PyBytes_CheckExact(raw))
        Py_RETURN_NONE;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    if (!line_utf8_valid(s, n))
        Py_RETURN_NONE;
    const unsigned char *close = n > 1 && s[0] == '[' ? memchr(s + 1, ']', n - 1) : NULL;
    if (close == NULL || close == s + 1)  /* a raw line: the whole line is the payload */
        return PyTuple_Pack(5, Py_None, Py_None, Py_None, Py_None, raw);
    Py_ssize_t meta_end = close - s;
    for (Py_ssize_t i = 1; i < meta_end; i++)
        if (s[i] >= 0x80)
            Py_RETURN_NONE;
    /* the payload: from the first character after "]" that is not whitespace */
    Py_ssize_t p = meta_end + 1;
    while (p < n && line_ascii_ws(s[p]))
        p++;
    if (p < n && s[p] >= 0x80 && line_unicode_ws(line_code_point(s + p)))
        Py_RETURN_NONE;
    if (p == n)
        p = meta_end + 1;  /* all whitespace: kept as it is */
    long long ts = -1;
    PyObject *key = NULL;
    unsigned long long seq = 0, shard = 0;
    int state = 0;  /* as lines._state: 0 none, 1 ts, 2 key, 3 key+seq, 4 all */
    Py_ssize_t a = 1;
    while (a <= meta_end) {
        Py_ssize_t b = a;
        while (b < meta_end && s[b] != '|')
            b++;
        Py_ssize_t x = a, y = b;
        while (x < y && line_ascii_ws(s[x]))
            x++;
        while (y > x && line_ascii_ws(s[y - 1]))
            y--;
        Py_ssize_t len = y - x;
        if (state >= 4 || len == 0)
            goto python;
        int is_key = len <= 249;
        for (Py_ssize_t i = x; is_key && i < y; i++)
            is_key = line_key_char(s[i]);
        if (state == 0 && !is_key) {
            ts = line_timestamp(s + x, len);
            if (ts < 0)
                goto python;
            state = 1;
        }
        else if (state <= 1) {
            if (!is_key)
                goto python;
            key = line_key(s + x, len);
            if (key == NULL)
                return NULL;
            state = 2;
        }
        else {
            if (!line_u64(s + x, len, state == 2 ? &seq : &shard))
                goto python;
            state++;
        }
        a = b + 1;
    }
    PyObject *items[5] = {NULL, NULL, NULL, NULL, NULL};
    items[0] = ts >= 0 ? PyLong_FromLongLong(ts) : Py_NewRef(Py_None);
    items[1] = key != NULL ? key : Py_NewRef(Py_None);
    items[2] = state >= 3 ? PyLong_FromUnsignedLongLong(seq) : Py_NewRef(Py_None);
    items[3] = state >= 4 ? PyLong_FromUnsignedLongLong(shard) : Py_NewRef(Py_None);
    items[4] = PyBytes_FromStringAndSize((const char *)s + p, n - p);
    PyObject *tuple = PyTuple_New(5);
    for (int i = 0; i < 5; i++) {
        if (items[i] == NULL || tuple == NULL) {
            for (int j = 0; j < 5; j++)
                Py_XDECREF(items[j]);
            Py_XDECREF(tuple);
            return NULL;
        }
    }
    for (int i = 0; i < 5; i++)
        PyTuple_SET_ITEM(tuple, i, items[i]);
    return tuple;
python:
    Py_XDECREF(key);
    Py_RETURN_NONE;
}

static PyObject *
parse_lines(PyObject *mod, PyObject *lines)
{
    if (!PyList_CheckExact(lines))
        return PyErr_Format(PyExc_TypeError, "parse_lines() takes a list of bytes");
    Py_ssize_t count = PyList_GET_SIZE(lines);
    PyObject *out = PyList_New(count);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = parse_one_line(PyList_GET_ITEM(lines, i));
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* 1 if payload (valid UTF-8) is whitespace only (or empty), else 0 */
static int
line_all_ws(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            if (!line_ascii_ws(s[i]))
                return 0;
            i++;
        }
        else {
            if (!line_unicode_ws(line_code_point(s + i)))
                return 0;
            i += line_cp_len(s[i]);
        }
    }
    return 1;
}

static PyObject *
line_payload_ok(PyObject *mod, PyObject *payload)
{
    if (!PyBytes_CheckExact(payload))
        return PyErr_Format(PyExc_TypeError, "line_payload_ok() takes bytes");
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(payload);
    Py_ssize_t n = PyBytes_GET_SIZE(payload);
    if (memchr(s, '\n', n) != NULL || !line_utf8_valid(s, n))
        Py_RETURN_FALSE;
    if (n == 0)
        Py_RETURN_TRUE;
    uint32_t first = line_code_point(s);
    int leading = first < 0x80 ? line_ascii_ws((unsigned char)first) : line_unicode_ws(first);
    return PyBool_FromLong(!leading || line_all_ws(s, n));
}

static char *
line_put_u64(char *w, unsigned long long v)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        *w++ = tmp[--k];
    return w;
}

static char *
line_put2(char *w, int v)
{
    *w++ = (char)('0' + v / 10);
    *w++ = (char)('0' + v % 10);
    return w;
}

/* types.format_timestamp for 0 <= ms <= MAX_TIMESTAMP_MS: YYYY-MM-DDTHH:MM:SS.F, the
 * shortest exact fraction (".0" for whole seconds) */
static char *
line_put_timestamp(char *w, long long ms)
{
    long long z = ms / 86400000 + 719468, rem = ms % 86400000;
    long long era = z / 146097, doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int day = (int)(doy - (153 * mp + 2) / 5 + 1);
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    int year = (int)(yoe + era * 400 + (month <= 2));
    w = line_put2(w, year / 100);
    w = line_put2(w, year % 100);
    *w++ = '-';
    w = line_put2(w, month);
    *w++ = '-';
    w = line_put2(w, day);
    *w++ = 'T';
    w = line_put2(w, (int)(rem / 3600000));
    *w++ = ':';
    w = line_put2(w, (int)(rem / 60000 % 60));
    *w++ = ':';
    w = line_put2(w, (int)(rem / 1000 % 60));
    *w++ = '.';
    int milli = (int)(rem % 1000);
    *w++ = (char)('0' + milli / 100);
    if (milli % 100) {
        *w++ = (char)('0' + milli / 10 % 10);
        if (milli % 10)
            *w++ = (char)('0' + milli % 10);
    }
    return w;
}

static PyObject *
format_lines(PyObject *mod, PyObject *items)
{
    if (!PyList_CheckExact(items))
        return PyErr_Format(PyExc_TypeError, "format_lines() takes a list of tuples");
    Py_ssize_t count = PyList_GET_SIZE(items), size = 0;
    /* first pass: check every item, add up an upper bound of the size */
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *t = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 5)
            Py_RETURN_NONE;
        PyObject *key = PyTuple_GET_ITEM(t, 0), *payload = PyTuple_GET_ITEM(t, 4);
        if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key) || !PyBytes_CheckExact(payload)
            || !line_utf8_valid((const unsigned char *)PyBytes_AS_STRING(payload),
                                PyBytes_GET_SIZE(payload)))
            Py_RETURN_NONE;
        for (int f = 1; f <= 3; f++)
            if (!PyLong_CheckExact(PyTuple_GET_ITEM(t, f)))
                Py_RETURN_NONE;
        /* "[" ts(23) " | " key " | " u64(20) " | " u64(20) "] " payload "\n" */
        size += 1 + 23 + 3 + PyUnicode_GET_LENGTH(key) + 3 + 20 + 3 + 20 + 2
            + PyBytes_GET_SIZE(payload) + 1;
    }
    char *buf = PyMem_Malloc(size > 0 ? size : 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    char *w = buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *t = PyList_GET_ITEM(items, i);
        PyObject *key = PyTuple_GET_ITEM(t, 0), *payload = PyTuple_GET_ITEM(t, 4);
        int overflow = 0;
        long long ts = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(t, 3), &overflow);
        unsigned long long shard = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 1));
        unsigned long long seq = shard == (unsigned long long)-1 && PyErr_Occurred()
            ? 0 : PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(t, 2));
        if (PyErr_Occurred() || overflow || ts < 0 || ts > 253402300799999LL) {
            PyErr_Clear();  /* a negative or huge number: Python formats */
            PyMem_Free(buf);
            Py_RETURN_NONE;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(payload);
        Py_ssize_t plen = PyBytes_GET_SIZE(payload);
        *w++ = '[';
        w = line_put_timestamp(w, ts);
        memcpy(w, " | ", 3);
        w += 3;
        memcpy(w, PyUnicode_DATA(key), PyUnicode_GET_LENGTH(key));
        w += PyUnicode_GET_LENGTH(key);
        memcpy(w, " | ", 3);
        w = line_put_u64(w + 3, seq);
        memcpy(w, " | ", 3);
        w = line_put_u64(w + 3, shard);
        *w++ = ']';
        if (!line_all_ws(p, plen))  /* an empty or all-whitespace payload follows "]" */
            *w++ = ' ';
        memcpy(w, p, plen);
        w += plen;
        *w++ = '\n';
    }
    PyObject *out = PyBytes_FromStringAndSize(buf, w - buf);
    PyMem_Free(buf);
    return out;
}

/* line_messages(lines, start, counters, now, keys, broadcast, out) -> stop
 *
 * The stdio consumer's loop (ssfile/adapters/stdio.py, StdioStreamer._lines_each) over
 * lines[start:] for one consumer without group or shard filter: each line parsed as
 * parse_lines does, missing shard 0, missing sequence from counters[(key, shard)] (a dict of
 * ints; a line with a sequence sets it to sequence + 1), missing timestamp `now`, a line
 * without key a broadcast (key `broadcast`).  The Messages for the consumer (broadcasts, and
 * keys in `keys`) are appended to the list `out`.  Returns the index of the first line it
 * leaves to Python (one parse_lines hands back, or one without sequence whose counter is past
 * 2^64-1), len(lines) if none; counters holds every line before that index. */

typedef struct {
    PyObject *key;             /* strong reference, or NULL */
    unsigned long long shard;
    unsigned long long next;   /* the counter; `big`: 2^64 or more (from the dict or a max) */
    int big, dirty;
} LineCounter;

static int
line_counter_flush(LineCounter *c, PyObject *counters)
{
    if (c->key == NULL || !c->dirty)
        return 0;
    PyObject *shard = PyLong_FromUnsignedLongLong(c->shard), *value;
    if (c->big) {  /* set from sequence 2^64-1: the counter is 2^64 */
        PyObject *max = PyLong_FromUnsignedLongLong(ULLONG_MAX), *one = PyLong_FromLong(1);
        value = max && one ? PyNumber_Add(max, one) : NULL;
        Py_XDECREF(max);
        Py_XDECREF(one);
    }
    else
        value = PyLong_FromUnsignedLongLong(c->next);
    PyObject *tuple = shard && value ? PyTuple_Pack(2, c->key, shard) : NULL;
    int rc = tuple ? PyDict_SetItem(counters, tuple, value) : -1;
    Py_XDECREF(tuple);
    Py_XDECREF(shard);
    Py_XDECREF(value);
    c->dirty = 0;
    return rc;
}

/* make `c` the counter of (key, shard), read from the dict */
static int
line_counter_load(LineCounter *c, PyObject *counters, PyObject *key, unsigned long long shard)
{
    if (line_counter_flush(c, counters) < 0)
        return -1;
    PyObject *s = PyLong_FromUnsignedLongLong(shard);
    PyObject *tuple = s ? PyTuple_Pack(2, key, s) : NULL;
    Py_XDECREF(s);
    if (tuple == NULL)
        return -1;
    PyObject *value = PyDict_GetItemWithError(counters, tuple);
    Py_DECREF(tuple);
    if (value == NULL && PyErr_Occurred())
        return -1;
    Py_XSETREF(c->key, Py_NewRef(key));
    c->shard = shard;
    c->next = 0;
    c->big = 0;
    c->dirty = 0;
    if (value != NULL) {
        if (!PyLong_CheckExact(value))
            return PyErr_Format(PyExc_TypeError, "stdio counters hold ints"), -1;
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (overflow || v < 0) {
            unsigned long long u = PyLong_AsUnsignedLongLong(value);
            if (u == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();  /* 2^64 or more (or negative: never stored) */
                c->big = 1;
            }
            else
                c->next = u;
        }
        else
            c->next = (unsigned long long)v;
    }
    return 0;
}

static PyObject *
line_messages(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7)
        return PyErr_Format(PyExc_TypeError, "line_messages() takes 7 arguments");
    if (message.type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_decoder() first");
    PyObject *lines = args[0], *counters = args[2], *now = args[3], *keys = args[4];
    PyObject *broadcast = args[5], *out = args[6];
    if (!PyList_CheckExact(lines) || !PyDict_CheckExact(counters) || !PyLong_CheckExact(now)
            || !PyUnicode_CheckExact(broadcast) || !PyList_CheckExact(out))
        return PyErr_Format(PyExc_TypeError,
                            "line_messages(list, int, dict, int, keys, str, list)");
    Py_ssize_t start = PyLong_AsSsize_t(args[1]), count = PyList_GET_SIZE(lines), i;
    if (start == -1 && PyErr_Occurred())
        return NULL;
    LineCounter c = {NULL, 0, 0, 0, 0};
    PyObject *member_key = NULL;  /* the last key tested against `keys`, and the answer */
    int member = 0;
    for (i = start < 0 ? 0 : start; i < count; i++) {
        PyObject *fields = parse_one_line(PyList_GET_ITEM(lines, i));
        if (fields == NULL)
            goto error;
        if (fields == Py_None) {
            Py_DECREF(fields);
            break;
        }
        PyObject *ts = PyTuple_GET_ITEM(fields, 0), *key = PyTuple_GET_ITEM(fields, 1);
        PyObject *seq = PyTuple_GET_ITEM(fields, 2), *shard = PyTuple_GET_ITEM(fields, 3);
        PyObject *stream = key == Py_None ? broadcast : key;
        unsigned long long shard_v = shard == Py_None ? 0 : PyLong_AsUnsignedLongLong(shard);
        if (shard_v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(fields);
            goto error;
        }
        if (c.key == NULL || c.shard != shard_v
                || (c.key != stream && PyUnicode_Compare(c.key, stream) != 0)) {
            if (PyErr_Occurred() || line_counter_load(&c, counters, stream, shard_v) < 0) {
                Py_DECREF(fields);
                goto error;
            }
        }
        PyObject *seq_obj;
        if (seq == Py_None) {
            if (c.big) {  /* no sequence number left: Python reports the line */
                Py_DECREF(fields);
                break;
            }
            seq_obj = PyLong_FromUnsignedLongLong(c.next);
            if (c.next == ULLONG_MAX)
                c.big = 1;
            else
                c.next++;
        }
        else {
            unsigned long long v = PyLong_AsUnsignedLongLong(seq);
            if (v == (unsigned long long)-1 && PyErr_Occurred()) {
                Py_DECREF(fields);
                goto error;
            }
            seq_obj = Py_NewRef(seq);
            c.big = v == ULLONG_MAX;
            c.next = v + 1;
        }
        c.dirty = 1;
        int deliver = key == Py_None;
        if (!deliver) {
            if (key != member_key) {
                member = PySequence_Contains(keys, key);
                if (member < 0) {
                    Py_XDECREF(seq_obj);
                    Py_DECREF(fields);
                    goto error;
                }
                Py_XSETREF(member_key, Py_NewRef(key));
            }
            deliver = member;
        }
        if (deliver) {
            PyObject *values[6] = {
                Py_NewRef(stream),
                shard == Py_None ? PyLong_FromLong(0) : Py_NewRef(shard),
                seq_obj,
                Py_NewRef(ts == Py_None ? now : ts),
                Py_NewRef(PyTuple_GET_ITEM(fields, 4)),
                Py_NewRef(Py_None),
            };
            PyObject *msg = slots_new(&message, values, 6);
            if (msg == NULL || PyList_Append(out, msg) < 0) {
                Py_XDECREF(msg);
                Py_DECREF(fields);
                goto error;
            }
            Py_DECREF(msg);
        }
        else
            Py_XDECREF(seq_obj);
        if (seq_obj == NULL) {
            Py_DECREF(fields);
            goto error;
        }
        Py_DECREF(fields);
    }
    Py_XDECREF(member_key);
    int rc = line_counter_flush(&c, counters);
    Py_XDECREF(c.key);
    return rc < 0 ? NULL : PyLong_FromSsize_t(i);
error:
    Py_XDECREF(member_key);
    Py_XDECREF(c.key);
    return NULL;
}

/* ==== end of stdio lines =================================================================== */

/* ---- Kafka records -> Message ------------------------------------------------------------
 *
 * kafka_messages(records, start, keys, out, tops) -> index
 *
 * The Kafka consumer's hot loop (ssfile/adapters/kafka/fetch.py): for each confluent-kafka
 * record of the list `records` from `start` on, while its error() is None and its topic() is
 * in the dict `keys` (topic -> stream key), appends Message(key, partition(), offset(),
 * timestamp ms (0 when the record has none), value() or b"", None) to the list `out`, and
 * sets tops[(key, partition)] to one past the last offset taken of each partition, and
 * replaces each record taken in `records` by None (freed at once).  Returns
 * the index of the first record it did not take (an error or end-of-partition event, a topic
 * not in `keys`, anything unusual: Python handles it and calls again after it), or
 * len(records).  Messages are built as the decoder builds them (configure_decoder). */

static PyObject *kafka_names[6];  /* interned: error topic partition offset timestamp value */

/* The record type's six methods, looked up once: calling a method descriptor directly
 * skips the attribute lookup PyObject_CallMethodNoArgs makes per call (six per record).
 * Only for an immutable type whose six attributes are C method descriptors with vectorcall
 * (confluent_kafka.cimpl.Message); any other record goes through the generic call. */
static PyTypeObject *kafka_type;
static PyObject *kafka_descrs[6];
static vectorcallfunc kafka_vcalls[6];

static void
kafka_learn_type(PyTypeObject *type)
{
    PyObject *descrs[6] = {NULL};
    if (!PyType_HasFeature(type, Py_TPFLAGS_IMMUTABLETYPE))
        return;
    for (int k = 0; k < 6; k++) {
        descrs[k] = PyObject_GetAttr((PyObject *)type, kafka_names[k]);
        if (descrs[k] == NULL || !Py_IS_TYPE(descrs[k], &PyMethodDescr_Type)
                || PyVectorcall_Function(descrs[k]) == NULL) {
            PyErr_Clear();
            for (int j = 0; j <= k; j++)
                Py_XDECREF(descrs[j]);
            return;
        }
    }
    for (int k = 0; k < 6; k++) {
        Py_XSETREF(kafka_descrs[k], descrs[k]);
        kafka_vcalls[k] = PyVectorcall_Function(descrs[k]);
    }
    Py_INCREF(type);
    Py_XSETREF(kafka_type, type);
}

static inline PyObject *
kafka_call(PyObject *r, int k)
{
    if (Py_TYPE(r) == kafka_type)
        return kafka_vcalls[k](kafka_descrs[k], &r, 1, NULL);
    return PyObject_CallMethodNoArgs(r, kafka_names[k]);
}

static int
kafka_top(PyObject *tops, PyObject *key, PyObject *partition, long long next)
{
    PyObject *pair = PyTuple_Pack(2, key, partition);
    PyObject *v = pair ? PyLong_FromLongLong(next) : NULL;
    int rc = v ? PyDict_SetItem(tops, pair, v) : -1;
    Py_XDECREF(pair);
    Py_XDECREF(v);
    return rc;
}

/* a and b are equal exact str objects (same kind, length and code units) */
static inline int
same_str(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    int kind = PyUnicode_KIND(a);
    return n == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b)
           && memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
}

static PyObject *
kafka_messages(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5)
        return PyErr_Format(PyExc_TypeError, "kafka_messages() takes 5 arguments");
    if (message.type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_decoder() first");
    PyObject *records = args[0], *keys = args[2], *out = args[3], *tops = args[4];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(records) || !PyDict_CheckExact(keys) || !PyList_CheckExact(out)
            || !PyDict_CheckExact(tops))
        return PyErr_Format(PyExc_TypeError, "kafka_messages(list, int, dict, list, dict)");
    if (kafka_names[0] == NULL) {
        const char *names[6] = {"error", "topic", "partition", "offset", "timestamp", "value"};
        for (int k = 0; k < 6; k++)
            if ((kafka_names[k] = PyUnicode_InternFromString(names[k])) == NULL)
                return NULL;
    }
    PyObject *last_key = NULL, *last_part = NULL;  /* borrowed: the run being taken */
    long long last_next = 0;
    PyTypeObject *last_unknown = NULL;  /* a record type found unfit for kafka_call's path */
    PyObject *last_topic = NULL, *last_topic_key = NULL;  /* the last topic looked up: its key */
    Py_ssize_t n = PyList_GET_SIZE(records);
    for (; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(records, i);
        if (Py_TYPE(r) != kafka_type && Py_TYPE(r) != last_unknown) {
            kafka_learn_type(Py_TYPE(r));
            last_unknown = Py_TYPE(r);  /* not looked up again in this call */
        }
        PyObject *err = kafka_call(r, 0);
        if (err == NULL)
            goto fail;
        Py_DECREF(err);
        if (err != Py_None)
            break;
        PyObject *topic = kafka_call(r, 1);
        if (topic == NULL)
            goto fail;
        PyObject *key;  /* borrowed, kept by `keys` */
        if (last_topic != NULL && same_str(topic, last_topic)) {
            key = last_topic_key;  /* each record has its own copy of the name: no hashing */
            Py_DECREF(topic);
        }
        else {
            key = PyDict_GetItemWithError(keys, topic);
            if (key == NULL) {
                Py_DECREF(topic);
                if (PyErr_Occurred())
                    goto fail;
                break;
            }
            Py_XSETREF(last_topic, topic);
            last_topic_key = key;
        }
        PyObject *v[6] = {Py_NewRef(key), NULL, NULL, NULL, NULL, Py_NewRef(Py_None)};
        v[1] = kafka_call(r, 2);
        v[2] = kafka_call(r, 3);
        PyObject *ts = kafka_call(r, 4);
        if (ts != NULL && PyTuple_CheckExact(ts) && PyTuple_GET_SIZE(ts) == 2) {
            int kind = PyObject_IsTrue(PyTuple_GET_ITEM(ts, 0));
            if (kind >= 0)
                v[3] = kind ? Py_NewRef(PyTuple_GET_ITEM(ts, 1)) : PyLong_FromLong(0);
        } else if (ts != NULL) {
            PyErr_SetString(PyExc_TypeError, "record timestamp() is not a pair");
        }
        Py_XDECREF(ts);
        PyObject *value = v[3] ? kafka_call(r, 5) : NULL;
        if (value == Py_None) {
            Py_DECREF(value);
            value = PyBytes_FromStringAndSize(NULL, 0);
        }
        v[4] = value;
        long long offset = v[2] ? PyLong_AsLongLong(v[2]) : -1;
        if (offset == -1 && PyErr_Occurred()) {
            for (int k = 0; k < 6; k++)
                Py_XDECREF(v[k]);
            goto fail;
        }
        PyObject *part = v[1];  /* borrowed below from the new message */
        PyObject *m = slots_new(&message, v, 6);
        if (m == NULL)
            goto fail;
        int rc = PyList_Append(out, m);
        Py_DECREF(m);
        if (rc < 0)
            goto fail;
        /* the record is spent: free it now (the list held the only reference), so that
         * records and messages are not alive together (each is a GC-tracked object: a
         * thousand of each made the collector run twice as often) */
        PyList_SET_ITEM(records, i, Py_NewRef(Py_None));
        Py_DECREF(r);
        if (last_key != NULL && (last_key != key
                                 || PyObject_RichCompareBool(last_part, part, Py_EQ) != 1)) {
            if (PyErr_Occurred() || kafka_top(tops, last_key, last_part, last_next) < 0)
                goto fail;
        }
        last_key = key;
        last_part = part;  /* kept alive by the message in `out` */
        last_next = offset + 1;
    }
    Py_XDECREF(last_topic);
    if (last_key != NULL && kafka_top(tops, last_key, last_part, last_next) < 0)
        return NULL;
    return PyLong_FromSsize_t(i);
fail:
    Py_XDECREF(last_topic);
    return NULL;
}

/* ---- consumer iteration -------------------------------------------------------------------
 *
 * BatchIter(refill): the async iterator of `async for m in consumer` (ssfile.streamer.api).
 * It hands out the messages of the batch it holds without a coroutine per message: its
 * __anext__ returns the iterator itself as an awaitable that completes at once (am_send
 * returns the message, no StopIteration is raised).  When the batch is spent, __anext__
 * returns refill(self), a coroutine that awaits the consumer's next_batch(), load()s the rest
 * of it here and returns its first message (or raises StopAsyncIteration at the end).  The
 * pure twin is ssfile.streamer.api.BatchIterator.
 *
 * A message taken by __anext__ stays pending until awaited: an awaitable dropped unawaited
 * (a task cancelled before it ran) leaves it to the next __anext__, so nothing is skipped. */

typedef struct {
    PyObject_HEAD
    PyObject *refill;   /* refill(iterator) -> awaitable */
    PyObject *batch;    /* list or NULL */
    Py_ssize_t pos;     /* next index in batch */
    PyObject *pending;  /* the message the awaitable returns, or NULL */
} BatchIter;

static int
batch_iter_init(BatchIter *self, PyObject *args, PyObject *kwds)
{
    PyObject *refill;
    if (!PyArg_ParseTuple(args, "O:BatchIter", &refill))
        return -1;
    Py_XSETREF(self->refill, Py_NewRef(refill));
    return 0;
}

static int
batch_iter_traverse(BatchIter *self, visitproc visit, void *arg)
{
    Py_VISIT(self->refill);
    Py_VISIT(self->batch);
    Py_VISIT(self->pending);
    return 0;
}

static int
batch_iter_clear(BatchIter *self)
{
    Py_CLEAR(self->refill);
    Py_CLEAR(self->batch);
    Py_CLEAR(self->pending);
    return 0;
}

static void
batch_iter_dealloc(BatchIter *self)
{
    PyObject_GC_UnTrack(self);
    batch_iter_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* the next message of the batch held (a new reference), or NULL when it is spent */
static PyObject *
batch_iter_take(BatchIter *self)
{
    if (self->batch == NULL)
        return NULL;
    if (self->pos < PyList_GET_SIZE(self->batch))
        return Py_NewRef(PyList_GET_ITEM(self->batch, self->pos++));
    Py_CLEAR(self->batch);
    return NULL;
}

static PyObject *
batch_iter_anext(BatchIter *self)
{
    if (self->pending == NULL)
        self->pending = batch_iter_take(self);
    if (self->pending != NULL)
        return Py_NewRef(self);
    if (self->refill == NULL)
        return PyErr_Format(PyExc_RuntimeError, "BatchIter not initialised");
    return PyObject_CallOneArg(self->refill, (PyObject *)self);
}

static PyObject *
batch_iter_await(BatchIter *self)
{
    return Py_NewRef(self);
}

static PyObject *
batch_iter_aiter(BatchIter *self)
{
    return Py_NewRef(self);
}

/* the awaitable's result: the pending message, else the next of the batch */
static PyObject *
batch_iter_result(BatchIter *self)
{
    PyObject *m = self->pending;
    self->pending = NULL;
    if (m == NULL)
        m = batch_iter_take(self);
    if (m == NULL)
        PyErr_SetString(PyExc_RuntimeError,
                        "no message ready: await each __anext__() of a consumer once");
    return m;
}

static PySendResult
batch_iter_send(BatchIter *self, PyObject *arg, PyObject **result)
{
    *result = batch_iter_result(self);
    return *result == NULL ? PYGEN_ERROR : PYGEN_RETURN;
}

static PyObject *
batch_iter_iternext(BatchIter *self)
{
    /* awaited by a driver that does not use am_send: the value travels in StopIteration */
    PyObject *m = batch_iter_result(self);
    if (m == NULL)
        return NULL;
    PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, m);
    Py_DECREF(m);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyObject *
batch_iter_load(BatchIter *self, PyObject *args)
{
    PyObject *batch;
    Py_ssize_t pos = 0;
    if (!PyArg_ParseTuple(args, "O!|n:load", &PyList_Type, &batch, &pos))
        return NULL;
    Py_XSETREF(self->batch, Py_NewRef(batch));
    self->pos = pos < 0 ? 0 : pos;
    Py_RETURN_NONE;
}

static PyMethodDef batch_iter_methods[] = {
    {"load", (PyCFunction)batch_iter_load, METH_VARARGS,
     "load(batch, pos=0): the messages the next __anext__() calls hand out, from batch[pos]"},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods batch_iter_async = {
    .am_await = (unaryfunc)batch_iter_await,
    .am_aiter = (unaryfunc)batch_iter_aiter,
    .am_anext = (unaryfunc)batch_iter_anext,
    .am_send = (sendfunc)batch_iter_send,
};

static PyTypeObject BatchIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ssfile._speedups.BatchIter",
    .tp_basicsize = sizeof(BatchIter),
    .tp_dealloc = (destructor)batch_iter_dealloc,
    .tp_as_async = &batch_iter_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "BatchIter(refill): async iterator over a consumer's batches (see the C source)",
    .tp_traverse = (traverseproc)batch_iter_traverse,
    .tp_clear = (inquiry)batch_iter_clear,
    .tp_iter = (getiterfunc)batch_iter_await,
    .tp_iternext = (iternextfunc)batch_iter_iternext,
    .tp_methods = batch_iter_methods,
    .tp_init = (initproc)batch_iter_init,
    .tp_new = PyType_GenericNew,
};

/* ---- module ------------------------------------------------------------------------------- */

static PyObject *
py_crc16(PyObject *mod, PyObject *args)
{
    Py_buffer view;
    unsigned int initial = 0xFFFF;
    if (!PyArg_ParseTuple(args, "y*|I", &view, &initial))
        return NULL;
    uint16_t crc = crc16_fast(view.buf, view.len, (uint16_t)initial);
    PyBuffer_Release(&view);
    return PyLong_FromLong(crc);
}

static PyMethodDef methods[] = {
    {"configure_decoder", configure_decoder, METH_VARARGS,
     "configure_decoder(Message, max_timestamp_ms, eos_key: bytes, eos_payload: bytes)"},
    {"configure_encoder", configure_encoder, METH_VARARGS,
     "configure_encoder(StreamState, max_timestamp_ms, max_payload, reserved_key, crc=None)"},
    {"scan_frames", (PyCFunction)(void (*)(void))scan_frames, METH_FASTCALL,
     "scan_frames(buf, pos, seg_end, base, keys, check_crc, out, limit) -> new pos"},
    {"encode_frame", (PyCFunction)(void (*)(void))encode_frame, METH_FASTCALL,
     "encode_frame(buf, used, keys, streams, key, shard, seq, ts, payload, offset, interval)"
     " -> (new offset, crc) or None"},
    {"resync_candidate", (PyCFunction)(void (*)(void))resync_candidate, METH_FASTCALL,
     "resync_candidate(buf, start, stop, seg, size, can_cross) -> index or -1"},
    {"crc16", py_crc16, METH_VARARGS, "crc16(data, initial=0xFFFF): CRC-16/CDMA2000"},
    {"crc16_table", py_crc16_table, METH_VARARGS,
     "crc16_table(data, initial=0xFFFF): the table kernel alone"},
    {"scan_columns", (PyCFunction)(void (*)(void))scan_columns, METH_FASTCALL,
     "scan_columns(buf, phys, logical, length, pos, stop, keys, names, streams, shards, since,"
     " until, check_crc, max_ts, internal, columns, row, pbuf, pfill)"
     " -> (pos, row, pfill, reason, need)"},
    {"datetime_from_ms", datetime_from_ms, METH_O,
     "datetime_from_ms(ms) -> aware UTC datetime, or None outside 0 .. MAX_TIMESTAMP_MS"},
    {"configure_timestamp", configure_timestamp, METH_O,
     "configure_timestamp(fallback): fallback(message) for what message_timestamp leaves"},
    {"message_timestamp", message_timestamp, METH_O,
     "message_timestamp(message) -> message.timestamp (a property getter)"},
    {"split_payloads", (PyCFunction)(void (*)(void))split_payloads, METH_FASTCALL,
     "split_payloads(buf, lengths, count) -> list of bytes"},
    {"parse_lines", parse_lines, METH_O,
     "parse_lines(list of bytes) -> list of (ts, key, seq, shard, payload) or None"},
    {"line_payload_ok", line_payload_ok, METH_O,
     "line_payload_ok(payload) -> whether a stdio line can carry it"},
    {"format_lines", format_lines, METH_O,
     "format_lines(list of (key, shard, seq, ts, payload)) -> bytes or None"},
    {"line_messages", (PyCFunction)(void (*)(void))line_messages, METH_FASTCALL,
     "line_messages(lines, start, counters, now, keys, broadcast, out) -> stop"},
    {"kafka_messages", (PyCFunction)(void (*)(void))kafka_messages, METH_FASTCALL,
     "kafka_messages(records, start, keys, out, tops) -> index of the first record not taken"},
    {"json_field", (PyCFunction)(void (*)(void))json_field, METH_FASTCALL,
     "json_field(buf, lengths, parts, values, status): the number at a JSON path per payload"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "ssfile._speedups",
    "Optional C twins of the codec's hot loops (see ssfile/_speedups.c).", -1, methods,
    NULL, NULL, NULL, NULL,   /* m_slots, m_traverse, m_clear, m_free: every field given */
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    crc_make_table();
    crc_fast_init();
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    key_bytes_init();
    if (PyType_Ready(&BatchIterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && (PyModule_AddIntConstant(m, "ABI_VERSION", ABI_VERSION) < 0
                      || PyModule_AddObjectRef(m, "BatchIter", (PyObject *)&BatchIterType) < 0))
        Py_CLEAR(m);
    return m;
}
