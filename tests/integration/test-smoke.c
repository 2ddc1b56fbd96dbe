/* test-smoke.c — the installed-style binary: options, readiness, HTTP, clean stop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Runs the real `kaigi` executable (KAIGI_BINARY) as a child process, the
 * way an operator or a service manager does.
 */

#include <signal.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "kaigi-test-utils.h"

static const char *
binary (void)
{
  const char *path = g_getenv ("KAIGI_BINARY");

  g_assert_nonnull (path);
  return path;
}

/* Runs the binary to completion; returns its exit status. */
static int
run (const char * const *args,
     char              **out,
     char              **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, (gpointer) binary ());
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                               &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, out, err, &error);
  g_assert_no_error (error);
  return g_subprocess_get_exit_status (process);
}

static void
test_version (void)
{
  const char *args[] = { "--version", NULL };
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (run (args, &out, &err), ==, 0);
  g_assert_true (g_str_has_prefix (out, "kaigi "));
}

static void
test_help (void)
{
  const char *args[] = { "--help", NULL };
  const char *options[] = { "--config", "--address", "--port", "--recordings-dir",
                            "--stun-server", "--turn-server", "--api-token", "--version" };
  g_autofree char *out = NULL, *err = NULL;
  guint i;

  g_assert_cmpint (run (args, &out, &err), ==, 0);
  for (i = 0; i < G_N_ELEMENTS (options); i++)
    {
      g_test_message ("looking for %s", options[i]);
      g_assert_nonnull (strstr (out, options[i]));
    }
}

static void
test_bad_options (void)
{
  const char *port[] = { "--port", "70000", NULL };
  const char *config[] = { "--config", "/nonexistent/kaigi.conf", NULL };
  const char *unknown[] = { "--frobnicate", NULL };
  g_autofree char *out1 = NULL, *err1 = NULL, *out2 = NULL, *err2 = NULL, *out3 = NULL, *err3 = NULL;

  g_assert_cmpint (run (port, &out1, &err1), ==, 2);
  g_assert_nonnull (strstr (err1, "70000"));
  g_assert_cmpint (run (config, &out2, &err2), ==, 2);
  g_assert_nonnull (strstr (err2, "/nonexistent/kaigi.conf"));
  g_assert_cmpint (run (unknown, &out3, &err3), ==, 2);
}

static void
test_missing_plugins (void)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *registry = g_build_filename (g_get_tmp_dir (), "kaigi-test-empty-registry.bin", NULL);
  g_autofree char *out = NULL, *err = NULL;

  /* A GStreamer that finds no plugins at all, as in a container that
   * lacks them: one clear message naming the Debian packages, exit 1 */
  g_subprocess_launcher_setenv (launcher, "GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
  g_subprocess_launcher_setenv (launcher, "GST_PLUGIN_PATH_1_0", "", TRUE);
  g_subprocess_launcher_setenv (launcher, "GST_REGISTRY_1_0", registry, TRUE);
  process = g_subprocess_launcher_spawn (launcher, &error, binary (), "--port", "0", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_unlink (registry);

  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 1);
  g_assert_nonnull (strstr (err, "webrtcbin"));
  g_assert_nonnull (strstr (err, "nicesrc"));
  g_assert_nonnull (strstr (err, "apt-get install"));
  g_assert_nonnull (strstr (err, "gstreamer1.0-nice"));
  g_assert_nonnull (strstr (err, "gstreamer1.0-plugins-bad"));
  g_assert_null (strstr (out, "listening"));
}

typedef struct
{
  GSubprocess *process;
  guint port;
} Server;

/* Starts kaigi on 127.0.0.1, port 0, and waits until it listens */
static void
server_start (Server             *server,
              const char * const *extra)
{
  g_autoptr(GError) error = NULL;

  server->process = kaigi_test_spawn_server (extra, &server->port, &error);
  g_assert_no_error (error);
}

/* SIGTERM: a clean stop exits 0 */
static void
server_stop (Server *server)
{
  g_subprocess_send_signal (server->process, SIGTERM);
  if (!kaigi_test_wait_process (server->process, 10000))
    g_subprocess_force_exit (server->process);
  g_assert_true (g_subprocess_get_if_exited (server->process));
  g_assert_cmpint (g_subprocess_get_exit_status (server->process), ==, 0);
  g_clear_object (&server->process);
}

static char *
http_get (guint        port,
          const char  *path,
          const char  *token,
          guint       *status,
          char       **content_type)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  if (token)
    {
      g_autofree char *value = g_strdup_printf ("Bearer %s", token);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    }
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  *status = soup_message_get_status (msg);
  if (content_type)
    *content_type = g_strdup (soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL));
  return g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static void
