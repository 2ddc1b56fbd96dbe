/* test-service.c — the binary as a service: TLS, configuration errors,
 * readiness notification, graceful stop, --open
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Runs the real `kaigi` executable (KAIGI_BINARY) as a child process with
 * real files, sockets and signals, the way systemd or an operator does.
 */

#include <signal.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>

#include "kaigi-test-utils.h"

#define START_TIMEOUT_MS 10000

static const char *
binary (void)
{
  const char *path = g_getenv ("KAIGI_BINARY");

  g_assert_nonnull (path);
  return path;
}

/* A fresh folder for one test, removed by the caller with rm_rf() */
static char *
make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("kaigi-service-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
rm_rf (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) children = NULL;
  GFileInfo *info;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                        G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  while (children && (info = g_file_enumerator_next_file (children, NULL, NULL)))
    {
      g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

      if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
        rm_rf (child);
      else
        g_unlink (child);
      g_object_unref (info);
    }
  g_rmdir (path);
}

static char *
write_file (const char *dir,
            const char *name,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  return path;
}

/* Under AddressSanitizer: LeakSanitizer's exit-time scan misreads the
 * dynamic TLS of GnuTLS's threads (glib-networking is dlopened) and its
 * tracer crashes now and then (google/sanitizers#1322). Not intercepting
 * __tls_get_addr avoids that; it can only add false leak reports, never
 * hide one. */
static void
setenv_sanitizer (GSubprocessLauncher *launcher)
{
  const char *asan = g_getenv ("ASAN_OPTIONS");
  g_autofree char *value = NULL;

  if (asan == NULL)
    return;
  value = g_strconcat (asan, ":intercept_tls_get_addr=0", NULL);
  g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", value, TRUE);
}

/* Runs @argv (NULL-terminated) to completion with @env (NAME, VALUE pairs,
 * NULL-terminated) added; returns the exit status. */
static int
run_full (const char * const *argv,
          const char * const *env,
          char              **out,
          char              **err)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  setenv_sanitizer (launcher);
  for (; env && *env; env += 2)
    g_subprocess_launcher_setenv (launcher, env[0], env[1], TRUE);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, out, err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  return g_subprocess_get_exit_status (process);
}

/* Runs kaigi with @args; stdout must never announce a listening server */
static int
run_kaigi (const char * const *args,
           const char * const *env,
           char              **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL;
  int status;

  g_ptr_array_add (argv, (gpointer) binary ());
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  status = run_full ((const char * const *) argv->pdata, env, &out, err);
  g_test_message ("exit %d, stderr: %s", status, *err);
  return status;
}

/* --- a kaigi server as a child process ----------------------------------- */

typedef struct
{
  GSubprocess *process;
  GDataInputStream *stdout_lines;
  char *ready_line;
  guint port;
  gboolean exited;
} Server;

static void
on_line (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Server *server = user_data;

  server->ready_line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                  result, NULL, NULL);
  if (server->ready_line == NULL)
    server->ready_line = g_strdup ("");
}

static void
on_exited (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Server *server = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  server->exited = TRUE;
}

/* Starts kaigi on 127.0.0.1, port 0, and waits for "Kaigi listening on
 * SCHEME://127.0.0.1:PORT/" */
