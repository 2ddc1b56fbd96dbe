/* kaigi-server.c — HTTP, WebSocket and REST on one SoupServer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <gst/gst.h>
#include <libsoup/soup.h>

#include "kaigi-server-private.h"
#include "kaigi-config.h"
#include "kaigi-names.h"
#include "kaigi-protocol.h"
#include "kaigi-room.h"

GST_DEBUG_CATEGORY_STATIC (kaigi_server_debug);
#define GST_CAT_DEFAULT kaigi_server_debug

#define WEB_RESOURCE_PREFIX "/io/github/kaigi/Kaigi/web"

/* Upper bounds of the join-latency histogram, in seconds */
static const double join_latency_buckets[] = { 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0 };

struct _KaigiServer
{
  GObject parent_instance;

  KaigiConfig *config;
  SoupServer *soup;
  GHashTable *rooms;          /* name → KaigiRoom */
  GPtrArray *peers;           /* KaigiSignalingPeer */
  guint port;
  gboolean shutting_down;     /* joins refused, see kaigi_server_announce_shutdown() */

  guint64 joins_total;
  guint64 connections_total;
  guint64 join_latency_counts[G_N_ELEMENTS (join_latency_buckets)];
  guint64 join_latency_count;
  double join_latency_sum;
};

G_DEFINE_FINAL_TYPE (KaigiServer, kaigi_server, G_TYPE_OBJECT)

static void
kaigi_server_dispose (GObject *object)
{
  KaigiServer *self = KAIGI_SERVER (object);

  kaigi_server_stop (self);
  g_clear_pointer (&self->peers, g_ptr_array_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_object (&self->soup);

  G_OBJECT_CLASS (kaigi_server_parent_class)->dispose (object);
}

static void
kaigi_server_finalize (GObject *object)
{
  KaigiServer *self = KAIGI_SERVER (object);

  kaigi_config_free (self->config);

  G_OBJECT_CLASS (kaigi_server_parent_class)->finalize (object);
}

static void
kaigi_server_class_init (KaigiServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kaigi_server_dispose;
  object_class->finalize = kaigi_server_finalize;

  GST_DEBUG_CATEGORY_INIT (kaigi_server_debug, "kaigi-server", 0, "Kaigi server");
}

static void
kaigi_server_init (KaigiServer *self)
{
  self->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->peers = g_ptr_array_new_with_free_func (g_object_unref);
}

/* Responses */

static void
respond_json (SoupServerMessage *msg,
              guint              status,
              char              *json)   /* transfer full */
{
  soup_server_message_set_status (msg, status, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    json, strlen (json));
}

static void
respond_error (SoupServerMessage *msg,
               guint              status,
               const char        *message)
{
  respond_json (msg, status, kaigi_protocol_build_api_error (message));
}

static gboolean
tokens_equal (const char *a,
              const char *b)
{
  gsize la = strlen (a), lb = strlen (b), i;
  guchar diff = la != lb;

  /* constant time in the secret's length */
  for (i = 0; i < lb; i++)
    diff |= (guchar) (i < la ? a[i] : 0) ^ (guchar) b[i];
  return diff == 0;
}

static gboolean
check_token (KaigiServer       *self,
             SoupServerMessage *msg)
{
  const char *header;

  if (self->config->api_token == NULL)
    return TRUE;

  header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                         "Authorization");
  if (header && g_str_has_prefix (header, "Bearer ") &&
      tokens_equal (header + strlen ("Bearer "), self->config->api_token))
    return TRUE;

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "WWW-Authenticate", "Bearer realm=\"kaigi\"");
  respond_error (msg, SOUP_STATUS_UNAUTHORIZED, "a valid “Authorization: Bearer TOKEN” header is required");
  return FALSE;
}

/* Static web client */

static const char *
content_type_for (const char *path)
{
  static const struct { const char *suffix; const char *type; } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".json", "application/json" },
    { ".ico", "image/x-icon" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_has_suffix (path, types[i].suffix))
      return types[i].type;
  return "application/octet-stream";
}

