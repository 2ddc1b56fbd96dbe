/* kaigi-media.c — the media factory
 *
 * The only file that creates GStreamer elements or holds caps strings, in
 * the manner of gst-rtsp-server's rtsp-media-factory.c: the rest of Kaigi
 * asks for elements by intent.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include "kaigi-media.h"
#include "kaigi-config.h"
#include "kaigi-nack-requester.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_media_debug);
#define GST_CAT_DEFAULT kaigi_media_debug

static const KaigiRequiredElement required_elements[] = {
  { "webrtcbin", "gstreamer1.0-plugins-bad" },
  { "dtlssrtpenc", "gstreamer1.0-plugins-bad" },
  { "dtlssrtpdec", "gstreamer1.0-plugins-bad" },
  { "srtpenc", "gstreamer1.0-plugins-bad" },
  { "srtpdec", "gstreamer1.0-plugins-bad" },
  { "sctpenc", "gstreamer1.0-plugins-bad" },
  { "sctpdec", "gstreamer1.0-plugins-bad" },
  { "nicesrc", "gstreamer1.0-nice" },
  { "nicesink", "gstreamer1.0-nice" },
  { "rtpbin", "gstreamer1.0-plugins-good" },
  { "rtpjitterbuffer", "gstreamer1.0-plugins-good" },
  { "rtprtxsend", "gstreamer1.0-plugins-good" },
  { "rtprtxreceive", "gstreamer1.0-plugins-good" },
  { "rtpfunnel", "gstreamer1.0-plugins-good" },
  { "tee", "libgstreamer1.0-0" },
  { "queue", "libgstreamer1.0-0" },
  { "fakesink", "libgstreamer1.0-0" },
  { "clocksync", "libgstreamer1.0-0" },
  /* Recording (encoders are checked when a recording starts) */
  { "compositor", "gstreamer1.0-plugins-base" },
  { "audiomixer", "gstreamer1.0-plugins-base" },
  { "textoverlay", "gstreamer1.0-x" },
  { "videotestsrc", "gstreamer1.0-plugins-base" },
  { "audiotestsrc", "gstreamer1.0-plugins-base" },
  { "vp8dec", "gstreamer1.0-plugins-good" },
  { "opusdec", "gstreamer1.0-plugins-base" },
  { "level", "gstreamer1.0-plugins-good" },
  { "h264parse", "gstreamer1.0-plugins-bad" },
  { "aacparse", "gstreamer1.0-plugins-good" },
  { "mp4mux", "gstreamer1.0-plugins-good" },
};

static const char * const track_kind_names[KAIGI_N_TRACK_KINDS] = {
  [KAIGI_TRACK_AUDIO] = "audio",
  [KAIGI_TRACK_VIDEO] = "video",
};

/* What a publisher may send us (the "publish" m-lines). Payload types are
 * fixed so that forwarded packets keep theirs: every subscriber m-line is
 * offered with the publisher's own caps (RFC 8829 §5.2.1, the offerer picks
 * the payload types). Opus carries the RFC 6464 audio level for the
 * active-speaker detector. */
static const char publish_audio_caps[] =
  "application/x-rtp, media=(string)audio, encoding-name=(string)OPUS, "
  "clock-rate=(int)48000, payload=(int)111, encoding-params=(string)2, "
  "minptime=(string)10, useinbandfec=(string)1, "
  "extmap-" G_STRINGIFY (KAIGI_MEDIA_AUDIO_LEVEL_EXT_ID) "=(string)urn:ietf:params:rtp-hdrext:ssrc-audio-level";

static const char publish_video_caps[] =
  "application/x-rtp, media=(string)video, encoding-name=(string)VP8, "
  "clock-rate=(int)90000, payload=(int)96, rtcp-fb-nack=(boolean)true, "
  "rtcp-fb-nack-pli=(boolean)true, rtcp-fb-ccm-fir=(boolean)true; "
  "application/x-rtp, media=(string)video, encoding-name=(string)H264, "
  "clock-rate=(int)90000, payload=(int)102, packetization-mode=(string)1, "
  "profile-level-id=(string)42e01f, level-asymmetry-allowed=(string)1, "
  "rtcp-fb-nack=(boolean)true, rtcp-fb-nack-pli=(boolean)true, "
  "rtcp-fb-ccm-fir=(boolean)true";

static void
ensure_debug_category (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      GST_DEBUG_CATEGORY_INIT (kaigi_media_debug, "kaigi-media", 0, "Kaigi media factory");
      g_once_init_leave (&once, 1);
    }
}

/**
 * kaigi_track_kind_to_string:
 * @kind: a track kind
 *
 * Returns: (transfer none): "audio" or "video"
 */
const char *
kaigi_track_kind_to_string (KaigiTrackKind kind)
{
  g_return_val_if_fail (kind < KAIGI_N_TRACK_KINDS, NULL);

  return track_kind_names[kind];
}

/**
 * kaigi_track_kind_from_caps:
 * @caps: RTP caps with a `media` field
 * @kind: (out): the kind
 *
 * Returns: %TRUE if @caps are audio or video RTP caps
 */
gboolean
kaigi_track_kind_from_caps (const GstCaps  *caps,
                            KaigiTrackKind *kind)
{
  const GstStructure *s;
  const char *media;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return FALSE;

  s = gst_caps_get_structure (caps, 0);
  media = gst_structure_get_string (s, "media");
  if (g_strcmp0 (media, "audio") == 0)
    *kind = KAIGI_TRACK_AUDIO;
  else if (g_strcmp0 (media, "video") == 0)
    *kind = KAIGI_TRACK_VIDEO;
  else
    return FALSE;
  return TRUE;
}

/**
 * kaigi_media_get_required_elements:
 * @n_elements: (out): number of elements
 *
 * The GStreamer elements the server needs, each with the Debian package
 * that provides it (checked at startup by kaigi_plugins_check()).
 *
 * Returns: (transfer none) (array length=n_elements): the elements
 */