test_serve_and_stop (void)
{
  Server server = { 0, };
  g_autofree char *health = NULL, *page = NULL, *rooms = NULL, *missing = NULL, *metrics = NULL;
  g_autofree char *page_type = NULL, *missing_type = NULL;
  guint status;

  server_start (&server, NULL);

  health = http_get (server.port, "/healthz", NULL, &status, NULL);
  g_assert_cmpuint (status, ==, 200);

  page = http_get (server.port, "/", NULL, &status, &page_type);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (page_type, ==, "text/html");
  g_assert_nonnull (strstr (page, "app.js"));

  rooms = http_get (server.port, "/api/rooms", NULL, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (rooms, ==, "{\"rooms\":[]}");

  missing = http_get (server.port, "/api/rooms/%E4%BC%9A%E8%AD%B0%E5%AE%A4", NULL, &status, &missing_type);
  g_assert_cmpuint (status, ==, 404);
  g_assert_cmpstr (missing_type, ==, "application/json");
  g_assert_nonnull (strstr (missing, "\"error\""));

  metrics = http_get (server.port, "/metrics", NULL, &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  g_assert_nonnull (strstr (metrics, "\nkaigi_rooms 0\n"));
  g_assert_nonnull (strstr (metrics, "kaigi_join_latency_seconds_bucket{le=\"+Inf\"} 0"));

  server_stop (&server);
}

static void
test_api_token (void)
{
  const char *extra[] = { "--api-token", "s3cret", NULL };
  Server server = { 0, };
  g_autofree char *none = NULL, *wrong = NULL, *right = NULL, *health = NULL;
  guint status;

  server_start (&server, extra);

  none = http_get (server.port, "/api/rooms", NULL, &status, NULL);
  g_assert_cmpuint (status, ==, 401);
  wrong = http_get (server.port, "/api/rooms", "s3cre", &status, NULL);
  g_assert_cmpuint (status, ==, 401);
  right = http_get (server.port, "/api/rooms", "s3cret", &status, NULL);
  g_assert_cmpuint (status, ==, 200);
  health = http_get (server.port, "/healthz", NULL, &status, NULL);
  g_assert_cmpuint (status, ==, 200);

  server_stop (&server);
}

typedef struct
{
  SoupWebsocketConnection *ws;
  char *joined;
  gboolean failed;
} JoinState;

static void
on_ws_message (SoupWebsocketConnection *ws,
               SoupWebsocketDataType    type,
               GBytes                  *bytes,
               JoinState               *state)
{
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);

  if (state->joined == NULL && g_strstr_len (text, len, "\"type\":\"joined\"") != NULL)
    state->joined = g_strndup (text, len);
}

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  JoinState *state = user_data;

  state->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, NULL);
  if (state->ws == NULL)
    {
      state->failed = TRUE;
      return;
    }
  g_signal_connect (state->ws, "message", G_CALLBACK (on_ws_message), state);
  soup_websocket_connection_send_text (state->ws,
                                       "{\"type\":\"join\",\"room\":\"ice\",\"name\":\"n\"}");
}

/* The configured STUN and TURN servers reach clients in `joined`, in the
 * RTCIceServer form (RFC 7064/7065 URIs, TURN credentials apart). */
static void
test_ice_servers_for_clients (void)
{
  const char *extra[] = { "--stun-server", "stun://127.0.0.1:3478",
                          "--turn-server", "turn://kaigi:pa%3Ass@127.0.0.1:3479", NULL };
  Server server = { 0, };
  JoinState state = { 0, };
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  JsonArray *servers;
  JsonObject *stun, *turn;

  server_start (&server, extra);
  uri = g_strdup_printf ("ws://127.0.0.1:%u/ws", server.port);
  msg = soup_message_new ("GET", uri);
  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        on_ws_connected, &state);
  KAIGI_TEST_WAIT_UNTIL_ELSE (state.joined != NULL || state.failed, 10000, (void) 0);
  g_assert_false (state.failed);
  g_assert_nonnull (state.joined);

  g_assert_true (json_parser_load_from_data (parser, state.joined, -1, &error));
  g_assert_no_error (error);
  servers = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "ice_servers");
  g_assert_cmpuint (json_array_get_length (servers), ==, 2);
  stun = json_array_get_object_element (servers, 0);
  turn = json_array_get_object_element (servers, 1);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (stun, "urls"), 0),
                   ==, "stun:127.0.0.1:3478");
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (turn, "urls"), 0),
                   ==, "turn:127.0.0.1:3479");
  g_assert_cmpstr (json_object_get_string_member (turn, "username"), ==, "kaigi");
  g_assert_cmpstr (json_object_get_string_member (turn, "credential"), ==, "pa:ss");

  soup_websocket_connection_close (state.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  KAIGI_TEST_WAIT_UNTIL_ELSE (soup_websocket_connection_get_state (state.ws) == SOUP_WEBSOCKET_STATE_CLOSED,
                              5000, (void) 0);
  g_clear_object (&state.ws);
  g_free (state.joined);
  server_stop (&server);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smoke/version", test_version);
  g_test_add_func ("/smoke/help", test_help);
  g_test_add_func ("/smoke/bad-options", test_bad_options);
  g_test_add_func ("/smoke/missing-plugins", test_missing_plugins);
  g_test_add_func ("/smoke/serve-and-stop", test_serve_and_stop);
  g_test_add_func ("/smoke/api-token", test_api_token);
  g_test_add_func ("/smoke/ice-servers-for-clients", test_ice_servers_for_clients);

  return g_test_run ();
}
