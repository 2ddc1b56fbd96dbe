/* kaigi-participant.c — one webrtcbin, its negotiation and its tracks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A participant owns one webrtcbin in its room's pipeline. It carries both
 * directions (DESIGN.md "Negotiation"): two recvonly m-lines on which the
 * participant publishes its microphone and camera, one sendonly m-line per
 * track forwarded to it from someone else (a "slot"), and the `chat` data
 * channel. The server is always the offerer (RFC 8829 §5.2); one
 * negotiation runs at a time and changes made meanwhile are folded into the
 * next offer.
 *
 * Threading: webrtcbin signals, promise callbacks and pad probes arrive on
 * GStreamer threads. They copy what they need and defer to the main
 * context (`defer()`); participant state is only touched there.
 */

#include "config.h"

#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <gst/video/video.h>

#include "kaigi-participant.h"
#include "kaigi-config.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_participant_debug);
#define GST_CAT_DEFAULT kaigi_participant_debug

/* How long a participant may stay ICE-disconnected before it counts as
 * gone (DESIGN.md: a vanished peer leaves within 15 s). */
#define DISCONNECTED_GRACE_S 8

typedef enum
{
  NEGOTIATION_STABLE,
  NEGOTIATION_CREATING_OFFER,
  NEGOTIATION_HAVE_LOCAL_OFFER,
  NEGOTIATION_SETTING_ANSWER,
} NegotiationState;

typedef enum
{
  SLOT_PENDING,   /* waiting for its answer and for the connection */
  SLOT_ACTIVE,    /* negotiated and linked to the publisher's tee */
  SLOT_RETIRED,   /* publisher gone; m-line kept inactive */
} SlotState;

typedef struct
{
  KaigiTrackKind kind;
  SlotState state;
  GstWebRTCRTPTransceiver *transceiver;
  GstPad *sink_pad;
  char *publisher_id;
  GstElement *tee;
  GstPad *tee_pad;
  char *mid;
  gboolean negotiated;
} Slot;

struct _KaigiParticipant
{
  GObject parent_instance;

  char *id;
  char *name;
  gboolean audio;
  gboolean video;
  GStrv video_codecs;           /* encoding names it decodes; NULL: all */

  GMainContext *context;
  GstBin *pipeline;
  GstElement *webrtc;
  GstWebRTCDataChannel *chat;
  GstWebRTCRTPTransceiver *publish[KAIGI_N_TRACK_KINDS];
  char *publish_mid[KAIGI_N_TRACK_KINDS];
  GstElement *track_tee[KAIGI_N_TRACK_KINDS];
  GstCaps *track_caps[KAIGI_N_TRACK_KINDS];
  int track_claimed[KAIGI_N_TRACK_KINDS];
  GPtrArray *extra_sinks;

  /* RFC 6464 levels read off the published audio, summed between two
   * kaigi_participant_take_audio_level() calls; streaming thread writes */
  GMutex level_lock;
  guint level_sum;
  guint level_count;

  GPtrArray *slots;

  NegotiationState negotiation;
  gboolean negotiation_needed;
  guint n_mlines;
  gint64 created_us;
  gboolean connected_once;
  gboolean connected;
  guint disconnected_source;

  gboolean shutting_down;
  guint pending_detaches;
  GCallback shutdown_done;
  gpointer shutdown_data;
};

G_DEFINE_FINAL_TYPE (KaigiParticipant, kaigi_participant, G_TYPE_OBJECT)

enum
{
  SIGNAL_SEND_MESSAGE,
  SIGNAL_TRACK_PUBLISHED,
  SIGNAL_CHAT_RECEIVED,
  SIGNAL_FAILED,
  SIGNAL_CONNECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void maybe_negotiate (KaigiParticipant *self);

/* Deferring work from GStreamer threads to the main context */

typedef struct
{
  KaigiParticipant *self;
  GstPromise *promise;
  char *string;
  guint number;
  GstPad *pad;
  GstCaps *caps;
  GstElement *element;
  Slot *slot;
} Deferred;

static void
deferred_free (Deferred *d)
{
  g_clear_object (&d->self);
  g_clear_pointer (&d->promise, gst_promise_unref);
  g_free (d->string);
  gst_clear_object (&d->pad);
  gst_clear_caps (&d->caps);
  gst_clear_object (&d->element);
  g_free (d);
}

static Deferred *
deferred_new (KaigiParticipant *self)
{
  Deferred *d = g_new0 (Deferred, 1);

  d->self = g_object_ref (self);
  return d;
}

static void
defer (KaigiParticipant *self,
       GSourceFunc       func,
       Deferred         *d)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, d, (GDestroyNotify) deferred_free);
  g_source_set_static_name (source, "[kaigi] participant deferred");
  g_source_attach (source, self->context);
}

static void
slot_free (Slot *slot)
{
  gst_clear_object (&slot->transceiver);
  gst_clear_object (&slot->sink_pad);
  g_free (slot->publisher_id);
  gst_clear_object (&slot->tee);
  gst_clear_object (&slot->tee_pad);
  g_free (slot->mid);
  g_free (slot);
}

/* GObject */

static void
kaigi_participant_dispose (GObject *object)
{
  KaigiParticipant *self = KAIGI_PARTICIPANT (object);
  guint i;

  g_clear_handle_id (&self->disconnected_source, g_source_remove);

  if (self->webrtc)
    {
      g_signal_handlers_disconnect_by_data (self->webrtc, self);
      if (GST_OBJECT_PARENT (self->webrtc) == GST_OBJECT (self->pipeline))
        {
          gst_element_set_state (self->webrtc, GST_STATE_NULL);
          gst_bin_remove (self->pipeline, self->webrtc);
        }
    }
  for (i = 0; i < KAIGI_N_TRACK_KINDS; i++)
    {
      if (self->track_tee[i] && GST_OBJECT_PARENT (self->track_tee[i]) == GST_OBJECT (self->pipeline))
        {
          gst_element_set_state (self->track_tee[i], GST_STATE_NULL);
          gst_bin_remove (self->pipeline, self->track_tee[i]);
        }
      gst_clear_object (&self->track_tee[i]);
      gst_clear_caps (&self->track_caps[i]);
      gst_clear_object (&self->publish[i]);
      g_clear_pointer (&self->publish_mid[i], g_free);
    }
  for (i = 0; self->extra_sinks && i < self->extra_sinks->len; i++)
    {
      GstElement *sink = g_ptr_array_index (self->extra_sinks, i);

      if (GST_OBJECT_PARENT (sink) == GST_OBJECT (self->pipeline))
        {
          gst_element_set_state (sink, GST_STATE_NULL);
          gst_bin_remove (self->pipeline, sink);
        }
    }
  g_clear_pointer (&self->extra_sinks, g_ptr_array_unref);
  g_clear_pointer (&self->slots, g_ptr_array_unref);
  if (self->chat)
    g_signal_handlers_disconnect_by_data (self->chat, self);
  gst_clear_object (&self->chat);
  gst_clear_object (&self->webrtc);
  gst_clear_object (&self->pipeline);

  G_OBJECT_CLASS (kaigi_participant_parent_class)->dispose (object);
}