static void
handle_static (SoupServer        *soup,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  g_autofree char *resource = NULL;
  g_autoptr(GBytes) bytes = NULL;
  const char *method = soup_server_message_get_method (msg);

  if (g_strcmp0 (method, "GET") != 0 && g_strcmp0 (method, "HEAD") != 0)
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is allowed here");
      return;
    }

  if (g_str_equal (path, "/"))
    path = "/index.html";

  if (strstr (path, "..") != NULL)
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "not found");
      return;
    }

  resource = g_strconcat (WEB_RESOURCE_PREFIX, path, NULL);
  bytes = g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (bytes == NULL)
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "not found");
      return;
    }

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-cache");
  soup_server_message_set_response (msg, content_type_for (path), SOUP_MEMORY_COPY,
                                    g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* REST API */

typedef struct
{
  KaigiRoomInfo info;
  KaigiRecordingInfo recording;
} RoomSnapshot;

static void
room_snapshot (KaigiRoom    *room,
               RoomSnapshot *snapshot)
{
  snapshot->info.name = kaigi_room_get_name (room);
  snapshot->info.participants = kaigi_room_dup_participant_infos (room, NULL);
  snapshot->info.recording = kaigi_room_get_recording (room, &snapshot->recording)
                             ? &snapshot->recording : NULL;
  snapshot->info.speaker = kaigi_room_get_speaker (room, &snapshot->info.pinned);
}

static guint
status_for_error (const GError *error)
{
  if (error->domain != KAIGI_PROTOCOL_ERROR)
    return SOUP_STATUS_INTERNAL_SERVER_ERROR;

  switch (error->code)
    {
    case KAIGI_PROTOCOL_ERROR_ALREADY_RECORDING:
      return SOUP_STATUS_CONFLICT;
    case KAIGI_PROTOCOL_ERROR_NOT_RECORDING:
    case KAIGI_PROTOCOL_ERROR_UNKNOWN_PARTICIPANT:
      return SOUP_STATUS_NOT_FOUND;
    case KAIGI_PROTOCOL_ERROR_INVALID_JSON:
    case KAIGI_PROTOCOL_ERROR_TOO_DEEP:
    case KAIGI_PROTOCOL_ERROR_MISSING_FIELD:
    case KAIGI_PROTOCOL_ERROR_INVALID_FIELD:
      return SOUP_STATUS_BAD_REQUEST;
    default:
      return SOUP_STATUS_INTERNAL_SERVER_ERROR;
    }
}

typedef struct
{
  KaigiServer *server;
  SoupServerMessage *msg;
  char *id;
} PendingStop;

static void
on_recording_stopped (KaigiRoom    *room,
                      const char   *file,
                      gint64        duration_ms,
                      const GError *error,
                      gpointer      user_data)
{
  PendingStop *pending = user_data;

  if (error)
    respond_error (pending->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, error->message);
  else
    respond_json (pending->msg, SOUP_STATUS_OK,
                  kaigi_protocol_build_recording_finished (pending->id, file, duration_ms));
  soup_server_message_unpause (pending->msg);
  g_object_unref (pending->msg);
  g_object_unref (pending->server);
  g_free (pending->id);
  g_free (pending);
}

static void
handle_room_recording (KaigiServer       *self,
                       SoupServerMessage *msg,
                       KaigiRoom         *room)
{
  const char *method = soup_server_message_get_method (msg);
  g_autoptr(GError) error = NULL;
  KaigiRecordingInfo info;

  if (g_str_equal (method, "POST"))
    {
      if (!kaigi_room_start_recording (room, &info, &error))
        respond_error (msg, status_for_error (error), error->message);
      else
        respond_json (msg, SOUP_STATUS_CREATED, kaigi_protocol_build_recording_object (&info));
    }
  else if (g_str_equal (method, "DELETE"))
    {
      PendingStop *pending;

      if (!kaigi_room_get_recording (room, &info))
        {
          respond_error (msg, SOUP_STATUS_NOT_FOUND, "the room is not recording");
          return;
        }
      pending = g_new0 (PendingStop, 1);
      pending->server = g_object_ref (self);
      pending->msg = g_object_ref (msg);
      pending->id = g_strdup (info.id);
      /* Answered once the file is final */
      soup_server_message_pause (msg);
      kaigi_room_stop_recording (room, on_recording_stopped, pending, NULL);
    }
  else
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only POST and DELETE are allowed here");
    }
}

