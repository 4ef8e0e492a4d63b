#include "agent/journal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/durable.h"
#include "base/xalloc.h"

static const char *const phase_names[] = {"creating", "ready", "releasing"};

const char *journal_phase_name(enum slice_phase phase)
{
    return (unsigned)phase < 3 ? phase_names[phase] : "unknown";
}

static int parse_phase(const char *s, enum slice_phase *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, phase_names[i]) == 0) {
            *out = (enum slice_phase)i;
            return 0;
        }
    return -1;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int parse_slice(json_t *o, struct journal_slice *s, struct err **err)
{
    const char *owner, *profile, *gpu, *mig = "", *phase, *slice = "", *uid = "";
    json_int_t id, pid = 0, created = 0, expires = 0, gpu_index, start, gi = 0, ci = 0;
    json_int_t pid_start = 0;
    json_error_t je;
    if (json_unpack_ex(
            o, &je, JSON_STRICT,
            "{s:I, s:s, s?I, s?I, s:s, s:s, s:I, s:I, s?I, s?I, s?s, s:s, s?I, s?I, s?s, s?s}",
            "id", &id, "owner", &owner, "pid", &pid, "pidStart", &pid_start, "profile", &profile,
            "gpu", &gpu, "gpuIndex", &gpu_index, "start", &start, "giId", &gi, "ciId", &ci,
            "migUuid", &mig, "phase", &phase, "created", &created, "expires", &expires, "slice",
            &slice, "uid", &uid) < 0)
        return err_set(err, EINVAL, "slice entry: %s", je.text);
    if (id <= 0 || start < 0 || start > 15 || gpu_index < 0 || gi < 0 || ci < 0 || pid < 0 ||
        strlen(owner) >= sizeof s->owner || strlen(profile) >= sizeof s->profile ||
        strlen(gpu) >= sizeof s->gpu_uuid || strlen(mig) >= sizeof s->mig_uuid ||
        strlen(slice) >= sizeof s->slice || strlen(uid) >= sizeof s->uid)
        return err_set(err, EINVAL, "slice entry %lld: a value is out of range", (long long)id);
    if (parse_phase(phase, &s->phase) < 0)
        return err_set(err, EINVAL, "slice entry %lld: unknown phase '%s'", (long long)id, phase);
    s->id = (uint64_t)id;
    s->pid = (int32_t)pid;
    s->pid_start = (uint64_t)pid_start;
    s->gpu_index = (uint32_t)gpu_index;
    s->start = (uint32_t)start;
    s->gi_id = (uint32_t)gi;
    s->ci_id = (uint32_t)ci;
    s->created = created;
    s->expires = expires;
    copy_str(s->owner, sizeof s->owner, owner);
    copy_str(s->profile, sizeof s->profile, profile);
    copy_str(s->gpu_uuid, sizeof s->gpu_uuid, gpu);
    copy_str(s->mig_uuid, sizeof s->mig_uuid, mig);
    copy_str(s->slice, sizeof s->slice, slice);
    copy_str(s->uid, sizeof s->uid, uid);
    return 0;
}

static struct journal_slice *append(struct journal *j, const struct journal_slice *s)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? 2 * j->cap : 16;
        j->slices = xreallocarray(j->slices, j->cap, sizeof *j->slices);
    }
    j->slices[j->n] = *s;
    return &j->slices[j->n++];
}

static int parse(struct journal *j, json_t *root, struct err **err)
{
    json_t *slices;
    json_int_t version, next;
    json_error_t je;
    if (json_unpack_ex(root, &je, JSON_STRICT, "{s:I, s:I, s:o}", "version", &version, "nextId",
                       &next, "slices", &slices) < 0)
        return err_set(err, EINVAL, "%s", je.text);
    if (version != 1)
        return err_set(err, EINVAL, "unsupported journal version %lld", (long long)version);
    if (!json_is_array(slices) || json_array_size(slices) > JOURNAL_MAX_SLICES || next < 1)
        return err_set(err, EINVAL, "bad slices list or nextId");
    j->next_id = (uint64_t)next;
    size_t i;
    json_t *o;
    json_array_foreach(slices, i, o)
    {
        struct journal_slice s = {0};
        int rc = parse_slice(o, &s, err);
        if (rc < 0)
            return rc;
        if (s.id >= j->next_id || journal_find(j, s.id))
            return err_set(err, EINVAL, "slice id %llu is duplicated or not below nextId",
                           (unsigned long long)s.id);
        append(j, &s);
    }
    return 0;
}