static void
server_start (Server             *server,
              const char         *scheme,
              const char * const *extra,
              const char * const *env)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *prefix = g_strdup_printf ("Kaigi listening on %s://127.0.0.1:", scheme);
  const char *colon;

  g_ptr_array_add (argv, (gpointer) binary ());
  g_ptr_array_add (argv, "--address");
  g_ptr_array_add (argv, "127.0.0.1");
  g_ptr_array_add (argv, "--port");
  g_ptr_array_add (argv, "0");
  for (; extra && *extra; extra++)
    g_ptr_array_add (argv, (gpointer) *extra);
  g_ptr_array_add (argv, NULL);
  setenv_sanitizer (launcher);
  for (; env && *env; env += 2)
    g_subprocess_launcher_setenv (launcher, env[0], env[1], TRUE);

  server->exited = FALSE;
  server->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (server->process, NULL, on_exited, server);
  server->stdout_lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->process));
  g_data_input_stream_read_line_async (server->stdout_lines, G_PRIORITY_DEFAULT, NULL,
                                       on_line, server);
  KAIGI_TEST_WAIT_UNTIL_ELSE (server->ready_line != NULL, START_TIMEOUT_MS, g_assert_not_reached ());

  g_test_message ("%s", server->ready_line);
  g_assert_true (g_str_has_prefix (server->ready_line, prefix));
  g_assert_true (g_str_has_suffix (server->ready_line, "/"));
  colon = strrchr (server->ready_line, ':');
  server->port = (guint) g_ascii_strtoull (colon + 1, NULL, 10);
  g_assert_cmpuint (server->port, >, 0);
}

/* Waits for the process to end within @timeout_ms; returns its exit status */
static int
server_wait_exit (Server *server,
                  guint   timeout_ms)
{
  int status;

  KAIGI_TEST_WAIT_UNTIL_ELSE (server->exited, timeout_ms, g_subprocess_force_exit (server->process));
  KAIGI_TEST_WAIT_UNTIL_ELSE (server->exited, 5000, (void) 0);
  g_assert_true (g_subprocess_get_if_exited (server->process));
  status = g_subprocess_get_exit_status (server->process);

  g_clear_object (&server->stdout_lines);
  g_clear_object (&server->process);
  g_clear_pointer (&server->ready_line, g_free);
  return status;
}

static void
server_stop (Server *server)
{
  g_subprocess_send_signal (server->process, SIGTERM);
  g_assert_cmpint (server_wait_exit (server, 10000), ==, 0);
}

/* --- TLS material -------------------------------------------------------- */

static void
certtool (const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL, *err = NULL;

  g_ptr_array_add (argv, "certtool");
  for (; *args; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  if (run_full ((const char * const *) argv->pdata, NULL, &out, &err) != 0)
    g_error ("certtool failed: %s", err);
}

/* A self-signed certificate for localhost/127.0.0.1 (GnuTLS certtool, from
 * Debian's gnutls-bin) and its key, plus a second, unrelated key */
typedef struct
{
  char *dir;
  char *cert;
  char *key;
  char *other_key;
} Tls;

static void
tls_make (Tls *tls)
{
  g_autofree char *template = NULL;

  tls->dir = make_tmp_dir ();
  tls->cert = g_build_filename (tls->dir, "cert.pem", NULL);
  tls->key = g_build_filename (tls->dir, "key.pem", NULL);
  tls->other_key = g_build_filename (tls->dir, "other-key.pem", NULL);
  template = write_file (tls->dir, "cert.cfg",
                         "cn = localhost\n"
                         "dns_name = localhost\n"
                         "ip_address = 127.0.0.1\n"
                         "expiration_days = 2\n"
                         "tls_www_server\n");

  certtool ((const char *[]) { "--generate-privkey", "--key-type=ecdsa", "--outfile", tls->key, NULL });
  certtool ((const char *[]) { "--generate-privkey", "--key-type=ecdsa", "--outfile", tls->other_key, NULL });
  certtool ((const char *[]) { "--generate-self-signed", "--load-privkey", tls->key,
                               "--template", template, "--outfile", tls->cert, NULL });
}

static void
tls_clear (Tls *tls)
{
  rm_rf (tls->dir);
  g_free (tls->dir);
  g_free (tls->cert);
  g_free (tls->key);
  g_free (tls->other_key);
}

static gboolean
on_accept_certificate (SoupMessage          *msg,
                       GTlsCertificate      *peer,
                       GTlsCertificateFlags  errors,
                       GTlsCertificate      *expected)
{
  /* exactly our self-signed certificate, nothing else */
  return g_tls_certificate_is_same (peer, expected);
}

/* --- a WebSocket client -------------------------------------------------- */

typedef struct
{
  SoupSession *session;
  SoupWebsocketConnection *ws;
  GPtrArray *messages;        /* char *, every text message received */
  gboolean failed;
} Client;

static void
on_ws_message (SoupWebsocketConnection *ws,
               SoupWebsocketDataType    type,
               GBytes                  *bytes,
               Client                  *client)
{
  gsize len;
  const char *text = g_bytes_get_data (bytes, &len);

  g_ptr_array_add (client->messages, g_strndup (text, len));
}

static void
on_ws_connected (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;

  client->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (client->ws == NULL)
    {
      g_test_message ("WebSocket: %s", error->message);
      client->failed = TRUE;
      return;
    }
  g_signal_connect (client->ws, "message", G_CALLBACK (on_ws_message), client);
}

static void
client_connect (Client          *client,
                const char      *scheme,
                guint            port,
                GTlsCertificate *accept)
{
  g_autofree char *uri = g_strdup_printf ("%s://127.0.0.1:%u/ws", scheme, port);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", uri);

  client->session = soup_session_new ();
  client->messages = g_ptr_array_new_with_free_func (g_free);
  if (accept)
    g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_certificate), accept);
  soup_session_websocket_connect_async (client->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, on_ws_connected, client);
  KAIGI_TEST_WAIT_UNTIL_ELSE (client->ws != NULL || client->failed, 10000, (void) 0);
  g_assert_false (client->failed);
  g_assert_nonnull (client->ws);
}