static void
handle_room_pin (KaigiServer       *self,
                 SoupServerMessage *msg,
                 KaigiRoom         *room)
{
  const char *method = soup_server_message_get_method (msg);
  g_autoptr(GError) error = NULL;
  g_autofree char *participant = NULL;
  RoomSnapshot snapshot;

  if (g_str_equal (method, "PUT") || g_str_equal (method, "POST"))
    {
      SoupMessageBody *body = soup_server_message_get_request_body (msg);
      g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);

      if (!kaigi_protocol_parse_pin_request (data ? data : "", len, &participant, &error))
        {
          respond_error (msg, status_for_error (error), error->message);
          return;
        }
    }
  else if (!g_str_equal (method, "DELETE"))
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only PUT and DELETE are allowed here");
      return;
    }

  if (!kaigi_room_pin (room, participant, &error))
    {
      respond_error (msg, status_for_error (error), error->message);
      return;
    }

  room_snapshot (room, &snapshot);
  respond_json (msg, SOUP_STATUS_OK, kaigi_protocol_build_room (&snapshot.info));
  g_array_unref (snapshot.info.participants);
}

static gboolean
is_running_part (KaigiServer *self,
                 const char  *name)
{
  GHashTableIter iter;
  gpointer room;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    {
      if (kaigi_room_is_writing (room, name))
        return TRUE;
    }
  return FALSE;
}

static gint
compare_files (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (((const KaigiRecordingFile *) a)->file, ((const KaigiRecordingFile *) b)->file);
}

static void
recording_file_clear (KaigiRecordingFile *file)
{
  g_free ((char *) file->file);
  g_free ((char *) file->room);
  g_clear_pointer (&file->started, g_date_time_unref);
}

static void
handle_recordings_list (KaigiServer       *self,
                        SoupServerMessage *msg)
{
  g_autoptr(GArray) files = g_array_new (FALSE, TRUE, sizeof (KaigiRecordingFile));
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_array_set_clear_func (files, (GDestroyNotify) recording_file_clear);

  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") != 0)
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is allowed here");
      return;
    }

  dir = g_dir_open (self->config->recordings_dir, 0, NULL);
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename (self->config->recordings_dir, name, NULL);
      g_autofree char *sidecar = NULL;
      g_autofree char *text = NULL;
      g_autofree char *started = NULL;
      gsize len;
      GStatBuf st;
      KaigiRecordingFile file = { 0 };

      if (!g_str_has_suffix (name, ".mp4") && !g_str_has_suffix (name, ".mp4.part"))
        continue;
      if (is_running_part (self, name) || g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        continue;

      file.recovered = g_str_has_suffix (name, ".part");
      file.bytes = st.st_size;
      file.duration_ms = -1;
      /* ROOM-….mp4.json, also for the .mp4.part of a crashed recording */
      sidecar = file.recovered
                ? g_strdup_printf ("%.*s.json", (int) (strlen (path) - strlen (".part")), path)
                : g_strconcat (path, ".json", NULL);
      if (g_file_get_contents (sidecar, &text, &len, NULL))
        {
          char *room = NULL;

          if (kaigi_protocol_parse_timeline_summary (text, len, &room, &file.duration_ms, &started, NULL))
            {
              file.room = room;
              if (started)
                file.started = g_date_time_new_from_iso8601 (started, NULL);
            }
        }
      if (file.recovered)
        file.duration_ms = -1;
      file.file = g_strdup (name);
      g_array_append_val (files, file);
    }

  g_array_sort (files, compare_files);
  respond_json (msg, SOUP_STATUS_OK,
                kaigi_protocol_build_recordings ((const KaigiRecordingFile *) files->data, files->len));
}

