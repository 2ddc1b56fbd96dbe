/* test-nack-requester.c — KaigiNackRequester on its own, in a GstHarness
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Packets go in with chosen sequence numbers, RTP times and arrival times;
 * what comes out (at once, or not at all), the retransmission requests
 * sent upstream, the counters and the lip-sync data handed to rtpbin are
 * checked against what the element promises.
 */

#include <gst/check/gstharness.h>
#include <gst/rtp/rtp.h>

#include "kaigi-nack-requester.h"

#define SSRC 0x4b414947
#define PT 96
#define CLOCK_RATE 90000
/* One video frame at 30 fps: 3000 RTP units, 33.3 ms */
#define FRAME_RTP 3000
/* @n frames in ns, rounded as the element rounds */
#define FRAME_NS(n) gst_util_uint64_scale_int ((n) * FRAME_RTP, GST_SECOND, CLOCK_RATE)
#define BASE_RTP 1000000u
#define BASE_TIME GST_SECOND

static GstHarness *
make_harness (gboolean do_retransmission)
{
  GstHarness *h = gst_harness_new_with_element (kaigi_nack_requester_new (), "sink", "src");

  g_object_set (h->element, "do-retransmission", do_retransmission, "latency", 100u, NULL);
  gst_harness_set_src_caps_str (h, "application/x-rtp, media=video, encoding-name=VP8, "
                                   "clock-rate=90000, payload=96");
  return h;
}

static void
push_rtp (GstHarness   *h,
          guint16       seq,
          guint32       rtptime,
          GstClockTime  arrival,
          gboolean      retransmission)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  GstBuffer *buffer = gst_rtp_buffer_new_allocate (20, 0, 0);

  g_assert_true (gst_rtp_buffer_map (buffer, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_seq (&rtp, seq);
  gst_rtp_buffer_set_timestamp (&rtp, rtptime);
  gst_rtp_buffer_set_payload_type (&rtp, PT);
  gst_rtp_buffer_set_ssrc (&rtp, SSRC);
  gst_rtp_buffer_unmap (&rtp);
  GST_BUFFER_DTS (buffer) = arrival;
  GST_BUFFER_PTS (buffer) = arrival;
  if (retransmission)
    GST_BUFFER_FLAG_SET (buffer, GST_RTP_BUFFER_FLAG_RETRANSMISSION);
  g_assert_cmpint (gst_harness_push (h, buffer), ==, GST_FLOW_OK);
}

/* The packet that came out, which must be @seq, with the arrival time
 * plus ts-offset as DTS; returns its PTS */
static GstClockTime
pull_seq_full (GstHarness   *h,
               guint16       seq,
               GstClockTime  arrival,
               gint64        ts_offset)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  g_autoptr(GstBuffer) buffer = gst_harness_try_pull (h);
  GstClockTime pts;

  g_assert_nonnull (buffer);
  g_assert_true (gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp));
  g_assert_cmpuint (gst_rtp_buffer_get_seq (&rtp), ==, seq);
  gst_rtp_buffer_unmap (&rtp);
  pts = GST_BUFFER_PTS (buffer);
  if (GST_CLOCK_TIME_IS_VALID (arrival))
    g_assert_cmpuint (GST_BUFFER_DTS (buffer), ==, arrival + ts_offset);
  return pts;
}

static GstClockTime
pull_seq (GstHarness *h,
          guint16     seq)
{
  return pull_seq_full (h, seq, GST_CLOCK_TIME_NONE, 0);
}

/* The sequence numbers of the retransmission requests sent upstream since
 * the last call, in order, with their ssrc checked */
