/* main.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 *
 * Exit status: 0 after a clean stop (or --version, --help, --print-config),
 * 1 on a runtime failure (missing GStreamer plugins, cannot listen) or when
 * a second SIGTERM/SIGINT cut the drain short, 2 on a usage or
 * configuration error (nothing was started).
 */

#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <gst/gst.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "kaigi-config.h"
#include "kaigi-locale.h"
#include "kaigi-notify.h"
#include "kaigi-plugins.h"
#include "kaigi-preflight.h"
#include "kaigi-server.h"

#define DRAIN_TIMEOUT_S 5

typedef struct
{
  GMainLoop *loop;
  guint signals;
} StopState;

static gboolean
keep_ticking (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
on_stop_signal (gpointer user_data)
{
  StopState *stop = user_data;

  if (++stop->signals > 1)
    {
      /* The operator insists: skip the drain (recordings are crash-safe) */
      g_printerr (_("kaigi: second stop signal, exiting without waiting\n"));
      fflush (stdout);
      _exit (1);
    }

  g_main_loop_quit (stop->loop);
  return G_SOURCE_CONTINUE;
}

static void
notify (const char *state)
{
  g_autoptr(GError) error = NULL;

  if (!kaigi_notify (state, &error))
    g_warning ("Cannot notify the service manager (%s): %s", state, error->message);
}

/* Iterates the main context until the server is idle or @seconds passed */
static void
wait_idle (KaigiServer *server,
           guint        seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  guint tick = g_timeout_add (50, keep_ticking, NULL);

  while (!kaigi_server_is_idle (server) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

static gboolean
is_local_or_any (const char *address)
{
  g_autoptr(GInetAddress) inet = NULL;

  if (address == NULL)
    return TRUE;
  inet = g_inet_address_new_from_string (address);
  return inet == NULL || g_inet_address_get_is_any (inet) || g_inet_address_get_is_loopback (inet);
}

static void
open_browser (const KaigiConfig *config,
              guint              port)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  const char *scheme = config->tls_certificate ? "https" : "http";

  /* Browsers give camera and microphone to http:// only on localhost */
  if (is_local_or_any (config->address))
    uri = g_strdup_printf ("%s://localhost:%u/", scheme, port);
  else if (strchr (config->address, ':'))
    uri = g_strdup_printf ("%s://[%s]:%u/", scheme, config->address, port);
  else
    uri = g_strdup_printf ("%s://%s:%u/", scheme, config->address, port);

  /* Inside a Flatpak, GIO goes through the OpenURI portal */
  if (!g_app_info_launch_default_for_uri (uri, NULL, &error))
    g_printerr (_("kaigi: warning: cannot open %s in a browser: %s\n"), uri, error->message);
}

/* Started with --open (from the desktop): there is no window to close,
 * so closing the web client is what ends Kaigi. Once a web client has
 * connected and none has been connected for this long (s) — more than a
 * page reload takes — the server stops as on SIGTERM. */
#define OPEN_IDLE_STOP_S 10

typedef struct
{
  KaigiServer *server;
  GMainLoop *loop;
  gint64 idle_since;
  guint source;
} BrowserWatch;

static gboolean
watch_browser (gpointer user_data)
{
  BrowserWatch *watch = user_data;
  gint64 now = g_get_monotonic_time ();
  guint64 total = 0;

  if (kaigi_server_get_n_connections (watch->server, &total) > 0)
    {
      watch->idle_since = 0;
    }
  else if (total > 0)
    {
      if (watch->idle_since == 0)
        watch->idle_since = now;
      else if (now - watch->idle_since >= OPEN_IDLE_STOP_S * G_USEC_PER_SEC)
        {
          g_message ("The web client was closed; stopping");
          g_main_loop_quit (watch->loop);
          watch->source = 0;
          return G_SOURCE_REMOVE;
        }
    }
  return G_SOURCE_CONTINUE;
}

/* Large blocks stay in the heap. A recording composes from buffers of
 * a whole 1280x720 frame (1.4 MB): GStreamer 1.22's videoaggregator
 * allocates one per scaled input per frame (gst_buffer_new_allocate() in
 * gstvideoaggregator.c), 180 a second for six participants, in the
 * compositor's worker threads. With glibc's dynamic thresholds these
 * threads' heaps kept being trimmed (madvise MADV_DONTNEED, 13 a second)
 * and grown again, and the kernel zeroed the returned pages anew: the
 * bench measured the compositor at 24-29 % of a core so, 13-15 % with
 * blocks up to 8 MiB kept out of mmap() and up to 128 MiB of free heap
 * kept rather than trimmed (mallopt(3); docs/performance.md). Setting
 * the trim threshold alone is worse: it turns glibc's dynamic mmap
 * threshold off, and every frame buffer is mmap()ed. Whoever tunes
 * malloc (GLIBC_TUNABLES, MALLOC_*_ variables) keeps their setting. */
static void
keep_large_blocks_in_heap (void)
{
#ifdef __GLIBC__
  const char *tunables = g_getenv ("GLIBC_TUNABLES");

  if ((tunables && strstr (tunables, "glibc.malloc.")) ||
      g_getenv ("MALLOC_MMAP_THRESHOLD_") || g_getenv ("MALLOC_TRIM_THRESHOLD_"))
    return;
  mallopt (M_MMAP_THRESHOLD, 8 * 1024 * 1024);
  mallopt (M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
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
  g_auto(GStrv) envp = NULL;
  KaigiRunFlags flags = KAIGI_RUN_DEFAULT;
  StopState stop = { NULL, 0 };
  BrowserWatch watch = { NULL, NULL, 0, 0 };

  keep_large_blocks_in_heap ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, locale_dir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  envp = g_get_environ ();
  config = kaigi_config_parse_command_line (argv, (const char * const *) envp, &flags, &error);
  if (config == NULL)
    {
      g_printerr ("kaigi: %s\n", error->message);
      return 2;
    }

  if (flags & KAIGI_RUN_PRINT_VERSION)
    {
      g_print ("kaigi %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (flags & KAIGI_RUN_PRINT_CONFIG)
    {
      g_autofree char *text = kaigi_config_to_data (config);

      g_print ("%s", text);
      return 0;
    }

  if (!kaigi_preflight_check (config, &error))
    {
      g_printerr ("kaigi: %s\n", error->message);
      return 2;
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

  /* before saying so: once ready, a stop signal must stop gracefully */
  stop.loop = loop;
  g_unix_signal_add (SIGINT, on_stop_signal, &stop);
  g_unix_signal_add (SIGTERM, on_stop_signal, &stop);

  g_print ("Kaigi listening on %s://%s:%u/\n",
           config->tls_certificate ? "https" : "http",
           config->address ? config->address : "localhost", kaigi_server_get_port (server));
  fflush (stdout);
  notify ("READY=1");

  if (flags & KAIGI_RUN_OPEN)
    {
      open_browser (config, kaigi_server_get_port (server));
      watch.server = server;
      watch.loop = loop;
      watch.source = g_timeout_add_seconds (1, watch_browser, &watch);
    }

  g_main_loop_run (loop);
  g_clear_handle_id (&watch.source, g_source_remove);

  /* First stop signal: refuse joins, tell everyone, give them the grace
   * period (ended early once all have left), then close and drain. A
   * second signal exits at once (on_stop_signal). */
  g_message ("Stopping");
  notify ("STOPPING=1");
  kaigi_server_announce_shutdown (server);
  if (config->shutdown_grace_s > 0)
    wait_idle (server, config->shutdown_grace_s);
  kaigi_server_stop (server);
  /* Let participants' media tear down and close frames go out; a
   * recording is never cut short: on a machine too busy for the
   * recorder, finalizing can take longer than the drain (it ends by
   * itself, see kaigi_server_get_n_recordings()) */
  wait_idle (server, DRAIN_TIMEOUT_S);
  while (kaigi_server_get_n_recordings (server) > 0)
    g_main_context_iteration (NULL, TRUE);
  g_clear_object (&server);
  gst_deinit ();
  return 0;
}