static void
handle_api (SoupServer        *soup,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  KaigiServer *self = user_data;
  const char *method = soup_server_message_get_method (msg);

  if (!check_token (self, msg))
    return;

  if (g_str_equal (path, "/api/recordings") || g_str_equal (path, "/api/recordings/"))
    {
      handle_recordings_list (self, msg);
      return;
    }

  if (g_str_equal (path, "/api/rooms") || g_str_equal (path, "/api/rooms/"))
    {
      guint n_rooms = g_hash_table_size (self->rooms);
      g_autofree RoomSnapshot *snapshots = g_new0 (RoomSnapshot, n_rooms);
      g_autofree KaigiRoomInfo *infos = g_new0 (KaigiRoomInfo, n_rooms);
      g_autoptr(GList) names = NULL;
      GList *l;
      guint i, n = 0;

      if (g_strcmp0 (method, "GET") != 0)
        {
          respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is allowed here");
          return;
        }

      names = g_list_sort (g_hash_table_get_keys (self->rooms), (GCompareFunc) g_strcmp0);
      for (l = names; l; l = l->next)
        {
          KaigiRoom *room = g_hash_table_lookup (self->rooms, l->data);

          if (kaigi_room_get_n_participants (room) == 0)
            continue;
          room_snapshot (room, &snapshots[n]);
          infos[n] = snapshots[n].info;
          n++;
        }

      respond_json (msg, SOUP_STATUS_OK, kaigi_protocol_build_rooms (infos, n));
      for (i = 0; i < n; i++)
        g_array_unref (infos[i].participants);
      return;
    }

  if (g_str_has_prefix (path, "/api/rooms/"))
    {
      g_auto(GStrv) parts = g_strsplit (path + strlen ("/api/rooms/"), "/", 3);
      g_autofree char *name = g_uri_unescape_string (parts[0], "/");
      const char *sub = parts[1] && *parts[1] ? parts[1] : NULL;
      KaigiRoom *room;
      RoomSnapshot snapshot;

      if ((parts[1] && parts[2]) || (sub && !g_str_equal (sub, "recording") && !g_str_equal (sub, "pin")))
        {
          respond_error (msg, SOUP_STATUS_NOT_FOUND, "no such API endpoint");
          return;
        }

      room = name ? g_hash_table_lookup (self->rooms, name) : NULL;
      if (room == NULL || kaigi_room_get_n_participants (room) == 0)
        {
          respond_error (msg, SOUP_STATUS_NOT_FOUND, "no such room");
          return;
        }

      if (g_strcmp0 (sub, "recording") == 0)
        {
          handle_room_recording (self, msg, room);
          return;
        }
      if (g_strcmp0 (sub, "pin") == 0)
        {
          handle_room_pin (self, msg, room);
          return;
        }

      if (g_strcmp0 (method, "GET") != 0)
        {
          respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is allowed here");
          return;
        }

      room_snapshot (room, &snapshot);
      respond_json (msg, SOUP_STATUS_OK, kaigi_protocol_build_room (&snapshot.info));
      g_array_unref (snapshot.info.participants);
      return;
    }

  respond_error (msg, SOUP_STATUS_NOT_FOUND, "no such API endpoint");
}

