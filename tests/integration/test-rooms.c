/* test-rooms.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Integration tests: the real KaigiServer in process on 127.0.0.1:0, joined
 * by KaigiTestClients (webrtcbin) over the real WebSocket and loopback
 * ICE/DTLS/SRTP. Waits iterate the default main context against a deadline;
 * nothing sleeps.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <sys/prctl.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <json-glib/json-glib.h>

#include "kaigi-config.h"
#include "kaigi-server.h"
#include "kaigi-test-client.h"
#include "kaigi-test-utils.h"

#define RED     0xFF0000
#define GREEN   0x00FF00
#define BLUE    0x0000FF
#define YELLOW  0xFFFF00
#define MAGENTA 0xFF00FF
#define CYAN    0x00FFFF
#define WHITE   0xFFFFFF

/* VP8 at 160×120 and the YUV round trip move a solid colour a little. */
#define COLOUR_TOLERANCE 48

#define SIGNAL_TIMEOUT_MS 5000
#define MEDIA_TIMEOUT_MS 20000

/* Frames/buffers that prove a stream flows: about 1 s of video at 15 fps,
 * 0.4 s of 20 ms audio. */
#define MIN_FRAMES 10
#define MIN_AUDIO 20

typedef struct
{
  guint idle_timeout_s;
} Params;

typedef struct
{
  KaigiServer *server;
  guint port;
  GPtrArray *clients;
  char *recordings_dir;
  char *skip;
} Fixture;

static void dump_state (Fixture *f);

/* Wait for @cond; on time-out print every client's state and end the test
 * (failed) so the teardown still runs. */
#define WAIT(cond, timeout_ms) \
  KAIGI_TEST_WAIT_UNTIL_ELSE (cond, timeout_ms, { dump_state (f); return; })