static void
kaigi_participant_finalize (GObject *object)
{
  KaigiParticipant *self = KAIGI_PARTICIPANT (object);

  g_free (self->id);
  g_free (self->name);
  g_strfreev (self->video_codecs);
  g_mutex_clear (&self->level_lock);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (kaigi_participant_parent_class)->finalize (object);
}

static void
kaigi_participant_class_init (KaigiParticipantClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kaigi_participant_dispose;
  object_class->finalize = kaigi_participant_finalize;

  /**
   * KaigiParticipant::send-message:
   * @self: the participant
   * @json: a protocol message for this participant's client
   *
   * Emitted on the main context when a message must go to the client.
   */
  signals[SIGNAL_SEND_MESSAGE] =
    g_signal_new ("send-message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * KaigiParticipant::track-published:
   * @self: the participant
   * @kind: the #KaigiTrackKind that started arriving
   *
   * Emitted on the main context when media of @kind first arrives from the
   * participant and can be forwarded.
   */
  signals[SIGNAL_TRACK_PUBLISHED] =
    g_signal_new ("track-published", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);

  /**
   * KaigiParticipant::chat-received:
   * @self: the participant
   * @text: the validated chat text
   *
   * Emitted on the main context for each valid chat message.
   */
  signals[SIGNAL_CHAT_RECEIVED] =
    g_signal_new ("chat-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * KaigiParticipant::failed:
   * @self: the participant
   * @reason: a participant-left reason ("failed")
   *
   * Emitted on the main context when the peer connection failed for good.
   */
  signals[SIGNAL_FAILED] =
    g_signal_new ("failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  /**
   * KaigiParticipant::connected:
   * @self: the participant
   * @join_latency_us: time from join to the first connected peer
   *   connection, in microseconds
   *
   * Emitted on the main context the first time the connection is up.
   */
  signals[SIGNAL_CONNECTED] =
    g_signal_new ("connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);

  GST_DEBUG_CATEGORY_INIT (kaigi_participant_debug, "kaigi-participant", 0,
                           "Kaigi participant");
}

static void
kaigi_participant_init (KaigiParticipant *self)
{
  self->context = g_main_context_ref_thread_default ();
  g_mutex_init (&self->level_lock);
  self->slots = g_ptr_array_new_with_free_func ((GDestroyNotify) slot_free);
  self->extra_sinks = g_ptr_array_new_with_free_func (gst_object_unref);
  self->created_us = g_get_monotonic_time ();
}

/* Errors and messages */

static void
send_error (KaigiParticipant *self,
            const GError     *error,
            const char       *request)
{
  g_autofree char *json = kaigi_protocol_build_error (error, request);

  kaigi_participant_send (self, json);
}

static void
fail (KaigiParticipant *self,
      const char       *what)
{
  if (self->shutting_down)
    return;

  g_warning ("Participant %s (%s) failed: %s", self->id, self->name, what);
  g_signal_emit (self, signals[SIGNAL_FAILED], 0, "failed");
}

static void
request_keyframe (Slot *slot)
{
  if (slot->kind != KAIGI_TRACK_VIDEO || slot->state != SLOT_ACTIVE || slot->tee_pad == NULL)
    return;

  /* Travels up the publisher's tee into its webrtcbin, whose RTP session
   * turns it into a PLI (RFC 4585 §6.3.1) towards the publisher. */
  gst_pad_send_event (slot->tee_pad,
                      gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE, TRUE, 0));
}

static void activate_pending_slots (KaigiParticipant *self);

/* ICE, connection state */

static gboolean
ice_candidate_main (gpointer user_data)
{
  Deferred *d = user_data;
  g_autofree char *json = NULL;

  if (d->self->shutting_down)
    return G_SOURCE_REMOVE;

  json = kaigi_protocol_build_ice (d->string, d->number);
  kaigi_participant_send (d->self, json);
  return G_SOURCE_REMOVE;
}

static void
on_ice_candidate (GstElement       *webrtc,
                  guint             mline_index,
                  const char       *candidate,
                  KaigiParticipant *self)
{
  Deferred *d = deferred_new (self);

  d->number = mline_index;
  d->string = g_strdup (candidate);
  defer (self, ice_candidate_main, d);
}

static gboolean
disconnected_timeout (gpointer user_data)
{
  KaigiParticipant *self = user_data;

  self->disconnected_source = 0;
  fail (self, "the connection stayed disconnected");
  return G_SOURCE_REMOVE;
}

static gboolean
connection_state_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  GstWebRTCPeerConnectionState state = d->number;
  guint i;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;

  GST_DEBUG_OBJECT (self->webrtc, "connection state %u", state);

  switch (state)
    {
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      g_clear_handle_id (&self->disconnected_source, g_source_remove);
      self->connected = TRUE;
      activate_pending_slots (self);
      if (!self->connected_once)
        {
          self->connected_once = TRUE;
          g_signal_emit (self, signals[SIGNAL_CONNECTED], 0,
                         g_get_monotonic_time () - self->created_us);
        }
      /* Keyframes sent before DTLS was up were dropped */
      for (i = 0; i < self->slots->len; i++)
        request_keyframe (g_ptr_array_index (self->slots, i));
      break;

    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
      if (self->disconnected_source == 0)
        self->disconnected_source = g_timeout_add_seconds (DISCONNECTED_GRACE_S,
                                                           disconnected_timeout, self);
      break;

    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      fail (self, "ICE or DTLS failed");
      break;

    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
    default:
      break;
    }

  return G_SOURCE_REMOVE;
}

static void
on_connection_state (GObject          *webrtc,
                     GParamSpec       *pspec,
                     KaigiParticipant *self)
{
  GstWebRTCPeerConnectionState state;
  Deferred *d = deferred_new (self);

  g_object_get (webrtc, "connection-state", &state, NULL);
  d->number = state;
  defer (self, connection_state_main, d);
}

/* Incoming tracks */

static gboolean
track_published_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  KaigiTrackKind kind = d->number;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;

  g_assert (self->track_tee[kind] == NULL);
  self->track_tee[kind] = g_steal_pointer (&d->element);
  self->track_caps[kind] = kaigi_media_make_forward_caps (d->caps);
  g_message ("Participant %s (%s) publishes %s", self->id, self->name,
             kaigi_track_kind_to_string (kind));
  g_signal_emit (self, signals[SIGNAL_TRACK_PUBLISHED], 0, (guint) kind);
  return G_SOURCE_REMOVE;
}

static gboolean
extra_sink_main (gpointer user_data)
{
  Deferred *d = user_data;

  g_ptr_array_add (d->self->extra_sinks, g_steal_pointer (&d->element));
  return G_SOURCE_REMOVE;
}

static void
link_to_discard (KaigiParticipant *self,
                 GstPad           *pad)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) sink_pad = NULL;
  GstElement *sink = kaigi_media_make_discard_sink (&error);
  Deferred *d;

  if (sink == NULL)
    {
      GST_WARNING_OBJECT (self->webrtc, "%s", error->message);
      return;
    }
  gst_bin_add (self->pipeline, sink);
  sink_pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_link (pad, sink_pad);
  gst_element_sync_state_with_parent (sink);

  d = deferred_new (self);
  d->element = gst_object_ref (sink);
  defer (self, extra_sink_main, d);
}

