/* kaigi-test-client.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A scriptable WebRTC participant for integration tests: it speaks the Kaigi
 * signaling protocol (docs/protocol.md) over a real libsoup WebSocket and
 * carries real media through one webrtcbin, as a browser would.
 *
 * Threading: the object lives on the thread-default main context it was
 * created on ("the client's context"). webrtcbin signals, promise replies,
 * pad probes and appsink callbacks run on GStreamer threads; they either
 * update the media statistics under @lock or hop to the client's context
 * with an idle source (never synchronously, so nothing re-enters a caller).
 */

#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/app/app.h>
#include <gst/audio/audio.h>
#include <gst/rtp/rtp.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#ifndef GST_USE_UNSTABLE_API
#define GST_USE_UNSTABLE_API
#endif
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "kaigi-test-client.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_test_client_debug);
#define GST_CAT_DEFAULT kaigi_test_client_debug

#define DEFAULT_PING_INTERVAL_MS 5000
#define MAX_INCOMING_PAYLOAD (4 * 1024 * 1024)

typedef struct
{
  guint64 video_frames;
  guint32 rgb;
  gboolean have_rgb;
  guint64 audio_buffers;
  double rms_db;
} MediaStats;

typedef struct
{
  char *mid;
  char *participant;
  char *kind;
} TrackEntry;

struct _KaigiTestClient
{
  GObject parent_instance;

  /* Set at construction, immutable */
  guint port;
  char *room;
  char *name;
  guint32 rgb;
  gboolean publish_audio;
  gboolean publish_video;
  double frequency;
  GMainContext *context;

  /* Client's context only */
  gboolean auto_join;
  gboolean hold_offers;
  guint ping_interval_ms;
  double volume;
  guint flash_period_ms;        /* 0: no flashes */
  gboolean no_level_extension;  /* send no RFC 6464 levels */
  gboolean garbage;             /* scramble published payloads */
  int claimed_width;            /* if not 0, what its VP8 key frames claim */
  int claimed_height;
  gboolean h264;                /* publish H.264 instead of VP8 */
  gboolean refuse_h264;         /* reject forwarded H.264 m-lines */
  GStrv video_codecs;           /* join's video_codecs; NULL: not sent */
  GstClockTime first_frame;     /* streaming threads, under @lock */

  SoupSession *session;
  GCancellable *cancellable;
  SoupWebsocketConnection *ws;
  GSource *ping_source;
  gboolean connected;
  gboolean closed;
  gushort close_code;
  gboolean vanished;
  gboolean stopped;             /* disposed */
  gboolean media_stopped;       /* pipeline set to NULL for good */

  char *id;
  gboolean joined;
  GHashTable *roster;           /* id → KaigiTestParticipant */
  GHashTable *left;             /* id → reason */
  guint n_updates;
  GPtrArray *errors;            /* codes */
  GHashTable *last_messages;    /* type → JSON text of the last one */
  GHashTable *message_counts;   /* type → count */
  guint n_pongs;
  GPtrArray *chats;             /* KaigiTestChat */
  guint n_chat_errors;
  GstWebRTCDataChannel *chat;
  gboolean chat_open;

  GQueue pending_offers;        /* JsonObject */
  gboolean negotiating;
  guint n_offers;
  guint n_answers;
  char *failure;
  char *last_offer;
  char *last_answer;
  GstSDPMessage *offer_sdp;     /* the offer being negotiated */
  char *publish_mid[2];         /* [0] audio, [1] video */

  GstElement *pipeline;
  GstElement *webrtc;
  GstElement *audio_branch;
  GstElement *video_branch;
  GstPad *audio_sinkpad;
  GstPad *video_sinkpad;
  gboolean idle_sender[2];      /* [0] audio, [1] video */
  guint answer_wait_source;
  gint64 answer_deadline;
  gboolean answer_directly;     /* written before set-remote-description */
  GstElement *tone;
  int audio_level;              /* RFC 6464, streaming threads */
  guint bus_watch;

  /* Decoder branches are added from streaming threads; under @branch_lock
   * so none is added once stop_media() has begun. */
  GMutex branch_lock;
  gboolean branches_closed;

  /* Shared with streaming threads, under @lock */
  GMutex lock;
  GPtrArray *tracks;            /* TrackEntry, from the latest offer */
  GHashTable *mline_mids;       /* GUINT_TO_POINTER (mline + 1) → mid */
  GHashTable *stats;            /* participant id → MediaStats */
  guint64 unattributed;
  gboolean ice_connected;
};

G_DEFINE_FINAL_TYPE (KaigiTestClient, kaigi_test_client, G_TYPE_OBJECT)

/* Everything handed from a GStreamer thread to the client's context. */
typedef struct
{
  KaigiTestClient *self;        /* owned ref */
  GstPromise *promise;
  guint mline;
  char *text;
  GstWebRTCDataChannel *channel;
} Hop;

/* One decode branch behind a webrtcbin src pad. */
typedef struct
{
  KaigiTestClient *self;        /* borrowed: the pipeline dies before self */
  char *mid;
  guint mline;
  gboolean is_video;
} Decoder;

static void start_next_negotiation (KaigiTestClient *self);

/* Helpers {{{ */

static void
participant_free (gpointer data)
{
  KaigiTestParticipant *p = data;

  g_free (p->id);
  g_free (p->name);
  g_free (p);
}

static void
chat_free (gpointer data)
{
  KaigiTestChat *c = data;

  g_free (c->from);
  g_free (c->name);
  g_free (c->text);
  g_free (c->time);
  g_free (c);
}

static void
track_entry_free (gpointer data)
{
  TrackEntry *t = data;

  g_free (t->mid);
  g_free (t->participant);
  g_free (t->kind);
  g_free (t);
}

static void
hop_free (gpointer data)
{
  Hop *hop = data;

  g_clear_object (&hop->self);
  g_clear_pointer (&hop->promise, gst_promise_unref);
  g_free (hop->text);
  g_clear_object (&hop->channel);
  g_free (hop);
}

static Hop *
hop_new (KaigiTestClient *self)
{
  Hop *hop = g_new0 (Hop, 1);

  hop->self = g_object_ref (self);
  return hop;
}

/* Run @func on the client's context from any thread, always deferred. */
static void
schedule (KaigiTestClient *self,
          GSourceFunc      func,
          Hop             *hop)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, hop, hop_free);
  g_source_set_static_name (source, "[kaigi-test-client] hop");
  g_source_attach (source, self->context);
}

static void
decoder_free (gpointer data)
{
  Decoder *d = data;

  g_free (d->mid);
  g_free (d);
}

static void
set_failure (KaigiTestClient *self,
             const char      *format,
             ...) G_GNUC_PRINTF (2, 3);

static void
set_failure (KaigiTestClient *self,
             const char      *format,
             ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_message ("test client %s: %s", self->name, message);
  if (self->failure == NULL)
    self->failure = g_steal_pointer (&message);
}

static const char *
object_get_string (JsonObject *object,
                   const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
object_get_bool (JsonObject *object,
                 const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;
  return json_node_get_boolean (node);
}

static KaigiTestParticipant *
participant_from_json (JsonObject *object)
{
  KaigiTestParticipant *p;
  const char *id;

  if (object == NULL || (id = object_get_string (object, "id")) == NULL)
    return NULL;

  p = g_new0 (KaigiTestParticipant, 1);
  p->id = g_strdup (id);
  p->name = g_strdup (object_get_string (object, "name"));
  p->audio = object_get_bool (object, "audio");
  p->video = object_get_bool (object, "video");
  return p;
}

static char *
builder_to_text (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static void
send_builder (KaigiTestClient *self,
              JsonBuilder     *builder)
{
  g_autofree char *text = builder_to_text (builder);

  kaigi_test_client_send_text (self, text);
}

static void
send_simple (KaigiTestClient *self,
             const char      *type)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, type);
  json_builder_end_object (builder);
  send_builder (self, builder);
}

/* }}} */

/* Media statistics (any thread) {{{ */

static MediaStats *
stats_for_locked (KaigiTestClient *self,
                  const char      *participant)
{
  MediaStats *stats = g_hash_table_lookup (self->stats, participant);

  if (stats == NULL)
    {
      stats = g_new0 (MediaStats, 1);
      g_hash_table_insert (self->stats, g_strdup (participant), stats);
    }
  return stats;
}

/* Which participant sends on @mid according to the latest offer. */
static const char *
participant_for_mid_locked (KaigiTestClient *self,
                            const char      *mid)
{
  for (guint i = 0; mid != NULL && i < self->tracks->len; i++)
    {
      TrackEntry *t = g_ptr_array_index (self->tracks, i);

      if (g_strcmp0 (t->mid, mid) == 0)
        return t->participant;
    }
  return NULL;
}

static const char *
decoder_mid_locked (Decoder *d)
{
  if (d->mid == NULL && d->mline != G_MAXUINT)
    return g_hash_table_lookup (d->self->mline_mids,
                                GUINT_TO_POINTER (d->mline + 1));
  return d->mid;
}

static GstFlowReturn
on_video_sample (GstAppSink *sink,
                 gpointer    user_data)
{
  Decoder *d = user_data;
  KaigiTestClient *self = d->self;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  GstVideoInfo info;
  GstMapInfo map;
  GstBuffer *buffer;
  guint32 rgb = 0;
  gboolean have_rgb = FALSE;
  const char *participant;

  if (sample == NULL)
    return GST_FLOW_EOS;

  buffer = gst_sample_get_buffer (sample);
  if (buffer != NULL && gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) &&
      gst_buffer_map (buffer, &map, GST_MAP_READ))
    {
      gsize offset = (gsize) (GST_VIDEO_INFO_HEIGHT (&info) / 2) * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0)
                     + (gsize) (GST_VIDEO_INFO_WIDTH (&info) / 2) * 3;

      if (offset + 3 <= map.size)
        {
          rgb = ((guint32) map.data[offset] << 16) |
                ((guint32) map.data[offset + 1] << 8) |
                (guint32) map.data[offset + 2];
          have_rgb = TRUE;
        }
      gst_buffer_unmap (buffer, &map);
    }

  g_mutex_lock (&self->lock);
  participant = participant_for_mid_locked (self, decoder_mid_locked (d));
  if (participant != NULL)
    {
      MediaStats *stats = stats_for_locked (self, participant);

      stats->video_frames++;
      if (have_rgb)
        {
          stats->rgb = rgb;
          stats->have_rgb = TRUE;
        }
    }
  else
    {
      self->unattributed++;
    }
  g_mutex_unlock (&self->lock);

  return GST_FLOW_OK;
}

static GstFlowReturn
on_audio_sample (GstAppSink *sink,
                 gpointer    user_data)
{
  Decoder *d = user_data;
  KaigiTestClient *self = d->self;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buffer;
  GstMapInfo map;
  double rms_db = -HUGE_VAL;
  const char *participant;

  if (sample == NULL)
    return GST_FLOW_EOS;

  buffer = gst_sample_get_buffer (sample);
  if (buffer != NULL && gst_buffer_map (buffer, &map, GST_MAP_READ))
    {
      const gint16 *samples = (const gint16 *) map.data;
      gsize n = map.size / sizeof (gint16);
      double sum = 0.0;

      for (gsize i = 0; i < n; i++)
        sum += (double) samples[i] * (double) samples[i];
      if (n > 0 && sum > 0.0)
        rms_db = 20.0 * log10 (sqrt (sum / (double) n) / 32768.0);
      gst_buffer_unmap (buffer, &map);
    }

  g_mutex_lock (&self->lock);
  participant = participant_for_mid_locked (self, decoder_mid_locked (d));
  if (participant != NULL)
    {
      MediaStats *stats = stats_for_locked (self, participant);

      stats->audio_buffers++;
      stats->rms_db = rms_db;
    }
  else
    {
      self->unattributed++;
    }
  g_mutex_unlock (&self->lock);

  return GST_FLOW_OK;
}

/* }}} */

/* Incoming streams (webrtcbin streaming threads) {{{ */

static gboolean
have_element (const char *factory_name)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (factory_name);

  return factory != NULL;
}