/* A failed check marks the test failed and ends it; other tests still run. */
#define CHECK(cond)                                                             \
  G_STMT_START {                                                                \
    if (!(cond))                                                                \
      {                                                                         \
        g_test_fail_printf ("%s:%d: check failed: %s", __FILE__, __LINE__, #cond); \
        dump_state (f);                                                         \
        return;                                                                 \
      }                                                                         \
  } G_STMT_END

#define CHECK_STR(a, b)                                                         \
  G_STMT_START {                                                                \
    const char *check_a_ = (a);                                                 \
    const char *check_b_ = (b);                                                 \
    if (g_strcmp0 (check_a_, check_b_) != 0)                                    \
      {                                                                         \
        g_test_fail_printf ("%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")", \
                            __FILE__, __LINE__, #a, #b, check_a_, check_b_);    \
        dump_state (f);                                                         \
        return;                                                                 \
      }                                                                         \
  } G_STMT_END

#define CHECK_NO_ERROR(error)                                                   \
  G_STMT_START {                                                                \
    if ((error) != NULL)                                                        \
      {                                                                         \
        g_test_fail_printf ("%s:%d: unexpected error: %s", __FILE__, __LINE__,  \
                            (error)->message);                                  \
        return;                                                                 \
      }                                                                         \
  } G_STMT_END

/* The JSON object held by @node, or NULL. */
#define NODE_OBJECT(node) \
  ((node) != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL)

#define SKIP_IF_NEEDED(f)          \
  G_STMT_START {                   \
    if ((f)->skip != NULL)         \
      {                            \
        g_test_skip ((f)->skip);   \
        return;                    \
      }                            \
  } G_STMT_END

/* Watchdog {{{ */

/* A deadlock (seen: the main context blocked in a state change) would
 * otherwise only end in meson's time-out for the whole binary, without
 * saying which test hung. */
#define TEST_WATCHDOG_S 120

static GMutex watchdog_lock;
static gint64 watchdog_deadline;        /* 0: no test running */
static char *watchdog_test;

static gpointer
watchdog_thread (gpointer data)
{
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();

      g_mutex_lock (&watchdog_lock);
      if (watchdog_deadline != 0 && now > watchdog_deadline)
        {
          /* Plain stdio: the main thread may hold GLib's logging locks. */
          printf ("Bail out! %s did not finish within %d s (deadlock?)\n",
                  watchdog_test, TEST_WATCHDOG_S);
          fflush (stdout);
          abort ();
        }
      g_mutex_unlock (&watchdog_lock);
      g_usleep (G_USEC_PER_SEC);
    }
  return NULL;
}

static void
watchdog_arm (void)
{
  g_mutex_lock (&watchdog_lock);
  g_free (watchdog_test);
  watchdog_test = g_strdup (g_test_get_path ());
  watchdog_deadline = g_get_monotonic_time () + TEST_WATCHDOG_S * G_USEC_PER_SEC;
  g_mutex_unlock (&watchdog_lock);
}

static void
watchdog_disarm (void)
{
  g_mutex_lock (&watchdog_lock);
  watchdog_deadline = 0;
  g_mutex_unlock (&watchdog_lock);
}

/* }}} */

/* Fixture {{{ */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  const Params *params = data;
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = NULL;

  watchdog_arm ();
  f->clients = g_ptr_array_new_with_free_func (g_object_unref);

  if (!kaigi_test_client_check_plugins (&missing))
    {
      f->skip = g_strdup_printf ("missing GStreamer elements: %s", missing);
      return;
    }

  f->recordings_dir = g_dir_make_tmp ("kaigi-test-XXXXXX", &error);
  g_assert_no_error (error);

  config = kaigi_config_new ();
  g_free (config->address);
  config->address = g_strdup ("127.0.0.1");
  config->port = 0;
  g_free (config->recordings_dir);
  config->recordings_dir = g_strdup (f->recordings_dir);
  if (params != NULL && params->idle_timeout_s > 0)
    config->idle_timeout_s = params->idle_timeout_s;

  f->server = kaigi_server_new (config);
  g_assert_nonnull (f->server);
  if (!kaigi_server_start (f->server, &error))
    g_error ("cannot start the server: %s", error->message);
  f->port = kaigi_server_get_port (f->server);
  g_assert_cmpuint (f->port, >, 0);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  /* Close every client first so the server sees clean disconnects, then
   * stop the server while the main context still runs. */
  for (guint i = 0; i < f->clients->len; i++)
    kaigi_test_client_close (g_ptr_array_index (f->clients, i));
  kaigi_test_iterate_pending ();
  g_clear_pointer (&f->clients, g_ptr_array_unref);

  if (f->server != NULL)
    kaigi_server_stop (f->server);
  g_clear_object (&f->server);
  kaigi_test_iterate_pending ();

  if (f->recordings_dir != NULL)
    {
      /* Only removes it when empty: recordings are for another suite. */
      g_rmdir (f->recordings_dir);
      g_free (f->recordings_dir);
    }
  g_free (f->skip);
  watchdog_disarm ();
}

static KaigiTestClient *
add_client_full (Fixture    *f,
                 const char *room,
                 const char *name,
                 guint32     rgb,
                 gboolean    audio,
                 gboolean    video,
                 gboolean    auto_join)
{
  KaigiTestClient *client = kaigi_test_client_new (f->port, room, name, rgb, audio, video);

  g_ptr_array_add (f->clients, client);
  kaigi_test_client_set_auto_join (client, auto_join);
  kaigi_test_client_connect (client);
  return client;
}

static KaigiTestClient *
add_client (Fixture    *f,
            const char *room,
            const char *name,
            guint32     rgb)
{
  return add_client_full (f, room, name, rgb, TRUE, TRUE, TRUE);
}

static void
dump_state (Fixture *f)
{
  for (guint i = 0; i < f->clients->len; i++)
    {
      KaigiTestClient *c = g_ptr_array_index (f->clients, i);

      g_test_message ("client %s: id=%s connected=%d joined=%d closed=%d(code %u) "
                      "offers=%u answers=%u ice-connected=%d chat-open=%d chats=%u roster=%u "
                      "errors=%u unattributed=%" G_GUINT64_FORMAT " failure=%s",
                      kaigi_test_client_get_name (c),
                      kaigi_test_client_get_id (c),
                      kaigi_test_client_is_connected (c),
                      kaigi_test_client_is_joined (c),
                      kaigi_test_client_is_closed (c),
                      kaigi_test_client_get_close_code (c),
                      kaigi_test_client_get_n_offers (c),
                      kaigi_test_client_get_n_answers (c),
                      kaigi_test_client_is_ice_connected (c),
                      kaigi_test_client_is_chat_open (c),
                      kaigi_test_client_get_n_chats (c),
                      kaigi_test_client_get_n_participants (c),
                      kaigi_test_client_get_n_errors (c),
                      kaigi_test_client_get_unattributed_buffers (c),
                      kaigi_test_client_get_failure (c));

      for (guint j = 0; j < f->clients->len; j++)
        {
          KaigiTestClient *o = g_ptr_array_index (f->clients, j);
          const char *id = kaigi_test_client_get_id (o);
          guint32 rgb = 0;
          gboolean have_rgb;

          if (o == c || id == NULL)
            continue;
          have_rgb = kaigi_test_client_get_video_colour (c, id, &rgb);
          g_test_message ("  from %s: video frames=%" G_GUINT64_FORMAT
                          " colour=%s%06X (sent %06X) audio buffers=%" G_GUINT64_FORMAT
                          " rms=%.1f dBFS tracks(audio=%d video=%d)",
                          kaigi_test_client_get_name (o),
                          kaigi_test_client_get_video_frames (c, id),
                          have_rgb ? "" : "none/", rgb,
                          kaigi_test_client_get_rgb (o),
                          kaigi_test_client_get_audio_buffers (c, id),
                          kaigi_test_client_get_audio_rms_db (c, id),
                          kaigi_test_client_has_track_from (c, id, "audio"),
                          kaigi_test_client_has_track_from (c, id, "video"));
        }

      if (g_getenv ("KAIGI_TEST_VERBOSE") != NULL)
        {
          g_test_message ("  last offer:\n%s", kaigi_test_client_get_last_offer (c));
          g_test_message ("  last answer:\n%s", kaigi_test_client_get_last_answer (c));
        }
      kaigi_test_client_dump_dot (c, "kaigi-test-timeout");
    }
}

/* }}} */

/* Conditions {{{ */

static gboolean
all_joined (KaigiTestClient **clients,
            guint             n)
{
  for (guint i = 0; i < n; i++)
    if (!kaigi_test_client_is_joined (clients[i]))
      return FALSE;
  return TRUE;
}

/* Every client's roster holds exactly the other clients of @clients. */
static gboolean
rosters_complete (KaigiTestClient **clients,
                  guint             n)
{
  for (guint i = 0; i < n; i++)
    {
      if (kaigi_test_client_get_n_participants (clients[i]) != n - 1)
        return FALSE;
      for (guint j = 0; j < n; j++)
        if (i != j && kaigi_test_client_lookup_participant (clients[i],
                                                            kaigi_test_client_get_id (clients[j])) == NULL)
          return FALSE;
    }
  return TRUE;
}

/* @rx decodes at least @min_frames of @tx's video, in @tx's colour. */
static gboolean
receives_video (KaigiTestClient *rx,
                KaigiTestClient *tx,
                guint64          min_frames)
{
  const char *id = kaigi_test_client_get_id (tx);
  guint32 rgb;

  return id != NULL &&
         kaigi_test_client_get_video_frames (rx, id) >= min_frames &&
         kaigi_test_client_get_video_colour (rx, id, &rgb) &&
         kaigi_test_colour_near (rgb, kaigi_test_client_get_rgb (tx), COLOUR_TOLERANCE);
}

static gboolean
receives_audio (KaigiTestClient *rx,
                KaigiTestClient *tx,
                guint64          min_buffers)
{
  const char *id = kaigi_test_client_get_id (tx);

  return id != NULL && kaigi_test_client_get_audio_buffers (rx, id) >= min_buffers;
}

/* Everyone receives everything everyone else publishes. */
static gboolean
media_mesh_flows (KaigiTestClient **clients,
                  guint             n)
{
  for (guint i = 0; i < n; i++)
    for (guint j = 0; j < n; j++)
      {
        if (i == j)
          continue;
        if (kaigi_test_client_publishes_video (clients[j]) &&
            !receives_video (clients[i], clients[j], MIN_FRAMES))
          return FALSE;
        if (kaigi_test_client_publishes_audio (clients[j]) &&
            !receives_audio (clients[i], clients[j], MIN_AUDIO))
          return FALSE;
      }
  return TRUE;
}

static guint64
frames_from (KaigiTestClient *rx,
             KaigiTestClient *tx)
{
  return kaigi_test_client_get_video_frames (rx, kaigi_test_client_get_id (tx));
}

static gboolean
negotiations_settled (KaigiTestClient **clients,
                      guint             n)
{
  for (guint i = 0; i < n; i++)
    if (kaigi_test_client_get_n_offers (clients[i]) == 0 ||
        kaigi_test_client_get_n_answers (clients[i]) != kaigi_test_client_get_n_offers (clients[i]))
      return FALSE;
  return TRUE;
}

static gboolean
no_client_failures (Fixture *f)
{
  gboolean ok = TRUE;

  for (guint i = 0; i < f->clients->len; i++)
    {
      KaigiTestClient *c = g_ptr_array_index (f->clients, i);

      if (kaigi_test_client_get_failure (c) != NULL)
        {
          g_test_message ("client %s failed: %s", kaigi_test_client_get_name (c),
                          kaigi_test_client_get_failure (c));
          ok = FALSE;
        }
    }
  return ok;
}

/* REST helpers */

static JsonObject *
find_room (JsonNode   *rooms_root,
           const char *name)
{
  JsonArray *rooms;

  if (rooms_root == NULL || !JSON_NODE_HOLDS_OBJECT (rooms_root) ||
      !json_object_has_member (json_node_get_object (rooms_root), "rooms"))
    return NULL;
  rooms = json_object_get_array_member (json_node_get_object (rooms_root), "rooms");
  for (guint i = 0; rooms != NULL && i < json_array_get_length (rooms); i++)
    {
      JsonObject *room = json_array_get_object_element (rooms, i);

      if (room != NULL && g_strcmp0 (json_object_get_string_member_with_default (room, "name", NULL), name) == 0)
        return room;
    }
  return NULL;
}

static JsonObject *
find_room_participant (JsonObject *room,
                       const char *id)
{
  JsonArray *participants;

  if (room == NULL || !json_object_has_member (room, "participants"))
    return NULL;
  participants = json_object_get_array_member (room, "participants");
  for (guint i = 0; participants != NULL && i < json_array_get_length (participants); i++)
    {
      JsonObject *p = json_array_get_object_element (participants, i);

      if (p != NULL && g_strcmp0 (json_object_get_string_member_with_default (p, "id", NULL), id) == 0)
        return p;
    }
  return NULL;
}

static guint
room_n_participants (JsonObject *room)
{
  JsonArray *participants = room && json_object_has_member (room, "participants") ?
                            json_object_get_array_member (room, "participants") : NULL;

  return participants ? json_array_get_length (participants) : 0;
}

/* }}} */

/* (a) Three clients see and hear each other {{{ */

static void
test_three_clients (Fixture       *f,
                    gconstpointer  data)
{
  KaigiTestClient *c[3];

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "mesh", "red", RED);
  c[1] = add_client (f, "mesh", "green", GREEN);
  c[2] = add_client (f, "mesh", "blue", BLUE);

  WAIT (all_joined (c, 3), SIGNAL_TIMEOUT_MS);
  WAIT (rosters_complete (c, 3), SIGNAL_TIMEOUT_MS);

  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      if (i != j)
        {
          const KaigiTestParticipant *p =
            kaigi_test_client_lookup_participant (c[i], kaigi_test_client_get_id (c[j]));

          CHECK_STR (p->name, kaigi_test_client_get_name (c[j]));
          CHECK (p->audio && p->video);
        }

  WAIT (media_mesh_flows (c, 3), MEDIA_TIMEOUT_MS);
  CHECK (no_client_failures (f));

  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      if (i != j)
        {
          guint32 rgb = 0;

          CHECK (kaigi_test_client_get_video_colour (c[i], kaigi_test_client_get_id (c[j]), &rgb));
          g_test_message ("%s sees %s as #%06X (sent #%06X), hears it at %.1f dBFS",
                          kaigi_test_client_get_name (c[i]), kaigi_test_client_get_name (c[j]),
                          rgb, kaigi_test_client_get_rgb (c[j]),
                          kaigi_test_client_get_audio_rms_db (c[i], kaigi_test_client_get_id (c[j])));
          CHECK (kaigi_test_colour_near (rgb, kaigi_test_client_get_rgb (c[j]), COLOUR_TOLERANCE));
          CHECK (kaigi_test_client_get_audio_rms_db (c[i], kaigi_test_client_get_id (c[j])) > -40.0);
        }
}