const KaigiRequiredElement *
kaigi_media_get_required_elements (guint *n_elements)
{
  *n_elements = G_N_ELEMENTS (required_elements);
  return required_elements;
}

static GstElement *
make_element (const char  *factory,
              const char  *name,
              GError     **error)
{
  GstElement *element = gst_element_factory_make (factory, name);

  if (element == NULL)
    g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
                 "the GStreamer element “%s” is not installed", factory);
  return element;
}

/**
 * kaigi_media_make_pipeline:
 * @room_name: the room's name, used to name the pipeline
 *
 * Returns: (transfer floating): a new, empty room pipeline
 */
GstElement *
kaigi_media_make_pipeline (const char *room_name)
{
  g_autofree char *name = g_strdup_printf ("room-%s", room_name);

  ensure_debug_category ();
  return gst_pipeline_new (name);
}

/* rtpfunnel (1.22) bundles a subscriber's m-lines into one RTP session and,
 * whenever the input a packet comes from differs from the previous packet's,
 * pushes that input's SEGMENT and every custom sticky event down the send
 * chain again (gstrtpfunnel.c, gst_rtp_funnel_forward_segment). In an SFU
 * consecutive packets nearly always come from different publishers, so each
 * forwarded packet walked two events through rtpsession, rtprtxsend,
 * srtpenc, dtlssrtpenc and nicesink — profiled at a fifth of the server's
 * CPU (docs/performance.md) — and every GstWebRtcBinUpdateTos event made
 * webrtcbin look up the transceiver and set the DSCP on the ICE sockets.
 *
 * This probe on the funnel's source pad drops what would change nothing
 * downstream:
 *
 * - a SEGMENT equal to the one the peer already has (all forwarded tracks
 *   carry the same live segment);
 * - a GstWebRtcBinUpdateTos once the peer has one: Kaigi leaves every
 *   sender at webrtcbin's default priority, so every mid maps to the same
 *   DSCP (draft-ietf-tsvwg-rtcweb-qos-18 §5) and one event sets it.
 *
 * Called on the streaming thread of whichever publisher's packet goes
 * through the funnel, under the funnel's source stream lock. */
static gboolean
peer_has_sticky_named (GstPad     *peer,
                       const char *name)
{
  for (guint i = 0;; i++)
    {
      g_autoptr(GstEvent) current = gst_pad_get_sticky_event (peer, GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, i);

      if (current == NULL)
        return FALSE;
      if (gst_structure_has_name (gst_event_get_structure (current), name))
        return TRUE;
    }
}

static GstPadProbeReturn
drop_repeated_sticky_events (GstPad          *pad,
                             GstPadProbeInfo *info,
                             gpointer         user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  g_autoptr(GstPad) peer = NULL;
  gboolean repeated = FALSE;

  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_SEGMENT:
      {
        g_autoptr(GstEvent) current = NULL;

        peer = gst_pad_get_peer (pad);
        if (peer)
          current = gst_pad_get_sticky_event (peer, GST_EVENT_SEGMENT, 0);
        if (current)
          {
            const GstSegment *old_segment, *new_segment;

            gst_event_parse_segment (current, &old_segment);
            gst_event_parse_segment (event, &new_segment);
            repeated = gst_segment_is_equal (old_segment, new_segment);
          }
        break;
      }
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:
      {
        const GstStructure *s = gst_event_get_structure (event);

        if (s && gst_structure_has_name (s, "GstWebRtcBinUpdateTos"))
          {
            peer = gst_pad_get_peer (pad);
            repeated = peer && peer_has_sticky_named (peer, "GstWebRtcBinUpdateTos");
          }
        break;
      }
    default:
      break;
    }

  GST_LOG_OBJECT (pad, "%s %" GST_PTR_FORMAT, repeated ? "dropping" : "passing", event);
  return repeated ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

/* How much (ms, by RTP time) of the packets sent to a subscriber is kept
 * for retransmission: the time a NACK can take to come back (RFC 4585
 * §3.2 early feedback, one round trip) with room to spare, as libwebrtc's
 * RtpPacketHistory keeps about a second */
#define RTX_HISTORY_MS 1000

/* Defaults of webrtcbin 1.22 that do not suit a forwarding server (and
 * rtpfunnel's repeated events, above):
 *
 * - a `clocksync sync=true` in front of every input stream (gstwebrtcbin.c,
 *   _connect_input_stream): our input is already live RTP from another
 *   webrtcbin; syncing it again would hold every forwarded packet for the
 *   pipeline latency;
 * - rtpjitterbuffers on incoming streams: see on_request_jitterbuffer();
 * - 500 packets of retransmission history per SSRC in rtprtxsend: about
 *   8 s of 360p video, 10 s of Opus, where a NACK comes back within a
 *   round trip. RTX_HISTORY_MS instead: at N = 8, 4.35 instead of 5.22 MB
 *   RSS per participant;
 * - srtpenc's replay window of 128 packets (RFC 3711 §3.3.2, which libsrtp
 *   also applies to what it protects): a retransmission that reaches the
 *   server more than 128 packets late (under a second of 360p video) made
 *   srtp_protect() fail with srtp_err_status_replay_old, and srtpenc 1.22
 *   turns any failure into an element error, which ends that subscriber.
 *   The requesters pass on nothing older than KAIGI_NACK_REQUESTER_WINDOW
 *   packets; the window is twice that. Seen in the benchmark at N = 10
 *   with 1 % loss: eight of ten subscribers ended within seconds. */
static void
on_webrtcbin_deep_element_added (GstBin     *bin,
                                 GstBin     *sub_bin,
                                 GstElement *element,
                                 gpointer    user_data)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  const char *name = factory ? GST_OBJECT_NAME (factory) : NULL;

  if (g_strcmp0 (name, "clocksync") == 0)
    {
      GST_DEBUG_OBJECT (bin, "disabling clock sync on %s", GST_OBJECT_NAME (element));
      g_object_set (element, "sync", FALSE, NULL);
    }
  else if (g_strcmp0 (name, "rtprtxsend") == 0)
    {
      GST_DEBUG_OBJECT (bin, "%u ms of retransmission history on %s", RTX_HISTORY_MS,
                        GST_OBJECT_NAME (element));
      g_object_set (element, "max-size-time", RTX_HISTORY_MS, NULL);
    }
  else if (g_strcmp0 (name, "srtpenc") == 0)
    {
      g_object_set (element, "replay-window-size", 2 * KAIGI_NACK_REQUESTER_WINDOW, NULL);
    }
  else if (g_strcmp0 (name, "rtpfunnel") == 0)
    {
      g_autoptr(GstPad) src = gst_element_get_static_pad (element, "src");

      if (src)
        gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                           drop_repeated_sticky_events, NULL, NULL);
    }
}