/* avdec_h264 (gstreamer1.0-libav) where installed, else openh264dec */
static const char *
h264_decoder (void)
{
  return have_element ("avdec_h264") ? "avdec_h264" : "openh264dec";
}

static void
on_incoming_pad (GstElement      *webrtc,
                 GstPad          *pad,
                 KaigiTestClient *self)
{
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) sinkpad = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autofree char *mid = NULL;
  g_autofree char *owned = NULL;
  GstAppSinkCallbacks callbacks = { NULL, };
  const char *description;
  const char *encoding = NULL;
  GstStructure *s;
  GstElement *bin;
  Decoder *d;
  guint mline = G_MAXUINT;
  gboolean is_video = FALSE;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;

  caps = gst_pad_get_current_caps (pad);
  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_structure (caps, 0);
  if (s != NULL)
    encoding = gst_structure_get_string (s, "encoding-name");

  g_object_get (pad, "transceiver", &trans, NULL);
  if (trans != NULL)
    g_object_get (trans, "mid", &mid, "mlineindex", &mline, NULL);

  GST_INFO_OBJECT (webrtc, "%s: new pad %s (mid %s, m-line %d) %" GST_PTR_FORMAT,
                   self->name, GST_PAD_NAME (pad), mid, (int) mline, caps);

  if (g_strcmp0 (encoding, "VP8") == 0)
    {
      is_video = TRUE;
      description = "queue max-size-time=0 max-size-bytes=0 max-size-buffers=50 ! "
                    "rtpvp8depay request-keyframe=true ! vp8dec max-errors=-1 ! videoconvert ! video/x-raw,format=RGB ! "
                    "appsink name=sink sync=false async=false max-buffers=2 drop=true "
                    "enable-last-sample=false";
    }
  else if (g_strcmp0 (encoding, "H264") == 0)
    {
      is_video = TRUE;
      owned = g_strdup_printf ("queue max-size-time=0 max-size-bytes=0 max-size-buffers=50 ! "
                               "rtph264depay request-keyframe=true wait-for-keyframe=true ! "
                               "h264parse ! %s ! videoconvert ! video/x-raw,format=RGB ! "
                               "appsink name=sink sync=false async=false max-buffers=2 drop=true "
                               "enable-last-sample=false", h264_decoder ());
      description = owned;
    }
  else if (g_strcmp0 (encoding, "OPUS") == 0)
    {
      description = "queue max-size-time=0 max-size-bytes=0 max-size-buffers=50 ! "
                    "rtpopusdepay ! opusdec plc=true max-errors=-1 ! audioconvert ! audioresample ! "
                    "audio/x-raw,format=S16LE,channels=1,rate=48000 ! "
                    "appsink name=sink sync=false async=false max-buffers=20 drop=true "
                    "enable-last-sample=false";
    }
  else
    {
      g_message ("test client %s: ignoring incoming stream with encoding %s",
                 self->name, encoding ? encoding : "(none)");
      description = "fakesink sync=false async=false";
    }

  bin = gst_parse_bin_from_description (description, TRUE, &error);
  if (bin == NULL)
    {
      g_warning ("test client %s: cannot build decoder: %s", self->name, error->message);
      return;
    }

  sink = gst_bin_get_by_name (GST_BIN (bin), "sink");
  if (sink != NULL)
    {
      d = g_new0 (Decoder, 1);
      d->self = self;
      d->mid = g_steal_pointer (&mid);
      d->mline = mline;
      d->is_video = is_video;
      callbacks.new_sample = is_video ? on_video_sample : on_audio_sample;
      gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, d, decoder_free);
    }

  g_mutex_lock (&self->branch_lock);
  if (self->branches_closed)
    {
      /* The pipeline is being stopped: a bin added now could be left
       * running in a stopped pipeline. */
      g_mutex_unlock (&self->branch_lock);
      gst_object_unref (gst_object_ref_sink (bin));
      return;
    }
  gst_bin_add (GST_BIN (self->pipeline), bin);
  gst_element_sync_state_with_parent (bin);
  sinkpad = gst_element_get_static_pad (bin, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_message ("test client %s: cannot link incoming pad %s", self->name, GST_PAD_NAME (pad));
  g_mutex_unlock (&self->branch_lock);
}

static void
on_ice_connection_state (GObject         *webrtc,
                         GParamSpec      *pspec,
                         KaigiTestClient *self)
{
  GstWebRTCICEConnectionState state;

  g_object_get (webrtc, "ice-connection-state", &state, NULL);
  GST_INFO_OBJECT (webrtc, "%s: ICE connection state %d", self->name, state);
  g_mutex_lock (&self->lock);
  self->ice_connected = (state == GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED ||
                         state == GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED);
  g_mutex_unlock (&self->lock);
}

/* }}} */

/* Chat data channel {{{ */

static gboolean
chat_message_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object;
  const char *type;

  if (self->stopped)
    return G_SOURCE_REMOVE;

  if (!json_parser_load_from_data (parser, hop->text, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      set_failure (self, "chat channel: not a JSON object: %s", hop->text);
      return G_SOURCE_REMOVE;
    }

  object = json_node_get_object (json_parser_get_root (parser));
  type = object_get_string (object, "type");
  if (g_strcmp0 (type, "chat") == 0)
    {
      KaigiTestChat *chat = g_new0 (KaigiTestChat, 1);

      chat->from = g_strdup (object_get_string (object, "from"));
      chat->name = g_strdup (object_get_string (object, "name"));
      chat->text = g_strdup (object_get_string (object, "text"));
      chat->time = g_strdup (object_get_string (object, "time"));
      g_ptr_array_add (self->chats, chat);
    }
  else if (g_strcmp0 (type, "error") == 0)
    {
      self->n_chat_errors++;
    }
  else
    {
      set_failure (self, "chat channel: unexpected message: %s", hop->text);
    }

  return G_SOURCE_REMOVE;
}

static void
on_chat_message_string (GstWebRTCDataChannel *channel,
                        const char           *text,
                        KaigiTestClient      *self)
{
  Hop *hop = hop_new (self);

  hop->text = g_strdup (text);
  schedule (self, chat_message_main, hop);
}

static void
on_chat_message_data (GstWebRTCDataChannel *channel,
                      GBytes               *bytes,
                      KaigiTestClient      *self)
{
  Hop *hop = hop_new (self);
  gsize len = 0;
  const char *data = bytes ? g_bytes_get_data (bytes, &len) : NULL;

  hop->text = g_strndup (data ? data : "", len);
  schedule (self, chat_message_main, hop);
}

static gboolean
data_channel_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autofree char *label = NULL;
  GstWebRTCDataChannelState state;

  if (self->stopped)
    return G_SOURCE_REMOVE;

  g_object_get (hop->channel, "label", &label, "ready-state", &state, NULL);
  if (g_strcmp0 (label, "chat") != 0)
    {
      g_message ("test client %s: ignoring data channel '%s'", self->name, label);
      return G_SOURCE_REMOVE;
    }

  g_set_object (&self->chat, hop->channel);
  self->chat_open = (state == GST_WEBRTC_DATA_CHANNEL_STATE_OPEN);
  return G_SOURCE_REMOVE;
}

static gboolean
data_channel_opened_main (gpointer data)
{
  Hop *hop = data;

  if (hop->self->chat == hop->channel)
    hop->self->chat_open = TRUE;
  return G_SOURCE_REMOVE;
}

static void
on_data_channel_open (GstWebRTCDataChannel *channel,
                      KaigiTestClient      *self)
{
  Hop *hop = hop_new (self);

  hop->channel = g_object_ref (channel);
  schedule (self, data_channel_opened_main, hop);
}

static void
on_data_channel (GstElement           *webrtc,
                 GstWebRTCDataChannel *channel,
                 KaigiTestClient      *self)
{
  Hop *hop = hop_new (self);

  /* Connect here, on webrtcbin's thread, so no message is lost before the
   * hop runs. */
  g_signal_connect_object (channel, "on-message-string",
                           G_CALLBACK (on_chat_message_string), self, 0);
  g_signal_connect_object (channel, "on-message-data",
                           G_CALLBACK (on_chat_message_data), self, 0);
  g_signal_connect_object (channel, "on-open",
                           G_CALLBACK (on_data_channel_open), self, 0);

  hop->channel = g_object_ref (channel);
  schedule (self, data_channel_main, hop);
}

/* }}} */

/* Negotiation (the server offers, we answer) {{{ */

static gboolean
ice_candidate_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autoptr(JsonBuilder) builder = NULL;

  if (self->stopped || self->vanished || self->ws == NULL)
    return G_SOURCE_REMOVE;

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "ice");
  json_builder_set_member_name (builder, "candidate");
  json_builder_add_string_value (builder, hop->text);
  json_builder_set_member_name (builder, "sdpMLineIndex");
  json_builder_add_int_value (builder, hop->mline);
  json_builder_end_object (builder);
  send_builder (self, builder);

  return G_SOURCE_REMOVE;
}

static void
on_ice_candidate (GstElement      *webrtc,
                  guint            mline,
                  const char      *candidate,
                  KaigiTestClient *self)
{
  Hop *hop = hop_new (self);

  hop->mline = mline;
  hop->text = g_strdup (candidate);
  schedule (self, ice_candidate_main, hop);
}

static void
finish_negotiation (KaigiTestClient *self)
{
  g_clear_pointer (&self->offer_sdp, gst_sdp_message_free);
  self->negotiating = FALSE;
  start_next_negotiation (self);
}

/* Returns the error a promise replied with, if any. */
static gboolean
promise_failed (GstPromise  *promise,
                const char  *what,
                char       **message)
{
  const GstStructure *reply;
  g_autoptr(GError) error = NULL;
  GstPromiseResult result = gst_promise_wait (promise);

  if (result != GST_PROMISE_RESULT_REPLIED)
    {
      *message = g_strdup_printf ("%s: promise not replied (result %d)", what, result);
      return TRUE;
    }

  reply = gst_promise_get_reply (promise);
  if (reply != NULL && gst_structure_has_field (reply, "error"))
    {
      gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL);
      *message = g_strdup_printf ("%s failed: %s", what,
                                  error ? error->message : "unknown error");
      return TRUE;
    }

  return FALSE;
}

static gboolean
local_description_set_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autofree char *message = NULL;

  /* After stop_media() webrtcbin refuses everything ("closed"). */
  if (self->stopped || self->media_stopped)
    return G_SOURCE_REMOVE;

  if (promise_failed (hop->promise, "set-local-description", &message))
    {
      set_failure (self, "%s", message);
      finish_negotiation (self);
      return G_SOURCE_REMOVE;
    }

  if (!self->vanished)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "type");
      json_builder_add_string_value (builder, "answer");
      json_builder_set_member_name (builder, "sdp");
      json_builder_add_string_value (builder, self->last_answer);
      json_builder_end_object (builder);
      send_builder (self, builder);
    }
  self->n_answers++;

  if (self->pipeline != NULL)
    {
      g_autofree char *tag = g_strdup_printf ("kaigi-test-%s-answer-%u",
                                              self->name, self->n_answers);
      kaigi_test_client_dump_dot (self, tag);
    }

  finish_negotiation (self);
  return G_SOURCE_REMOVE;
}

static void
on_local_description_set (GstPromise *promise,
                          gpointer    user_data)
{
  KaigiTestClient *self = user_data;
  Hop *hop = hop_new (self);

  hop->promise = gst_promise_ref (promise);
  schedule (self, local_description_set_main, hop);
}

static GstCaps *codec_caps_from_media (const GstSDPMedia *media,
                                       const char        *encoding,
                                       int               *pt_out);

/* Like a browser that cannot decode H.264 (JSEP, RFC 8829 §5.3.1: an
 * m-line with no codec in common is rejected): every m-line on which the
 * server would send H.264 gets port 0 and leaves the BUNDLE group. */