static gboolean
client_has_message (Client     *client,
                    const char *fragment)
{
  guint i;

  for (i = 0; i < client->messages->len; i++)
    if (strstr (client->messages->pdata[i], fragment))
      return TRUE;
  return FALSE;
}

static void
client_close (Client *client)
{
  if (client->ws && soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (client->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  if (client->ws)
    KAIGI_TEST_WAIT_UNTIL_ELSE (soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_CLOSED,
                                5000, (void) 0);
  g_clear_object (&client->ws);
  g_clear_object (&client->session);
  g_clear_pointer (&client->messages, g_ptr_array_unref);
}

/* --- HTTPS --------------------------------------------------------------- */

static void
test_https (void)
{
  Tls tls = { 0, };
  Server server = { 0, };
  Client client = { 0, };
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *recordings = make_tmp_dir ();

  tls_make (&tls);
  certificate = g_tls_certificate_new_from_file (tls.cert, &error);
  g_assert_no_error (error);

  server_start (&server, "https",
                (const char *[]) { "--tls-certificate", tls.cert, "--recordings-dir", recordings, NULL },
                (const char *[]) { "KAIGI_SERVER_TLS_KEY", tls.key, NULL });

  uri = g_strdup_printf ("https://127.0.0.1:%u/healthz", server.port);
  msg = soup_message_new ("GET", uri);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_certificate), certificate);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  g_assert_nonnull (soup_message_get_tls_peer_certificate (msg));

  /* signaling over wss:// */
  client_connect (&client, "wss", server.port, certificate);
  soup_websocket_connection_send_text (client.ws, "{\"type\":\"ping\"}");
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&client, "\"type\":\"pong\""), 5000, (void) 0);
  g_assert_true (client_has_message (&client, "\"type\":\"pong\""));
  client_close (&client);

  server_stop (&server);
  tls_clear (&tls);
  rm_rf (recordings);
}