static GArray *
pull_requests (GstHarness *h)
{
  GArray *seqs = g_array_new (FALSE, FALSE, sizeof (guint));
  GstEvent *event;

  while ((event = gst_harness_try_pull_upstream_event (h)))
    {
      const GstStructure *s = gst_event_get_structure (event);
      guint seq, ssrc;

      if (s && gst_structure_has_name (s, "GstRTPRetransmissionRequest"))
        {
          g_assert_true (gst_structure_get_uint (s, "seqnum", &seq));
          g_assert_true (gst_structure_get_uint (s, "ssrc", &ssrc));
          g_assert_cmpuint (ssrc, ==, SSRC);
          g_array_append_val (seqs, seq);
        }
      gst_event_unref (event);
    }
  return seqs;
}

static guint64
stat (GstHarness *h,
      const char *name)
{
  g_autoptr(GstStructure) stats = NULL;
  guint64 value = G_MAXUINT64;

  g_object_get (h->element, "stats", &stats, NULL);
  g_assert_true (gst_structure_get_uint64 (stats, name, &value));
  return value;
}

/* Every packet comes out before push returns, in arrival order; PTS
 * follow the RTP clock from the first arrival, whatever the jitter, and
 * DTS are the arrival times (both with ts-offset) */
static void
test_passes_at_once_on_the_rtp_clock (void)
{
  GstHarness *h = make_harness (TRUE);
  /* ms late against a steady 30 fps: the packets of frame 2 are delayed */
  static const int jitter_ms[] = { 0, 3, 12, 12, 1, 0 };
  static const int frame[] = { 0, 1, 2, 2, 3, 4 };

  for (guint i = 0; i < G_N_ELEMENTS (frame); i++)
    {
      GstClockTime arrival = BASE_TIME + FRAME_NS (frame[i]) + jitter_ms[i] * GST_MSECOND;

      push_rtp (h, 500 + i, BASE_RTP + frame[i] * FRAME_RTP, arrival, FALSE);
      g_assert_cmpuint (pull_seq_full (h, 500 + i, arrival, 0), ==, BASE_TIME + FRAME_NS (frame[i]));
    }
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  g_assert_cmpuint (stat (h, "num-pushed"), ==, G_N_ELEMENTS (frame));

  /* ts-offset (rtpbin's lip sync) moves every later time */
  g_object_set (h->element, "ts-offset", (gint64) (-20 * GST_MSECOND), NULL);
  push_rtp (h, 506, BASE_RTP + 5 * FRAME_RTP, BASE_TIME + FRAME_NS (5), FALSE);
  g_assert_cmpuint (pull_seq_full (h, 506, BASE_TIME + FRAME_NS (5), -20 * GST_MSECOND), ==,
                    BASE_TIME + FRAME_NS (5) - 20 * GST_MSECOND);
  gst_harness_teardown (h);
}

/* The earliest arrivals set the mapping: a first packet that came late
 * does not delay everything after it */
static void
test_follows_the_least_delayed (void)
{
  GstHarness *h = make_harness (FALSE);

  push_rtp (h, 1, BASE_RTP, BASE_TIME + 15 * GST_MSECOND, FALSE);
  pull_seq (h, 1);
  push_rtp (h, 2, BASE_RTP + FRAME_RTP, BASE_TIME + FRAME_NS (1), FALSE);
  g_assert_cmpuint (pull_seq (h, 2), ==, BASE_TIME + FRAME_NS (1));
  gst_harness_teardown (h);
}

/* A gap asks for each missing packet at once; a retransmission passes
 * (late, out of order) and counts as repaired; a copy is dropped; a packet
 * still missing is asked for again after 40 ms, and given up as lost after
 * max (latency, 200 ms) */
