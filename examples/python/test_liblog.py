"""test_liblog.py -- the ctypes binding against the real liblog.so.1.

Run with LIBLOG_PATH pointing at the library:
    LIBLOG_PATH=build/liblog.so.1 python3 -m unittest examples/python/test_liblog.py
Each test opens an engine in a fresh temporary directory.
"""

import os
import shutil
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import liblog  # noqa: E402


class BindingTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="liblog-py-")
        self.logs = []
        self.log_lock = threading.Lock()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def on_log(self, level, message):
        with self.log_lock:
            self.logs.append((level, message))

    def open(self, **kwargs):
        return liblog.Engine(os.path.join(self.dir, "data"), log=self.on_log,
                             **kwargs)

    def test_version_and_backend(self):
        self.assertEqual(liblog.version(), "1.0.0")
        with self.open() as engine:
            self.assertIn(engine.io_backend, ("io_uring", "syscall"))
        self.assertTrue(any("I/O backend" in m or "falling back" in m
                            for _, m in self.logs))

    def test_topics_create_list_delete(self):
        with self.open() as engine:
            engine.create_topic("b", 3)
            engine.create_topic("a", 1, {"segment.bytes": 1 << 20})
            self.assertEqual(engine.list_topics(), ["a", "b"])
            self.assertEqual(engine.partition_count("b"), 3)
            with self.assertRaises(liblog.LiblogError) as caught:
                engine.create_topic("a", 1)
            self.assertEqual(caught.exception.name, "LG_ERR_TOPIC_EXISTS")
            engine.delete_topic("b")
            self.assertEqual(engine.list_topics(), ["a"])
            with self.assertRaises(liblog.LiblogError) as caught:
                engine.partition_count("b")
            self.assertEqual(caught.exception.name, "LG_ERR_UNKNOWN_TOPIC")
            self.assertIn("b", caught.exception.message)
        self.assertTrue(any('topic "b" deleted' in m for _, m in self.logs))

    def test_bad_config_names_the_property(self):
        with self.assertRaises(liblog.LiblogError) as caught:
            liblog.Engine(self.dir, {"segment.bytes": "3"})
        self.assertEqual(caught.exception.name, "LG_ERR_INVALID_CONFIG")
        self.assertIn("segment.bytes", caught.exception.message)

    def test_append_and_read_with_headers_and_nulls(self):
        with self.open() as engine:
            engine.create_topic("t")
            base = engine.append("t", 0, [(b"k1", b"v1", [("h", b"x")]),
                                          (None, "v2"), ("k3", None)],
                                 liblog.ACKS_ALL)
            self.assertEqual(base, 0)
            self.assertEqual(engine.watermarks("t", 0), (0, 3))
            messages = engine.read("t", 0, 0)
            self.assertEqual([m.offset for m in messages], [0, 1, 2])
            self.assertEqual(messages[0].key, b"k1")
            self.assertEqual(messages[0].headers, [("h", b"x")])
            self.assertIsNone(messages[1].key)
            self.assertIsNone(messages[2].value)
            self.assertGreater(messages[0].timestamp, 0)
            # No transactions here: read_committed sees the same records.
            committed = engine.read("t", 0, 1, committed=True)
            self.assertEqual([m.offset for m in committed], [1, 2])
            with self.assertRaises(liblog.LiblogError) as caught:
                engine.read("t", 0, 4, committed=True)
            self.assertEqual(caught.exception.name,
                             "LG_ERR_OFFSET_OUT_OF_RANGE")

    def test_produce_with_delivery_reports_then_consume(self):
        reports = []

        def on_delivery(err, topic, partition, offset, opaque):
            reports.append((err, topic, partition, offset, opaque))

        with self.open() as engine:
            engine.create_topic("t", 2)
            with liblog.Producer(engine, {"linger.ms": 1},
                                 on_delivery) as producer:
                for i in range(100):
                    producer.produce("t", b"value-%d" % i, key=b"k%d" % i,
                                     partition=i % 2, opaque=i)
                producer.produce("t", b"with-header", partition=0,
                                 headers=[("trace", b"abc")], opaque="h")
                producer.flush(10000)
                self.assertEqual(len(producer), 0)
            self.assertEqual(len(reports), 101)
            self.assertTrue(all(r[0] == 0 for r in reports))
            self.assertEqual(sorted(r[4] for r in reports
                                    if isinstance(r[4], int)),
                             list(range(100)))
            self.assertEqual(sorted(r[3] for r in reports if r[2] == 1),
                             list(range(50)))

            consumer = liblog.Consumer(engine,
                                       {"enable.partition.eof": "true"})
            consumer.assign("t", 0, liblog.OFFSET_BEGINNING)
            consumer.assign("t", 1, liblog.OFFSET_BEGINNING)
            first = consumer.poll(1000)
            self.assertIsNotNone(first)
            got = [first]
            eofs = 0
            while eofs < 2:
                batch = consumer.poll_batch(64, 1000)
                self.assertTrue(batch)
                for message in batch:
                    if message.error == liblog.ERR_PARTITION_EOF:
                        eofs += 1
                    else:
                        got.append(message)
            self.assertEqual(len(got), 101)
            header = [m for m in got if m.value == b"with-header"][0]
            self.assertEqual(header.headers, [("trace", b"abc")])
            self.assertEqual(consumer.position("t", 1), 50)
            consumer.seek("t", 1, 10)
            message = consumer.poll(1000)
            self.assertEqual((message.partition, message.offset), (1, 10))
            self.assertEqual(message.value, b"value-21")
            stats = engine.stats()
            consumers = list(stats["consumers"].values())
            self.assertEqual(len(consumers), 1)
            self.assertEqual(stats["topics"]["t"]["partitions"]["0"]
                             ["log_end_offset"], 51)
            consumer.unassign("t", 0)
            consumer.close()

    def test_stats_json_prometheus_and_callback(self):
        seen = []
        with self.open(config={"statistics.interval.ms": 50},
                       stats=seen.append) as engine:
            engine.create_topic("t")
            engine.append("t", 0, [(None, b"x")], liblog.ACKS_ALL)
            self.assertEqual(engine.stats()["totals"]["records"], 1)
            text = engine.stats_prometheus()
            self.assertIn("# TYPE liblog_fsync_latency_seconds histogram",
                          text)
            served = 0
            while served == 0:
                served = engine.poll(1000)
            self.assertEqual(served, 1)
            self.assertEqual(seen[-1]["name"], "liblog")

    def test_consumer_group_subscribe_commit_and_rejoin(self):
        with self.open() as engine:
            engine.create_topic("g", 4)
            for partition in range(4):
                engine.append("g", partition,
                              [(None, b"%d-%d" % (partition, i))
                               for i in range(5)])
            events = []
            config = {"group.id": "py-group", "enable.auto.commit": "false",
                      "auto.offset.reset": "earliest"}
            with liblog.Consumer(engine, config) as consumer:
                consumer.subscribe(["g"], lambda event, parts:
                                   events.append((event, len(parts))))
                got = []
                for _ in range(200):
                    message = consumer.poll(100)
                    if message is not None and message.error == 0:
                        got.append(message)
                    if len(got) == 20:
                        break
                self.assertEqual(len(got), 20)
                self.assertIn(("assign", 4), events)
                self.assertEqual(len(consumer.assignment()), 4)
                self.assertIn(consumer.rebalance_protocol,
                              ("EAGER", "COOPERATIVE"))
                consumer.commit()
                committed = consumer.committed([("g", p) for p in range(4)])
                self.assertEqual(set(committed.values()), {5})
                consumer.unsubscribe()
            self.assertIn("py-group", engine.list_groups())
            # a new member of the group resumes from the committed offsets
            with liblog.Consumer(engine, config) as consumer:
                consumer.subscribe(["^g$"])
                for _ in range(20):
                    consumer.poll(50)
                positions = {p: o for _, p, o in consumer.assignment()}
                self.assertEqual(positions, {0: 5, 1: 5, 2: 5, 3: 5})

if __name__ == "__main__":
    unittest.main()