/* Streaming thread, once per received audio packet: read the
 * client-to-mixer audio level (RFC 6464 §3: one byte, V flag and level in
 * -dBov) that browsers put in every packet. No decoding needed. */
static GstPadProbeReturn
read_audio_level (GstPad          *pad,
                  GstPadProbeInfo *info,
                  gpointer         user_data)
{
  KaigiParticipant *self = user_data;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  gpointer data;
  guint size;

  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    return GST_PAD_PROBE_OK;
  if (gst_rtp_buffer_get_extension_onebyte_header (&rtp, KAIGI_MEDIA_AUDIO_LEVEL_EXT_ID, 0, &data, &size) &&
      size >= 1)
    {
      g_mutex_lock (&self->level_lock);
      self->level_sum += ((const guint8 *) data)[0] & 0x7f;
      self->level_count++;
      g_mutex_unlock (&self->level_lock);
    }
  gst_rtp_buffer_unmap (&rtp);
  return GST_PAD_PROBE_OK;
}

/* Streaming thread. Linking the pad must happen here, before webrtcbin
 * pushes into it; everything else is deferred. The first stream of each
 * kind is the published track; anything more is discarded. */
static void
on_pad_added (GstElement       *webrtc,
              GstPad           *pad,
              KaigiParticipant *self)
{
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstPad) tee_sink = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *tee_name = NULL;
  KaigiTrackKind kind;
  GstElement *tee;
  Deferred *d;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;

  caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);

  if (!kaigi_track_kind_from_caps (caps, &kind) ||
      !g_atomic_int_compare_and_exchange (&self->track_claimed[kind], 0, 1))
    {
      GST_INFO_OBJECT (webrtc, "discarding extra stream %" GST_PTR_FORMAT, caps);
      link_to_discard (self, pad);
      return;
    }

  tee_name = g_strdup_printf ("track-%s-%s", self->id, kaigi_track_kind_to_string (kind));
  tee = kaigi_media_make_track_tee (tee_name, &error);
  if (tee == NULL)
    {
      GST_ERROR_OBJECT (webrtc, "%s", error->message);
      link_to_discard (self, pad);
      return;
    }

  gst_bin_add (self->pipeline, tee);
  tee_sink = gst_element_get_static_pad (tee, "sink");
  if (gst_pad_link (pad, tee_sink) != GST_PAD_LINK_OK)
    GST_ERROR_OBJECT (webrtc, "cannot link %s to its tee", GST_PAD_NAME (pad));
  gst_element_sync_state_with_parent (tee);
  if (kind == KAIGI_TRACK_AUDIO)
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, read_audio_level, self, NULL);

  GST_INFO_OBJECT (webrtc, "incoming %s track %" GST_PTR_FORMAT,
                   kaigi_track_kind_to_string (kind), caps);

  d = deferred_new (self);
  d->number = kind;
  d->caps = gst_caps_ref (caps);
  d->element = gst_object_ref (tee);
  defer (self, track_published_main, d);
}

/* Chat data channel */

static gboolean
chat_message_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  g_autoptr(KaigiMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;

  if (self->shutting_down || self->chat == NULL)
    return G_SOURCE_REMOVE;

  message = kaigi_protocol_parse (KAIGI_CHANNEL_CHAT, d->string, strlen (d->string),
                                  &request, &error);
  if (message == NULL)
    {
      g_autofree char *json = kaigi_protocol_build_error (error, request);

      kaigi_participant_send_chat (self, json);
      return G_SOURCE_REMOVE;
    }

  g_signal_emit (self, signals[SIGNAL_CHAT_RECEIVED], 0, message->text);
  return G_SOURCE_REMOVE;
}

static void
on_chat_message_string (GstWebRTCDataChannel *channel,
                        const char           *text,
                        KaigiParticipant     *self)
{
  Deferred *d;

  if (text == NULL || strlen (text) > KAIGI_PROTOCOL_MAX_MESSAGE_SIZE)
    return;

  d = deferred_new (self);
  d->string = g_strdup (text);
  defer (self, chat_message_main, d);
}

/* Negotiation */

static gboolean
promise_reply_error (GstPromise  *promise,
                     GError     **error)
{
  const GstStructure *reply;
  GError *reply_error = NULL;

  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED)
    {
      g_set_error_literal (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_NEGOTIATION,
                           "webrtcbin did not reply");
      return FALSE;
    }

  reply = gst_promise_get_reply (promise);
  if (reply && gst_structure_has_field (reply, "error"))
    {
      gst_structure_get (reply, "error", G_TYPE_ERROR, &reply_error, NULL);
      g_propagate_error (error, reply_error);
      return FALSE;
    }

  return TRUE;
}

static Slot *
find_slot_by_transceiver_name (KaigiParticipant *self,
                               const char       *name)
{
  guint i;

  for (i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (g_strcmp0 (GST_OBJECT_NAME (slot->transceiver), name) == 0)
        return slot;
    }
  return NULL;
}

/* Which m-line carries what: the publish m-lines are the first audio and
 * video m-lines (their transceivers were created first); forwarded
 * m-lines are found by the transceiver name webrtcbin writes into each
 * `a=ssrc:… msid:STREAM TRACK` line (RFC 5576 §4.1). */
