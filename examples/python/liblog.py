"""liblog.py -- a Python binding of liblog through ctypes (no compiled code).

Role: prove the public ABI is FFI-friendly -- every call here goes through
ctypes to an exported lg_ function: handles are opaque pointers, lengths are
explicit, nothing is passed by value as a struct, there are no varargs.  It
covers the engine (open/close, topics, append/read, statistics, the log
callback), producers with delivery reports, and consumers (assign, poll,
poll_batch, seek) and consumer groups (subscribe with a rebalance callback,
commit, committed, assignment, group listing).

Invariants:
  * Every ctypes callback object (CFUNCTYPE) is kept referenced by the
    Python object that registered it for as long as the library may call it.
  * Messages are copied into Python objects before the next poll, since the
    library's message memory lives only until then.
  * Handles are released by close() (also on garbage collection and on
    leaving a with block); destroy order does not matter.
  * Delivery reports and stats reports are served on the thread that calls
    Producer.poll()/flush() or Engine.poll(), as in C.  The log callback may
    run on a library thread (ctypes takes the GIL for it).

The library is loaded from $LIBLOG_PATH when set, else "liblog.so.1".
"""

import ctypes
import ctypes.util
import itertools
import json
import os
import threading
import weakref

__all__ = ["LiblogError", "Engine", "Producer", "Consumer", "Message",
           "ACKS_NONE", "ACKS_LEADER", "ACKS_ALL", "OFFSET_BEGINNING",
           "OFFSET_END", "PARTITION_ANY", "TIMESTAMP_NOW"]

ACKS_NONE, ACKS_LEADER, ACKS_ALL = 0, 1, -1
OFFSET_BEGINNING, OFFSET_END = -2, -1
PARTITION_ANY = -1
TIMESTAMP_NOW = -(2 ** 63)
ERR_PARTITION_EOF = 21
ERR_ASSIGN_PARTITIONS, ERR_REVOKE_PARTITIONS = 25, 26
OFFSET_STORED, OFFSET_INVALID = -1000, -1001

_lib = ctypes.CDLL(os.environ.get("LIBLOG_PATH") or "liblog.so.1")

_p = ctypes.c_void_p
_char_p = ctypes.c_char_p
_size = ctypes.c_size_t
_i32, _i64, _int = ctypes.c_int32, ctypes.c_int64, ctypes.c_int

LOG_FN = ctypes.CFUNCTYPE(None, _p, _int, _char_p)
STATS_FN = ctypes.CFUNCTYPE(None, _p, _char_p, _size)
DELIVERY_FN = ctypes.CFUNCTYPE(None, _p, _int, _char_p, _i32, _i64, _p)
REBALANCE_FN = ctypes.CFUNCTYPE(None, _p, _p, _int, _p)
COMMIT_FN = ctypes.CFUNCTYPE(None, _p, _p, _int, _p)


