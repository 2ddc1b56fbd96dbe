/* kaigi-room.c — one pipeline, its participants and who gets whose tracks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * A room owns one GstPipeline holding every participant's webrtcbin
 * ("we use a separate webrtcbin for each peer, but all of them are inside
 * the same pipeline", as gst-examples' multiparty demo puts it). Every
 * published track is forwarded to every other participant of the room and
 * to nobody else.
 */

#include "config.h"

#include "kaigi-room.h"
#include "kaigi-config.h"
#include "kaigi-protocol.h"
#include "kaigi-recorder.h"
#include "kaigi-speaker.h"
#include "kaigi-task-pool.h"

/* How often (ms) audio levels are read and the active speaker decided */
#define SPEAKER_TICK_MS 100

/* A participant counts as sending RFC 6464 levels if one arrived this
 * recently (µs); otherwise the recording's level meters stand in */
#define LEVEL_EXTENSION_FRESH_US (2 * G_USEC_PER_SEC)

GST_DEBUG_CATEGORY_STATIC (kaigi_room_debug);
#define GST_CAT_DEFAULT kaigi_room_debug

struct _KaigiRoom
{
  GObject parent_instance;

  char *name;
  KaigiConfig *config;
  GstElement *pipeline;
  guint bus_watch;
  GPtrArray *participants;
  guint shutting_down;

  KaigiSpeakerDetector *detector;
  GHashTable *extension_seen;         /* id → last RFC 6464 level, µs (gint64 *) */
  guint speaker_tick;
  char *pinned;

  KaigiRecorder *recorder;
  GPtrArray *finishing;               /* KaigiRecorder being finalized */
  GPtrArray *stop_waiters;            /* StopWaiter */
};

typedef struct
{
  KaigiRoomRecordingStopped callback;
  gpointer user_data;
} StopWaiter;

G_DEFINE_FINAL_TYPE (KaigiRoom, kaigi_room, G_TYPE_OBJECT)

enum
{
  SIGNAL_PARTICIPANT_REMOVED,
  SIGNAL_PARTICIPANT_CONNECTED,
  SIGNAL_EMPTY,
  SIGNAL_RECORDING_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
kaigi_room_dispose (GObject *object)
{
  KaigiRoom *self = KAIGI_ROOM (object);

  g_clear_handle_id (&self->bus_watch, g_source_remove);
  g_clear_handle_id (&self->speaker_tick, g_source_remove);
  if (self->recorder)
    g_signal_handlers_disconnect_by_data (self->recorder, self);
  g_clear_object (&self->recorder);
  /* A recording still finishing may outlive the room (its graph goes to
   * NULL on another thread) */
  for (guint i = 0; self->finishing && i < self->finishing->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->finishing, i), self);
  g_clear_pointer (&self->finishing, g_ptr_array_unref);
  if (self->participants)
    {
      guint i;

      for (i = 0; i < self->participants->len; i++)
        g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->participants, i), self);
    }
  g_clear_pointer (&self->participants, g_ptr_array_unref);
  if (self->pipeline)
    gst_element_set_state (self->pipeline, GST_STATE_NULL);
  gst_clear_object (&self->pipeline);

  G_OBJECT_CLASS (kaigi_room_parent_class)->dispose (object);
}

static void
kaigi_room_finalize (GObject *object)
{
  KaigiRoom *self = KAIGI_ROOM (object);

  g_free (self->name);
  g_free (self->pinned);
  kaigi_config_free (self->config);
  kaigi_speaker_detector_free (self->detector);
  g_hash_table_unref (self->extension_seen);
  g_ptr_array_unref (self->stop_waiters);

  G_OBJECT_CLASS (kaigi_room_parent_class)->finalize (object);
}

