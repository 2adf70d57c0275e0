/*
 * test_security.c -- file permissions, names that try to leave the data
 * directory, and the authorization hook.
 *
 * Permissions are checked with umask 0, so only the modes the engine asks
 * for count: every directory under the data directory must be 0700 and
 * every file 0600 -- segments, indexes, metadata, checkpoints, the lock,
 * the clean-shutdown marker -- after topics were created, written, rolled,
 * deleted and the engine closed and reopened.
 */
#include "testutil.h"

#include "liblog.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *base;
static char *dir;

static void setup(void) {
    base = lgt_tmpdir("security");
    dir = lgt_path(base, "data");
}

static void teardown(void) {
    lgt_rmrf(base);
    free(dir);
    free(base);
}

static lg_engine_t *open_engine(void) {
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "segment.bytes", "1000"), LG_OK);
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(dir, conf, &engine), LG_OK);
    lg_conf_destroy(conf);
    return engine;
}

static lg_err_t append_one(lg_engine_t *engine, const char *topic) {
    lg_records_t *records = lg_records_new();
    char value[300];
    memset(value, 'v', sizeof value);
    lg_records_add(records, "k", 1, value, sizeof value, LG_TIMESTAMP_NOW);
    lg_err_t err = lg_append(engine, topic, 0, records, LG_ACKS_ALL, NULL);
    lg_records_destroy(records);
    return err;
}

/* ------------------------------------------------------------------------
 * Permissions
 * --------------------------------------------------------------------- */

static int bad_modes, files_seen, dirs_seen;

static int check_mode(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw) {
    (void)ftw;
    mode_t mode = st->st_mode & 07777;
    if (flag == FTW_D || flag == FTW_DP) {
        dirs_seen++;
        if (mode != 0700) {
            fprintf(stderr, "directory %s has mode %04o\n", path, mode);
            bad_modes++;
        }
    } else if (flag == FTW_F) {
        files_seen++;
        if (mode != 0600) {
            fprintf(stderr, "file %s has mode %04o\n", path, mode);
            bad_modes++;
        }
    }
    return 0;
}

START_TEST(everything_created_is_private_whatever_the_umask) {
    mode_t old = umask(0);
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(lg_topic_create(engine, "a", 2, NULL), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "doomed", 1, NULL), LG_OK);
    for (int i = 0; i < 10; i++) /* several segments: rolls, sealed indexes */
        ck_assert_int_eq(append_one(engine, "a"), LG_OK);
    ck_assert_int_eq(lg_topic_config_set(engine, "a", "segment.ms", "100000"),
                     LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "doomed"), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    engine = open_engine(); /* reopen rewrites checkpoints */
    ck_assert_int_eq(append_one(engine, "a"), LG_OK);
    /* While open: lock file, no clean marker; then closed: marker. */
    bad_modes = files_seen = dirs_seen = 0;
    ck_assert_int_eq(nftw(dir, check_mode, 16, FTW_PHYS), 0);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(nftw(dir, check_mode, 16, FTW_PHYS), 0);
    umask(old);
    ck_assert_int_eq(bad_modes, 0);
    ck_assert_int_ge(dirs_seen, 3);  /* data dir, a-0, a-1 */
    ck_assert_int_ge(files_seen, 10); /* segments, indexes, metadata, lock */
}
END_TEST