static void
map_offer_mids (KaigiParticipant     *self,
                const GstSDPMessage  *sdp)
{
  guint i, j;

  for (i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
      const char *mid = gst_sdp_media_get_attribute_val (media, "mid");
      const char *type = gst_sdp_media_get_media (media);

      if (mid == NULL)
        continue;

      if (i < KAIGI_N_TRACK_KINDS)
        {
          KaigiTrackKind kind = g_strcmp0 (type, "audio") == 0 ? KAIGI_TRACK_AUDIO : KAIGI_TRACK_VIDEO;

          if (self->publish_mid[kind] == NULL)
            self->publish_mid[kind] = g_strdup (mid);
          continue;
        }

      for (j = 0; j < gst_sdp_media_attributes_len (media); j++)
        {
          const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, j);
          g_auto(GStrv) parts = NULL;
          Slot *slot;

          if (g_strcmp0 (attr->key, "ssrc") != 0 || attr->value == NULL)
            continue;
          parts = g_strsplit (attr->value, " ", 3);
          if (g_strv_length (parts) < 3 || !g_str_has_prefix (parts[1], "msid:"))
            continue;
          slot = find_slot_by_transceiver_name (self, parts[2]);
          if (slot && slot->mid == NULL)
            slot->mid = g_strdup (mid);
        }
    }
}

static void
send_offer (KaigiParticipant          *self,
            GstWebRTCSessionDescription *offer)
{
  g_autofree char *sdp_text = gst_sdp_message_as_text (offer->sdp);
  g_autofree char *json = NULL;
  g_autoptr(GArray) tracks = g_array_new (FALSE, TRUE, sizeof (KaigiTrackInfo));
  guint i;

  map_offer_mids (self, offer->sdp);
  self->n_mlines = gst_sdp_message_medias_len (offer->sdp);

  for (i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);
      KaigiTrackInfo info;

      if (slot->state == SLOT_RETIRED || slot->mid == NULL)
        continue;
      info.mid = slot->mid;
      info.participant_id = slot->publisher_id;
      info.kind = kaigi_track_kind_to_string (slot->kind);
      g_array_append_val (tracks, info);
    }

  json = kaigi_protocol_build_offer (sdp_text,
                                     self->publish_mid[KAIGI_TRACK_AUDIO],
                                     self->publish_mid[KAIGI_TRACK_VIDEO],
                                     (const KaigiTrackInfo *) tracks->data, tracks->len);
  kaigi_participant_send (self, json);
}

static void
negotiation_failed (KaigiParticipant *self,
                    const GError     *error)
{
  g_autoptr(GError) reply = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INTERNAL,
                                         "the server could not create an offer: %s",
                                         error->message);

  g_warning ("Participant %s: negotiation failed: %s", self->id, error->message);
  self->negotiation = NEGOTIATION_STABLE;
  send_error (self, reply, NULL);
  fail (self, "negotiation failed");
}

static gboolean
local_description_set_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  g_autoptr(GError) error = NULL;
  GstWebRTCSessionDescription *offer = NULL;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;

  if (!promise_reply_error (d->promise, &error))
    {
      negotiation_failed (self, error);
      return G_SOURCE_REMOVE;
    }

  g_object_get (self->webrtc, "pending-local-description", &offer, NULL);
  if (offer == NULL)
    g_object_get (self->webrtc, "current-local-description", &offer, NULL);
  if (offer == NULL)
    {
      error = g_error_new_literal (KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_NEGOTIATION,
                                   "webrtcbin has no local description");
      negotiation_failed (self, error);
      return G_SOURCE_REMOVE;
    }

  self->negotiation = NEGOTIATION_HAVE_LOCAL_OFFER;
  send_offer (self, offer);
  gst_webrtc_session_description_free (offer);
  return G_SOURCE_REMOVE;
}

static void
on_local_description_set (GstPromise *promise,
                          gpointer    user_data)
{
  Deferred *d = user_data;

  d->promise = gst_promise_ref (promise);
  defer (d->self, local_description_set_main, d);
}

static gboolean
offer_created_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  g_autoptr(GError) error = NULL;
  GstWebRTCSessionDescription *offer = NULL;
  const GstStructure *reply;
  GstPromise *promise;
  Deferred *next;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;

  if (!promise_reply_error (d->promise, &error))
    {
      negotiation_failed (self, error);
      return G_SOURCE_REMOVE;
    }

  /* An empty reply has been seen on a cold start (DESIGN.md): an error,
   * never a crash */
  reply = gst_promise_get_reply (d->promise);
  if (reply)
    gst_structure_get (reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, NULL);
  if (offer == NULL)
    {
      error = g_error_new_literal (KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_NEGOTIATION,
                                   "create-offer replied without an offer");
      negotiation_failed (self, error);
      return G_SOURCE_REMOVE;
    }

  next = deferred_new (self);
  promise = gst_promise_new_with_change_func (on_local_description_set, next, NULL);
  g_signal_emit_by_name (self->webrtc, "set-local-description", offer, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (offer);
  return G_SOURCE_REMOVE;
}

static void
on_offer_created (GstPromise *promise,
                  gpointer    user_data)
{
  Deferred *d = user_data;

  d->promise = gst_promise_ref (promise);
  defer (d->self, offer_created_main, d);
}

static void
maybe_negotiate (KaigiParticipant *self)
{
  GstPromise *promise;

  if (self->shutting_down || self->negotiation != NEGOTIATION_STABLE ||
      !self->negotiation_needed)
    return;

  self->negotiation_needed = FALSE;
  self->negotiation = NEGOTIATION_CREATING_OFFER;
  GST_DEBUG_OBJECT (self->webrtc, "creating offer");

  promise = gst_promise_new_with_change_func (on_offer_created, deferred_new (self), NULL);
  g_signal_emit_by_name (self->webrtc, "create-offer", NULL, promise);
  gst_promise_unref (promise);
}

static void
request_negotiation (KaigiParticipant *self)
{
  self->negotiation_needed = TRUE;
  maybe_negotiate (self);
}

/* A slot is linked to its publisher's tee only once its m-line is
 * negotiated and the subscriber's DTLS is up. Before that webrtcbin blocks
 * the data: its sink pads until negotiation, its transport send bin until
 * the DTLS keys are set. The tee would block with it, on the publisher's
 * streaming thread, and freeze that track for every other subscriber (and
 * forever, for a subscriber whose connection never comes up). */
static void
activate_pending_slots (KaigiParticipant *self)
{
  guint i;

  if (!self->connected || self->shutting_down)
    return;

  for (i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state != SLOT_PENDING || !slot->negotiated)
        continue;

      {
        g_autoptr(GstPad) tee_sink = gst_element_get_static_pad (slot->tee, "sink");

        kaigi_media_shorten_send_path (slot->sink_pad, tee_sink);
      }
      slot->tee_pad = gst_element_request_pad_simple (slot->tee, "src_%u");
      if (slot->tee_pad == NULL ||
          gst_pad_link (slot->tee_pad, slot->sink_pad) != GST_PAD_LINK_OK)
        {
          GST_ERROR_OBJECT (self->webrtc, "cannot link %s's %s track",
                            slot->publisher_id, kaigi_track_kind_to_string (slot->kind));
          if (slot->tee_pad)
            gst_element_release_request_pad (slot->tee, slot->tee_pad);
          gst_clear_object (&slot->tee_pad);
          continue;
        }

      slot->state = SLOT_ACTIVE;
      GST_DEBUG_OBJECT (self->webrtc, "forwarding %s's %s track on mid %s",
                        slot->publisher_id, kaigi_track_kind_to_string (slot->kind), slot->mid);
      request_keyframe (slot);
    }
}