static void
test_tls_refused (void)
{
  Tls tls = { 0, };
  g_autofree char *err1 = NULL, *err2 = NULL, *err3 = NULL, *err4 = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *config = NULL;
  g_autofree char *cert_line = NULL, *key_line = NULL;

  tls_make (&tls);

  /* a key that is not the certificate's: both files named, exit 2 */
  g_assert_cmpint (run_kaigi ((const char *[]) { "--port", "0", "--tls-certificate", tls.cert,
                                                 "--tls-key", tls.other_key, NULL }, NULL, &err1), ==, 2);
  g_assert_nonnull (strstr (err1, tls.cert));
  g_assert_nonnull (strstr (err1, tls.other_key));
  g_assert_nonnull (strstr (err1, "--tls-key"));

  /* the same from a configuration file: file and line of both keys */
  config = write_file (tls.dir, "kaigi.conf", "[server]\nport=0\n");
  {
    g_autofree char *text = g_strdup_printf ("[server]\nport=0\ntls-certificate=%s\n\ntls-key=%s\n",
                                             tls.cert, tls.other_key);

    g_assert_true (g_file_set_contents (config, text, -1, NULL));
  }
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", config, NULL }, NULL, &err2), ==, 2);
  cert_line = g_strdup_printf ("%s:3: [server] tls-certificate", config);
  key_line = g_strdup_printf ("%s:5: [server] tls-key", config);
  g_assert_nonnull (strstr (err2, cert_line));
  g_assert_nonnull (strstr (err2, key_line));

  /* an unreadable key file */
  missing = g_build_filename (tls.dir, "missing-key.pem", NULL);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--port", "0", "--tls-certificate", tls.cert,
                                                 "--tls-key", missing, NULL }, NULL, &err3), ==, 2);
  g_assert_nonnull (strstr (err3, missing));

  /* a certificate without a key */
  g_assert_cmpint (run_kaigi ((const char *[]) { "--port", "0", "--tls-certificate", tls.cert, NULL },
                              NULL, &err4), ==, 2);
  g_assert_nonnull (strstr (err4, "--tls-certificate"));
  g_assert_nonnull (strstr (err4, "tls-key"));

  tls_clear (&tls);
}

/* --- configuration ------------------------------------------------------- */

static void
test_config_errors (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *unknown = write_file (dir, "unknown.conf", "# Kaigi\n[server]\nprot=8080\n");
  g_autofree char *port = write_file (dir, "port.conf", "[server]\naddress=127.0.0.1\n\n# no\nport = 70000\n");
  g_autofree char *regular = write_file (dir, "file", "not a folder\n");
  g_autofree char *recordings_text = g_strdup_printf ("[server]\nport=0\n[ice]\n[server]\nrecordings-dir=%s/recordings\n",
                                                      regular);
  g_autofree char *recordings = write_file (dir, "recordings.conf", recordings_text);
  g_autofree char *missing = g_build_filename (dir, "missing.conf", NULL);
  g_autofree char *expect = NULL;
  char *err = NULL;

  expect = g_strdup_printf ("%s:3: [server] prot", unknown);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", unknown, NULL }, NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, expect));
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&expect, g_free);

  expect = g_strdup_printf ("%s:5: [server] port", port);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", port, NULL }, NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, expect));
  g_assert_nonnull (strstr (err, "70000"));
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&expect, g_free);

  /* missing, and unreadable (a folder) */
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", missing, NULL }, NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, missing));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", dir, NULL }, NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, dir));
  g_clear_pointer (&err, g_free);

  /* an unwritable recordings folder: under a regular file (root may
   * write anywhere else), from the file, the command line, the environment */
  expect = g_strdup_printf ("%s:5: [server] recordings-dir", recordings);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--config", recordings, NULL }, NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, expect));
  g_assert_nonnull (strstr (err, regular));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--port", "0", "--recordings-dir", "/proc/kaigi-test", NULL },
                              NULL, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--recordings-dir"));
  g_assert_nonnull (strstr (err, "/proc/kaigi-test"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_kaigi ((const char *[]) { "--port", "0", NULL },
                              (const char *[]) { "KAIGI_SERVER_RECORDINGS_DIR", "/proc/kaigi-test", NULL }, &err), ==, 2);
  g_assert_nonnull (strstr (err, "KAIGI_SERVER_RECORDINGS_DIR"));
  g_clear_pointer (&err, g_free);

  /* environment values are checked too */
  g_assert_cmpint (run_kaigi ((const char *[]) { NULL }, (const char *[]) { "KAIGI_SERVER_PORT", "70000", NULL }, &err),
                   ==, 2);
  g_assert_nonnull (strstr (err, "KAIGI_SERVER_PORT"));
  g_clear_pointer (&err, g_free);

  rm_rf (dir);
}