/* GET /recordings/FILE: a file of the recordings folder, memory-mapped */
static void
handle_recording_download (SoupServer        *soup,
                           SoupServerMessage *msg,
                           const char        *path,
                           GHashTable        *query,
                           gpointer           user_data)
{
  KaigiServer *self = user_data;
  g_autofree char *name = NULL;
  g_autofree char *file_path = NULL;
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  const char *method = soup_server_message_get_method (msg);
  gboolean head;

  if (!check_token (self, msg))
    return;

  head = g_str_equal (method, "HEAD");
  if (!head && !g_str_equal (method, "GET"))
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET is allowed here");
      return;
    }

  name = g_str_has_prefix (path, "/recordings/") ? g_uri_unescape_string (path + strlen ("/recordings/"), "/") : NULL;
  /* Only plain names of recordings and sidecars in the folder itself */
  if (name == NULL || *name == '\0' || *name == '.' || strchr (name, '/') || strchr (name, '\\') ||
      !(g_str_has_suffix (name, ".mp4") || g_str_has_suffix (name, ".mp4.part") ||
        g_str_has_suffix (name, ".mp4.json")))
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "no such recording");
      return;
    }

  file_path = g_build_filename (self->config->recordings_dir, name, NULL);
  mapped = g_mapped_file_new (file_path, FALSE, &error);
  if (mapped == NULL)
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, "no such recording");
      return;
    }

  bytes = g_mapped_file_get_bytes (mapped);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (soup_server_message_get_response_headers (msg),
                                         g_str_has_suffix (name, ".json") ? "application/json" : "video/mp4",
                                         NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), bytes);
}

static void
handle_healthz (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  static const char ok[] = "ok\n";

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC,
                                    ok, strlen (ok));
}

static void
metric (GString    *out,
        const char *name,
        const char *type,
        const char *help,
        double      value)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n",
                          name, help, name, type, name, value);
}

static void
handle_metrics (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  KaigiServer *self = user_data;
  KaigiParticipantStats stats = { 0, };
  GString *out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer value;
  guint participants = 0, forwarded = 0, rooms = 0, recordings = 0, i;
  guint64 cumulative = 0, video_queue_ns = 0, audio_queue_ns = 0;

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      KaigiRoom *room = value;
      guint64 video_ns, audio_ns;

      if (kaigi_room_get_recording_queue_levels (room, &video_ns, &audio_ns))
        {
          recordings++;
          video_queue_ns += video_ns;
          audio_queue_ns += audio_ns;
        }
      if (kaigi_room_get_n_participants (room) == 0)
        continue;
      rooms++;
      participants += kaigi_room_get_n_participants (room);
      forwarded += kaigi_room_get_n_forwarded (room);
      kaigi_room_add_stats (room, &stats);
    }

  metric (out, "kaigi_rooms", "gauge", "Rooms with participants.", rooms);
  metric (out, "kaigi_participants", "gauge", "Participants in all rooms.", participants);
  metric (out, "kaigi_forwarded_tracks", "gauge", "Tracks forwarded to subscribers.", forwarded);
  metric (out, "kaigi_signaling_connections", "gauge", "Open signaling WebSockets.", self->peers->len);
  metric (out, "kaigi_joins_total", "counter", "Participants that joined since start.", self->joins_total);
  metric (out, "kaigi_rtp_received_bytes_total", "counter",
          "RTP bytes received from current participants.", stats.bytes_in);
  metric (out, "kaigi_rtp_received_packets_total", "counter",
          "RTP packets received from current participants.", stats.packets_in);
  metric (out, "kaigi_rtp_sent_bytes_total", "counter",
          "RTP bytes sent to current participants.", stats.bytes_out);
  metric (out, "kaigi_rtp_sent_packets_total", "counter",
          "RTP packets sent to current participants.", stats.packets_out);
  metric (out, "kaigi_recordings_active", "gauge", "Recordings running.", recordings);
  metric (out, "kaigi_recording_video_queue_seconds", "gauge",
          "Raw video waiting for the recordings' H.264 encoders, summed over recording rooms.",
          video_queue_ns / 1e9);
  metric (out, "kaigi_recording_audio_queue_seconds", "gauge",
          "Raw audio waiting for the recordings' AAC encoders, summed over recording rooms.",
          audio_queue_ns / 1e9);

  g_string_append (out, "# HELP kaigi_join_latency_seconds Time from join to a connected peer connection.\n"
                        "# TYPE kaigi_join_latency_seconds histogram\n");
  for (i = 0; i < G_N_ELEMENTS (join_latency_buckets); i++)
    {
      cumulative += self->join_latency_counts[i];
      g_string_append_printf (out, "kaigi_join_latency_seconds_bucket{le=\"%g\"} %" G_GUINT64_FORMAT "\n",
                              join_latency_buckets[i], cumulative);
    }
  g_string_append_printf (out, "kaigi_join_latency_seconds_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
                               "kaigi_join_latency_seconds_sum %.6f\n"
                               "kaigi_join_latency_seconds_count %" G_GUINT64_FORMAT "\n",
                          self->join_latency_count, self->join_latency_sum, self->join_latency_count);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8",
                                    SOUP_MEMORY_TAKE, out->str, out->len);
  g_string_free (out, FALSE);
}

