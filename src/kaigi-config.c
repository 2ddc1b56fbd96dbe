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
 * kaigi_config_default_recordings_dir:
 * @in_flatpak: whether Kaigi runs inside a Flatpak sandbox
 *
 * The default recordings folder: inside a Flatpak, `Kaigi` in the user's
 * XDG videos folder (which the sandbox is given); elsewhere, and when
 * there is no videos folder, `$XDG_DATA_HOME/kaigi/recordings`.
 *
 * Returns: (transfer full) (type filename): the folder
 */
char *
kaigi_config_default_recordings_dir (gboolean in_flatpak)
{
  const char *videos = in_flatpak ? g_get_user_special_dir (G_USER_DIRECTORY_VIDEOS) : NULL;

  if (videos != NULL)
    return g_build_filename (videos, "Kaigi", NULL);
  return g_build_filename (g_get_user_data_dir (), "kaigi", "recordings", NULL);
}

/**
 * kaigi_config_new:
 *
 * Creates a configuration holding the defaults: all interfaces, port
 * %KAIGI_DEFAULT_PORT, recordings in
 * kaigi_config_default_recordings_dir(), no STUN/TURN, no API token, no
 * TLS, %KAIGI_DEFAULT_IDLE_TIMEOUT_S s idle timeout,
 * %KAIGI_DEFAULT_JITTERBUFFER_LATENCY_MS ms jitterbuffer latency.
 *
 * Returns: (transfer full): a new configuration
 */
KaigiConfig *
kaigi_config_new (void)
{
  KaigiConfig *config = g_new0 (KaigiConfig, 1);

  config->port = KAIGI_DEFAULT_PORT;
  config->recordings_dir =
    kaigi_config_default_recordings_dir (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS));
  config->idle_timeout_s = KAIGI_DEFAULT_IDLE_TIMEOUT_S;
  config->jitterbuffer_latency_ms = KAIGI_DEFAULT_JITTERBUFFER_LATENCY_MS;
  config->max_participants = KAIGI_DEFAULT_MAX_PARTICIPANTS;
  config->recording_width = KAIGI_DEFAULT_RECORDING_WIDTH;
  config->recording_height = KAIGI_DEFAULT_RECORDING_HEIGHT;
  config->recording_framerate = KAIGI_DEFAULT_RECORDING_FRAMERATE;
  config->recording_bitrate_kbps = KAIGI_DEFAULT_RECORDING_BITRATE_KBPS;
  config->speaker_lead_ms = KAIGI_DEFAULT_SPEAKER_LEAD_MS;
  config->speaker_hold_ms = KAIGI_DEFAULT_SPEAKER_HOLD_MS;
  config->shutdown_grace_s = KAIGI_DEFAULT_SHUTDOWN_GRACE_S;
  config->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
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
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_memdup2 (config, sizeof *config);
  copy->address = g_strdup (config->address);
  copy->recordings_dir = g_strdup (config->recordings_dir);
  copy->stun_server = g_strdup (config->stun_server);
  copy->turn_server = g_strdup (config->turn_server);
  copy->api_token = g_strdup (config->api_token);
  copy->recording_encoder = g_strdup (config->recording_encoder);
  copy->tls_certificate = g_strdup (config->tls_certificate);
  copy->tls_key = g_strdup (config->tls_key);
  copy->config_file = g_strdup (config->config_file);
  copy->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (config->origins)
    {
      g_hash_table_iter_init (&iter, config->origins);
      while (g_hash_table_iter_next (&iter, &key, &value))
        g_hash_table_insert (copy->origins, g_strdup (key), g_strdup (value));
    }
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
  g_free (config->tls_certificate);
  g_free (config->tls_key);
  g_free (config->config_file);
  g_clear_pointer (&config->origins, g_hash_table_unref);
  g_free (config);
}

typedef enum
{
  KEY_STRING,
  KEY_PORT,
  KEY_UINT,
} KeyKind;

/* One row per configuration key. @option is the long command-line option
 * that sets it too (NULL if none); the environment variable is derived
 * from group and key, see kaigi_config_env_name(). */
typedef struct
{
  const char *group;
  const char *key;
  KeyKind kind;
  gsize offset;
  guint min;
  guint max;
  const char *option;
} KeySpec;

