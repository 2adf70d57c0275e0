/*
 * replicated.c -- three liblog nodes as three processes on this machine,
 * joined by a small TCP (loopback) transport written here: the library
 * itself has no network code.
 *
 *   replicated DIR      runs the demonstration: starts three node
 *                       processes (data in DIR/node-0..2), lets the leader
 *                       produce with acks=all, kills the leader (SIGKILL),
 *                       shows a follower take over and keep producing,
 *                       then checks that every acknowledged record is in
 *                       the surviving logs.  Exit status 0 when none was
 *                       lost.
 *
 * A node process ("replicated --node I DIR LISTEN_FD PORT0 PORT1 PORT2")
 * runs one engine: a poll loop that accepts peers, reads frames
 * (length, from, bytes) into lg_replica_receive and calls lg_engine_tick
 * every 5 ms; a producer thread appends "record-<node>-<n>" with acks=all
 * whenever this node leads, printing "ACK <value>" once acknowledged.  On
 * SIGTERM it stops producing, prints every record below its high
 * watermark as "HAS <value>" and exits.  The listening sockets are bound
 * by the parent on ephemeral ports, so runs never collide.
 */
#include <liblog.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define MAX_FRAME (16u << 20)

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Node process
 * --------------------------------------------------------------------- */

static int32_t self;
static int ports[NODES];
static int out_fd[NODES] = {-1, -1, -1}; /* connections we send on */
static lg_engine_t *engine;
static volatile sig_atomic_t stopping;
static atomic_int producing = 1;

/* The transport: one outgoing connection per peer, connected on demand;
 * any failure drops the message and the connection (best effort is all
 * the protocol needs). */