static gboolean
remote_description_set_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;
  g_autoptr(GError) error = NULL;
  guint i;

  if (self->shutting_down)
    return G_SOURCE_REMOVE;

  if (!promise_reply_error (d->promise, &error))
    {
      g_autoptr(GError) reply = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_SDP,
                                             "the answer was refused: %s", error->message);

      GST_WARNING_OBJECT (self->webrtc, "answer refused: %s", error->message);
      self->negotiation = NEGOTIATION_HAVE_LOCAL_OFFER;
      send_error (self, reply, "answer");
      return G_SOURCE_REMOVE;
    }

  self->negotiation = NEGOTIATION_STABLE;
  for (i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      /* the slots that were in the offer just answered */
      if (slot->state == SLOT_PENDING && slot->mid != NULL)
        slot->negotiated = TRUE;
    }
  activate_pending_slots (self);
  maybe_negotiate (self);
  return G_SOURCE_REMOVE;
}

static void
on_remote_description_set (GstPromise *promise,
                           gpointer    user_data)
{
  Deferred *d = user_data;

  d->promise = gst_promise_ref (promise);
  defer (d->self, remote_description_set_main, d);
}

/* Public API */

static GstWebRTCRTPTransceiver *
add_publish_transceiver (KaigiParticipant *self,
                         KaigiTrackKind    kind)
{
  g_autoptr(GstCaps) caps = kaigi_media_make_publish_caps (kind);
  GstWebRTCRTPTransceiver *transceiver = NULL;

  g_signal_emit_by_name (self->webrtc, "add-transceiver",
                         GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
  if (transceiver && kind == KAIGI_TRACK_VIDEO)
    g_object_set (transceiver, "do-nack", TRUE, NULL);
  return transceiver;
}

/**
 * kaigi_participant_new:
 * @pipeline: the room pipeline (PLAYING) the webrtcbin goes into
 * @id: the server-assigned participant id
 * @name: the validated display name
 * @audio: the microphone is on
 * @video: the camera is on
 * @config: the server configuration
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Creates the participant's webrtcbin with its two publish m-lines and the
 * `chat` data channel (created before the first offer, which must carry
 * the SCTP m-line), and adds it to @pipeline. Call
 * kaigi_participant_start() once the caller has connected its signals.
 *
 * Main thread only.
 *
 * Returns: (transfer full) (nullable): the participant
 */
KaigiParticipant *
kaigi_participant_new (GstBin             *pipeline,
                       const char         *id,
                       const char         *name,
                       gboolean            audio,
                       gboolean            video,
                       const KaigiConfig  *config,
                       GError            **error)
{
  g_autoptr(KaigiParticipant) self = NULL;
  GstElement *webrtc;

  g_return_val_if_fail (GST_IS_BIN (pipeline), NULL);
  g_return_val_if_fail (id != NULL && name != NULL, NULL);

  webrtc = kaigi_media_make_webrtcbin (id, config, error);
  if (webrtc == NULL)
    return NULL;

  self = g_object_new (KAIGI_TYPE_PARTICIPANT, NULL);
  self->id = g_strdup (id);
  self->name = g_strdup (name);
  self->audio = audio;
  self->video = video;
  self->pipeline = gst_object_ref (pipeline);
  self->webrtc = gst_object_ref_sink (webrtc);

  g_signal_connect (webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate), self);
  g_signal_connect (webrtc, "notify::connection-state", G_CALLBACK (on_connection_state), self);
  g_signal_connect (webrtc, "pad-added", G_CALLBACK (on_pad_added), self);

  self->publish[KAIGI_TRACK_AUDIO] = add_publish_transceiver (self, KAIGI_TRACK_AUDIO);
  self->publish[KAIGI_TRACK_VIDEO] = add_publish_transceiver (self, KAIGI_TRACK_VIDEO);
  if (self->publish[KAIGI_TRACK_AUDIO] == NULL || self->publish[KAIGI_TRACK_VIDEO] == NULL)
    {
      g_set_error_literal (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_NEGOTIATION,
                           "webrtcbin refused to add transceivers");
      return NULL;
    }

  if (!gst_bin_add (pipeline, webrtc))
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_STATE,
                   "cannot add participant %s to the room pipeline", id);
      return NULL;
    }

  if (gst_element_set_state (webrtc, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_STATE,
                   "webrtcbin for participant %s refused to start", id);
      return NULL;
    }

  g_signal_emit_by_name (webrtc, "create-data-channel", "chat", NULL, &self->chat);
  if (self->chat)
    g_signal_connect (self->chat, "on-message-string", G_CALLBACK (on_chat_message_string), self);
  else
    GST_WARNING_OBJECT (webrtc, "no chat data channel (is the sctp plugin missing?)");

  if (!gst_element_sync_state_with_parent (webrtc))
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_STATE,
                   "webrtcbin for participant %s refused to start", id);
      return NULL;
    }

  return g_steal_pointer (&self);
}

/**
 * kaigi_participant_start:
 * @self: a participant
 *
 * Starts the first negotiation: the server's first offer goes out through
 * #KaigiParticipant::send-message. Main thread only.
 */
void
kaigi_participant_start (KaigiParticipant *self)
{
  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  request_negotiation (self);
}

/**
 * kaigi_participant_get_id:
 * @self: a participant
 *
 * Returns: (transfer none): the server-assigned id
 */
const char *
kaigi_participant_get_id (KaigiParticipant *self)
{
  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), NULL);

  return self->id;
}

/**
 * kaigi_participant_get_name:
 * @self: a participant
 *
 * Returns: (transfer none): the display name
 */
const char *
kaigi_participant_get_name (KaigiParticipant *self)
{
  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), NULL);

  return self->name;
}

/**
 * kaigi_participant_get_info:
 * @self: a participant
 * @info: (out caller-allocates): filled with borrowed strings valid while
 *   @self lives
 *
 * A snapshot for the protocol and the REST API.
 */
void
kaigi_participant_get_info (KaigiParticipant     *self,
                            KaigiParticipantInfo *info)
{
  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  info->id = self->id;
  info->name = self->name;
  info->audio = self->audio;
  info->video = self->video;
}

/**
 * kaigi_participant_set_media:
 * @self: a participant
 * @audio: the microphone is on
 * @video: the camera is on
 *
 * Records the client's mute state (the `media` message).
 */