static void
kaigi_room_class_init (KaigiRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kaigi_room_dispose;
  object_class->finalize = kaigi_room_finalize;

  /**
   * KaigiRoom::participant-removed:
   * @self: the room
   * @participant: the participant that left
   * @reason: the participant-left reason ("left", "disconnected",
   *   "timeout", "failed")
   *
   * Emitted on the main context when a participant has left the room.
   */
  signals[SIGNAL_PARTICIPANT_REMOVED] =
    g_signal_new ("participant-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, KAIGI_TYPE_PARTICIPANT, G_TYPE_STRING);

  /**
   * KaigiRoom::participant-connected:
   * @self: the room
   * @participant: the participant
   * @join_latency_us: from join to connected, in microseconds
   *
   * Emitted on the main context when a participant's peer connection is
   * first up.
   */
  signals[SIGNAL_PARTICIPANT_CONNECTED] =
    g_signal_new ("participant-connected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, KAIGI_TYPE_PARTICIPANT, G_TYPE_INT64);

  /**
   * KaigiRoom::empty:
   * @self: the room
   *
   * Emitted on the main context when the last participant has left and
   * its media is torn down; the room can be freed.
   */
  signals[SIGNAL_EMPTY] =
    g_signal_new ("empty", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  /**
   * KaigiRoom::recording-changed:
   * @self: the room
   *
   * A recording started or ended (kaigi_room_is_recording() tells which).
   * Main context.
   */
  signals[SIGNAL_RECORDING_CHANGED] =
    g_signal_new ("recording-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  GST_DEBUG_CATEGORY_INIT (kaigi_room_debug, "kaigi-room", 0, "Kaigi room");
}

static void
kaigi_room_init (KaigiRoom *self)
{
  self->participants = g_ptr_array_new_with_free_func (g_object_unref);
  self->finishing = g_ptr_array_new_with_free_func (g_object_unref);
  self->stop_waiters = g_ptr_array_new_with_free_func (g_free);
  self->extension_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static KaigiParticipant *
find_owner (KaigiRoom *self,
            GstObject *object)
{
  guint i;

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);

      if (kaigi_participant_owns_element (p, object))
        return p;
    }
  return NULL;
}

static gboolean
on_bus_message (GstBus     *bus,
                GstMessage *message,
                gpointer    user_data)
{
  KaigiRoom *self = user_data;
  guint i;

  if (self->recorder && kaigi_recorder_handle_message (self->recorder, message))
    return G_SOURCE_CONTINUE;
  for (i = 0; i < self->finishing->len; i++)
    if (kaigi_recorder_handle_message (g_ptr_array_index (self->finishing, i), message))
      return G_SOURCE_CONTINUE;

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *debug = NULL;
        KaigiParticipant *owner;

        gst_message_parse_error (message, &error, &debug);
        /* A recording given up on (a writer that hung) can still post
         * from its threads after it finished; its error is told already */
        if (kaigi_recorder_owns_object (GST_MESSAGE_SRC (message)))
          {
            GST_INFO_OBJECT (self->pipeline, "error from %s of a finished recording: %s",
                             GST_MESSAGE_SRC_NAME (message), error->message);
            break;
          }
        owner = find_owner (self, GST_MESSAGE_SRC (message));
        g_warning ("Room %s: error from %s: %s (%s)", self->name,
                   GST_MESSAGE_SRC_NAME (message), error->message, debug ? debug : "");
        GST_DEBUG_BIN_TO_DOT_FILE_WITH_TS (GST_BIN (self->pipeline), GST_DEBUG_GRAPH_SHOW_ALL,
                                           "kaigi-error");
        /* One participant's failure never takes the room down */
        if (owner)
          kaigi_room_leave (self, owner, "failed");
        break;
      }

    case GST_MESSAGE_WARNING:
      {
        g_autoptr(GError) error = NULL;

        gst_message_parse_warning (message, &error, NULL);
        GST_WARNING_OBJECT (self->pipeline, "warning from %s: %s",
                            GST_MESSAGE_SRC_NAME (message), error->message);
        break;
      }

    case GST_MESSAGE_LATENCY:
      gst_bin_recalculate_latency (GST_BIN (self->pipeline));
      break;

    default:
      break;
    }

  return G_SOURCE_CONTINUE;
}

/* Streaming tasks, as each is made (GstStreamStatus CREATE, posted
 * synchronously from the thread that starts the task): every task of the
 * room gets a thread of its own from a KaigiTaskPool, never one of GLib's
 * shared threads, so that a priority never passes from one task to the
 * next (kaigi-task-pool.c). The recording's tasks run at a lower priority
 * (nice +10) than forwarding, so that on a busy machine the recording
 * falls behind rather than the participants' media; threads they create
 * (x264's workers) inherit it. The pools live as long as the process.
 * Following the GStreamer manual's "Configuring the priority of threads". */
static GstBusSyncReply
assign_task_pool (GstBus     *bus,
                  GstMessage *message,
                  gpointer    user_data)
{
  static GstTaskPool *forwarding_pool, *recording_pool;
  static gsize pools_made;
  GstStreamStatusType type;
  GstElement *owner;
  const GValue *object;

  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_STREAM_STATUS)
    return GST_BUS_PASS;

  gst_message_parse_stream_status (message, &type, &owner);
  object = gst_message_get_stream_status_object (message);
  if (type != GST_STREAM_STATUS_TYPE_CREATE || object == NULL || !G_VALUE_HOLDS (object, GST_TYPE_TASK))
    return GST_BUS_PASS;

  if (g_once_init_enter (&pools_made))
    {
      forwarding_pool = kaigi_task_pool_new (0);
      recording_pool = kaigi_task_pool_new (KAIGI_RECORDER_NICE);
      g_once_init_leave (&pools_made, 1);
    }
  gst_task_set_pool (g_value_get_object (object),
                     kaigi_recorder_owns_object (GST_MESSAGE_SRC (message)) ? recording_pool : forwarding_pool);
  return GST_BUS_PASS;
}