/* Every incoming SSRC gets a KaigiNackRequester instead of an
 * rtpjitterbuffer: a forwarding server passes packets on as they come and
 * leaves reordering and waiting to each subscriber's jitterbuffer (see
 * kaigi-nack-requester.c). rtpbin takes the first element a handler
 * returns (_gst_element_accumulator) and only then makes its own. */
static GstElement *
on_request_jitterbuffer (GstElement *rtpbin,
                         guint       session_id,
                         gpointer    user_data)
{
  return kaigi_nack_requester_new ();
}

/**
 * kaigi_media_make_webrtcbin:
 * @name: element name (the participant id)
 * @config: the server configuration (STUN/TURN, ICE port range, latency)
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Builds a participant's webrtcbin: max-bundle (RFC 8843), the configured
 * jitterbuffer latency, STUN/TURN servers, ICE restricted to UDP, UPnP
 * discovery off, and no clock sync on forwarded input.
 *
 * Main thread only.
 *
 * Returns: (transfer floating) (nullable): the element
 */
GstElement *
kaigi_media_make_webrtcbin (const char         *name,
                            const KaigiConfig  *config,
                            GError            **error)
{
  GstElement *webrtc, *rtpbin;
  GstWebRTCICE *ice = NULL;

  ensure_debug_category ();

  webrtc = make_element ("webrtcbin", name, error);
  if (webrtc == NULL)
    return NULL;

  g_object_set (webrtc,
                "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE,
                "latency", config->jitterbuffer_latency_ms,
                NULL);
  if (config->stun_server)
    g_object_set (webrtc, "stun-server", config->stun_server, NULL);
  if (config->turn_server)
    g_object_set (webrtc, "turn-server", config->turn_server, NULL);

  g_object_get (webrtc, "ice-agent", &ice, NULL);
  if (ice)
    {
      GObject *agent = NULL;

      if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "ice-tcp"))
        g_object_set (ice, "ice-tcp", FALSE, NULL);
      if (config->ice_min_port)
        g_object_set (ice, "min-rtp-port", config->ice_min_port, NULL);
      if (config->ice_max_port)
        g_object_set (ice, "max-rtp-port", config->ice_max_port, NULL);
      if (g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
        g_object_get (ice, "agent", &agent, NULL);
      if (agent)
        {
          /* libnice probes UPnP routers for every agent unless told not to */
          if (g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
            g_object_set (agent, "upnp", FALSE, NULL);
          g_object_unref (agent);
        }
      gst_object_unref (ice);
    }

  g_signal_connect (webrtc, "deep-element-added", G_CALLBACK (on_webrtcbin_deep_element_added), NULL);

  rtpbin = gst_bin_get_by_name (GST_BIN (webrtc), "rtpbin");
  if (rtpbin == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
                   "webrtcbin has no rtpbin");
      gst_object_unref (gst_object_ref_sink (webrtc));
      return NULL;
    }
  g_signal_connect (rtpbin, "request-jitterbuffer", G_CALLBACK (on_request_jitterbuffer), NULL);
  gst_object_unref (rtpbin);
  return webrtc;
}

static gboolean
element_is (GstElement *element,
            const char *factory_name)
{
  GstElementFactory *factory = element ? gst_element_get_factory (element) : NULL;

  return factory && g_strcmp0 (GST_OBJECT_NAME (factory), factory_name) == 0;
}

/**
 * kaigi_media_shorten_send_path:
 * @sink_pad: a webrtcbin sink pad ("sink_%u") whose m-line is negotiated
 *   and that no data has reached yet
 * @upstream: the pad whose stream @sink_pad is about to get (a track's tee
 *   sink pad)
 *
 * webrtcbin 1.22 puts a `clocksync` and a FEC encoder bin (`rtpulpfecenc`
 * then `rtpredenc`, gstwebrtcbin.c _connect_input_stream) between every
 * sink pad and the bundle's `rtpfunnel`. Kaigi negotiates neither ULPFEC
 * (RFC 5109) nor RED (RFC 2198) for forwarded tracks and turns the clock
 * sync off (on_webrtcbin_deep_element_added()), so all three pass every
 * packet through unchanged — four pads and three stream locks per
 * forwarded packet and subscriber. This points @sink_pad straight at the
 * funnel instead; the three stay in the bin, unlinked downstream, so
 * webrtcbin can still set their properties on a renegotiation.
 *
 * webrtcbin builds that path only when the pad gets its first caps (on the
 * streaming thread, gst_webrtcbin_sink_event()), so @upstream's
 * stream-start and caps are sent into @sink_pad first, here; the same
 * events come again with the first packet and change nothing.
 *
 * Does nothing, and returns %FALSE, if @upstream has no caps yet or the
 * path is not the one described (another webrtcbin version). Main thread,
 * before anything is pushed into @sink_pad.
 *
 * Returns: %TRUE if the path was shortened
 */