#define KEY(g, k, kind, member, min, max, option) \
  { g, k, kind, G_STRUCT_OFFSET (KaigiConfig, member), min, max, option }

static const KeySpec key_specs[] = {
  KEY ("server", "address", KEY_STRING, address, 0, 0, "address"),
  KEY ("server", "port", KEY_PORT, port, 0, 65535, "port"),
  KEY ("server", "recordings-dir", KEY_STRING, recordings_dir, 0, 0, "recordings-dir"),
  KEY ("server", "api-token", KEY_STRING, api_token, 0, 0, "api-token"),
  KEY ("server", "tls-certificate", KEY_STRING, tls_certificate, 0, 0, "tls-certificate"),
  KEY ("server", "tls-key", KEY_STRING, tls_key, 0, 0, "tls-key"),
  KEY ("server", "idle-timeout", KEY_UINT, idle_timeout_s, 1, 3600, NULL),
  KEY ("server", "max-participants", KEY_UINT, max_participants, 1, 1000, NULL),
  KEY ("server", "shutdown-grace", KEY_UINT, shutdown_grace_s, 0, 3600, NULL),
  KEY ("ice", "stun-server", KEY_STRING, stun_server, 0, 0, "stun-server"),
  KEY ("ice", "turn-server", KEY_STRING, turn_server, 0, 0, "turn-server"),
  KEY ("ice", "min-port", KEY_PORT, ice_min_port, 0, 65535, NULL),
  KEY ("ice", "max-port", KEY_PORT, ice_max_port, 0, 65535, NULL),
  KEY ("media", "jitterbuffer-latency", KEY_UINT, jitterbuffer_latency_ms, 0, 2000, NULL),
  KEY ("recording", "width", KEY_UINT, recording_width, 160, 3840, NULL),
  KEY ("recording", "height", KEY_UINT, recording_height, 120, 2160, NULL),
  KEY ("recording", "framerate", KEY_UINT, recording_framerate, 1, 60, NULL),
  KEY ("recording", "video-bitrate", KEY_UINT, recording_bitrate_kbps, 100, 50000, NULL),
  KEY ("recording", "video-encoder", KEY_STRING, recording_encoder, 0, 0, NULL),
  KEY ("speaker", "lead-time", KEY_UINT, speaker_lead_ms, 0, 60000, NULL),
  KEY ("speaker", "hold-time", KEY_UINT, speaker_hold_ms, 0, 600000, NULL),
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

static void
set_origin (KaigiConfig   *config,
            const KeySpec *spec,
            const char    *where)
{
  if (config->origins == NULL)
    config->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (config->origins, g_strconcat (spec->group, ".", spec->key, NULL),
                       g_strdup (where));
}

/**
 * kaigi_config_describe_origin:
 * @config: a configuration
 * @group: a configuration group, e.g. "server"
 * @key: a key in @group, e.g. "tls-key"
 *
 * Says where the value of @group/@key came from, for error messages:
 * `FILE:LINE: [GROUP] KEY`, `the environment variable KAIGI_GROUP_KEY`,
 * `--OPTION`, or `[GROUP] KEY (default)`.
 *
 * Returns: (transfer full): a translated description
 */
char *
kaigi_config_describe_origin (const KaigiConfig *config,
                              const char        *group,
                              const char        *key)
{
  g_autofree char *name = NULL;
  const char *where = NULL;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (group != NULL && key != NULL, NULL);

  name = g_strconcat (group, ".", key, NULL);
  if (config->origins)
    where = g_hash_table_lookup (config->origins, name);
  if (where)
    return g_strdup (where);
  return g_strdup_printf (_("[%s] %s (default)"), group, key);
}

/**
 * kaigi_config_env_name:
 * @group: a configuration group, e.g. "ice"
 * @key: a key in @group, e.g. "stun-server"
 *
 * The environment variable that sets @group/@key: `KAIGI_`, the group, `_`,
 * the key, in upper case with '-' turned into '_' (`KAIGI_ICE_STUN_SERVER`).
 *
 * Returns: (transfer full): the variable name
 */
char *
kaigi_config_env_name (const char *group,
                       const char *key)
{
  g_autofree char *name = g_strdup_printf ("KAIGI_%s_%s", group, key);
  char *p;

  for (p = name; *p; p++)
    *p = *p == '-' ? '_' : g_ascii_toupper (*p);
  return g_steal_pointer (&name);
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
      break;

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
      break;

    default:
      g_assert_not_reached ();
    }

  set_origin (config, spec, where);
  return TRUE;
}