/* Command line > environment > file > defaults, as --print-config shows,
 * and its output loads again */
static void
test_print_config (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *file = write_file (dir, "kaigi.conf", "[server]\nport=1000\nmax-participants=9\n"
                                                         "[recording]\nwidth=320\nheight=240\n");
  g_autofree char *printed = NULL;
  g_autofree char *again = NULL;
  g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
  const char *env[] = { "KAIGI_SERVER_PORT", "2000", "KAIGI_RECORDING_WIDTH", "640",
                        "KAIGI_SERVER_API_TOKEN", "t0ps3cret", NULL };

  g_assert_cmpint (run_full ((const char *[]) { binary (), "--config", file, "--port", "3000",
                                                "--print-config", NULL }, env, &out, &err), ==, 0);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "\nport=3000\n"));
  g_assert_nonnull (strstr (out, "\nwidth=640\n"));
  g_assert_nonnull (strstr (out, "\nheight=240\n"));
  g_assert_nonnull (strstr (out, "\nmax-participants=9\n"));
  g_assert_nonnull (strstr (out, "\nidle-timeout=15\n"));
  g_assert_null (strstr (out, "t0ps3cret"));
  g_assert_nonnull (strstr (out, "KAIGI_SERVER_API_TOKEN"));

  printed = write_file (dir, "printed.conf", out);
  g_assert_cmpint (run_full ((const char *[]) { binary (), "--config", printed, "--print-config", NULL },
                             NULL, &out2, &err2), ==, 0);
  /* the same values; only the comments differ */
  again = g_strdup (strstr (out2, "\n[server]"));
  g_assert_nonnull (again);
  g_assert_nonnull (strstr (again, "\nport=3000\n"));
  g_assert_nonnull (strstr (again, "\nwidth=640\n"));
  g_assert_nonnull (strstr (again, "\napi-token=\n"));

  rm_rf (dir);
}

/* --- systemd readiness ---------------------------------------------------- */

static char *
receive_datagram (GSocket *socket)
{
  g_autoptr(GError) error = NULL;
  char buffer[4096];
  gssize len;

  len = g_socket_receive (socket, buffer, sizeof buffer - 1, NULL, &error);
  g_assert_no_error (error);
  buffer[len] = '\0';
  return g_strdup (buffer);
}

static void
check_notify (const char *notify_socket,
              GSocketAddress *address)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *ready = NULL;
  g_autofree char *stopping = NULL;
  g_autofree char *recordings = make_tmp_dir ();
  Server server = { 0, };

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  g_assert_no_error (error);
  /* a blocking receive, bounded: the sender is another process */
  g_socket_set_timeout (socket, 10);

  server_start (&server, "http", (const char *[]) { "--recordings-dir", recordings, NULL },
                (const char *[]) { "NOTIFY_SOCKET", notify_socket, NULL });
  ready = receive_datagram (socket);
  g_assert_cmpstr (ready, ==, "READY=1");

  g_subprocess_send_signal (server.process, SIGTERM);
  stopping = receive_datagram (socket);
  g_assert_cmpstr (stopping, ==, "STOPPING=1");
  g_assert_cmpint (server_wait_exit (&server, 10000), ==, 0);
  rm_rf (recordings);
}

static void
test_notify_socket (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "notify", NULL);
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);

  check_notify (path, address);
  rm_rf (dir);
}

