/* test-aac-delay.c — the AAC encoder delays the recorder compensates
 *
 * For every AAC encoder installed here, a beep that starts at 1 s is
 * encoded into an MP4 the way the recorder does it (48 kHz stereo →
 * encoder → aacparse → mp4mux), decoded again, and its onset compared with
 * kaigi_media_get_aac_encoder_delay(). If an encoder's delay is not what
 * the table says, recordings made with it are out of sync by the
 * difference, and this fails.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <math.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include "kaigi-media.h"

#define RATE 48000
#define BEEP_AT RATE                    /* samples: 1 s */
#define BUFFER_SAMPLES 960              /* 20 ms */
#define N_BUFFERS 150                   /* 3 s */

static void
encode_beep (const char *factory,
             const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *description = g_strdup_printf (
    "appsrc name=src format=time "
    "caps=audio/x-raw,format=S16LE,rate=%d,channels=1,layout=interleaved "
    "! audioconvert ! audio/x-raw,channels=2 ! %s bitrate=128000 ! aacparse "
    "! mp4mux ! filesink location=\"%s\"",
    RATE, factory, path);
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;
  guint b, i;

  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  for (b = 0; b < N_BUFFERS; b++)
    {
      GstBuffer *buffer = gst_buffer_new_allocate (NULL, BUFFER_SAMPLES * 2, NULL);
      GstMapInfo map;

      gst_buffer_map (buffer, &map, GST_MAP_WRITE);
      for (i = 0; i < BUFFER_SAMPLES; i++)
        {
          long n = (long) b * BUFFER_SAMPLES + i;

          ((gint16 *) map.data)[i] = n >= BEEP_AT
                                     ? (gint16) (20000 * sin (2 * G_PI * 1000 * (n - BEEP_AT) / RATE))
                                     : 0;
        }
      gst_buffer_unmap (buffer, &map);
      GST_BUFFER_PTS (buffer) = gst_util_uint64_scale_int (b * BUFFER_SAMPLES, GST_SECOND, RATE);
      GST_BUFFER_DURATION (buffer) = gst_util_uint64_scale_int (BUFFER_SAMPLES, GST_SECOND, RATE);
      g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (src), buffer), ==, GST_FLOW_OK);
    }
  gst_app_src_end_of_stream (GST_APP_SRC (src));

  bus = gst_element_get_bus (pipeline);
  message = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

/* The time of the first decoded sample louder than a tenth of the beep */
static GstClockTime
find_onset (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *description = g_strdup_printf (
    "filesrc location=\"%s\" ! decodebin ! audioconvert "
    "! audio/x-raw,format=S16LE,channels=1 ! appsink name=sink sync=false",
    path);
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstElement) sink = NULL;
  GstClockTime onset = GST_CLOCK_TIME_NONE;

  g_assert_no_error (error);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (!GST_CLOCK_TIME_IS_VALID (onset))
    {
      g_autoptr(GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 10 * GST_SECOND);
      GstBuffer *buffer;
      GstMapInfo map;
      gsize i;

      if (sample == NULL)
        break;
      buffer = gst_sample_get_buffer (sample);
      gst_buffer_map (buffer, &map, GST_MAP_READ);
      for (i = 0; i < map.size / 2; i++)
        if (ABS (((const gint16 *) map.data)[i]) > 2000)
          {
            onset = GST_BUFFER_PTS (buffer) + gst_util_uint64_scale_int (i, GST_SECOND, RATE);
            break;
          }
      gst_buffer_unmap (buffer, &map);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return onset;
}

static void
test_encoder_delay (gconstpointer data)
{
  const char *factory = data;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  GstClockTime onset, expected;
  guint samples;

  if (!gst_registry_check_feature_version (gst_registry_get (), factory, 1, 0, 0))
    {
      g_test_skip_printf ("%s is not installed", factory);
      return;
    }

  dir = g_dir_make_tmp ("kaigi-aac-XXXXXX", &error);
  g_assert_no_error (error);
  path = g_build_filename (dir, "beep.mp4", NULL);
  encode_beep (factory, path);
  onset = find_onset (path);
  g_unlink (path);
  g_rmdir (dir);

  samples = kaigi_media_get_aac_encoder_delay (factory);
  expected = gst_util_uint64_scale_int (BEEP_AT + samples, GST_SECOND, RATE);
  g_test_message ("%s: the beep at 1 s decodes at %" GST_TIME_FORMAT "; the table says %u samples (%"
                  GST_TIME_FORMAT ")", factory, GST_TIME_ARGS (onset), samples, GST_TIME_ARGS (expected));
  g_assert_true (GST_CLOCK_TIME_IS_VALID (onset));
  /* A sine reaches the threshold within a few samples of its start */
  g_assert_cmpint (ABS (GST_CLOCK_DIFF (expected, onset)), <=, GST_MSECOND);
}

/* No guess for an encoder nobody measured: no compensation */
static void
test_unmeasured (void)
{
  g_assert_cmpuint (kaigi_media_get_aac_encoder_delay ("fdkaacenc"), ==, 0);
  g_assert_cmpuint (kaigi_media_get_aac_encoder_delay ("avenc_aac"), ==, 1024);
}

int
main (int    argc,
      char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/aac-delay/avenc_aac", "avenc_aac", test_encoder_delay);
  g_test_add_data_func ("/aac-delay/voaacenc", "voaacenc", test_encoder_delay);
  g_test_add_func ("/aac-delay/unmeasured", test_unmeasured);

  return g_test_run ();
}
