/* kube_lease: the pure tryAcquireOrRenew decision, and the record's JSON. */
#include <criterion/criterion.h>
#include <string.h>

#include "kube/kube_lease.h"

static struct kube_lease_record rec(const char *holder, int dur, const char *renew, int trans)
{
    struct kube_lease_record r = {.duration_s = dur, .transitions = trans};
    snprintf(r.holder, sizeof r.holder, "%s", holder);
    snprintf(r.acquire, sizeof r.acquire, "2026-01-01T00:00:00.000000Z");
    snprintf(r.renew, sizeof r.renew, "%s", renew);
    return r;
}

Test(kube_lease, an_absent_lease_is_created)
{
    struct kube_lease_observed obs = {0};
    struct kube_lease_record next;
    cr_assert_eq(kube_lease_decide(NULL, &obs, "me", 15, 1000, "T1", &next), KUBE_LEASE_CREATE);
    cr_assert_str_eq(next.holder, "me");
    cr_assert_eq(next.duration_s, 15);
    cr_assert_str_eq(next.acquire, "T1");
    cr_assert_str_eq(next.renew, "T1");
    cr_assert_eq(next.transitions, 0);
}

Test(kube_lease, validity_is_measured_on_the_local_clock_from_the_last_change)
{
    struct kube_lease_observed obs = {0};
    struct kube_lease_record next, other = rec("other", 10, "R1", 4);
    /* First seen at t=1000 ms: valid until 11000 whatever renewTime says. */
    cr_assert_eq(kube_lease_decide(&other, &obs, "me", 15, 1000, "T", &next), KUBE_LEASE_FOLLOW);
    cr_assert_eq(kube_lease_decide(&other, &obs, "me", 15, 10999, "T", &next), KUBE_LEASE_FOLLOW);
    /* The holder renewed at 9000 (the record changed): valid until 19000. */
    other = rec("other", 10, "R2", 4);
    cr_assert_eq(kube_lease_decide(&other, &obs, "me", 15, 9000, "T", &next), KUBE_LEASE_FOLLOW);
    cr_assert_eq(kube_lease_decide(&other, &obs, "me", 15, 18999, "T", &next), KUBE_LEASE_FOLLOW);
    cr_assert_eq(kube_lease_decide(&other, &obs, "me", 15, 19000, "T9", &next), KUBE_LEASE_TAKE);
    cr_assert_str_eq(next.holder, "me");
    cr_assert_eq(next.transitions, 5, "a takeover counts a transition");
    cr_assert_str_eq(next.acquire, "T9");
}

Test(kube_lease, the_holder_renews_keeping_acquire_time_and_transitions)
{
    struct kube_lease_observed obs = {0};
    struct kube_lease_record next, mine = rec("me", 15, "R1", 3);
    cr_assert_eq(kube_lease_decide(&mine, &obs, "me", 15, 5000, "T2", &next), KUBE_LEASE_RENEW);
    cr_assert_str_eq(next.acquire, "2026-01-01T00:00:00.000000Z");
    cr_assert_str_eq(next.renew, "T2");
    cr_assert_eq(next.transitions, 3);
}

Test(kube_lease, an_empty_holder_can_be_taken_at_once)
{
    struct kube_lease_observed obs = {0};
    struct kube_lease_record next, released = rec("", 1, "R", 2);
    cr_assert_eq(kube_lease_decide(&released, &obs, "me", 15, 1, "T", &next), KUBE_LEASE_TAKE);
    cr_assert_eq(next.transitions, 3);
}

Test(kube_lease, records_round_trip_through_json)
{
    json_t *lease = json_pack("{s:{s:s, s:s}}", "metadata", "name", "l", "resourceVersion", "9");
    struct kube_lease_record r = rec("pod-a", 15, "2026-12-01T20:30:00.123456Z", 7), back;
    kube_lease_to_json(lease, &r);
    kube_lease_from_json(lease, &back);
    cr_assert_eq(memcmp(&r, &back, sizeof r), 0);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion")),
        "9");
    json_decref(lease);
    char t[40];
    kube_micro_time(t, sizeof t);
    cr_assert_eq(strlen(t), 27, "%s", t);
    cr_assert_eq(t[10], 'T');
    cr_assert_eq(t[19], '.');
    cr_assert_eq(t[26], 'Z');
}
