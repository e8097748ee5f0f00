/*
 * ssfile._speedups: optional C twins of the codec's two hot loops.
 *
 *   scan_frames   the decoder's inner loop over one stretch between beacons
 *                 (ssfile/codec/decoder.py, Decoder._decode);
 *   encode_frame  the encoder's common case, a frame that ends before the next beacon
 *                 (ssfile/codec/encoder.py, Encoder.encode).
 *
 * and one twin of a search: resync_candidate, the cheap test that picks positions worth a
 * full read after damage (ssfile/codec/resync.py, _candidate_pure; same result).
 *
 * Both do the common case only.  Anything else (a frame cut by a beacon or by the end of the
 * data, a key not seen yet, a bad timestamp, a checksum mismatch, the EOS frame, an argument
 * out of range) is handed back to the Python code untouched: scan_frames stops before that
 * frame, encode_frame returns None having changed nothing.  The Python code then does what it
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

#define ABI_VERSION 2
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
        if (check && ((b[p1] << 8) | b[p1 + 1]) != crc16(b + p0, p1 - p0, 0xFFFF))
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

static PyObject *
configure_encoder(PyObject *mod, PyObject *args)
{
    PyObject *type, *reserved;
    unsigned long long max_ts, max_len;
    if (!PyArg_ParseTuple(args, "OKKO!", &type, &max_ts, &max_len, &PyBytes_Type, &reserved))
        return NULL;
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

/* encode_frame(buf, keys, streams, key, shard, seq, ts, payload, offset, interval)
 *     -> (new offset, payload crc) or None
 *
 * Encoder.encode's common case: the key's bytes are in `keys` (and are not the reserved key
 * SEA_STREAMER_INTERNAL: Python refuses it, or writes the EOS frame), its (key, shard) state in
 * `streams`, every value in range, and the frame ends before the next beacon.  Appends the
 * frame to the bytearray `buf` and updates the stream's state (largest sequence and timestamp,
 * running checksum, count).  Returns None, having changed nothing, in any other case. */
static PyObject *
encode_frame(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10)
        return PyErr_Format(PyExc_TypeError, "encode_frame() takes 10 arguments");
    if (stream_state.type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "call configure_encoder() first");
    PyObject *buf = args[0], *keys = args[1], *streams = args[2], *key = args[3];
    PyObject *shard = args[4], *seq = args[5], *ts = args[6], *payload = args[7];
    long long offset = PyLong_AsLongLong(args[8]), interval = PyLong_AsLongLong(args[9]);
    if (PyErr_Occurred())
        return NULL;
    uint64_t shard_v, seq_v, ts_v, old_seq, old_ts;
    if (!PyByteArray_CheckExact(buf) || !PyDict_CheckExact(keys) || !PyDict_CheckExact(streams)
            || !PyUnicode_CheckExact(key) || !PyBytes_CheckExact(payload) || interval <= 0
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
    if (size >= interval - offset % interval)  /* reaches a beacon: Python places it */
        Py_RETURN_NONE;
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
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(payload);
    uint16_t crc = crc16(data, n, 0xFFFF);
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
    int grown = new_running_o && new_count_o && result
                && PyByteArray_Resize(buf, old_len + size) == 0;
    if (!grown) {  /* out of memory, or `buf` is exported: Python meets the same error */
        Py_XDECREF(new_running_o);
        Py_XDECREF(new_count_o);
        Py_XDECREF(result);
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    unsigned char *w = (unsigned char *)PyByteArray_AS_STRING(buf) + old_len;
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

/* ---- module ------------------------------------------------------------------------------- */

static PyObject *
py_crc16(PyObject *mod, PyObject *args)
{
    Py_buffer view;
    unsigned int initial = 0xFFFF;
    if (!PyArg_ParseTuple(args, "y*|I", &view, &initial))
        return NULL;
    uint16_t crc = crc16(view.buf, view.len, (uint16_t)initial);
    PyBuffer_Release(&view);
    return PyLong_FromLong(crc);
}

static PyMethodDef methods[] = {
    {"configure_decoder", configure_decoder, METH_VARARGS,
     "configure_decoder(Message, max_timestamp_ms, eos_key: bytes, eos_payload: bytes)"},
    {"configure_encoder", configure_encoder, METH_VARARGS,
     "configure_encoder(StreamState, max_timestamp_ms, max_payload, reserved_key)"},
    {"scan_frames", (PyCFunction)(void (*)(void))scan_frames, METH_FASTCALL,
     "scan_frames(buf, pos, seg_end, base, keys, check_crc, out, limit) -> new pos"},
    {"encode_frame", (PyCFunction)(void (*)(void))encode_frame, METH_FASTCALL,
     "encode_frame(buf, keys, streams, key, shard, seq, ts, payload, offset, interval)"
     " -> (new offset, crc) or None"},
    {"resync_candidate", (PyCFunction)(void (*)(void))resync_candidate, METH_FASTCALL,
     "resync_candidate(buf, start, stop, seg, size, can_cross) -> index or -1"},
    {"crc16", py_crc16, METH_VARARGS, "crc16(data, initial=0xFFFF): CRC-16/CDMA2000"},
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
    key_bytes_init();
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "ABI_VERSION", ABI_VERSION) < 0)
        Py_CLEAR(m);
    return m;
}
