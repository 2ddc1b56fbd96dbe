/* kaigi-layout.c — the active-speaker layout of the composite
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-layout.h"

/* The filmstrip takes this fraction of the height: 144 of 720 lines */
#define FILMSTRIP_DIVISOR 5

static int
even (int value)
{
  return value & ~1;
}

/* The largest 16:9 size that fits into @width × @height */
static void
fit_16_9 (int  width,
          int  height,
          int *out_width,
          int *out_height)
{
  if (width * 9 <= height * 16)
    {
      *out_width = even (width);
      *out_height = even (width * 9 / 16);
    }
  else
    {
      *out_width = even (height * 16 / 9);
      *out_height = even (height);
    }
}

/**
 * kaigi_layout_compute:
 * @width: width of the composite (pixels)
 * @height: height of the composite (pixels)
 * @n_tiles: number of tiles, at least 1
 * @main_index: the tile shown large (the active speaker or the pinned
 *   participant), below @n_tiles
 * @rects: (out caller-allocates) (array length=n_tiles): the tiles' places
 *
 * Lays out the composite: one tile alone fills the picture; otherwise the
 * main tile is the largest 16:9 rectangle above a filmstrip along the
 * bottom (a fifth of the height), and the other tiles sit side by side in
 * the filmstrip in their order, centred, as 16:9 rectangles that shrink
 * when there are too many to fit. Tiles never overlap. Pure function; any
 * thread.
 */
void
kaigi_layout_compute (guint      width,
                      guint      height,
                      guint      n_tiles,
                      guint      main_index,
                      KaigiRect *rects)
{
  int strip_height, tile_width, tile_height, main_width, main_height, x;
  guint n_others, i;

  g_return_if_fail (n_tiles > 0);
  g_return_if_fail (main_index < n_tiles);
  g_return_if_fail (rects != NULL);

  if (n_tiles == 1)
    {
      rects[0] = (KaigiRect) { 0, 0, even (width), even (height) };
      return;
    }

  n_others = n_tiles - 1;
  strip_height = even (height / FILMSTRIP_DIVISOR);
  fit_16_9 (width / n_others, strip_height, &tile_width, &tile_height);
  fit_16_9 (width, height - strip_height, &main_width, &main_height);

  rects[main_index] = (KaigiRect) { even ((width - main_width) / 2), 0, main_width, main_height };

  x = even ((width - (int) n_others * tile_width) / 2);
  for (i = 0; i < n_tiles; i++)
    {
      if (i == main_index)
        continue;
      rects[i] = (KaigiRect) {
        x, even (height - strip_height + (strip_height - tile_height) / 2),
        tile_width, tile_height,
      };
      x += tile_width;
    }
}