/* Rules between keys; messages name where the offending value came from */
static gboolean
check_consistency (KaigiConfig  *config,
                   GError      **error)
{
  if (config->ice_min_port > config->ice_max_port)
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "ice", "min-port");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: ice.min-port (%u) is above ice.max-port (%u)"),
                   origin, config->ice_min_port, config->ice_max_port);
      return FALSE;
    }

  if (config->recording_encoder && !g_str_equal (config->recording_encoder, "x264enc") &&
      !g_str_equal (config->recording_encoder, "openh264enc"))
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "recording", "video-encoder");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: recording.video-encoder must be x264enc or openh264enc, not “%s”"),
                   origin, config->recording_encoder);
      return FALSE;
    }

  if ((config->recording_width | config->recording_height) & 1)
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "recording",
                                                              config->recording_width & 1 ? "width" : "height");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the recording size %u×%u must be even in both directions (H.264 4:2:0)"),
                   origin, config->recording_width, config->recording_height);
      return FALSE;
    }

  if (config->stun_server && !g_str_has_prefix (config->stun_server, "stun://"))
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "ice", "stun-server");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the STUN server “%s” must look like stun://HOST:PORT"),
                   origin, config->stun_server);
      return FALSE;
    }

  if (config->turn_server && !g_str_has_prefix (config->turn_server, "turn://") &&
      !g_str_has_prefix (config->turn_server, "turns://"))
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "ice", "turn-server");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   _("%s: the TURN server “%s” must look like turn://USER:PASSWORD@HOST:PORT"),
                   origin, config->turn_server);
      return FALSE;
    }

  if ((config->tls_certificate == NULL) != (config->tls_key == NULL))
    {
      g_autofree char *origin = kaigi_config_describe_origin (config, "server",
                                                              config->tls_certificate ? "tls-certificate" : "tls-key");

      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                   config->tls_certificate
                   ? _("%s: a TLS certificate needs its private key too (--tls-key or [server] tls-key)")
                   : _("%s: a TLS private key needs its certificate too (--tls-certificate or [server] tls-certificate)"),
                   origin);
      return FALSE;
    }

  if (config->address)
    {
      g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (config->address);

      if (inet == NULL)
        {
          g_autofree char *origin = kaigi_config_describe_origin (config, "server", "address");

          g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE,
                       _("%s: “%s” is not an IP address"), origin, config->address);
          return FALSE;
        }
    }

  /* empty means the default */
  if (config->recordings_dir == NULL)
    config->recordings_dir =
      kaigi_config_default_recordings_dir (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS));

  return TRUE;
}

/* GKeyFile keeps no line numbers: find the line of @key inside [@group]
 * in the file text itself. Returns 0 when it is not found. */
static guint
find_line (const char *text,
           const char *group,
           const char *key)
{
  g_auto(GStrv) lines = NULL;
  g_autofree char *header = NULL;
  gboolean in_group = FALSE;
  gsize key_len = strlen (key);
  guint found = 0;
  guint i;

  if (text == NULL)
    return 0;

  header = g_strdup_printf ("[%s]", group);
  lines = g_strsplit (text, "\n", -1);
  for (i = 0; lines[i]; i++)
    {
      const char *line = lines[i];

      while (g_ascii_isspace (*line))
        line++;
      if (*line == '[')
        {
          g_strchomp (lines[i]);
          in_group = g_str_equal (line, header);
          continue;
        }
      if (in_group && strncmp (line, key, key_len) == 0)
        {
          const char *rest = line + key_len;

          while (*rest == ' ' || *rest == '\t')
            rest++;
          /* GKeyFile keeps the last of repeated keys */
          if (*rest == '=' || *rest == '[')
            found = i + 1;
        }
    }
  return found;
}