static void
refuse_h264_mlines (GstSDPMessage *sdp)
{
  g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      GstSDPMedia *media = (GstSDPMedia *) gst_sdp_message_get_media (sdp, i);
      const char *mid = gst_sdp_media_get_attribute_val (media, "mid");

      g_autoptr(GstCaps) h264 = NULL;
      gboolean receives = FALSE;

      for (guint a = 0; a < gst_sdp_media_attributes_len (media); a++)
        receives |= g_strcmp0 (gst_sdp_media_get_attribute (media, a)->key, "recvonly") == 0;
      if (!receives || g_strcmp0 (gst_sdp_media_get_media (media), "video") != 0)
        continue;
      h264 = codec_caps_from_media (media, "H264", NULL);
      if (h264 == NULL)
        continue;
      gst_sdp_media_set_port_info (media, 0, 0);
      if (mid != NULL)
        g_ptr_array_add (refused, g_strdup (mid));
    }

  for (guint i = 0; i < gst_sdp_message_attributes_len (sdp); i++)
    {
      const GstSDPAttribute *attr = gst_sdp_message_get_attribute (sdp, i);
      g_auto(GStrv) tokens = NULL;
      g_autoptr(GString) group = NULL;
      GstSDPAttribute replacement;

      if (g_strcmp0 (attr->key, "group") != 0 || attr->value == NULL ||
          !g_str_has_prefix (attr->value, "BUNDLE"))
        continue;
      tokens = g_strsplit (attr->value, " ", -1);
      group = g_string_new ("BUNDLE");
      for (guint t = 1; tokens[t] != NULL; t++)
        if (!g_ptr_array_find_with_equal_func (refused, tokens[t], g_str_equal, NULL))
          g_string_append_printf (group, " %s", tokens[t]);
      gst_sdp_attribute_set (&replacement, "group", group->str);
      gst_sdp_message_replace_attribute (sdp, i, &replacement);
    }
}

static gboolean
answer_created_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autoptr(GstWebRTCSessionDescription) answer = NULL;
  g_autofree char *message = NULL;
  g_autofree char *text = NULL;
  const GstStructure *reply;
  GstPromise *promise;

  /* After stop_media() webrtcbin refuses everything ("closed"). */
  if (self->stopped || self->media_stopped)
    return G_SOURCE_REMOVE;

  if (promise_failed (hop->promise, "create-answer", &message))
    {
      set_failure (self, "%s", message);
      finish_negotiation (self);
      return G_SOURCE_REMOVE;
    }

  /* webrtcbin 1.22 has been seen to reply without an answer on a cold
   * start; that is a failed negotiation, not a crash. */
  reply = gst_promise_get_reply (hop->promise);
  if (reply != NULL)
    gst_structure_get (reply, "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                       &answer, NULL);
  if (answer == NULL || answer->sdp == NULL)
    {
      set_failure (self, "create-answer replied without an answer");
      finish_negotiation (self);
      return G_SOURCE_REMOVE;
    }

  if (self->refuse_h264)
    refuse_h264_mlines (answer->sdp);

  text = gst_sdp_message_as_text (answer->sdp);
  g_free (self->last_answer);
  self->last_answer = g_strdup (text);
  GST_DEBUG ("%s: answer:\n%s", self->name, text);

  /* The answer goes out once set-local-description is done, as a browser
   * app awaiting setLocalDescription() does: webrtcbin 1.22 links a bundle's
   * RTP receive path to its rtpbin only when the local answer is applied,
   * and RTP the server forwards before that (it may start as soon as it has
   * our answer) fails with not-linked, killing the whole receive path. */
  promise = gst_promise_new_with_change_func (on_local_description_set,
                                              g_object_ref (self), g_object_unref);
  g_signal_emit_by_name (self->webrtc, "set-local-description", answer, promise);
  gst_promise_unref (promise);

  return G_SOURCE_REMOVE;
}

static void
on_answer_created (GstPromise *promise,
                   gpointer    user_data)
{
  KaigiTestClient *self = user_data;
  Hop *hop = hop_new (self);

  hop->promise = gst_promise_ref (promise);
  schedule (self, answer_created_main, hop);
}

/* Caps of the first format of @media whose encoding is @encoding, with
 * only the fields that identify the codec (for codec-preferences). */
static GstCaps *
codec_caps_from_media (const GstSDPMedia *media,
                       const char        *encoding,
                       int               *pt_out)
{
  for (guint i = 0; i < gst_sdp_media_formats_len (media); i++)
    {
      const char *format = gst_sdp_media_get_format (media, i);
      int pt = (int) g_ascii_strtoll (format, NULL, 10);
      g_autoptr(GstCaps) caps = gst_sdp_media_get_caps_from_media (media, pt);
      GstStructure *s;
      const char *name;
      int clock_rate = 0;

      if (caps == NULL)
        continue;
      s = gst_caps_get_structure (caps, 0);
      name = gst_structure_get_string (s, "encoding-name");
      if (name == NULL || g_ascii_strcasecmp (name, encoding) != 0)
        continue;

      gst_structure_get_int (s, "clock-rate", &clock_rate);
      if (pt_out != NULL)
        *pt_out = pt;
      return gst_caps_new_simple ("application/x-rtp",
                                  "media", G_TYPE_STRING, gst_sdp_media_get_media (media),
                                  "encoding-name", G_TYPE_STRING, encoding,
                                  "clock-rate", G_TYPE_INT, clock_rate,
                                  "payload", G_TYPE_INT, pt,
                                  NULL);
    }
  return NULL;
}

/* Streaming thread: the level `level` measured on the raw audio */
static GstPadProbeReturn
read_level_meta (GstPad          *pad,
                 GstPadProbeInfo *info,
                 gpointer         user_data)
{
  KaigiTestClient *self = user_data;
  GstAudioLevelMeta *meta = gst_buffer_get_audio_level_meta (GST_PAD_PROBE_INFO_BUFFER (info));

  if (meta)
    g_atomic_int_set (&self->audio_level, meta->level);
  return GST_PAD_PROBE_OK;
}

/* Streaming thread: RFC 6464 §3, one byte (V = 0, level in -dBov) in a
 * one-byte header extension (RFC 8285) with id 1 */
static GstPadProbeReturn
write_audio_level (GstPad          *pad,
                   GstPadProbeInfo *info,
                   gpointer         user_data)
{
  KaigiTestClient *self = user_data;
  GstBuffer *buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  guint8 level = (guint8) MIN (g_atomic_int_get (&self->audio_level), 127);

  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  if (gst_rtp_buffer_map (buffer, GST_MAP_READWRITE, &rtp))
    {
      gst_rtp_buffer_add_extension_onebyte_header (&rtp, 1, &level, 1);
      gst_rtp_buffer_unmap (&rtp);
    }
  return GST_PAD_PROBE_OK;
}

/* Flashes: white frames and a loud beep over the same FLASH_MS, every
 * flash period, both starting at the running time of one video frame, so
 * that a recording's A/V offset can be measured */
#define FLASH_MS 200

/* Streaming threads: the start of the flash at or before @t, or NONE */
static GstClockTime
flash_start (KaigiTestClient *self,
             GstClockTime     t)
{
  GstClockTime first, period = self->flash_period_ms * GST_MSECOND;
  GstClockTime start;
  guint64 frames;

  g_mutex_lock (&self->lock);
  first = self->first_frame;
  g_mutex_unlock (&self->lock);
  if (!GST_CLOCK_TIME_IS_VALID (first) || t < first + period)
    return GST_CLOCK_TIME_NONE;

  /* Periods counted from the first frame; each flash starts on the first
   * frame of its period (periods are whole numbers of frames) */
  start = (t - first) / period * period;
  frames = gst_util_uint64_scale_ceil (start, 15, GST_SECOND);
  start = first + gst_util_uint64_scale (frames, GST_SECOND, 15);
  return t >= start && t < start + FLASH_MS * GST_MSECOND ? start : GST_CLOCK_TIME_NONE;
}

static GstPadProbeReturn
flash_video (GstPad          *pad,
             GstPadProbeInfo *info,
             gpointer         user_data)
{
  KaigiTestClient *self = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  gsize luma;

  g_mutex_lock (&self->lock);
  if (!GST_CLOCK_TIME_IS_VALID (self->first_frame))
    self->first_frame = GST_BUFFER_PTS (buffer);
  g_mutex_unlock (&self->lock);

  if (!GST_CLOCK_TIME_IS_VALID (flash_start (self, GST_BUFFER_PTS (buffer))))
    return GST_PAD_PROBE_OK;

  buffer = gst_buffer_make_writable (buffer);
  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  /* I420 160×120: white is Y 255, U and V 128 */
  luma = 160 * 120;
  if (gst_buffer_map (buffer, &map, GST_MAP_WRITE))
    {
      memset (map.data, 255, MIN (luma, map.size));
      if (map.size > luma)
        memset (map.data + luma, 128, map.size - luma);
      gst_buffer_unmap (buffer, &map);
    }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
flash_audio (GstPad          *pad,
             GstPadProbeInfo *info,
             gpointer         user_data)
{
  KaigiTestClient *self = user_data;
  GstBuffer *buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstMapInfo map;
  gsize i, n;

  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  if (!gst_buffer_map (buffer, &map, GST_MAP_WRITE))
    return GST_PAD_PROBE_OK;

  /* S16 mono 48 kHz: a 1 kHz beep on the flash's samples, silence elsewhere */
  n = map.size / 2;
  for (i = 0; i < n; i++)
    {
      GstClockTime t = pts + gst_util_uint64_scale (i, GST_SECOND, 48000);
      GstClockTime start = flash_start (self, t);
      gint16 *sample = (gint16 *) map.data + i;

      *sample = GST_CLOCK_TIME_IS_VALID (start)
                ? (gint16) (20000 * sin (2 * G_PI * 1000 * (double) (t - start) / GST_SECOND))
                : 0;
    }
  gst_buffer_unmap (buffer, &map);
  return GST_PAD_PROBE_OK;
}

/* Streaming threads: the payload of every packet the client publishes
 * turned into random bytes (a fixed seed per client) behind what a
 * receiver needs to route it: the VP8 payload descriptor (RFC 7741 §4.2)
 * and, at the start of a frame, its 10-byte key frame header (RFC 6386
 * §9.1: the frame tag and the picture size), or the Opus TOC byte
 * (RFC 6716 §3.1). The RTP header and its extensions stay valid. */
/* What a garbling client's payloader probe keeps */
typedef struct
{
  GRand *rand;
  gboolean vp8;
} Scrambler;

static void
scrambler_free (gpointer data)
{
  Scrambler *scrambler = data;

  g_rand_free (scrambler->rand);
  g_free (scrambler);
}

/* Streaming threads: the payload of a packet the client publishes turned
 * into random bytes (a fixed seed per track) behind what a receiver needs
 * to route it: the VP8 payload descriptor (RFC 7741 §4.2) and, at the
 * start of a frame, its 10-byte key frame header (RFC 6386 §9.1: the
 * frame tag and the picture size), or the Opus TOC byte (RFC 6716 §3.1).
 * The RTP header and its extensions stay valid. */
static gboolean
scramble_packet (GstBuffer **buffer,
                 guint       idx,
                 gpointer    user_data)
{
  Scrambler *scrambler = user_data;
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  guint8 *payload;
  guint size, keep = 1, i;

  *buffer = gst_buffer_make_writable (*buffer);
  if (!gst_rtp_buffer_map (*buffer, GST_MAP_READWRITE, &rtp))
    return TRUE;
  payload = gst_rtp_buffer_get_payload (&rtp);
  size = gst_rtp_buffer_get_payload_len (&rtp);
  if (scrambler->vp8 && size > 0)
    {
      if ((payload[0] & 0x80) && size > 1)
        {
          guint8 x = payload[1];

          keep = 2;
          if (x & 0x80)
            keep += size > keep && (payload[keep] & 0x80) ? 2 : 1;
          if (x & 0x40)
            keep++;
          if (x & 0x30)
            keep++;
        }
      if (payload[0] & 0x10)
        keep += 10;
    }
  for (i = keep; i < size; i++)
    payload[i] = (guint8) g_rand_int (scrambler->rand);
  gst_rtp_buffer_unmap (&rtp);
  return TRUE;
}

/* Streaming threads: rtpvp8pay pushes a frame's packets as one list */
static GstPadProbeReturn
scramble_payload (GstPad          *pad,
                  GstPadProbeInfo *info,
                  gpointer         user_data)
{
  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));

      gst_buffer_list_foreach (list, scramble_packet, user_data);
      GST_PAD_PROBE_INFO_DATA (info) = list;
    }
  else
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);

      scramble_packet (&buffer, 0, user_data);
      GST_PAD_PROBE_INFO_DATA (info) = buffer;
    }
  return GST_PAD_PROBE_OK;
}

