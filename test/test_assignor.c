/*
 * test_assignor.c -- the group assignors as pure functions: range and
 * roundrobin give Kafka's documented answers, cooperative-sticky balances
 * while moving only what must move, and every assignor gives each
 * partition to exactly one subscribed member.
 */
#include "alloc.h"
#include "assignor.h"
#include "conf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const lgi_assignor_topic_t two_topics[] = {{"t0", 3}, {"t1", 3}};
static const char *const both[] = {"t0", "t1"};

/* "t0:0,t0:1" for a member's assignment, in its order. */
static void render(const lgi_assignor_member_t *member, char *buf,
                   size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < member->assigned_count; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s:%d",
                                 i ? "," : "", member->assigned[i].topic,
                                 (int)member->assigned[i].partition);
}

static void free_all(lgi_assignor_member_t *members, size_t n) {
    for (size_t i = 0; i < n; i++)
        lgi_free(members[i].assigned);
}

START_TEST(range_gives_consecutive_runs_per_topic) {
    lgi_assignor_member_t members[] = {{.id = "c1", .topics = both, .topic_count = 2},
                                       {.id = "c0", .topics = both, .topic_count = 2}};
    ck_assert_int_eq(lgi_assign(LGI_ASSIGNOR_RANGE, two_topics, 2, members, 2),
                     LG_OK);
    char buf[128];
    render(&members[1], buf, sizeof buf); /* c0 sorts first */
    ck_assert_str_eq(buf, "t0:0,t0:1,t1:0,t1:1");
    render(&members[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "t0:2,t1:2");
    free_all(members, 2);
}
END_TEST

START_TEST(roundrobin_deals_partitions_in_order) {
    lgi_assignor_member_t members[] = {{.id = "c0", .topics = both, .topic_count = 2},
                                       {.id = "c1", .topics = both, .topic_count = 2}};
    ck_assert_int_eq(
        lgi_assign(LGI_ASSIGNOR_ROUNDROBIN, two_topics, 2, members, 2), LG_OK);
    char buf[128];
    render(&members[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "t0:0,t0:2,t1:1");
    render(&members[1], buf, sizeof buf);
    ck_assert_str_eq(buf, "t0:1,t1:0,t1:2");
    free_all(members, 2);
}
END_TEST

START_TEST(every_partition_goes_to_one_subscribed_member) {
    static const char *const only_t0[] = {"t0"};
    for (int strategy = 0; strategy < 3; strategy++) {
        lgi_assignor_member_t members[] = {
            {.id = "a", .topics = only_t0, .topic_count = 1},
            {.id = "b", .topics = both, .topic_count = 2},
            {.id = "c", .topics = both, .topic_count = 2}};
        ck_assert_int_eq(lgi_assign(strategy, two_topics, 2, members, 3),
                         LG_OK);
        int seen[2][3] = {{0}};
        for (int m = 0; m < 3; m++)
            for (size_t i = 0; i < members[m].assigned_count; i++) {
                int t = strcmp(members[m].assigned[i].topic, "t1") == 0;
                ck_assert(m != 0 || t == 0); /* a is not subscribed to t1 */
                seen[t][members[m].assigned[i].partition]++;
            }
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < 3; p++)
                ck_assert_int_eq(seen[t][p], 1);
        free_all(members, 3);
    }
}
END_TEST

START_TEST(sticky_moves_only_what_balance_needs) {
    static const lgi_assignor_topic_t six[] = {{"t", 6}};
    static const char *const t[] = {"t"};
    lgi_tp_t owned[6];
    for (int i = 0; i < 6; i++)
        owned[i] = (lgi_tp_t){"t", i};
    /* a owns everything; b joins. */
    lgi_assignor_member_t members[] = {
        {.id = "b", .topics = t, .topic_count = 1},
        {.id = "a", .topics = t, .topic_count = 1, .owned = owned,
         .owned_count = 6}};
    ck_assert_int_eq(lgi_assign(LGI_ASSIGNOR_COOPERATIVE_STICKY, six, 1,
                                members, 2),
                     LG_OK);
    ck_assert_uint_eq(members[0].assigned_count, 3);
    ck_assert_uint_eq(members[1].assigned_count, 3);
    /* a keeps three it owned (all it has were owned by it). */
    for (size_t i = 0; i < members[1].assigned_count; i++)
        ck_assert_int_lt(members[1].assigned[i].partition, 3);
    /* A third member takes one from each: a and b keep two of theirs. */
    lgi_tp_t owned_a[3], owned_b[3];
    memcpy(owned_a, members[1].assigned, sizeof owned_a);
    memcpy(owned_b, members[0].assigned, sizeof owned_b);
    free_all(members, 2);
    lgi_assignor_member_t three[] = {
        {.id = "a", .topics = t, .topic_count = 1, .owned = owned_a,
         .owned_count = 3},
        {.id = "b", .topics = t, .topic_count = 1, .owned = owned_b,
         .owned_count = 3},
        {.id = "c", .topics = t, .topic_count = 1}};
    ck_assert_int_eq(lgi_assign(LGI_ASSIGNOR_COOPERATIVE_STICKY, six, 1,
                                three, 3),
                     LG_OK);
    for (int m = 0; m < 3; m++)
        ck_assert_uint_eq(three[m].assigned_count, 2);
    for (int m = 0; m < 2; m++)
        for (size_t i = 0; i < three[m].assigned_count; i++) {
            int kept = 0;
            for (size_t j = 0; j < three[m].owned_count; j++)
                kept |= three[m].owned[j].partition ==
                        three[m].assigned[i].partition;
            ck_assert_msg(kept, "member %d was given a partition it did not "
                                "own while it had to give one up", m);
        }
    free_all(three, 3);
}
END_TEST

int main(void) {
    Suite *s = suite_create("assignor");
    TCase *tc = tcase_create("assignor");
    tcase_add_test(tc, range_gives_consecutive_runs_per_topic);
    tcase_add_test(tc, roundrobin_deals_partitions_in_order);
    tcase_add_test(tc, every_partition_goes_to_one_subscribed_member);
    tcase_add_test(tc, sticky_moves_only_what_balance_needs);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
