/* kaigi-preflight.c — what must hold before the server opens its port
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Checks the files the configuration names (TLS certificate and key,
 * recordings folder) so that a mistake is one clear message naming where
 * the value came from, before anything is started, rather than a failure
 * at the first HTTPS client or the first recording.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "kaigi-config.h"
#include "kaigi-preflight.h"

#define HANDSHAKE_TIMEOUT_S 10

typedef struct
{
  GError *server_error;
  GError *client_error;
  guint pending;
} Handshake;

static void
on_server_handshake (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Handshake *h = user_data;

  g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &h->server_error);
  h->pending--;
}

static void
on_client_handshake (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Handshake *h = user_data;

  g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &h->client_error);
  h->pending--;
}

static gboolean
on_accept_certificate (GTlsConnection       *connection,
                       GTlsCertificate      *peer_cert,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  /* Self-signed and expired certificates are the operator's choice; the
   * point here is only whether certificate and key belong together */
  return TRUE;
}

static gboolean
on_handshake_timeout (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static GIOStream *
stream_from_fd (int       fd,
                GError  **error)
{
  g_autoptr(GSocket) socket = g_socket_new_from_fd (fd, error);

  if (socket == NULL)
    {
      close (fd);
      return NULL;
    }
  return G_IO_STREAM (g_socket_connection_factory_create_connection (socket));
}

/* g_tls_certificate_new_from_files() accepts a key that does not belong to
 * the certificate; the mismatch would only show at the first handshake.
 * So do one: our own client against our own server over a socket pair. */
static gboolean
handshake_with_self (GTlsCertificate  *certificate,
                     GError          **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GIOStream) server_base = NULL;
  g_autoptr(GIOStream) client_base = NULL;
  g_autoptr(GIOStream) server = NULL;
  g_autoptr(GIOStream) client = NULL;
  g_autoptr(GSource) timeout = NULL;
  Handshake h = { NULL, NULL, 2 };
  int fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "socketpair: %s", g_strerror (saved_errno));
      return FALSE;
    }

  server_base = stream_from_fd (fds[0], error);
  if (server_base == NULL)
    {
      close (fds[1]);
      return FALSE;
    }
  client_base = stream_from_fd (fds[1], error);
  if (client_base == NULL)
    return FALSE;

  server = g_tls_server_connection_new (server_base, certificate, error);
  if (server == NULL)
    return FALSE;
  client = g_tls_client_connection_new (client_base, NULL, error);
  if (client == NULL)
    return FALSE;
  g_signal_connect (client, "accept-certificate", G_CALLBACK (on_accept_certificate), NULL);

  g_main_context_push_thread_default (context);
  timeout = g_timeout_source_new_seconds (HANDSHAKE_TIMEOUT_S);
  g_source_set_callback (timeout, on_handshake_timeout, cancellable, NULL);
  g_source_attach (timeout, context);

  g_tls_connection_handshake_async (G_TLS_CONNECTION (server), G_PRIORITY_DEFAULT,
                                    cancellable, on_server_handshake, &h);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (client), G_PRIORITY_DEFAULT,
                                    cancellable, on_client_handshake, &h);
  while (h.pending > 0)
    {
      g_main_context_iteration (context, TRUE);
      /* one side failing leaves the other waiting for bytes */
      if (h.pending > 0 && (h.server_error || h.client_error))
        g_cancellable_cancel (cancellable);
    }
  g_source_destroy (timeout);
  g_main_context_pop_thread_default (context);

  if (h.server_error || h.client_error)
    {
      /* the side that failed first says why; the other only saw it go away */
      GError *first = h.server_error && !g_error_matches (h.server_error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                      ? h.server_error : h.client_error ? h.client_error : h.server_error;

      g_propagate_error (error, g_error_copy (first));
      g_clear_error (&h.server_error);
      g_clear_error (&h.client_error);
      return FALSE;
    }

  return TRUE;
}