void
kaigi_participant_set_media (KaigiParticipant *self,
                             gboolean          audio,
                             gboolean          video)
{
  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  self->audio = audio;
  self->video = video;
}

/**
 * kaigi_participant_send:
 * @self: a participant
 * @json: a protocol message
 *
 * Sends @json to the participant's client through
 * #KaigiParticipant::send-message. Main thread only.
 */
void
kaigi_participant_send (KaigiParticipant *self,
                        const char       *json)
{
  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  g_signal_emit (self, signals[SIGNAL_SEND_MESSAGE], 0, json);
}

/**
 * kaigi_participant_send_chat:
 * @self: a participant
 * @json: a chat-channel message
 *
 * Sends @json on the `chat` data channel if it is open; dropped otherwise
 * (a client that has not connected yet has no chat history to keep).
 */
void
kaigi_participant_send_chat (KaigiParticipant *self,
                             const char       *json)
{
  GstWebRTCDataChannelState state;

  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  if (self->chat == NULL || self->shutting_down)
    return;

  g_object_get (self->chat, "ready-state", &state, NULL);
  if (state != GST_WEBRTC_DATA_CHANNEL_STATE_OPEN)
    return;

  g_signal_emit_by_name (self->chat, "send-string", json);
}

/**
 * kaigi_participant_handle_answer:
 * @self: a participant
 * @sdp: the client's SDP answer
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *   (%KAIGI_PROTOCOL_ERROR_UNEXPECTED_ANSWER or %KAIGI_PROTOCOL_ERROR_INVALID_SDP)
 *
 * Applies the answer to the outstanding offer (RFC 8829 §5.3). An answer
 * that rejects an m-line (port 0, RFC 3264 §6) is refused here with
 * %KAIGI_PROTOCOL_ERROR_INVALID_SDP, since webrtcbin 1.22 cannot
 * renegotiate after one. A refusal by webrtcbin is reported later as an
 * `error` message. Either way the offer stays outstanding. Main thread only.
 *
 * Returns: %TRUE if the answer was handed to webrtcbin
 */
gboolean
kaigi_participant_handle_answer (KaigiParticipant  *self,
                                 const char        *sdp,
                                 GError           **error)
{
  GstSDPMessage *message = NULL;
  GstWebRTCSessionDescription *answer;
  GstPromise *promise;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);

  if (self->negotiation != NEGOTIATION_HAVE_LOCAL_OFFER)
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNEXPECTED_ANSWER,
                           "no offer is waiting for an answer");
      return FALSE;
    }

  if (gst_sdp_message_new_from_text (sdp, &message) != GST_SDP_OK ||
      gst_sdp_message_medias_len (message) != self->n_mlines)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_SDP,
                   "the answer is not an SDP description with the offer's %u m-lines",
                   self->n_mlines);
      g_clear_pointer (&message, gst_sdp_message_free);
      return FALSE;
    }

  /* A rejected m-line (port 0, RFC 3264 §6) would be the end of this
   * participant, and with it of the room's pipeline: webrtcbin 1.22
   * skips it when it applies the answer, so the transceiver keeps no mid,
   * its sink pad stays blocked (a publisher's tee pushing into it would
   * freeze that track for everyone), and the next offer fails an
   * assertion in sdp_media_from_transceiver() that aborts the process.
   * Clients say in `join` which video codecs they decode, so the server
   * never offers them an m-line they must reject. */
  for (guint i = 0; i < gst_sdp_message_medias_len (message); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (message, i);

      if (gst_sdp_media_get_port (media) == 0)
        {
          const char *mid = gst_sdp_media_get_attribute_val (media, "mid");

          g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_SDP,
                       "the answer rejects m-line %u (mid %s, port 0); the server cannot "
                       "renegotiate a rejected m-line: give the video codecs this client "
                       "decodes in join's video_codecs", i, mid ? mid : "none");
          gst_sdp_message_free (message);
          return FALSE;
        }
    }

  self->negotiation = NEGOTIATION_SETTING_ANSWER;
  answer = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_ANSWER, message);
  promise = gst_promise_new_with_change_func (on_remote_description_set, deferred_new (self), NULL);
  g_signal_emit_by_name (self->webrtc, "set-remote-description", answer, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (answer);
  return TRUE;
}

/**
 * kaigi_participant_add_ice_candidate:
 * @self: a participant
 * @mline_index: the candidate's m-line
 * @candidate: the candidate line (RFC 8839 §5.1); empty means
 *   end-of-candidates and is ignored
 * @error: return location for %KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE or
 *   %KAIGI_PROTOCOL_ERROR_INVALID_FIELD
 *
 * Hands a trickled remote candidate (RFC 8838) to webrtcbin. Main thread only.
 *
 * Returns: %TRUE if accepted
 */
gboolean
kaigi_participant_add_ice_candidate (KaigiParticipant  *self,
                                     guint              mline_index,
                                     const char        *candidate,
                                     GError           **error)
{
  const char *line = candidate;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);

  if (self->n_mlines == 0 || mline_index >= self->n_mlines)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNKNOWN_MLINE,
                   "m-line %u is not in the negotiation (it has %u)", mline_index, self->n_mlines);
      return FALSE;
    }

  if (*candidate == '\0')
    return TRUE;

  if (g_str_has_prefix (line, "a="))
    line += 2;
  if (!g_str_has_prefix (line, "candidate:") || strlen (line) > 1024)
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_FIELD,
                           "the ICE candidate must start with “candidate:”");
      return FALSE;
    }

  g_signal_emit_by_name (self->webrtc, "add-ice-candidate", mline_index, line);
  return TRUE;
}

/**
 * kaigi_participant_take_audio_level:
 * @self: a participant
 * @level: (out): the mean RFC 6464 audio level (0 = 0 dBov … 127 =
 *   −127 dBov) of the packets received since the last call
 *
 * Reads and resets the audio level gathered from the RFC 6464
 * ssrc-audio-level header extension of the participant's published audio.
 * May be called from any thread.
 *
 * Returns: %FALSE when no packet with the extension arrived since the last
 *   call (silence with DTX, a muted microphone, or a client that does not
 *   send the extension)
 */
gboolean
kaigi_participant_take_audio_level (KaigiParticipant *self,
                                    guint            *level)
{
  gboolean any;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);

  g_mutex_lock (&self->level_lock);
  any = self->level_count > 0;
  if (any)
    *level = self->level_sum / self->level_count;
  self->level_sum = self->level_count = 0;
  g_mutex_unlock (&self->level_lock);
  return any;
}

/**
 * kaigi_participant_get_track_tee:
 * @self: a participant
 * @kind: audio or video
 *
 * Returns: (transfer none) (nullable): the tee of the published track, or
 *   %NULL while nothing of @kind arrives
 */