/* }}} */

/* (b) Leave, then a late joiner {{{ */

static void
test_leave_and_late_join (Fixture       *f,
                          gconstpointer  data)
{
  KaigiTestClient *c[4];
  g_autofree char *gone = NULL;
  guint64 from_b, from_gone_a, from_gone_b;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "leavers", "red", RED);
  c[1] = add_client (f, "leavers", "green", GREEN);
  c[2] = add_client (f, "leavers", "blue", BLUE);

  WAIT (all_joined (c, 3), SIGNAL_TIMEOUT_MS);
  WAIT (rosters_complete (c, 3), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 3), MEDIA_TIMEOUT_MS);

  gone = g_strdup (kaigi_test_client_get_id (c[2]));
  kaigi_test_client_leave (c[2]);

  WAIT (kaigi_test_client_get_left_reason (c[0], gone) != NULL &&
        kaigi_test_client_get_left_reason (c[1], gone) != NULL, SIGNAL_TIMEOUT_MS);
  CHECK_STR (kaigi_test_client_get_left_reason (c[0], gone), "left");
  CHECK_STR (kaigi_test_client_get_left_reason (c[1], gone), "left");
  CHECK (kaigi_test_client_lookup_participant (c[0], gone) == NULL);

  /* The server closes the connection after `leave`, with 1000. */
  WAIT (kaigi_test_client_is_closed (c[2]), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_close_code (c[2]) == 1000);

  /* The next offer no longer maps any m-line to the one who left... */
  WAIT (!kaigi_test_client_has_track_from (c[0], gone, NULL) &&
        !kaigi_test_client_has_track_from (c[1], gone, NULL), MEDIA_TIMEOUT_MS);

  /* ...and its media stops: over two further seconds of green's video,
   * nothing more arrives from blue. */
  from_b = frames_from (c[0], c[1]);
  WAIT (frames_from (c[0], c[1]) >= from_b + 15, MEDIA_TIMEOUT_MS);
  from_gone_a = kaigi_test_client_get_video_frames (c[0], gone);
  from_gone_b = kaigi_test_client_get_video_frames (c[1], gone);
  from_b = frames_from (c[0], c[1]);
  WAIT (frames_from (c[0], c[1]) >= from_b + 15, MEDIA_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_video_frames (c[0], gone) == from_gone_a);
  CHECK (kaigi_test_client_get_video_frames (c[1], gone) == from_gone_b);

  /* A late joiner gets everyone, and everyone gets it. */
  c[2] = add_client (f, "leavers", "yellow", YELLOW);
  WAIT (kaigi_test_client_is_joined (c[2]), SIGNAL_TIMEOUT_MS);
  WAIT (rosters_complete (c, 3), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_lookup_participant (c[2], gone) == NULL);
  WAIT (media_mesh_flows (c, 3), MEDIA_TIMEOUT_MS);

  /* And a second late joiner, to renegotiate once more on every peer. */
  c[3] = add_client (f, "leavers", "magenta", MAGENTA);
  WAIT (kaigi_test_client_is_joined (c[3]), SIGNAL_TIMEOUT_MS);
  WAIT (rosters_complete (c, 4), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 4), MEDIA_TIMEOUT_MS);
  CHECK (no_client_failures (f));
}

/* }}} */

/* (c) Rooms are isolated {{{ */

static void
test_room_isolation (Fixture       *f,
                     gconstpointer  data)
{
  KaigiTestClient *c[2];
  KaigiTestClient *x;
  g_autoptr(JsonNode) rooms = NULL;
  g_autoptr(GError) error = NULL;
  guint64 from_b;
  guint status = 0;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "alpha", "red", RED);
  c[1] = add_client (f, "alpha", "green", GREEN);
  x = add_client (f, "beta", "white", WHITE);

  WAIT (all_joined (c, 2) && kaigi_test_client_is_joined (x), SIGNAL_TIMEOUT_MS);
  WAIT (rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);
  WAIT (negotiations_settled (&x, 1) && kaigi_test_client_is_ice_connected (x), MEDIA_TIMEOUT_MS);

  /* Give room alpha two seconds of video for anything to leak. */
  from_b = frames_from (c[0], c[1]);
  WAIT (frames_from (c[0], c[1]) >= from_b + 30, MEDIA_TIMEOUT_MS);

  CHECK (kaigi_test_client_get_n_participants (x) == 0);
  CHECK (kaigi_test_client_get_n_participants (c[0]) == 1);
  CHECK (kaigi_test_client_get_n_participants (c[1]) == 1);
  for (guint i = 0; i < 2; i++)
    {
      CHECK (frames_from (x, c[i]) == 0);
      CHECK (kaigi_test_client_get_audio_buffers (x, kaigi_test_client_get_id (c[i])) == 0);
      CHECK (!kaigi_test_client_has_track_from (x, kaigi_test_client_get_id (c[i]), NULL));
      CHECK (frames_from (c[i], x) == 0);
      CHECK (!kaigi_test_client_has_track_from (c[i], kaigi_test_client_get_id (x), NULL));
    }
  CHECK (kaigi_test_client_get_unattributed_buffers (x) == 0);

  rooms = kaigi_test_http_get_json (f->port, "/api/rooms", &status, &error);
  CHECK_NO_ERROR (error);
  CHECK (status == 200);
  CHECK (room_n_participants (find_room (rooms, "alpha")) == 2);
  CHECK (room_n_participants (find_room (rooms, "beta")) == 1);
  CHECK (find_room_participant (find_room (rooms, "beta"), kaigi_test_client_get_id (x)) != NULL);
  CHECK (find_room_participant (find_room (rooms, "alpha"), kaigi_test_client_get_id (x)) == NULL);
  CHECK (no_client_failures (f));
}

