/* kaigi-config.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n.h>
#include <gio/gio.h>

#include "kaigi-config.h"
#include "kaigi-protocol.h"

/**
 * kaigi_config_new:
 *
 * Creates a configuration holding the defaults: all interfaces, port
 * %KAIGI_DEFAULT_PORT, recordings in `$XDG_DATA_HOME/kaigi/recordings`, no
 * STUN/TURN, no API token, %KAIGI_DEFAULT_IDLE_TIMEOUT_S s idle timeout,
 * %KAIGI_DEFAULT_JITTERBUFFER_LATENCY_MS ms jitterbuffer latency.
 *
 * Returns: (transfer full): a new configuration
 */
KaigiConfig *
kaigi_config_new (void)
{
  KaigiConfig *config = g_new0 (KaigiConfig, 1);

  config->port = KAIGI_DEFAULT_PORT;
  config->recordings_dir = g_build_filename (g_get_user_data_dir (), "kaigi", "recordings", NULL);
  config->idle_timeout_s = KAIGI_DEFAULT_IDLE_TIMEOUT_S;
  config->jitterbuffer_latency_ms = KAIGI_DEFAULT_JITTERBUFFER_LATENCY_MS;
  config->max_participants = KAIGI_DEFAULT_MAX_PARTICIPANTS;
  config->recording_width = KAIGI_DEFAULT_RECORDING_WIDTH;
  config->recording_height = KAIGI_DEFAULT_RECORDING_HEIGHT;
  config->recording_framerate = KAIGI_DEFAULT_RECORDING_FRAMERATE;
  config->recording_bitrate_kbps = KAIGI_DEFAULT_RECORDING_BITRATE_KBPS;
  config->recording_crash_safe_minutes = KAIGI_DEFAULT_RECORDING_CRASH_SAFE_MINUTES;
  config->speaker_lead_ms = KAIGI_DEFAULT_SPEAKER_LEAD_MS;
  config->speaker_hold_ms = KAIGI_DEFAULT_SPEAKER_HOLD_MS;
  return config;
}

/**
 * kaigi_config_copy:
 * @config: a configuration
 *
 * Returns: (transfer full): a deep copy of @config
 */
KaigiConfig *
kaigi_config_copy (const KaigiConfig *config)
{
  KaigiConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_memdup2 (config, sizeof *config);
  copy->address = g_strdup (config->address);
  copy->recordings_dir = g_strdup (config->recordings_dir);
  copy->stun_server = g_strdup (config->stun_server);
  copy->turn_server = g_strdup (config->turn_server);
  copy->api_token = g_strdup (config->api_token);
  copy->recording_encoder = g_strdup (config->recording_encoder);
  copy->config_file = g_strdup (config->config_file);
  return copy;
}

/**
 * kaigi_config_free:
 * @config: (transfer full) (nullable): a configuration
 */
void
kaigi_config_free (KaigiConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->address);
  g_free (config->recordings_dir);
  g_free (config->stun_server);
  g_free (config->turn_server);
  g_free (config->api_token);
  g_free (config->recording_encoder);
  g_free (config->config_file);
  g_free (config);
}

static void
replace_string (char       **dest,
                const char  *value)
{
  g_free (*dest);
  *dest = g_strdup (value);
}

typedef enum
{
  KEY_STRING,
  KEY_PORT,
  KEY_UINT,
} KeyKind;

typedef struct
{
  const char *group;
  const char *key;
  KeyKind kind;
  gsize offset;
  guint min;
  guint max;
} KeySpec;

#define KEY(g, k, kind, member, min, max) { g, k, kind, G_STRUCT_OFFSET (KaigiConfig, member), min, max }

