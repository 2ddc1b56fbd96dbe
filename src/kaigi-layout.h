/* kaigi-layout.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * KaigiRect:
 * @x: left edge (pixels)
 * @y: top edge (pixels)
 * @width: width (pixels)
 * @height: height (pixels)
 *
 * A tile of the composite picture. All four are even, as I420 needs.
 */
typedef struct
{
  int x;
  int y;
  int width;
  int height;
} KaigiRect;

void kaigi_layout_compute (guint      width,
                           guint      height,
                           guint      n_tiles,
                           guint      main_index,
                           KaigiRect *rects);

G_END_DECLS