/* }}} */

/* (d) Camera and microphone toggles are relayed {{{ */

static gboolean
sees_media_state (KaigiTestClient *rx,
                  KaigiTestClient *tx,
                  gboolean         audio,
                  gboolean         video)
{
  const KaigiTestParticipant *p =
    kaigi_test_client_lookup_participant (rx, kaigi_test_client_get_id (tx));

  return p != NULL && p->audio == audio && p->video == video;
}

static void
test_media_toggle (Fixture       *f,
                   gconstpointer  data)
{
  KaigiTestClient *c[2];
  g_autoptr(JsonNode) room = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *p;
  guint status = 0;
  guint updates;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "toggle", "red", RED);
  c[1] = add_client (f, "toggle", "green", GREEN);
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  CHECK (sees_media_state (c[1], c[0], TRUE, TRUE));

  updates = kaigi_test_client_get_n_updates (c[1]);
  kaigi_test_client_send_media (c[0], TRUE, FALSE);
  WAIT (sees_media_state (c[1], c[0], TRUE, FALSE), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_n_updates (c[1]) == updates + 1);

  room = kaigi_test_http_get_json (f->port, "/api/rooms/toggle", &status, &error);
  CHECK_NO_ERROR (error);
  CHECK (status == 200);
  p = find_room_participant (NODE_OBJECT (room), kaigi_test_client_get_id (c[0]));
  CHECK (p != NULL);
  CHECK (json_object_get_boolean_member_with_default (p, "video", TRUE) == FALSE);
  CHECK (json_object_get_boolean_member_with_default (p, "audio", FALSE) == TRUE);

  kaigi_test_client_send_media (c[0], FALSE, FALSE);
  WAIT (sees_media_state (c[1], c[0], FALSE, FALSE), SIGNAL_TIMEOUT_MS);
  kaigi_test_client_send_media (c[0], TRUE, TRUE);
  WAIT (sees_media_state (c[1], c[0], TRUE, TRUE), SIGNAL_TIMEOUT_MS);
  kaigi_test_client_send_media (c[1], FALSE, TRUE);
  WAIT (sees_media_state (c[0], c[1], FALSE, TRUE), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_n_errors (c[0]) == 0);
  CHECK (kaigi_test_client_get_n_errors (c[1]) == 0);
}

/* }}} */

/* (e) Chat on the data channel {{{ */

static gboolean
check_chat (KaigiTestClient *rx,
            guint            index,
            KaigiTestClient *from,
            const char      *text)
{
  const KaigiTestChat *chat = kaigi_test_client_get_chat (rx, index);
  g_autoptr(GDateTime) time = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

  if (chat == NULL)
    return FALSE;
  if (g_strcmp0 (chat->from, kaigi_test_client_get_id (from)) != 0 ||
      g_strcmp0 (chat->name, kaigi_test_client_get_name (from)) != 0 ||
      g_strcmp0 (chat->text, text) != 0 || chat->time == NULL)
    {
      g_test_message ("chat %u at %s: from=%s name=%s text=%s time=%s", index,
                      kaigi_test_client_get_name (rx), chat->from, chat->name,
                      chat->text, chat->time);
      return FALSE;
    }

  time = g_date_time_new_from_iso8601 (chat->time, NULL);
  if (time == NULL || g_date_time_get_utc_offset (time) != 0 ||
      ABS (g_date_time_difference (now, time)) > 60 * G_TIME_SPAN_SECOND)
    {
      g_test_message ("chat time %s is not ISO-8601 UTC near now", chat->time);
      return FALSE;
    }
  return TRUE;
}

static void
test_chat (Fixture       *f,
           gconstpointer  data)
{
  KaigiTestClient *c[2];
  g_autofree char *too_long = NULL;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "chat", "red", RED);
  c[1] = add_client (f, "chat", "green", GREEN);
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  WAIT (kaigi_test_client_is_chat_open (c[0]) && kaigi_test_client_is_chat_open (c[1]),
        MEDIA_TIMEOUT_MS);

  CHECK (kaigi_test_client_send_chat (c[0], "hello, こんにちは"));
  WAIT (kaigi_test_client_get_n_chats (c[0]) >= 1 && kaigi_test_client_get_n_chats (c[1]) >= 1,
        SIGNAL_TIMEOUT_MS);
  CHECK (check_chat (c[0], 0, c[0], "hello, こんにちは"));
  CHECK (check_chat (c[1], 0, c[0], "hello, こんにちは"));

  CHECK (kaigi_test_client_send_chat (c[1], "hi"));
  WAIT (kaigi_test_client_get_n_chats (c[0]) >= 2 && kaigi_test_client_get_n_chats (c[1]) >= 2,
        SIGNAL_TIMEOUT_MS);
  CHECK (check_chat (c[0], 1, c[1], "hi"));
  CHECK (check_chat (c[1], 1, c[1], "hi"));

  /* Invalid chat messages are answered on the channel and not relayed. */
  CHECK (kaigi_test_client_send_chat (c[0], ""));
  WAIT (kaigi_test_client_get_n_chat_errors (c[0]) >= 1, SIGNAL_TIMEOUT_MS);
  too_long = g_strnfill (2001, 'x');
  CHECK (kaigi_test_client_send_chat (c[0], too_long));
  WAIT (kaigi_test_client_get_n_chat_errors (c[0]) >= 2, SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_send_chat (c[0], "still here"));
  WAIT (kaigi_test_client_get_n_chats (c[1]) >= 3, SIGNAL_TIMEOUT_MS);
  CHECK (check_chat (c[1], 2, c[0], "still here"));
  CHECK (kaigi_test_client_get_n_chats (c[1]) == 3);
  CHECK (kaigi_test_client_get_n_chat_errors (c[1]) == 0);
}

/* }}} */

/* (f) Bad input is answered with the right error; nothing else breaks {{{ */

/* JSON nested @depth levels deep: an object with one array member holding
 * depth - 1 levels of nested arrays. */