/**
 * kaigi_room_new:
 * @name: the validated room name
 * @config: the server configuration (copied)
 * @error: return location for a #KAIGI_MEDIA_ERROR
 *
 * Creates a room with an empty pipeline in PLAYING. Main thread only.
 *
 * Returns: (transfer full) (nullable): the room
 */
KaigiRoom *
kaigi_room_new (const char         *name,
                const KaigiConfig  *config,
                GError            **error)
{
  g_autoptr(KaigiRoom) self = NULL;
  g_autoptr(GstBus) bus = NULL;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (KAIGI_TYPE_ROOM, NULL);
  self->name = g_strdup (name);
  self->config = kaigi_config_copy (config);
  self->detector = kaigi_speaker_detector_new (config->speaker_lead_ms, config->speaker_hold_ms);
  self->pipeline = gst_object_ref_sink (kaigi_media_make_pipeline (name));

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, on_bus_message, self);
  gst_bus_set_sync_handler (bus, assign_task_pool, NULL, NULL);

  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, KAIGI_MEDIA_ERROR, KAIGI_MEDIA_ERROR_STATE,
                   "the pipeline of room “%s” refused to start", name);
      return NULL;
    }

  return g_steal_pointer (&self);
}

/**
 * kaigi_room_get_name:
 * @self: a room
 *
 * Returns: (transfer none): the room name
 */
const char *
kaigi_room_get_name (KaigiRoom *self)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), NULL);

  return self->name;
}

/**
 * kaigi_room_get_n_participants:
 * @self: a room
 *
 * Returns: participants currently in the room
 */
guint
kaigi_room_get_n_participants (KaigiRoom *self)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), 0);

  return self->participants->len;
}

/**
 * kaigi_room_is_empty:
 * @self: a room
 *
 * Returns: %TRUE when nobody is in the room and no participant is still
 *   being torn down
 */
gboolean
kaigi_room_is_empty (KaigiRoom *self)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), TRUE);

  return self->participants->len == 0 && self->shutting_down == 0 &&
         self->recorder == NULL && self->finishing->len == 0;
}

static void
broadcast (KaigiRoom        *self,
           KaigiParticipant *except,
           const char       *json)
{
  guint i;

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);

      if (p != except)
        kaigi_participant_send (p, json);
    }
}

static void
on_track_published (KaigiParticipant *publisher,
                    guint             kind,
                    KaigiRoom        *self)
{
  guint i;

  if (self->recorder)
    kaigi_recorder_attach_track (self->recorder, kaigi_participant_get_id (publisher), kind,
                                 kaigi_participant_get_track_tee (publisher, kind),
                                 kaigi_participant_get_track_caps (publisher, kind));

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);
      g_autoptr(GError) error = NULL;

      if (p == publisher)
        continue;
      if (!kaigi_participant_subscribe (p, publisher, kind, &error))
        g_warning ("Room %s: cannot forward %s to %s: %s", self->name,
                   kaigi_participant_get_id (publisher), kaigi_participant_get_id (p),
                   error->message);
    }
}

static void
on_chat_received (KaigiParticipant *sender,
                  const char       *text,
                  KaigiRoom        *self)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *json = kaigi_protocol_build_chat (kaigi_participant_get_id (sender),
                                                     kaigi_participant_get_name (sender),
                                                     text, now);
  guint i;

  for (i = 0; i < self->participants->len; i++)
    kaigi_participant_send_chat (g_ptr_array_index (self->participants, i), json);
  if (self->recorder)
    kaigi_recorder_add_event (self->recorder, "chat", kaigi_participant_get_id (sender),
                              kaigi_participant_get_name (sender), text, FALSE, FALSE);
}

static void
on_participant_failed (KaigiParticipant *participant,
                       const char       *reason,
                       KaigiRoom        *self)
{
  kaigi_room_leave (self, participant, reason);
}

static void
on_participant_connected (KaigiParticipant *participant,
                          gint64            latency_us,
                          KaigiRoom        *self)
{
  g_signal_emit (self, signals[SIGNAL_PARTICIPANT_CONNECTED], 0, participant, latency_us);
}

static const char *
main_participant (KaigiRoom *self)
{
  return self->pinned ? self->pinned : kaigi_speaker_detector_get_speaker (self->detector);
}