/* Streaming thread: the client's VP8 key frames claim another picture
 * size in their header (RFC 6386 §9.1: after the frame tag and the start
 * code, width and height, 14 bits each, little endian) */
static GstPadProbeReturn
claim_size (GstPad          *pad,
            GstPadProbeInfo *info,
            gpointer         user_data)
{
  KaigiTestClient *self = user_data;
  GstBuffer *buffer = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstMapInfo map;

  GST_PAD_PROBE_INFO_DATA (info) = buffer;
  if (gst_buffer_map (buffer, &map, GST_MAP_READWRITE))
    {
      if (map.size >= 10 && !(map.data[0] & 0x01))
        {
          GST_WRITE_UINT16_LE (map.data + 6, (GST_READ_UINT16_LE (map.data + 6) & 0xc000) |
                                             (self->claimed_width & 0x3fff));
          GST_WRITE_UINT16_LE (map.data + 8, (GST_READ_UINT16_LE (map.data + 8) & 0xc000) |
                                             (self->claimed_height & 0x3fff));
        }
      gst_buffer_unmap (buffer, &map);
    }
  return GST_PAD_PROBE_OK;
}

static GstElement *
make_source_branch (KaigiTestClient *self,
                    gboolean         is_video,
                    int              pt,
                    GError         **error)
{
  g_autofree char *description = NULL;
  g_autoptr(GstElement) pay = NULL;
  GstElement *bin;

  if (is_video && self->h264)
    description = g_strdup_printf (
      "videotestsrc name=camera is-live=true pattern=solid-color foreground-color=0x%08X ! "
      "video/x-raw,width=160,height=120,framerate=15/1 ! "
      "x264enc name=encoder tune=zerolatency speed-preset=ultrafast key-int-max=60 "
      "bitrate=200 threads=1 ! video/x-h264,profile=constrained-baseline ! "
      "rtph264pay name=pay mtu=1200 config-interval=-1 aggregate-mode=zero-latency",
      0xFF000000u | self->rgb);
  else if (is_video)
    description = g_strdup_printf (
      "videotestsrc name=camera is-live=true pattern=solid-color foreground-color=0x%08X ! "
      "video/x-raw,width=160,height=120,framerate=15/1 ! "
      "vp8enc name=encoder deadline=1 cpu-used=16 threads=1 keyframe-max-dist=60 "
      "target-bitrate=200000 error-resilient=default lag-in-frames=0 ! "
      "rtpvp8pay name=pay mtu=1200 picture-id-mode=15-bit",
      0xFF000000u | self->rgb);
  else
    description = g_strdup_printf (
      "audiotestsrc name=tone is-live=true wave=sine freq=%.1f volume=%f "
      "samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! "
      "level name=meter audio-level-meta=true post-messages=false ! "
      "opusenc bitrate=32000 frame-size=20 ! rtpopuspay name=pay mtu=1200",
      self->frequency, self->volume);

  bin = gst_parse_bin_from_description (description, TRUE, error);
  if (bin == NULL)
    return NULL;

  pay = gst_bin_get_by_name (GST_BIN (bin), "pay");
  g_object_set (pay, "pt", (guint) pt, NULL);
  if (!is_video)
    {
      /* Like a browser: the RFC 6464 level of each packet, measured by
       * `level` (GstAudioLevelMeta) and written into the header extension
       * id 1 that the server offers */
      g_autoptr(GstElement) meter = gst_bin_get_by_name (GST_BIN (bin), "meter");
      g_autoptr(GstPad) meter_src = gst_element_get_static_pad (meter, "src");
      g_autoptr(GstPad) pay_src = gst_element_get_static_pad (pay, "src");

      gst_pad_add_probe (meter_src, GST_PAD_PROBE_TYPE_BUFFER, read_level_meta, self, NULL);
      if (!self->no_level_extension)
        gst_pad_add_probe (pay_src, GST_PAD_PROBE_TYPE_BUFFER, write_audio_level, self, NULL);
      self->tone = gst_bin_get_by_name (GST_BIN (bin), "tone");
    }

  if (is_video && self->claimed_width > 0)
    {
      g_autoptr(GstElement) encoder = gst_bin_get_by_name (GST_BIN (bin), "encoder");
      g_autoptr(GstPad) encoder_src = gst_element_get_static_pad (encoder, "src");

      gst_pad_add_probe (encoder_src, GST_PAD_PROBE_TYPE_BUFFER, claim_size, self, NULL);
    }

  if (self->garbage)
    {
      g_autoptr(GstPad) pay_src = gst_element_get_static_pad (pay, "src");
      Scrambler *scrambler = g_new0 (Scrambler, 1);

      scrambler->rand = g_rand_new_with_seed (self->rgb ^ (is_video ? 0x5A5A : 0xA5A5));
      scrambler->vp8 = is_video;
      gst_pad_add_probe (pay_src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
                         scramble_payload, scrambler, scrambler_free);
    }

  if (self->flash_period_ms > 0)
    {
      g_autoptr(GstElement) source = gst_bin_get_by_name (GST_BIN (bin), is_video ? "camera" : "tone");
      g_autoptr(GstPad) src = gst_element_get_static_pad (source, "src");

      gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, is_video ? flash_video : flash_audio, self, NULL);
    }

  return bin;
}

/* Publish on m-line @mline. In webrtcbin 1.22 setting a remote offer
 * creates no transceivers (create-answer does), so requesting "sink_N"
 * creates a new transceiver locked to m-line N. It is made sendonly with
 * the offer's codec before create-answer picks transceivers for m-lines. */
static gboolean
link_source_branch (KaigiTestClient *self,
                    gboolean         is_video,
                    guint            mline,
                    GstCaps         *codec,
                    int              pt)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstPad) sinkpad = NULL;
  g_autoptr(GstPad) srcpad = NULL;
  g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;
  g_autofree char *pad_name = g_strdup_printf ("sink_%u", mline);
  GstPadTemplate *templ;
  GstElement *bin;

  templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self->webrtc),
                                              "sink_%u");
  sinkpad = gst_element_request_pad (self->webrtc, templ, pad_name, codec);
  if (sinkpad == NULL)
    {
      set_failure (self, "webrtcbin refused sink pad %s", pad_name);
      return FALSE;
    }

  g_object_get (sinkpad, "transceiver", &trans, NULL);
  if (trans == NULL)
    {
      set_failure (self, "sink pad %s has no transceiver", pad_name);
      return FALSE;
    }
  g_object_set (trans,
                "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY,
                "codec-preferences", codec,
                "do-nack", TRUE,
                NULL);

  bin = make_source_branch (self, is_video, pt, &error);
  if (bin == NULL)
    {
      set_failure (self, "cannot build %s source: %s",
                   is_video ? "video" : "audio", error->message);
      return FALSE;
    }

  gst_bin_add (GST_BIN (self->pipeline), bin);
  srcpad = gst_element_get_static_pad (bin, "src");
  if (gst_pad_link (srcpad, sinkpad) != GST_PAD_LINK_OK)
    {
      set_failure (self, "cannot link %s source to %s",
                   is_video ? "video" : "audio", pad_name);
      return FALSE;
    }
  gst_element_sync_state_with_parent (bin);

  if (is_video)
    {
      self->video_branch = bin;
      g_set_object (&self->video_sinkpad, sinkpad);
    }
  else
    {
      self->audio_branch = bin;
      g_set_object (&self->audio_sinkpad, sinkpad);
    }
  return TRUE;
}

/* A client without a camera/microphone still answers the publish m-lines
 * sendonly (docs/protocol.md), as a browser does before replaceTrack(). */
static void
add_idle_sender (KaigiTestClient *self,
                 gboolean         is_video,
                 GstCaps         *codec)
{
  g_autoptr(GstWebRTCRTPTransceiver) trans = NULL;

  g_signal_emit_by_name (self->webrtc, "add-transceiver",
                         GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, codec, &trans);
  if (trans == NULL)
    {
      set_failure (self, "cannot add an idle %s sender", is_video ? "video" : "audio");
      return;
    }
  self->idle_sender[is_video] = TRUE;
}

static void
configure_publishing (KaigiTestClient *self)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (self->offer_sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (self->offer_sdp, i);
      const char *mid = gst_sdp_media_get_attribute_val (media, "mid");
      const char *kind = gst_sdp_media_get_media (media);
      g_autoptr(GstCaps) codec = NULL;
      gboolean is_video = g_strcmp0 (kind, "video") == 0;
      gboolean publishes;
      int pt = -1;

      if (!is_video && g_strcmp0 (kind, "audio") != 0)
        continue;
      if (mid == NULL || g_strcmp0 (mid, self->publish_mid[is_video]) != 0)
        continue;

      publishes = is_video ? self->publish_video : self->publish_audio;
      if ((publishes && (is_video ? self->video_branch : self->audio_branch) != NULL) ||
          (!publishes && self->idle_sender[is_video]))
        continue;               /* set up by an earlier negotiation */

      codec = codec_caps_from_media (media, is_video ? (self->h264 ? "H264" : "VP8") : "OPUS", &pt);
      if (codec == NULL)
        {
          set_failure (self, "offer m-line %u (%s) has no %s", i, mid,
                       is_video ? (self->h264 ? "H.264" : "VP8") : "Opus");
          continue;
        }

      if (publishes)
        link_source_branch (self, is_video, i, codec, pt);
      else
        add_idle_sender (self, is_video, codec);
    }
}

static gboolean
sink_pads_ready (KaigiTestClient *self)
{
  return (self->audio_sinkpad == NULL || gst_pad_has_current_caps (self->audio_sinkpad)) &&
         (self->video_sinkpad == NULL || gst_pad_has_current_caps (self->video_sinkpad));
}

static gboolean
create_answer_when_ready (gpointer user_data)
{
  KaigiTestClient *self = user_data;
  GstPromise *promise;

  if (self->stopped)
    {
      self->answer_wait_source = 0;
      return G_SOURCE_REMOVE;
    }

  /* The answer only carries our a=ssrc lines (which the server needs to
   * tell our bundled streams apart) once the sink pads know their caps;
   * wait for the encoders a little rather than answer without them. */
  if (!sink_pads_ready (self))
    {
      if (g_get_monotonic_time () < self->answer_deadline)
        return G_SOURCE_CONTINUE;
      g_message ("test client %s: sink pads still without caps, answering anyway",
                 self->name);
    }

  self->answer_wait_source = 0;
  promise = gst_promise_new_with_change_func (on_answer_created,
                                              g_object_ref (self), g_object_unref);
  g_signal_emit_by_name (self->webrtc, "create-answer", NULL, promise);
  gst_promise_unref (promise);

  return G_SOURCE_REMOVE;
}

static gboolean
remote_description_set_main (gpointer data)
{
  Hop *hop = data;
  KaigiTestClient *self = hop->self;
  g_autofree char *message = NULL;

  /* After stop_media() webrtcbin refuses everything ("closed"). */
  if (self->stopped || self->media_stopped)
    return G_SOURCE_REMOVE;

  if (promise_failed (hop->promise, "set-remote-description", &message))
    {
      set_failure (self, "%s", message);
      finish_negotiation (self);
      return G_SOURCE_REMOVE;
    }

  configure_publishing (self);

  self->answer_deadline = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  if (create_answer_when_ready (self) == G_SOURCE_CONTINUE)
    {
      GSource *source = g_timeout_source_new (10);

      g_source_set_callback (source, create_answer_when_ready, self, NULL);
      g_source_set_static_name (source, "[kaigi-test-client] answer");
      self->answer_wait_source = g_source_attach (source, self->context);
      g_source_unref (source);
    }

  return G_SOURCE_REMOVE;
}

