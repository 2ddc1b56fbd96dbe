/* test-decode-limits.c — a recording decodes no picture past the limit
 *
 * A real VP8 or H.264 stream, encoded and packetized by GStreamer, goes
 * through the recording's decoding branch (kaigi_media_make_decode_bin).
 * Pictures up to 8192 pixels a side and 8192 × 4320 in all are decoded; a
 * wider, taller or larger one never reaches the decoder (whose output is
 * never negotiated), and the branch says so with a warning and carries
 * on: a stream that comes back under the limit is decoded again from its
 * next key frame. Most streams are a few pixels high, so that the large
 * side costs little to encode.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include "kaigi-media.h"

typedef struct
{
  const char *encoder;   /* the encoder and payloader, a gst-launch fragment */
  const char *encoding;  /* the RTP encoding name */
  const char *decoder;   /* the decoder's factory, whose output is watched */
  int width;
  int height;
  gboolean fits;         /* within the limits: decoded */
  int then_width;        /* then this size, if not 0 */
  int then_height;
  int claim_width;       /* if not 0, what the VP8 key frame headers claim */
  int claim_height;
} Case;

typedef struct
{
  guint n_frames;
  gboolean failed;
  gboolean warned;
  gboolean decoder_negotiated;
  int decoded_width;     /* of the decoder's last caps */
} Result;

static gboolean
is_decoder (const GValue *value,
            gpointer      factory_name)
{
  GstElement *element = g_value_get_object (value);
  GstElementFactory *factory = gst_element_get_factory (element);

  return factory && g_strcmp0 (GST_OBJECT_NAME (factory), factory_name) == 0 ? 0 : 1;
}

/* Streaming thread: a forged VP8 key frame header (RFC 6386 §9.1: the
 * frame tag, the start code, then width and height, 14 bits each, little
 * endian, under 2 bits of scaling) that claims another picture size */
static GstPadProbeReturn
forge_size (GstPad          *pad,
            GstPadProbeInfo *info,
            gpointer         user_data)
{
  const Case *c = user_data;
  GstBuffer *buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstMapInfo map;

  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  if (gst_buffer_map (buffer, &map, GST_MAP_READWRITE))
    {
      if (map.size >= 10 && !(map.data[0] & 0x01))
        {
          GST_WRITE_UINT16_LE (map.data + 6, (GST_READ_UINT16_LE (map.data + 6) & 0xc000) | c->claim_width);
          GST_WRITE_UINT16_LE (map.data + 8, (GST_READ_UINT16_LE (map.data + 8) & 0xc000) | c->claim_height);
        }
      gst_buffer_unmap (buffer, &map);
    }
  return GST_PAD_PROBE_OK;
}