gboolean
kaigi_media_shorten_send_path (GstPad *sink_pad,
                               GstPad *upstream)
{
  g_autoptr(GstEvent) stream_start = NULL;
  g_autoptr(GstEvent) caps = NULL;
  g_autoptr(GstPad) clocksync_sink = NULL;
  g_autoptr(GstPad) clocksync_src = NULL;
  g_autoptr(GstPad) fec_sink = NULL;
  g_autoptr(GstPad) fec_src = NULL;
  g_autoptr(GstPad) funnel_sink = NULL;
  g_autoptr(GstElement) clocksync = NULL;
  g_autoptr(GstElement) fec = NULL;
  g_autoptr(GstElement) funnel = NULL;

  g_return_val_if_fail (GST_IS_GHOST_PAD (sink_pad), FALSE);
  g_return_val_if_fail (GST_IS_PAD (upstream), FALSE);

  stream_start = gst_pad_get_sticky_event (upstream, GST_EVENT_STREAM_START, 0);
  caps = gst_pad_get_sticky_event (upstream, GST_EVENT_CAPS, 0);
  if (stream_start == NULL || caps == NULL)
    {
      GST_DEBUG_OBJECT (sink_pad, "not shortened: %" GST_PTR_FORMAT " has no caps yet", upstream);
      return FALSE;
    }
  if (!gst_pad_send_event (sink_pad, g_steal_pointer (&stream_start)) ||
      !gst_pad_send_event (sink_pad, g_steal_pointer (&caps)))
    {
      GST_DEBUG_OBJECT (sink_pad, "not shortened: it refused %" GST_PTR_FORMAT "'s caps", upstream);
      return FALSE;
    }

  clocksync_sink = gst_ghost_pad_get_target (GST_GHOST_PAD (sink_pad));
  clocksync = clocksync_sink ? gst_pad_get_parent_element (clocksync_sink) : NULL;
  if (!element_is (clocksync, "clocksync"))
    {
      GST_DEBUG_OBJECT (sink_pad, "not shortened: its target is %" GST_PTR_FORMAT, clocksync_sink);
      return FALSE;
    }

  clocksync_src = gst_element_get_static_pad (clocksync, "src");
  fec_sink = clocksync_src ? gst_pad_get_peer (clocksync_src) : NULL;
  fec = fec_sink ? gst_pad_get_parent_element (fec_sink) : NULL;
  if (!GST_IS_BIN (fec))
    {
      GST_DEBUG_OBJECT (sink_pad, "not shortened: the clock sync feeds %" GST_PTR_FORMAT, fec_sink);
      return FALSE;
    }

  fec_src = gst_element_get_static_pad (fec, "src");
  funnel_sink = fec_src ? gst_pad_get_peer (fec_src) : NULL;
  funnel = funnel_sink ? gst_pad_get_parent_element (funnel_sink) : NULL;
  if (!element_is (funnel, "rtpfunnel"))
    {
      GST_DEBUG_OBJECT (sink_pad, "not shortened: the FEC encoder feeds %" GST_PTR_FORMAT, funnel_sink);
      return FALSE;
    }

  if (!gst_pad_unlink (fec_src, funnel_sink) ||
      !gst_ghost_pad_set_target (GST_GHOST_PAD (sink_pad), funnel_sink))
    {
      GST_WARNING_OBJECT (sink_pad, "cannot link straight to %" GST_PTR_FORMAT, funnel_sink);
      /* put back what was there */
      if (!gst_pad_is_linked (fec_src))
        gst_pad_link (fec_src, funnel_sink);
      gst_ghost_pad_set_target (GST_GHOST_PAD (sink_pad), clocksync_sink);
      return FALSE;
    }

  GST_DEBUG_OBJECT (sink_pad, "straight to %" GST_PTR_FORMAT, funnel_sink);
  return TRUE;
}

/**
 * kaigi_media_make_publish_caps:
 * @kind: audio or video
 *
 * Codec preferences for the m-lines on which a participant publishes:
 * Opus with the RFC 6464 audio level; VP8 or H.264 (constrained baseline,
 * packetization-mode 1) with NACK, PLI and FIR feedback (RFC 4585).
 *
 * Returns: (transfer full): the caps
 */
GstCaps *
kaigi_media_make_publish_caps (KaigiTrackKind kind)
{
  g_return_val_if_fail (kind < KAIGI_N_TRACK_KINDS, NULL);

  return gst_caps_from_string (kind == KAIGI_TRACK_AUDIO ? publish_audio_caps : publish_video_caps);
}

static gboolean
keep_forward_field (GQuark    field_id,
                    GValue   *value,
                    gpointer  user_data)
{
  const char *field = g_quark_to_string (field_id);

  /* webrtcbin's source caps also carry its per-session state (a-*
   * attributes, timestamp/seqnum offsets); only the codec description and
   * the SSRC belong in another participant's offer */
  return !g_str_has_prefix (field, "a-") &&
         !g_str_equal (field, "timestamp-offset") &&
         !g_str_equal (field, "seqnum-offset") &&
         !g_str_equal (field, "clock-base") &&
         !g_str_equal (field, "seqnum-base") &&
         !g_str_equal (field, "npt-start") &&
         !g_str_equal (field, "npt-stop") &&
         !g_str_equal (field, "play-speed") &&
         !g_str_equal (field, "play-scale") &&
         !g_str_equal (field, "onvif-mode");
}

/**
 * kaigi_media_make_forward_caps:
 * @publisher_caps: the caps of a publisher's incoming RTP pad
 *
 * Codec preferences for a subscriber's m-line that forwards the
 * publisher's packets unchanged: the same encoding, payload type, feedback
 * and SSRC (so that the SDP carries `a=ssrc`, RFC 5576, and the browser
 * can demultiplex the bundle), without webrtcbin's session state.
 *
 * Returns: (transfer full): the caps
 */