static void
on_remote_description_set (GstPromise *promise,
                           gpointer    user_data)
{
  KaigiTestClient *self = user_data;
  const GstStructure *reply;
  Hop *hop;

  /* webrtcbin 1.22 knows the offer's a=ssrc lines from here on, but makes
   * the transceivers of new m-lines only in create-answer; a jitterbuffer
   * created in between (a stream starting elsewhere in the bundle) hits
   * g_warn_if_reached() in jitter_buffer_set_retransmission(). When there
   * is nothing to set up first, ask for the answer at once, from this
   * thread, to keep that window minimal. */
  if (self->answer_directly &&
      gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED &&
      ((reply = gst_promise_get_reply (promise)) == NULL ||
       !gst_structure_has_field (reply, "error")))
    {
      GstPromise *answer = gst_promise_new_with_change_func (on_answer_created,
                                                             g_object_ref (self),
                                                             g_object_unref);

      g_signal_emit_by_name (self->webrtc, "create-answer", NULL, answer);
      gst_promise_unref (answer);
      return;
    }

  hop = hop_new (self);
  hop->promise = gst_promise_ref (promise);
  schedule (self, remote_description_set_main, hop);
}

/* Whether @sdp asks for sending we have not set up yet. */
static gboolean
needs_publish_setup (KaigiTestClient    *self,
                     const GstSDPMessage *sdp)
{
  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);
      const char *mid = gst_sdp_media_get_attribute_val (media, "mid");
      gboolean is_video = g_strcmp0 (gst_sdp_media_get_media (media), "video") == 0;
      gboolean publishes = is_video ? self->publish_video : self->publish_audio;

      if (mid == NULL || g_strcmp0 (mid, self->publish_mid[is_video]) != 0)
        continue;
      if (publishes ? (is_video ? self->video_branch : self->audio_branch) == NULL
                    : !self->idle_sender[is_video])
        return TRUE;
    }
  return FALSE;
}

static void
negotiate (KaigiTestClient *self,
           JsonObject      *offer)
{
  g_autoptr(GstSDPMessage) sdp = NULL;
  GstWebRTCSessionDescription *desc;
  GstPromise *promise;
  JsonObject *publish = NULL;
  JsonArray *tracks = NULL;
  const char *text = object_get_string (offer, "sdp");

  self->negotiating = TRUE;

  g_free (self->last_offer);
  self->last_offer = g_strdup (text);
  GST_DEBUG ("%s: offer:\n%s", self->name, text);

  if (text == NULL || gst_sdp_message_new_from_text (text, &sdp) != GST_SDP_OK ||
      gst_sdp_message_medias_len (sdp) == 0)
    {
      set_failure (self, "offer %u has no usable SDP", self->n_offers);
      finish_negotiation (self);
      return;
    }

  if (json_object_has_member (offer, "publish") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (offer, "publish")))
    publish = json_object_get_object_member (offer, "publish");
  g_free (self->publish_mid[0]);
  g_free (self->publish_mid[1]);
  self->publish_mid[0] = g_strdup (publish ? object_get_string (publish, "audio") : NULL);
  self->publish_mid[1] = g_strdup (publish ? object_get_string (publish, "video") : NULL);

  if (json_object_has_member (offer, "tracks") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (offer, "tracks")))
    tracks = json_object_get_array_member (offer, "tracks");

  g_mutex_lock (&self->lock);
  g_ptr_array_set_size (self->tracks, 0);
  for (guint i = 0; tracks != NULL && i < json_array_get_length (tracks); i++)
    {
      JsonNode *node = json_array_get_element (tracks, i);
      JsonObject *t;
      TrackEntry *entry;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      t = json_node_get_object (node);
      entry = g_new0 (TrackEntry, 1);
      entry->mid = g_strdup (object_get_string (t, "mid"));
      entry->participant = g_strdup (object_get_string (t, "participant"));
      entry->kind = g_strdup (object_get_string (t, "kind"));
      g_ptr_array_add (self->tracks, entry);
    }
  g_hash_table_remove_all (self->mline_mids);
  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      const char *mid = gst_sdp_media_get_attribute_val (gst_sdp_message_get_media (sdp, i), "mid");

      if (mid != NULL)
        g_hash_table_insert (self->mline_mids, GUINT_TO_POINTER (i + 1), g_strdup (mid));
    }
  g_mutex_unlock (&self->lock);

  /* Keep a copy for configure_publishing(); webrtcbin takes the other. */
  gst_sdp_message_copy (sdp, &self->offer_sdp);
  self->answer_directly = !needs_publish_setup (self, sdp);
  desc = gst_webrtc_session_description_new (GST_WEBRTC_SDP_TYPE_OFFER,
                                             g_steal_pointer (&sdp));
  promise = gst_promise_new_with_change_func (on_remote_description_set,
                                              g_object_ref (self), g_object_unref);
  g_signal_emit_by_name (self->webrtc, "set-remote-description", desc, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (desc);
}

static void
start_next_negotiation (KaigiTestClient *self)
{
  JsonObject *offer;

  if (self->negotiating || self->hold_offers || self->stopped || self->media_stopped)
    return;

  offer = g_queue_pop_head (&self->pending_offers);
  if (offer == NULL)
    return;

  negotiate (self, offer);
  json_object_unref (offer);
}

/* }}} */

/* Signaling {{{ */

static void
handle_message (KaigiTestClient *self,
                JsonObject      *object)
{
  const char *type = object_get_string (object, "type");

  if (type != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->message_counts, type));

      g_hash_table_replace (self->last_messages, g_strdup (type), json_to_string (node, FALSE));
      g_hash_table_replace (self->message_counts, g_strdup (type), GUINT_TO_POINTER (n + 1));
    }

  if (g_strcmp0 (type, "joined") == 0)
    {
      JsonArray *participants = NULL;

      g_free (self->id);
      self->id = g_strdup (object_get_string (object, "id"));
      self->joined = TRUE;
      if (json_object_has_member (object, "participants") &&
          JSON_NODE_HOLDS_ARRAY (json_object_get_member (object, "participants")))
        participants = json_object_get_array_member (object, "participants");
      for (guint i = 0; participants != NULL && i < json_array_get_length (participants); i++)
        {
          JsonNode *node = json_array_get_element (participants, i);
          KaigiTestParticipant *p =
            participant_from_json (JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL);

          if (p != NULL)
            g_hash_table_replace (self->roster, p->id, p);
        }
    }
  else if (g_strcmp0 (type, "offer") == 0)
    {
      self->n_offers++;
      g_queue_push_tail (&self->pending_offers, json_object_ref (object));
      start_next_negotiation (self);
    }
  else if (g_strcmp0 (type, "ice") == 0)
    {
      const char *candidate = object_get_string (object, "candidate");
      JsonNode *index = json_object_get_member (object, "sdpMLineIndex");

      if (candidate != NULL && *candidate != '\0' && index != NULL &&
          JSON_NODE_HOLDS_VALUE (index))
        g_signal_emit_by_name (self->webrtc, "add-ice-candidate",
                               (guint) json_node_get_int (index), candidate);
    }
  else if (g_strcmp0 (type, "participant-joined") == 0 ||
           g_strcmp0 (type, "participant-updated") == 0)
    {
      JsonNode *node = json_object_get_member (object, "participant");
      KaigiTestParticipant *p =
        participant_from_json (node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL);

      if (p == NULL)
        {
          set_failure (self, "%s without a participant", type);
          return;
        }
      if (type[12] == 'u')
        self->n_updates++;
      g_hash_table_replace (self->roster, p->id, p);
    }
  else if (g_strcmp0 (type, "participant-left") == 0)
    {
      const char *id = object_get_string (object, "id");

      if (id == NULL)
        return;
      g_hash_table_remove (self->roster, id);
      g_hash_table_replace (self->left, g_strdup (id),
                            g_strdup (object_get_string (object, "reason")));
    }
  else if (g_strcmp0 (type, "pong") == 0)
    {
      self->n_pongs++;
    }
  else if (g_strcmp0 (type, "speaker") == 0 || g_strcmp0 (type, "recording") == 0)
    {
      /* Kept whole for the test to read */
    }
  else if (g_strcmp0 (type, "error") == 0)
    {
      const char *code = object_get_string (object, "code");

      g_message ("test client %s: error %s: %s (request %s)", self->name, code,
                 object_get_string (object, "message"),
                 object_get_string (object, "request"));
      g_ptr_array_add (self->errors, g_strdup (code ? code : "(none)"));
    }
  else
    {
      g_message ("test client %s: unknown message type %s", self->name, type);
    }
}

static void
on_ws_message (SoupWebsocketConnection *ws,
               SoupWebsocketDataType    data_type,
               GBytes                  *message,
               KaigiTestClient         *self)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  JsonNode *root;

  if (self->stopped || self->vanished)
    return;

  if (data_type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      set_failure (self, "server sent a binary frame");
      return;
    }

  if (!json_parser_load_from_data (parser, data, (gssize) len, &error))
    {
      set_failure (self, "server sent invalid JSON: %s", error->message);
      return;
    }

  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      set_failure (self, "server sent a non-object");
      return;
    }

  handle_message (self, json_node_get_object (root));
}

static void
on_ws_closed (SoupWebsocketConnection *ws,
              KaigiTestClient         *self)
{
  self->closed = TRUE;
  self->connected = FALSE;
  self->close_code = soup_websocket_connection_get_close_code (ws);
  g_message ("test client %s: WebSocket closed (code %u)", self->name, self->close_code);
  if (self->ping_source != NULL)
    {
      g_source_destroy (self->ping_source);
      g_clear_pointer (&self->ping_source, g_source_unref);
    }
}

static void
on_ws_error (SoupWebsocketConnection *ws,
             GError                  *error,
             KaigiTestClient         *self)
{
  g_message ("test client %s: WebSocket error: %s", self->name, error->message);
}

static gboolean
on_ping_timeout (gpointer user_data)
{
  KaigiTestClient *self = user_data;

  if (!self->vanished && self->connected)
    send_simple (self, "ping");
  return G_SOURCE_CONTINUE;
}

static void
start_pinging (KaigiTestClient *self)
{
  if (self->ping_source != NULL)
    {
      g_source_destroy (self->ping_source);
      g_clear_pointer (&self->ping_source, g_source_unref);
    }
  if (!self->connected || self->vanished || self->ping_interval_ms == 0)
    return;

  self->ping_source = g_timeout_source_new (self->ping_interval_ms);
  g_source_set_callback (self->ping_source, on_ping_timeout, self, NULL);
  g_source_set_static_name (self->ping_source, "[kaigi-test-client] ping");
  g_source_attach (self->ping_source, self->context);
}

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(KaigiTestClient) self = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *ws;

  ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (ws == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          set_failure (self, "WebSocket connect failed: %s", error->message);
          self->closed = TRUE;
        }
      return;
    }

  self->ws = ws;
  self->connected = TRUE;
  soup_websocket_connection_set_max_incoming_payload_size (ws, MAX_INCOMING_PAYLOAD);
  g_signal_connect (ws, "message", G_CALLBACK (on_ws_message), self);
  g_signal_connect (ws, "closed", G_CALLBACK (on_ws_closed), self);
  g_signal_connect (ws, "error", G_CALLBACK (on_ws_error), self);

  start_pinging (self);

  if (self->auto_join)
    kaigi_test_client_send_join (self);
}

/* }}} */

/* GObject {{{ */