/* WebSocket signaling */

static void
handle_websocket (SoupServer              *soup,
                  SoupServerMessage       *msg,
                  const char              *path,
                  SoupWebsocketConnection *connection,
                  gpointer                 user_data)
{
  KaigiServer *self = user_data;
  KaigiSignalingPeer *peer = kaigi_signaling_peer_new (self, connection, self->config->idle_timeout_s);

  g_ptr_array_add (self->peers, peer);
  self->connections_total++;
  /* connected during the shutdown grace: tell it too */
  if (self->shutting_down)
    kaigi_signaling_peer_announce_shutdown (peer, self->config->shutdown_grace_s);
}

/* Rooms */

static void
on_room_empty (KaigiRoom   *room,
               KaigiServer *self)
{
  kaigi_server_release_room_if_empty (self, room);
}

static void
on_participant_connected (KaigiRoom        *room,
                          KaigiParticipant *participant,
                          gint64            latency_us,
                          KaigiServer      *self)
{
  double seconds = latency_us / (double) G_USEC_PER_SEC;
  guint i;

  self->join_latency_count++;
  self->join_latency_sum += seconds;
  for (i = 0; i < G_N_ELEMENTS (join_latency_buckets); i++)
    {
      if (seconds <= join_latency_buckets[i])
        {
          self->join_latency_counts[i]++;
          break;
        }
    }
}

/**
 * kaigi_server_ensure_room:
 * @self: a server
 * @name: a validated room name
 * @error: return location for a #KAIGI_PROTOCOL_ERROR
 *
 * Returns: (transfer none) (nullable): the room called @name, created if needed
 */
KaigiRoom *
kaigi_server_ensure_room (KaigiServer  *self,
                          const char   *name,
                          GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  KaigiRoom *room;

  g_return_val_if_fail (KAIGI_IS_SERVER (self), NULL);

  if (self->soup == NULL || self->shutting_down)
    {
      g_set_error_literal (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_SHUTTING_DOWN,
                           "the server is shutting down");
      return NULL;
    }

  room = g_hash_table_lookup (self->rooms, name);
  if (room)
    return room;

  room = kaigi_room_new (name, self->config, &local_error);
  if (room == NULL)
    {
      g_set_error (error, KAIGI_PROTOCOL_ERROR, KAIGI_PROTOCOL_ERROR_INTERNAL,
                   "cannot create the room: %s", local_error->message);
      return NULL;
    }

  g_signal_connect (room, "empty", G_CALLBACK (on_room_empty), self);
  g_signal_connect (room, "participant-connected", G_CALLBACK (on_participant_connected), self);
  g_hash_table_insert (self->rooms, g_strdup (name), room);
  g_message ("Room %s created", name);
  return room;
}

/**
 * kaigi_server_release_room_if_empty:
 * @self: a server
 * @room: one of its rooms
 *
 * Frees @room once nobody is in it and its media is torn down.
 */
void
kaigi_server_release_room_if_empty (KaigiServer *self,
                                    KaigiRoom   *room)
{
  g_autofree char *name = NULL;

  g_return_if_fail (KAIGI_IS_SERVER (self));

  if (!kaigi_room_is_empty (room))
    return;

  name = g_strdup (kaigi_room_get_name (room));
  g_signal_handlers_disconnect_by_data (room, self);
  if (g_hash_table_remove (self->rooms, name))
    g_message ("Room %s closed", name);
}