GstCaps *
kaigi_media_make_forward_caps (const GstCaps *publisher_caps)
{
  GstCaps *caps;
  GstStructure *s;

  g_return_val_if_fail (GST_IS_CAPS (publisher_caps), NULL);

  caps = gst_caps_copy (publisher_caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_filter_and_map_in_place (s, keep_forward_field, NULL);
  return caps;
}

/**
 * kaigi_media_make_track_tee:
 * @name: element name
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * The fan-out point of one published track. It must not fail when nobody
 * subscribes (`allow-not-linked`).
 *
 * Returns: (transfer floating) (nullable): a tee
 */
GstElement *
kaigi_media_make_track_tee (const char  *name,
                            GError     **error)
{
  GstElement *tee = make_element ("tee", name, error);

  if (tee)
    g_object_set (tee, "allow-not-linked", TRUE, NULL);
  return tee;
}

/**
 * kaigi_media_make_discard_sink:
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * A sink for streams nobody uses (an unexpected extra pad), so that they
 * never return not-linked into webrtcbin.
 *
 * Returns: (transfer floating) (nullable): a fakesink
 */
GstElement *
kaigi_media_make_discard_sink (GError **error)
{
  GstElement *sink = make_element ("fakesink", NULL, error);

  if (sink)
    g_object_set (sink, "sync", FALSE, "async", FALSE, "enable-last-sample", FALSE, NULL);
  return sink;
}

/* Recording: the composite and its encoders */

static gboolean
have_element (const char *factory)
{
  g_autoptr(GstElementFactory) f = gst_element_factory_find (factory);

  return f != NULL;
}

/**
 * kaigi_media_pick_h264_encoder:
 * @config: the configuration; its `recording_encoder` wins when set
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Picks the H.264 encoder for recordings: the configured one, else
 * x264enc (Debian: gstreamer1.0-plugins-ugly) where installed, else
 * openh264enc (gstreamer1.0-plugins-bad; the only one in the GNOME
 * Flatpak runtime).
 *
 * Returns: (transfer none) (nullable): the factory name, or %NULL with
 *   #KAIGI_MEDIA_ERROR_MISSING_ELEMENT
 */
const char *
kaigi_media_pick_h264_encoder (const KaigiConfig  *config,
                               GError            **error)
{
  const char *wanted = config->recording_encoder;

  if (wanted)
    {
      if (have_element (wanted))
        return wanted;
    }
  else if (have_element ("x264enc"))
    return "x264enc";
  else if (have_element ("openh264enc"))
    return "openh264enc";

  g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
               "no H.264 encoder for recordings: install %s",
               wanted && g_str_equal (wanted, "openh264enc") ? "gstreamer1.0-plugins-bad (openh264enc)"
                                                              : "gstreamer1.0-plugins-ugly (x264enc)");
  return NULL;
}