static gboolean
on_bus_message (GstBus     *bus,
                GstMessage *message,
                gpointer    user_data)
{
  KaigiTestClient *self = user_data;

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      if (self->media_stopped)
        break;
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *debug = NULL;
        g_autofree char *tag = g_strdup_printf ("kaigi-test-%s-error", self->name);

        gst_message_parse_error (message, &error, &debug);
        set_failure (self, "pipeline error from %s: %s (%s)",
                     GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), error->message,
                     debug ? debug : "");
        kaigi_test_client_dump_dot (self, tag);
        break;
      }
    case GST_MESSAGE_WARNING:
      {
        g_autoptr(GError) error = NULL;

        gst_message_parse_warning (message, &error, NULL);
        g_message ("test client %s: pipeline warning from %s: %s", self->name,
                   GST_OBJECT_NAME (GST_MESSAGE_SRC (message)), error->message);
        break;
      }
    case GST_MESSAGE_LATENCY:
      /* Like a browser, send correct RTCP sender reports: rtpsession maps a
       * packet's PTS to the SR's RTP time only once a LATENCY event has
       * reached it (with rtcp-sync-send-time), and webrtcbin's send chain is
       * built after the pipeline went to PLAYING. Without this every SR
       * claimed an RTP time that ran ahead by the whole running time, and
       * the server's lip sync (RFC 3550 §6.4.1) discarded them. */
      gst_bin_recalculate_latency (GST_BIN (self->pipeline));
      break;
    default:
      break;
    }
  return G_SOURCE_CONTINUE;
}

static void
set_pipeline_null (GstElement *pipeline,
                   gpointer    user_data)
{
  gint64 start = g_get_monotonic_time ();

  gst_element_set_state (pipeline, GST_STATE_NULL);
  GST_DEBUG_OBJECT (pipeline, "stopped in %" G_GINT64_FORMAT " ms",
                    (g_get_monotonic_time () - start) / 1000);
}

/* Stops all media for good (leave, close, vanish). Returns at once; the
 * pipeline reaches NULL on a GStreamer thread, and at the latest in
 * dispose. */
static void
stop_media (KaigiTestClient *self)
{
  if (self->pipeline == NULL || self->media_stopped)
    return;

  self->media_stopped = TRUE;
  g_mutex_lock (&self->branch_lock);
  self->branches_closed = TRUE;
  g_mutex_unlock (&self->branch_lock);

  /* Off the main context: taking a webrtcbin to NULL has been seen to
   * block for most of a second, and the server under test shares this
   * main context (a stalled loop makes everyone look idle). */
  gst_element_call_async (self->pipeline, set_pipeline_null, NULL, NULL);
  if (self->webrtc != NULL)
    g_signal_handlers_disconnect_by_data (self->webrtc, self);
  if (self->chat != NULL)
    g_signal_handlers_disconnect_by_data (self->chat, self);
}

static void
kaigi_test_client_dispose (GObject *object)
{
  KaigiTestClient *self = KAIGI_TEST_CLIENT (object);

  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);

  if (self->ping_source != NULL)
    {
      g_source_destroy (self->ping_source);
      g_clear_pointer (&self->ping_source, g_source_unref);
    }

  if (self->ws != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->ws, self);
      if (soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
      g_clear_object (&self->ws);
    }

  stop_media (self);
  /* Waits for an asynchronous stop in progress (the state lock): no
   * streaming thread may outlive the client. */
  if (self->pipeline != NULL)
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
  if (self->bus_watch != 0)
    {
      g_autoptr(GstBus) bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));

      gst_bus_remove_watch (bus);
      self->bus_watch = 0;
    }
  g_clear_object (&self->chat);
  g_clear_object (&self->tone);
  if (self->answer_wait_source != 0)
    {
      GSource *source = g_main_context_find_source_by_id (self->context,
                                                          self->answer_wait_source);
      if (source != NULL)
        g_source_destroy (source);
      self->answer_wait_source = 0;
    }
  g_clear_object (&self->audio_sinkpad);
  g_clear_object (&self->video_sinkpad);
  self->audio_branch = NULL;
  self->video_branch = NULL;
  self->webrtc = NULL;
  g_clear_object (&self->pipeline);

  g_queue_clear_full (&self->pending_offers, (GDestroyNotify) json_object_unref);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (kaigi_test_client_parent_class)->dispose (object);
}

static void
kaigi_test_client_finalize (GObject *object)
{
  KaigiTestClient *self = KAIGI_TEST_CLIENT (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->offer_sdp, gst_sdp_message_free);
  g_free (self->room);
  g_free (self->name);
  g_strfreev (self->video_codecs);
  g_free (self->id);
  g_free (self->failure);
  g_free (self->last_offer);
  g_free (self->last_answer);
  g_free (self->publish_mid[0]);
  g_free (self->publish_mid[1]);
  g_hash_table_unref (self->roster);
  g_hash_table_unref (self->left);
  g_ptr_array_unref (self->errors);
  g_hash_table_unref (self->last_messages);
  g_hash_table_unref (self->message_counts);
  g_ptr_array_unref (self->chats);
  g_ptr_array_unref (self->tracks);
  g_hash_table_unref (self->mline_mids);
  g_hash_table_unref (self->stats);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->branch_lock);
  g_main_context_unref (self->context);

  G_OBJECT_CLASS (kaigi_test_client_parent_class)->finalize (object);
}

static void
kaigi_test_client_class_init (KaigiTestClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kaigi_test_client_dispose;
  object_class->finalize = kaigi_test_client_finalize;

  GST_DEBUG_CATEGORY_INIT (kaigi_test_client_debug, "kaigi-test-client", 0,
                           "Kaigi integration test client");
}

static void
kaigi_test_client_init (KaigiTestClient *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->branch_lock);
  self->auto_join = TRUE;
  self->ping_interval_ms = DEFAULT_PING_INTERVAL_MS;
  self->volume = 0.5;
  self->first_frame = GST_CLOCK_TIME_NONE;
  self->cancellable = g_cancellable_new ();
  self->roster = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, participant_free);
  self->left = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->errors = g_ptr_array_new_with_free_func (g_free);
  self->last_messages = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->message_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->chats = g_ptr_array_new_with_free_func (chat_free);
  self->tracks = g_ptr_array_new_with_free_func (track_entry_free);
  self->mline_mids = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->stats = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&self->pending_offers);
}

/* }}} */

/* Public API {{{ */

/**
 * kaigi_test_run:
 *
 * Runs the registered tests (g_test_run()), then shuts GStreamer down with
 * gst_deinit(). That waits for every thread of GStreamer's task pool and
 * of gst_element_call_async() to end, so the program exits with no
 * streaming thread left and LeakSanitizer's check at exit scans a quiet
 * process. A pipeline still playing by then is a bug of the test, and
 * hangs here until the test's time-out. Main thread only; call it last.
 *
 * Returns: g_test_run()'s result, for main() to return
 */
int
kaigi_test_run (void)
{
  int status = g_test_run ();

  gst_deinit ();
  return status;
}

/**
 * kaigi_test_client_check_plugins:
 * @missing: (out) (optional) (transfer full): the names of missing elements,
 *   space-separated, or %NULL
 *
 * Checks that every GStreamer element a test client needs is installed, so a
 * test can skip instead of failing. gst_init() must have been called.
 *
 * Returns: %TRUE if everything is there
 */
gboolean
kaigi_test_client_check_plugins (char **missing)
{
  static const char *const elements[] = {
    "webrtcbin", "nicesrc", "nicesink", "dtlssrtpenc", "dtlssrtpdec",
    "srtpenc", "srtpdec", "sctpenc", "sctpdec", "rtpbin", "rtpfunnel",
    "videotestsrc", "audiotestsrc", "vp8enc", "vp8dec", "rtpvp8pay",
    "rtpvp8depay", "opusenc", "opusdec", "rtpopuspay", "rtpopusdepay",
    "videoconvert", "audioconvert", "audioresample", "appsink", "queue",
    "capsfilter", "fakesink",
  };
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (elements); i++)
    {
      g_autoptr(GstElementFactory) factory = gst_element_factory_find (elements[i]);

      if (factory == NULL)
        g_string_append_printf (names, "%s%s", names->len ? " " : "", elements[i]);
    }

  if (missing != NULL)
    *missing = names->len ? g_strdup (names->str) : NULL;
  return names->len == 0;
}

/**
 * kaigi_test_client_new:
 * @port: the Kaigi server's port on 127.0.0.1
 * @room: the room to join (sent as is, may be invalid on purpose)
 * @name: the display name (sent as is)
 * @rgb: the solid colour of the published video, 0xRRGGBB
 * @audio: whether to publish a tone
 * @video: whether to publish video
 *
 * Creates a test client bound to the thread-default main context. Nothing
 * happens until kaigi_test_client_connect().
 *
 * Returns: (transfer full): a new client
 */
static void
on_webrtcbin_deep_element_added (GstBin     *bin,
                                 GstBin     *sub_bin,
                                 GstElement *element,
                                 gpointer    user_data)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  if (factory && g_str_equal (GST_OBJECT_NAME (factory), "rtpjitterbuffer"))
    g_object_set (element, "rtx-next-seqnum", FALSE, NULL);
}

KaigiTestClient *
kaigi_test_client_new (guint       port,
                       const char *room,
                       const char *name,
                       guint32     rgb,
                       gboolean    audio,
                       gboolean    video)
{
  KaigiTestClient *self;
  g_autoptr(GObject) ice = NULL;
  g_autoptr(GObject) agent = NULL;
  g_autoptr(GstBus) bus = NULL;

  g_return_val_if_fail (port > 0, NULL);
  g_return_val_if_fail (room != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  self = g_object_new (KAIGI_TEST_TYPE_CLIENT, NULL);
  self->port = port;
  self->room = g_strdup (room);
  self->name = g_strdup (name);
  self->rgb = rgb & 0xFFFFFF;
  self->publish_audio = audio;
  self->publish_video = video;
  /* A distinct, stable tone per colour. */
  self->frequency = 300.0 + (double) (g_int_hash (&self->rgb) % 8) * 110.0;
  self->context = g_main_context_ref_thread_default ();

  self->pipeline = gst_pipeline_new (name);
  self->webrtc = gst_element_factory_make ("webrtcbin", "webrtc");
  g_object_set (self->webrtc,
                "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE,
                "latency", 50,
                NULL);
  g_object_get (self->webrtc, "ice-agent", &ice, NULL);
  if (ice != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
    {
      g_object_get (ice, "agent", &agent, NULL);
      if (agent != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
        g_object_set (agent, "upnp", FALSE, NULL);
    }
  if (ice != NULL && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "ice-tcp"))
    g_object_set (ice, "ice-tcp", FALSE, NULL);

  /* As on the server: without this, webrtcbin's jitterbuffers count
   * late-but-present video packets as lost and drop them */
  g_signal_connect (self->webrtc, "deep-element-added",
                    G_CALLBACK (on_webrtcbin_deep_element_added), NULL);
  gst_bin_add (GST_BIN (self->pipeline), self->webrtc);

  g_signal_connect (self->webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate), self);
  g_signal_connect (self->webrtc, "pad-added", G_CALLBACK (on_incoming_pad), self);
  g_signal_connect (self->webrtc, "on-data-channel", G_CALLBACK (on_data_channel), self);
  g_signal_connect (self->webrtc, "notify::ice-connection-state",
                    G_CALLBACK (on_ice_connection_state), self);

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, on_bus_message, self);

  return self;
}

/**
 * kaigi_test_client_set_auto_join:
 * @self: a #KaigiTestClient
 * @auto_join: whether to send `join` as soon as the WebSocket is up
 *
 * Defaults to %TRUE. With %FALSE a test sends its own messages first.
 */
void
kaigi_test_client_set_auto_join (KaigiTestClient *self,
                                 gboolean         auto_join)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->auto_join = auto_join;
}

/**
 * kaigi_test_client_set_ping_interval:
 * @self: a #KaigiTestClient
 * @interval_ms: interval between `ping` messages, 0 for none
 *
 * Defaults to 5000 ms, as the protocol asks of clients.
 */
void
kaigi_test_client_set_ping_interval (KaigiTestClient *self,
                                     guint            interval_ms)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->ping_interval_ms = interval_ms;
  start_pinging (self);
}

/**
 * kaigi_test_client_set_tone_volume:
 * @self: a #KaigiTestClient
 * @volume: the tone's volume, 0.0–1.0 (audiotestsrc `volume`)
 *
 * Changes the loudness of the published tone, now or when it starts.
 */
