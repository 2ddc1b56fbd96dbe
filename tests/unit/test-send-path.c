/* test-send-path.c — kaigi_media_shorten_send_path() on a real webrtcbin
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Two webrtcbins made as the server makes them negotiate a send-only VP8
 * m-line in process (no ICE is needed for this). The sender's sink pad
 * must then lead straight into the bundle's rtpfunnel, past webrtcbin's
 * clocksync and FEC encoder bin; and nothing may change where the path is
 * not the one the function knows. Its SRTP encoder takes retransmissions
 * as late as the server forwards them.
 */

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

#include "kaigi-config.h"
#include "kaigi-media.h"
#include "kaigi-nack-requester.h"

#define VP8_CAPS "application/x-rtp, media=(string)video, encoding-name=(string)VP8, " \
                 "clock-rate=(int)90000, payload=(int)96, ssrc=(uint)1262569799"

typedef struct
{
  GstElement *pipeline;
  GstElement *sender;
  GstElement *receiver;
  GstElement *tee;
  GstPad *sink_pad;
} Fixture;

static GstWebRTCSessionDescription *
take_description (GstPromise *promise,
                  const char *field)
{
  GstWebRTCSessionDescription *desc = NULL;
  const GstStructure *reply;

  g_assert_cmpint (gst_promise_wait (promise), ==, GST_PROMISE_RESULT_REPLIED);
  reply = gst_promise_get_reply (promise);
  g_assert_nonnull (reply);
  gst_structure_get (reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
  g_assert_nonnull (desc);
  gst_promise_unref (promise);
  return desc;
}

static void
set_description (GstElement                  *webrtc,
                 const char                  *signal,
                 GstWebRTCSessionDescription *desc)
{
  GstPromise *promise = gst_promise_new ();

  g_signal_emit_by_name (webrtc, signal, desc, promise);
  g_assert_cmpint (gst_promise_wait (promise), ==, GST_PROMISE_RESULT_REPLIED);
  gst_promise_unref (promise);
}

static void
negotiate (Fixture *f)
{
  GstWebRTCSessionDescription *offer, *answer;
  GstPromise *promise;

  promise = gst_promise_new ();
  g_signal_emit_by_name (f->sender, "create-offer", NULL, promise);
  offer = take_description (promise, "offer");
  set_description (f->sender, "set-local-description", offer);
  set_description (f->receiver, "set-remote-description", offer);

  promise = gst_promise_new ();
  g_signal_emit_by_name (f->receiver, "create-answer", NULL, promise);
  answer = take_description (promise, "answer");
  set_description (f->receiver, "set-local-description", answer);
  set_description (f->sender, "set-remote-description", answer);

  gst_webrtc_session_description_free (offer);
  gst_webrtc_session_description_free (answer);
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstCaps) caps = gst_caps_from_string (VP8_CAPS);
  g_autoptr(GstWebRTCRTPTransceiver) transceiver = NULL;
  KaigiConfig *config = kaigi_config_new ();
  GstPadTemplate *templ;

  f->pipeline = kaigi_media_make_pipeline ("send-path");
  f->sender = kaigi_media_make_webrtcbin ("sender", config, &error);
  g_assert_no_error (error);
  f->receiver = kaigi_media_make_webrtcbin ("receiver", config, &error);
  g_assert_no_error (error);
  f->tee = gst_element_factory_make ("tee", NULL);
  g_assert_nonnull (f->tee);
  gst_bin_add_many (GST_BIN (f->pipeline), f->sender, f->receiver, f->tee, NULL);
  kaigi_config_free (config);
  g_assert_cmpint (gst_element_set_state (f->pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);

  /* As the server asks for a subscriber's m-line */
  templ = gst_element_get_pad_template (f->sender, "sink_%u");
  f->sink_pad = gst_element_request_pad (f->sender, templ, NULL, caps);
  g_assert_nonnull (f->sink_pad);
  g_object_get (f->sink_pad, "transceiver", &transceiver, NULL);
  g_object_set (transceiver,
                "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                "codec-preferences", caps,
                NULL);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  gst_element_release_request_pad (f->sender, f->sink_pad);
  gst_object_unref (f->sink_pad);
  gst_element_set_state (f->pipeline, GST_STATE_NULL);
  gst_object_unref (f->pipeline);
}

/* The tee's sink pad as a publisher's track tee has it: stream-start, caps */
static void
give_tee_caps (Fixture *f)
{
  g_autoptr(GstPad) tee_sink = gst_element_get_static_pad (f->tee, "sink");

  g_assert_true (gst_pad_send_event (tee_sink, gst_event_new_stream_start ("send-path-test")));
  g_assert_true (gst_pad_send_event (tee_sink, gst_event_new_caps (gst_caps_from_string (VP8_CAPS))));
}

static GstElement *
target_element (GstPad *ghost)
{
  g_autoptr(GstPad) target = gst_ghost_pad_get_target (GST_GHOST_PAD (ghost));

  return target ? gst_pad_get_parent_element (target) : NULL;
}

static const char *
factory_name (GstElement *element)
{
  GstElementFactory *factory = element ? gst_element_get_factory (element) : NULL;

  return factory ? GST_OBJECT_NAME (factory) : NULL;
}

static void
test_shortened (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GstPad) tee_sink = gst_element_get_static_pad (f->tee, "sink");
  g_autoptr(GstElement) first = NULL;
  g_autoptr(GstElement) again = NULL;

  negotiate (f);
  give_tee_caps (f);

  g_assert_true (kaigi_media_shorten_send_path (f->sink_pad, tee_sink));
  first = target_element (f->sink_pad);
  g_assert_cmpstr (factory_name (first), ==, "rtpfunnel");

  /* A second time finds no clocksync and leaves the pad as it is */
  g_assert_false (kaigi_media_shorten_send_path (f->sink_pad, tee_sink));
  again = target_element (f->sink_pad);
  g_assert_true (again == first);
}

