/* kaigi-signaling-peer.c — one WebSocket client speaking kaigi-protocol
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Maps each parsed message onto room and participant calls in one switch.
 * Client input is never trusted: a bad message gets an `error` reply and
 * the connection, the participant and the room stay as they were.
 */

#include "config.h"

#include <gst/gst.h>

#include "kaigi-signaling-peer.h"
#include "kaigi-server-private.h"
#include "kaigi-participant.h"
#include "kaigi-protocol.h"
#include "kaigi-room.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_signaling_debug);
#define GST_CAT_DEFAULT kaigi_signaling_debug

struct _KaigiSignalingPeer
{
  GObject parent_instance;

  KaigiServer *server;                     /* owns us */
  SoupWebsocketConnection *connection;
  KaigiRoom *room;
  KaigiParticipant *participant;
  guint idle_timeout_s;
  gint64 last_activity_us;
  guint idle_source;
  gboolean closed;
};

G_DEFINE_FINAL_TYPE (KaigiSignalingPeer, kaigi_signaling_peer, G_TYPE_OBJECT)

static void
detach_participant (KaigiSignalingPeer *self)
{
  if (self->participant)
    g_signal_handlers_disconnect_by_data (self->participant, self);
  if (self->room)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_clear_object (&self->participant);
  g_clear_object (&self->room);
}

static void
kaigi_signaling_peer_dispose (GObject *object)
{
  KaigiSignalingPeer *self = KAIGI_SIGNALING_PEER (object);

  g_clear_handle_id (&self->idle_source, g_source_remove);
  if (self->room && self->participant)
    kaigi_room_leave (self->room, self->participant, "disconnected");
  detach_participant (self);
  if (self->connection)
    g_signal_handlers_disconnect_by_data (self->connection, self);
  g_clear_object (&self->connection);

  G_OBJECT_CLASS (kaigi_signaling_peer_parent_class)->dispose (object);
}

static void
kaigi_signaling_peer_class_init (KaigiSignalingPeerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = kaigi_signaling_peer_dispose;

  GST_DEBUG_CATEGORY_INIT (kaigi_signaling_debug, "kaigi-signaling", 0, "Kaigi signaling");
}

static void
kaigi_signaling_peer_init (KaigiSignalingPeer *self)
{
  self->last_activity_us = g_get_monotonic_time ();
}

static void
send_text (KaigiSignalingPeer *self,
           const char         *json)
{
  if (self->closed ||
      soup_websocket_connection_get_state (self->connection) != SOUP_WEBSOCKET_STATE_OPEN)
    return;

  soup_websocket_connection_send_text (self->connection, json);
}

static void
send_error (KaigiSignalingPeer *self,
            const GError       *error,
            const char         *request)
{
  g_autofree char *json = kaigi_protocol_build_error (error, request);

  GST_INFO ("peer %p: refused %s: %s", self, request ? request : "message", error->message);
  send_text (self, json);
}

static void
on_send_message (KaigiParticipant   *participant,
                 const char         *json,
                 KaigiSignalingPeer *self)
{
  send_text (self, json);
}

static void
on_participant_removed (KaigiRoom          *room,
                        KaigiParticipant   *participant,
                        const char         *reason,
                        KaigiSignalingPeer *self)
{
  if (participant != self->participant)
    return;

  /* The room removed us (failed connection): nothing more to say */
  detach_participant (self);
  kaigi_signaling_peer_close (self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, reason);
}

static void
leave (KaigiSignalingPeer *self,
       const char         *reason)
{
  g_autoptr(KaigiRoom) room = g_steal_pointer (&self->room);
  g_autoptr(KaigiParticipant) participant = g_steal_pointer (&self->participant);

  if (room == NULL || participant == NULL)
    return;

  g_signal_handlers_disconnect_by_data (participant, self);
  g_signal_handlers_disconnect_by_data (room, self);
  kaigi_room_leave (room, participant, reason);
}