static void
announce_speaker (KaigiRoom *self)
{
  g_autofree char *json = kaigi_protocol_build_speaker (kaigi_speaker_detector_get_speaker (self->detector),
                                                        self->pinned);

  broadcast (self, NULL, json);
  if (self->recorder)
    kaigi_recorder_set_main (self->recorder, main_participant (self));
}

/* Main context, every SPEAKER_TICK_MS: read the RFC 6464 levels the
 * participants' packets carried, and apply the hysteresis */
static gboolean
speaker_tick (gpointer user_data)
{
  KaigiRoom *self = user_data;
  gint64 now = g_get_monotonic_time ();
  guint i, level;

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);

      if (kaigi_participant_take_audio_level (p, &level))
        {
          const char *id = kaigi_participant_get_id (p);

          kaigi_speaker_detector_add_level (self->detector, id, level, now);
          g_hash_table_replace (self->extension_seen, g_strdup (id), g_memdup2 (&now, sizeof now));
        }
    }

  if (kaigi_speaker_detector_update (self->detector, now))
    {
      const char *speaker = kaigi_speaker_detector_get_speaker (self->detector);

      GST_INFO_OBJECT (self->pipeline, "active speaker: %s", speaker ? speaker : "(none)");
      if (self->recorder)
        {
          KaigiParticipant *p = kaigi_room_find_participant (self, speaker);

          kaigi_recorder_add_event (self->recorder, "speaker", speaker,
                                    p ? kaigi_participant_get_name (p) : NULL, NULL, FALSE, FALSE);
        }
      announce_speaker (self);
    }
  return G_SOURCE_CONTINUE;
}

/* Levels measured on decoded audio while recording, for clients that send
 * no RFC 6464 extension */
static void
on_recorder_audio_level (KaigiRecorder *recorder,
                         const char    *id,
                         guint          level,
                         KaigiRoom     *self)
{
  gint64 now = g_get_monotonic_time ();
  const gint64 *seen = g_hash_table_lookup (self->extension_seen, id);

  if (seen == NULL || now - *seen > LEVEL_EXTENSION_FRESH_US)
    kaigi_speaker_detector_add_level (self->detector, id, level, now);
}

static char *
new_participant_id (KaigiRoom *self)
{
  for (;;)
    {
      g_autofree char *id = g_strdup_printf ("%08x", g_random_int ());
      gboolean taken = FALSE;
      guint i;

      for (i = 0; i < self->participants->len && !taken; i++)
        taken = g_str_equal (id, kaigi_participant_get_id (g_ptr_array_index (self->participants, i)));
      if (!taken)
        return g_steal_pointer (&id);
    }
}

/**
 * kaigi_room_join:
 * @self: a room
 * @name: the validated display name
 * @audio: the client publishes its microphone
 * @video: the client publishes its camera
 * @video_codecs: (nullable) (array zero-terminated=1): the video codecs
 *   the client decodes (kaigi_participant_set_video_codecs()), %NULL: all
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *   (%KAIGI_PROTOCOL_ERROR_ROOM_FULL, %KAIGI_PROTOCOL_ERROR_INTERNAL)
 *
 * Adds a participant: its webrtcbin, subscriptions to every track already
 * published in the room (video only in a codec it decodes), and a
 * `participant-joined` message to the others.
 * The caller connects #KaigiParticipant::send-message, sends `joined`,
 * then calls kaigi_participant_start(). Main thread only.
 *
 * Returns: (transfer full) (nullable): the participant
 */