static char *
nested_json (guint depth)
{
  GString *s = g_string_new ("{\"type\":\"ping\",\"x\":");

  for (guint i = 1; i < depth; i++)
    g_string_append_c (s, '[');
  for (guint i = 1; i < depth; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

#define EXPECT_ERROR(client, code, send_stmt)                                    \
  G_STMT_START {                                                                 \
    guint expect_n_ = kaigi_test_client_count_errors ((client), (code)) + 1;    \
    guint expect_total_ = kaigi_test_client_get_n_errors (client) + 1;           \
    send_stmt;                                                                   \
    WAIT (kaigi_test_client_count_errors ((client), (code)) >= expect_n_,       \
          SIGNAL_TIMEOUT_MS);                                                    \
    CHECK (kaigi_test_client_get_n_errors (client) == expect_total_);            \
  } G_STMT_END

static void
test_bad_messages (Fixture       *f,
                   gconstpointer  data)
{
  KaigiTestClient *c[2];
  KaigiTestClient *a;
  g_autofree char *deep = NULL;
  g_autofree char *too_deep = NULL;
  g_autofree char *ok_depth = NULL;
  g_autofree char *answer = NULL;
  guint pongs;
  guint64 a_from_b, b_from_a;

  SKIP_IF_NEEDED (f);

  a = c[0] = add_client (f, "bad", "red", RED);
  c[1] = add_client (f, "bad", "green", GREEN);
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);
  WAIT (negotiations_settled (c, 2), SIGNAL_TIMEOUT_MS);

  EXPECT_ERROR (a, "invalid-json", kaigi_test_client_send_text (a, "{not json"));
  EXPECT_ERROR (a, "invalid-json", kaigi_test_client_send_text (a, "[1,2,3]"));
  EXPECT_ERROR (a, "invalid-json", kaigi_test_client_send_text (a, ""));
  EXPECT_ERROR (a, "unknown-type", kaigi_test_client_send_text (a, "{\"type\":\"frobnicate\"}"));
  EXPECT_ERROR (a, "unknown-type", kaigi_test_client_send_text (a, "{\"room\":\"bad\"}"));
  EXPECT_ERROR (a, "missing-field", kaigi_test_client_send_text (a, "{\"type\":\"ice\"}"));
  EXPECT_ERROR (a, "invalid-field",
                kaigi_test_client_send_text (a, "{\"type\":\"media\",\"audio\":\"yes\",\"video\":true}"));

  /* No offer outstanding: a well-formed answer is unexpected. */
  answer = g_strdup_printf ("{\"type\":\"answer\",\"sdp\":%s}", "\"v=0\\r\\n\"");
  if (kaigi_test_client_get_last_answer (a) != NULL)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonGenerator) gen = json_generator_new ();
      g_autoptr(JsonNode) root = NULL;

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "answer");
      json_builder_set_member_name (b, "sdp");
      json_builder_add_string_value (b, kaigi_test_client_get_last_answer (a));
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      json_generator_set_root (gen, root);
      g_free (answer);
      answer = json_generator_to_data (gen, NULL);
    }
  EXPECT_ERROR (a, "unexpected-answer", kaigi_test_client_send_text (a, answer));

  EXPECT_ERROR (a, "unknown-mline", kaigi_test_client_send_text (a,
                "{\"type\":\"ice\",\"candidate\":\"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\","
                "\"sdpMLineIndex\":99}"));

  /* Nesting: the protocol allows 32 levels. 32000 levels stay under the
   * 64 KiB size limit (100 000 would be closed with 1009 first) and are deep
   * enough to overflow json-glib's recursive parser if unchecked. */
  deep = nested_json (32000);
  g_assert_cmpuint (strlen (deep), <, 64 * 1024);
  EXPECT_ERROR (a, "too-deep", kaigi_test_client_send_text (a, deep));
  too_deep = nested_json (40);
  EXPECT_ERROR (a, "too-deep", kaigi_test_client_send_text (a, too_deep));

  /* Within the limit, an unknown member of a known message is ignored. */
  pongs = kaigi_test_client_get_n_pongs (a);
  ok_depth = nested_json (8);
  kaigi_test_client_send_text (a, ok_depth);
  WAIT (kaigi_test_client_get_n_pongs (a) > pongs, SIGNAL_TIMEOUT_MS);

  EXPECT_ERROR (a, "already-joined", kaigi_test_client_send_join (a));
  EXPECT_ERROR (a, "invalid-json", kaigi_test_client_send_binary (a, (const guint8 *) "{\"type\":\"ping\"}", 15));

  /* The connection, the participant and the room are as they were. */
  CHECK (kaigi_test_client_is_connected (a));
  pongs = kaigi_test_client_get_n_pongs (a);
  kaigi_test_client_send_text (a, "{\"type\":\"ping\"}");
  WAIT (kaigi_test_client_get_n_pongs (a) > pongs, SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_left_reason (c[1], kaigi_test_client_get_id (a)) == NULL);
  CHECK (kaigi_test_client_lookup_participant (c[1], kaigi_test_client_get_id (a)) != NULL);
  CHECK (kaigi_test_client_get_n_errors (c[1]) == 0);

  a_from_b = frames_from (c[0], c[1]);
  b_from_a = frames_from (c[1], c[0]);
  WAIT (frames_from (c[0], c[1]) >= a_from_b + 15 && frames_from (c[1], c[0]) >= b_from_a + 15,
        MEDIA_TIMEOUT_MS);
  CHECK (no_client_failures (f));
}

static void
test_not_joined (Fixture       *f,
                 gconstpointer  data)
{
  KaigiTestClient *n;
  KaigiTestClient *other;

  SKIP_IF_NEEDED (f);

  other = add_client (f, "lobby", "green", GREEN);
  n = add_client_full (f, "lobby", "red", RED, TRUE, TRUE, FALSE);
  WAIT (kaigi_test_client_is_connected (n) && kaigi_test_client_is_joined (other),
        SIGNAL_TIMEOUT_MS);

  EXPECT_ERROR (n, "not-joined", kaigi_test_client_send_media (n, TRUE, TRUE));
  EXPECT_ERROR (n, "not-joined", kaigi_test_client_send_text (n, "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}"));
  EXPECT_ERROR (n, "not-joined", kaigi_test_client_send_text (n, "{\"type\":\"leave\"}"));
  EXPECT_ERROR (n, "unsupported-version", kaigi_test_client_send_text (n,
                "{\"type\":\"join\",\"room\":\"lobby\",\"name\":\"red\",\"version\":2}"));
  CHECK (!kaigi_test_client_is_joined (n));
  CHECK (kaigi_test_client_get_n_participants (other) == 0);

  /* A ping needs no join. */
  kaigi_test_client_send_text (n, "{\"type\":\"ping\"}");
  WAIT (kaigi_test_client_get_n_pongs (n) >= 1, SIGNAL_TIMEOUT_MS);

  /* After all that, the same connection still joins. */
  kaigi_test_client_send_join (n);
  WAIT (kaigi_test_client_is_joined (n), SIGNAL_TIMEOUT_MS);
  WAIT (kaigi_test_client_get_n_participants (other) == 1, SIGNAL_TIMEOUT_MS);
}

