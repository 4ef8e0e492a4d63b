/* Test helpers shared by the controller's unit tests: JSON text -> the
 * controller's own structs, failing the test (with the parser's reason) when
 * the text is not what the test meant to write. */
#ifndef SLICER_TEST_CTL_OBJECTS_H
#define SLICER_TEST_CTL_OBJECTS_H

#include <criterion/criterion.h>
#include <jansson.h>

#include "controller/podspec.h"

static inline json_t *js(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    cr_assert_not_null(v, "bad test JSON: %s: %s", je.text, text);
    return v;
}

static inline struct ctl_pod pod_of(const char *text)
{
    json_t *j = js(text);
    struct ctl_pod p;
    struct err *e = NULL;
    cr_assert_eq(ctl_pod_parse(j, &p, &e), 0, "%s", err_msg(e));
    json_decref(j);
    return p;
}

static inline struct ctl_node node_of(const char *text)
{
    json_t *j = js(text);
    struct ctl_node n;
    struct err *e = NULL;
    cr_assert_eq(ctl_node_parse(j, &n, &e), 0, "%s", err_msg(e));
    json_decref(j);
    return n;
}

#endif