static char *
describe_file_key (const char *file_name,
                   const char *text,
                   const char *group,
                   const char *key)
{
  guint line = find_line (text, group, key);

  if (line > 0)
    return g_strdup_printf ("%s:%u: [%s] %s", file_name, line, group, key);
  return g_strdup_printf ("%s: [%s] %s", file_name, group, key);
}

static gboolean
load_key_file (KaigiConfig  *config,
               GKeyFile     *key_file,
               const char   *file_name,
               const char   *text,
               GError      **error)
{
  g_auto(GStrv) groups = NULL;
  char **group;

  groups = g_key_file_get_groups (key_file, NULL);
  for (group = groups; *group; group++)
    {
      g_auto(GStrv) keys = g_key_file_get_keys (key_file, *group, NULL, NULL);
      char **key;

      for (key = keys; key && *key; key++)
        {
          const KeySpec *spec = find_key (*group, *key);
          g_autofree char *value = NULL;
          g_autofree char *where = describe_file_key (file_name, text, *group, *key);

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
 * address, port, recordings-dir, api-token, tls-certificate, tls-key,
 * idle-timeout (s), max-participants, shutdown-grace (s); [ice]
 * stun-server, turn-server, min-port, max-port; [media]
 * jitterbuffer-latency (ms); [recording] width, height (pixels), framerate
 * (fps), video-bitrate (kbit/s), video-encoder; [speaker] lead-time,
 * hold-time (ms). Unknown groups or keys are errors, so that a typo never
 * goes unnoticed. Messages name @file_name, the group and the key (no
 * line numbers: use kaigi_config_load_file() for those).
 *
 * Returns: %TRUE on success; on failure @config may be partly updated
 */
gboolean
kaigi_config_load_key_file (KaigiConfig  *config,
                            GKeyFile     *key_file,
                            const char   *file_name,
                            GError      **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key_file != NULL, FALSE);

  return load_key_file (config, key_file, file_name, NULL, error) &&
         check_consistency (config, error);
}

static gboolean
load_file (KaigiConfig  *config,
           const char   *path,
           GError      **error)
{
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = NULL;
  gsize len;

  if (!g_file_get_contents (path, &text, &len, &local_error) ||
      !g_key_file_load_from_data (key_file, text, len, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_FILE,
                   _("Cannot read the configuration file %s: %s"), path, local_error->message);
      return FALSE;
    }

  g_free (config->config_file);
  config->config_file = g_strdup (path);
  return load_key_file (config, key_file, path, text, error);
}

/**
 * kaigi_config_load_file:
 * @config: the configuration to update
 * @path: a GKeyFile file name
 * @error: return location for a #KAIGI_CONFIG_ERROR
 *
 * Reads @path and applies it with kaigi_config_load_key_file(); error
 * messages start with `PATH:LINE: [GROUP] KEY`.
 *
 * Returns: %TRUE on success
 */
gboolean
kaigi_config_load_file (KaigiConfig  *config,
                        const char   *path,
                        GError      **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  return load_file (config, path, error) && check_consistency (config, error);
}

static gboolean
load_environment (KaigiConfig         *config,
                  const char * const  *envp,
                  GError             **error)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (key_specs); i++)
    {
      g_autofree char *name = kaigi_config_env_name (key_specs[i].group, key_specs[i].key);
      g_autofree char *where = NULL;
      g_autofree char *value = NULL;
      const char *raw = g_environ_getenv ((char **) envp, name);

      if (raw == NULL)
        continue;

      where = g_strdup_printf (_("the environment variable %s"), name);
      value = g_strstrip (g_strdup (raw));
      if (!set_value (config, &key_specs[i], value, where, error))
        return FALSE;
    }

  return TRUE;
}

/**
 * kaigi_config_load_environment:
 * @config: the configuration to update
 * @envp: (array zero-terminated=1): an environment, as from g_get_environ()
 * @error: return location for a #KAIGI_CONFIG_ERROR
 *
 * Applies every `KAIGI_GROUP_KEY` variable of @envp that names a
 * configuration key (see kaigi_config_env_name()), e.g.
 * `KAIGI_SERVER_PORT=9000`. Other variables are ignored.
 *
 * Returns: %TRUE on success; on failure @config may be partly updated
 */
gboolean
kaigi_config_load_environment (KaigiConfig         *config,
                               const char * const  *envp,
                               GError             **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  return load_environment (config, envp, error) &&
         check_consistency (config, error);
}