static void
handle_join (KaigiSignalingPeer *self,
             KaigiMessage       *message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) others = NULL;
  g_autoptr(GPtrArray) ice_servers = NULL;
  g_autofree char *json = NULL;
  KaigiRoom *room;
  KaigiParticipant *participant;

  if (self->participant)
    {
      error = g_error_new_literal (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_ALREADY_JOINED,
                                   "this connection has already joined a room");
      send_error (self, error, "join");
      return;
    }

  room = kaigi_server_ensure_room (self->server, message->room, &error);
  if (room == NULL)
    {
      send_error (self, error, "join");
      return;
    }

  participant = kaigi_room_join (room, message->name, message->audio, message->video,
                                 (const char *const *) message->video_codecs, &error);
  if (participant == NULL)
    {
      send_error (self, error, "join");
      kaigi_server_release_room_if_empty (self->server, room);
      return;
    }

  kaigi_server_note_join (self->server);
  self->room = g_object_ref (room);
  self->participant = participant;
  g_signal_connect (participant, "send-message", G_CALLBACK (on_send_message), self);
  g_signal_connect (room, "participant-removed", G_CALLBACK (on_participant_removed), self);

  others = kaigi_room_dup_participant_infos (room, participant);
  ice_servers = kaigi_server_dup_ice_servers (self->server);
  json = kaigi_protocol_build_joined (kaigi_participant_get_id (participant),
                                      kaigi_room_get_name (room), message->name,
                                      (const KaigiParticipantInfo *) others->data, others->len,
                                      ice_servers);
  send_text (self, json);
  kaigi_room_send_state (room, participant);
  kaigi_participant_start (participant);
}

static gboolean
require_joined (KaigiSignalingPeer *self,
                const char         *request)
{
  g_autoptr(GError) error = NULL;

  if (self->participant)
    return TRUE;

  error = g_error_new (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_NOT_JOINED,
                       "“%s” needs a join first", request);
  send_error (self, error, request);
  return FALSE;
}

static void
handle_message (KaigiSignalingPeer *self,
                KaigiMessage       *message)
{
  g_autoptr(GError) error = NULL;
  const char *type = kaigi_message_type_to_string (message->type);

  switch (message->type)
    {
    case KAIGI_MSG_JOIN:
      handle_join (self, message);
      break;

    case KAIGI_MSG_ANSWER:
      if (require_joined (self, type) &&
          !kaigi_participant_handle_answer (self->participant, message->sdp, &error))
        send_error (self, error, type);
      break;

    case KAIGI_MSG_ICE:
      if (require_joined (self, type) &&
          !kaigi_participant_add_ice_candidate (self->participant, message->mline_index,
                                                message->candidate, &error))
        send_error (self, error, type);
      break;

    case KAIGI_MSG_MEDIA:
      if (require_joined (self, type))
        kaigi_room_update_media (self->room, self->participant, message->audio, message->video);
      break;

    case KAIGI_MSG_LEAVE:
      if (require_joined (self, type))
        {
          leave (self, "left");
          kaigi_signaling_peer_close (self, SOUP_WEBSOCKET_CLOSE_NORMAL, "left");
        }
      break;

    case KAIGI_MSG_PING:
      {
        g_autofree char *json = kaigi_protocol_build_pong ();

        send_text (self, json);
        break;
      }

    case KAIGI_MSG_RECORDING_START:
      if (require_joined (self, type) && !kaigi_room_start_recording (self->room, NULL, &error))
        send_error (self, error, type);
      break;

    case KAIGI_MSG_RECORDING_STOP:
      if (require_joined (self, type) && !kaigi_room_stop_recording (self->room, NULL, NULL, &error))
        send_error (self, error, type);
      break;

    case KAIGI_MSG_PIN:
      if (require_joined (self, type) && !kaigi_room_pin (self->room, message->participant, &error))
        send_error (self, error, type);
      break;

    case KAIGI_MSG_CHAT:
    case KAIGI_MSG_N_TYPES:
    default:
      g_assert_not_reached ();
    }
}

static void
on_message (SoupWebsocketConnection *connection,
            SoupWebsocketDataType    data_type,
            GBytes                  *bytes,
            KaigiSignalingPeer      *self)
{
  g_autoptr(KaigiMessage) message = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *request = NULL;
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);

  self->last_activity_us = g_get_monotonic_time ();

  if (len > KAIGI_PROTOCOL_MAX_MESSAGE_SIZE)
    {
      GST_INFO ("peer %p: %" G_GSIZE_FORMAT " byte message, closing", self, len);
      kaigi_signaling_peer_close (self, SOUP_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
      return;
    }

  if (data_type != SOUP_WEBSOCKET_DATA_TEXT)
    {
      error = g_error_new_literal (KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INVALID_JSON,
                                   "binary messages are not part of the protocol");
      send_error (self, error, NULL);
      return;
    }

  message = kaigi_protocol_parse (KAIGI_CHANNEL_SIGNALING, text, len, &request, &error);
  if (message == NULL)
    {
      send_error (self, error, request);
      return;
    }

  /* keep ourselves alive: a message may end in our own removal */
  g_object_ref (self);
  handle_message (self, message);
  g_object_unref (self);
}

