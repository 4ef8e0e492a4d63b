/* review — one AdmissionReview exchange (review.h). */
#include "webhook/review.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

char *review_base64(const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static void describe_pod(const json_t *req, struct review_outcome *oc)
{
    const json_t *meta = json_object_get(json_object_get(req, "object"), "metadata");
    const char *ns = json_string_value(json_object_get(req, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    snprintf(oc->pod, sizeof oc->pod, "%s/%s%s", ns ? ns : "",
             name  ? name
             : gen ? gen
                   : "",
             name == NULL && gen != NULL ? "*" : "");
}

/* The decision for a request: only pods being created are looked at. */
static void decide(const json_t *req, const struct mutate_input *in, struct mutate_result *mr)
{
    const json_t *kind = json_object_get(req, "kind");
    const char *k = json_string_value(json_object_get(kind, "kind"));
    const char *group = json_string_value(json_object_get(kind, "group"));
    const char *op = json_string_value(json_object_get(req, "operation"));
    bool pod = k && strcmp(k, "Pod") == 0 && (group == NULL || group[0] == '\0');
    if (pod && op && strcmp(op, "CREATE") == 0) {
        struct mutate_input with = *in;
        with.ns = json_string_value(json_object_get(req, "namespace"));
        mutate_pod_with(json_object_get(req, "object"), &with, mr);
        return;
    }
    memset(mr, 0, sizeof *mr);
    mr->verdict = MUTATE_PASS;
}

static json_t *response_of(const char *uid, const struct mutate_result *mr)
{
    json_t *resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", mr->verdict != MUTATE_DENY);
    if (mr->verdict == MUTATE_DENY)
        json_object_set_new(resp, "status",
                            json_pack("{s:i, s:s, s:s}", "code", 400, "reason", "BadRequest",
                                      "message", mr->message));
    if (mr->verdict == MUTATE_PATCH) {
        char *text = json_dumps(mr->patch, JSON_COMPACT);
        char *b64 = review_base64((const unsigned char *)text, strlen(text));
        json_object_set_new(resp, "patchType", json_string("JSONPatch"));
        json_object_set_new(resp, "patch", json_string(b64));
        free(b64);
        free(text);
    }
    return json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                     "AdmissionReview", "response", resp);
}

/* Validates the envelope; *req points into root. */
static int envelope(const json_t *root, const json_t **req, const char **uid, struct err **err)
{
    const char *api = json_string_value(json_object_get(root, "apiVersion"));
    const char *kind = json_string_value(json_object_get(root, "kind"));
    if (!json_is_object(root) || kind == NULL || strcmp(kind, "AdmissionReview") != 0)
        return err_set(err, EINVAL, "the body is not an AdmissionReview");
    if (api == NULL || strcmp(api, "admission.k8s.io/v1") != 0)
        return err_set(err, EINVAL,
                       "AdmissionReview apiVersion '%s' is not supported: use "
                       "admissionReviewVersions [v1]",
                       api ? api : "");
    *req = json_object_get(root, "request");
    *uid = json_string_value(json_object_get(*req, "uid"));
    if (!json_is_object(*req) || *uid == NULL || (*uid)[0] == '\0')
        return err_set(err, EINVAL, "the AdmissionReview has no request.uid");
    if (strlen(*uid) >= sizeof((struct review_outcome *)0)->uid)
        return err_set(err, EINVAL, "request.uid is too long");
    return 0;
}

int review_answer_with(const char *body, size_t len, const struct mutate_input *in, char **response,
                       struct review_outcome *outcome, struct err **err)
{
    memset(outcome, 0, sizeof *outcome);
    if (len > REVIEW_MAX_BODY)
        return err_set(err, EMSGSIZE, "the request body is larger than %u bytes", REVIEW_MAX_BODY);
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return err_set(err, EINVAL, "the body is not JSON: %s (at byte %d)", je.text, je.position);
    const json_t *req = NULL;
    const char *uid = NULL;
    int rc = envelope(root, &req, &uid, err);
    if (rc < 0) {
        json_decref(root);
        return rc;
    }
    struct mutate_result mr;
    decide(req, in, &mr);
    snprintf(outcome->uid, sizeof outcome->uid, "%s", uid);
    describe_pod(req, outcome);
    outcome->verdict = mr.verdict;
    outcome->slices = mr.slices;
    outcome->own_claims = mr.own_claims;
    snprintf(outcome->message, sizeof outcome->message, "%s", mr.message);
    json_t *reply = response_of(uid, &mr);
    *response = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    mutate_result_free(&mr);
    json_decref(root);
    return 0;
}

int review_answer_handoff(const char *body, size_t len, const struct mutate_offer *offer,
                          enum mutate_handoff handoff, char **response,
                          struct review_outcome *outcome, struct err **err)
{
    struct mutate_input in = {.offer = offer, .handoff = handoff};
    return review_answer_with(body, len, &in, response, outcome, err);
}

int review_answer(const char *body, size_t len, const struct mutate_offer *offer, char **response,
                  struct review_outcome *outcome, struct err **err)
{
    return review_answer_handoff(body, len, offer, MUTATE_ENV, response, outcome, err);
}