KaigiParticipant *
kaigi_room_join (KaigiRoom         *self,
                 const char        *name,
                 gboolean           audio,
                 gboolean           video,
                 const char *const *video_codecs,
                 GError           **error)
{
  g_autoptr(KaigiParticipant) participant = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *id = NULL;
  g_autofree char *json = NULL;
  KaigiParticipantInfo info;
  guint i, kind;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), NULL);

  if (self->participants->len >= self->config->max_participants)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_ROOM_FULL,
                   "room “%s” already has %u participants", self->name,
                   self->config->max_participants);
      return NULL;
    }

  id = new_participant_id (self);
  participant = kaigi_participant_new (GST_BIN (self->pipeline), id, name, audio, video,
                                       self->config, &local_error);
  if (participant == NULL)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INTERNAL,
                   "cannot create the participant: %s", local_error->message);
      return NULL;
    }

  kaigi_participant_set_video_codecs (participant, video_codecs);
  g_signal_connect (participant, "track-published", G_CALLBACK (on_track_published), self);
  g_signal_connect (participant, "chat-received", G_CALLBACK (on_chat_received), self);
  g_signal_connect (participant, "failed", G_CALLBACK (on_participant_failed), self);
  g_signal_connect (participant, "connected", G_CALLBACK (on_participant_connected), self);

  kaigi_participant_get_info (participant, &info);
  json = kaigi_protocol_build_participant_joined (&info);
  broadcast (self, NULL, json);

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *other = g_ptr_array_index (self->participants, i);

      for (kind = 0; kind < KAIGI_N_TRACK_KINDS; kind++)
        {
          if (kaigi_participant_get_track_tee (other, kind) == NULL)
            continue;
          if (!kaigi_participant_subscribe (participant, other, kind, &local_error))
            {
              g_warning ("Room %s: cannot forward %s to %s: %s", self->name,
                         kaigi_participant_get_id (other), id, local_error->message);
              g_clear_error (&local_error);
            }
        }
    }

  g_ptr_array_add (self->participants, g_object_ref (participant));
  if (self->recorder)
    kaigi_recorder_add_participant (self->recorder, id, name, audio, video);
  if (self->speaker_tick == 0)
    self->speaker_tick = g_timeout_add (SPEAKER_TICK_MS, speaker_tick, self);
  g_message ("Room %s: %s (%s) joined; %u participants", self->name, id, name,
             self->participants->len);
  return g_steal_pointer (&participant);
}

/**
 * kaigi_room_dup_participant_infos:
 * @self: a room
 * @except: (nullable): a participant to leave out
 *
 * Returns: (transfer full) (element-type KaigiParticipantInfo): snapshots
 *   whose strings stay valid while the participants are in the room
 */
GArray *
kaigi_room_dup_participant_infos (KaigiRoom        *self,
                                  KaigiParticipant *except)
{
  GArray *infos = g_array_new (FALSE, TRUE, sizeof (KaigiParticipantInfo));
  guint i;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), infos);

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);
      KaigiParticipantInfo info;

      if (p == except)
        continue;
      kaigi_participant_get_info (p, &info);
      g_array_append_val (infos, info);
    }
  return infos;
}

static void
on_participant_shut_down (KaigiParticipant *participant,
                          gpointer          user_data)
{
  KaigiRoom *self = user_data;

  /* Dispose sets the webrtcbin to NULL and takes it out of the pipeline */
  g_object_run_dispose (G_OBJECT (participant));
  g_object_unref (participant);

  self->shutting_down--;
  if (kaigi_room_is_empty (self))
    g_signal_emit (self, signals[SIGNAL_EMPTY], 0);
  g_object_unref (self);
}

/**
 * kaigi_room_leave:
 * @self: a room
 * @participant: a participant of the room
 * @reason: the participant-left reason
 *
 * Removes @participant: the others are told (`participant-left`) and
 * renegotiated without its tracks; its media is torn down without
 * disturbing anyone else's. #KaigiRoom::empty follows when it was the last
 * one. Does nothing if @participant already left. Main thread only.
 */
void
kaigi_room_leave (KaigiRoom        *self,
                  KaigiParticipant *participant,
                  const char       *reason)
{
  g_autoptr(KaigiParticipant) p = NULL;
  g_autofree char *json = NULL;
  const char *id;
  guint i, index;

  g_return_if_fail (KAIGI_IS_ROOM (self));
  g_return_if_fail (KAIGI_IS_PARTICIPANT (participant));

  if (!g_ptr_array_find (self->participants, participant, &index))
    return;

  p = g_ptr_array_steal_index (self->participants, index);
  g_signal_handlers_disconnect_by_data (p, self);
  id = kaigi_participant_get_id (p);
  g_message ("Room %s: %s (%s) left (%s); %u participants", self->name, id,
             kaigi_participant_get_name (p), reason, self->participants->len);

  json = kaigi_protocol_build_participant_left (id, reason);
  broadcast (self, NULL, json);

  for (i = 0; i < self->participants->len; i++)
    kaigi_participant_unsubscribe (g_ptr_array_index (self->participants, i), id);

  g_signal_emit (self, signals[SIGNAL_PARTICIPANT_REMOVED], 0, p, reason);

  /* The last one out ends the recording, with them still in the picture */
  if (self->participants->len == 0 && self->recorder)
    kaigi_room_stop_recording (self, NULL, NULL, NULL);
  /* Out of the mix before its tees go */
  if (self->recorder)
    kaigi_recorder_remove_participant (self->recorder, id);
  kaigi_speaker_detector_remove (self->detector, id);
  g_hash_table_remove (self->extension_seen, id);
  if (g_strcmp0 (self->pinned, id) == 0)
    g_clear_pointer (&self->pinned, g_free);
  speaker_tick (self);
  if (self->participants->len == 0)
    g_clear_handle_id (&self->speaker_tick, g_source_remove);

  self->shutting_down++;
  kaigi_participant_shutdown (p, G_CALLBACK (on_participant_shut_down), g_object_ref (self));
  g_steal_pointer (&p);
}

