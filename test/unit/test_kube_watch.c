/* kube_watch: the bounded line splitter and the watch-event decoder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "kube/kube_watch.h"

struct got {
    int n;
    char lines[8][64];
};

static int collect(void *arg, const char *line, size_t n)
{
    struct got *g = arg;
    cr_assert_lt(g->n, 8);
    cr_assert_lt(n, 64);
    memcpy(g->lines[g->n], line, n);
    g->lines[g->n][n] = '\0';
    g->n++;
    return 0;
}

Test(kube_lines, lines_split_across_chunks_are_joined)
{
    struct kube_lines l;
    kube_lines_init(&l, 1024);
    struct got g = {0};
    const char *chunks[] = {"ab", "c\nde", "f\r\n\n", "gh", "i\nj"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(kube_lines_feed(&l, chunks[i], strlen(chunks[i]), collect, &g, NULL), 0);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.lines[0], "abc");
    cr_assert_str_eq(g.lines[1], "def");
    cr_assert_str_eq(g.lines[2], "ghi");
    kube_lines_reset(&l); /* the partial "j" is dropped */
    cr_assert_eq(kube_lines_feed(&l, "k\n", 2, collect, &g, NULL), 0);
    cr_assert_str_eq(g.lines[3], "k");
    kube_lines_free(&l);
}

Test(kube_lines, a_line_over_the_cap_is_an_error)
{
    struct kube_lines l;
    kube_lines_init(&l, 8);
    struct got g = {0};
    struct err *e = NULL;
    cr_assert_eq(kube_lines_feed(&l, "12345", 5, collect, &g, &e), 0);
    cr_assert_eq(kube_lines_feed(&l, "6789", 4, collect, &g, &e), -EFBIG);
    cr_assert(strstr(err_msg(e), "longer than 8"));
    err_free(&e);
    cr_assert_eq(kube_lines_feed(&l, "ok\n", 3, collect, &g, &e), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.lines[0], "ok");
    kube_lines_free(&l);
}

static int stop_at_second(void *arg, const char *line, size_t n)
{
    (void)line;
    (void)n;
    return ++*(int *)arg == 2 ? -7 : 0;
}

Test(kube_lines, the_callback_can_stop_feeding)
{
    struct kube_lines l;
    kube_lines_init(&l, 64);
    int calls = 0;
    cr_assert_eq(kube_lines_feed(&l, "a\nb\nc\n", 6, stop_at_second, &calls, NULL), -7);
    cr_assert_eq(calls, 2);
    kube_lines_free(&l);
}

static int decode(const char *s, enum kube_ev *t, json_t **o, char *msg)
{
    struct err *e = NULL;
    int rc = kube_watch_decode(s, strlen(s), t, o, &e);
    if (msg)
        snprintf(msg, 256, "%s", err_msg(e));
    err_free(&e);
    return rc;
}

Test(kube_watch, events_decode_with_their_object)
{
    enum kube_ev t;
    json_t *o = NULL;
    cr_assert_eq(decode("{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{"
                        "\"name\":\"p\",\"resourceVersion\":\"42\"}}}",
                        &t, &o, NULL),
                 0);
    cr_assert_eq(t, KUBE_EV_MODIFIED);
    cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "Pod");
    json_decref(o);
    cr_assert_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                        "\"7\"}}}",
                        &t, &o, NULL),
                 0);
    cr_assert_eq(t, KUBE_EV_BOOKMARK);
    json_decref(o);
    cr_assert_eq(
        decode("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}", &t, &o, NULL),
        0);
    cr_assert_eq(t, KUBE_EV_ERROR);
    cr_assert_eq(json_integer_value(json_object_get(o, "code")), 410);
    json_decref(o);
    cr_assert_str_eq(kube_ev_name(KUBE_EV_DELETED), "DELETED");
}

Test(kube_watch, malformed_events_are_refused)
{
    enum kube_ev t;
    json_t *o = NULL;
    char msg[256];
    cr_assert_lt(decode("{\"type\":\"ADDED\"", &t, &o, msg), 0);
    cr_assert_lt(decode("{\"type\":\"NOPE\",\"object\":{}}", &t, &o, msg), 0);
    cr_assert(strstr(msg, "unknown type 'NOPE'"), "%s", msg);
    cr_assert_lt(decode("{\"object\":{}}", &t, &o, msg), 0);
    cr_assert_lt(decode("{\"type\":\"ADDED\",\"object\":[]}", &t, &o, msg), 0);
    cr_assert_lt(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}", &t, &o, msg), 0);
    cr_assert(strstr(msg, "resourceVersion"), "%s", msg);
    cr_assert_lt(decode("{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", &t, &o, msg), 0);
    cr_assert_null(o);
}
