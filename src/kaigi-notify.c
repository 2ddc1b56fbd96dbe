/* kaigi-notify.c — the service manager readiness protocol, without libsystemd
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * systemd (Type=notify) passes a datagram socket in $NOTIFY_SOCKET and
 * waits for "READY=1" on it; see sd_notify(3). The protocol is one
 * datagram of newline-separated VAR=VALUE assignments, so a GSocket does.
 */

#include "config.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "kaigi-notify.h"

/**
 * kaigi_notify:
 * @state: newline-separated assignments, e.g. "READY=1" or "STOPPING=1"
 * @error: return location for a #GIOError
 *
 * Sends @state to the service manager's socket named by `$NOTIFY_SOCKET`:
 * a file system path, or an abstract socket when it starts with '@'.
 * Does nothing, successfully, when the variable is not set. Blocking (one
 * local datagram); any thread.
 *
 * Returns: %TRUE when sent or not asked for
 */
gboolean
kaigi_notify (const char  *state,
              GError     **error)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) socket = NULL;
  gsize len;

  g_return_val_if_fail (state != NULL, FALSE);

  if (path == NULL || *path == '\0')
    return TRUE;

  if (path[0] == '@')
    address = g_unix_socket_address_new_with_type (path + 1, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  else if (path[0] == '/')
    address = g_unix_socket_address_new (path);
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "NOTIFY_SOCKET=%s: not a Unix socket path or abstract name", path);
      return FALSE;
    }

  socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return FALSE;

  len = strlen (state);
  return g_socket_send_to (socket, address, state, len, NULL, error) == (gssize) len;
}