static void
on_closed (SoupWebsocketConnection *connection,
           KaigiSignalingPeer      *self)
{
  GST_DEBUG ("peer %p: closed (%u)", self, soup_websocket_connection_get_close_code (connection));
  self->closed = TRUE;
  g_clear_handle_id (&self->idle_source, g_source_remove);
  leave (self, "disconnected");
  kaigi_server_remove_peer (self->server, self);
}

static gboolean
check_idle (gpointer user_data)
{
  KaigiSignalingPeer *self = user_data;
  gint64 idle_us = g_get_monotonic_time () - self->last_activity_us;

  if (idle_us < (gint64) self->idle_timeout_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;

  GST_INFO ("peer %p: silent for %" G_GINT64_FORMAT " ms", self, idle_us / 1000);
  self->idle_source = 0;
  leave (self, "timeout");
  kaigi_signaling_peer_close (self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "timeout");
  return G_SOURCE_REMOVE;
}

/**
 * kaigi_signaling_peer_new:
 * @server: the server, which owns the peer
 * @connection: (transfer none): an open WebSocket
 * @idle_timeout_s: seconds of silence (not even `ping`) after which the
 *   client counts as vanished and leaves with reason "timeout"
 *
 * Starts speaking the signaling protocol on @connection; incoming messages
 * are limited to %KAIGI_PROTOCOL_MAX_MESSAGE_SIZE (larger ones close the
 * connection with 1009, RFC 6455 §7.4.1; beyond four times that, libsoup
 * drops the connection before buffering more). Main thread only.
 *
 * Returns: (transfer full): the peer
 */
KaigiSignalingPeer *
kaigi_signaling_peer_new (KaigiServer             *server,
                          SoupWebsocketConnection *connection,
                          guint                    idle_timeout_s)
{
  KaigiSignalingPeer *self;
  guint check_ms;

  g_return_val_if_fail (SOUP_IS_WEBSOCKET_CONNECTION (connection), NULL);

  self = g_object_new (KAIGI_TYPE_SIGNALING_PEER, NULL);
  self->server = server;
  self->connection = g_object_ref (connection);
  self->idle_timeout_s = idle_timeout_s;

  /* Messages over the protocol limit get a clean close handshake with 1009
   * from on_message(); libsoup's own limit, which drops the connection
   * before its close frame is reliably out, only guards memory. */
  soup_websocket_connection_set_max_incoming_payload_size (connection,
                                                           4 * KAIGI_PROTOCOL_MAX_MESSAGE_SIZE);
  /* WebSocket pings keep proxies from closing quiet connections */
  soup_websocket_connection_set_keepalive_interval (connection, 20);
  g_signal_connect (connection, "message", G_CALLBACK (on_message), self);
  g_signal_connect (connection, "closed", G_CALLBACK (on_closed), self);

  check_ms = MIN (1000, idle_timeout_s * 1000 / 4);
  self->idle_source = g_timeout_add (MAX (check_ms, 100), check_idle, self);
  return self;
}

/**
 * kaigi_signaling_peer_close:
 * @self: a peer
 * @code: a WebSocket close code (RFC 6455 §7.4)
 * @reason: (nullable): the close reason
 *
 * Closes the WebSocket; the peer is dropped once it is closed.
 */
void
kaigi_signaling_peer_close (KaigiSignalingPeer *self,
                            gushort             code,
                            const char         *reason)
{
  g_return_if_fail (KAIGI_IS_SIGNALING_PEER (self));

  if (soup_websocket_connection_get_state (self->connection) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->connection, code, reason);
}

/**
 * kaigi_signaling_peer_announce_shutdown:
 * @self: a peer
 * @grace_s: seconds before the server closes the connection
 *
 * Tells the client that the server is stopping (`server-shutdown`). The
 * connection stays open. Main thread only.
 */
void
kaigi_signaling_peer_announce_shutdown (KaigiSignalingPeer *self,
                                        guint               grace_s)
{
  g_autofree char *json = NULL;

  g_return_if_fail (KAIGI_IS_SIGNALING_PEER (self));

  json = kaigi_protocol_build_server_shutdown (grace_s);
  send_text (self, json);
}
