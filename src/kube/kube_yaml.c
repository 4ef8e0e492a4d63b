#include "kube/kube_yaml.h"

#include <errno.h>
#include <yaml.h>

struct yp {
    yaml_parser_t p;
    yaml_event_t ev;
    int depth;
};

static int next(struct yp *y, struct err **err)
{
    if (!yaml_parser_parse(&y->p, &y->ev))
        return err_set(err, EINVAL, "yaml: line %zu: %s", y->p.problem_mark.line + 1,
                       y->p.problem ? y->p.problem : "syntax error");
    return 0;
}

static int node(struct yp *y, json_t **out, struct err **err);

static int mapping(struct yp *y, json_t **out, struct err **err)
{
    json_t *obj = json_object();
    for (;;) {
        yaml_event_delete(&y->ev);
        if (next(y, err) < 0)
            goto fail;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            break;
        if (y->ev.type != YAML_SCALAR_EVENT) {
            err_set(err, EINVAL, "yaml: line %zu: mapping keys must be scalars",
                    y->ev.start_mark.line + 1);
            goto fail;
        }
        json_t *key = NULL, *val = NULL;
        if (node(y, &key, err) < 0)
            goto fail;
        yaml_event_delete(&y->ev);
        if (next(y, err) < 0 || node(y, &val, err) < 0) {
            json_decref(key);
            goto fail;
        }
        json_object_set_new(obj, json_string_value(key), val);
        json_decref(key);
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return -EINVAL;
}

static int sequence(struct yp *y, json_t **out, struct err **err)
{
    json_t *arr = json_array();
    for (;;) {
        yaml_event_delete(&y->ev);
        if (next(y, err) < 0)
            goto fail;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        json_t *val = NULL;
        if (node(y, &val, err) < 0)
            goto fail;
        json_array_append_new(arr, val);
    }
    *out = arr;
    return 0;
fail:
    json_decref(arr);
    return -EINVAL;
}

/* Converts the node whose first event is in y->ev. */
static int node(struct yp *y, json_t **out, struct err **err)
{
    int rc;
    switch (y->ev.type) {
    case YAML_SCALAR_EVENT:
        *out =
            json_stringn_nocheck((const char *)y->ev.data.scalar.value, y->ev.data.scalar.length);
        return *out ? 0 : err_set(err, EINVAL, "yaml: bad scalar");
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (++y->depth > KUBE_YAML_MAX_DEPTH)
            return err_set(err, EINVAL, "yaml: nesting deeper than %d", KUBE_YAML_MAX_DEPTH);
        rc = y->ev.type == YAML_MAPPING_START_EVENT ? mapping(y, out, err) : sequence(y, out, err);
        y->depth--;
        return rc;
    case YAML_ALIAS_EVENT:
        return err_set(err, EINVAL, "yaml: line %zu: aliases are not supported",
                       y->ev.start_mark.line + 1);
    default:
        return err_set(err, EINVAL, "yaml: line %zu: unexpected event", y->ev.start_mark.line + 1);
    }
}

/* Reads STREAM-START, DOCUMENT-START (or STREAM-END for empty input). */
static int document(struct yp *y, json_t **out, struct err **err)
{
    if (next(y, err) < 0)
        return -EINVAL;
    yaml_event_delete(&y->ev);
    if (next(y, err) < 0)
        return -EINVAL;
    if (y->ev.type == YAML_STREAM_END_EVENT) {
        *out = json_object();
        return 0;
    }
    yaml_event_delete(&y->ev);
    if (next(y, err) < 0)
        return -EINVAL;
    if (node(y, out, err) < 0)
        return -EINVAL;
    yaml_event_delete(&y->ev);
    if (next(y, err) < 0 || y->ev.type != YAML_DOCUMENT_END_EVENT)
        goto fail;
    yaml_event_delete(&y->ev);
    if (next(y, err) < 0 || y->ev.type != YAML_STREAM_END_EVENT) {
        err_set(err, EINVAL, "yaml: only one document is supported");
        goto fail;
    }
    return 0;
fail:
    json_decref(*out);
    *out = NULL;
    if (err && !*err)
        err_set(err, EINVAL, "yaml: trailing content");
    return -EINVAL;
}

int kube_yaml_parse(const char *text, size_t len, json_t **out, struct err **err)
{
    if (len > KUBE_YAML_MAX_BYTES)
        return err_set(err, EFBIG, "yaml: input larger than %u bytes", KUBE_YAML_MAX_BYTES);
    struct yp y = {.depth = 0};
    if (!yaml_parser_initialize(&y.p))
        return err_set(err, ENOMEM, "yaml: cannot initialise the parser");
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
    *out = NULL;
    int rc = document(&y, out, err);
    yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.p);
    if (rc == 0 && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return err_set(err, EINVAL, "yaml: the document is not a mapping");
    }
    return rc;
}
