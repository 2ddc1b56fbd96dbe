/* test-name-plate.c — the names in a recording are readable
 *
 * kaigi_media_make_label_bin() draws a participant's name on a dark
 * 200×32 band, which the compositor scales onto a tile; and
 * kaigi_media_make_placeholder_bin() on the 320×180 card of a tile
 * without a picture. One frame of each is rendered and the text measured
 * by its light pixels: it must be tall enough to read (textoverlay's
 * auto-resize once drew the plate's 5 points high, about 6 pixels), and a
 * plate's stays on one line however long the name.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include "kaigi-media.h"

/* Rows and columns (pixels of the 200×32 band) holding text */
typedef struct
{
  int top, bottom, left, right;
} Extent;

static void
measure_text (const char *name,
              gboolean    placeholder,
              Extent     *extent)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_pipeline_new (NULL);
  g_autoptr(GstSample) sample = NULL;
  g_autoptr(GstCaps) i420 = gst_caps_from_string ("video/x-raw,format=I420");
  GstElement *label, *sink;
  GstVideoInfo info;
  GstVideoFrame frame;
  int x, y;

  /* A dark tile colour, so that only the text is light */
  label = placeholder ? kaigi_media_make_placeholder_bin (0xFF304050, name, 0, &error)
                      : kaigi_media_make_label_bin (name, 0, &error);
  g_assert_no_error (error);
  sink = gst_element_factory_make ("appsink", NULL);
  g_object_set (sink, "sync", FALSE, "caps", i420, NULL);
  gst_bin_add_many (GST_BIN (pipeline), label, sink, NULL);
  g_assert_true (gst_element_link (label, sink));
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND);
  g_assert_nonnull (sample);

  g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  g_assert_cmpint (GST_VIDEO_INFO_WIDTH (&info), ==, placeholder ? 320 : 200);
  g_assert_cmpint (GST_VIDEO_INFO_HEIGHT (&info), ==, placeholder ? 180 : 32);
  g_assert_true (gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ));
  extent->top = extent->left = G_MAXINT;
  extent->bottom = extent->right = -1;
  for (y = 0; y < GST_VIDEO_INFO_HEIGHT (&info); y++)
    for (x = 0; x < GST_VIDEO_INFO_WIDTH (&info); x++)
      {
        const guint8 *luma = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) +
                             y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0) + x;

        /* The band is dark grey (luma about 30), the card dark blue-grey,
         * the text white */
        if (*luma > 160)
          {
            extent->top = MIN (extent->top, y);
            extent->bottom = MAX (extent->bottom, y);
            extent->left = MIN (extent->left, x);
            extent->right = MAX (extent->right, x);
          }
      }
  gst_video_frame_unmap (&frame);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_test_message ("\"%s\": text in rows %d–%d, columns %d–%d", name, extent->top, extent->bottom,
                  extent->left, extent->right);
}

static void
test_readable (void)
{
  Extent e;

  /* "Alice" in 11-point bold: capitals about 11 pixels tall, the word
   * about 45 wide */
  measure_text ("Alice", FALSE, &e);
  g_assert_cmpint (e.bottom, >=, e.top);
  g_assert_cmpint (e.bottom - e.top + 1, >=, 10);
  g_assert_cmpint (e.right - e.left + 1, >=, 35);
  /* Kanji need the CJK font the server depends on */
  measure_text ("花子", FALSE, &e);
  g_assert_cmpint (e.bottom - e.top + 1, >=, 10);
  g_assert_cmpint (e.right - e.left + 1, >=, 20);
}

static void
test_one_line (void)
{
  Extent e;

  /* Longer than the band: one line, cut off at the right edge, never
   * wrapped onto a second line outside the band */
  measure_text ("Alexandra Konstantinopoulou-Wolfeschlegelsteinhausen", FALSE, &e);
  g_assert_cmpint (e.bottom - e.top + 1, <=, 20);
  g_assert_cmpint (e.right, >=, 190);
}

static void
test_placeholder (void)
{
  Extent e;

  /* A camera-off tile: the name about a sixth of the card's height */
  measure_text ("Alice", TRUE, &e);
  g_assert_cmpint (e.bottom - e.top + 1, >=, 20);
  g_assert_cmpint (e.right - e.left + 1, >=, 60);
}

int
main (int   argc,
      char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/name-plate/readable", test_readable);
  g_test_add_func ("/name-plate/one-line", test_one_line);
  g_test_add_func ("/name-plate/placeholder", test_placeholder);
  return g_test_run ();
}
