/*
 * assignor.h -- partition assignors of consumer groups: range, roundrobin
 * and cooperative-sticky, as pure functions of (topics, members) so the
 * coordinator can run them under its lock and tests can call them
 * directly.
 */
#ifndef LG_ASSIGNOR_H
#define LG_ASSIGNOR_H

#include "liblog.h"

#include <stddef.h>
#include <stdint.h>

/* One partition of a topic.  topic points at a name the caller owns. */
typedef struct lgi_tp {
    const char *topic;
    int32_t partition;
} lgi_tp_t;

/* A topic the group's members subscribe to, with its partition count. */
typedef struct lgi_assignor_topic {
    const char *name;
    int32_t partitions;
} lgi_assignor_topic_t;

/* One member as the assignor sees it.  Inputs: id orders members (the
 * group.instance.id of a static member, else its member id, as Kafka
 * sorts), topics lists the names it subscribes to (resolved: no regexes),
 * owned what it holds now (read by cooperative-sticky only).  Output:
 * assigned/assigned_count, an lgi_malloc'd array whose topic pointers
 * point at the names of the topics[] given to lgi_assign; the caller frees
 * assigned with lgi_free. */
typedef struct lgi_assignor_member {
    const char *id;
    const char *const *topics;
    size_t topic_count;
    const lgi_tp_t *owned;
    size_t owned_count;
    lgi_tp_t *assigned;
    size_t assigned_count;
} lgi_assignor_member_t;

/* Assigns every partition of topics[0..topic_count) that some member
 * subscribes to, to exactly one such member, by strategy (LGI_ASSIGNOR_*
 * of conf.h).  On failure (LG_ERR_NOMEM) no member holds an array. */
lg_err_t lgi_assign(int strategy, const lgi_assignor_topic_t *topics,
                    size_t topic_count, lgi_assignor_member_t *members,
                    size_t member_count);

/* The name of strategy ("range", "roundrobin", "cooperative-sticky"). */
const char *lgi_assignor_name(int strategy);

#endif