/**
 * kaigi_config_parse_command_line:
 * @argv: (array zero-terminated=1): the command line, argv[0] first; not modified
 * @envp: (array zero-terminated=1) (nullable): the environment, as from
 *   g_get_environ(); %NULL ignores the environment
 * @flags: (out): what else the command line asks for
 * @error: return location for a #KAIGI_CONFIG_ERROR or #G_OPTION_ERROR
 *
 * Builds the effective configuration: defaults, then the file named by
 * `--config` (if any), then `KAIGI_GROUP_KEY` variables of @envp, then the
 * other options, which win. `--help` prints and exits the process, as
 * GOptionContext does.
 *
 * Returns: (transfer full) (nullable): the configuration, or %NULL
 */
KaigiConfig *
kaigi_config_parse_command_line (char               **argv,
                                 const char * const  *envp,
                                 KaigiRunFlags       *flags,
                                 GError             **error)
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
  g_autofree char *tls_certificate = NULL;
  g_autofree char *tls_key = NULL;
  g_autofree char *port = NULL;
  gboolean version = FALSE;
  gboolean print_config = FALSE;
  gboolean open = FALSE;
  const struct { const char *option; char **value; } given[] = {
    { "address", &address },
    { "port", &port },
    { "recordings-dir", &recordings_dir },
    { "stun-server", &stun_server },
    { "turn-server", &turn_server },
    { "api-token", &api_token },
    { "tls-certificate", &tls_certificate },
    { "tls-key", &tls_key },
  };
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file, N_("Read the configuration from FILE (GKeyFile)"), N_("FILE") },
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, N_("Listen on ADDR only (default: all interfaces)"), N_("ADDR") },
    { "port", 'p', 0, G_OPTION_ARG_STRING, &port, N_("Listen on TCP port N; 0 picks a free port (default: 8080)"), N_("N") },
    { "recordings-dir", 0, 0, G_OPTION_ARG_FILENAME, &recordings_dir, N_("Store recordings in DIR"), N_("DIR") },
    { "stun-server", 0, 0, G_OPTION_ARG_STRING, &stun_server, N_("STUN server, stun://HOST:PORT"), N_("URI") },
    { "turn-server", 0, 0, G_OPTION_ARG_STRING, &turn_server, N_("TURN server, turn://USER:PASSWORD@HOST:PORT"), N_("URI") },
    { "api-token", 0, 0, G_OPTION_ARG_STRING, &api_token, N_("Require “Authorization: Bearer TOKEN” on the REST API, WHIP and WHEP"), N_("TOKEN") },
    { "tls-certificate", 0, 0, G_OPTION_ARG_FILENAME, &tls_certificate, N_("Serve HTTPS and wss:// with the PEM certificate in FILE (needs --tls-key)"), N_("FILE") },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key, N_("The PEM private key of the TLS certificate"), N_("FILE") },
    { "open", 0, 0, G_OPTION_ARG_NONE, &open, N_("Open the web client in the default browser once listening"), NULL },
    { "print-config", 0, 0, G_OPTION_ARG_NONE, &print_config, N_("Print the effective configuration as a configuration file and exit"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_("Print the version and exit"), NULL },
    { NULL }
  };
  guint i;

  g_return_val_if_fail (argv != NULL, NULL);
  g_return_val_if_fail (flags != NULL, NULL);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Kaigi — a self-hosted video-meeting server."));
  g_option_context_set_description (context,
                                    _("Every setting is also read from the environment variable "
                                      "KAIGI_GROUP_KEY (for example KAIGI_SERVER_PORT) and from the "
                                      "configuration file. The command line beats the environment, "
                                      "which beats the file, which beats the defaults. See kaigi(1)."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse_strv (context, &args, error))
    return NULL;

  if (args[0] && args[1])
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("Unexpected argument “%s”"), args[1]);
      return NULL;
    }

  *flags = (version ? KAIGI_RUN_PRINT_VERSION : 0) |
           (print_config ? KAIGI_RUN_PRINT_CONFIG : 0) |
           (open ? KAIGI_RUN_OPEN : 0);

  /* each layer is checked as a whole once all are applied: a key file
   * may give the certificate and the environment its key */
  if (config_file && !load_file (config, config_file, error))
    return NULL;

  if (envp && !load_environment (config, envp, error))
    return NULL;

  for (i = 0; i < G_N_ELEMENTS (given); i++)
    {
      g_autofree char *where = NULL;
      const KeySpec *spec = NULL;
      guint j;

      if (*given[i].value == NULL)
        continue;

      for (j = 0; j < G_N_ELEMENTS (key_specs) && spec == NULL; j++)
        if (g_strcmp0 (key_specs[j].option, given[i].option) == 0)
          spec = &key_specs[j];
      g_assert (spec != NULL);

      where = g_strconcat ("--", given[i].option, NULL);
      if (!set_value (config, spec, *given[i].value, where, error))
        return NULL;
    }

  if (!check_consistency (config, error))
    return NULL;

  return g_steal_pointer (&config);
}

