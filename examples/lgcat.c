/*
 * lgcat.c -- kcat for liblog: produce lines from stdin, consume records to
 * stdout, or list topics, on a liblog data directory.  The flags are kcat's
 * wherever kcat has the concept; -b names a data directory instead of a
 * broker list.
 *
 *   lgcat -b <dir> -P -t <topic> [-p <partition>] [-K <delim>] [-H name=value]
 *         [-c [<count>]] [-N <partitions>] [-X prop=value] [-q]
 *   lgcat -b <dir> -C -t <topic> [-p <partition>] [-o <offset>] [-e]
 *         [-c <count>] [-f <format>] [-X prop=value] [-q]
 *   lgcat -b <dir> -L [-t <topic>]
 *
 * Examples:
 *   printf 'user1:hello\nuser2:world\n' | lgcat -b ./data -P -t events -K: -c -N 3
 *   lgcat -b ./data -C -t events -o beginning -e -f '%p/%o %k=%s\n'
 *   lgcat -b ./data -L
 *
 * Produce mode sends each line of stdin (without its newline) as one record
 * through a producer handle and waits for every delivery report at end of
 * input.  Consume mode assigns every partition of the topic (or the one
 * named by -p) and prints each record through the -f format.  List mode
 * prints each topic with its partitions and their low and high watermarks.
 * Run `lgcat -h` for every flag.
 *
 * Exit status: 0 on success, 1 on a usage error, 2 on a runtime error (the
 * library's lg_last_error_message() is printed), including any record whose
 * delivery report carried an error.
 */
#include <liblog.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_OK 0
#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

/* How many consumer messages one poll_batch call may return. */
#define POLL_BATCH_MAX 512
/* Poll timeout in milliseconds: bounds how late a SIGINT is noticed. */
#define POLL_TIMEOUT_MS 100

/* ---------------------------------------------------------------- options */

enum mode { MODE_NONE, MODE_PRODUCE, MODE_CONSUME, MODE_LIST };

enum offset_kind {
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_ABSOLUTE,  /* -o <n> */
    OFFSET_FROM_END,  /* -o -<n>: n records before the high watermark */
    OFFSET_TIMESTAMP, /* -o s@<ms>: first record at or after ms */
};

/* A name=value pair from -X or -H; both point into argv. */
struct pair {
    char *name;
    char *value;
};

struct options {
    enum mode mode;
    const char *dir;
    const char *topic;
    int32_t partition;         /* -1: any (produce) or all (consume) */
    const char *key_delimiter; /* NULL: lines carry no key */
    int create_topic;
    int32_t create_partitions;
    enum offset_kind offset_kind;
    int64_t offset_value;
    int exit_at_end;
    int64_t max_count; /* -1: unlimited */
    const char *format;
    int quiet;
    struct pair *properties;
    size_t property_count;
    struct pair *headers;
    size_t header_count;
};

static void print_usage(FILE *out) {
    fprintf(out,
        "usage: lgcat -b <dir> -P|-C|-L [options]\n"
        "\n"
        "Modes:\n"
        "  -P               produce: each line of stdin becomes one record\n"
        "  -C               consume: print records to stdout\n"
        "  -L               list topics, partitions and watermarks\n"
        "\n"
        "General:\n"
        "  -b <dir>         liblog data directory (required)\n"
        "  -t <topic>       topic (required for -P and -C; filters -L)\n"
        "  -p <partition>   partition (default: partitioner for -P, all for -C)\n"
        "  -X <prop=value>  set a configuration property; it goes to the\n"
        "                   producer or consumer in use when that accepts it,\n"
        "                   else to the engine (see lg_conf_set(3))\n"
        "  -q               quiet: no informational messages on stderr\n"
        "  -h               this help\n"
        "\n"
        "Produce (-P):\n"
        "  -K <delim>       split each line into key and value at the first\n"
        "                   <delim> (a line without it has a null key)\n"
        "  -H <name=value>  add this header to every record (repeatable)\n"
        "  -c               create the topic if it is missing\n"
        "  -N <partitions>  partition count for -c (default 1; implies -c)\n"
        "  -c <count>       produce at most <count> lines\n"
        "\n"
        "Consume (-C):\n"
        "  -o <offset>      beginning, end, <n> (absolute), -<n> (n before the\n"
        "                   end of each partition) or s@<ms> (first record at\n"
        "                   or after a timestamp); default beginning\n"
        "  -e               exit once every partition has reached its end\n"
        "  -c <count>       exit after <count> records\n"
        "  -f <format>      output format (default \"%%s\\n\"):\n"
        "                   %%s value  %%k key  %%S value size  %%K key size\n"
        "                   %%o offset  %%p partition  %%t topic\n"
        "                   %%T timestamp (ms)  %%h headers (name=value,...)\n"
        "                   %%%% percent  \\n newline  \\t tab  \\\\ backslash\n"
        "\n"
        "Exit status: 0 ok, 1 usage error, 2 runtime error.\n");
}

