/* The agent's journal: round trips, refusal of corrupt or oversized files,
 * and durability under SIGKILL at random instants of a save. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/journal.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/slicer-journal.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/journal.json", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

static struct journal *open_ok(void)
{
    struct journal *j = NULL;
    struct err *e = NULL;
    cr_assert_eq(journal_open(path, &j, &e), 0, "%s", err_msg(e));
    return j;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(journal, a_new_journal_is_created_empty)
{
    struct journal *j = open_ok();
    cr_assert_eq(j->n, 0);
    cr_assert_eq(access(path, F_OK), 0, "the empty journal was not written");
    journal_free(j);
}

Test(journal, entries_round_trip)
{
    struct journal *j = open_ok();
    struct journal_slice s = {.pid = 42,
                              .pid_start = 777,
                              .gpu_index = 1,
                              .start = 6,
                              .phase = SLICE_CREATING,
                              .created = 1000,
                              .expires = 2000};
    snprintf(s.owner, sizeof s.owner, "run \"quoted\" owner");
    snprintf(s.profile, sizeof s.profile, "1g.5gb");
    snprintf(s.gpu_uuid, sizeof s.gpu_uuid, "GPU-1234");
    uint64_t a = journal_add(j, &s)->id;
    s.phase = SLICE_READY;
    s.gi_id = 13;
    s.ci_id = 0;
    snprintf(s.mig_uuid, sizeof s.mig_uuid, "MIG-abcd");
    uint64_t b = journal_add(j, &s)->id;
    cr_assert_neq(a, b);
    struct err *e = NULL;
    cr_assert_eq(journal_save(j, &e), 0, "%s", err_msg(e));
    journal_free(j);

    j = open_ok();
    cr_assert_eq(j->n, 2);
    struct journal_slice *x = journal_find(j, a), *y = journal_find(j, b);
    cr_assert_not_null(x);
    cr_assert_not_null(y);
    cr_assert_str_eq(x->owner, "run \"quoted\" owner");
    cr_assert_eq(x->phase, SLICE_CREATING);
    cr_assert_eq(x->pid, 42);
    cr_assert_eq(x->pid_start, 777);
    cr_assert_eq(x->start, 6);
    cr_assert_eq(x->expires, 2000);
    cr_assert_eq(y->phase, SLICE_READY);
    cr_assert_eq(y->gi_id, 13);
    cr_assert_str_eq(y->mig_uuid, "MIG-abcd");
    /* Ids are never reused, even after removal. */
    journal_remove(j, b);
    cr_assert_null(journal_find(j, b));
    uint64_t c = journal_add(j, &s)->id;
    cr_assert_gt(c, b);
    journal_free(j);
}

Test(journal, corrupt_files_are_refused_not_reset)
{
    const char *bad[] = {
        "{not json",
        "{\"version\":2,\"nextId\":1,\"slices\":[]}",
        "{\"version\":1,\"nextId\":1}",
        "{\"version\":1,\"nextId\":1,\"slices\":[],\"extra\":1}",
        "{\"version\":1,\"nextId\":5,\"slices\":[{\"id\":7,\"owner\":\"x\",\"profile\":\"1g.5gb\","
        "\"gpu\":\"G\",\"gpuIndex\":0,\"start\":0,\"phase\":\"ready\"}]}",
        "{\"version\":1,\"nextId\":9,\"slices\":[{\"id\":7,\"owner\":\"x\",\"profile\":\"1g.5gb\","
        "\"gpu\":\"G\",\"gpuIndex\":0,\"start\":0,\"phase\":\"exploded\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(bad[i]);
        struct journal *j = NULL;
        struct err *e = NULL;
        cr_assert_lt(journal_open(path, &j, &e), 0, "accepted: %s", bad[i]);
        cr_assert_null(j);
        cr_assert(strstr(err_msg(e), "corrupt"), "%s", err_msg(e));
        err_free(&e);
        /* The file is left as it was, for a person to look at. */
        FILE *f = fopen(path, "r");
        char buf[512] = "";
        cr_assert_not_null(f);
        cr_assert_not_null(fgets(buf, sizeof buf, f));
        fclose(f);
        cr_assert_eq(strncmp(buf, bad[i], strlen(buf)), 0);
    }
}

Test(journal, oversized_files_are_refused)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (unsigned i = 0; i < JOURNAL_MAX_BYTES / 8 + 1; i++)
        fputs("        ", f);
    fclose(f);
    struct journal *j = NULL;
    struct err *e = NULL;
    cr_assert_lt(journal_open(path, &j, &e), 0);
    cr_assert(strstr(err_msg(e), "bytes"), "%s", err_msg(e));
    err_free(&e);
}

Test(journal, sigkill_during_saves_never_leaves_a_torn_journal, .timeout = 120)
{
    struct journal *j = open_ok();
    journal_free(j);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 40; round++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            struct journal *cj = NULL;
            if (journal_open(path, &cj, NULL) < 0)
                _exit(3);
            for (;;) {
                struct journal_slice s = {.phase = SLICE_READY};
                snprintf(s.owner, sizeof s.owner, "round %d", round);
                snprintf(s.profile, sizeof s.profile, "1g.5gb");
                snprintf(s.gpu_uuid, sizeof s.gpu_uuid, "GPU-x");
                journal_add(cj, &s);
                if (cj->n > 50)
                    journal_remove(cj, cj->slices[0].id);
                if (journal_save(cj, NULL) < 0)
                    _exit(4);
            }
        }
        usleep((useconds_t)(1000 + rand() % 20000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "the saving child exited by itself: %d",
                  WEXITSTATUS(status));
        struct err *e = NULL;
        struct journal *after = NULL;
        cr_assert_eq(journal_open(path, &after, &e), 0, "round %d: %s", round, err_msg(e));
        journal_free(after);
    }
}
