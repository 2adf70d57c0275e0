/*
 * lgperf.c -- liblog's kafka-producer-perf-test / rdkafka_performance:
 * measures produce throughput and delivery latency, consume throughput, or
 * end-to-end (produce to consume) latency on a data directory.
 *
 *   lgperf -b <dir> -t <topic> -P [-n records] [-s bytes] [-a acks]
 *          [-T threads] [-r records/s] [-N partitions] [-X prop=value]
 *   lgperf -b <dir> -t <topic> -C [-n records] [-X prop=value]
 *   lgperf -b <dir> -t <topic> -L [-n records] [-s bytes] [-a acks]
 *          [-T threads] [-r records/s] [-N partitions] [-X prop=value]
 *
 * -P produces -n records (default 1000000) of -s bytes (default 100) with
 * -T threads (default 1) sharing one producer, at acks -a (0, 1 or all;
 * default 1), while a poll thread serves the delivery reports.  Each
 * record's latency runs from its lg_produce call to its delivery report
 * (the send time is kept in a side array indexed by the per-message
 * opaque).  -C reads the topic from the beginning to the end of every
 * partition with lg_consumer_poll_batch.  -L runs -P's producer with a
 * consumer thread that polls the topic from its end; each record carries
 * its lg_produce time in its first 8 bytes, and its latency is the time
 * the consumer's poll returned it minus that.  -r paces the producer
 * threads to that many records per second in all (0: as fast as
 * possible); without it, latency includes the time records queue behind
 * each other.  -L also prints the process's CPU time over the run, since
 * the spinning that buys the lowest latency (-X io.spin.us=..., -X
 * poll.spin.us=...) costs CPU.  Topic -t is created with -N partitions (default 1) when
 * missing.  -X properties go to the producer or consumer that accepts them,
 * else to the engine; e.g. -X linger.ms=0 for the lowest latency, and
 * -X io.spin.us=500 -X poll.spin.us=500 to spin through the gaps between
 * records instead of sleeping (see the README, "Latency").
 *
 * The last line printed has a fixed format, for scripts:
 *   lgperf: <n> records, <r> rec/s, <m> MB/s, latency p50 <a> us p99 <b> us p99.9 <c> us
 * (-C leaves out the latency part).  MB is 10^6 bytes of record values.
 * Exit status: 0 ok, 1 usage error, 2 runtime error or failed deliveries.
 */
#include <liblog.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define EXIT_OK 0
#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

#define CONSUME_BATCH_MAX 4096
#define MAX_PROPERTIES 64

/* ---------------------------------------------------------------- options */

enum mode { MODE_NONE, MODE_PRODUCE, MODE_CONSUME, MODE_LATENCY };

struct options {
    enum mode mode;
    const char *dir;
    const char *topic;
    int64_t records;
    int records_given; /* -n was given (limits -C) */
    int64_t size;
    const char *acks;
    int threads;
    int64_t rate; /* records/s over all threads; 0: unlimited */
    int32_t partitions;
    char *property_names[MAX_PROPERTIES];
    char *property_values[MAX_PROPERTIES];
    size_t property_count;
};

static void print_usage(FILE *out) {
    fprintf(out,
        "usage: lgperf -b <dir> -t <topic> -P|-C|-L [options]\n"
        "  -P               produce; report throughput and delivery latency\n"
        "  -C               consume the topic from the beginning; report\n"
        "                   throughput\n"
        "  -L               end-to-end latency: produce and consume at once\n"
        "  -b <dir>         data directory (required)\n"
        "  -t <topic>       topic (required; created when missing)\n"
        "  -n <records>     records to produce (default 1000000); with -C, at\n"
        "                   most this many are read\n"
        "  -s <bytes>       record value size (default 100; at least 8 for -L)\n"
        "  -a <acks>        0, 1 or all (default 1)\n"
        "  -T <threads>     producing threads sharing one producer (default 1)\n"
        "  -r <rate>        records per second in all (default 0: unlimited)\n"
        "  -N <partitions>  partitions when creating the topic (default 1)\n"
        "  -X <prop=value>  configuration property (see lg_conf_set(3))\n"
        "  -h               this help\n"
        "Last line: lgperf: <n> records, <r> rec/s, <m> MB/s[, latency p50 <a>"
        " us p99 <b> us p99.9 <c> us]\n");
}