static const char *
pick_aac_encoder (void)
{
  /* voaacenc ships with gstreamer1.0-plugins-bad, which Kaigi needs
   * anyway; the others are better where someone installed them */
  const char * const candidates[] = { "fdkaacenc", "avenc_aac", "voaacenc" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (have_element (candidates[i]))
      return candidates[i];
  return NULL;
}

/* Measured by tests/unit/test-aac-delay.c, which fails if an encoder
 * installed here disagrees */
static const struct {
  const char *factory;
  guint       samples;
} aac_encoder_delays[] = {
  { "avenc_aac", 1024 },
  { "voaacenc", 1600 },
};

/**
 * kaigi_media_get_aac_encoder_delay:
 * @factory: the factory name of an AAC encoder
 *
 * The encoder delay ("priming", ISO/IEC 14496-3 and Apple's "AAC priming"
 * note) of the AAC encoders Kaigi records with: decoded audio comes out
 * this much later than it went in. An MP4 would say so in an edit list,
 * which mp4mux 1.22 does not write, so the recorder feeds the encoder
 * early by this much instead. Any thread.
 *
 * Returns: the delay in samples at 48 kHz, 0 for an encoder not measured
 *   (fdkaacenc, which Debian does not ship)
 */
guint
kaigi_media_get_aac_encoder_delay (const char *factory)
{
  g_return_val_if_fail (factory != NULL, 0);

  for (guint i = 0; i < G_N_ELEMENTS (aac_encoder_delays); i++)
    if (g_str_equal (aac_encoder_delays[i].factory, factory))
      return aac_encoder_delays[i].samples;
  return 0;
}

/**
 * kaigi_media_clip_audio_front:
 * @buffer: (transfer none): interleaved raw audio described by @info, with
 *   a valid PTS
 * @info: the format of @buffer
 * @trim: how much to cut from the front of @buffer (ns), rounded to the
 *   nearest sample
 *
 * Cuts the first @trim of @buffer, as the recorder does to the mix's
 * first buffer so that the file's audio starts on its first frame.
 *
 * The result's PTS is @buffer's plus the samples cut, and its duration
 * that of the samples kept. (gst_audio_buffer_truncate() alone leaves the
 * PTS unset: gst_buffer_copy_into() copies timestamps only for a region
 * that starts at offset 0.) Any thread.
 *
 * Returns: (transfer full) (nullable): a new buffer with the samples from
 *   @trim on, or %NULL if @trim covers all of @buffer
 */
GstBuffer *
kaigi_media_clip_audio_front (GstBuffer          *buffer,
                              const GstAudioInfo *info,
                              GstClockTime        trim)
{
  GstClockTime pts;
  guint64 cut, samples;
  GstBuffer *clipped;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (info != NULL && GST_AUDIO_INFO_RATE (info) > 0 && GST_AUDIO_INFO_BPF (info) > 0, NULL);
  g_return_val_if_fail (GST_BUFFER_PTS_IS_VALID (buffer), NULL);

  pts = GST_BUFFER_PTS (buffer);
  cut = gst_util_uint64_scale_round (trim, GST_AUDIO_INFO_RATE (info), GST_SECOND);
  samples = gst_buffer_get_size (buffer) / GST_AUDIO_INFO_BPF (info);
  if (cut >= samples)
    return NULL;
  clipped = gst_audio_buffer_truncate (gst_buffer_ref (buffer), GST_AUDIO_INFO_BPF (info), cut, -1);
  GST_BUFFER_PTS (clipped) = pts + gst_util_uint64_scale_int (cut, GST_SECOND, GST_AUDIO_INFO_RATE (info));
  GST_BUFFER_DURATION (clipped) = gst_util_uint64_scale_int (samples - cut, GST_SECOND,
                                                             GST_AUDIO_INFO_RATE (info));
  return clipped;
}

/**
 * kaigi_media_make_recorder_bin:
 * @config: size, frame rate, bitrate and encoder of the recording
 * @location: the file to write (the `.mp4.part` name)
 * @start: a running time (ns) before any input the mixers will get: the
 *   live base sources start their timestamps here
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Builds the mixing and recording graph of one recording:
 *
 * - `compositor` "vmix" (live, `ignore-inactive-pads`, starting at its
 *   earliest first input, which is the base picture's at @start: its frames
 *   are at @start + n/F exactly) → I420 W×H at F fps → queue "vqueue" → H.264 encoder
 *   (x264enc `tune=zerolatency`, no B-frames, or openh264enc) → h264parse
 *   → mp4mux;
 * - `audiomixer` "amix" → 48 kHz stereo → queue "aqueue" → AAC encoder
 *   "aenc" (fdkaacenc, avenc_aac or voaacenc) → aacparse → mp4mux;
 * - each aggregator also has a live base source (a 16×16 invisible
 *   picture, silence) so that time advances in the file whoever is
 *   there: no gaps when everybody's camera is off;
 * - mp4mux "mux" writing fragments (`fragment-duration` of
 *   %KAIGI_MEDIA_FRAGMENT_DURATION_MS, `fragment-mode=first-moov-then-finalise`):
 *   the index of the first fragment (a moov) comes after it, then a moof
 *   for every fragment, so a kill -9 leaves a playable file missing at most
 *   about the last fragment; on a clean stop (EOS) mp4mux rewrites the file
 *   into a normal MP4, one mdat and the full moov at its end. In this mode
 *   mp4mux 1.22 leaks 4 KiB per fragment (about 29 MB per hour of
 *   recording; docs/recording.md) → filesink
 *   "sink" (not synchronised, no preroll).
 *
 * Participants' tiles and voices are added as further compositor and
 * audiomixer pads.
 *
 * Returns: (transfer floating) (nullable): the bin, or %NULL
 */
GstElement *
kaigi_media_make_recorder_bin (const KaigiConfig  *config,
                               const char         *location,
                               GstClockTime        start,
                               GError            **error)
{
  g_autofree char *encoder = NULL;
  g_autofree char *description = NULL;
  g_autoptr(GstElement) vbase = NULL;
  g_autoptr(GstElement) abase = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstElement) vmix = NULL;
  g_autoptr(GstPad) base_pad = NULL;
  g_autoptr(GError) parse_error = NULL;
  const char *h264 = kaigi_media_pick_h264_encoder (config, error);
  const char *aac = pick_aac_encoder ();
  guint fps = config->recording_framerate;
  GstElement *bin;

  if (h264 == NULL)
    return NULL;
  if (aac == NULL)
    {
      g_set_error_literal (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_MISSING_ELEMENT,
                           "no AAC encoder for recordings: install gstreamer1.0-plugins-bad (voaacenc)");
      return NULL;
    }

  /* superfast with veryfast's sub-pixel refinement (subme=2): against
   * veryfast, 29 % less encoder CPU in the server at N = 6 for 0.8 dB of
   * luma PSNR (bench/encoder-variants.sh, docs/performance.md), so that a
   * recording keeps real time with room to spare on a 2-core machine */
  if (g_str_equal (h264, "x264enc"))
    encoder = g_strdup_printf ("x264enc tune=zerolatency speed-preset=superfast subme=2 bitrate=%u key-int-max=%u",
                               config->recording_bitrate_kbps, 2 * fps);
  else
    encoder = g_strdup_printf ("openh264enc bitrate=%u gop-size=%u complexity=low rate-control=bitrate",
                               config->recording_bitrate_kbps * 1000, 2 * fps);

  description = g_strdup_printf (
    "compositor name=vmix background=black ignore-inactive-pads=true "
    "  start-time-selection=first latency=%" G_GUINT64_FORMAT " "
    "! video/x-raw,format=I420,width=%u,height=%u,framerate=%u/1,pixel-aspect-ratio=1/1 "
    "! queue name=vqueue max-size-buffers=0 max-size-bytes=0 max-size-time=%" G_GUINT64_FORMAT " "
    "! %s ! h264parse ! mux.video_0 "
    "videotestsrc name=vbase is-live=true pattern=black "
    "! video/x-raw,format=I420,width=16,height=16,framerate=%u/1 ! vmix. "
    "audiomixer name=amix ignore-inactive-pads=true start-time-selection=first "
    "  latency=%" G_GUINT64_FORMAT " "
    "! audio/x-raw,rate=48000,channels=2 ! audioconvert "
    "! queue name=aqueue max-size-buffers=0 max-size-bytes=0 max-size-time=%" G_GUINT64_FORMAT " "
    "! %s name=aenc bitrate=128000 ! aacparse ! mux.audio_0 "
    "audiotestsrc name=abase is-live=true wave=silence samplesperbuffer=480 "
    "! audio/x-raw,rate=48000,channels=2 ! amix. "
    "mp4mux name=mux fragment-duration=%u fragment-mode=first-moov-then-finalise "
    "! filesink name=sink async=false sync=false",
    (guint64) KAIGI_MEDIA_MIX_LATENCY,
    config->recording_width, config->recording_height, fps,
    (guint64) (2 * GST_SECOND), encoder, fps,
    (guint64) KAIGI_MEDIA_MIX_LATENCY, (guint64) (2 * GST_SECOND), aac,
    (guint) KAIGI_MEDIA_FRAGMENT_DURATION_MS);

  bin = gst_parse_bin_from_description_full (description, FALSE, NULL,
                                             GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (bin == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_LINK,
                   "cannot build the recorder: %s", parse_error->message);
      return NULL;
    }

  vmix = gst_bin_get_by_name (GST_BIN (bin), "vmix");
  vbase = gst_bin_get_by_name (GST_BIN (bin), "vbase");
  abase = gst_bin_get_by_name (GST_BIN (bin), "abase");
  g_object_set (vbase, "timestamp-offset", (gint64) start, NULL);
  g_object_set (abase, "timestamp-offset", (gint64) start, NULL);
  sink = gst_bin_get_by_name (GST_BIN (bin), "sink");
  g_object_set (sink, "location", location, NULL);

  /* The base picture only keeps time; it is never drawn */
  base_pad = gst_element_get_static_pad (vmix, "sink_0");
  if (base_pad)
    g_object_set (base_pad, "alpha", 0.0, NULL);

  return bin;
}