static int tcp_send(void *opaque, int32_t node, const void *bytes,
                    size_t len) {
    (void)opaque;
    if (node < 0 || node >= NODES || node == self)
        return -1;
    if (out_fd[node] < 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)ports[node]),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        out_fd[node] = fd;
    }
    uint32_t header[2] = {htonl((uint32_t)len), htonl((uint32_t)self)};
    struct iovec iov[2] = {{header, sizeof header}, {(void *)bytes, len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    size_t want = sizeof header + len;
    ssize_t n = sendmsg(out_fd[node], &msg, MSG_NOSIGNAL);
    if (n != (ssize_t)want) { /* partial or failed: drop the connection */
        close(out_fd[node]);
        out_fd[node] = -1;
        return -1;
    }
    return 0;
}

typedef struct {
    int fd;
    uint8_t *buf;
    size_t len, cap;
} peer_t;

/* Feeds complete frames of p to the engine; -1 to drop the peer. */
static int drain(peer_t *p) {
    size_t at = 0;
    while (p->len - at >= 8) {
        uint32_t len, from;
        memcpy(&len, p->buf + at, 4);
        memcpy(&from, p->buf + at + 4, 4);
        len = ntohl(len);
        from = ntohl(from);
        if (len > MAX_FRAME)
            return -1;
        if (p->len - at < 8 + (size_t)len)
            break;
        /* untrusted bytes: the engine rejects anything malformed */
        lg_replica_receive(engine, (int32_t)from, p->buf + at + 8, len);
        at += 8 + (size_t)len;
    }
    memmove(p->buf, p->buf + at, p->len - at);
    p->len -= at;
    return 0;
}

static void *producer_main(void *arg) {
    (void)arg;
    int n = 0;
    lg_records_t *records = lg_records_new();
    while (atomic_load(&producing)) {
        int32_t leader = -1;
        lg_replica_leader(engine, "demo", 0, &leader, NULL, NULL);
        if (leader != self) {
            usleep(10000);
            continue;
        }
        char value[64];
        int len = snprintf(value, sizeof value, "record-%d-%d", self, n);
        lg_records_clear(records);
        lg_records_add(records, NULL, 0, value, (size_t)len, LG_TIMESTAMP_NOW);
        int64_t offset;
        lg_err_t err = lg_append(engine, "demo", 0, records, LG_ACKS_ALL,
                                 &offset);
        if (err == LG_OK) {
            printf("ACK %s %" PRId64 "\n", value, offset);
            fflush(stdout);
            n++;
            usleep(20000);
        } else {
            usleep(10000); /* not leader any more, or timed out */
        }
    }
    lg_records_destroy(records);
    return NULL;
}

static void on_term(int sig) {
    (void)sig;
    stopping = 1;
}

static int node_main(int id, const char *dir, int listen_fd) {
    self = id;
    signal(SIGTERM, on_term);
    lg_conf_t *conf = lg_conf_new();
    char text[16];
    snprintf(text, sizeof text, "%d", id);
    if (lg_conf_set(conf, "node.id", text) ||
        lg_conf_set(conf, "replication.factor", "3") ||
        lg_conf_set(conf, "replication.election.timeout.ms", "300") ||
        lg_conf_set(conf, "replication.fetch.interval.ms", "20") ||
        lg_conf_set(conf, "replication.ack.timeout.ms", "2000") ||
        lg_engine_open(dir, conf, &engine)) {
        fprintf(stderr, "node %d: %s\n", id, lg_last_error_message());
        return 2;
    }
    lg_conf_destroy(conf);
    lg_err_t err = lg_topic_create(engine, "demo", 1, NULL);
    lg_transport_t transport = {.version = LG_TRANSPORT_VERSION,
                                .send = tcp_send};
    /* The replica set is persisted with the topic: a restarted node
     * resumes from lg_engine_set_transport alone, and the same set again
     * (as here, on every start) is a no-op. */
    int32_t nodes[NODES] = {0, 1, 2};
    if ((err && err != LG_ERR_TOPIC_EXISTS) ||
        lg_engine_set_transport(engine, &transport) ||
        lg_topic_set_replicas(engine, "demo", 0, nodes, NODES)) {
        fprintf(stderr, "node %d: %s\n", id, lg_last_error_message());
        return 2;
    }
    pthread_t producer;
    pthread_create(&producer, NULL, producer_main, NULL);

    peer_t peers[16];
    size_t peer_count = 0;
    int32_t last_leader = -2;
    int64_t stop_at = -1;
    for (;;) {
        struct pollfd fds[17];
        fds[0] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        for (size_t i = 0; i < peer_count; i++)
            fds[i + 1] = (struct pollfd){.fd = peers[i].fd, .events = POLLIN};
        poll(fds, peer_count + 1, 5);
        if ((fds[0].revents & POLLIN) && peer_count < 16) {
            int fd = accept(listen_fd, NULL, NULL);
            if (fd >= 0)
                peers[peer_count++] = (peer_t){.fd = fd};
        }
        for (size_t i = 0; i < peer_count; i++) {
            if (!(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            peer_t *p = &peers[i];
            if (p->cap - p->len < 65536) {
                p->cap = p->cap ? p->cap * 2 : 131072;
                p->buf = realloc(p->buf, p->cap);
                if (!p->buf)
                    die("realloc");
            }
            ssize_t n = read(p->fd, p->buf + p->len, p->cap - p->len);
            if (n <= 0 || (p->len += (size_t)n, drain(p) != 0)) {
                close(p->fd);
                free(p->buf);
                peers[i] = peers[--peer_count];
                fds[i + 1] = fds[peer_count + 1];
                i--;
            }
        }
        lg_engine_tick(engine, now_ms());
        int32_t leader = -1, epoch = 0;
        lg_replica_leader(engine, "demo", 0, &leader, &epoch, NULL);
        if (leader != last_leader && leader >= 0) {
            printf("LEADER %d %d\n", leader, epoch);
            fflush(stdout);
        }
        last_leader = leader;
        if (stopping && stop_at < 0) {
            atomic_store(&producing, 0);
            stop_at = now_ms() + 3000; /* let a pending append finish */
        }
        if (stop_at >= 0 && now_ms() >= stop_at)
            break;
    }
    pthread_join(producer, NULL);
    /* Everything below the high watermark, as a consumer would see it. */
    int64_t offset = 0, high = 0;
    lg_watermarks(engine, "demo", 0, NULL, &high);
    while (offset < high) {
        lg_fetch_t *fetch;
        if (lg_read(engine, "demo", 0, offset, 1 << 20, &fetch))
            break;
        const lg_message_t *m;
        while (lg_fetch_next(fetch, &m) == LG_OK && m) {
            size_t len;
            const char *value = lg_message_value(m, &len);
            printf("HAS %.*s\n", (int)len, value);
        }
        int64_t next = lg_fetch_next_offset(fetch);
        lg_fetch_destroy(fetch);
        if (next <= offset)
            break;
        offset = next;
    }
    printf("END\n");
    fflush(stdout);
    lg_engine_close(engine);
    return 0;
}

/* ------------------------------------------------------------------------
 * The demonstration (parent)
 * --------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    FILE *out;
    int alive;
} child_t;

static child_t children[NODES];
static char acked[4096][64];
static int acked_count;

/* Reads one line from any live child (waiting up to timeout_ms); returns
 * the child's index or -1 on timeout. */
static int next_line(char *line, size_t size, int timeout_ms) {
    struct pollfd fds[NODES];
    for (int i = 0; i < NODES; i++)
        fds[i] = (struct pollfd){
            .fd = children[i].alive ? fileno(children[i].out) : -1,
            .events = POLLIN};
    if (poll(fds, NODES, timeout_ms) <= 0)
        return -1;
    for (int i = 0; i < NODES; i++)
        if (fds[i].revents & (POLLIN | POLLHUP)) {
            if (!fgets(line, (int)size, children[i].out)) {
                children[i].alive = 0;
                continue;
            }
            line[strcspn(line, "\n")] = '\0';
            return i;
        }
    return -1;
}

/* Collects acknowledgements until want more came from a node other than
 * except; returns that node (-1 on timeout). */
static int collect(int want, int except, int64_t timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    int got = 0, from = -1;
    char line[256];
    while (got < want && now_ms() < deadline) {
        int i = next_line(line, sizeof line, 100);
        if (i < 0)
            continue;
        if (strncmp(line, "LEADER ", 7) == 0)
            printf("node %d: sees leader %s\n", i, line + 7);
        if (strncmp(line, "ACK ", 4) == 0 && i != except &&
            acked_count < 4096) {
            sscanf(line + 4, "%63s", acked[acked_count++]);
            got++;
            from = i;
            if (got == 1 || got == want)
                printf("node %d: acknowledged (acks=all) %s\n", i, line + 4);
        }
    }
    return got == want ? from : -1;
}

int main(int argc, char **argv) {
    if (argc == 8 && strcmp(argv[1], "--node") == 0) {
        for (int i = 0; i < NODES; i++)
            ports[i] = atoi(argv[5 + i]);
        return node_main(atoi(argv[2]), argv[3], atoi(argv[4]));
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    mkdir(argv[1], 0755);
    int listen_fds[NODES], port[NODES];
    for (int i = 0; i < NODES; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t alen = sizeof a;
        listen_fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (listen_fds[i] < 0 ||
            bind(listen_fds[i], (struct sockaddr *)&a, sizeof a) != 0 ||
            listen(listen_fds[i], 16) != 0 ||
            getsockname(listen_fds[i], (struct sockaddr *)&a, &alen) != 0)
            die("listen");
        port[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < NODES; i++) {
        char dir[4096], id[16], fd[16], p[NODES][16];
        snprintf(dir, sizeof dir, "%s/node-%d", argv[1], i);
        mkdir(dir, 0755);
        snprintf(id, sizeof id, "%d", i);
        snprintf(fd, sizeof fd, "%d", listen_fds[i]);
        for (int j = 0; j < NODES; j++)
            snprintf(p[j], sizeof p[j], "%d", port[j]);
        int pipe_fds[2];
        if (pipe(pipe_fds) != 0)
            die("pipe");
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            dup2(pipe_fds[1], STDOUT_FILENO);
            close(pipe_fds[0]);
            close(pipe_fds[1]);
            for (int j = 0; j < NODES; j++)
                if (j != i)
                    close(listen_fds[j]);
            execl("/proc/self/exe", argv[0], "--node", id, dir, fd, p[0],
                  p[1], p[2], (char *)NULL);
            die("exec");
        }
        close(pipe_fds[1]);
        children[i] = (child_t){pid, fdopen(pipe_fds[0], "r"), 1};
    }
    for (int i = 0; i < NODES; i++)
        close(listen_fds[i]);
    printf("started nodes 0, 1, 2 (ports %d %d %d)\n", port[0], port[1],
           port[2]);

    int status = 1;
    int leader = collect(20, -1, 30000);
    if (leader < 0) {
        printf("FAIL: no leader produced 20 records\n");
        goto out;
    }
    printf("killing the leader, node %d (SIGKILL)\n", leader);
    kill(children[leader].pid, SIGKILL);
    waitpid(children[leader].pid, NULL, 0);
    children[leader].alive = 0;
    int next = collect(20, leader, 30000);
    if (next < 0) {
        printf("FAIL: no follower took over\n");
        goto out;
    }
    printf("node %d took over and acknowledged 20 more records\n", next);
    for (int i = 0; i < NODES; i++)
        if (children[i].alive)
            kill(children[i].pid, SIGTERM);
    /* Each survivor lists what it holds below its high watermark. */
    static char has[NODES][4096][64];
    int has_count[NODES] = {0}, ended[NODES] = {0};
    int64_t deadline = now_ms() + 20000;
    char line[256];
    while (now_ms() < deadline) {
        int live = 0;
        for (int i = 0; i < NODES; i++)
            live += children[i].alive && !ended[i];
        if (!live)
            break;
        int i = next_line(line, sizeof line, 100);
        if (i < 0)
            continue;
        if (strncmp(line, "HAS ", 4) == 0 && has_count[i] < 4096)
            sscanf(line + 4, "%63s", has[i][has_count[i]++]);
        else if (strcmp(line, "END") == 0)
            ended[i] = 1;
        else if (strncmp(line, "ACK ", 4) == 0 && acked_count < 4096)
            sscanf(line + 4, "%63s", acked[acked_count++]);
    }
    status = 0;
    for (int i = 0; i < NODES; i++) {
        if (i == leader)
            continue;
        if (!ended[i]) {
            printf("FAIL: node %d did not list its log\n", i);
            status = 1;
            continue;
        }
        int missing = 0;
        for (int k = 0; k < acked_count; k++) {
            int found = 0;
            for (int j = 0; j < has_count[i] && !found; j++)
                found = strcmp(has[i][j], acked[k]) == 0;
            if (!found) {
                printf("FAIL: node %d lost acknowledged %s\n", i, acked[k]);
                missing++;
            }
        }
        printf("node %d holds %d records; all %d acknowledged records %s\n",
               i, has_count[i], acked_count,
               missing ? "NOT present" : "present");
        status |= missing != 0;
    }
out:
    for (int i = 0; i < NODES; i++)
        if (children[i].pid > 0) {
            if (children[i].alive)
                kill(children[i].pid, SIGKILL);
            waitpid(children[i].pid, NULL, 0);
        }
    printf(status ? "FAILED\n" : "OK: no acknowledged record lost\n");
    return status;
}