static const KeySpec key_specs[] = {
  KEY ("server", "address", KEY_STRING, address, 0, 0),
  KEY ("server", "port", KEY_PORT, port, 0, 65535),
  KEY ("server", "recordings-dir", KEY_STRING, recordings_dir, 0, 0),
  KEY ("server", "api-token", KEY_STRING, api_token, 0, 0),
  KEY ("server", "idle-timeout", KEY_UINT, idle_timeout_s, 1, 3600),
  KEY ("server", "max-participants", KEY_UINT, max_participants, 1, 1000),
  KEY ("ice", "stun-server", KEY_STRING, stun_server, 0, 0),
  KEY ("ice", "turn-server", KEY_STRING, turn_server, 0, 0),
  KEY ("ice", "min-port", KEY_PORT, ice_min_port, 0, 65535),
  KEY ("ice", "max-port", KEY_PORT, ice_max_port, 0, 65535),
  KEY ("media", "jitterbuffer-latency", KEY_UINT, jitterbuffer_latency_ms, 0, 2000),
  KEY ("recording", "width", KEY_UINT, recording_width, 160, 3840),
  KEY ("recording", "height", KEY_UINT, recording_height, 120, 2160),
  KEY ("recording", "framerate", KEY_UINT, recording_framerate, 1, 60),
  KEY ("recording", "video-bitrate", KEY_UINT, recording_bitrate_kbps, 100, 50000),
  KEY ("recording", "video-encoder", KEY_STRING, recording_encoder, 0, 0),
  KEY ("recording", "crash-safe-minutes", KEY_UINT, recording_crash_safe_minutes, 1, 1440),
  KEY ("speaker", "lead-time", KEY_UINT, speaker_lead_ms, 0, 60000),
  KEY ("speaker", "hold-time", KEY_UINT, speaker_hold_ms, 0, 600000),
};

static const KeySpec *
find_key (const char *group,
          const char *key)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (key_specs); i++)
    if (g_str_equal (key_specs[i].group, group) && g_str_equal (key_specs[i].key, key))
      return &key_specs[i];
  return NULL;
}

static gboolean
set_value (KaigiConfig    *config,
           const KeySpec  *spec,
           const char     *value,
           const char     *where,
           GError        **error)
{
  gpointer dest = G_STRUCT_MEMBER_P (config, spec->offset);
  guint64 n;

  switch (spec->kind)
    {
    case KEY_STRING:
      g_free (*(char **) dest);
      *(char **) dest = *value ? g_strdup (value) : NULL;
      return TRUE;

    case KEY_PORT:
    case KEY_UINT:
      if (!g_ascii_string_to_unsigned (value, 10, spec->min, spec->max, &n, NULL))
        {
          g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: “%s” is not valid for %s.%s: expected a whole number from %u to %u"),
                       where, value, spec->group, spec->key, spec->min, spec->max);
          return FALSE;
        }
      *(guint *) dest = (guint) n;
      return TRUE;

    default:
      g_assert_not_reached ();
    }
}

static gboolean
check_consistency (KaigiConfig  *config,
                   const char   *where,
                   GError      **error)
{
  if (config->ice_min_port > config->ice_max_port)
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: ice.min-port (%u) is above ice.max-port (%u)"),
                   where, config->ice_min_port, config->ice_max_port);
      return FALSE;
    }

  if (config->recording_encoder && !g_str_equal (config->recording_encoder, "x264enc") &&
      !g_str_equal (config->recording_encoder, "openh264enc"))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: recording.video-encoder must be x264enc or openh264enc, not “%s”"),
                   where, config->recording_encoder);
      return FALSE;
    }

  if ((config->recording_width | config->recording_height) & 1)
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the recording size %u×%u must be even in both directions (H.264 4:2:0)"),
                   where, config->recording_width, config->recording_height);
      return FALSE;
    }

  if (config->stun_server && !g_str_has_prefix (config->stun_server, "stun://"))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the STUN server “%s” must look like stun://HOST:PORT"),
                   where, config->stun_server);
      return FALSE;
    }

  if (config->turn_server && !g_str_has_prefix (config->turn_server, "turn://") &&
      !g_str_has_prefix (config->turn_server, "turns://"))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the TURN server “%s” must look like turn://USER:PASSWORD@HOST:PORT"),
                   where, config->turn_server);
      return FALSE;
    }

  return TRUE;
}

