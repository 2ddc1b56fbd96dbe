/* test-layout.c — geometry of the active-speaker composite
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-layout.h"

static gboolean
overlap (const KaigiRect *a,
         const KaigiRect *b)
{
  return a->x < b->x + b->width && b->x < a->x + a->width &&
         a->y < b->y + b->height && b->y < a->y + a->height;
}

static void
test_alone (void)
{
  KaigiRect rect;

  kaigi_layout_compute (1280, 720, 1, 0, &rect);
  g_assert_cmpint (rect.x, ==, 0);
  g_assert_cmpint (rect.y, ==, 0);
  g_assert_cmpint (rect.width, ==, 1280);
  g_assert_cmpint (rect.height, ==, 720);
}

static void
test_speaker_and_filmstrip (void)
{
  const struct { guint width, height; } sizes[] = { { 1280, 720 }, { 1920, 1080 }, { 640, 360 }, { 1000, 1000 } };
  guint s, n, main_index;

  for (s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (n = 2; n <= 12; n++)
      for (main_index = 0; main_index < n; main_index++)
        {
          g_autofree KaigiRect *rects = g_new0 (KaigiRect, n);
          guint i, j;

          kaigi_layout_compute (sizes[s].width, sizes[s].height, n, main_index, rects);
          for (i = 0; i < n; i++)
            {
              const KaigiRect *r = &rects[i];

              /* Inside the picture, even for I420, roughly 16:9 */
              g_assert_cmpint (r->x, >=, 0);
              g_assert_cmpint (r->y, >=, 0);
              g_assert_cmpint (r->x + r->width, <=, (int) sizes[s].width);
              g_assert_cmpint (r->y + r->height, <=, (int) sizes[s].height);
              g_assert_cmpint (r->width, >, 0);
              g_assert_cmpint (r->height, >, 0);
              g_assert_cmpint ((r->x | r->y | r->width | r->height) & 1, ==, 0);
              g_assert_cmpfloat (ABS ((double) r->width / r->height - 16.0 / 9.0), <, 0.1);

              /* The main tile is the largest, and nothing overlaps */
              if (i != main_index)
                {
                  g_assert_cmpint (r->width * r->height, <, rects[main_index].width * rects[main_index].height);
                  g_assert_cmpint (r->y, >=, rects[main_index].y + rects[main_index].height);
                }
              for (j = i + 1; j < n; j++)
                g_assert_false (overlap (r, &rects[j]));
            }
        }
}

static void
test_720p_numbers (void)
{
  KaigiRect rects[3];

  /* The documented 720p layout: 1024x576 speaker, 256x144 filmstrip */
  kaigi_layout_compute (1280, 720, 3, 1, rects);
  g_assert_cmpint (rects[1].x, ==, 128);
  g_assert_cmpint (rects[1].width, ==, 1024);
  g_assert_cmpint (rects[1].height, ==, 576);
  g_assert_cmpint (rects[0].width, ==, 256);
  g_assert_cmpint (rects[0].height, ==, 144);
  g_assert_cmpint (rects[0].y, ==, 576);
  g_assert_cmpint (rects[0].x, ==, 384);
  g_assert_cmpint (rects[2].x, ==, 640);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layout/alone", test_alone);
  g_test_add_func ("/layout/speaker-and-filmstrip", test_speaker_and_filmstrip);
  g_test_add_func ("/layout/720p", test_720p_numbers);
  return g_test_run ();
}