/* A GCompareFunc for gst_iterator_find_custom(): 0 on a match */
static int
is_srtpenc (const GValue  *value,
            gconstpointer  unused)
{
  return g_strcmp0 (factory_name (g_value_get_object (value)), "srtpenc") == 0 ? 0 : 1;
}

/* The subscriber's SRTP encoder takes packets as late as the NACK
 * requester passes them on: with srtpenc's default window of 128 a
 * retransmission that late failed srtp_protect() (replay_old), an element
 * error that ended the subscriber */
static void
test_srtp_replay_window (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GstIterator) it = NULL;
  GValue found = G_VALUE_INIT;
  guint window = 0;

  negotiate (f);
  it = gst_bin_iterate_recurse (GST_BIN (f->sender));
  g_assert_true (gst_iterator_find_custom (it, (GCompareFunc) is_srtpenc, &found, NULL));
  g_object_get (g_value_get_object (&found), "replay-window-size", &window, NULL);
  g_value_unset (&found);
  g_assert_cmpuint (window, >=, 2 * KAIGI_NACK_REQUESTER_WINDOW);
}

/* The function gives up, and the pad still leads nowhere */
static void
assert_left_alone (Fixture *f)
{
  g_autoptr(GstPad) tee_sink = gst_element_get_static_pad (f->tee, "sink");
  g_autoptr(GstPad) target = NULL;

  g_assert_false (kaigi_media_shorten_send_path (f->sink_pad, tee_sink));
  target = gst_ghost_pad_get_target (GST_GHOST_PAD (f->sink_pad));
  g_assert_null (target);
}

/* No caps upstream yet: webrtcbin has built nothing, nothing changes */
static void
test_no_caps_yet (Fixture       *f,
                  gconstpointer  data)
{
  negotiate (f);
  assert_left_alone (f);
}

/* Not negotiated: the caps reach webrtcbin, which still builds nothing */
static void
test_not_negotiated (Fixture       *f,
                     gconstpointer  data)
{
  give_tee_caps (f);
  assert_left_alone (f);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  if (!gst_element_factory_find ("webrtcbin"))
    {
      g_test_skip ("webrtcbin is not installed (gstreamer1.0-plugins-bad)");
      return g_test_run ();
    }

  g_test_add ("/send-path/shortened", Fixture, NULL, fixture_setup, test_shortened, fixture_teardown);
  g_test_add ("/send-path/srtp-replay-window", Fixture, NULL, fixture_setup, test_srtp_replay_window,
              fixture_teardown);
  g_test_add ("/send-path/no-caps-yet", Fixture, NULL, fixture_setup, test_no_caps_yet, fixture_teardown);
  g_test_add ("/send-path/not-negotiated", Fixture, NULL, fixture_setup, test_not_negotiated,
              fixture_teardown);
  status = g_test_run ();
  gst_deinit ();
  return status;
}