/* Prints "lgcat: <message>" and the short usage hint; returns EXIT_USAGE. */
static int usage_error(const char *message, const char *detail) {
    fprintf(stderr, "lgcat: %s%s%s\n", message, detail ? ": " : "",
            detail ? detail : "");
    fprintf(stderr, "Try 'lgcat -h' for the flags.\n");
    return EXIT_USAGE;
}

/* Prints "lgcat: <what>: <library message>" for the lg_ call that just
 * failed with err and returns EXIT_RUNTIME.  Must be called before any other
 * lg_ call, which would replace the thread's last error message. */
static int runtime_error(const char *what, lg_err_t err) {
    const char *message = lg_last_error_message();
    fprintf(stderr, "lgcat: %s: %s\n", what,
            message[0] ? message : lg_strerror(err));
    return EXIT_RUNTIME;
}

/* Parses a whole decimal integer from text into *valuep; 0 on success, -1
 * when text is empty, has trailing characters or overflows. */
static int parse_integer(const char *text, int64_t *valuep) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (!*text || *end || errno)
        return -1;
    *valuep = value;
    return 0;
}

/* Splits "name=value" (argv text, modified in place) into pair; -1 when
 * there is no '=' or the name is empty. */
static int split_pair(char *text, struct pair *pair) {
    char *equals = strchr(text, '=');
    if (!equals || equals == text)
        return -1;
    *equals = '\0';
    pair->name = text;
    pair->value = equals + 1;
    return 0;
}

/* Appends pair to the growing array *pairsp of *countp entries. */
static int push_pair(struct pair **pairsp, size_t *countp, struct pair pair) {
    struct pair *grown = realloc(*pairsp, (*countp + 1) * sizeof *grown);
    if (!grown)
        return -1;
    grown[(*countp)++] = pair;
    *pairsp = grown;
    return 0;
}

/* Parses -o's argument into options; -1 when it is not a known form. */
static int parse_offset(const char *text, struct options *options) {
    if (!strcmp(text, "beginning")) {
        options->offset_kind = OFFSET_BEGINNING;
    } else if (!strcmp(text, "end")) {
        options->offset_kind = OFFSET_END;
    } else if (!strncmp(text, "s@", 2)) {
        options->offset_kind = OFFSET_TIMESTAMP;
        if (parse_integer(text + 2, &options->offset_value) ||
            options->offset_value < 0)
            return -1;
    } else if (text[0] == '-') {
        options->offset_kind = OFFSET_FROM_END;
        if (parse_integer(text + 1, &options->offset_value) ||
            options->offset_value < 0)
            return -1;
    } else {
        options->offset_kind = OFFSET_ABSOLUTE;
        if (parse_integer(text, &options->offset_value) ||
            options->offset_value < 0)
            return -1;
    }
    return 0;
}

/* Parses argv into options.  Returns -1 when the command line is fine,
 * otherwise the exit status to leave with (0 after -h). */