static int usage_error(const char *message, const char *detail) {
    fprintf(stderr, "lgperf: %s%s%s\n", message, detail ? ": " : "",
            detail ? detail : "");
    fprintf(stderr, "Try 'lgperf -h' for the flags.\n");
    return EXIT_USAGE;
}

/* Prints the message of the lg_ call that just failed; returns
 * EXIT_RUNTIME.  Call before any other lg_ call. */
static int runtime_error(const char *what, lg_err_t err) {
    const char *message = lg_last_error_message();
    fprintf(stderr, "lgperf: %s: %s\n", what,
            message[0] ? message : lg_strerror(err));
    return EXIT_RUNTIME;
}

/* Parses a whole decimal integer within [minimum, maximum]; -1 if not. */
static int parse_integer(const char *text, int64_t minimum, int64_t maximum,
                         int64_t *valuep) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (!*text || *end || errno || value < minimum || value > maximum)
        return -1;
    *valuep = value;
    return 0;
}

/* Returns -1 when the command line is fine, else the exit status. */
static int parse_options(int argc, char **argv, struct options *options) {
    memset(options, 0, sizeof *options);
    options->records = 1000000;
    options->size = 100;
    options->acks = "1";
    options->threads = 1;
    options->partitions = 1;
    int option;
    int64_t number;
    opterr = 0;
    while ((option = getopt(argc, argv, "hPCLb:t:n:s:a:T:r:N:X:")) != -1) {
        switch (option) {
        case 'h':
            print_usage(stdout);
            return EXIT_OK;
        case 'P':
        case 'C':
        case 'L': {
            enum mode mode = option == 'P'   ? MODE_PRODUCE
                             : option == 'C' ? MODE_CONSUME
                                             : MODE_LATENCY;
            if (options->mode != MODE_NONE && options->mode != mode)
                return usage_error("-P, -C and -L are mutually exclusive",
                                   NULL);
            options->mode = mode;
            break;
        }
        case 'b':
            options->dir = optarg;
            break;
        case 't':
            options->topic = optarg;
            break;
        case 'n':
            if (parse_integer(optarg, 1, INT64_MAX / 2, &options->records))
                return usage_error("-n wants a record count >= 1", optarg);
            options->records_given = 1;
            break;
        case 's':
            if (parse_integer(optarg, 0, 1 << 30, &options->size))
                return usage_error("-s wants a size in bytes", optarg);
            break;
        case 'a':
            if (strcmp(optarg, "0") && strcmp(optarg, "1") &&
                strcmp(optarg, "all") && strcmp(optarg, "-1"))
                return usage_error("-a wants 0, 1 or all", optarg);
            options->acks = optarg;
            break;
        case 'T':
            if (parse_integer(optarg, 1, 1024, &number))
                return usage_error("-T wants 1..1024 threads", optarg);
            options->threads = (int)number;
            break;
        case 'r':
            if (parse_integer(optarg, 0, INT64_MAX / 2, &options->rate))
                return usage_error("-r wants records per second", optarg);
            break;
        case 'N':
            if (parse_integer(optarg, 1, INT32_MAX, &number))
                return usage_error("-N wants a partition count >= 1", optarg);
            options->partitions = (int32_t)number;
            break;
        case 'X': {
            char *equals = strchr(optarg, '=');
            if (!equals || equals == optarg)
                return usage_error("-X wants prop=value", optarg);
            if (options->property_count == MAX_PROPERTIES)
                return usage_error("too many -X properties", NULL);
            *equals = '\0';
            lg_conf_t *scratch = lg_conf_new();
            lg_err_t err = scratch ? lg_conf_set(scratch, optarg, equals + 1)
                                   : LG_ERR_NOMEM;
            lg_conf_destroy(scratch);
            if (err)
                return usage_error("-X", lg_last_error_message());
            options->property_names[options->property_count] = optarg;
            options->property_values[options->property_count++] = equals + 1;
            break;
        }
        default: {
            char flag[3] = {'-', (char)optopt, '\0'};
            if (optopt && strchr("btnsaTrNX", optopt))
                return usage_error("option needs an argument", flag);
            return usage_error("unknown option", flag);
        }
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (options->mode == MODE_NONE)
        return usage_error("one of -P, -C or -L is required", NULL);
    if (!options->dir || !options->topic)
        return usage_error("-b <dir> and -t <topic> are required", NULL);
    if (options->mode == MODE_LATENCY && options->size < 8)
        return usage_error("-L needs -s of at least 8 (the send time)", NULL);
    return -1;
}

/* ---------------------------------------------------------------- helpers */

/* Monotonic time in nanoseconds. */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u),
                          (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The fraction-quantile of sorted[0..count) in microseconds (nearest rank),
 * 0 when count is 0. */
static double percentile_us(const uint64_t *sorted, size_t count,
                            double fraction) {
    if (!count)
        return 0;
    size_t rank = (size_t)(fraction * (double)count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > count)
        rank = count;
    return (double)sorted[rank - 1] / 1000.0;
}

/* Prints the fixed-format last line.  latencies (sorted in place) may be
 * NULL for no latency part. */
static void print_summary(uint64_t records, uint64_t bytes,
                          uint64_t elapsed_ns, uint64_t *latencies,
                          size_t latency_count) {
    double seconds = elapsed_ns ? (double)elapsed_ns / 1e9 : 1e-9;
    printf("lgperf: %" PRIu64 " records, %.0f rec/s, %.1f MB/s",
           records, (double)records / seconds, (double)bytes / seconds / 1e6);
    if (latencies) {
        qsort(latencies, latency_count, sizeof *latencies, compare_u64);
        printf(", latency p50 %.0f us p99 %.0f us p99.9 %.0f us",
               percentile_us(latencies, latency_count, 0.50),
               percentile_us(latencies, latency_count, 0.99),
               percentile_us(latencies, latency_count, 0.999));
    }
    printf("\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------- engine */

/* Opens the engine and the client configurations, routing each -X
 * property by trying it: to the producer when a producer accepts it (modes
 * -P and -L), to the consumer when a consumer does (-C and -L), else to the
 * engine, whose open then names any property nobody accepts.  The producer
 * conf gets acks first so -X acks=... wins.  Returns 0 or an exit status. */
static int open_engine(const struct options *options, lg_engine_t **enginep,
                       lg_conf_t **producer_confp, lg_conf_t **consumer_confp) {
    int use_producer = options->mode != MODE_CONSUME;
    int use_consumer = options->mode != MODE_PRODUCE;
    lg_conf_t *producer_conf = lg_conf_new();
    lg_conf_t *consumer_conf = lg_conf_new();
    lg_conf_t *engine_conf = lg_conf_new();
    lg_engine_t *engine = NULL;
    int status = 0, engine_properties = 0;
    lg_err_t err;
    if (!producer_conf || !consumer_conf || !engine_conf) {
        fprintf(stderr, "lgperf: out of memory\n");
        status = EXIT_RUNTIME;
        goto out;
    }
    lg_conf_set(producer_conf, "acks", options->acks);
    if (options->property_count &&
        (err = lg_engine_open(options->dir, NULL, &engine))) {
        status = runtime_error(options->dir, err);
        goto out;
    }
    for (size_t i = 0; i < options->property_count; i++) {
        const char *name = options->property_names[i];
        const char *value = options->property_values[i];
        lg_conf_t *single = lg_conf_new();
        int taken = 0;
        if (!single) {
            fprintf(stderr, "lgperf: out of memory\n");
            status = EXIT_RUNTIME;
            goto out;
        }
        lg_conf_set(single, name, value);
        lg_producer_t *producer;
        lg_consumer_t *consumer;
        if (use_producer && lg_producer_new(engine, single, &producer) == 0) {
            lg_producer_destroy(producer);
            lg_conf_set(producer_conf, name, value);
            taken = 1;
        }
        if (use_consumer && lg_consumer_new(engine, single, &consumer) == 0) {
            lg_consumer_destroy(consumer);
            lg_conf_set(consumer_conf, name, value);
            taken = 1;
        }
        lg_conf_destroy(single);
        if (!taken) {
            lg_conf_set(engine_conf, name, value);
            engine_properties = 1;
        }
    }
    if (engine_properties) {
        lg_engine_close(engine);
        engine = NULL;
    }
    if (!engine && (err = lg_engine_open(options->dir, engine_conf, &engine))) {
        status = runtime_error(options->dir, err);
        goto out;
    }
    *enginep = engine;
    *producer_confp = producer_conf;
    *consumer_confp = consumer_conf;
    producer_conf = consumer_conf = NULL;
out:
    if (status)
        lg_engine_close(engine);
    lg_conf_destroy(producer_conf);
    lg_conf_destroy(consumer_conf);
    lg_conf_destroy(engine_conf);
    return status;
}

/* ---------------------------------------------------------------- produce */

/* State shared by the producing threads, the poll thread and (for -L) the
 * consumer thread. */
struct run {
    const struct options *options;
    lg_producer_t *producer;
    /* times[i]: record i's lg_produce time, replaced by its delivery
     * latency when the report comes (the per-message opaque is i). */
    uint64_t *times;
    atomic_int producers_running;
    atomic_int producing_done; /* every record queued and flushed */
    atomic_uint_fast64_t produce_failures; /* lg_produce errors */
    uint64_t delivered;        /* poll thread only */
    uint64_t delivery_failures;/* poll thread only */
    atomic_uint_fast64_t reported; /* delivered + failed, for -L's consumer */
    lg_err_t first_error;
    uint64_t start_ns;
    uint64_t last_report_ns;
};

struct producer_thread {
    struct run *run;
    pthread_t thread;
    int64_t first, end; /* record indexes [first, end) */
};

/* Delivery callback, served on the poll thread: turns the record's send
 * time into its latency. */
static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    struct run *run = opaque;
    size_t index = (size_t)(uintptr_t)message_opaque;
    uint64_t now = now_ns();
    if (err == LG_OK) {
        run->times[index] = now - run->times[index];
        run->delivered++;
    } else {
        run->times[index] = UINT64_MAX; /* left out of the percentiles */
        if (run->delivery_failures++ == 0)
            fprintf(stderr, "lgperf: delivery failed: %s\n",
                    lg_strerror(err));
    }
    run->last_report_ns = now;
    atomic_fetch_add(&run->reported, 1);
}

/* A producing thread: queues records [first, end), paced by -r. */
static void *produce_thread(void *argument) {
    struct producer_thread *self = argument;
    struct run *run = self->run;
    const struct options *options = run->options;
    unsigned char *value = malloc(options->size ? (size_t)options->size : 1);
    if (!value) {
        atomic_fetch_add(&run->produce_failures,
                         (uint_fast64_t)(self->end - self->first));
        atomic_fetch_sub(&run->producers_running, 1);
        return NULL;
    }
    memset(value, 'x', (size_t)options->size);
    /* Paced: this thread's share of the rate, as an interval. */
    uint64_t interval_ns = options->rate
        ? (uint64_t)(1e9 * options->threads / (double)options->rate) : 0;
    uint64_t next_ns = now_ns();
    for (int64_t i = self->first; i < self->end; i++) {
        if (interval_ns) {
            uint64_t now = now_ns();
            if (now < next_ns)
                sleep_ns(next_ns - now);
            next_ns += interval_ns;
        }
        lg_err_t err;
        for (;;) {
            uint64_t sent = now_ns();
            run->times[i] = sent;
            if (options->size >= 8)
                memcpy(value, &sent, sizeof sent); /* for -L's consumer */
            err = lg_produce(run->producer, options->topic, LG_PARTITION_ANY,
                             NULL, 0, value, (size_t)options->size,
                             LG_TIMESTAMP_NOW, (void *)(uintptr_t)i);
            if (err != LG_ERR_QUEUE_FULL)
                break;
            sleep_ns(20000); /* the poll thread frees memory meanwhile */
        }
        if (err) {
            if (atomic_fetch_add(&run->produce_failures, 1) == 0)
                fprintf(stderr, "lgperf: produce: %s\n",
                        lg_last_error_message());
            run->times[i] = UINT64_MAX;
        }
    }
    free(value);
    atomic_fetch_sub(&run->producers_running, 1);
    return NULL;
}

/* The poll thread: the only caller of lg_producer_poll/flush, so delivery
 * callbacks all run here.  Flushes once the producing threads are done. */
static void *poll_thread(void *argument) {
    struct run *run = argument;
    while (atomic_load(&run->producers_running) > 0)
        lg_producer_poll(run->producer, 10);
    lg_err_t err = lg_producer_flush(run->producer, -1);
    if (err)
        run->first_error = err;
    atomic_store(&run->producing_done, 1);
    return NULL;
}

/* Starts the producing threads and the poll thread on run (whose producer
 * and times are set).  Returns 0 or an exit status (threads not started). */
static int start_producing(struct run *run, struct producer_thread *threads,
                           pthread_t *poller) {
    const struct options *options = run->options;
    atomic_store(&run->producers_running, options->threads);
    run->start_ns = now_ns();
    int64_t share = options->records / options->threads;
    int64_t extra = options->records % options->threads;
    int64_t next = 0;
    for (int t = 0; t < options->threads; t++) {
        threads[t].run = run;
        threads[t].first = next;
        next += share + (t < extra);
        threads[t].end = next;
        if (pthread_create(&threads[t].thread, NULL, produce_thread,
                           &threads[t])) {
            fprintf(stderr, "lgperf: cannot start threads\n");
            exit(EXIT_RUNTIME);
        }
    }
    if (pthread_create(poller, NULL, poll_thread, run)) {
        fprintf(stderr, "lgperf: cannot start threads\n");
        exit(EXIT_RUNTIME);
    }
    return 0;
}

static void join_producing(struct run *run, struct producer_thread *threads,
                           pthread_t poller) {
    for (int t = 0; t < run->options->threads; t++)
        pthread_join(threads[t].thread, NULL);
    pthread_join(poller, NULL);
}

/* Copies the latencies of delivered records (times[] after the run) to
 * the front of times and returns how many there are. */
static size_t compact_latencies(uint64_t *times, int64_t count) {
    size_t kept = 0;
    for (int64_t i = 0; i < count; i++)
        if (times[i] != UINT64_MAX)
            times[kept++] = times[i];
    return kept;
}

/* Creates the topic when missing and sets *partitionsp. */
static int ensure_topic(const struct options *options, lg_engine_t *engine,
                        int32_t *partitionsp) {
    lg_err_t err = lg_topic_create(engine, options->topic,
                                   options->partitions, NULL);
    if (err && err != LG_ERR_TOPIC_EXISTS)
        return runtime_error(options->topic, err);
    if ((err = lg_topic_partition_count(engine, options->topic, partitionsp)))
        return runtime_error(options->topic, err);
    return 0;
}

/* Creates the producer of run with delivery reports to on_delivery. */
static int new_producer(struct run *run, lg_engine_t *engine,
                        const lg_conf_t *conf) {
    lg_err_t err = lg_producer_new(engine, conf, &run->producer);
    if (err)
        return runtime_error("producer", err);
    lg_producer_set_delivery_callback(run->producer, on_delivery, run);
    return 0;
}

/* Reports a run's failures; returns the exit status for them. */
static int failure_status(struct run *run) {
    uint64_t produce_failures = atomic_load(&run->produce_failures);
    if (run->first_error)
        fprintf(stderr, "lgperf: flush: %s\n", lg_strerror(run->first_error));
    if (produce_failures || run->delivery_failures)
        fprintf(stderr, "lgperf: %" PRIu64 " records not produced, %" PRIu64
                " deliveries failed\n", produce_failures,
                run->delivery_failures);
    return produce_failures || run->delivery_failures || run->first_error
               ? EXIT_RUNTIME : EXIT_OK;
}

/* -P */
static int run_produce(const struct options *options, lg_engine_t *engine,
                       const lg_conf_t *producer_conf) {
    int32_t partitions;
    int status = ensure_topic(options, engine, &partitions);
    if (status)
        return status;
    struct run run;
    memset(&run, 0, sizeof run);
    run.options = options;
    run.times = malloc((size_t)options->records * sizeof *run.times);
    struct producer_thread *threads =
        calloc((size_t)options->threads, sizeof *threads);
    if (!run.times || !threads) {
        fprintf(stderr, "lgperf: out of memory for %" PRId64 " records\n",
                options->records);
        free(run.times);
        free(threads);
        return EXIT_RUNTIME;
    }
    if ((status = new_producer(&run, engine, producer_conf))) {
        free(run.times);
        free(threads);
        return status;
    }
    printf("lgperf: producing %" PRId64 " records of %" PRId64 " bytes to %s "
           "(%" PRId32 " partitions), acks %s, %d thread%s\n",
           options->records, options->size, options->topic, partitions,
           options->acks, options->threads, options->threads == 1 ? "" : "s");
    fflush(stdout);
    pthread_t poller;
    start_producing(&run, threads, &poller);
    join_producing(&run, threads, poller);
    uint64_t elapsed = run.last_report_ns > run.start_ns
                           ? run.last_report_ns - run.start_ns : 0;
    lg_producer_destroy(run.producer);
    status = failure_status(&run);
    size_t latency_count = compact_latencies(run.times, options->records);
    print_summary(run.delivered, run.delivered * (uint64_t)options->size,
                  elapsed, run.times, latency_count);
    free(run.times);
    free(threads);
    return status;
}

/* ---------------------------------------------------------------- consume */

/* Assigns every partition of the topic at offset; sets *partitionsp. */
static int assign_all(const struct options *options, lg_engine_t *engine,
                      lg_consumer_t *consumer, int64_t offset,
                      int32_t *partitionsp) {
    lg_err_t err = lg_topic_partition_count(engine, options->topic,
                                            partitionsp);
    if (err)
        return runtime_error(options->topic, err);
    for (int32_t p = 0; p < *partitionsp; p++)
        if ((err = lg_consumer_assign(consumer, options->topic, p, offset)))
            return runtime_error("assign", err);
    return 0;
}

/* -C: reads from the beginning until every partition reports its end. */
static int run_consume(const struct options *options, lg_engine_t *engine,
                       lg_conf_t *consumer_conf) {
    lg_err_t err;
    if ((err = lg_conf_set(consumer_conf, "enable.partition.eof", "true")))
        return runtime_error("enable.partition.eof", err);
    lg_consumer_t *consumer;
    if ((err = lg_consumer_new(engine, consumer_conf, &consumer)))
        return runtime_error("consumer", err);
    int32_t partitions = 0; /* assign_all leaves it unset on failure */
    int status = assign_all(options, engine, consumer, LG_OFFSET_BEGINNING,
                            &partitions);
    char *at_end = calloc((size_t)partitions + 1, 1);
    const lg_message_t **messages =
        malloc(CONSUME_BATCH_MAX * sizeof *messages);
    if (!status && (!at_end || !messages)) {
        fprintf(stderr, "lgperf: out of memory\n");
        status = EXIT_RUNTIME;
    }
    if (status) {
        free(at_end);
        free(messages);
        lg_consumer_destroy(consumer);
        return status;
    }
    printf("lgperf: consuming %s (%" PRId32 " partitions) from the "
           "beginning\n", options->topic, partitions);
    fflush(stdout);
    uint64_t records = 0, bytes = 0;
    int32_t remaining = partitions;
    uint64_t limit = options->records_given ? (uint64_t)options->records
                                            : UINT64_MAX;
    uint64_t start = now_ns();
    while (remaining > 0 && records < limit) {
        size_t count;
        if ((err = lg_consumer_poll_batch(consumer, 1000, messages,
                                          CONSUME_BATCH_MAX, &count))) {
            status = runtime_error("poll", err);
            break;
        }
        for (size_t i = 0; i < count && records < limit; i++) {
            err = lg_message_error(messages[i]);
            if (err == LG_ERR_PARTITION_EOF) {
                int32_t p = lg_message_partition(messages[i]);
                if (!at_end[p]) {
                    at_end[p] = 1;
                    remaining--;
                }
            } else if (err) {
                fprintf(stderr, "lgperf: %s [%" PRId32 "]: %s\n",
                        options->topic, lg_message_partition(messages[i]),
                        lg_strerror(err));
                status = EXIT_RUNTIME;
                remaining = 0;
                break;
            } else {
                size_t key_len, value_len;
                lg_message_key(messages[i], &key_len);
                lg_message_value(messages[i], &value_len);
                bytes += value_len;
                records++;
            }
        }
    }
    uint64_t elapsed = now_ns() - start;
    free(at_end);
    free(messages);
    lg_consumer_destroy(consumer);
    print_summary(records, bytes, elapsed, NULL, 0);
    return status;
}

/* ---------------------------------------------------------------- latency */

/* CPU time of the whole process so far (user + system, every thread). */
static uint64_t cpu_ns(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return ((uint64_t)usage.ru_utime.tv_sec + (uint64_t)usage.ru_stime.tv_sec) *
               1000000000u +
           ((uint64_t)usage.ru_utime.tv_usec + (uint64_t)usage.ru_stime.tv_usec) *
               1000u;
}

struct consumer_thread {
    struct run *run;
    lg_consumer_t *consumer;
    uint64_t *latencies; /* produce-to-consume, one per record received */
    uint64_t received;
    uint64_t bytes;
    uint64_t last_receive_ns;
    int failed;
};

/* -L's consumer: polls until it has every record that was delivered. */
static void *consume_thread(void *argument) {
    struct consumer_thread *self = argument;
    struct run *run = self->run;
    uint64_t expected = (uint64_t)run->options->records;
    const lg_message_t *messages[256];
    while (self->received < expected) {
        /* Once production has finished, nothing more than the records
         * reported delivered can arrive. */
        if (atomic_load(&run->producing_done) &&
            self->received >= atomic_load(&run->reported) -
                                  run->delivery_failures)
            break;
        size_t count;
        if (lg_consumer_poll_batch(self->consumer, 10, messages, 256,
                                   &count)) {
            fprintf(stderr, "lgperf: poll: %s\n", lg_last_error_message());
            self->failed = 1;
            break;
        }
        uint64_t now = now_ns();
        for (size_t i = 0; i < count; i++) {
            if (lg_message_error(messages[i]))
                continue;
            size_t length;
            const unsigned char *value = lg_message_value(messages[i],
                                                          &length);
            uint64_t sent;
            if (!value || length < sizeof sent || self->received >= expected)
                continue;
            memcpy(&sent, value, sizeof sent);
            self->latencies[self->received++] = now - sent;
            self->bytes += length;
        }
        if (count)
            self->last_receive_ns = now;
    }
    return NULL;
}

/* -L: a consumer thread polls from the end while -P's producer runs. */
static int run_latency(const struct options *options, lg_engine_t *engine,
                       const lg_conf_t *producer_conf,
                       const lg_conf_t *consumer_conf) {
    int32_t partitions;
    int status = ensure_topic(options, engine, &partitions);
    if (status)
        return status;
    struct run run;
    memset(&run, 0, sizeof run);
    run.options = options;
    struct consumer_thread reader;
    memset(&reader, 0, sizeof reader);
    reader.run = &run;
    run.times = malloc((size_t)options->records * sizeof *run.times);
    reader.latencies = malloc((size_t)options->records * sizeof *run.times);
    struct producer_thread *threads =
        calloc((size_t)options->threads, sizeof *threads);
    lg_err_t err;
    if (!run.times || !reader.latencies || !threads) {
        fprintf(stderr, "lgperf: out of memory for %" PRId64 " records\n",
                options->records);
        status = EXIT_RUNTIME;
    } else if ((err = lg_consumer_new(engine, consumer_conf,
                                      &reader.consumer))) {
        status = runtime_error("consumer", err);
    } else if (!(status = assign_all(options, engine, reader.consumer,
                                     LG_OFFSET_END, &partitions))) {
        status = new_producer(&run, engine, producer_conf);
    }
    if (status) {
        lg_consumer_destroy(reader.consumer);
        free(run.times);
        free(reader.latencies);
        free(threads);
        return status;
    }
    printf("lgperf: end-to-end latency of %" PRId64 " records of %" PRId64
           " bytes through %s (%" PRId32 " partitions), acks %s, %d producing "
           "thread%s\n", options->records, options->size, options->topic,
           partitions, options->acks, options->threads,
           options->threads == 1 ? "" : "s");
    fflush(stdout);
    pthread_t consumer_id, poller;
    uint64_t cpu_start = cpu_ns();
    if (pthread_create(&consumer_id, NULL, consume_thread, &reader)) {
        fprintf(stderr, "lgperf: cannot start threads\n");
        exit(EXIT_RUNTIME);
    }
    start_producing(&run, threads, &poller);
    join_producing(&run, threads, poller);
    pthread_join(consumer_id, NULL);
    uint64_t cpu = cpu_ns() - cpu_start;
    lg_producer_destroy(run.producer);
    lg_consumer_destroy(reader.consumer);
    status = failure_status(&run);
    if (reader.failed)
        status = EXIT_RUNTIME;
    if (reader.received != run.delivered) {
        fprintf(stderr, "lgperf: consumed %" PRIu64 " of %" PRIu64
                " delivered records\n", reader.received, run.delivered);
        status = EXIT_RUNTIME;
    }
    uint64_t elapsed = reader.last_receive_ns > run.start_ns
                           ? reader.last_receive_ns - run.start_ns : 0;
    /* Spinning (io.spin.us, poll.spin.us) trades CPU for latency: show
     * what the run cost, all threads of the process together. */
    if (reader.received && elapsed)
        printf("lgperf: CPU %.3f s, %.1f us per record, %.0f%% of one core\n",
               (double)cpu / 1e9, (double)cpu / 1e3 / (double)reader.received,
               100.0 * (double)cpu / (double)elapsed);
    print_summary(reader.received, reader.bytes, elapsed, reader.latencies,
                  reader.received);
    free(run.times);
    free(reader.latencies);
    free(threads);
    return status;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    struct options options;
    int status = parse_options(argc, argv, &options);
    if (status >= 0)
        return status;
    lg_engine_t *engine = NULL;
    lg_conf_t *producer_conf = NULL, *consumer_conf = NULL;
    if ((status = open_engine(&options, &engine, &producer_conf,
                              &consumer_conf)))
        return status;
    if (options.mode == MODE_PRODUCE)
        status = run_produce(&options, engine, producer_conf);
    else if (options.mode == MODE_CONSUME)
        status = run_consume(&options, engine, consumer_conf);
    else
        status = run_latency(&options, engine, producer_conf, consumer_conf);
    lg_conf_destroy(producer_conf);
    lg_conf_destroy(consumer_conf);
    lg_err_t err = lg_engine_close(engine);
    if (err && status == EXIT_OK)
        status = runtime_error("close", err);
    return status;
}