static void
test_asks_for_missing_packets (void)
{
  GstHarness *h = make_harness (TRUE);
  g_autoptr(GArray) first = NULL;
  g_autoptr(GArray) retry = NULL;
  g_autoptr(GArray) none = NULL;
  GstClockTime t = BASE_TIME;

  push_rtp (h, 65534, BASE_RTP, t, FALSE);
  pull_seq (h, 65534);
  push_rtp (h, 65535, BASE_RTP + FRAME_RTP, t + FRAME_NS (1), FALSE);
  pull_seq (h, 65535);
  g_array_unref (pull_requests (h));

  /* 0 and 1 (across the wrap) are missing */
  push_rtp (h, 2, BASE_RTP + 3 * FRAME_RTP, t + FRAME_NS (3), FALSE);
  pull_seq (h, 2);
  first = pull_requests (h);
  g_assert_cmpuint (first->len, ==, 2);
  g_assert_cmpuint (g_array_index (first, guint, 0), ==, 0);
  g_assert_cmpuint (g_array_index (first, guint, 1), ==, 1);

  push_rtp (h, 0, BASE_RTP + 2 * FRAME_RTP, t + FRAME_NS (3) + 5 * GST_MSECOND, TRUE);
  pull_seq (h, 0);
  push_rtp (h, 0, BASE_RTP + 2 * FRAME_RTP, t + FRAME_NS (3) + 6 * GST_MSECOND, TRUE);
  g_assert_null (gst_harness_try_pull (h));
  g_assert_cmpuint (stat (h, "rtx-success-count"), ==, 1);
  g_assert_cmpuint (stat (h, "num-duplicates"), ==, 1);

  /* 50 ms after the first request: 1 is asked for again */
  push_rtp (h, 3, BASE_RTP + 4 * FRAME_RTP, t + FRAME_NS (3) + 50 * GST_MSECOND, FALSE);
  pull_seq (h, 3);
  retry = pull_requests (h);
  g_assert_cmpuint (retry->len, ==, 1);
  g_assert_cmpuint (g_array_index (retry, guint, 0), ==, 1);

  /* 300 ms after: given up */
  push_rtp (h, 4, BASE_RTP + 13 * FRAME_RTP, t + FRAME_NS (3) + 300 * GST_MSECOND, FALSE);
  pull_seq (h, 4);
  none = pull_requests (h);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_cmpuint (stat (h, "num-lost"), ==, 1);
  g_assert_cmpuint (stat (h, "rtx-count"), ==, 3);
  gst_harness_teardown (h);
}

/* Without NACK negotiated (do-retransmission off) gaps are counted only;
 * a jump of thousands of packets is a new sequence, not a loss */
static void
test_quiet_without_retransmission_and_on_jumps (void)
{
  GstHarness *h = make_harness (FALSE);
  g_autoptr(GArray) requests = NULL;

  push_rtp (h, 10, BASE_RTP, BASE_TIME, FALSE);
  pull_seq (h, 10);
  push_rtp (h, 12, BASE_RTP + FRAME_RTP, BASE_TIME + FRAME_NS (1), FALSE);
  pull_seq (h, 12);
  requests = pull_requests (h);
  g_assert_cmpuint (requests->len, ==, 0);

  g_object_set (h->element, "do-retransmission", TRUE, NULL);
  push_rtp (h, 9000, BASE_RTP + 2 * FRAME_RTP, BASE_TIME + FRAME_NS (2), FALSE);
  pull_seq (h, 9000);
  push_rtp (h, 9001, BASE_RTP + 3 * FRAME_RTP, BASE_TIME + FRAME_NS (3), FALSE);
  pull_seq (h, 9001);
  g_array_unref (requests);
  requests = pull_requests (h);
  g_assert_cmpuint (requests->len, ==, 0);

  /* Packets from before the last 1024 are dropped */
  push_rtp (h, 9001 - 2000, BASE_RTP, BASE_TIME + FRAME_NS (4), FALSE);
  g_assert_null (gst_harness_try_pull (h));
  g_assert_cmpuint (stat (h, "num-late"), ==, 1);
  gst_harness_teardown (h);
}

static void
on_handle_sync (GstElement   *element,
                GstStructure *sync,
                gpointer      user_data)
{
  GstStructure **result = user_data;

  g_clear_pointer (result, gst_structure_free);
  *result = gst_structure_copy (sync);
}

