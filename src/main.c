/* main.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <locale.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <gst/gst.h>

#include "kaigi-config.h"
#include "kaigi-locale.h"
#include "kaigi-plugins.h"
#include "kaigi-server.h"

#define DRAIN_TIMEOUT_S 5

static gboolean
keep_ticking (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(KaigiServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *locale_dir = kaigi_locale_dir ();
  gboolean print_version = FALSE;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, locale_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  config = kaigi_config_new_from_args (argv, &print_version, &error);
  if (config == NULL)
    {
      g_printerr ("kaigi: %s\n", error->message);
      return 2;
    }

  if (print_version)
    {
      g_print ("kaigi %s\n", PACKAGE_VERSION);
      return 0;
    }

  gst_init (NULL, NULL);
  if (!kaigi_plugins_check (&error))
    {
      g_printerr ("kaigi: %s\n", error->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  server = kaigi_server_new (config);
  if (!kaigi_server_start (server, &error))
    {
      g_printerr (_("kaigi: cannot listen on port %u: %s\n"), config->port, error->message);
      return 1;
    }

  g_print ("Kaigi listening on http://%s:%u/\n",
           config->address ? config->address : "localhost", kaigi_server_get_port (server));

  g_unix_signal_add (SIGINT, on_quit_signal, loop);
  g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  g_main_loop_run (loop);

  g_message ("Stopping");
  kaigi_server_stop (server);
  /* Let participants' media tear down and close frames go out, for at
   * most DRAIN_TIMEOUT_S */
  {
    gint64 deadline = g_get_monotonic_time () + DRAIN_TIMEOUT_S * G_USEC_PER_SEC;
    guint tick = g_timeout_add (50, keep_ticking, NULL);

    while (!kaigi_server_is_idle (server) && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (tick);
  }
  g_clear_object (&server);
  gst_deinit ();
  return 0;
}