static void
run_case (const Case *c,
          Result     *result)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *then = c->then_width == 0 ? g_strdup ("") : g_strdup_printf (
    "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 "
    "! c. ", c->then_width, c->then_height);
  g_autofree char *description = g_strdup_printf (
    "concat name=c ! %s ! application/x-rtp,media=video,encoding-name=%s,clock-rate=90000,payload=96 "
    "! identity name=rtp "
    "videotestsrc num-buffers=%d pattern=ball ! video/x-raw,format=I420,width=%d,height=%d,framerate=30/1 "
    "! c. %s",
    c->encoder, c->encoding, c->then_width == 0 ? 20 : 10, c->width, c->height, then);
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstElement) rtp = NULL;
  g_autoptr(GstCaps) rtp_caps = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;
  g_autoptr(GstIterator) it = NULL;
  g_auto(GValue) found = G_VALUE_INIT;
  GstElement *decode, *sink;

  g_assert_no_error (error);
  rtp = gst_bin_get_by_name (GST_BIN (pipeline), "rtp");
  if (c->claim_width != 0)
    {
      g_autoptr(GstElement) pay = gst_bin_get_by_name (GST_BIN (pipeline), "pay");
      g_autoptr(GstPad) pay_sink = gst_element_get_static_pad (pay, "sink");

      gst_pad_add_probe (pay_sink, GST_PAD_PROBE_TYPE_BUFFER, forge_size, (gpointer) c, NULL);
    }
  rtp_caps = gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING, "video",
                                  "encoding-name", G_TYPE_STRING, c->encoding,
                                  "clock-rate", G_TYPE_INT, 90000, NULL);
  decode = kaigi_media_make_decode_bin (KAIGI_TRACK_VIDEO, rtp_caps, 50, &error);
  g_assert_no_error (error);
  sink = gst_element_factory_make ("appsink", NULL);
  g_object_set (sink, "sync", FALSE, "emit-signals", FALSE, NULL);
  gst_bin_add_many (GST_BIN (pipeline), decode, sink, NULL);
  g_assert_true (gst_element_link_many (rtp, decode, sink, NULL));

  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);

  /* Until the end of the stream or an error; the warnings on the way */
  result->n_frames = 0;
  while (message == NULL)
    {
      g_autoptr(GstSample) sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 100 * GST_MSECOND);
      gboolean eos = sample == NULL && gst_app_sink_is_eos (GST_APP_SINK (sink));
      GstMessage *popped;

      if (sample)
        result->n_frames++;
      while ((popped = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING)))
        {
          g_autoptr(GError) stream_error = NULL;
          g_autofree char *debug = NULL;

          if (GST_MESSAGE_TYPE (popped) == GST_MESSAGE_ERROR)
            {
              gst_message_parse_error (popped, &stream_error, &debug);
              g_test_message ("%dx%d: error: %s (%s)", c->width, c->height, stream_error->message, debug);
              gst_clear_message (&message);
              message = popped;
            }
          else
            {
              g_autofree char *expected = g_strdup_printf ("a picture of %d×%d is larger",
                                                           c->claim_width ? c->claim_width : c->width,
                                                           c->claim_width ? c->claim_height : c->height);

              gst_message_parse_warning (popped, &stream_error, &debug);
              g_test_message ("%dx%d: warning: %s", c->width, c->height, stream_error->message);
              if (g_str_has_prefix (stream_error->message, expected))
                result->warned = TRUE;
              gst_message_unref (popped);
            }
        }
      if (eos)
        break;
    }
  result->failed = message != NULL;

  it = gst_bin_iterate_recurse (GST_BIN (decode));
  g_assert_true (gst_iterator_find_custom (it, (GCompareFunc) is_decoder, &found, (gpointer) c->decoder));
  {
    g_autoptr(GstPad) src = gst_element_get_static_pad (g_value_get_object (&found), "src");
    g_autoptr(GstCaps) caps = gst_pad_get_current_caps (src);

    result->decoder_negotiated = caps != NULL;
    if (caps)
      gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &result->decoded_width);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  Result result = { 0 };
  gboolean too_large = !c->fits;
  const char *needed[] = { c->decoder, NULL, NULL };
  guint i;

  needed[1] = g_str_has_prefix (c->encoder, "x264enc") ? "x264enc" : "vp8enc";
  for (i = 0; needed[i]; i++)
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (needed[i]);

      if (factory == NULL)
        {
          g_test_skip_printf ("no %s here", needed[i]);
          return;
        }
    }

  run_case (c, &result);
  g_test_message ("%s %dx%d: %u pictures decoded", c->encoding, c->width, c->height, result.n_frames);
  g_assert_false (result.failed);
  g_assert_cmpint (result.warned, ==, too_large);
  if (c->then_width != 0)
    {
      /* Back under the limit: decoded again from the next key frame */
      g_assert_cmpuint (result.n_frames, >=, 15);
      g_assert_cmpuint (result.n_frames, <=, 20);
      g_assert_cmpint (result.decoded_width, ==, c->then_width);
    }
  else if (too_large)
    {
      g_assert_cmpuint (result.n_frames, ==, 0);
      g_assert_false (result.decoder_negotiated);
    }
  else
    {
      g_assert_cmpuint (result.n_frames, ==, 20);
      g_assert_cmpint (result.decoded_width, ==, c->width);
    }
}

int
main (int   argc,
      char *argv[])
{
#define VP8 "vp8enc deadline=1 keyframe-max-dist=10 ! rtpvp8pay name=pay pt=96"
#define H264 "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay pt=96 config-interval=-1"
  /* The limits are written out, not taken from kaigi-media.h: 8192 a side,
   * 8192 × 4320 in all */
  static const Case cases[] = {
    { VP8, "VP8", "vp8dec", 320, 240, TRUE },
    { VP8, "VP8", "vp8dec", 8192, 16, TRUE },
    { VP8, "VP8", "vp8dec", 8208, 16, FALSE },
    { VP8, "VP8", "vp8dec", 16, 8208, FALSE },
    /* Too large in all: a 320×240 stream whose key frames claim more */
    { VP8, "VP8", "vp8dec", 320, 240, FALSE, 0, 0, 4336, 8192 },
    { VP8, "VP8", "vp8dec", 320, 240, FALSE, 0, 0, 16383, 16383 },
    { VP8, "VP8", "vp8dec", 8208, 16, FALSE, 320, 240 },
    { H264, "H264", "avdec_h264", 320, 240, TRUE },
    { H264, "H264", "avdec_h264", 8208, 16, FALSE },
    { H264, "H264", "avdec_h264", 8208, 16, FALSE, 320, 240 },
  };
  guint i;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *then = cases[i].then_width ? g_strdup_printf ("-then-%dx%d", cases[i].then_width,
                                                                     cases[i].then_height)
                                                  : g_strdup ("");
      g_autofree char *claim = cases[i].claim_width ? g_strdup_printf ("-claiming-%dx%d", cases[i].claim_width,
                                                                       cases[i].claim_height)
                                                    : g_strdup ("");
      g_autofree char *path = g_strdup_printf ("/decode-limits/%s/%dx%d%s%s", cases[i].encoding,
                                               cases[i].width, cases[i].height, claim, then);

      g_test_add_data_func (path, &cases[i], test_case);
    }
  return g_test_run ();
}
