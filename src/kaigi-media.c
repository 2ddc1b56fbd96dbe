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
  "extmap-1=(string)urn:ietf:params:rtp-hdrext:ssrc-audio-level";

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

/* Two defaults of webrtcbin 1.22 that do not suit a forwarding server:
 *
 * - a `clocksync sync=true` in front of every input stream (gstwebrtcbin.c,
 *   _connect_input_stream): our input is already live RTP from another
 *   webrtcbin; syncing it again would hold every forwarded packet for the
 *   pipeline latency;
 * - `rtx-next-seqnum` on the jitterbuffers: they predict when the next
 *   packet is due from the packet spacing and, when a video frame comes
 *   later than predicted (encoders and pacers are bursty), declare it lost
 *   after `latency` and drop it on arrival. Measured with Chromium at
 *   15 fps and 40 ms latency: about one forwarded packet in a hundred lost.
 *   Without it only real sequence gaps wait for a retransmission. */
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
  else if (g_strcmp0 (name, "rtpjitterbuffer") == 0)
    {
      GST_DEBUG_OBJECT (bin, "no next-packet prediction on %s", GST_OBJECT_NAME (element));
      g_object_set (element, "rtx-next-seqnum", FALSE, NULL);
    }
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
  GstElement *webrtc;
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
  return webrtc;
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