/**
 * kaigi_preflight_check_certificate:
 * @config: a configuration
 * @error: return location for a %KAIGI_CONFIG_ERROR_CERTIFICATE error
 *
 * When @config names a TLS certificate and key, checks that both files
 * can be read and parsed (PEM) and that the key belongs to the
 * certificate, by a TLS handshake in process (no network). The message
 * names both files and where they were configured. Needs a GIO TLS
 * backend (glib-networking). Blocks for the handshake (milliseconds);
 * main thread, before the server starts.
 *
 * Returns: %TRUE when there is no certificate or it is usable
 */
gboolean
kaigi_preflight_check_certificate (const KaigiConfig  *config,
                                   GError            **error)
{
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *cert_origin = NULL;
  g_autofree char *key_origin = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (config->tls_certificate == NULL && config->tls_key == NULL)
    return TRUE;

  cert_origin = kaigi_config_describe_origin (config, "server", "tls-certificate");
  key_origin = kaigi_config_describe_origin (config, "server", "tls-key");

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_CERTIFICATE,
                   _("%s: TLS is not available: install glib-networking (apt-get install glib-networking)"),
                   cert_origin);
      return FALSE;
    }

  certificate = g_tls_certificate_new_from_files (config->tls_certificate, config->tls_key,
                                                  &local_error);
  if (certificate == NULL)
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_CERTIFICATE,
                   _("%s, %s: cannot load the TLS certificate %s with the key %s: %s"),
                   cert_origin, key_origin, config->tls_certificate, config->tls_key,
                   local_error->message);
      return FALSE;
    }

  if (!handshake_with_self (certificate, &local_error))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_CERTIFICATE,
                   _("%s, %s: the TLS certificate %s and the key %s do not work together "
                     "(is it the key of this certificate?): %s"),
                   cert_origin, key_origin, config->tls_certificate, config->tls_key,
                   local_error->message);
      return FALSE;
    }

  return TRUE;
}

/**
 * kaigi_preflight_check_recordings_dir:
 * @config: a configuration
 * @error: return location for a %KAIGI_CONFIG_ERROR_RECORDINGS_DIR error
 *
 * Creates the recordings folder (and its parents) if needed and checks
 * that a file can be created and deleted in it. The message names the
 * folder and where it was configured. Main thread, before the server
 * starts.
 *
 * Returns: %TRUE when recordings can be written
 */
gboolean
kaigi_preflight_check_recordings_dir (const KaigiConfig  *config,
                                      GError            **error)
{
  g_autofree char *origin = NULL;
  g_autofree char *probe = NULL;
  int saved_errno;
  int fd;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (config->recordings_dir != NULL, FALSE);

  origin = kaigi_config_describe_origin (config, "server", "recordings-dir");

  if (g_mkdir_with_parents (config->recordings_dir, 0750) != 0)
    {
      saved_errno = errno;
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_RECORDINGS_DIR,
                   _("%s: cannot create the recordings folder %s: %s"),
                   origin, config->recordings_dir, g_strerror (saved_errno));
      return FALSE;
    }

  probe = g_build_filename (config->recordings_dir, ".kaigi-write-test-XXXXXX", NULL);
  fd = g_mkstemp_full (probe, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_RECORDINGS_DIR,
                   _("%s: cannot write in the recordings folder %s: %s"),
                   origin, config->recordings_dir, g_strerror (saved_errno));
      return FALSE;
    }
  close (fd);

  if (g_unlink (probe) != 0)
    {
      saved_errno = errno;
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_RECORDINGS_DIR,
                   _("%s: cannot delete files in the recordings folder %s: %s"),
                   origin, config->recordings_dir, g_strerror (saved_errno));
      return FALSE;
    }

  return TRUE;
}

/**
 * kaigi_preflight_check:
 * @config: a configuration
 * @error: return location for a #KAIGI_CONFIG_ERROR
 *
 * Runs kaigi_preflight_check_certificate() and
 * kaigi_preflight_check_recordings_dir(). Main thread, before the server
 * starts; a failure means the configuration must be fixed (exit status 2).
 *
 * Returns: %TRUE when the server may start
 */
gboolean
kaigi_preflight_check (const KaigiConfig  *config,
                       GError            **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  return kaigi_preflight_check_certificate (config, error) &&
         kaigi_preflight_check_recordings_dir (config, error);
}