static void
test_invalid_names (Fixture       *f,
                    gconstpointer  data)
{
  static const struct
  {
    const char *room;
    const char *name;
    const char *code;
  } cases[] = {
    { "a/b", "ok", "invalid-room-name" },
    { "tab\there", "ok", "invalid-room-name" },
    { "bell\007", "ok", "invalid-room-name" },
    { "", "ok", "invalid-room-name" },
    { " leading", "ok", "invalid-room-name" },
    { "valid", "x/y", "invalid-name" },
    { "valid", "new\nline", "invalid-name" },
    { "valid", "", "invalid-name" },
    { "valid", "trailing ", "invalid-name" },
  };
  KaigiTestClient *clients[G_N_ELEMENTS (cases) + 3];
  KaigiTestClient *member;
  g_autoptr(GString) long_room = g_string_new (NULL);
  g_autoptr(GString) long_name = g_string_new (NULL);
  g_autoptr(GString) max_name = g_string_new (NULL);
  guint i;

  SKIP_IF_NEEDED (f);

  /* 65 code points (195 bytes) is one too many; 64 is fine. */
  for (i = 0; i < 65; i++)
    g_string_append (long_room, "会");
  for (i = 0; i < 65; i++)
    g_string_append_c (long_name, 'n');
  for (i = 0; i < 64; i++)
    g_string_append (max_name, "名");

  member = add_client (f, "valid", "member", GREEN);
  WAIT (kaigi_test_client_is_joined (member), SIGNAL_TIMEOUT_MS);

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    clients[i] = add_client_full (f, cases[i].room, cases[i].name, RED, FALSE, FALSE, TRUE);
  clients[i++] = add_client_full (f, long_room->str, "ok", RED, FALSE, FALSE, TRUE);
  clients[i++] = add_client_full (f, "valid", long_name->str, RED, FALSE, FALSE, TRUE);
  clients[i++] = add_client_full (f, "valid", max_name->str, RED, FALSE, FALSE, TRUE);

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("join room \"%s\" name \"%s\" → %s", cases[i].room, cases[i].name, cases[i].code);
      WAIT (kaigi_test_client_get_n_errors (clients[i]) >= 1, SIGNAL_TIMEOUT_MS);
      CHECK_STR (kaigi_test_client_get_error_code (clients[i], 0), cases[i].code);
      CHECK (!kaigi_test_client_is_joined (clients[i]));
    }
  WAIT (kaigi_test_client_get_n_errors (clients[i]) >= 1, SIGNAL_TIMEOUT_MS);
  CHECK_STR (kaigi_test_client_get_error_code (clients[i], 0), "invalid-room-name");
  i++;
  WAIT (kaigi_test_client_get_n_errors (clients[i]) >= 1, SIGNAL_TIMEOUT_MS);
  CHECK_STR (kaigi_test_client_get_error_code (clients[i], 0), "invalid-name");
  i++;
  WAIT (kaigi_test_client_is_joined (clients[i]), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_n_errors (clients[i]) == 0);

  /* The refused ones are still connected and can join properly. */
  CHECK (kaigi_test_client_is_connected (clients[0]));
  kaigi_test_client_send_text (clients[0], "{\"type\":\"join\",\"room\":\"valid\",\"name\":\"second try\"}");
  WAIT (kaigi_test_client_is_joined (clients[0]), SIGNAL_TIMEOUT_MS);

  /* Only "member", the 64-character name and "second try" are in. */
  WAIT (kaigi_test_client_get_n_participants (member) == 2, SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_find_participant_by_name (member, max_name->str) != NULL);
  CHECK (kaigi_test_client_find_participant_by_name (member, "second try") != NULL);
}

static void
test_invalid_sdp (Fixture       *f,
                  gconstpointer  data)
{
  KaigiTestClient *c[2];
  KaigiTestClient *e;
  g_autofree char *bad = NULL;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "sdp", "red", RED);
  WAIT (kaigi_test_client_is_joined (c[0]), SIGNAL_TIMEOUT_MS);

  /* Hold the offer so it stays outstanding while we answer garbage. */
  e = kaigi_test_client_new (f->port, "sdp", "green", GREEN, TRUE, TRUE);
  g_ptr_array_add (f->clients, e);
  kaigi_test_client_set_hold_offers (e, TRUE);
  kaigi_test_client_connect (e);
  c[1] = e;
  WAIT (kaigi_test_client_get_n_offers (e) >= 1, SIGNAL_TIMEOUT_MS);

  EXPECT_ERROR (e, "invalid-sdp",
                kaigi_test_client_send_text (e, "{\"type\":\"answer\",\"sdp\":\"this is not SDP\"}"));
  bad = g_strdup ("{\"type\":\"answer\",\"sdp\":\"v=0\\r\\no=- 0 0 IN IP4 0.0.0.0\\r\\ns=-\\r\\nt=0 0\\r\\n"
                  "m=audio 9 UDP/TLS/RTP/SAVPF 96\\r\\n\"}");
  EXPECT_ERROR (e, "invalid-sdp", kaigi_test_client_send_text (e, bad));
  CHECK (kaigi_test_client_is_connected (e));

  /* The offer is still outstanding: the real answer completes it. */
  kaigi_test_client_set_hold_offers (e, FALSE);
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);
  CHECK (no_client_failures (f));
}

static void
test_message_too_big (Fixture       *f,
                      gconstpointer  data)
{
  KaigiTestClient *c[2];
  KaigiTestClient *big;
  g_autoptr(GString) text = g_string_new ("{\"type\":\"ping\",\"pad\":\"");
  g_autofree char *big_id = NULL;
  guint64 from_b;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "big", "red", RED);
  c[1] = add_client (f, "big", "green", GREEN);
  big = add_client (f, "big", "blue", BLUE);
  WAIT (all_joined (c, 2) && kaigi_test_client_is_joined (big), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);
  big_id = g_strdup (kaigi_test_client_get_id (big));

  while (text->len < 70 * 1024)
    g_string_append (text, "0123456789abcdef");
  g_string_append (text, "\"}");
  kaigi_test_client_send_text (big, text->str);

  WAIT (kaigi_test_client_is_closed (big), SIGNAL_TIMEOUT_MS);
  CHECK (kaigi_test_client_get_close_code (big) == 1009);
  WAIT (kaigi_test_client_get_left_reason (c[0], big_id) != NULL, SIGNAL_TIMEOUT_MS);
  CHECK_STR (kaigi_test_client_get_left_reason (c[0], big_id), "disconnected");

  from_b = frames_from (c[0], c[1]);
  WAIT (frames_from (c[0], c[1]) >= from_b + 15, MEDIA_TIMEOUT_MS);
  CHECK (kaigi_test_client_is_connected (c[0]) && kaigi_test_client_is_connected (c[1]));
}

/* }}} */

/* (g) A vanished client times out {{{ */