static void
test_notify_abstract (void)
{
  g_autofree char *name = g_strdup_printf ("kaigi-test-notify-%d", (int) getpid ());
  g_autofree char *notify_socket = g_strconcat ("@", name, NULL);
  g_autoptr(GSocketAddress) address =
    g_unix_socket_address_new_with_type (name, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);

  check_notify (notify_socket, address);
}

/* --- graceful stop ------------------------------------------------------- */

static void
test_graceful_stop (void)
{
  Server server = { 0, };
  Client joined = { 0, };
  Client late = { 0, };
  Client later = { 0, };
  g_autofree char *recordings = make_tmp_dir ();
  gint64 signalled;

  /* a long grace, so that the stop can only end early because everyone left */
  server_start (&server, "http", (const char *[]) { "--recordings-dir", recordings, NULL },
                (const char *[]) { "KAIGI_SERVER_SHUTDOWN_GRACE", "60", NULL });

  client_connect (&joined, "ws", server.port, NULL);
  soup_websocket_connection_send_text (joined.ws, "{\"type\":\"join\",\"room\":\"r\",\"name\":\"a\"}");
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&joined, "\"type\":\"joined\""), 10000, (void) 0);
  g_assert_true (client_has_message (&joined, "\"type\":\"joined\""));
  client_connect (&late, "ws", server.port, NULL);

  g_subprocess_send_signal (server.process, SIGTERM);
  signalled = g_get_monotonic_time ();

  /* everyone connected hears about it */
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&joined, "\"type\":\"server-shutdown\"") &&
                              client_has_message (&late, "\"type\":\"server-shutdown\""), 5000, (void) 0);
  g_assert_true (client_has_message (&joined, "\"type\":\"server-shutdown\""));
  g_assert_true (client_has_message (&late, "\"type\":\"server-shutdown\""));

  /* a join now is refused, and the connection stays */
  soup_websocket_connection_send_text (late.ws, "{\"type\":\"join\",\"room\":\"r\",\"name\":\"b\"}");
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&late, "\"code\":\"shutting-down\""), 5000, (void) 0);
  g_assert_true (client_has_message (&late, "\"code\":\"shutting-down\""));
  g_assert_false (client_has_message (&late, "\"type\":\"joined\""));
  g_assert_false (server.exited);

  /* who connects during the grace is told at once */
  client_connect (&later, "ws", server.port, NULL);
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&later, "\"type\":\"server-shutdown\""), 5000, (void) 0);
  g_assert_true (client_has_message (&later, "\"type\":\"server-shutdown\""));

  /* once all have gone, the server stops well before the grace ends */
  client_close (&joined);
  client_close (&late);
  client_close (&later);
  g_assert_cmpint (server_wait_exit (&server, 20000), ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - signalled, <, 30 * G_USEC_PER_SEC);
  rm_rf (recordings);
}

static void
test_second_signal (void)
{
  Server server = { 0, };
  Client client = { 0, };
  g_autofree char *recordings = make_tmp_dir ();

  server_start (&server, "http", (const char *[]) { "--recordings-dir", recordings, NULL },
                (const char *[]) { "KAIGI_SERVER_SHUTDOWN_GRACE", "600", NULL });
  client_connect (&client, "ws", server.port, NULL);

  g_subprocess_send_signal (server.process, SIGINT);
  KAIGI_TEST_WAIT_UNTIL_ELSE (client_has_message (&client, "\"type\":\"server-shutdown\""), 5000, (void) 0);
  g_assert_true (client_has_message (&client, "\"type\":\"server-shutdown\""));
  g_assert_false (server.exited);

  /* the client stays, so the drain would last ten minutes: a second
   * signal ends it at once, with status 1 */
  g_subprocess_send_signal (server.process, SIGTERM);
  g_assert_cmpint (server_wait_exit (&server, 5000), ==, 1);

  client_close (&client);
  rm_rf (recordings);
}