/**
 * kaigi_server_note_join:
 * @self: a server
 *
 * Counts a successful join for `/metrics`.
 */
void
kaigi_server_note_join (KaigiServer *self)
{
  g_return_if_fail (KAIGI_IS_SERVER (self));

  self->joins_total++;
}

/**
 * kaigi_server_dup_ice_servers:
 * @self: a server
 *
 * Returns: (transfer full) (element-type KaigiIceServer): the ICE servers for clients
 */
GPtrArray *
kaigi_server_dup_ice_servers (KaigiServer *self)
{
  g_return_val_if_fail (KAIGI_IS_SERVER (self), NULL);

  return kaigi_config_get_ice_servers (self->config);
}

/**
 * kaigi_server_remove_peer:
 * @self: a server
 * @peer: a closed peer
 *
 * Drops the server's reference to @peer.
 */
void
kaigi_server_remove_peer (KaigiServer        *self,
                          KaigiSignalingPeer *peer)
{
  g_return_if_fail (KAIGI_IS_SERVER (self));

  g_ptr_array_remove_fast (self->peers, peer);
}

/* Public API */

/**
 * kaigi_server_new:
 * @config: the configuration (copied)
 *
 * Returns: (transfer full): a server, not yet listening
 */
KaigiServer *
kaigi_server_new (const KaigiConfig *config)
{
  KaigiServer *self;

  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (KAIGI_TYPE_SERVER, NULL);
  self->config = kaigi_config_copy (config);
  return self;
}

/**
 * kaigi_server_start:
 * @self: a server
 * @error: return location for a #GIOError (address in use, permission) or
 *   a #GTlsError (the certificate or key cannot be loaded)
 *
 * Starts listening on the configured address and port (port 0 picks a free
 * one, see kaigi_server_get_port()), with TLS (HTTPS, wss://) when the
 * configuration names a certificate and key. Serves `/` (web client), `/ws`
 * (signaling, docs/protocol.md), `/api/…` (REST, DESIGN.md), `/healthz`
 * and `/metrics` (Prometheus text format 0.0.4). Main thread only.
 *
 * Returns: %TRUE when listening
 */
gboolean
kaigi_server_start (KaigiServer  *self,
                    GError      **error)
{
  g_autoslist(GUri) uris = NULL;
  SoupServerListenOptions options = 0;
  gboolean ok;

  g_return_val_if_fail (KAIGI_IS_SERVER (self), FALSE);
  g_return_val_if_fail (self->soup == NULL, FALSE);

  self->soup = soup_server_new ("server-header", "Kaigi/" PACKAGE_VERSION " ", NULL);
  soup_server_add_handler (self->soup, NULL, handle_static, self, NULL);
  soup_server_add_handler (self->soup, "/api", handle_api, self, NULL);
  soup_server_add_handler (self->soup, "/recordings", handle_recording_download, self, NULL);
  soup_server_add_handler (self->soup, "/healthz", handle_healthz, self, NULL);
  soup_server_add_handler (self->soup, "/metrics", handle_metrics, self, NULL);
  soup_server_add_websocket_handler (self->soup, "/ws", NULL, NULL, handle_websocket, self, NULL);

  if (self->config->tls_certificate)
    {
      g_autoptr(GTlsCertificate) certificate =
        g_tls_certificate_new_from_files (self->config->tls_certificate, self->config->tls_key, error);

      if (certificate == NULL)
        {
          g_clear_object (&self->soup);
          return FALSE;
        }
      soup_server_set_tls_certificate (self->soup, certificate);
      options |= SOUP_SERVER_LISTEN_HTTPS;
    }

  if (self->config->address)
    {
      g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (self->config->address);
      g_autoptr(GSocketAddress) address = NULL;

      if (inet == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "“%s” is not an IP address", self->config->address);
          g_clear_object (&self->soup);
          return FALSE;
        }
      address = g_inet_socket_address_new (inet, self->config->port);
      ok = soup_server_listen (self->soup, address, options, error);
    }
  else
    {
      ok = soup_server_listen_all (self->soup, self->config->port, options, error);
    }

  if (!ok)
    {
      g_clear_object (&self->soup);
      return FALSE;
    }

  uris = soup_server_get_uris (self->soup);
  self->port = uris ? (guint) g_uri_get_port (uris->data) : self->config->port;
  return TRUE;
}