/**
 * kaigi_config_new_from_args:
 * @argv: (array zero-terminated=1): the command line, argv[0] first; not modified
 * @print_version: (out): set when `--version` was given
 * @error: return location for a #KAIGI_CONFIG_ERROR or #G_OPTION_ERROR
 *
 * kaigi_config_parse_command_line() without the environment, for callers
 * that only care about `--version`.
 *
 * Returns: (transfer full) (nullable): the configuration, or %NULL
 */
KaigiConfig *
kaigi_config_new_from_args (char     **argv,
                            gboolean  *print_version,
                            GError   **error)
{
  KaigiRunFlags flags = KAIGI_RUN_DEFAULT;
  KaigiConfig *config = kaigi_config_parse_command_line (argv, NULL, &flags, error);

  *print_version = (flags & KAIGI_RUN_PRINT_VERSION) != 0;
  return config;
}

static char *
escape_value (const char *value)
{
  g_autoptr(GKeyFile) scratch = g_key_file_new ();

  /* GKeyFile's own escaping (leading space, backslash, newline) */
  g_key_file_set_string (scratch, "g", "k", value);
  return g_key_file_get_value (scratch, "g", "k", NULL);
}

/**
 * kaigi_config_to_data:
 * @config: a configuration
 *
 * Writes @config as a configuration file that kaigi_config_load_file()
 * reads back to the same values, every key present (unset strings as
 * empty values). The API token is never written: when set, its line is
 * commented out and masked, with a comment saying so, so that loading
 * the text leaves the token to the environment or command line.
 *
 * Returns: (transfer full): the text, UTF-8
 */
char *
kaigi_config_to_data (const KaigiConfig *config)
{
  GString *out = g_string_new (NULL);
  const char *group = NULL;
  guint i;

  g_return_val_if_fail (config != NULL, NULL);

  g_string_append_printf (out, "# %s\n", _("Effective Kaigi configuration (kaigi --print-config)"));
  if (config->config_file)
    g_string_append_printf (out, "# %s\n", config->config_file);

  for (i = 0; i < G_N_ELEMENTS (key_specs); i++)
    {
      const KeySpec *spec = &key_specs[i];
      gconstpointer src = G_STRUCT_MEMBER_P ((gpointer) config, spec->offset);
      g_autofree char *value = NULL;

      if (g_strcmp0 (group, spec->group) != 0)
        {
          group = spec->group;
          g_string_append_printf (out, "%s[%s]\n", out->len ? "\n" : "", group);
        }

      if (spec->kind == KEY_STRING)
        value = escape_value (*(char * const *) src ? *(char * const *) src : "");
      else
        value = g_strdup_printf ("%u", *(const guint *) src);

      if (spec->offset == G_STRUCT_OFFSET (KaigiConfig, api_token) && config->api_token)
        {
          g_autofree char *origin = kaigi_config_describe_origin (config, spec->group, spec->key);

          g_autofree char *note =
            g_strdup_printf (_("api-token is set (%s) but not shown: the line below is masked and "
                               "commented out, so that loading this file does not change the token"),
                             origin);

          g_string_append_printf (out, "# %s\n#%s=********\n", note, spec->key);
          continue;
        }

      g_string_append_printf (out, "%s=%s\n", spec->key, value);
    }

  return g_string_free (out, FALSE);
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