static GstBuffer *
make_sender_report (guint32 rtptime)
{
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  GstBuffer *buffer = gst_rtcp_buffer_new (1000);

  g_assert_true (gst_rtcp_buffer_map (buffer, GST_MAP_READWRITE, &rtcp));
  g_assert_true (gst_rtcp_buffer_add_packet (&rtcp, GST_RTCP_TYPE_SR, &packet));
  gst_rtcp_packet_sr_set_sender_info (&packet, SSRC, G_GUINT64_CONSTANT (0xe0000000) << 32,
                                      rtptime, 10, 1000);
  gst_rtcp_buffer_unmap (&rtcp);
  return buffer;
}

/* A sender report on sink_rtcp reaches rtpbin's handle-sync with the
 * mapping the packets' times come from (as rtpjitterbuffer gives it) */
static void
test_sender_report_for_lip_sync (void)
{
  GstHarness *h = make_harness (FALSE);
  GstHarness *rtcp = gst_harness_new_with_element (h->element, "sink_rtcp", NULL);
  GstStructure *sync = NULL;
  guint64 base_rtptime = 0, base_time = 0, sr_rtptime = 0;
  guint rate = 0;

  gst_harness_set_src_caps_str (rtcp, "application/x-rtcp");
  g_signal_connect (h->element, "handle-sync", G_CALLBACK (on_handle_sync), &sync);

  /* Nothing to relate a report to before the first packet */
  g_assert_cmpint (gst_harness_push (rtcp, make_sender_report (BASE_RTP)), ==, GST_FLOW_OK);
  g_assert_null (sync);

  push_rtp (h, 1, BASE_RTP, BASE_TIME, FALSE);
  pull_seq (h, 1);
  push_rtp (h, 2, BASE_RTP + FRAME_RTP, BASE_TIME + FRAME_NS (1), FALSE);
  pull_seq (h, 2);

  g_assert_cmpint (gst_harness_push (rtcp, make_sender_report (BASE_RTP + 9000)), ==, GST_FLOW_OK);
  g_assert_nonnull (sync);
  g_assert_true (gst_structure_get_uint64 (sync, "base-rtptime", &base_rtptime));
  g_assert_true (gst_structure_get_uint64 (sync, "base-time", &base_time));
  g_assert_true (gst_structure_get_uint (sync, "clock-rate", &rate));
  g_assert_true (gst_structure_get_uint64 (sync, "sr-ext-rtptime", &sr_rtptime));
  g_assert_true (gst_structure_has_field_typed (sync, "sr-buffer", GST_TYPE_BUFFER));
  g_assert_cmpuint (base_time, ==, BASE_TIME);
  g_assert_cmpuint (rate, ==, CLOCK_RATE);
  g_assert_cmpuint (sr_rtptime - base_rtptime, ==, 9000);
  g_clear_pointer (&sync, gst_structure_free);

  /* A report 10 s away from the packets' RTP time is not believed */
  g_assert_cmpint (gst_harness_push (rtcp, make_sender_report (BASE_RTP + 10 * CLOCK_RATE)), ==, GST_FLOW_OK);
  g_assert_null (sync);

  /* Nothing from the RTCP pad reaches the RTP output */
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  gst_harness_teardown (rtcp);
  gst_harness_teardown (h);
}

int
main (int   argc,
      char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/nack-requester/passes-at-once-on-the-rtp-clock", test_passes_at_once_on_the_rtp_clock);
  g_test_add_func ("/nack-requester/follows-the-least-delayed", test_follows_the_least_delayed);
  g_test_add_func ("/nack-requester/asks-for-missing-packets", test_asks_for_missing_packets);
  g_test_add_func ("/nack-requester/quiet-without-retransmission-and-on-jumps",
                   test_quiet_without_retransmission_and_on_jumps);
  g_test_add_func ("/nack-requester/sender-report-for-lip-sync", test_sender_report_for_lip_sync);
  return g_test_run ();
}