/**
 * kaigi_server_get_port:
 * @self: a started server
 *
 * Returns: the TCP port the server listens on
 */
guint
kaigi_server_get_port (KaigiServer *self)
{
  g_return_val_if_fail (KAIGI_IS_SERVER (self), 0);

  return self->port;
}

/**
 * kaigi_server_announce_shutdown:
 * @self: a server
 *
 * The first step of a graceful stop: from now on every `join` is refused
 * with `shutting-down`, and every connected client is sent
 * `server-shutdown`. Connections, rooms and the listening socket stay
 * until kaigi_server_stop(). Main thread only; idempotent.
 */
void
kaigi_server_announce_shutdown (KaigiServer *self)
{
  guint i;

  g_return_if_fail (KAIGI_IS_SERVER (self));

  if (self->shutting_down)
    return;

  self->shutting_down = TRUE;
  for (i = 0; i < self->peers->len; i++)
    kaigi_signaling_peer_announce_shutdown (g_ptr_array_index (self->peers, i),
                                            self->config->shutdown_grace_s);
}

/**
 * kaigi_server_stop:
 * @self: a server
 *
 * Stops listening, closes every signaling connection and every room.
 * Main thread only; idempotent.
 */
void
kaigi_server_stop (KaigiServer *self)
{
  g_autoptr(GList) rooms = NULL;
  GList *l;
  guint i;

  g_return_if_fail (KAIGI_IS_SERVER (self));

  if (self->soup)
    soup_server_disconnect (self->soup);
  g_clear_object (&self->soup);

  for (i = 0; self->peers && i < self->peers->len; i++)
    kaigi_signaling_peer_close (g_ptr_array_index (self->peers, i),
                                SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "server stopping");

  if (self->rooms)
    {
      rooms = g_hash_table_get_values (self->rooms);
      for (l = rooms; l; l = l->next)
        g_object_ref (l->data);
      for (l = rooms; l; l = l->next)
        {
          kaigi_room_close (l->data);
          g_object_unref (l->data);
        }
    }
}

/**
 * kaigi_server_is_idle:
 * @self: a server
 *
 * Returns: %TRUE when no room and no signaling connection is left, e.g.
 *   after kaigi_server_stop() once the main context has run the teardown
 */
gboolean
kaigi_server_is_idle (KaigiServer *self)
{
  g_return_val_if_fail (KAIGI_IS_SERVER (self), TRUE);

  return g_hash_table_size (self->rooms) == 0 && self->peers->len == 0;
}

/**
 * kaigi_server_get_n_recordings:
 * @self: a server
 *
 * Counts the recordings whose file is still open, running or being
 * finalized (kaigi_room_get_n_recordings()). A finalizing recording ends
 * by itself: once the encoders have caught up with its stop, or after
 * its muxer has written nothing for 10 s. Main context only.
 *
 * Returns: the number of such recordings in all rooms
 */
guint
kaigi_server_get_n_recordings (KaigiServer *self)
{
  GHashTableIter iter;
  gpointer room;
  guint n = 0;

  g_return_val_if_fail (KAIGI_IS_SERVER (self), 0);

  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, &room))
    n += kaigi_room_get_n_recordings (room);
  return n;
}

/**
 * kaigi_server_get_n_connections:
 * @self: a server
 * @total: (out) (optional): connections accepted since the start
 *
 * Returns: the signaling WebSocket connections open now (web clients and
 *   other clients). Main context only.
 */
guint
kaigi_server_get_n_connections (KaigiServer *self,
                                guint64     *total)
{
  g_return_val_if_fail (KAIGI_IS_SERVER (self), 0);

  if (total)
    *total = self->connections_total;
  return self->peers->len;
}
