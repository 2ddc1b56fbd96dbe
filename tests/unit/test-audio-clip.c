/* test-audio-clip.c — cutting the front of the mix's first audio buffer
 *
 * The recorder cuts the mix's first buffer at the file's first frame with
 * kaigi_media_clip_audio_front(). The samples kept must be the right ones,
 * and the buffer must keep its place in time: until 2026-12-07 its PTS
 * wrapped round to near 0, because gst_audio_buffer_truncate() returns a
 * copy without timestamps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gst/gst.h>
#include <gst/audio/audio.h>

#include "kaigi-media.h"

#define RATE 48000
#define SAMPLES 960                     /* 20 ms */
#define PTS (1500 * GST_MSECOND)

/* 20 ms of 48 kHz stereo S16 whose left and right samples are both the
 * sample's index, at PTS */
static GstBuffer *
make_counting_buffer (GstAudioInfo *info)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, SAMPLES * 4, NULL);
  GstMapInfo map;

  gst_audio_info_set_format (info, GST_AUDIO_FORMAT_S16LE, RATE, 2, NULL);
  g_assert_true (gst_buffer_map (buffer, &map, GST_MAP_WRITE));
  for (guint i = 0; i < SAMPLES; i++)
    {
      ((gint16 *) map.data)[2 * i] = i;
      ((gint16 *) map.data)[2 * i + 1] = i;
    }
  gst_buffer_unmap (buffer, &map);
  GST_BUFFER_PTS (buffer) = PTS;
  GST_BUFFER_DURATION (buffer) = 20 * GST_MSECOND;
  return buffer;
}

static gint16
first_sample (GstBuffer *buffer)
{
  GstMapInfo map;
  gint16 value;

  g_assert_true (gst_buffer_map (buffer, &map, GST_MAP_READ));
  value = ((gint16 *) map.data)[0];
  gst_buffer_unmap (buffer, &map);
  return value;
}

/* Cuts @trim off the counting buffer: the first sample kept is @first,
 * at its own time, and the rest is all there */
static void
check_cut (GstClockTime trim,
           guint        first)
{
  GstAudioInfo info;
  g_autoptr(GstBuffer) buffer = make_counting_buffer (&info);
  g_autoptr(GstBuffer) clipped = kaigi_media_clip_audio_front (buffer, &info, trim);

  g_assert_nonnull (clipped);
  g_assert_cmpuint (GST_BUFFER_PTS (clipped), ==, PTS + gst_util_uint64_scale_int (first, GST_SECOND, RATE));
  g_assert_cmpuint (GST_BUFFER_DURATION (clipped), ==,
                    gst_util_uint64_scale_int (SAMPLES - first, GST_SECOND, RATE));
  g_assert_cmpuint (gst_buffer_get_size (clipped), ==, (SAMPLES - first) * 4);
  g_assert_cmpint (first_sample (clipped), ==, first);
  /* the original is untouched */
  g_assert_cmpuint (GST_BUFFER_PTS (buffer), ==, PTS);
  g_assert_cmpuint (gst_buffer_get_size (buffer), ==, SAMPLES * 4);
}

/* 5 ms cut: 240 samples go, the rest keeps its time (1.505 s) */
static void
test_cut (void)
{
  check_cut (5 * GST_MSECOND, 240);
}

/* A cut between samples (100.6 samples) goes to the nearest one */
static void
test_rounding (void)
{
  check_cut (2095833, 101);
}

/* Nothing cut: the same samples at the same time */
static void
test_nothing (void)
{
  check_cut (0, 0);
}

/* A cut that takes every sample leaves nothing */
static void
test_all (void)
{
  GstAudioInfo info;
  g_autoptr(GstBuffer) buffer = make_counting_buffer (&info);

  g_assert_null (kaigi_media_clip_audio_front (buffer, &info, 20 * GST_MSECOND));
  g_assert_null (kaigi_media_clip_audio_front (buffer, &info, GST_SECOND));
}

int
main (int    argc,
      char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/audio-clip/cut", test_cut);
  g_test_add_func ("/audio-clip/rounding", test_rounding);
  g_test_add_func ("/audio-clip/nothing", test_nothing);
  g_test_add_func ("/audio-clip/all", test_all);

  return g_test_run ();
}
