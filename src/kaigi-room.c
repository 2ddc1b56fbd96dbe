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
};

G_DEFINE_FINAL_TYPE (KaigiRoom, kaigi_room, G_TYPE_OBJECT)

enum
{
  SIGNAL_PARTICIPANT_REMOVED,
  SIGNAL_PARTICIPANT_CONNECTED,
  SIGNAL_EMPTY,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
kaigi_room_dispose (GObject *object)
{
  KaigiRoom *self = KAIGI_ROOM (object);

  g_clear_handle_id (&self->bus_watch, g_source_remove);
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
  kaigi_config_free (self->config);

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

  GST_DEBUG_CATEGORY_INIT (kaigi_room_debug, "kaigi-room", 0, "Kaigi room");
}

static void
kaigi_room_init (KaigiRoom *self)
{
  self->participants = g_ptr_array_new_with_free_func (g_object_unref);
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

  switch (GST_MESSAGE_TYPE (message))
    {
    case GST_MESSAGE_ERROR:
      {
        g_autoptr(GError) error = NULL;
        g_autofree char *debug = NULL;
        KaigiParticipant *owner;

        gst_message_parse_error (message, &error, &debug);
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
  self->pipeline = gst_object_ref_sink (kaigi_media_make_pipeline (name));

  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, on_bus_message, self);

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

  return self->participants->len == 0 && self->shutting_down == 0;
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
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *   (%KAIGI_PROTOCOL_ERROR_ROOM_FULL, %KAIGI_PROTOCOL_ERROR_INTERNAL)
 *
 * Adds a participant: its webrtcbin, subscriptions to every track already
 * published in the room, and a `participant-joined` message to the others.
 * The caller connects #KaigiParticipant::send-message, sends `joined`,
 * then calls kaigi_participant_start(). Main thread only.
 *
 * Returns: (transfer full) (nullable): the participant
 */
KaigiParticipant *
kaigi_room_join (KaigiRoom   *self,
                 const char  *name,
                 gboolean     audio,
                 gboolean     video,
                 GError     **error)
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