int journal_open(const char *path, struct journal **out, struct err **err)
{
    struct journal *j = xcalloc(1, sizeof *j);
    j->path = xstrdup(path);
    j->next_id = 1;
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT) {
            int e = errno;
            journal_free(j);
            return err_set(err, e, "journal %s: %s", path, strerror(e));
        }
        int rc = journal_save(j, err);
        if (rc < 0) {
            journal_free(j);
            return rc;
        }
        *out = j;
        return 0;
    }
    if (st.st_size > (off_t)JOURNAL_MAX_BYTES) {
        journal_free(j);
        return err_set(err, EFBIG, "journal %s is %lld bytes (at most %u): refusing it", path,
                       (long long)st.st_size, JOURNAL_MAX_BYTES);
    }
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    int rc = root ? parse(j, root, err) : err_set(err, EINVAL, "line %d: %s", je.line, je.text);
    json_decref(root);
    if (rc < 0) {
        journal_free(j);
        return err_wrap(err, "journal %s is corrupt (move it away to start empty)", path);
    }
    *out = j;
    return 0;
}

void journal_free(struct journal *j)
{
    if (j == NULL)
        return;
    free(j->slices);
    free(j->path);
    free(j);
}

static json_t *slice_json(const struct journal_slice *s)
{
    json_t *o =
        json_pack("{s:I, s:s, s:i, s:I, s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:s, s:I, s:I}", "id",
                  (json_int_t)s->id, "owner", s->owner, "pid", s->pid, "pidStart",
                  (json_int_t)s->pid_start, "profile", s->profile, "gpu", s->gpu_uuid, "gpuIndex",
                  (int)s->gpu_index, "start", (int)s->start, "giId", (int)s->gi_id, "ciId",
                  (int)s->ci_id, "migUuid", s->mig_uuid, "phase", journal_phase_name(s->phase),
                  "created", (json_int_t)s->created, "expires", (json_int_t)s->expires);
    if (s->slice[0])
        json_object_set_new(o, "slice", json_string(s->slice));
    if (s->uid[0])
        json_object_set_new(o, "uid", json_string(s->uid));
    return o;
}

int journal_save(struct journal *j, struct err **err)
{
    json_t *slices = json_array();
    for (size_t i = 0; i < j->n; i++)
        json_array_append_new(slices, slice_json(&j->slices[i]));
    json_t *root = json_pack("{s:i, s:I, s:o}", "version", 1, "nextId", (json_int_t)j->next_id,
                             "slices", slices);
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    int rc = durable_write(j->path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

struct journal_slice *journal_add(struct journal *j, struct journal_slice *s)
{
    s->id = j->next_id++;
    return append(j, s);
}

struct journal_slice *journal_find(struct journal *j, uint64_t id)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->slices[i].id == id)
            return &j->slices[i];
    return NULL;
}

void journal_remove(struct journal *j, uint64_t id)
{
    for (size_t i = 0; i < j->n; i++) {
        if (j->slices[i].id == id) {
            memmove(&j->slices[i], &j->slices[i + 1], (j->n - i - 1) * sizeof j->slices[0]);
            j->n--;
            return;
        }
    }
}

int journal_mkdirs(const char *path, struct err **err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return err_set(err, ENAMETOOLONG, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return err_set(err, errno, "creating %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return err_set(err, errno, "creating %s: %s", buf, strerror(errno));
    return 0;
}
