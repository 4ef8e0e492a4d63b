/* picture — ASCII drawings of a GPU's memory slices and its MIG instances. */
#include "cli/picture.h"

#include <string.h>

#define INDENT     "  "
#define MIN_CELL   5  /* columns per memory slice, border included */
#define MIN_GRID   64 /* narrowest grid, so that GPUs of a model look alike */
#define MAX_CELL   24 /* labels longer than a cell this wide are cut */
#define LABEL_CAP  48
#define WRAP_AT    100
#define LINE_CAP   (CAT_MAX_MEM_SLICES * MAX_CELL + 2)
#define LABEL_ROWS 2

struct grid {
    unsigned nslices;              /* memory slices of the model */
    unsigned cell;                 /* columns per slice, its left border included */
    unsigned rows;                 /* label rows in each box: 1 or 2 */
    int owner[CAT_MAX_MEM_SLICES]; /* index into g->inst of the slice's instance, or -1 */
    unsigned size[PLACE_MAX_INST]; /* memory slices of each instance */
    char text[PLACE_MAX_INST][LABEL_ROWS][LABEL_CAP];
};

static unsigned popcount16(unsigned v)
{
    unsigned n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

void picture_header(FILE *out, const struct place_gpu *g, unsigned index)
{
    const struct cat_gpu *m = g->model;
    fprintf(out, "GPU %u: %s  compute %u/%u, memory slices %u/%u, instances %u/%u\n", index,
            m->name, (unsigned)g->compute_used, (unsigned)m->compute_slices, popcount16(g->used),
            (unsigned)m->mem_slices, (unsigned)g->ninst, (unsigned)m->max_instances);
}

/* Columns per slice so that every box's longest label fits with one space of
 * padding: ceil((len + 2) / size), within [MIN_CELL, MAX_CELL], and the grid
 * at least MIN_GRID wide. */
static unsigned cell_width(const struct grid *gr, unsigned ninst)
{
    unsigned w =
        gr->nslices && MIN_GRID / gr->nslices > MIN_CELL ? MIN_GRID / gr->nslices : MIN_CELL;
    for (unsigned k = 0; k < ninst; k++) {
        for (unsigned r = 0; r < gr->rows; r++) {
            unsigned len = (unsigned)strlen(gr->text[k][r]);
            unsigned need = (len + 2 + gr->size[k] - 1) / gr->size[k];
            if (need > w)
                w = need;
        }
    }
    return w > MAX_CELL ? MAX_CELL : w;
}

static void grid_build(struct grid *gr, const struct place_gpu *g, picture_label_fn label,
                       void *ctx)
{
    memset(gr, 0, sizeof *gr);
    gr->nslices = g->model->mem_slices;
    gr->rows = label ? 2 : 1;
    for (unsigned s = 0; s < CAT_MAX_MEM_SLICES; s++)
        gr->owner[s] = -1;
    for (unsigned k = 0; k < g->ninst; k++) {
        const struct cat_profile *p = &g->model->profiles[g->inst[k].profile];
        gr->size[k] = p->mem_slices ? p->mem_slices : 1;
        for (unsigned s = g->inst[k].start; s < g->inst[k].start + gr->size[k]; s++)
            if (s < gr->nslices)
                gr->owner[s] = (int)k;
        snprintf(gr->text[k][0], LABEL_CAP, "%s", p->name);
        if (label)
            label(&g->inst[k], gr->text[k][1], LABEL_CAP, ctx);
    }
    gr->cell = cell_width(gr, g->ninst);
}

/* Is the boundary left of slice x inside one instance's box? */
static int inside_box(const struct grid *gr, unsigned x)
{
    return x > 0 && x < gr->nslices && gr->owner[x] >= 0 && gr->owner[x - 1] == gr->owner[x];
}

static void put_line(FILE *out, char *line, size_t len)
{
    while (len > 0 && line[len - 1] == ' ')
        len--;
    line[len] = '\0';
    fprintf(out, INDENT "%s\n", line);
}

static void draw_ruler(FILE *out, const struct grid *gr)
{
    char line[LINE_CAP];
    size_t width = (size_t)gr->nslices * gr->cell + 1;
    memset(line, ' ', width);
    for (unsigned x = 0; x < gr->nslices; x++) {
        char num[8];
        int len = snprintf(num, sizeof num, "%u", x);
        memcpy(line + x * gr->cell + (gr->cell - (unsigned)len + 1) / 2, num, (size_t)len);
    }
    put_line(out, line, width);
}

static void draw_border(FILE *out, const struct grid *gr)
{
    char line[LINE_CAP];
    size_t width = (size_t)gr->nslices * gr->cell + 1;
    memset(line, '-', width);
    for (unsigned x = 0; x <= gr->nslices; x++)
        if (!inside_box(gr, x))
            line[x * gr->cell] = '+';
    put_line(out, line, width);
}

/* Label row r: box edges, then each box's text (cut to fit), dots in free slices. */
static void draw_row(FILE *out, const struct grid *gr, unsigned r)
{
    char line[LINE_CAP];
    size_t width = (size_t)gr->nslices * gr->cell + 1;
    memset(line, ' ', width);
    for (unsigned x = 0; x <= gr->nslices; x++)
        if (!inside_box(gr, x))
            line[x * gr->cell] = '|';
    for (unsigned x = 0; x < gr->nslices; x++) {
        int k = gr->owner[x];
        if (k < 0) {
            if (r == 0)
                line[x * gr->cell + gr->cell / 2] = '.';
            continue;
        }
        if (x > 0 && gr->owner[x - 1] == k)
            continue;
        size_t room = (size_t)gr->size[k] * gr->cell - 2; /* inner width less the padding */
        size_t len = strlen(gr->text[k][r]);
        memcpy(line + x * gr->cell + 2, gr->text[k][r], len < room ? len : room);
    }
    put_line(out, line, width);
}

void picture_grid(FILE *out, const struct place_gpu *g, picture_label_fn label, void *ctx)
{
    struct grid gr;
    grid_build(&gr, g, label, ctx);
    draw_ruler(out, &gr);
    draw_border(out, &gr);
    for (unsigned r = 0; r < gr.rows; r++)
        draw_row(out, &gr, r);
    draw_border(out, &gr);
}

void picture_can_add(FILE *out, const struct place_gpu *g)
{
    static const char prefix[] = INDENT "can still add: ";
    size_t col = sizeof prefix - 1;
    unsigned items = 0;
    fputs(prefix, out);
    for (unsigned p = 0; p < g->model->nprofiles; p++) {
        unsigned n = place_fits_more(g, p);
        if (n == 0)
            continue;
        char item[LABEL_CAP + 16];
        int len = snprintf(item, sizeof item, "%s x%u", g->model->profiles[p].name, n);
        if (items > 0 && col + 2 + (size_t)len > WRAP_AT) {
            fprintf(out, ",\n%*s", (int)(sizeof prefix - 1), "");
            col = sizeof prefix - 1;
        } else if (items > 0) {
            fputs(", ", out);
            col += 2;
        }
        fputs(item, out);
        col += (size_t)len;
        items++;
    }
    fputs(items ? "\n" : "nothing\n", out);
}

void picture_gpu(FILE *out, const struct place_gpu *g, unsigned index, picture_label_fn label,
                 void *ctx)
{
    picture_header(out, g, index);
    picture_grid(out, g, label, ctx);
    picture_can_add(out, g);
}