/**
 * kaigi_room_update_media:
 * @self: a room
 * @participant: a participant of the room
 * @audio: microphone on
 * @video: camera on
 *
 * Records a mute change and tells the others (`participant-updated`).
 */
void
kaigi_room_update_media (KaigiRoom        *self,
                         KaigiParticipant *participant,
                         gboolean          audio,
                         gboolean          video)
{
  g_autofree char *json = NULL;
  KaigiParticipantInfo info;

  g_return_if_fail (KAIGI_IS_ROOM (self));

  kaigi_participant_set_media (participant, audio, video);
  kaigi_participant_get_info (participant, &info);
  json = kaigi_protocol_build_participant_updated (&info);
  broadcast (self, participant, json);
  if (self->recorder)
    kaigi_recorder_set_media (self->recorder, info.id, audio, video);
}

/**
 * kaigi_room_get_n_forwarded:
 * @self: a room
 *
 * Returns: tracks currently forwarded, summed over subscribers
 */
guint
kaigi_room_get_n_forwarded (KaigiRoom *self)
{
  guint i, n = 0;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), 0);

  for (i = 0; i < self->participants->len; i++)
    n += kaigi_participant_get_n_forwarded (g_ptr_array_index (self->participants, i));
  return n;
}

/**
 * kaigi_room_add_stats:
 * @self: a room
 * @stats: (inout): counters to add the room's participants to
 *
 * Main thread only; see kaigi_participant_get_stats().
 */
void
kaigi_room_add_stats (KaigiRoom             *self,
                      KaigiParticipantStats *stats)
{
  guint i;

  g_return_if_fail (KAIGI_IS_ROOM (self));

  for (i = 0; i < self->participants->len; i++)
    kaigi_participant_get_stats (g_ptr_array_index (self->participants, i), stats);
}

/**
 * kaigi_room_close:
 * @self: a room
 *
 * Makes every participant leave ("disconnected"), for server shutdown.
 */
void
kaigi_room_close (KaigiRoom *self)
{
  g_return_if_fail (KAIGI_IS_ROOM (self));

  while (self->participants->len > 0)
    kaigi_room_leave (self, g_ptr_array_index (self->participants, self->participants->len - 1),
                      "disconnected");
}

/**
 * kaigi_room_find_participant:
 * @self: a room
 * @id: (nullable): a participant id
 *
 * Returns: (transfer none) (nullable): the participant with @id, or %NULL
 */
KaigiParticipant *
kaigi_room_find_participant (KaigiRoom  *self,
                             const char *id)
{
  guint i;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), NULL);

  for (i = 0; id && i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);

      if (g_str_equal (kaigi_participant_get_id (p), id))
        return p;
    }
  return NULL;
}

/**
 * kaigi_room_get_speaker:
 * @self: a room
 * @pinned: (out) (optional) (transfer none) (nullable): the pinned
 *   participant's id
 *
 * Returns: (transfer none) (nullable): the active speaker's id
 */
const char *
kaigi_room_get_speaker (KaigiRoom   *self,
                        const char **pinned)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), NULL);

  if (pinned)
    *pinned = self->pinned;
  return kaigi_speaker_detector_get_speaker (self->detector);
}

/**
 * kaigi_room_pin:
 * @self: a room
 * @id: (nullable): the participant to show in the main tile whoever
 *   speaks; %NULL to unpin and follow the active speaker again
 * @error: return location for %KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT
 *
 * Pins a participant for the whole room (the recording's layout and every
 * client's highlight) and announces it with a `speaker` message. Main
 * context only.
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_room_pin (KaigiRoom   *self,
                const char  *id,
                GError     **error)
{
  KaigiParticipant *p = NULL;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (id && (p = kaigi_room_find_participant (self, id)) == NULL)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT,
                   "room “%s” has no participant “%s”", self->name, id);
      return FALSE;
    }

  if (g_strcmp0 (self->pinned, id) == 0)
    return TRUE;
  g_free (self->pinned);
  self->pinned = g_strdup (id);
  if (self->recorder)
    kaigi_recorder_add_event (self->recorder, "pin", id, p ? kaigi_participant_get_name (p) : NULL,
                              NULL, FALSE, FALSE);
  announce_speaker (self);
  return TRUE;
}

/**
 * kaigi_room_get_recording:
 * @self: a room
 * @info: (out caller-allocates) (optional): the running recording,
 *   borrowed strings valid until it stops
 *
 * Returns: %TRUE if a recording runs
 */