def _bind(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_version = _bind("lg_version", _char_p)
_err_name = _bind("lg_err_name", _char_p, _int)
_last_error = _bind("lg_last_error_message", _char_p)
_conf_new = _bind("lg_conf_new", _p)
_conf_destroy = _bind("lg_conf_destroy", None, _p)
_conf_set = _bind("lg_conf_set", _int, _p, _char_p, _char_p)
_conf_set_log = _bind("lg_conf_set_log_callback", _int, _p, LOG_FN, _p)
_conf_set_stats = _bind("lg_conf_set_stats_callback", _int, _p, STATS_FN, _p)
_engine_open = _bind("lg_engine_open", _int, _char_p, _p, ctypes.POINTER(_p))
_engine_close = _bind("lg_engine_close", _int, _p)
_engine_backend = _bind("lg_engine_io_backend", _char_p, _p)
_engine_poll = _bind("lg_engine_poll", _int, _p, _int)
_stats_json = _bind("lg_engine_stats_json", _int, _p, ctypes.POINTER(_p))
_stats_prom = _bind("lg_engine_stats_prometheus", _int, _p,
                    ctypes.POINTER(_p))
_free_string = _bind("lg_free_string", None, _p)
_topic_create = _bind("lg_topic_create", _int, _p, _char_p, _i32, _p)
_topic_count = _bind("lg_topic_partition_count", _int, _p, _char_p,
                     ctypes.POINTER(_i32))
_topic_list = _bind("lg_topic_list", _int, _p, ctypes.POINTER(_p))
_topic_delete = _bind("lg_topic_delete", _int, _p, _char_p)
_strings_count = _bind("lg_strings_count", _size, _p)
_strings_get = _bind("lg_strings_get", _char_p, _p, _size)
_strings_destroy = _bind("lg_strings_destroy", None, _p)
_records_new = _bind("lg_records_new", _p)
_records_destroy = _bind("lg_records_destroy", None, _p)
_records_add = _bind("lg_records_add", _int, _p, _char_p, _size, _char_p,
                     _size, _i64)
_records_add_header = _bind("lg_records_add_header", _int, _p, _char_p, _size,
                            _char_p, _size)
_append = _bind("lg_append", _int, _p, _char_p, _i32, _p, _int,
                ctypes.POINTER(_i64))
_read = _bind("lg_read", _int, _p, _char_p, _i32, _i64, _size,
              ctypes.POINTER(_p))
_read_committed = _bind("lg_read_committed", _int, _p, _char_p, _i32, _i64,
                        _size, ctypes.POINTER(_p))
_fetch_next = _bind("lg_fetch_next", _int, _p, ctypes.POINTER(_p))
_fetch_destroy = _bind("lg_fetch_destroy", None, _p)
_watermarks = _bind("lg_watermarks", _int, _p, _char_p, _i32,
                    ctypes.POINTER(_i64), ctypes.POINTER(_i64))
_msg_offset = _bind("lg_message_offset", _i64, _p)
_msg_timestamp = _bind("lg_message_timestamp", _i64, _p, ctypes.POINTER(_int))
_msg_key = _bind("lg_message_key", _p, _p, ctypes.POINTER(_size))
_msg_value = _bind("lg_message_value", _p, _p, ctypes.POINTER(_size))
_msg_header_count = _bind("lg_message_header_count", _size, _p)
_msg_header = _bind("lg_message_header", _int, _p, _size,
                    ctypes.POINTER(_p), ctypes.POINTER(_size),
                    ctypes.POINTER(_p), ctypes.POINTER(_size))
_msg_topic = _bind("lg_message_topic", _char_p, _p)
_msg_partition = _bind("lg_message_partition", _i32, _p)
_msg_error = _bind("lg_message_error", _int, _p)
_producer_new = _bind("lg_producer_new", _int, _p, _p, ctypes.POINTER(_p))
_producer_set_cb = _bind("lg_producer_set_delivery_callback", _int, _p,
                         DELIVERY_FN, _p)
_produce = _bind("lg_produce", _int, _p, _char_p, _i32, _char_p, _size,
                 _char_p, _size, _i64, _p)
_produce_records = _bind("lg_produce_records", _int, _p, _char_p, _i32, _p,
                         _p)
_producer_poll = _bind("lg_producer_poll", _int, _p, _int)
_producer_flush = _bind("lg_producer_flush", _int, _p, _int)
_producer_queue_length = _bind("lg_producer_queue_length", _size, _p)
_producer_destroy = _bind("lg_producer_destroy", None, _p)
_consumer_new = _bind("lg_consumer_new", _int, _p, _p, ctypes.POINTER(_p))
_consumer_assign = _bind("lg_consumer_assign", _int, _p, _char_p, _i32, _i64)
_consumer_unassign = _bind("lg_consumer_unassign", _int, _p, _char_p, _i32)
_consumer_seek = _bind("lg_consumer_seek", _int, _p, _char_p, _i32, _i64)
_consumer_position = _bind("lg_consumer_position", _int, _p, _char_p, _i32,
                           ctypes.POINTER(_i64))
_consumer_poll = _bind("lg_consumer_poll", _int, _p, _int, ctypes.POINTER(_p))
_consumer_poll_batch = _bind("lg_consumer_poll_batch", _int, _p, _int,
                             ctypes.POINTER(_p), _size, ctypes.POINTER(_size))
_consumer_wakeup = _bind("lg_consumer_wakeup", None, _p)
_consumer_destroy = _bind("lg_consumer_destroy", None, _p)
_tpl_new = _bind("lg_topic_partition_list_new", _p)
_tpl_destroy = _bind("lg_topic_partition_list_destroy", None, _p)
_tpl_add = _bind("lg_topic_partition_list_add", _int, _p, _char_p, _i32, _i64)
_tpl_count = _bind("lg_topic_partition_list_count", _size, _p)
_tpl_topic = _bind("lg_topic_partition_list_topic", _char_p, _p, _size)
_tpl_partition = _bind("lg_topic_partition_list_partition", _i32, _p, _size)
_tpl_offset = _bind("lg_topic_partition_list_offset", _i64, _p, _size)
_consumer_set_rebalance = _bind("lg_consumer_set_rebalance_callback", _int,
                                _p, REBALANCE_FN, _p)
_consumer_set_commit = _bind("lg_consumer_set_commit_callback", _int, _p,
                             COMMIT_FN, _p)
_consumer_subscribe = _bind("lg_consumer_subscribe", _int, _p,
                            ctypes.POINTER(_char_p), _size)
_consumer_unsubscribe = _bind("lg_consumer_unsubscribe", _int, _p)
_consumer_protocol = _bind("lg_consumer_rebalance_protocol", _char_p, _p)
_consumer_incremental_assign = _bind("lg_consumer_incremental_assign", _int,
                                     _p, _p)
_consumer_incremental_unassign = _bind("lg_consumer_incremental_unassign",
                                       _int, _p, _p)
_consumer_assignment = _bind("lg_consumer_assignment", _int, _p,
                             ctypes.POINTER(_p))
_consumer_commit = _bind("lg_consumer_commit", _int, _p, _p, _int)
_consumer_committed = _bind("lg_consumer_committed", _int, _p, _p)
_group_list = _bind("lg_group_list", _int, _p, ctypes.POINTER(_p))


def _tpl_to_python(handle):
    """[(topic, partition, offset)] from an lg_topic_partition_list_t."""
    return [(_tpl_topic(handle, i).decode(), _tpl_partition(handle, i),
             _tpl_offset(handle, i)) for i in range(_tpl_count(handle))]


def _tpl_from_python(entries):
    """A new lg_topic_partition_list_t from (topic, partition[, offset])
    tuples (offset defaults to OFFSET_STORED); caller destroys it."""
    handle = _tpl_new()
    if not handle:
        raise MemoryError("lg_topic_partition_list_new")
    try:
        for entry in entries:
            offset = entry[2] if len(entry) > 2 else OFFSET_STORED
            _check(_tpl_add(handle, _b(entry[0]), entry[1], offset))
    except BaseException:
        _tpl_destroy(handle)
        raise
    return handle


def version():
    """The loaded library's version string, e.g. "1.0.0"."""
    return _version().decode()


class LiblogError(Exception):
    """A failed lg_ call: code (lg_err_t), name ("LG_ERR_...") and the
    library's message for the calling thread."""

    def __init__(self, code, message=None):
        self.code = code
        self.name = _err_name(code).decode()
        self.message = message if message is not None else \
            _last_error().decode(errors="replace")
        super().__init__("%s: %s" % (self.name, self.message))


def _check(code):
    if code != 0:
        raise LiblogError(code)


def _b(text):
    return text.encode() if isinstance(text, str) else text


def _bytes_arg(data):
    """(pointer, length) for an optional bytes/str value (None = null)."""
    if data is None:
        return None, 0
    data = _b(data)
    return data, len(data)


def _make_conf(config):
    """A new lg_conf_t holding config (a dict of property -> value)."""
    conf = _conf_new()
    if not conf:
        raise MemoryError("lg_conf_new")
    try:
        for name, value in (config or {}).items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            _check(_conf_set(conf, _b(name), _b(str(value))))
    except BaseException:
        _conf_destroy(conf)
        raise
    return conf


def _take_string(pointer):
    try:
        return ctypes.string_at(pointer).decode()
    finally:
        _free_string(pointer)


class Message:
    """A record (or event) copied out of the library: topic, partition,
    offset, timestamp, timestamp_type (0 CreateTime, 1 LogAppendTime), key
    and value (bytes or None), headers (list of (name, bytes or None)), and
    error (0 for a record; 21 LG_ERR_PARTITION_EOF for an end event)."""

    __slots__ = ("topic", "partition", "offset", "timestamp",
                 "timestamp_type", "key", "value", "headers", "error")

    def __init__(self, handle, topic=None, partition=None):
        self.error = _msg_error(handle)
        name = _msg_topic(handle)
        self.topic = name.decode() if name else topic
        part = _msg_partition(handle)
        self.partition = part if part >= 0 else partition
        self.offset = _msg_offset(handle)
        kind = _int()
        self.timestamp = _msg_timestamp(handle, ctypes.byref(kind))
        self.timestamp_type = kind.value
        self.key = self._bytes(_msg_key, handle)
        self.value = self._bytes(_msg_value, handle)
        self.headers = []
        for index in range(_msg_header_count(handle)):
            name_p, name_len = _p(), _size()
            value_p, value_len = _p(), _size()
            _check(_msg_header(handle, index, ctypes.byref(name_p),
                               ctypes.byref(name_len), ctypes.byref(value_p),
                               ctypes.byref(value_len)))
            header_name = ctypes.string_at(name_p, name_len.value).decode() \
                if name_len.value else ""
            header_value = ctypes.string_at(value_p, value_len.value) \
                if value_p.value else None
            self.headers.append((header_name, header_value))

    @staticmethod
    def _bytes(accessor, handle):
        length = _size()
        pointer = accessor(handle, ctypes.byref(length))
        if not pointer:
            return None
        return ctypes.string_at(pointer, length.value)

    def __repr__(self):
        return ("Message(topic=%r, partition=%r, offset=%r, key=%r, "
                "value=%r, error=%r)" % (self.topic, self.partition,
                                         self.offset, self.key, self.value,
                                         self.error))


class Engine:
    """An open data directory (lg_engine_open).

    config: engine properties (dict).  log: callable(level, message) for
    the library's diagnostics (may run on a library thread).  stats:
    callable(dict) served by poll() every statistics.interval.ms."""

    def __init__(self, directory, config=None, log=None, stats=None):
        self._handle = None
        self._consumers = weakref.WeakSet()
        conf = _make_conf(config)
        try:
            self._log_fn = LOG_FN(self._on_log) if log else LOG_FN()
            self._stats_fn = STATS_FN(self._on_stats) if stats else STATS_FN()
            self._log, self._stats = log, stats
            if log:
                _check(_conf_set_log(conf, self._log_fn, None))
            if stats:
                _check(_conf_set_stats(conf, self._stats_fn, None))
            handle = _p()
            _check(_engine_open(_b(directory), conf, ctypes.byref(handle)))
            self._handle = handle
        finally:
            _conf_destroy(conf)

    def _on_log(self, opaque, level, message):
        self._log(level, message.decode(errors="replace"))

    def _on_stats(self, opaque, document, length):
        self._stats(json.loads(ctypes.string_at(document, length)))

    def _h(self):
        if not self._handle:
            raise LiblogError(14, "engine is closed")
        return self._handle

    def close(self):
        """Flushes and closes (lg_engine_close).  Idempotent."""
        # Consumers must go before the engine (producers are detached by
        # the engine itself, which first appends what they queued).
        for consumer in list(self._consumers):
            consumer.close()
        handle, self._handle = self._handle, None
        if handle:
            _check(_engine_close(handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def io_backend(self):
        return _engine_backend(self._h()).decode()

    # -- topics ---------------------------------------------------------
    def create_topic(self, name, partitions=1, config=None):
        conf = _make_conf(config) if config else None
        try:
            _check(_topic_create(self._h(), _b(name), partitions, conf))
        finally:
            if conf:
                _conf_destroy(conf)

    def partition_count(self, name):
        count = _i32()
        _check(_topic_count(self._h(), _b(name), ctypes.byref(count)))
        return count.value

    def list_groups(self):
        """Ids of the groups with members or committed offsets."""
        names = _p()
        _check(_group_list(self._h(), ctypes.byref(names)))
        try:
            return [_strings_get(names, i).decode()
                    for i in range(_strings_count(names))]
        finally:
            _strings_destroy(names)

    def list_topics(self):
        names = _p()
        _check(_topic_list(self._h(), ctypes.byref(names)))
        try:
            return [_strings_get(names, i).decode()
                    for i in range(_strings_count(names))]
        finally:
            _strings_destroy(names)

    def delete_topic(self, name):
        _check(_topic_delete(self._h(), _b(name)))

    # -- records --------------------------------------------------------
    def append(self, topic, partition, records, acks=ACKS_LEADER):
        """Appends records -- (key, value) or (key, value, headers) tuples
        -- as one batch; returns the first offset."""
        handle = _records_new()
        if not handle:
            raise MemoryError("lg_records_new")
        try:
            for record in records:
                key, value = _bytes_arg(record[0]), _bytes_arg(record[1])
                _check(_records_add(handle, key[0], key[1], value[0],
                                    value[1], TIMESTAMP_NOW))
                for name, header in (record[2] if len(record) > 2 else []):
                    name = _b(name)
                    header = _bytes_arg(header)
                    _check(_records_add_header(handle, name, len(name),
                                               header[0], header[1]))
            base = _i64()
            _check(_append(self._h(), _b(topic), partition, handle, acks,
                           ctypes.byref(base)))
            return base.value
        finally:
            _records_destroy(handle)

    def read(self, topic, partition, offset, max_bytes=1 << 20,
             committed=False):
        """Messages from offset on, as a list: lg_read, or with
        committed=True lg_read_committed (stops at the last stable offset,
        skips aborted transactions)."""
        fetch = _p()
        read = _read_committed if committed else _read
        _check(read(self._h(), _b(topic), partition, offset, max_bytes,
                    ctypes.byref(fetch)))
        try:
            messages = []
            message = _p()
            while True:
                _check(_fetch_next(fetch, ctypes.byref(message)))
                if not message.value:
                    return messages
                messages.append(Message(message, topic, partition))
        finally:
            _fetch_destroy(fetch)

    def watermarks(self, topic, partition):
        low, high = _i64(), _i64()
        _check(_watermarks(self._h(), _b(topic), partition,
                           ctypes.byref(low), ctypes.byref(high)))
        return low.value, high.value

    # -- observability --------------------------------------------------
    def stats(self):
        """The statistics document (lg_engine_stats_json) as a dict."""
        text = _p()
        _check(_stats_json(self._h(), ctypes.byref(text)))
        return json.loads(_take_string(text))

    def stats_prometheus(self):
        text = _p()
        _check(_stats_prom(self._h(), ctypes.byref(text)))
        return _take_string(text)

    def poll(self, timeout_ms=0):
        """Serves the stats callback when due (lg_engine_poll)."""
        return _engine_poll(self._h(), timeout_ms)


class Producer:
    """A producer (lg_producer_new).  on_delivery(err, topic, partition,
    offset, opaque) is called from poll()/flush() on the calling thread;
    err is 0 or a LiblogError code."""

    def __init__(self, engine, config=None, on_delivery=None):
        self._engine = engine  # keeps the engine object alive
        self._handle = None
        self._pending = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._on_delivery = on_delivery
        self._delivery_fn = DELIVERY_FN(self._on_report)
        conf = _make_conf(config) if config else None
        try:
            handle = _p()
            _check(_producer_new(engine._h(), conf, ctypes.byref(handle)))
            self._handle = handle
        finally:
            if conf:
                _conf_destroy(conf)
        _check(_producer_set_cb(self._handle, self._delivery_fn, None))

    def _on_report(self, opaque, err, topic, partition, offset, message):
        with self._lock:
            user = self._pending.pop(message or 0, None)
        if self._on_delivery:
            self._on_delivery(err, topic.decode(), partition, offset, user)

    def _h(self):
        if not self._handle:
            raise LiblogError(14, "producer is closed")
        return self._handle

    def _token(self, opaque):
        token = next(self._ids)
        with self._lock:
            self._pending[token] = opaque
        return token

    def produce(self, topic, value, key=None, partition=PARTITION_ANY,
                headers=None, timestamp=TIMESTAMP_NOW, opaque=None):
        """Queues one record; its report arrives through poll()."""
        token = self._token(opaque)
        try:
            if headers:
                records = _records_new()
                try:
                    k, v = _bytes_arg(key), _bytes_arg(value)
                    _check(_records_add(records, k[0], k[1], v[0], v[1],
                                        timestamp))
                    for name, header in headers:
                        name, header = _b(name), _bytes_arg(header)
                        _check(_records_add_header(records, name, len(name),
                                                   header[0], header[1]))
                    _check(_produce_records(self._h(), _b(topic), partition,
                                            records, token))
                finally:
                    _records_destroy(records)
            else:
                k, v = _bytes_arg(key), _bytes_arg(value)
                _check(_produce(self._h(), _b(topic), partition, k[0], k[1],
                                v[0], v[1], timestamp, token))
        except BaseException:
            with self._lock:
                self._pending.pop(token, None)
            raise

    def poll(self, timeout_ms=0):
        return _producer_poll(self._h(), timeout_ms)

    def flush(self, timeout_ms=-1):
        _check(_producer_flush(self._h(), timeout_ms))

    def __len__(self):
        return _producer_queue_length(self._h())

    def close(self):
        handle, self._handle = self._handle, None
        if handle:
            _producer_destroy(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Consumer:
    """A consumer (lg_consumer_new) reading assigned partitions."""

    def __init__(self, engine, config=None):
        self._engine = engine
        self._handle = None
        conf = _make_conf(config) if config else None
        try:
            handle = _p()
            _check(_consumer_new(engine._h(), conf, ctypes.byref(handle)))
            self._handle = handle
            engine._consumers.add(self)
        finally:
            if conf:
                _conf_destroy(conf)

    def _h(self):
        if not self._handle:
            raise LiblogError(14, "consumer is closed")
        return self._handle

    def assign(self, topic, partition, offset=OFFSET_BEGINNING):
        _check(_consumer_assign(self._h(), _b(topic), partition, offset))

    def unassign(self, topic, partition):
        _check(_consumer_unassign(self._h(), _b(topic), partition))

    def seek(self, topic, partition, offset):
        _check(_consumer_seek(self._h(), _b(topic), partition, offset))

    def position(self, topic, partition):
        offset = _i64()
        _check(_consumer_position(self._h(), _b(topic), partition,
                                  ctypes.byref(offset)))
        return offset.value

    def poll(self, timeout_ms=0):
        """The next Message, or None on timeout/wakeup."""
        message = _p()
        _check(_consumer_poll(self._h(), timeout_ms, ctypes.byref(message)))
        return Message(message) if message.value else None

    def poll_batch(self, max_messages=500, timeout_ms=0):
        """Up to max_messages ready Messages (a list, maybe empty)."""
        array = (_p * max_messages)()
        count = _size()
        _check(_consumer_poll_batch(self._h(), timeout_ms, array,
                                    max_messages, ctypes.byref(count)))
        return [Message(array[i]) for i in range(count.value)]

    def wakeup(self):
        _consumer_wakeup(self._h())

    # -- consumer groups (config needs "group.id") -----------------------
    def subscribe(self, topics, on_rebalance=None, on_commit=None):
        """Joins the group with a subscription to topics (names, or regexes
        starting with '^').  on_rebalance(event, partitions) -- event
        "assign" or "revoke", partitions [(topic, partition, offset)] -- is
        told of every change from poll(); the binding then applies it
        (incremental assign/unassign), so the callback only observes.
        on_commit(err, offsets) receives async and auto commit outcomes."""
        self._on_rebalance = on_rebalance
        self._rebalance_fn = REBALANCE_FN(self._rebalance)
        _check(_consumer_set_rebalance(self._h(), self._rebalance_fn, None))
        if on_commit:
            self._commit_fn = COMMIT_FN(
                lambda opaque, consumer, err, offsets:
                on_commit(err, _tpl_to_python(offsets)))
            _check(_consumer_set_commit(self._h(), self._commit_fn, None))
        names = [_b(t) for t in topics]
        array = (_char_p * len(names))(*names)
        _check(_consumer_subscribe(self._h(), array, len(names)))

    def _rebalance(self, opaque, consumer, event, partitions):
        assign = event == ERR_ASSIGN_PARTITIONS
        if self._on_rebalance:
            self._on_rebalance("assign" if assign else "revoke",
                               _tpl_to_python(partitions))
        if assign:
            _consumer_incremental_assign(consumer, partitions)
        else:
            _consumer_incremental_unassign(consumer, partitions)

    def unsubscribe(self):
        _check(_consumer_unsubscribe(self._h()))

    @property
    def rebalance_protocol(self):
        return _consumer_protocol(self._h()).decode()

    def assignment(self):
        """[(topic, partition, position)] currently assigned."""
        handle = _p()
        _check(_consumer_assignment(self._h(), ctypes.byref(handle)))
        try:
            return _tpl_to_python(handle)
        finally:
            _tpl_destroy(handle)

    def commit(self, offsets=None, asynchronous=False):
        """Commits [(topic, partition, offset)] or, with None, the
        positions of every assigned partition."""
        handle = _tpl_from_python(offsets) if offsets is not None else None
        try:
            _check(_consumer_commit(self._h(), handle,
                                    1 if asynchronous else 0))
        finally:
            if handle:
                _tpl_destroy(handle)

    def committed(self, partitions):
        """{(topic, partition): committed offset or OFFSET_INVALID}."""
        handle = _tpl_from_python([(t, p, OFFSET_INVALID)
                                   for t, p in partitions])
        try:
            _check(_consumer_committed(self._h(), handle))
            return {(t, p): o for t, p, o in _tpl_to_python(handle)}
        finally:
            _tpl_destroy(handle)

    def close(self):
        handle, self._handle = self._handle, None
        if handle:
            _consumer_destroy(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