/* `level` 1.22 divides by its sample rate on GAP and EOS events, and
 * asserts when they come before any caps (a participant whose audio never
 * started). GAPs are dropped (the audiomixer times out over holes anyway);
 * an EOS before caps goes round it, straight out of its source pad. */
static GstPadProbeReturn
shield_level (GstPad          *pad,
              GstPadProbeInfo *info,
              gpointer         user_data)
{
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

  if (GST_EVENT_TYPE (event) == GST_EVENT_GAP)
    return GST_PAD_PROBE_DROP;

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !gst_pad_has_current_caps (pad))
    {
      g_autoptr(GstElement) level = gst_pad_get_parent_element (pad);
      g_autoptr(GstPad) src = level ? gst_element_get_static_pad (level, "src") : NULL;

      if (src)
        gst_pad_push_event (src, gst_event_ref (event));
      return GST_PAD_PROBE_DROP;
    }
  return GST_PAD_PROBE_OK;
}

/* Streaming thread of a video decoding branch: no picture larger than
 * KAIGI_MEDIA_MAX_PICTURE_SIDE a side or KAIGI_MEDIA_MAX_PICTURE_AREA in
 * all reaches the decoder. Caps announcing one
 * go on (the decoder allocates nothing until it decodes a frame; holding
 * caps back would put the segment ahead of them), with a warning on the
 * bus, but every buffer is dropped until caps within the limit come (the
 * next key frame of a smaller size): the tile keeps its last picture.
 * @user_data: a gint, whether the current picture is too large. */
static GstPadProbeReturn
limit_picture_size (GstPad          *pad,
                    GstPadProbeInfo *info,
                    gpointer         user_data)
{
  gint *too_large = user_data;
  GstEvent *event;
  GstCaps *caps;
  const GstStructure *s;
  int width = 0, height = 0;

  if (!(GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM))
    return g_atomic_int_get (too_large) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;

  event = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  gst_event_parse_caps (event, &caps);
  s = gst_caps_get_structure (caps, 0);
  if (!gst_structure_get_int (s, "width", &width) || !gst_structure_get_int (s, "height", &height) ||
      (width > 0 && height > 0 &&
       width <= KAIGI_MEDIA_MAX_PICTURE_SIDE && height <= KAIGI_MEDIA_MAX_PICTURE_SIDE &&
       (gint64) width * height <= KAIGI_MEDIA_MAX_PICTURE_AREA))
    {
      g_atomic_int_set (too_large, FALSE);
      return GST_PAD_PROBE_OK;
    }

  if (!g_atomic_int_get (too_large))
    {
      g_autoptr(GstObject) parent = gst_pad_get_parent (pad);
      g_autoptr(GError) error = g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
                                             "a picture of %d×%d is larger than a recording decodes "
                                             "(%d pixels a side, %d in all): the track's pictures are "
                                             "left out until they are smaller",
                                             width, height, KAIGI_MEDIA_MAX_PICTURE_SIDE,
                                             KAIGI_MEDIA_MAX_PICTURE_AREA);

      if (parent)
        gst_element_post_message (GST_ELEMENT (parent), gst_message_new_warning (parent, error, NULL));
      g_atomic_int_set (too_large, TRUE);
    }
  return GST_PAD_PROBE_OK;
}

/**
 * kaigi_media_make_decode_bin:
 * @kind: the track's kind
 * @rtp_caps: the track's RTP caps (from its tee)
 * @latency_ms: how long (ms) the branch waits for a missing packet
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * A decoding branch for the mix, fed from a track tee: an rtpjitterbuffer
 * (the tee passes packets on in the order they arrived, retransmissions
 * late; see kaigi-nack-requester.c; `do-lost` so that Opus conceals
 * losses), a leaky queue (a slow decoder never holds up forwarding), the
 * depayloader and decoder
 * (told to skip undecodable frames rather than fail, `max-errors=-1`)
 * for the track's codec (VP8, H.264 or Opus; a video picture larger than
 * %KAIGI_MEDIA_MAX_PICTURE_SIDE a side or %KAIGI_MEDIA_MAX_PICTURE_AREA
 * in all never reaches the decoder: a
 * warning on the bus, and the tile keeps its last picture until the
 * pictures are smaller), then for video
 * videoconvert, for
 * audio audioconvert, audioresample and a `level` meter "level" posting
 * the RMS every 100 ms (the speaker detection of clients that send no
 * RFC 6464 levels). Ghost pads "sink" and "src".
 *
 * A video depayloader that sees packets missing (lost on the network and
 * not retransmitted in time, or dropped by the leaky queue) passes nothing
 * on until the next keyframe, which it asks for upstream at once
 * (`wait-for-keyframe`, `request-keyframe`; the force-key-unit event
 * reaches the publisher as an RTCP PLI, RFC 4585 §6.3.1): the tile holds
 * its last good picture instead of showing a corrupt one.
 *
 * Returns: (transfer floating) (nullable): the bin, or %NULL
 */