static void
test_vanish_timeout (Fixture       *f,
                     gconstpointer  data)
{
  const Params *params = data;
  KaigiTestClient *c[2];
  g_autofree char *gone = NULL;
  g_autoptr(JsonNode) room = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start, elapsed_ms;
  guint status = 0;
  guint pongs;

  SKIP_IF_NEEDED (f);

  for (guint i = 0; i < 2; i++)
    {
      c[i] = kaigi_test_client_new (f->port, "vanish", i ? "green" : "red",
                                    i ? GREEN : RED, TRUE, TRUE);
      g_ptr_array_add (f->clients, c[i]);
      /* Well inside the 3 s idle timeout. */
      kaigi_test_client_set_ping_interval (c[i], 500);
      kaigi_test_client_connect (c[i]);
    }
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);

  gone = g_strdup (kaigi_test_client_get_id (c[0]));
  start = g_get_monotonic_time ();
  kaigi_test_client_vanish (c[0]);

  WAIT (kaigi_test_client_get_left_reason (c[1], gone) != NULL,
        (params->idle_timeout_s + 5) * 1000);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_test_message ("vanished client removed after %" G_GINT64_FORMAT " ms (idle timeout %u s)",
                  elapsed_ms, params->idle_timeout_s);
  CHECK_STR (kaigi_test_client_get_left_reason (c[1], gone), "timeout");
  CHECK (elapsed_ms <= (gint64) (params->idle_timeout_s + 2) * 1000);

  /* The one that kept pinging is still in. */
  CHECK (kaigi_test_client_is_connected (c[1]));
  pongs = kaigi_test_client_get_n_pongs (c[1]);
  WAIT (kaigi_test_client_get_n_pongs (c[1]) > pongs, SIGNAL_TIMEOUT_MS);
  room = kaigi_test_http_get_json (f->port, "/api/rooms/vanish", &status, &error);
  CHECK_NO_ERROR (error);
  CHECK (status == 200);
  CHECK (room_n_participants (NODE_OBJECT (room)) == 1);
  CHECK (find_room_participant (NODE_OBJECT (room), kaigi_test_client_get_id (c[1])) != NULL);
}

/* }}} */

/* (h) A receive-only client {{{ */

static void
test_receive_only (Fixture       *f,
                   gconstpointer  data)
{
  KaigiTestClient *c[3];
  const KaigiTestParticipant *p;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "listen", "red", RED);
  c[1] = add_client (f, "listen", "green", GREEN);
  c[2] = add_client_full (f, "listen", "viewer", BLUE, FALSE, FALSE, TRUE);

  WAIT (all_joined (c, 3) && rosters_complete (c, 3), SIGNAL_TIMEOUT_MS);
  p = kaigi_test_client_lookup_participant (c[0], kaigi_test_client_get_id (c[2]));
  CHECK (p != NULL && !p->audio && !p->video);

  WAIT (media_mesh_flows (c, 3), MEDIA_TIMEOUT_MS);
  CHECK (!kaigi_test_client_has_track_from (c[0], kaigi_test_client_get_id (c[2]), NULL));
  CHECK (!kaigi_test_client_has_track_from (c[1], kaigi_test_client_get_id (c[2]), NULL));
  CHECK (frames_from (c[0], c[2]) == 0);
  CHECK (no_client_failures (f));
}

/* }}} */

/* (j) H.264: forwarded to those who take it, refused by those who don't {{{ */

static KaigiTestClient *
add_h264_client (Fixture           *f,
                 const char        *name,
                 guint32            rgb,
                 const char        *publishes,
                 const char *const *video_codecs,
                 gboolean           refuse_h264)
{
  KaigiTestClient *client = kaigi_test_client_new (f->port, "h264", name, rgb, TRUE, TRUE);

  g_ptr_array_add (f->clients, client);
  kaigi_test_client_set_video_codec (client, publishes);
  kaigi_test_client_set_video_codecs (client, video_codecs);
  kaigi_test_client_set_refuse_h264 (client, refuse_h264);
  kaigi_test_client_connect (client);
  return client;
}

/* Whether the offer @rx was last sent carries @tx's video in @encoding */
static gboolean
offer_video_encoding_is (KaigiTestClient *rx,
                         KaigiTestClient *tx,
                         const char      *encoding)
{
  g_autoptr(GstSDPMessage) sdp = NULL;
  g_autofree char *mid = NULL;
  g_autofree char *wanted = g_strdup_printf (" %s/90000", encoding);
  const char *text = kaigi_test_client_get_last_offer (rx);

  mid = kaigi_test_client_dup_track_mid (rx, kaigi_test_client_get_id (tx), "video");
  if (text == NULL || mid == NULL || gst_sdp_message_new_from_text (text, &sdp) != GST_SDP_OK)
    return FALSE;

  for (guint i = 0; i < gst_sdp_message_medias_len (sdp); i++)
    {
      const GstSDPMedia *media = gst_sdp_message_get_media (sdp, i);

      if (g_strcmp0 (gst_sdp_media_get_attribute_val (media, "mid"), mid) != 0)
        continue;
      for (guint a = 0; a < gst_sdp_media_attributes_len (media); a++)
        {
          const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, a);

          if (g_strcmp0 (attr->key, "rtpmap") == 0 && attr->value != NULL &&
              g_str_has_suffix (attr->value, wanted))
            return TRUE;
        }
    }
  return FALSE;
}

static void
test_h264 (Fixture       *f,
           gconstpointer  data)
{
  static const char *const vp8_only[] = { "VP8", NULL };
  KaigiTestClient *c[4];
  g_autoptr(JsonNode) room = NULL;
  JsonObject *p;
  guint64 before;
  guint status = 0;

  SKIP_IF_NEEDED (f);

  /* A publishes H.264 and B, who says nothing of codecs, takes it; C
   * decodes VP8 only, so it is not offered A's video */
  c[0] = add_h264_client (f, "avc", RED, "H264", NULL, FALSE);
  c[1] = add_h264_client (f, "vp8", GREEN, "VP8", NULL, FALSE);
  c[2] = add_h264_client (f, "vp8-only", BLUE, "VP8", vp8_only, FALSE);

  WAIT (all_joined (c, 3) && rosters_complete (c, 3), SIGNAL_TIMEOUT_MS);
  WAIT (receives_video (c[1], c[0], MIN_FRAMES) &&
        receives_video (c[0], c[1], MIN_FRAMES) && receives_video (c[0], c[2], MIN_FRAMES) &&
        receives_video (c[2], c[1], MIN_FRAMES) && receives_video (c[1], c[2], MIN_FRAMES) &&
        receives_audio (c[1], c[0], MIN_AUDIO) && receives_audio (c[2], c[0], MIN_AUDIO),
        MEDIA_TIMEOUT_MS);
  WAIT (negotiations_settled (c, 3), SIGNAL_TIMEOUT_MS);
  CHECK (offer_video_encoding_is (c[1], c[0], "H264"));
  CHECK (offer_video_encoding_is (c[0], c[1], "VP8"));
  CHECK (!kaigi_test_client_has_track_from (c[2], kaigi_test_client_get_id (c[0]), "video"));
  CHECK (kaigi_test_client_has_track_from (c[2], kaigi_test_client_get_id (c[0]), "audio"));
  CHECK (frames_from (c[2], c[0]) == 0);
  CHECK (no_client_failures (f));

  /* D joins late: it is sent a key frame of A's H.264 at once, and
   * everyone else gets D */
  before = frames_from (c[1], c[0]);
  c[3] = add_h264_client (f, "late", YELLOW, "VP8", NULL, FALSE);
  WAIT (receives_video (c[3], c[0], MIN_FRAMES) && receives_video (c[3], c[1], MIN_FRAMES) &&
        receives_video (c[0], c[3], MIN_FRAMES) && receives_video (c[2], c[3], MIN_FRAMES) &&
        frames_from (c[1], c[0]) >= before + MIN_FRAMES, MEDIA_TIMEOUT_MS);
  CHECK (frames_from (c[2], c[0]) == 0);
  CHECK (no_client_failures (f));

  room = kaigi_test_http_get_json (f->port, "/api/rooms/h264", &status, NULL);
  CHECK (status == 200);
  p = room && JSON_NODE_HOLDS_OBJECT (room) ?
      find_room_participant (json_node_get_object (room), kaigi_test_client_get_id (c[0])) : NULL;
  CHECK (p != NULL && json_object_get_boolean_member (p, "video"));
  CHECK (room_n_participants (json_node_get_object (room)) == 4);
}