static int parse_options(int argc, char **argv, struct options *options) {
    memset(options, 0, sizeof *options);
    options->partition = -1;
    options->create_partitions = 1;
    options->offset_kind = OFFSET_BEGINNING;
    options->max_count = -1;
    options->format = "%s\\n";

    int option;
    int64_t number;
    opterr = 0; /* we print our own messages */
    /* "+": stop at the first non-option, so `-c <count>` can be read by
     * looking at argv[optind] ourselves.  -c's argument is optional: a bare
     * -c in produce mode means "create the topic". */
    while ((option = getopt(argc, argv, "+hPCLb:t:p:K:H:c::N:o:ef:X:q")) != -1) {
        switch (option) {
        case 'h':
            print_usage(stdout);
            return EXIT_OK;
        case 'P':
        case 'C':
        case 'L': {
            enum mode mode = option == 'P'   ? MODE_PRODUCE
                             : option == 'C' ? MODE_CONSUME
                                             : MODE_LIST;
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
        case 'p':
            if (parse_integer(optarg, &number) || number < 0 ||
                number > INT32_MAX)
                return usage_error("-p wants a partition number", optarg);
            options->partition = (int32_t)number;
            break;
        case 'K':
            if (!*optarg)
                return usage_error("-K wants a non-empty delimiter", NULL);
            options->key_delimiter = optarg;
            break;
        case 'H': {
            struct pair pair;
            if (split_pair(optarg, &pair))
                return usage_error("-H wants name=value", optarg);
            if (push_pair(&options->headers, &options->header_count, pair))
                return usage_error("out of memory", NULL);
            break;
        }
        case 'c': {
            const char *count_text = optarg;
            if (!count_text && optind < argc && argv[optind][0] >= '0' &&
                argv[optind][0] <= '9')
                count_text = argv[optind++];
            if (!count_text) {
                options->create_topic = 1;
                break;
            }
            if (parse_integer(count_text, &number) || number < 0)
                return usage_error("-c wants a record count", count_text);
            options->max_count = number;
            break;
        }
        case 'N':
            if (parse_integer(optarg, &number) || number < 1 ||
                number > INT32_MAX)
                return usage_error("-N wants a partition count >= 1", optarg);
            options->create_partitions = (int32_t)number;
            options->create_topic = 1;
            break;
        case 'o':
            if (parse_offset(optarg, options))
                return usage_error("-o wants beginning, end, <n>, -<n> or "
                                   "s@<ms>", optarg);
            break;
        case 'e':
            options->exit_at_end = 1;
            break;
        case 'f':
            options->format = optarg;
            break;
        case 'X': {
            struct pair pair;
            if (split_pair(optarg, &pair))
                return usage_error("-X wants prop=value", optarg);
            /* Check the name and value now, so a typo is a usage error. */
            lg_conf_t *scratch = lg_conf_new();
            if (!scratch)
                return usage_error("out of memory", NULL);
            lg_err_t err = lg_conf_set(scratch, pair.name, pair.value);
            lg_conf_destroy(scratch);
            if (err)
                return usage_error("-X", lg_last_error_message());
            if (push_pair(&options->properties, &options->property_count,
                          pair))
                return usage_error("out of memory", NULL);
            break;
        }
        case 'q':
            options->quiet = 1;
            break;
        case ':':
        case '?':
        default: {
            char flag[3] = {'-', (char)optopt, '\0'};
            if (optopt && strchr("btpKHNofX", optopt))
                return usage_error("option needs an argument", flag);
            return usage_error("unknown option", flag);
        }
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (options->mode == MODE_NONE)
        return usage_error("one of -P, -C or -L is required", NULL);
    if (!options->dir)
        return usage_error("-b <dir> is required", NULL);
    if (options->mode != MODE_LIST && !options->topic)
        return usage_error("-t <topic> is required with -P and -C", NULL);
    if (options->mode == MODE_CONSUME && options->create_topic)
        return usage_error("-c without a count and -N apply to -P only",
                           NULL);
    return -1;
}

/* ---------------------------------------------------------------- engine */

enum client_kind { CLIENT_NONE, CLIENT_PRODUCER, CLIENT_CONSUMER };

/* A configuration holding the pairs of properties whose entry in selected
 * is nonzero (every pair when selected is NULL), or NULL when out of
 * memory.  The pairs were validated while parsing. */
static lg_conf_t *conf_from_pairs(const struct pair *pairs, size_t count,
                                  const int *selected) {
    lg_conf_t *conf = lg_conf_new();
    for (size_t i = 0; conf && i < count; i++)
        if (!selected || selected[i])
            lg_conf_set(conf, pairs[i].name, pairs[i].value);
    return conf;
}

/* 1 when a client of kind created on engine accepts property name=value,
 * found by creating (and at once destroying) one with just that property. */
static int client_accepts(lg_engine_t *engine, enum client_kind kind,
                          const struct pair *pair) {
    lg_conf_t *conf = conf_from_pairs(pair, 1, NULL);
    int accepted = 0;
    if (conf && kind == CLIENT_PRODUCER) {
        lg_producer_t *producer;
        if (lg_producer_new(engine, conf, &producer) == LG_OK) {
            accepted = 1;
            lg_producer_destroy(producer);
        }
    } else if (conf && kind == CLIENT_CONSUMER) {
        lg_consumer_t *consumer;
        if (lg_consumer_new(engine, conf, &consumer) == LG_OK) {
            accepted = 1;
            lg_consumer_destroy(consumer);
        }
    }
    lg_conf_destroy(conf);
    return accepted;
}

/* Opens the data directory and routes the -X properties, by trying them:
 * each property goes to the client configuration (*client_confp, for a
 * producer or consumer as kind says) when such a client accepts it, and to
 * the engine's configuration when the engine accepts it (topic properties
 * there are defaults for every topic).  A property nobody accepts fails the
 * open with the library's message naming it.  Returns 0 or an exit status;
 * on success the caller owns *enginep and *client_confp. */
static int open_engine(const struct options *options, enum client_kind kind,
                       lg_engine_t **enginep, lg_conf_t **client_confp) {
    size_t count = options->property_count;
    const struct pair *pairs = options->properties;
    int *for_client = calloc(count ? count : 1, sizeof *for_client);
    int *for_engine = calloc(count ? count : 1, sizeof *for_engine);
    lg_conf_t *conf = conf_from_pairs(pairs, count, NULL);
    lg_engine_t *engine = NULL;
    int status = 0;
    if (!for_client || !for_engine || !conf) {
        fprintf(stderr, "lgcat: out of memory\n");
        status = EXIT_RUNTIME;
        goto out;
    }

    /* First try: the engine accepts every property. */
    lg_err_t err = lg_engine_open(options->dir, conf, &engine);
    if (err == LG_OK) {
        for (size_t i = 0; i < count; i++)
            for_client[i] = client_accepts(engine, kind, &pairs[i]);
    } else if (err == LG_ERR_INVALID_CONFIG && count) {
        /* Some property belongs to a client: sort them out on an engine
         * opened with defaults, then reopen with the engine's share. */
        if ((err = lg_engine_open(options->dir, NULL, &engine))) {
            status = runtime_error(options->dir, err);
            goto out;
        }
        int engine_has_any = 0;
        for (size_t i = 0; i < count; i++) {
            for_client[i] = client_accepts(engine, kind, &pairs[i]);
            for_engine[i] = !for_client[i];
            engine_has_any |= for_engine[i];
        }
        if (engine_has_any) {
            lg_engine_close(engine);
            engine = NULL;
            lg_conf_destroy(conf);
            if (!(conf = conf_from_pairs(pairs, count, for_engine))) {
                fprintf(stderr, "lgcat: out of memory\n");
                status = EXIT_RUNTIME;
                goto out;
            }
            if ((err = lg_engine_open(options->dir, conf, &engine))) {
                status = runtime_error(options->dir, err);
                goto out;
            }
        }
    } else {
        status = runtime_error(options->dir, err);
        goto out;
    }
    if (!(*client_confp = conf_from_pairs(pairs, count, for_client))) {
        fprintf(stderr, "lgcat: out of memory\n");
        status = EXIT_RUNTIME;
        goto out;
    }
    *enginep = engine;
    engine = NULL;
out:
    lg_engine_close(engine);
    lg_conf_destroy(conf);
    free(for_client);
    free(for_engine);
    return status;
}

/* ---------------------------------------------------------------- list */

/* -L: prints every topic (or just options->topic) with its partitions and
 * their low and high watermarks. */
static int list_topics(const struct options *options, lg_engine_t *engine) {
    lg_strings_t *names = NULL;
    lg_err_t err;
    if (!options->topic && (err = lg_topic_list(engine, &names)))
        return runtime_error("list topics", err);
    size_t topic_count = options->topic ? 1 : lg_strings_count(names);
    printf("Metadata for data directory %s (liblog %s):\n", options->dir,
           lg_version());
    printf(" %zu topic%s:\n", topic_count, topic_count == 1 ? "" : "s");
    int status = EXIT_OK;
    for (size_t t = 0; t < topic_count && status == EXIT_OK; t++) {
        const char *name = options->topic ? options->topic
                                          : lg_strings_get(names, t);
        int32_t partitions;
        if ((err = lg_topic_partition_count(engine, name, &partitions))) {
            status = runtime_error(name, err);
            break;
        }
        printf("  topic \"%s\" with %" PRId32 " partition%s:\n", name,
               partitions, partitions == 1 ? "" : "s");
        for (int32_t p = 0; p < partitions; p++) {
            int64_t low, high;
            if ((err = lg_watermarks(engine, name, p, &low, &high))) {
                status = runtime_error(name, err);
                break;
            }
            printf("    partition %" PRId32 ", low %" PRId64 ", high %" PRId64
                   "\n", p, low, high);
        }
    }
    lg_strings_destroy(names);
    return status;
}

/* ---------------------------------------------------------------- produce */

/* Delivery outcome counts, updated by the delivery callback. */
struct delivery_stats {
    size_t delivered;
    size_t failed;
};

/* Delivery callback: served from our own lg_producer_poll/flush calls. */
static void on_delivery(void *opaque, lg_err_t err, const char *topic,
                        int32_t partition, int64_t offset,
                        void *message_opaque) {
    struct delivery_stats *stats = opaque;
    if (err == LG_OK) {
        stats->delivered++;
        return;
    }
    if (stats->failed++ < 10)
        fprintf(stderr, "lgcat: delivery to %s [%" PRId32 "] failed: %s\n",
                topic, partition, lg_strerror(err));
}

/* Queues one record, serving delivery reports while the producer's memory
 * is full.  Returns LG_OK or the error of lg_produce/lg_produce_records. */
static lg_err_t produce_one(lg_producer_t *producer,
                            const struct options *options,
                            lg_records_t *records, const char *key,
                            size_t key_len, const char *value,
                            size_t value_len) {
    for (;;) {
        lg_err_t err;
        if (records) {
            /* Headers: a one-record list carries them. */
            lg_records_clear(records);
            err = lg_records_add(records, key, key_len, value, value_len,
                                 LG_TIMESTAMP_NOW);
            for (size_t i = 0; err == LG_OK && i < options->header_count; i++)
                err = lg_records_add_header(
                    records, options->headers[i].name,
                    strlen(options->headers[i].name), options->headers[i].value,
                    strlen(options->headers[i].value));
            if (err == LG_OK)
                err = lg_produce_records(producer, options->topic,
                                         options->partition, records, NULL);
        } else {
            err = lg_produce(producer, options->topic, options->partition,
                             key, key_len, value, value_len, LG_TIMESTAMP_NOW,
                             NULL);
        }
        if (err != LG_ERR_QUEUE_FULL)
            return err;
        lg_producer_poll(producer, POLL_TIMEOUT_MS);
    }
}

/* -P: produces every line of stdin, then flushes and checks the delivery
 * reports. */
static int produce_lines(const struct options *options, lg_engine_t *engine,
                         const lg_conf_t *producer_conf) {
    lg_err_t err;
    int32_t partitions;
    if (options->create_topic) {
        err = lg_topic_create(engine, options->topic,
                              options->create_partitions, NULL);
        if (err && err != LG_ERR_TOPIC_EXISTS)
            return runtime_error(options->topic, err);
    }
    if ((err = lg_topic_partition_count(engine, options->topic, &partitions)))
        return runtime_error(options->topic, err);
    if (options->partition >= partitions) {
        fprintf(stderr, "lgcat: %s: partition %" PRId32 " does not exist "
                "(the topic has %" PRId32 ")\n", options->topic,
                options->partition, partitions);
        return EXIT_RUNTIME;
    }

    lg_producer_t *producer;
    if ((err = lg_producer_new(engine, producer_conf, &producer)))
        return runtime_error("producer", err);
    struct delivery_stats stats = {0, 0};
    lg_producer_set_delivery_callback(producer, on_delivery, &stats);
    lg_records_t *records = NULL;
    if (options->header_count && !(records = lg_records_new())) {
        lg_producer_destroy(producer);
        fprintf(stderr, "lgcat: out of memory\n");
        return EXIT_RUNTIME;
    }

    int status = EXIT_OK;
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    int64_t produced = 0;
    size_t delimiter_length =
        options->key_delimiter ? strlen(options->key_delimiter) : 0;
    while ((options->max_count < 0 || produced < options->max_count) &&
           (length = getline(&line, &capacity, stdin)) >= 0) {
        if (length > 0 && line[length - 1] == '\n')
            line[--length] = '\0';
        const char *key = NULL, *value = line;
        size_t key_len = 0, value_len = (size_t)length;
        char *delimiter = options->key_delimiter
                              ? strstr(line, options->key_delimiter)
                              : NULL;
        if (delimiter) {
            key = line;
            key_len = (size_t)(delimiter - line);
            value = delimiter + delimiter_length;
            value_len = (size_t)length - key_len - delimiter_length;
        }
        if ((err = produce_one(producer, options, records, key, key_len,
                               value, value_len))) {
            status = runtime_error("produce", err);
            break;
        }
        produced++;
        lg_producer_poll(producer, 0);
    }
    if (ferror(stdin)) {
        fprintf(stderr, "lgcat: reading stdin: %s\n", strerror(errno));
        status = EXIT_RUNTIME;
    }
    free(line);
    lg_records_destroy(records);

    /* Deliver what is queued; every record produced gets one report. */
    if ((err = lg_producer_flush(producer, -1)) && status == EXIT_OK)
        status = runtime_error("flush", err);
    lg_producer_destroy(producer);
    if (stats.failed) {
        fprintf(stderr, "lgcat: %zu of %" PRId64 " records failed\n",
                stats.failed, produced);
        status = EXIT_RUNTIME;
    }
    if (!options->quiet && status == EXIT_OK)
        fprintf(stderr, "%% Produced %zu record%s to topic %s\n",
                stats.delivered, stats.delivered == 1 ? "" : "s",
                options->topic);
    return status;
}

/* ---------------------------------------------------------------- consume */

static volatile sig_atomic_t interrupted;

static void on_signal(int signal_number) { interrupted = signal_number; }

/* Writes message to out through the -f format. */
static void print_message(FILE *out, const char *format,
                          const lg_message_t *message) {
    for (const char *c = format; *c; c++) {
        if (*c == '\\' && c[1]) {
            c++;
            switch (*c) {
            case 'n': putc('\n', out); break;
            case 't': putc('\t', out); break;
            case 'r': putc('\r', out); break;
            case '0': putc('\0', out); break;
            default: putc(*c, out); break;
            }
            continue;
        }
        if (*c != '%' || !c[1]) {
            putc(*c, out);
            continue;
        }
        size_t length;
        const void *bytes;
        switch (*++c) {
        case 's':
            bytes = lg_message_value(message, &length);
            fwrite(bytes ? bytes : "", 1, length, out);
            break;
        case 'k':
            bytes = lg_message_key(message, &length);
            fwrite(bytes ? bytes : "", 1, length, out);
            break;
        case 'S':
            bytes = lg_message_value(message, &length);
            fprintf(out, "%lld", bytes ? (long long)length : -1LL);
            break;
        case 'K':
            bytes = lg_message_key(message, &length);
            fprintf(out, "%lld", bytes ? (long long)length : -1LL);
            break;
        case 'o':
            fprintf(out, "%" PRId64, lg_message_offset(message));
            break;
        case 'p':
            fprintf(out, "%" PRId32, lg_message_partition(message));
            break;
        case 't':
            fputs(lg_message_topic(message), out);
            break;
        case 'T':
            fprintf(out, "%" PRId64, lg_message_timestamp(message, NULL));
            break;
        case 'h': {
            size_t count = lg_message_header_count(message);
            for (size_t i = 0; i < count; i++) {
                const char *name;
                size_t name_len, value_len;
                const void *value;
                if (lg_message_header(message, i, &name, &name_len, &value,
                                      &value_len))
                    break;
                if (i)
                    putc(',', out);
                fwrite(name, 1, name_len, out);
                if (value) { /* a null value prints as the bare name */
                    putc('=', out);
                    fwrite(value, 1, value_len, out);
                }
            }
            break;
        }
        case '%':
            putc('%', out);
            break;
        default: /* unknown conversion: printed as written */
            putc('%', out);
            putc(*c, out);
            break;
        }
    }
}

/* Assigns partition of the topic at the position -o asks for. */
static lg_err_t assign_partition(const struct options *options,
                                 lg_engine_t *engine, lg_consumer_t *consumer,
                                 int32_t partition) {
    lg_err_t err;
    int64_t low, high, offset;
    switch (options->offset_kind) {
    case OFFSET_BEGINNING:
        return lg_consumer_assign(consumer, options->topic, partition,
                                  LG_OFFSET_BEGINNING);
    case OFFSET_END:
        return lg_consumer_assign(consumer, options->topic, partition,
                                  LG_OFFSET_END);
    case OFFSET_ABSOLUTE:
        return lg_consumer_assign(consumer, options->topic, partition,
                                  options->offset_value);
    case OFFSET_FROM_END:
        if ((err = lg_watermarks(engine, options->topic, partition, &low,
                                 &high)))
            return err;
        offset = high - options->offset_value;
        return lg_consumer_assign(consumer, options->topic, partition,
                                  offset < low ? low : offset);
    case OFFSET_TIMESTAMP:
        if ((err = lg_consumer_assign(consumer, options->topic, partition,
                                      LG_OFFSET_BEGINNING)))
            return err;
        return lg_consumer_seek_timestamp(consumer, options->topic, partition,
                                          options->offset_value);
    }
    return LG_ERR_INVALID_ARG;
}

/* -C: prints records of the assigned partitions until -c records, the end
 * of every partition with -e, or SIGINT/SIGTERM. */
static int consume_records(const struct options *options, lg_engine_t *engine,
                           lg_conf_t *consumer_conf) {
    lg_err_t err;
    int32_t partitions;
    if ((err = lg_topic_partition_count(engine, options->topic, &partitions)))
        return runtime_error(options->topic, err);
    if (options->partition >= partitions) {
        fprintf(stderr, "lgcat: %s: partition %" PRId32 " does not exist "
                "(the topic has %" PRId32 ")\n", options->topic,
                options->partition, partitions);
        return EXIT_RUNTIME;
    }
    if (options->exit_at_end &&
        (err = lg_conf_set(consumer_conf, "enable.partition.eof", "true")))
        return runtime_error("enable.partition.eof", err);

    lg_consumer_t *consumer;
    if ((err = lg_consumer_new(engine, consumer_conf, &consumer)))
        return runtime_error("consumer", err);
    int32_t first = options->partition >= 0 ? options->partition : 0;
    int32_t last = options->partition >= 0 ? options->partition
                                           : partitions - 1;
    char *at_end = calloc((size_t)partitions, 1);
    int32_t remaining = last - first + 1; /* partitions not yet at their end */
    int status = EXIT_OK;
    if (!at_end) {
        fprintf(stderr, "lgcat: out of memory\n");
        status = EXIT_RUNTIME;
    }
    for (int32_t p = first; p <= last && status == EXIT_OK; p++)
        if ((err = assign_partition(options, engine, consumer, p))) {
            char what[64];
            snprintf(what, sizeof what, "assign partition %" PRId32, p);
            status = runtime_error(what, err);
        }

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    const lg_message_t *messages[POLL_BATCH_MAX];
    int64_t printed = 0;
    int done = status != EXIT_OK || options->max_count == 0;
    while (!done && !interrupted) {
        size_t count;
        if ((err = lg_consumer_poll_batch(consumer, POLL_TIMEOUT_MS, messages,
                                          POLL_BATCH_MAX, &count))) {
            status = runtime_error("poll", err);
            break;
        }
        for (size_t i = 0; i < count && !done; i++) {
            const lg_message_t *message = messages[i];
            int32_t partition = lg_message_partition(message);
            err = lg_message_error(message);
            if (err == LG_ERR_PARTITION_EOF) {
                if (!options->quiet)
                    fprintf(stderr, "%% Reached end of topic %s [%" PRId32
                            "] at offset %" PRId64 "\n", options->topic,
                            partition, lg_message_offset(message));
                if (!at_end[partition]) {
                    at_end[partition] = 1;
                    remaining--;
                }
                if (options->exit_at_end && remaining == 0)
                    done = 1;
            } else if (err) {
                fprintf(stderr, "lgcat: %s [%" PRId32 "] at offset %" PRId64
                        ": %s\n", options->topic, partition,
                        lg_message_offset(message), lg_strerror(err));
                status = EXIT_RUNTIME;
                done = 1;
            } else {
                print_message(stdout, options->format, message);
                if (options->max_count >= 0 && ++printed >= options->max_count)
                    done = 1;
            }
        }
    }
    if (fflush(stdout) == EOF && status == EXIT_OK) {
        fprintf(stderr, "lgcat: writing stdout: %s\n", strerror(errno));
        status = EXIT_RUNTIME;
    }
    free(at_end);
    lg_consumer_destroy(consumer);
    return status;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv) {
    struct options options;
    int status = parse_options(argc, argv, &options);
    if (status >= 0) {
        free(options.properties);
        free(options.headers);
        return status;
    }

    enum client_kind kind = options.mode == MODE_PRODUCE   ? CLIENT_PRODUCER
                            : options.mode == MODE_CONSUME ? CLIENT_CONSUMER
                                                           : CLIENT_NONE;
    lg_engine_t *engine = NULL;
    lg_conf_t *client_conf = NULL;
    status = open_engine(&options, kind, &engine, &client_conf);
    if (status == 0) {
        if (options.mode == MODE_LIST)
            status = list_topics(&options, engine);
        else if (options.mode == MODE_PRODUCE)
            status = produce_lines(&options, engine, client_conf);
        else
            status = consume_records(&options, engine, client_conf);
        lg_err_t err = lg_engine_close(engine);
        if (err && status == EXIT_OK)
            status = runtime_error("close", err);
    }
    lg_conf_destroy(client_conf);
    free(options.properties);
    free(options.headers);
    return status;
}