GstElement *
kaigi_media_make_decode_bin (KaigiTrackKind   kind,
                             const GstCaps   *rtp_caps,
                             guint            latency_ms,
                             GError         **error)
{
  g_autofree char *description = NULL;
  g_autoptr(GError) parse_error = NULL;
  const GstStructure *s = gst_caps_get_structure (rtp_caps, 0);
  const char *encoding = gst_structure_get_string (s, "encoding-name");
  g_autofree char *decode = NULL;
  GstElement *bin;

  if (encoding == NULL)
    encoding = "";
  /* The element named "picture" announces the picture size in its caps:
   * the depayloader from VP8 key frames, the parser from H.264 SPS */
  if (kind == KAIGI_TRACK_VIDEO && g_ascii_strcasecmp (encoding, "VP8") == 0)
    decode = g_strdup ("rtpvp8depay name=picture wait-for-keyframe=true request-keyframe=true "
                       "! vp8dec max-errors=-1");
  else if (kind == KAIGI_TRACK_VIDEO && g_ascii_strcasecmp (encoding, "H264") == 0)
    decode = g_strdup_printf ("rtph264depay wait-for-keyframe=true request-keyframe=true "
                              "! h264parse name=picture ! %s max-errors=-1",
                              have_element ("avdec_h264") ? "avdec_h264" : "openh264dec");
  else if (kind == KAIGI_TRACK_AUDIO && g_ascii_strcasecmp (encoding, "OPUS") == 0)
    decode = g_strdup ("rtpopusdepay ! opusdec plc=true max-errors=-1");

  if (decode == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_LINK,
                   "cannot decode %s %s for the recording", encoding,
                   kaigi_track_kind_to_string (kind));
      return NULL;
    }

  description = g_strdup_printf (
    "rtpjitterbuffer latency=%u do-lost=true "
    "! queue leaky=downstream max-size-buffers=300 max-size-bytes=0 max-size-time=0 ! %s ! %s",
    latency_ms, decode,
    kind == KAIGI_TRACK_VIDEO
      ? "videoconvert"
      : "audioconvert ! audioresample "
        "! level name=level interval=100000000 post-messages=true");

  bin = gst_parse_bin_from_description_full (description, TRUE, NULL,
                                             GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (bin == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_LINK,
                   "cannot build a decoder for the recording: %s", parse_error->message);
      return NULL;
    }

  if (kind == KAIGI_TRACK_VIDEO)
    {
      g_autoptr(GstElement) picture = gst_bin_get_by_name (GST_BIN (bin), "picture");
      g_autoptr(GstPad) picture_src = gst_element_get_static_pad (picture, "src");

      gst_pad_add_probe (picture_src,
                         GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_BUFFER |
                         GST_PAD_PROBE_TYPE_BUFFER_LIST,
                         limit_picture_size, g_new0 (gint, 1), g_free);
    }
  else
    {
      g_autoptr(GstElement) level = gst_bin_get_by_name (GST_BIN (bin), "level");
      g_autoptr(GstPad) level_sink = gst_element_get_static_pad (level, "sink");

      gst_pad_add_probe (level_sink, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, shield_level, NULL, NULL);
    }
  return bin;
}

/* gst_parse_bin_from_description() also ghosts textoverlay's text pad;
 * a linked text pad would win over the "text" property */
static void
remove_text_pad (GstElement *bin)
{
  g_autoptr(GstPad) ghost = gst_element_get_static_pad (bin, "sink");

  if (ghost)
    gst_element_remove_pad (bin, ghost);
}

/* A live picture from @description ("source" → … → textoverlay "label")
 * with @text on it, its timestamps starting at @start */
static GstElement *
make_text_card (const char    *description,
                const char    *text,
                GstClockTime   start,
                const char    *what,
                GError       **error)
{
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GstElement) source = NULL;
  g_autoptr(GstElement) label = NULL;
  GstElement *bin;

  bin = gst_parse_bin_from_description_full (description, TRUE, NULL,
                                             GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (bin == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_LINK,
                   "cannot build a %s: %s", what, parse_error->message);
      return NULL;
    }

  source = gst_bin_get_by_name (GST_BIN (bin), "source");
  g_object_set (source, "timestamp-offset", (gint64) start, NULL);
  label = gst_bin_get_by_name (GST_BIN (bin), "label");
  g_object_set (label, "text", text, NULL);
  remove_text_pad (bin);
  return bin;
}

/**
 * kaigi_media_make_placeholder_bin:
 * @argb: the tile's colour, 0xAARRGGBB
 * @text: what the tile shows (a name or initials)
 * @start: the pipeline's running time now (ns)
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * The tile of a participant without a picture (camera off, no camera, not
 * decoded yet): a live 320×180 plain colour at 5 fps with @text centred
 * (textoverlay "label", a fixed size, about a sixth of the card's
 * height; a long name wraps). Ghost pad "src".
 *
 * Returns: (transfer floating) (nullable): the bin, or %NULL
 */
GstElement *
kaigi_media_make_placeholder_bin (guint32       argb,
                                  const char   *text,
                                  GstClockTime  start,
                                  GError      **error)
{
  g_autofree char *description = g_strdup_printf (
    "videotestsrc name=source is-live=true pattern=solid-color foreground-color=%u "
    "! video/x-raw,format=I420,width=320,height=180,framerate=5/1 "
    "! textoverlay name=label valignment=center halignment=center "
    "  font-desc=\"Sans Bold 22\" auto-resize=false wait-text=false",
    argb);

  return make_text_card (description, text, start, "placeholder tile", error);
}

/**
 * kaigi_media_make_label_bin:
 * @text: the label (a participant's name)
 * @start: the pipeline's running time now (ns)
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * A name plate for a composite tile: @text on a dark live 200×32 I420
 * band at 5 fps, drawn by textoverlay "label" at a fixed size that fills
 * the band (not `auto-resize`, which scales fonts to the band's width
 * against 640 pixels and made them 5 points), on one line, cut off at
 * the right edge when too long; the compositor puts the band over the
 * tile's lower left corner. (Opaque on purpose: compositor only
 * accepts alpha inputs when its output has alpha, and converting 720p
 * from AYUV to I420 for the encoder would cost more than the labels.)
 * Ghost pad "src".
 *
 * Returns: (transfer floating) (nullable): the bin, or %NULL
 */
GstElement *
kaigi_media_make_label_bin (const char   *text,
                            GstClockTime  start,
                            GError      **error)
{
  return make_text_card (
    "videotestsrc name=source is-live=true pattern=solid-color foreground-color=0xFF202020 "
    "! video/x-raw,format=I420,width=200,height=32,framerate=5/1 "
    "! textoverlay name=label valignment=center halignment=left xpad=8 "
    "  font-desc=\"Sans Bold 11\" auto-resize=false wrap-mode=none wait-text=false",
    text, start, "name label", error);
}