GstElement *
kaigi_participant_get_track_tee (KaigiParticipant *self,
                                 KaigiTrackKind    kind)
{
  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), NULL);
  g_return_val_if_fail (kind < KAIGI_N_TRACK_KINDS, NULL);

  return self->track_tee[kind];
}

/**
 * kaigi_participant_get_track_caps:
 * @self: a participant
 * @kind: audio or video
 *
 * The published track's RTP caps as its webrtcbin pad announced them
 * (encoding, payload type, clock rate, RTCP feedback, SSRC), without
 * webrtcbin's per-session fields: what a subscriber's m-line offers and
 * what chooses the recorder's decoder. Known from the moment the track is
 * published (#KaigiParticipant::track-published), possibly before its
 * first packet reaches the tee. Main context only.
 *
 * Returns: (transfer none) (nullable): the caps, or %NULL while nothing of
 *   @kind arrives
 */
const GstCaps *
kaigi_participant_get_track_caps (KaigiParticipant *self,
                                  KaigiTrackKind    kind)
{
  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), NULL);
  g_return_val_if_fail (kind < KAIGI_N_TRACK_KINDS, NULL);

  return self->track_caps[kind];
}

/**
 * kaigi_participant_set_video_codecs:
 * @self: a participant that subscribes to nothing yet
 * @codecs: (nullable) (array zero-terminated=1): the RTP encoding names
 *   (RFC 4855, case-insensitive: "VP8", "H264") of the video the
 *   participant can decode, or %NULL for every codec the server forwards
 *   (VP8 and H.264, both mandatory in browsers, RFC 7742 §5)
 *
 * Video published in another codec is not offered to this participant:
 * an SFU forwards without transcoding, and an m-line the client had to
 * reject could not be renegotiated. Main thread only.
 */
void
kaigi_participant_set_video_codecs (KaigiParticipant  *self,
                                    const char *const *codecs)
{
  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  g_strfreev (self->video_codecs);
  self->video_codecs = g_strdupv ((char **) codecs);
}

static gboolean
decodes (KaigiParticipant *self,
         const GstCaps    *caps)
{
  const GstStructure *s;
  const char *encoding;

  if (self->video_codecs == NULL)
    return TRUE;
  s = caps && gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0) : NULL;
  encoding = s ? gst_structure_get_string (s, "encoding-name") : NULL;
  if (encoding == NULL)
    return FALSE;
  for (guint i = 0; self->video_codecs[i] != NULL; i++)
    if (g_ascii_strcasecmp (self->video_codecs[i], encoding) == 0)
      return TRUE;
  return FALSE;
}

/**
 * kaigi_participant_subscribe:
 * @self: the subscriber
 * @publisher: the participant whose track to forward
 * @kind: which of its tracks
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Adds a sendonly m-line carrying @publisher's @kind track unchanged
 * (SFU forwarding, no transcoding) and renegotiates; video in a codec the
 * subscriber does not decode (kaigi_participant_set_video_codecs()) is
 * left out, and that is no error. The branch is linked
 * once the answer is applied; until then webrtcbin would block it.
 * Main thread only.
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_participant_subscribe (KaigiParticipant  *self,
                             KaigiParticipant  *publisher,
                             KaigiTrackKind     kind,
                             GError           **error)
{
  GstPadTemplate *templ;
  GstPad *sink_pad;
  Slot *slot;
  guint i;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);
  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (publisher), FALSE);
  g_return_val_if_fail (publisher->track_tee[kind] != NULL, FALSE);

  if (self->shutting_down)
    return TRUE;

  if (kind == KAIGI_TRACK_VIDEO && !decodes (self, publisher->track_caps[kind]))
    {
      const GstCaps *caps = publisher->track_caps[kind];
      const GstStructure *s = caps && gst_caps_get_size (caps) ? gst_caps_get_structure (caps, 0) : NULL;
      const char *encoding = s ? gst_structure_get_string (s, "encoding-name") : NULL;

      g_message ("Participant %s (%s) does not decode %s video; %s's video is not forwarded to it",
                 self->id, self->name, encoding ? encoding : "this", publisher->id);
      return TRUE;
    }

  for (i = 0; i < self->slots->len; i++)
    {
      slot = g_ptr_array_index (self->slots, i);
      if (slot->state != SLOT_RETIRED && slot->kind == kind &&
          g_strcmp0 (slot->publisher_id, publisher->id) == 0)
        return TRUE;
    }

  templ = gst_element_get_pad_template (self->webrtc, "sink_%u");
  sink_pad = templ ? gst_element_request_pad (self->webrtc, templ, NULL, publisher->track_caps[kind]) : NULL;
  if (sink_pad == NULL)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_LINK,
                   "webrtcbin refused a sink pad for %s's %s track",
                   publisher->id, kaigi_track_kind_to_string (kind));
      return FALSE;
    }

  slot = g_new0 (Slot, 1);
  slot->kind = kind;
  slot->state = SLOT_PENDING;
  slot->sink_pad = sink_pad;
  slot->publisher_id = g_strdup (publisher->id);
  slot->tee = gst_object_ref (publisher->track_tee[kind]);
  g_object_get (sink_pad, "transceiver", &slot->transceiver, NULL);
  g_object_set (slot->transceiver,
                "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                "codec-preferences", publisher->track_caps[kind],
                NULL);
  if (kind == KAIGI_TRACK_VIDEO)
    g_object_set (slot->transceiver, "do-nack", TRUE, NULL);
  /* the browser groups the track into a MediaStream named after the publisher */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (sink_pad), "msid"))
    g_object_set (sink_pad, "msid", publisher->id, NULL);
  g_ptr_array_add (self->slots, slot);

  request_negotiation (self);
  return TRUE;
}

static gboolean
detach_done_main (gpointer user_data)
{
  Deferred *d = user_data;
  KaigiParticipant *self = d->self;

  gst_element_release_request_pad (d->element, d->pad);
  g_assert (self->pending_detaches > 0);
  self->pending_detaches--;

  if (self->shutting_down && self->pending_detaches == 0 && self->shutdown_done)
    {
      GCallback done = self->shutdown_done;

      self->shutdown_done = NULL;
      ((void (*) (KaigiParticipant *, gpointer)) done) (self, self->shutdown_data);
    }
  return G_SOURCE_REMOVE;
}

static GstPadProbeReturn
unlink_when_idle (GstPad          *tee_pad,
                  GstPadProbeInfo *info,
                  gpointer         user_data)
{
  Deferred *d = user_data;
  g_autoptr(GstPad) peer = gst_pad_get_peer (tee_pad);

  if (peer)
    gst_pad_unlink (tee_pad, peer);

  /* the probe is removed after this; hand the rest to the main context */
  defer (d->self, detach_done_main, d);
  return GST_PAD_PROBE_REMOVE;
}