void
kaigi_test_client_set_tone_volume (KaigiTestClient *self,
                                   double           volume)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->volume = CLAMP (volume, 0.0, 1.0);
  if (self->tone != NULL)
    g_object_set (self->tone, "volume", self->volume, NULL);
}

/**
 * kaigi_test_client_set_hold_offers:
 * @self: a #KaigiTestClient
 * @hold: whether to leave offers unanswered
 *
 * While @hold is %TRUE, received offers are queued and not answered, so a
 * test can act while an offer is outstanding. Setting it back to %FALSE
 * answers the queued offers in order.
 */
void
kaigi_test_client_set_hold_offers (KaigiTestClient *self,
                                   gboolean         hold)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->hold_offers = hold;
  start_next_negotiation (self);
}

/**
 * kaigi_test_client_connect:
 * @self: a #KaigiTestClient
 *
 * Starts the media pipeline and opens ws://127.0.0.1:PORT/ws; then, unless
 * auto-join is off, sends `join`. Returns at once; wait with
 * kaigi_test_client_is_joined() or kaigi_test_client_is_connected().
 */
void
kaigi_test_client_connect (KaigiTestClient *self)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *uri = NULL;

  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));
  g_return_if_fail (self->session == NULL);

  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    set_failure (self, "cannot start the pipeline");

  /* Loopback only: no proxy lookup (libproxy spawns a thread per query). */
  self->session = soup_session_new_with_options ("proxy-resolver", NULL, NULL);
  uri = g_strdup_printf ("ws://127.0.0.1:%u/ws", self->port);
  msg = soup_message_new ("GET", uri);
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL,
                                        G_PRIORITY_DEFAULT, self->cancellable,
                                        on_ws_connected, g_object_ref (self));
}

/**
 * kaigi_test_client_send_join:
 * @self: a #KaigiTestClient
 *
 * Sends `join` with the constructor's room, name and publish flags.
 */
void
kaigi_test_client_send_join (KaigiTestClient *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "join");
  json_builder_set_member_name (builder, "room");
  json_builder_add_string_value (builder, self->room);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, self->name);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, 1);
  json_builder_set_member_name (builder, "audio");
  json_builder_add_boolean_value (builder, self->publish_audio);
  json_builder_set_member_name (builder, "video");
  json_builder_add_boolean_value (builder, self->publish_video);
  if (self->video_codecs != NULL)
    {
      json_builder_set_member_name (builder, "video_codecs");
      json_builder_begin_array (builder);
      for (guint i = 0; self->video_codecs[i] != NULL; i++)
        json_builder_add_string_value (builder, self->video_codecs[i]);
      json_builder_end_array (builder);
    }
  json_builder_end_object (builder);
  send_builder (self, builder);
}

/**
 * kaigi_test_client_send_media:
 * @self: a #KaigiTestClient
 * @audio: microphone on
 * @video: camera on
 *
 * Sends a `media` message. The media itself keeps flowing.
 */
void
kaigi_test_client_send_media (KaigiTestClient *self,
                              gboolean         audio,
                              gboolean         video)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "media");
  json_builder_set_member_name (builder, "audio");
  json_builder_add_boolean_value (builder, audio);
  json_builder_set_member_name (builder, "video");
  json_builder_add_boolean_value (builder, video);
  json_builder_end_object (builder);
  send_builder (self, builder);
}

/**
 * kaigi_test_client_send_text:
 * @self: a #KaigiTestClient
 * @text: any text, sent as one WebSocket text frame
 *
 * Sends raw text (for bad-input tests). Ignored when not connected.
 */
void
kaigi_test_client_send_text (KaigiTestClient *self,
                             const char      *text)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));
  g_return_if_fail (text != NULL);

  if (self->ws == NULL ||
      soup_websocket_connection_get_state (self->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    {
      g_message ("test client %s: not connected, dropping %.60s", self->name, text);
      return;
    }
  soup_websocket_connection_send_text (self->ws, text);
}

/**
 * kaigi_test_client_send_binary:
 * @self: a #KaigiTestClient
 * @data: (array length=len): bytes
 * @len: length of @data
 *
 * Sends one binary WebSocket frame.
 */
void
kaigi_test_client_send_binary (KaigiTestClient *self,
                               const guint8    *data,
                               gsize            len)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  if (self->ws != NULL &&
      soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_binary (self->ws, data, len);
}

/**
 * kaigi_test_client_leave:
 * @self: a #KaigiTestClient
 *
 * Sends `leave` and stops the media; the server closes the connection.
 */
void
kaigi_test_client_leave (KaigiTestClient *self)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  send_simple (self, "leave");
  stop_media (self);
}

/**
 * kaigi_test_client_close:
 * @self: a #KaigiTestClient
 *
 * Closes the WebSocket normally (1000) without `leave`, and stops the media.
 */
void
kaigi_test_client_close (KaigiTestClient *self)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  if (self->ws != NULL &&
      soup_websocket_connection_get_state (self->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  stop_media (self);
}

/**
 * kaigi_test_client_vanish:
 * @self: a #KaigiTestClient
 *
 * Simulates a client that silently disappears: stops the media and every
 * message (pings included) but leaves the WebSocket open.
 */
void
kaigi_test_client_vanish (KaigiTestClient *self)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->vanished = TRUE;
  if (self->ping_source != NULL)
    {
      g_source_destroy (self->ping_source);
      g_clear_pointer (&self->ping_source, g_source_unref);
    }
  stop_media (self);
}

/**
 * kaigi_test_client_send_chat:
 * @self: a #KaigiTestClient
 * @text: the message
 *
 * Sends `{"type":"chat","text":…}` on the `chat` data channel.
 *
 * Returns: %FALSE if the channel is not open or refused the message
 */
gboolean
kaigi_test_client_send_chat (KaigiTestClient *self,
                             const char      *text)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);

  if (self->chat == NULL || !self->chat_open)
    return FALSE;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, "chat");
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, text);
  json_builder_end_object (builder);
  json = builder_to_text (builder);

  if (!gst_webrtc_data_channel_send_string_full (self->chat, json, &error))
    {
      set_failure (self, "cannot send chat: %s", error->message);
      return FALSE;
    }
  return TRUE;
}

/**
 * kaigi_test_client_get_name:
 * @self: a #KaigiTestClient
 *
 * Returns: (transfer none): the display name given at construction
 */
const char *
kaigi_test_client_get_name (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  return self->name;
}

/**
 * kaigi_test_client_get_rgb:
 * @self: a #KaigiTestClient
 *
 * Returns: the colour of the published video, 0xRRGGBB
 */
guint32
kaigi_test_client_get_rgb (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->rgb;
}

/**
 * kaigi_test_client_publishes_audio:
 * @self: a #KaigiTestClient
 *
 * Returns: whether the client publishes a tone
 */
gboolean
kaigi_test_client_publishes_audio (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->publish_audio;
}

/**
 * kaigi_test_client_publishes_video:
 * @self: a #KaigiTestClient
 *
 * Returns: whether the client publishes video
 */
gboolean
kaigi_test_client_publishes_video (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->publish_video;
}

/**
 * kaigi_test_client_is_connected:
 * @self: a #KaigiTestClient
 *
 * Returns: whether the WebSocket is open
 */
gboolean
kaigi_test_client_is_connected (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->connected && !self->closed;
}

/**
 * kaigi_test_client_is_closed:
 * @self: a #KaigiTestClient
 *
 * Returns: whether the WebSocket was closed (by either side) or failed to open
 */
gboolean
kaigi_test_client_is_closed (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->closed;
}

/**
 * kaigi_test_client_get_close_code:
 * @self: a #KaigiTestClient
 *
 * Returns: the WebSocket close code once closed, else 0
 */
gushort
kaigi_test_client_get_close_code (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->close_code;
}

/**
 * kaigi_test_client_is_joined:
 * @self: a #KaigiTestClient
 *
 * Returns: whether `joined` arrived
 */
gboolean
kaigi_test_client_is_joined (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->joined;
}

/**
 * kaigi_test_client_get_id:
 * @self: a #KaigiTestClient
 *
 * Returns: (transfer none) (nullable): the id the server assigned, once joined
 */
const char *
kaigi_test_client_get_id (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  return self->id;
}

/**
 * kaigi_test_client_get_n_offers:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of `offer` messages received
 */
guint
kaigi_test_client_get_n_offers (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->n_offers;
}

/**
 * kaigi_test_client_get_n_answers:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of answers sent
 */
guint
kaigi_test_client_get_n_answers (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->n_answers;
}

/**
 * kaigi_test_client_get_n_pongs:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of `pong` messages received
 */
guint
kaigi_test_client_get_n_pongs (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->n_pongs;
}

/**
 * kaigi_test_client_get_failure:
 * @self: a #KaigiTestClient
 *
 * The first thing that went wrong on the client side (a failed negotiation
 * step, a pipeline error, an unparsable server message).
 *
 * Returns: (transfer none) (nullable): a description, or %NULL
 */
const char *
kaigi_test_client_get_failure (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  return self->failure;
}

/**
 * kaigi_test_client_get_last_offer:
 * @self: a #KaigiTestClient
 *
 * Returns: (transfer none) (nullable): the SDP of the last offer received
 */
const char *
kaigi_test_client_get_last_offer (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  return self->last_offer;
}

/**
 * kaigi_test_client_get_last_answer:
 * @self: a #KaigiTestClient
 *
 * Returns: (transfer none) (nullable): the SDP of the last answer sent
 */
const char *
kaigi_test_client_get_last_answer (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  return self->last_answer;
}

/**
 * kaigi_test_client_is_ice_connected:
 * @self: a #KaigiTestClient
 *
 * Thread-safe.
 *
 * Returns: whether webrtcbin's ICE connection state is connected/completed
 */
gboolean
kaigi_test_client_is_ice_connected (KaigiTestClient *self)
{
  gboolean ret;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);

  g_mutex_lock (&self->lock);
  ret = self->ice_connected;
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_has_track_from:
 * @self: a #KaigiTestClient
 * @participant_id: a participant id
 * @kind: (nullable): "audio", "video", or %NULL for either
 *
 * Thread-safe.
 *
 * Returns: whether the latest offer's `tracks` lists a track of @kind from
 *   @participant_id
 */
gboolean
kaigi_test_client_has_track_from (KaigiTestClient *self,
                                  const char      *participant_id,
                                  const char      *kind)
{
  gboolean ret = FALSE;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->tracks->len && !ret; i++)
    {
      TrackEntry *t = g_ptr_array_index (self->tracks, i);

      ret = g_strcmp0 (t->participant, participant_id) == 0 &&
            (kind == NULL || g_strcmp0 (t->kind, kind) == 0);
    }
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_dup_track_mid:
 * @self: a #KaigiTestClient
 * @participant_id: a participant id
 * @kind: "audio" or "video"
 *
 * Thread-safe.
 *
 * Returns: (transfer full) (nullable): the mid of the m-line that the
 *   latest offer's `tracks` gives to @participant_id's track of @kind
 */
char *
kaigi_test_client_dup_track_mid (KaigiTestClient *self,
                                 const char      *participant_id,
                                 const char      *kind)
{
  char *mid = NULL;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);
  g_return_val_if_fail (kind != NULL, NULL);

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->tracks->len && mid == NULL; i++)
    {
      TrackEntry *t = g_ptr_array_index (self->tracks, i);

      if (g_strcmp0 (t->participant, participant_id) == 0 && g_strcmp0 (t->kind, kind) == 0)
        mid = g_strdup (t->mid);
    }
  g_mutex_unlock (&self->lock);
  return mid;
}

/**
 * kaigi_test_client_get_n_participants:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of other participants in the roster
 */
guint
kaigi_test_client_get_n_participants (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return g_hash_table_size (self->roster);
}

/**
 * kaigi_test_client_lookup_participant:
 * @self: a #KaigiTestClient
 * @id: (nullable): a participant id
 *
 * Returns: (transfer none) (nullable): that participant as last announced,
 *   or %NULL if not (or no longer) in the room
 */
const KaigiTestParticipant *
kaigi_test_client_lookup_participant (KaigiTestClient *self,
                                      const char      *id)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  if (id == NULL)
    return NULL;
  return g_hash_table_lookup (self->roster, id);
}