START_TEST(missing_parent_directories_are_private_too) {
    mode_t old = umask(0);
    char *deep = lgt_path(base, "x/y/data");
    lg_engine_t *engine;
    ck_assert_int_eq(lg_engine_open(deep, NULL, &engine), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    umask(old);
    char *x = lgt_path(base, "x");
    struct stat st;
    ck_assert_int_eq(stat(x, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(stat(deep, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0700);
    free(x);
    free(deep);
}
END_TEST

/* ------------------------------------------------------------------------
 * Names that try to escape
 * --------------------------------------------------------------------- */

/* Number of entries in path besides . and .. */
static int entries_in(const char *path) {
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

START_TEST(topic_names_cannot_leave_the_data_directory) {
    lg_engine_t *engine = open_engine();
    static const char *hostile[] = {
        "..", ".", "../evil", "../../evil", "a/../../evil", "/tmp/evil",
        "/etc/passwd", "a/b", "evil/..", "..\\evil", "a\nb", " ",
        "", "topic\x01", "t%2f..", "\xc3\xa9t\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        ck_assert_msg(lg_topic_create(engine, hostile[i], 1, NULL) ==
                          LG_ERR_INVALID_TOPIC,
                      "created topic \"%s\"", hostile[i]);
        /* Data calls name no file: an unknown topic, never a path. */
        ck_assert_int_ne(append_one(engine, hostile[i]), LG_OK);
        lg_fetch_t *fetch = NULL;
        ck_assert_int_ne(lg_read(engine, hostile[i], 0, 0, 1024, &fetch),
                         LG_OK);
        ck_assert_ptr_null(fetch);
        ck_assert_int_ne(lg_topic_delete(engine, hostile[i]), LG_OK);
    }
    /* Very long names: Kafka's limit is 249 (partition directories must
     * fit in 255 bytes with "-<partition>"). */
    char name[4096];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    ck_assert_int_eq(lg_topic_create(engine, name, 1, NULL),
                     LG_ERR_INVALID_TOPIC);
    name[250] = '\0';
    ck_assert_int_eq(lg_topic_create(engine, name, 1, NULL),
                     LG_ERR_INVALID_TOPIC);
    name[249] = '\0';
    ck_assert_int_eq(lg_topic_create(engine, name, 1, NULL), LG_OK);
    /* A C string ends at its NUL: "ok\0/../../evil" is the topic "ok",
     * and what follows the NUL can never reach a path. */
    static const char embedded[] = "ok\0/../../evil";
    ck_assert_int_eq(lg_topic_create(engine, embedded, 1, NULL), LG_OK);
    ck_assert_int_eq(append_one(engine, "ok"), LG_OK);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    /* Nothing was created beside the data directory, and inside it only
     * the two legitimate partitions plus the engine's own files. */
    ck_assert_int_eq(entries_in(base), 1);
    char *ok_dir = lgt_path(dir, "ok-0");
    struct stat st;
    ck_assert_int_eq(stat(ok_dir, &st), 0);
    free(ok_dir);
    ck_assert_int_eq(access("/tmp/evil", F_OK), -1);
}
END_TEST

/* ------------------------------------------------------------------------
 * Authorization
 * --------------------------------------------------------------------- */

typedef struct acl {
    pthread_mutex_t lock;
    int calls;
    char principal[256];
    int operation, resource_type;
    char resource[256];
} acl_t;

/* Allows User:admin everything; User:reader READ and DESCRIBE; anonymous
 * nothing; everyone else only WRITE to topics whose name starts with
 * "open".  Records the last question. */
static int authorize(void *opaque, const char *principal, int operation,
                     int resource_type, const char *resource_name) {
    acl_t *acl = opaque;
    pthread_mutex_lock(&acl->lock);
    acl->calls++;
    snprintf(acl->principal, sizeof acl->principal, "%s", principal);
    acl->operation = operation;
    acl->resource_type = resource_type;
    snprintf(acl->resource, sizeof acl->resource, "%s", resource_name);
    pthread_mutex_unlock(&acl->lock);
    if (strcmp(principal, "User:admin") == 0)
        return 1;
    if (strcmp(principal, "User:reader") == 0)
        return operation == LG_OP_READ || operation == LG_OP_DESCRIBE;
    if (!*principal)
        return 0;
    return operation == LG_OP_WRITE && strncmp(resource_name, "open", 4) == 0;
}

static acl_t acl = {PTHREAD_MUTEX_INITIALIZER, 0, "", 0, 0, ""};

static void expect_asked(const char *principal, int operation,
                         const char *resource) {
    ck_assert_str_eq(acl.principal, principal);
    ck_assert_int_eq(acl.operation, operation);
    ck_assert_int_eq(acl.resource_type, LG_RESOURCE_TOPIC);
    ck_assert_str_eq(acl.resource, resource);
}

START_TEST(authorizer_guards_every_topic_operation) {
    lg_engine_t *engine = open_engine();
    /* No authorizer: anonymous may do everything. */
    ck_assert_str_eq(lg_principal_get(), "");
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(append_one(engine, "t"), LG_OK);
    ck_assert_int_eq(lg_engine_set_authorizer(engine, authorize, &acl), LG_OK);

    /* Anonymous: denied, with a message naming who, what and where. */
    ck_assert_int_eq(append_one(engine, "t"), LG_ERR_NOT_AUTHORIZED);
    ck_assert_int_eq(lg_topic_create(engine, "u", 1, NULL),
                     LG_ERR_NOT_AUTHORIZED);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "CREATE"));
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "\"u\""));
    expect_asked("", LG_OP_CREATE, "u");

    /* A reader reads and describes, nothing else. */
    ck_assert_int_eq(lg_principal_set("User:reader"), LG_OK);
    lg_fetch_t *fetch;
    ck_assert_int_eq(lg_read(engine, "t", 0, 0, 4096, &fetch), LG_OK);
    lg_fetch_destroy(fetch);
    expect_asked("User:reader", LG_OP_READ, "t");
    int32_t count;
    ck_assert_int_eq(lg_topic_partition_count(engine, "t", &count), LG_OK);
    expect_asked("User:reader", LG_OP_DESCRIBE, "t");
    char buf[64];
    size_t size = sizeof buf;
    ck_assert_int_eq(lg_topic_config_get(engine, "t", "segment.bytes", buf,
                                         &size, NULL),
                     LG_OK);
    ck_assert_int_eq(append_one(engine, "t"), LG_ERR_NOT_AUTHORIZED);
    expect_asked("User:reader", LG_OP_WRITE, "t");
    ck_assert_int_eq(lg_topic_config_set(engine, "t", "segment.ms", "5000"),
                     LG_ERR_NOT_AUTHORIZED);
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "User:reader"));
    ck_assert_ptr_nonnull(strstr(lg_last_error_message(), "ALTER"));
    expect_asked("User:reader", LG_OP_ALTER, "t");
    ck_assert_int_eq(lg_topic_add_partitions(engine, "t", 3),
                     LG_ERR_NOT_AUTHORIZED);
    expect_asked("User:reader", LG_OP_ALTER, "t");
    ck_assert_int_eq(lg_topic_delete(engine, "t"), LG_ERR_NOT_AUTHORIZED);
    expect_asked("User:reader", LG_OP_DELETE, "t");
    /* Denials changed nothing. */
    ck_assert_int_eq(lg_topic_partition_count(engine, "t", &count), LG_OK);
    ck_assert_int_eq(count, 1);

    /* Consumers: assign is a READ. */
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, NULL, &consumer), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0,
                                        LG_OFFSET_BEGINNING),
                     LG_OK);
    ck_assert_int_eq(lg_principal_set("User:writer"), LG_OK);
    ck_assert_int_eq(lg_consumer_assign(consumer, "t", 0,
                                        LG_OFFSET_BEGINNING),
                     LG_ERR_NOT_AUTHORIZED);
    expect_asked("User:writer", LG_OP_READ, "t");
    lg_consumer_destroy(consumer);

    /* Producers: each lg_produce is a WRITE with the caller's principal. */
    ck_assert_int_eq(lg_principal_set("User:admin"), LG_OK);
    ck_assert_int_eq(lg_topic_create(engine, "open-1", 1, NULL), LG_OK);
    expect_asked("User:admin", LG_OP_CREATE, "open-1");
    ck_assert_int_eq(lg_principal_set("User:writer"), LG_OK);
    lg_producer_t *producer;
    ck_assert_int_eq(lg_producer_new(engine, NULL, &producer), LG_OK);
    ck_assert_int_eq(lg_produce(producer, "open-1", 0, NULL, 0, "x", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_OK);
    ck_assert_int_eq(lg_produce(producer, "t", 0, NULL, 0, "x", 1,
                                LG_TIMESTAMP_NOW, NULL),
                     LG_ERR_NOT_AUTHORIZED);
    expect_asked("User:writer", LG_OP_WRITE, "t");
    ck_assert_int_eq(lg_producer_flush(producer, 10000), LG_OK);
    lg_producer_destroy(producer);
    ck_assert_int_eq(append_one(engine, "open-1"), LG_OK);

    /* Admin may delete; removing the authorizer allows everyone again. */
    ck_assert_int_eq(lg_principal_set("User:admin"), LG_OK);
    ck_assert_int_eq(lg_topic_delete(engine, "open-1"), LG_OK);
    ck_assert_int_eq(lg_principal_set(NULL), LG_OK);
    ck_assert_int_eq(lg_engine_set_authorizer(engine, NULL, NULL), LG_OK);
    int calls = acl.calls;
    ck_assert_int_eq(append_one(engine, "t"), LG_OK);
    ck_assert_int_eq(acl.calls, calls);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

typedef struct thread_arg {
    lg_engine_t *engine;
    lg_err_t result;
    char principal_seen[256];
} thread_arg_t;

static void *append_as_other(void *opaque) {
    thread_arg_t *arg = opaque;
    /* A new thread starts anonymous whatever its creator set. */
    snprintf(arg->principal_seen, sizeof arg->principal_seen, "%s",
             lg_principal_get());
    lg_principal_set("User:stranger");
    arg->result = append_one(arg->engine, "t");
    return NULL;
}

/* Kafka's group ACLs: READ on the group to join, commit or reset,
 * DESCRIBE to describe, DELETE to delete. */
START_TEST(authorizer_guards_group_operations) {
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(append_one(engine, "t"), LG_OK);
    ck_assert_int_eq(lg_engine_set_authorizer(engine, authorize, &acl), LG_OK);
    lg_conf_t *conf = lg_conf_new();
    ck_assert_int_eq(lg_conf_set(conf, "group.id", "g"), LG_OK);
    lg_consumer_t *consumer;
    ck_assert_int_eq(lg_consumer_new(engine, conf, &consumer), LG_OK);
    lg_conf_destroy(conf);
    const char *topics[] = {"t"};

    /* a writer may not join the group */
    ck_assert_int_eq(lg_principal_set("User:writer"), LG_OK);
    ck_assert_int_eq(lg_consumer_subscribe(consumer, topics, 1),
                     LG_ERR_NOT_AUTHORIZED);
    ck_assert_int_eq(acl.resource_type, LG_RESOURCE_GROUP);
    ck_assert_str_eq(acl.resource, "g");
    ck_assert_int_eq(acl.operation, LG_OP_READ);

    /* a reader may join, commit and describe, not delete */
    ck_assert_int_eq(lg_principal_set("User:reader"), LG_OK);
    ck_assert_int_eq(lg_consumer_subscribe(consumer, topics, 1), LG_OK);
    const lg_message_t *m;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(lg_consumer_poll(consumer, 20, &m), LG_OK);
    ck_assert_int_eq(lg_consumer_commit(consumer, NULL, 0), LG_OK);
    lg_group_description_t *description;
    ck_assert_int_eq(lg_group_describe(engine, "g", &description), LG_OK);
    lg_group_description_destroy(description);
    ck_assert_int_eq(lg_group_delete(engine, "g"), LG_ERR_NOT_AUTHORIZED);
    ck_assert_int_eq(acl.operation, LG_OP_DELETE);
    ck_assert_int_eq(acl.resource_type, LG_RESOURCE_GROUP);

    /* anonymous may not even describe */
    ck_assert_int_eq(lg_principal_set(""), LG_OK);
    ck_assert_int_eq(lg_group_describe(engine, "g", &description),
                     LG_ERR_NOT_AUTHORIZED);
    ck_assert_int_eq(acl.operation, LG_OP_DESCRIBE);
    ck_assert_int_eq(lg_principal_set("User:admin"), LG_OK);
    lg_consumer_destroy(consumer);
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
    ck_assert_int_eq(lg_principal_set(""), LG_OK);
}
END_TEST

START_TEST(principals_are_per_thread) {
    lg_engine_t *engine = open_engine();
    ck_assert_int_eq(lg_topic_create(engine, "t", 1, NULL), LG_OK);
    ck_assert_int_eq(lg_engine_set_authorizer(engine, authorize, &acl), LG_OK);
    ck_assert_int_eq(lg_principal_set("User:admin"), LG_OK);
    thread_arg_t arg = {engine, LG_OK, "?"};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, append_as_other, &arg), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_str_eq(arg.principal_seen, "");
    ck_assert_int_eq(arg.result, LG_ERR_NOT_AUTHORIZED);
    ck_assert_int_eq(append_one(engine, "t"), LG_OK); /* still admin here */
    char longer[300];
    memset(longer, 'p', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    ck_assert_int_eq(lg_principal_set(longer), LG_ERR_INVALID_ARG);
    ck_assert_str_eq(lg_principal_get(), "User:admin");
    ck_assert_int_eq(lg_engine_set_authorizer(NULL, authorize, &acl),
                     LG_ERR_INVALID_ARG);
    ck_assert_str_eq(lg_err_name(LG_ERR_NOT_AUTHORIZED),
                     "LG_ERR_NOT_AUTHORIZED");
    ck_assert_int_eq(lg_engine_close(engine), LG_OK);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("security");
    TCase *tc = tcase_create("security");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, everything_created_is_private_whatever_the_umask);
    tcase_add_test(tc, missing_parent_directories_are_private_too);
    tcase_add_test(tc, topic_names_cannot_leave_the_data_directory);
    tcase_add_test(tc, authorizer_guards_every_topic_operation);
    tcase_add_test(tc, authorizer_guards_group_operations);
    tcase_add_test(tc, principals_are_per_thread);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