gboolean
kaigi_room_get_recording (KaigiRoom          *self,
                          KaigiRecordingInfo *info)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (self->recorder == NULL)
    return FALSE;
  if (info)
    kaigi_recorder_get_info (self->recorder, info);
  return TRUE;
}

static void
broadcast_recording (KaigiRoom    *self,
                     const char   *error_message)
{
  KaigiRecordingInfo info;
  g_autofree char *json = kaigi_protocol_build_recording (kaigi_room_get_recording (self, &info) ? &info : NULL,
                                                          error_message);

  broadcast (self, NULL, json);
  g_signal_emit (self, signals[SIGNAL_RECORDING_CHANGED], 0);
}

static void
on_recorder_finished (KaigiRecorder *recorder,
                      gint64         duration_ms,
                      const GError  *error,
                      KaigiRoom     *self)
{
  g_autoptr(KaigiRecorder) keep = g_object_ref (recorder);
  g_autoptr(GPtrArray) waiters = NULL;
  guint i;

  g_signal_handlers_disconnect_by_data (recorder, self);
  g_message ("Room %s: recording %s finished, %" G_GINT64_FORMAT " ms%s%s", self->name,
             kaigi_recorder_get_file (recorder), duration_ms,
             error ? ": " : "", error ? error->message : "");

  if (recorder == self->recorder)
    {
      /* Stopped on its own, on an error: tell the room */
      g_clear_object (&self->recorder);
      broadcast_recording (self, error ? error->message : NULL);
    }
  else if (error && self->recorder == NULL)
    {
      /* Stopped, but not finished (kept as .mp4.part): tell the room too */
      broadcast_recording (self, error->message);
    }
  g_ptr_array_remove (self->finishing, recorder);

  waiters = g_steal_pointer (&self->stop_waiters);
  self->stop_waiters = g_ptr_array_new_with_free_func (g_free);
  self->extension_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (i = 0; i < waiters->len; i++)
    {
      StopWaiter *w = g_ptr_array_index (waiters, i);

      if (w->callback)
        w->callback (self, kaigi_recorder_get_file (recorder), duration_ms, error, w->user_data);
    }

  if (kaigi_room_is_empty (self))
    g_signal_emit (self, signals[SIGNAL_EMPTY], 0);
}

/**
 * kaigi_room_start_recording:
 * @self: a room
 * @info: (out caller-allocates) (optional): the new recording, borrowed
 *   strings valid while it runs
 * @error: return location for a #KAIGI_PROTOCOL_ERROR:
 *   %KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING,
 *   %KAIGI_PROTOCOL_ERROR_RECORDING_FAILED (unwritable folder, no encoder)
 *
 * Starts the room's mixed recording (see #KaigiRecorder): every
 * participant gets a tile, the active speaker (or the pinned participant)
 * the main one. Everybody is told with a `recording` message, and so is
 * everybody who joins later. Main context only.
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_room_start_recording (KaigiRoom           *self,
                            KaigiRecordingInfo  *info,
                            GError             **error)
{
  guint i, kind;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (self->recorder)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING,
                   "room “%s” is already recording", self->name);
      return FALSE;
    }

  self->recorder = kaigi_recorder_new (GST_BIN (self->pipeline), self->name, self->config, error);
  if (self->recorder == NULL)
    return FALSE;
  g_signal_connect (self->recorder, "finished", G_CALLBACK (on_recorder_finished), self);
  g_signal_connect (self->recorder, "audio-level", G_CALLBACK (on_recorder_audio_level), self);

  for (i = 0; i < self->participants->len; i++)
    {
      KaigiParticipant *p = g_ptr_array_index (self->participants, i);
      KaigiParticipantInfo pinfo;

      kaigi_participant_get_info (p, &pinfo);
      kaigi_recorder_add_participant (self->recorder, pinfo.id, pinfo.name, pinfo.audio, pinfo.video);
      for (kind = 0; kind < KAIGI_N_TRACK_KINDS; kind++)
        if (kaigi_participant_get_track_tee (p, kind))
          kaigi_recorder_attach_track (self->recorder, pinfo.id, kind,
                                       kaigi_participant_get_track_tee (p, kind),
                                       kaigi_participant_get_track_caps (p, kind));
    }
  kaigi_recorder_set_main (self->recorder, main_participant (self));
  if (kaigi_speaker_detector_get_speaker (self->detector))
    {
      KaigiParticipant *p = kaigi_room_find_participant (self, kaigi_speaker_detector_get_speaker (self->detector));

      kaigi_recorder_add_event (self->recorder, "speaker", kaigi_participant_get_id (p),
                                kaigi_participant_get_name (p), NULL, FALSE, FALSE);
    }

  kaigi_recorder_begin (self->recorder);
  g_message ("Room %s: recording to %s", self->name, kaigi_recorder_get_file (self->recorder));
  if (info)
    kaigi_recorder_get_info (self->recorder, info);
  broadcast_recording (self, NULL);
  return TRUE;
}

/**
 * kaigi_room_stop_recording:
 * @self: a room
 * @callback: (nullable) (scope async): called once the file is final
 * @user_data: data for @callback
 * @error: return location for %KAIGI_PROTOCOL_ERROR_NOT_RECORDING
 *
 * Stops the running recording; everybody is told at once, and @callback
 * runs when the MP4 is finalized and renamed (about a second later).
 * Main context only.
 *
 * Returns: %TRUE if a recording was running
 */