/**
 * kaigi_test_client_find_participant_by_name:
 * @self: a #KaigiTestClient
 * @name: a display name
 *
 * Returns: (transfer none) (nullable): the first roster entry named @name
 */
const KaigiTestParticipant *
kaigi_test_client_find_participant_by_name (KaigiTestClient *self,
                                            const char      *name)
{
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  g_hash_table_iter_init (&iter, self->roster);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      KaigiTestParticipant *p = value;

      if (g_strcmp0 (p->name, name) == 0)
        return p;
    }
  return NULL;
}

/**
 * kaigi_test_client_get_n_updates:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of `participant-updated` messages received
 */
guint
kaigi_test_client_get_n_updates (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->n_updates;
}

/**
 * kaigi_test_client_get_left_reason:
 * @self: a #KaigiTestClient
 * @id: (nullable): a participant id
 *
 * Returns: (transfer none) (nullable): the `reason` of the `participant-left`
 *   received for @id, or %NULL if none was
 */
const char *
kaigi_test_client_get_left_reason (KaigiTestClient *self,
                                   const char      *id)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  if (id == NULL)
    return NULL;
  return g_hash_table_lookup (self->left, id);
}

/**
 * kaigi_test_client_get_n_errors:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of `error` messages received on the WebSocket
 */
guint
kaigi_test_client_get_n_errors (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->errors->len;
}

/**
 * kaigi_test_client_get_error_code:
 * @self: a #KaigiTestClient
 * @index: index, in order of arrival
 *
 * Returns: (transfer none) (nullable): the `code` of that error
 */
const char *
kaigi_test_client_get_error_code (KaigiTestClient *self,
                                  guint            index)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  if (index >= self->errors->len)
    return NULL;
  return g_ptr_array_index (self->errors, index);
}

/**
 * kaigi_test_client_count_errors:
 * @self: a #KaigiTestClient
 * @code: an error code, e.g. "invalid-json"
 *
 * Returns: how many errors with @code arrived
 */
guint
kaigi_test_client_count_errors (KaigiTestClient *self,
                                const char      *code)
{
  guint n = 0;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);

  for (guint i = 0; i < self->errors->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->errors, i), code) == 0)
      n++;
  return n;
}

/**
 * kaigi_test_client_is_chat_open:
 * @self: a #KaigiTestClient
 *
 * Returns: whether the server's `chat` data channel is open
 */
gboolean
kaigi_test_client_is_chat_open (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  return self->chat != NULL && self->chat_open;
}

/**
 * kaigi_test_client_get_n_chats:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of chat messages received
 */
guint
kaigi_test_client_get_n_chats (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->chats->len;
}

/**
 * kaigi_test_client_get_chat:
 * @self: a #KaigiTestClient
 * @index: index, in order of arrival
 *
 * Returns: (transfer none) (nullable): that chat message
 */
const KaigiTestChat *
kaigi_test_client_get_chat (KaigiTestClient *self,
                            guint            index)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  if (index >= self->chats->len)
    return NULL;
  return g_ptr_array_index (self->chats, index);
}

/**
 * kaigi_test_client_get_n_chat_errors:
 * @self: a #KaigiTestClient
 *
 * Returns: the number of `error` messages received on the chat channel
 */
guint
kaigi_test_client_get_n_chat_errors (KaigiTestClient *self)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);
  return self->n_chat_errors;
}

/**
 * kaigi_test_client_get_video_frames:
 * @self: a #KaigiTestClient
 * @participant_id: (nullable): a participant id
 *
 * Thread-safe.
 *
 * Returns: the number of video frames decoded from that participant
 */
guint64
kaigi_test_client_get_video_frames (KaigiTestClient *self,
                                    const char      *participant_id)
{
  MediaStats *stats;
  guint64 ret = 0;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);

  if (participant_id == NULL)
    return 0;
  g_mutex_lock (&self->lock);
  if ((stats = g_hash_table_lookup (self->stats, participant_id)) != NULL)
    ret = stats->video_frames;
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_get_video_colour:
 * @self: a #KaigiTestClient
 * @participant_id: a participant id
 * @rgb: (out): the colour at the centre of the last frame, 0xRRGGBB
 *
 * Thread-safe.
 *
 * Returns: %FALSE if no frame from that participant was decoded
 */
gboolean
kaigi_test_client_get_video_colour (KaigiTestClient *self,
                                    const char      *participant_id,
                                    guint32         *rgb)
{
  MediaStats *stats;
  gboolean ret = FALSE;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), FALSE);
  g_return_val_if_fail (rgb != NULL, FALSE);

  if (participant_id == NULL)
    return FALSE;
  g_mutex_lock (&self->lock);
  if ((stats = g_hash_table_lookup (self->stats, participant_id)) != NULL && stats->have_rgb)
    {
      *rgb = stats->rgb;
      ret = TRUE;
    }
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_get_audio_buffers:
 * @self: a #KaigiTestClient
 * @participant_id: (nullable): a participant id
 *
 * Thread-safe.
 *
 * Returns: the number of decoded audio buffers (20 ms each) from that
 *   participant
 */
guint64
kaigi_test_client_get_audio_buffers (KaigiTestClient *self,
                                     const char      *participant_id)
{
  MediaStats *stats;
  guint64 ret = 0;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);

  if (participant_id == NULL)
    return 0;
  g_mutex_lock (&self->lock);
  if ((stats = g_hash_table_lookup (self->stats, participant_id)) != NULL)
    ret = stats->audio_buffers;
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_get_audio_rms_db:
 * @self: a #KaigiTestClient
 * @participant_id: a participant id
 *
 * Thread-safe.
 *
 * Returns: the RMS level of the last decoded audio buffer from that
 *   participant in dBFS, or -infinity
 */
double
kaigi_test_client_get_audio_rms_db (KaigiTestClient *self,
                                    const char      *participant_id)
{
  MediaStats *stats;
  double ret = -HUGE_VAL;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), ret);

  if (participant_id == NULL)
    return ret;
  g_mutex_lock (&self->lock);
  if ((stats = g_hash_table_lookup (self->stats, participant_id)) != NULL &&
      stats->audio_buffers > 0)
    ret = stats->rms_db;
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_get_unattributed_buffers:
 * @self: a #KaigiTestClient
 *
 * Thread-safe.
 *
 * Returns: decoded buffers whose m-line the latest offer maps to nobody
 */
guint64
kaigi_test_client_get_unattributed_buffers (KaigiTestClient *self)
{
  guint64 ret;

  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);

  g_mutex_lock (&self->lock);
  ret = self->unattributed;
  g_mutex_unlock (&self->lock);
  return ret;
}

/**
 * kaigi_test_client_dump_dot:
 * @self: a #KaigiTestClient
 * @tag: file name part
 *
 * Writes the client's pipeline graph to $GST_DEBUG_DUMP_DOT_DIR, if set.
 */
void
kaigi_test_client_dump_dot (KaigiTestClient *self,
                            const char      *tag)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  if (self->pipeline != NULL)
    GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS (GST_BIN (self->pipeline),
                                       GST_DEBUG_GRAPH_SHOW_ALL, tag);
}

/* }}} */

/**
 * kaigi_test_client_dup_last_message:
 * @self: a test client
 * @type: a server message type ("speaker", "recording", …)
 *
 * Returns: (transfer full) (nullable): the JSON text of the last message
 *   of @type received, or %NULL
 */
char *
kaigi_test_client_dup_last_message (KaigiTestClient *self,
                                    const char      *type)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), NULL);

  return g_strdup (g_hash_table_lookup (self->last_messages, type));
}

/**
 * kaigi_test_client_count_messages:
 * @self: a test client
 * @type: a server message type
 *
 * Returns: how many messages of @type were received
 */
guint
kaigi_test_client_count_messages (KaigiTestClient *self,
                                  const char      *type)
{
  g_return_val_if_fail (KAIGI_TEST_IS_CLIENT (self), 0);

  return GPOINTER_TO_UINT (g_hash_table_lookup (self->message_counts, type));
}

/**
 * kaigi_test_client_set_flash:
 * @self: a test client, not connected yet
 * @period_ms: every how long (ms, a multiple of 200) to flash; 0 for never
 *
 * Makes the client's camera white and its microphone beep (1 kHz, loud)
 * for 200 ms at the same instant (the running time of one video frame),
 * every @period_ms from the second period on, silent and in its colour
 * otherwise: the A/V synchronisation probe of a recording.
 */
void
kaigi_test_client_set_flash (KaigiTestClient *self,
                             guint            period_ms)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->flash_period_ms = period_ms;
}

/**
 * kaigi_test_client_set_audio_level_extension:
 * @self: a test client, not connected yet
 * @enabled: whether to send RFC 6464 audio levels (the default)
 *
 * Without them the client is like a publisher that sends none (some
 * WHIP encoders): the server can only measure its decoded audio.
 */
void
kaigi_test_client_set_audio_level_extension (KaigiTestClient *self,
                                             gboolean         enabled)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->no_level_extension = !enabled;
}

/**
 * kaigi_test_client_set_garbage:
 * @self: a test client, not connected yet
 * @garbage: whether to publish garbage
 *
 * Makes every packet the client publishes carry random bytes (a fixed
 * seed) where its VP8 or Opus data would be, behind the parts a server
 * routes by: the RTP header and its extensions (the RFC 6464 level among
 * them), the VP8 payload descriptor and key frame header, the Opus TOC
 * byte. Nothing of it decodes to the client's colour or tone.
 */
void
kaigi_test_client_set_garbage (KaigiTestClient *self,
                               gboolean         garbage)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->garbage = garbage;
}

/**
 * kaigi_test_client_set_claimed_size:
 * @self: a test client, not connected yet
 * @width: the width (pixels, at most 16383) its key frames claim; 0 for the real one
 * @height: the height likewise
 *
 * Makes the header of every VP8 key frame the client publishes claim
 * @width × @height (RFC 6386 §9.1) while the picture in it stays small:
 * a forged size, as a malicious publisher could send.
 */
void
kaigi_test_client_set_claimed_size (KaigiTestClient *self,
                                    int              width,
                                    int              height)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->claimed_width = width;
  self->claimed_height = height;
}

/**
 * kaigi_test_client_set_video_codec:
 * @self: a test client, not connected yet
 * @encoding: "VP8" (the default) or "H264"
 *
 * Picks the codec the client publishes its camera in: VP8, or H.264
 * constrained baseline (x264enc) in packetization mode 1 (RFC 6184 §5.8),
 * one of the two the server offers on the publish m-line.
 */
void
kaigi_test_client_set_video_codec (KaigiTestClient *self,
                                   const char      *encoding)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));
  g_return_if_fail (g_strcmp0 (encoding, "VP8") == 0 || g_strcmp0 (encoding, "H264") == 0);

  self->h264 = g_str_equal (encoding, "H264");
}

/**
 * kaigi_test_client_set_refuse_h264:
 * @self: a test client, not connected yet
 * @refuse: whether to reject forwarded H.264
 *
 * Makes the client answer like a browser without an H.264 decoder: every
 * m-line on which the server would send it H.264 is rejected (port 0,
 * RFC 3264 §6, and left out of the BUNDLE group, RFC 8843 §7.3.3).
 */
void
kaigi_test_client_set_refuse_h264 (KaigiTestClient *self,
                                   gboolean         refuse)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  self->refuse_h264 = refuse;
}

/**
 * kaigi_test_client_set_video_codecs:
 * @self: a test client, not joined yet
 * @codecs: (nullable) (array zero-terminated=1): what `join` gives as
 *   `video_codecs` (the video the client decodes), or %NULL to leave the
 *   member out
 *
 * The client decodes VP8 and H.264 whatever it declares.
 */
void
kaigi_test_client_set_video_codecs (KaigiTestClient   *self,
                                    const char *const *codecs)
{
  g_return_if_fail (KAIGI_TEST_IS_CLIENT (self));

  g_strfreev (self->video_codecs);
  self->video_codecs = g_strdupv ((char **) codecs);
}