/**
 * kaigi_config_load_key_file:
 * @config: the configuration to update
 * @key_file: a loaded key file
 * @file_name: its name, for error messages
 * @error: return location for a #KAIGI_CONFIG_ERROR
 *
 * Applies every key of @key_file to @config. Groups and keys: [server]
 * address, port, recordings-dir, api-token, idle-timeout (s),
 * max-participants; [ice] stun-server, turn-server, min-port, max-port;
 * [media] jitterbuffer-latency (ms); [recording] width, height (pixels),
 * framerate (fps), video-bitrate (kbit/s), video-encoder,
 * crash-safe-minutes; [speaker]
 * lead-time, hold-time (ms). Unknown groups or keys are errors, so
 * that a typo never goes unnoticed.
 *
 * Returns: %TRUE on success; on failure @config may be partly updated
 */
gboolean
kaigi_config_load_key_file (KaigiConfig  *config,
                            GKeyFile     *key_file,
                            const char   *file_name,
                            GError      **error)
{
  g_auto(GStrv) groups = NULL;
  char **group;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key_file != NULL, FALSE);

  groups = g_key_file_get_groups (key_file, NULL);
  for (group = groups; *group; group++)
    {
      g_auto(GStrv) keys = g_key_file_get_keys (key_file, *group, NULL, NULL);
      char **key;

      for (key = keys; key && *key; key++)
        {
          const KeySpec *spec = find_key (*group, *key);
          g_autofree char *value = NULL;
          g_autofree char *where = g_strdup_printf ("%s [%s] %s", file_name, *group, *key);

          if (spec == NULL)
            {
              g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_UNKNOWN_KEY,
                           _("%s: unknown key"), where);
              return FALSE;
            }

          value = g_key_file_get_string (key_file, *group, *key, error);
          if (value == NULL)
            return FALSE;
          g_strstrip (value);
          if (!set_value (config, spec, value, where, error))
            return FALSE;
        }
    }

  return check_consistency (config, file_name, error);
}

/**
 * kaigi_config_load_file:
 * @config: the configuration to update
 * @path: a GKeyFile file name
 * @error: return location for a #KAIGI_CONFIG_ERROR
 *
 * Reads @path and applies it with kaigi_config_load_key_file().
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_config_load_file (KaigiConfig  *config,
                        const char   *path,
                        GError      **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (!g_key_file_load_from_file (key_file, path, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_FILE,
                   _("Cannot read the configuration file %s: %s"), path, local_error->message);
      return FALSE;
    }

  g_free (config->config_file);
  config->config_file = g_strdup (path);
  return kaigi_config_load_key_file (config, key_file, path, error);
}

/**
 * kaigi_config_new_from_args:
 * @argv: (array zero-terminated=1): the command line, argv[0] first; not modified
 * @print_version: (out): set when `--version` was given
 * @error: return location for a #KAIGI_CONFIG_ERROR or #G_OPTION_ERROR
 *
 * Builds the effective configuration: defaults, then the file named by
 * `--config` (if any), then the other options, which win. `--help` prints
 * and exits the process, as GOptionContext does.
 *
 * Returns: (transfer full) (nullable): the configuration, or %NULL
 */