/* --- --open ---------------------------------------------------------------- */

/* A fake default browser: a .desktop file registered for
 * x-scheme-handler/http in mimeapps.list, whose Exec writes its argument
 * to a file; the XDG variables make GIO see only it. */
static void
test_open (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_autofree char *applications = g_build_filename (data, "applications", NULL);
  g_autofree char *config = g_build_filename (dir, "config", NULL);
  g_autofree char *system = g_build_filename (dir, "system", NULL);
  g_autofree char *opened = g_build_filename (dir, "opened", NULL);
  g_autofree char *script_text = g_strdup_printf ("#!/bin/sh\nprintf '%%s' \"$1\" > '%s.part' && mv '%s.part' '%s'\n",
                                                  opened, opened, opened);
  g_autofree char *script = write_file (dir, "fake-browser", script_text);
  g_autofree char *desktop_text = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Fake browser\n"
                                                   "Exec=%s %%u\nMimeType=x-scheme-handler/http;\n"
                                                   "NoDisplay=true\n", script);
  g_autofree char *desktop = NULL;
  g_autofree char *mimeapps = NULL;
  g_autofree char *url = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *recordings = make_tmp_dir ();
  const char *env[] = { "HOME", dir, "XDG_DATA_HOME", data, "XDG_CONFIG_HOME", config,
                        "XDG_DATA_DIRS", system, "XDG_CONFIG_DIRS", system, NULL };
  Server server = { 0, };

  g_assert_cmpint (g_chmod (script, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (applications, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (system, 0700), ==, 0);
  desktop = write_file (applications, "kaigi-test-browser.desktop", desktop_text);
  mimeapps = write_file (config, "mimeapps.list",
                         "[Default Applications]\nx-scheme-handler/http=kaigi-test-browser.desktop\n");

  server_start (&server, "http", (const char *[]) { "--open", "--recordings-dir", recordings, NULL }, env);
  expected = g_strdup_printf ("http://localhost:%u/", server.port);
  KAIGI_TEST_WAIT_UNTIL_ELSE (g_file_get_contents (opened, &url, NULL, NULL), 10000, (void) 0);
  g_assert_cmpstr (url, ==, expected);

  /* There is no window: closing the web client stops the server, cleanly,
   * about 10 s after the last one closed */
  {
    Client client = { 0, };

    client_connect (&client, "http", server.port, NULL);
    client_close (&client);
    g_assert_cmpint (server_wait_exit (&server, 25000), ==, 0);
  }

  /* no browser at all: a warning, and the server serves anyway */
  g_unlink (mimeapps);
  g_unlink (desktop);
  server_start (&server, "http", (const char *[]) { "--open", "--recordings-dir", recordings, NULL }, env);
  server_stop (&server);

  rm_rf (recordings);
  rm_rf (dir);
}

/* --- systemd unit ------------------------------------------------------------ */

/* data/kaigi.service.in, pointed at the built binary, passes
 * `systemd-analyze verify` without a single warning and keeps its
 * hardening (exposure at most 2.0 of 10 by `systemd-analyze security`) */
static void
test_systemd_unit (void)
{
  g_autofree char *source = g_test_build_filename (G_TEST_DIST, "..", "data", "kaigi.service.in", NULL);
  g_autofree char *bindir = g_path_get_dirname (binary ());
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *template = NULL;
  g_autofree char *unit = NULL;
  g_autofree char *unit_text = NULL;
  g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) parts = NULL;
  const char *required[] = { "Type=notify", "DynamicUser=yes", "StateDirectory=kaigi",
                             "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                             "PrivateTmp=yes", "LimitNOFILE=65536",
                             "KAIGI_SERVER_RECORDINGS_DIR=%S/kaigi/recordings" };
  guint i;

  g_assert_true (g_file_get_contents (source, &template, NULL, &error));
  g_assert_no_error (error);
  for (i = 0; i < G_N_ELEMENTS (required); i++)
    {
      g_test_message ("looking for %s", required[i]);
      g_assert_nonnull (strstr (template, required[i]));
    }

  parts = g_strsplit (template, "@bindir@", -1);
  unit_text = g_strjoinv (bindir, parts);
  unit = write_file (dir, "kaigi.service", unit_text);

  g_assert_cmpint (run_full ((const char *[]) { "systemd-analyze", "verify", "--man=no", unit, NULL },
                             NULL, &out, &err), ==, 0);
  g_test_message ("systemd-analyze verify: %s%s", out, err);
  g_assert_cmpstr (err, ==, "");

  g_assert_cmpint (run_full ((const char *[]) { "systemd-analyze", "security", "--offline=yes",
                                                "--threshold=20", "--no-pager", unit, NULL },
                             NULL, &out2, &err2), ==, 0);
  rm_rf (dir);
}

