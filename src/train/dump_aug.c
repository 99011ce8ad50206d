/* selsa — `--dump-augmentations`: a PNG grid of augmented training triplets (key, ref 0, ref 1
 * per row) with the gt boxes drawn in the class colours, so a person can see what the network is
 * fed. Uses the same sample preparation as the loader (epoch 0 order, same seeds). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "selsa/render.h"
#include "selsa/train_data.h"

selsa_status selsa_train_data_dump_grid(const selsa_roidb *db, const selsa_train_data_cfg *cfg,
                                        int n_triplets, int tile_w, const char *png_path)
{
    if (!db || !cfg || !png_path)
        return selsa_error(SELSA_ERR_INVALID_ARG, "selsa_train_data_dump_grid: NULL argument");
    if (n_triplets < 1 || tile_w < 16)
        return selsa_error(SELSA_ERR_INVALID_ARG,
                           "selsa_train_data_dump_grid: n_triplets %d < 1 or tile_w %d < 16",
                           n_triplets, tile_w);
    int32_t *order = malloc((size_t)(db->n > 0 ? db->n : 1) * sizeof(int32_t));
    selsa_train_sample *s = calloc(1, sizeof *s);
    selsa_image tiles[SELSA_TRAIN_FRAMES * 64];
    memset(tiles, 0, sizeof tiles);
    selsa_image grid = {0};
    selsa_status st = SELSA_OK;
    if (!order || !s) {
        st = selsa_error(SELSA_ERR_OUT_OF_MEMORY, "dump grid: out of memory");
        goto done;
    }
    int64_t n_order = 0;
    st = selsa_roidb_epoch_order(db, cfg->shuffle, cfg->aspect_grouping, cfg->batch, cfg->seed, 0,
                                 order, db->n, &n_order);
    if (st != SELSA_OK) goto done;
    if (n_triplets > 64) n_triplets = 64;
    int rows = 0, cell_h = 0;
    const int pad = 4;
    for (int64_t p = 0; p < n_order && rows < n_triplets; p++) {
        st = selsa_train_sample_load(db, cfg, 0, p, order[p], s);
        if (st != SELSA_OK) {
            selsa_log(SELSA_LOG_WARN, "dump grid: skipping position %lld: %s", (long long)p,
                      selsa_last_error());
            st = SELSA_OK;
            continue;
        }
        int W = s->img[0].w, H = s->img[0].h;
        int tw = W < tile_w ? W : tile_w;
        int th = (int)lround((double)H * tw / W);
        if (th < 1) th = 1;
        double sx = (double)tw / W, sy = (double)th / H;
        for (int j = 0; j < SELSA_TRAIN_FRAMES; j++) {
            selsa_image *t = &tiles[rows * SELSA_TRAIN_FRAMES + j];
            if ((st = selsa_image_resize(&s->img[j], t, th, tw, sx, sy)) != SELSA_OK) goto done;
            for (int k = 0; k < s->n_boxes[j]; k++) {
                uint8_t col[3];
                selsa_render_class_color(s->classes[j][k], col);
                selsa_render_rect(t, (int)lround(s->boxes[j][k][0] * sx), (int)lround(s->boxes[j][k][1] * sy),
                                  (int)lround(s->boxes[j][k][2] * sx), (int)lround(s->boxes[j][k][3] * sy),
                                  col, 2);
            }
            char label[64];
            snprintf(label, sizeof label, "%s%s f%d", j == 0 ? "key" : "ref",
                     s->flipped ? " flip" : "", s->frame[j]);
            const uint8_t white[3] = {255, 255, 255};
            selsa_render_text(t, 2, 2, label, white, 1);
        }
        if (th > cell_h) cell_h = th;
        rows++;
    }
    if (rows == 0) {
        st = selsa_error(SELSA_ERR_FORMAT, "dump grid: no sample could be prepared");
        goto done;
    }
    int cell_w = tile_w;
    int GW = SELSA_TRAIN_FRAMES * (cell_w + pad) + pad, GH = rows * (cell_h + pad) + pad;
    if ((st = selsa_image_alloc(&grid, GH, GW)) != SELSA_OK) goto done;
    memset(grid.data, 64, (size_t)GH * GW * 3);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < SELSA_TRAIN_FRAMES; j++) {
            const selsa_image *t = &tiles[r * SELSA_TRAIN_FRAMES + j];
            int ox = pad + j * (cell_w + pad), oy = pad + r * (cell_h + pad);
            for (int y = 0; y < t->h; y++)
                memcpy(grid.data + ((size_t)(oy + y) * GW + ox) * 3, t->data + (size_t)y * t->w * 3,
                       (size_t)t->w * 3);
        }
    st = selsa_image_write_png(png_path, &grid);
done:
    for (int i = 0; i < SELSA_TRAIN_FRAMES * 64; i++) selsa_image_free(&tiles[i]);
    selsa_image_free(&grid);
    if (s) selsa_train_sample_free(s);
    free(s);
    free(order);
    return st;
}