KaigiConfig *
kaigi_config_new_from_args (char     **argv,
                            gboolean  *print_version,
                            GError   **error)
{
  g_autoptr(KaigiConfig) config = kaigi_config_new ();
  g_autoptr(GOptionContext) context = NULL;
  g_auto(GStrv) args = g_strdupv (argv);
  g_autofree char *config_file = NULL;
  g_autofree char *address = NULL;
  g_autofree char *recordings_dir = NULL;
  g_autofree char *stun_server = NULL;
  g_autofree char *turn_server = NULL;
  g_autofree char *api_token = NULL;
  int port = -1;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file, N_("Read the configuration from FILE (GKeyFile)"), N_("FILE") },
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, N_("Listen on ADDR only (default: all interfaces)"), N_("ADDR") },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, N_("Listen on TCP port N; 0 picks a free port (default: 8080)"), N_("N") },
    { "recordings-dir", 0, 0, G_OPTION_ARG_FILENAME, &recordings_dir, N_("Store recordings in DIR"), N_("DIR") },
    { "stun-server", 0, 0, G_OPTION_ARG_STRING, &stun_server, N_("STUN server, stun://HOST:PORT"), N_("URI") },
    { "turn-server", 0, 0, G_OPTION_ARG_STRING, &turn_server, N_("TURN server, turn://USER:PASSWORD@HOST:PORT"), N_("URI") },
    { "api-token", 0, 0, G_OPTION_ARG_STRING, &api_token, N_("Require “Authorization: Bearer TOKEN” on the REST API, WHIP and WHEP"), N_("TOKEN") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Kaigi — a self-hosted video-meeting server."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse_strv (context, &args, error))
    return NULL;

  if (args[0] && args[1])
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("Unexpected argument “%s”"), args[1]);
      return NULL;
    }

  *print_version = version;

  if (config_file && !kaigi_config_load_file (config, config_file, error))
    return NULL;

  if (address)
    replace_string (&config->address, address);
  if (port >= 0)
    {
      if (port > 65535)
        {
          g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                       _("--port: %d is not a TCP port (0 to 65535)"), port);
          return NULL;
        }
      config->port = port;
    }
  else if (port != -1)
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("--port: %d is not a TCP port (0 to 65535)"), port);
      return NULL;
    }
  if (recordings_dir)
    replace_string (&config->recordings_dir, recordings_dir);
  if (stun_server)
    replace_string (&config->stun_server, stun_server);
  if (turn_server)
    replace_string (&config->turn_server, turn_server);
  if (api_token)
    replace_string (&config->api_token, api_token);

  if (!check_consistency (config, _("command line"), error))
    return NULL;

  return g_steal_pointer (&config);
}

/**
 * kaigi_ice_server_free:
 * @server: (transfer full) (nullable): an ICE server
 */
void
kaigi_ice_server_free (KaigiIceServer *server)
{
  if (server == NULL)
    return;

  g_strfreev (server->urls);
  g_free (server->username);
  g_free (server->credential);
  g_free (server);
}

static KaigiIceServer *
ice_server_from_uri (const char *uri_string)
{
  g_autoptr(GUri) uri = g_uri_parse (uri_string, G_URI_FLAGS_HAS_PASSWORD, NULL);
  KaigiIceServer *server;
  const char *scheme;
  int port;

  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return NULL;

  scheme = g_uri_get_scheme (uri);
  port = g_uri_get_port (uri);
  server = g_new0 (KaigiIceServer, 1);
  server->urls = g_new0 (char *, 2);
  /* RFC 7064 / RFC 7065 URI form, as RTCIceServer.urls expects */
  if (port > 0)
    server->urls[0] = g_strdup_printf ("%s:%s:%d", scheme, g_uri_get_host (uri), port);
  else
    server->urls[0] = g_strdup_printf ("%s:%s", scheme, g_uri_get_host (uri));
  server->username = g_strdup (g_uri_get_user (uri));
  server->credential = g_strdup (g_uri_get_password (uri));
  return server;
}

/**
 * kaigi_config_get_ice_servers:
 * @config: a configuration
 *
 * Converts the configured STUN and TURN servers (GStreamer's
 * `stun://HOST:PORT` and `turn://USER:PASSWORD@HOST:PORT` forms) into the
 * W3C RTCIceServer form handed to clients (RFC 7064, RFC 7065).
 *
 * Returns: (transfer full) (element-type KaigiIceServer): the ICE servers
 */
GPtrArray *
kaigi_config_get_ice_servers (const KaigiConfig *config)
{
  GPtrArray *servers = g_ptr_array_new_with_free_func ((GDestroyNotify) kaigi_ice_server_free);
  KaigiIceServer *server;

  g_return_val_if_fail (config != NULL, servers);

  if (config->stun_server && (server = ice_server_from_uri (config->stun_server)))
    g_ptr_array_add (servers, server);
  if (config->turn_server && (server = ice_server_from_uri (config->turn_server)))
    g_ptr_array_add (servers, server);
  return servers;
}