/* --- man page ------------------------------------------------------------ */

/* data/kaigi.1 documents, in its OPTIONS section, every long option the
 * binary has, and groff renders it without a warning */
static void
test_man_page (void)
{
  g_autofree char *page = g_test_build_filename (G_TEST_DIST, "..", "data", "kaigi.1", NULL);
  g_autofree char *source = NULL;
  g_autofree char *help = NULL, *help_err = NULL, *out = NULL, *err = NULL;
  g_autoptr(GRegex) option = NULL;
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *options_section = NULL;
  const char *options, *end;
  guint found = 0;

  g_assert_true (g_file_get_contents (page, &source, NULL, &error));
  g_assert_no_error (error);
  /* look in the OPTIONS section only, not the synopsis */
  options = strstr (source, "\n.SH OPTIONS\n");
  g_assert_nonnull (options);
  end = strstr (options + 1, "\n.SH ");
  g_assert_nonnull (end);
  options_section = g_strndup (options, end - options);

  g_assert_cmpint (run_full ((const char *[]) { binary (), "--help-all", NULL }, NULL, &help, &help_err), ==, 0);
  option = g_regex_new ("^\\s+(?:-\\w, )?(--[a-z][a-z-]*)", G_REGEX_MULTILINE, 0, &error);
  g_assert_no_error (error);
  g_regex_match (option, help, 0, &match);
  for (; g_match_info_matches (match); g_match_info_next (match, NULL))
    {
      g_autofree char *name = g_match_info_fetch (match, 1);
      g_auto(GStrv) parts = g_strsplit (name, "-", -1);
      g_autofree char *escaped = g_strjoinv ("\\-", parts);   /* troff: \- is a hyphen */

      g_test_message ("%s", name);
      g_assert_nonnull (strstr (options_section, escaped));
      found++;
    }
  /* the options of the time of writing, at least */
  g_assert_cmpuint (found, >=, 12);

  g_assert_cmpint (run_full ((const char *[]) { "groff", "-man", "-Tutf8", "-ww", "-z", page, NULL },
                             (const char *[]) { "LC_ALL", "C.UTF-8", NULL }, &out, &err), ==, 0);
  g_assert_cmpstr (err, ==, "");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/service/https", test_https);
  g_test_add_func ("/service/tls-refused", test_tls_refused);
  g_test_add_func ("/service/config-errors", test_config_errors);
  g_test_add_func ("/service/print-config", test_print_config);
  g_test_add_func ("/service/notify-socket", test_notify_socket);
  g_test_add_func ("/service/notify-abstract", test_notify_abstract);
  g_test_add_func ("/service/graceful-stop", test_graceful_stop);
  g_test_add_func ("/service/second-signal", test_second_signal);
  g_test_add_func ("/service/open", test_open);
  g_test_add_func ("/service/systemd-unit", test_systemd_unit);
  g_test_add_func ("/service/man-page", test_man_page);

  return g_test_run ();
}