gboolean
kaigi_room_stop_recording (KaigiRoom                  *self,
                           KaigiRoomRecordingStopped   callback,
                           gpointer                    user_data,
                           GError                    **error)
{
  KaigiRecorder *recorder;
  StopWaiter *waiter;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (self->recorder == NULL)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_NOT_RECORDING,
                   "room “%s” is not recording", self->name);
      return FALSE;
    }

  recorder = g_steal_pointer (&self->recorder);
  g_ptr_array_add (self->finishing, recorder);
  waiter = g_new0 (StopWaiter, 1);
  waiter->callback = callback;
  waiter->user_data = user_data;
  g_ptr_array_add (self->stop_waiters, waiter);

  broadcast_recording (self, NULL);
  kaigi_recorder_stop (recorder);
  return TRUE;
}

/**
 * kaigi_room_send_state:
 * @self: a room
 * @participant: a participant who just joined
 *
 * Tells a newcomer what runs in the room: the running recording
 * (`recording`) and the active speaker and pin (`speaker`), each only when
 * set. Call it after `joined`. Main context only.
 */
void
kaigi_room_send_state (KaigiRoom        *self,
                       KaigiParticipant *participant)
{
  KaigiRecordingInfo info;

  g_return_if_fail (KAIGI_IS_ROOM (self));

  if (kaigi_room_get_recording (self, &info))
    {
      g_autofree char *json = kaigi_protocol_build_recording (&info, NULL);

      kaigi_participant_send (participant, json);
    }
  if (kaigi_speaker_detector_get_speaker (self->detector) || self->pinned)
    {
      g_autofree char *json = kaigi_protocol_build_speaker (kaigi_speaker_detector_get_speaker (self->detector),
                                                            self->pinned);

      kaigi_participant_send (participant, json);
    }
}

/**
 * kaigi_room_is_writing:
 * @self: a room
 * @file: a file name in the recordings folder
 *
 * Returns: %TRUE if one of the room's recordings, running or being
 *   finalized, writes @file (its `.mp4.part`)
 */
gboolean
kaigi_room_is_writing (KaigiRoom  *self,
                       const char *file)
{
  guint i;

  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (self->recorder && kaigi_recorder_writes (self->recorder, file))
    return TRUE;
  for (i = 0; i < self->finishing->len; i++)
    if (kaigi_recorder_writes (g_ptr_array_index (self->finishing, i), file))
      return TRUE;
  return FALSE;
}

/**
 * kaigi_room_get_n_recordings:
 * @self: a room
 *
 * Main context only.
 *
 * Returns: the room's recordings with a file still open: the running one
 *   and those being finalized
 */
guint
kaigi_room_get_n_recordings (KaigiRoom *self)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), 0);

  return (self->recorder ? 1 : 0) + self->finishing->len;
}

/**
 * kaigi_room_get_recording_queue_levels:
 * @self: a room
 * @video_ns: (out) (optional): raw video waiting for the recording's
 *   H.264 encoder, in ns; 0 when not recording
 * @audio_ns: (out) (optional): raw audio waiting for its AAC encoder, in
 *   ns; 0 when not recording
 *
 * The running recording's encoder queue levels; see
 * kaigi_recorder_get_queue_levels(). Main context only.
 *
 * Returns: %TRUE if a recording runs
 */
gboolean
kaigi_room_get_recording_queue_levels (KaigiRoom *self,
                                       guint64   *video_ns,
                                       guint64   *audio_ns)
{
  g_return_val_if_fail (KAIGI_IS_ROOM (self), FALSE);

  if (self->recorder == NULL)
    {
      if (video_ns)
        *video_ns = 0;
      if (audio_ns)
        *audio_ns = 0;
      return FALSE;
    }
  return kaigi_recorder_get_queue_levels (self->recorder, video_ns, audio_ns);
}