/* A client that says nothing of codecs but rejects the m-line of A's
 * H.264 all the same (port 0): its answer is refused with an error, and
 * the server and everyone else carry on. Without the refusal webrtcbin
 * 1.22 aborts the process at the next offer to that client. */
static void
test_rejected_mline (Fixture       *f,
                     gconstpointer  data)
{
  KaigiTestClient *c[3];
  guint64 before_a, before_b;

  SKIP_IF_NEEDED (f);

  c[0] = add_h264_client (f, "avc", RED, "H264", NULL, FALSE);
  c[1] = add_h264_client (f, "vp8", GREEN, "VP8", NULL, FALSE);
  WAIT (all_joined (c, 2) && media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);

  c[2] = add_h264_client (f, "rejecter", BLUE, "VP8", NULL, TRUE);
  WAIT (kaigi_test_client_count_errors (c[2], "invalid-sdp") > 0, MEDIA_TIMEOUT_MS);
  CHECK (kaigi_test_client_is_connected (c[2]));

  /* The others still send and receive, and signal: B turns its camera
   * off, and A is told */
  before_a = frames_from (c[0], c[1]);
  before_b = frames_from (c[1], c[0]);
  WAIT (frames_from (c[0], c[1]) >= before_a + MIN_FRAMES &&
        frames_from (c[1], c[0]) >= before_b + MIN_FRAMES, MEDIA_TIMEOUT_MS);
  kaigi_test_client_send_media (c[1], TRUE, FALSE);
  WAIT (sees_media_state (c[0], c[1], TRUE, FALSE), SIGNAL_TIMEOUT_MS);
  CHECK (no_client_failures (f));

  /* The rejecter can leave cleanly */
  kaigi_test_client_leave (c[2]);
  WAIT (kaigi_test_client_get_left_reason (c[0], kaigi_test_client_get_id (c[2])) != NULL,
        SIGNAL_TIMEOUT_MS);
}

/* }}} */

/* (i) Japanese room and display names {{{ */

static void
test_japanese_names (Fixture       *f,
                     gconstpointer  data)
{
  KaigiTestClient *c[2];
  g_autoptr(JsonNode) rooms = NULL;
  g_autoptr(JsonNode) room = NULL;
  g_autoptr(JsonNode) missing = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *escaped = g_uri_escape_string ("会議室", NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/api/rooms/%s", escaped);
  JsonObject *r;
  JsonObject *p;
  guint status = 0;

  SKIP_IF_NEEDED (f);

  c[0] = add_client (f, "会議室", "花子", MAGENTA);
  c[1] = add_client (f, "会議室", "太郎", CYAN);
  WAIT (all_joined (c, 2) && rosters_complete (c, 2), SIGNAL_TIMEOUT_MS);
  CHECK_STR (kaigi_test_client_lookup_participant (c[1], kaigi_test_client_get_id (c[0]))->name, "花子");
  CHECK_STR (kaigi_test_client_lookup_participant (c[0], kaigi_test_client_get_id (c[1]))->name, "太郎");
  WAIT (media_mesh_flows (c, 2), MEDIA_TIMEOUT_MS);

  rooms = kaigi_test_http_get_json (f->port, "/api/rooms", &status, &error);
  CHECK_NO_ERROR (error);
  CHECK (status == 200);
  r = find_room (rooms, "会議室");
  CHECK (r != NULL);
  CHECK (room_n_participants (r) == 2);
  p = find_room_participant (r, kaigi_test_client_get_id (c[0]));
  CHECK (p != NULL);
  CHECK_STR (json_object_get_string_member_with_default (p, "name", NULL), "花子");
  CHECK (json_object_has_member (r, "recording") &&
         json_node_is_null (json_object_get_member (r, "recording")));

  room = kaigi_test_http_get_json (f->port, path, &status, &error);
  CHECK_NO_ERROR (error);
  CHECK (status == 200);
  CHECK (NODE_OBJECT (room) != NULL);
  CHECK_STR (json_object_get_string_member_with_default (NODE_OBJECT (room), "name", NULL),
             "会議室");
  CHECK (room_n_participants (NODE_OBJECT (room)) == 2);

  missing = kaigi_test_http_get_json (f->port, "/api/rooms/%E5%BF%8D", &status, NULL);
  CHECK (status == 404);
}

/* }}} */

static GLogFunc default_log_handler;

/* g_test prints every g_debug() as a TAP comment; libsoup and GIO alone
 * produce hundreds per test. Keep them for --verbose or G_MESSAGES_DEBUG. */
static void
quiet_log_handler (const char     *domain,
                   GLogLevelFlags  level,
                   const char     *message,
                   gpointer        user_data)
{
  if ((level & G_LOG_LEVEL_DEBUG) != 0 && !g_test_verbose () &&
      g_getenv ("G_MESSAGES_DEBUG") == NULL)
    return;
  default_log_handler (domain, level, message, user_data);
}

int
main (int   argc,
      char *argv[])
{
  static const Params vanish_params = { .idle_timeout_s = 3 };

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  /* A failed test must not stop the others (no "Bail out!"). */
  g_test_set_nonfatal_assertions ();
  default_log_handler = g_log_set_default_handler (quiet_log_handler, NULL);
  kaigi_test_set_fatal_logs ();
  g_thread_unref (g_thread_new ("test-watchdog", watchdog_thread, NULL));

#define ADD(path, func, params) \
  g_test_add (path, Fixture, params, fixture_setup, func, fixture_teardown)

  ADD ("/rooms/three-clients", test_three_clients, NULL);
  ADD ("/rooms/leave-and-late-join", test_leave_and_late_join, NULL);
  ADD ("/rooms/isolation", test_room_isolation, NULL);
  ADD ("/rooms/media-toggle", test_media_toggle, NULL);
  ADD ("/rooms/chat", test_chat, NULL);
  ADD ("/rooms/bad-input/messages", test_bad_messages, NULL);
  ADD ("/rooms/bad-input/not-joined", test_not_joined, NULL);
  ADD ("/rooms/bad-input/names", test_invalid_names, NULL);
  ADD ("/rooms/bad-input/sdp", test_invalid_sdp, NULL);
  ADD ("/rooms/bad-input/too-big", test_message_too_big, NULL);
  ADD ("/rooms/vanish-timeout", test_vanish_timeout, &vanish_params);
  ADD ("/rooms/receive-only", test_receive_only, NULL);
  ADD ("/rooms/japanese-names", test_japanese_names, NULL);
  ADD ("/rooms/h264", test_h264, NULL);
  ADD ("/rooms/bad-input/rejected-mline", test_rejected_mline, NULL);

#undef ADD

  return kaigi_test_run ();
}