static void
detach_slot (KaigiParticipant *self,
             Slot             *slot)
{
  if (slot->state == SLOT_ACTIVE && slot->tee_pad)
    {
      Deferred *d = deferred_new (self);

      d->pad = gst_object_ref (slot->tee_pad);
      d->element = gst_object_ref (slot->tee);
      self->pending_detaches++;
      /* Unlink only between two buffers (DESIGN.md: remove behind an IDLE
       * probe); the probe may run at once, in this thread */
      gst_pad_add_probe (slot->tee_pad, GST_PAD_PROBE_TYPE_IDLE, unlink_when_idle, d, NULL);
    }

  slot->state = SLOT_RETIRED;
  gst_clear_object (&slot->tee_pad);
  gst_clear_object (&slot->tee);
  g_clear_pointer (&slot->publisher_id, g_free);
}

/**
 * kaigi_participant_unsubscribe:
 * @self: the subscriber
 * @publisher_id: the participant whose tracks stop
 *
 * Stops forwarding @publisher_id's tracks to @self: the branches are
 * unlinked behind idle probes, their m-lines become inactive, and a new
 * offer goes out. Main thread only.
 */
void
kaigi_participant_unsubscribe (KaigiParticipant *self,
                               const char       *publisher_id)
{
  gboolean changed = FALSE;
  guint i;

  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));

  for (i = 0; i < self->slots->len; i++)
    {
      Slot *slot = g_ptr_array_index (self->slots, i);

      if (slot->state == SLOT_RETIRED || g_strcmp0 (slot->publisher_id, publisher_id) != 0)
        continue;

      detach_slot (self, slot);
      g_object_set (slot->transceiver,
                    "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE, NULL);
      changed = TRUE;
    }

  if (changed)
    request_negotiation (self);
}

/**
 * kaigi_participant_get_n_forwarded:
 * @self: a participant
 *
 * Returns: the number of tracks currently forwarded to @self
 */
guint
kaigi_participant_get_n_forwarded (KaigiParticipant *self)
{
  guint i, n = 0;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), 0);

  for (i = 0; i < self->slots->len; i++)
    if (((Slot *) g_ptr_array_index (self->slots, i))->state == SLOT_ACTIVE)
      n++;
  return n;
}

static gboolean
add_stats_field (GQuark        field_id,
                 const GValue *value,
                 gpointer      user_data)
{
  KaigiParticipantStats *stats = user_data;
  const GstStructure *s;
  GstWebRTCStatsType type;
  guint64 bytes = 0, packets = 0;

  if (!GST_VALUE_HOLDS_STRUCTURE (value))
    return TRUE;

  s = gst_value_get_structure (value);
  if (!gst_structure_get (s, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, NULL))
    return TRUE;

  if (type == GST_WEBRTC_STATS_INBOUND_RTP)
    {
      gst_structure_get_uint64 (s, "bytes-received", &bytes);
      gst_structure_get_uint64 (s, "packets-received", &packets);
      stats->bytes_in += bytes;
      stats->packets_in += packets;
    }
  else if (type == GST_WEBRTC_STATS_OUTBOUND_RTP)
    {
      gst_structure_get_uint64 (s, "bytes-sent", &bytes);
      gst_structure_get_uint64 (s, "packets-sent", &packets);
      stats->bytes_out += bytes;
      stats->packets_out += packets;
    }
  return TRUE;
}

/**
 * kaigi_participant_get_stats:
 * @self: a participant
 * @stats: (out caller-allocates): the counters, added to
 *
 * Reads webrtcbin's statistics (W3C webrtc-stats). Blocks the calling
 * thread until webrtcbin answers, typically well under a millisecond; call
 * it from the main thread, never from a streaming thread.
 *
 * Returns: %TRUE if webrtcbin answered
 */
gboolean
kaigi_participant_get_stats (KaigiParticipant      *self,
                             KaigiParticipantStats *stats)
{
  g_autoptr(GstPromise) promise = gst_promise_new ();
  const GstStructure *reply;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);

  if (self->shutting_down)
    return FALSE;

  g_signal_emit_by_name (self->webrtc, "get-stats", NULL, promise);
  if (gst_promise_wait (promise) != GST_PROMISE_RESULT_REPLIED)
    return FALSE;

  reply = gst_promise_get_reply (promise);
  if (reply)
    gst_structure_foreach (reply, add_stats_field, stats);
  return TRUE;
}

/**
 * kaigi_participant_owns_element:
 * @self: a participant
 * @object: a pipeline object, e.g. the source of a bus message
 *
 * Returns: %TRUE if @object is inside the participant's webrtcbin or is one
 *   of its track tees
 */
gboolean
kaigi_participant_owns_element (KaigiParticipant *self,
                                GstObject        *object)
{
  guint i;

  g_return_val_if_fail (KAIGI_IS_PARTICIPANT (self), FALSE);

  for (; object; object = GST_OBJECT_PARENT (object))
    {
      if (object == GST_OBJECT (self->webrtc))
        return TRUE;
      for (i = 0; i < KAIGI_N_TRACK_KINDS; i++)
        if (object == GST_OBJECT (self->track_tee[i]))
          return TRUE;
    }
  return FALSE;
}

/**
 * kaigi_participant_shutdown:
 * @self: a participant
 * @done: (scope async): `void done (KaigiParticipant *self, gpointer user_data)`,
 *   called on the main context once nothing feeds the webrtcbin any more
 * @user_data: data for @done
 *
 * Stops all negotiation and detaches every branch that forwards someone
 * else's track into this participant's webrtcbin, each behind an idle
 * probe: setting the webrtcbin to NULL while a publisher's tee still
 * pushes into it would return FLUSHING into that tee and stall the
 * publisher for everyone. The caller unsubscribes the others from this
 * participant first, then drops its reference in @done (dispose removes
 * the elements). Main thread only.
 */
void
kaigi_participant_shutdown (KaigiParticipant *self,
                            GCallback         done,
                            gpointer          user_data)
{
  guint i;

  g_return_if_fail (KAIGI_IS_PARTICIPANT (self));
  g_return_if_fail (!self->shutting_down);

  self->shutting_down = TRUE;
  self->shutdown_done = done;
  self->shutdown_data = user_data;
  g_clear_handle_id (&self->disconnected_source, g_source_remove);

  for (i = 0; i < self->slots->len; i++)
    detach_slot (self, g_ptr_array_index (self->slots, i));

  if (self->pending_detaches == 0)
    {
      self->shutdown_done = NULL;
      ((void (*) (KaigiParticipant *, gpointer)) done) (self, user_data);
    }
}
