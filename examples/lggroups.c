/*
 * lggroups.c -- consumer group administration from the command line, as
 * Kafka's kafka-consumer-groups.sh:
 *
 *   lggroups DIR list
 *   lggroups DIR describe GROUP
 *   lggroups DIR delete GROUP
 *   lggroups DIR reset GROUP TOPIC earliest|latest|OFFSET [PARTITION]
 *
 * It opens the data directory itself, so it runs while no other engine
 * holds it (the directory lock); groups then have no live members, and
 * describe shows committed offsets and lag.  Exit status as lgcat's: 0
 * success, 1 usage error, 2 runtime error.
 */
#include <liblog.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr,
            "usage: lggroups DIR list\n"
            "       lggroups DIR describe GROUP\n"
            "       lggroups DIR delete GROUP\n"
            "       lggroups DIR reset GROUP TOPIC earliest|latest|OFFSET "
            "[PARTITION]\n");
    return 1;
}

static int fail(const char *what, lg_err_t err) {
    fprintf(stderr, "lggroups: %s: %s (%s)\n", what, lg_last_error_message(),
            lg_err_name(err));
    return 2;
}

static int list_groups(lg_engine_t *engine) {
    lg_strings_t *names;
    lg_err_t err = lg_group_list(engine, &names);
    if (err != LG_OK)
        return fail("list", err);
    for (size_t i = 0; i < lg_strings_count(names); i++)
        printf("%s\n", lg_strings_get(names, i));
    lg_strings_destroy(names);
    return 0;
}

static int describe(lg_engine_t *engine, const char *group) {
    lg_group_description_t *d;
    lg_err_t err = lg_group_describe(engine, group, &d);
    if (err != LG_OK)
        return fail("describe", err);
    printf("group %s: %s, protocol %s, generation %" PRId32 "\n", group,
           lg_group_description_state(d), lg_group_description_protocol(d),
           lg_group_description_generation(d));
    for (size_t m = 0; m < lg_group_description_member_count(d); m++) {
        const lg_topic_partition_list_t *assigned =
            lg_group_description_member_assignment(d, m);
        printf("member %s%s%s:", lg_group_description_member_id(d, m),
               *lg_group_description_member_instance_id(d, m) ? " instance "
                                                              : "",
               lg_group_description_member_instance_id(d, m));
        for (size_t i = 0; i < lg_topic_partition_list_count(assigned); i++)
            printf(" %s/%" PRId32, lg_topic_partition_list_topic(assigned, i),
                   lg_topic_partition_list_partition(assigned, i));
        printf("\n");
    }
    const lg_topic_partition_list_t *offsets = lg_group_description_offsets(d);
    printf("%-30s %9s %14s %10s\n", "TOPIC", "PARTITION", "COMMITTED", "LAG");
    for (size_t i = 0; i < lg_topic_partition_list_count(offsets); i++)
        printf("%-30s %9" PRId32 " %14" PRId64 " %10" PRId64 "\n",
               lg_topic_partition_list_topic(offsets, i),
               lg_topic_partition_list_partition(offsets, i),
               lg_topic_partition_list_offset(offsets, i),
               lg_group_description_lag(d, i));
    lg_group_description_destroy(d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    const char *command = argv[2];
    int needs_group = strcmp(command, "list") != 0;
    if (needs_group && argc < 4)
        return usage();
    lg_engine_t *engine;
    lg_err_t err = lg_engine_open(argv[1], NULL, &engine);
    if (err != LG_OK)
        return fail(argv[1], err);
    int rc;
    if (strcmp(command, "list") == 0) {
        rc = list_groups(engine);
    } else if (strcmp(command, "describe") == 0) {
        rc = describe(engine, argv[3]);
    } else if (strcmp(command, "delete") == 0) {
        err = lg_group_delete(engine, argv[3]);
        rc = err == LG_OK ? 0 : fail("delete", err);
    } else if (strcmp(command, "reset") == 0 && argc >= 6) {
        int64_t offset;
        if (strcmp(argv[5], "earliest") == 0)
            offset = LG_OFFSET_BEGINNING;
        else if (strcmp(argv[5], "latest") == 0)
            offset = LG_OFFSET_END;
        else
            offset = strtoll(argv[5], NULL, 10);
        int32_t partition =
            argc >= 7 ? (int32_t)strtol(argv[6], NULL, 10) : LG_PARTITION_ANY;
        err = lg_group_reset_offsets(engine, argv[3], argv[4], partition,
                                     offset);
        rc = err == LG_OK ? describe(engine, argv[3]) : fail("reset", err);
    } else {
        rc = usage();
    }
    err = lg_engine_close(engine);
    if (err != LG_OK && rc == 0)
        rc = fail("close", err);
    return rc;
}
