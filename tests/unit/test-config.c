/* test-config.c — defaults, file and command-line precedence
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <glib/gstdio.h>
#include <gio/gio.h>

#include "kaigi-config.h"
#include "kaigi-protocol.h"

static char *
write_config (const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("kaigi-test-XXXXXX.conf", &path, &error);

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_defaults (void)
{
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  char *argv[] = { "kaigi", NULL };
  gboolean version = TRUE;

  config = kaigi_config_new_from_args (argv, &version, &error);
  g_assert_no_error (error);
  g_assert_false (version);
  g_assert_cmpuint (config->port, ==, 8080);
  g_assert_null (config->address);
  g_assert_nonnull (config->recordings_dir);
  g_assert_cmpuint (config->idle_timeout_s, ==, 15);
  g_assert_null (config->api_token);
}

static void
test_precedence (void)
{
  g_autofree char *path = write_config ("[server]\nport=9000\naddress=127.0.0.1\napi-token=file\n"
                                        "[ice]\nstun-server=stun://stun.example.org:3478\n"
                                        "[media]\njitterbuffer-latency=25\n");
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  char *argv[] = { "kaigi", "--config", path, "--port", "0", "--api-token", "cli", NULL };
  gboolean version;

  config = kaigi_config_new_from_args (argv, &version, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (config->port, ==, 0);                 /* command line wins */
  g_assert_cmpstr (config->api_token, ==, "cli");
  g_assert_cmpstr (config->address, ==, "127.0.0.1");     /* file beats default */
  g_assert_cmpuint (config->jitterbuffer_latency_ms, ==, 25);
  g_assert_cmpstr (config->stun_server, ==, "stun://stun.example.org:3478");
  g_unlink (path);
}

static void
test_bad_values (void)
{
  /* where: "LINE: [GROUP] KEY" that the message starts with after the file name */
  const struct { const char *text; int code; const char *where; } bad[] = {
    { "[server]\nport=70000\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [server] port" },
    { "[server]\nport=eighty\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [server] port" },
    { "# c\n[server]\naddress=::1\n\n  prot = 80\n", KAIGI_CONFIG_ERROR_UNKNOWN_KEY, "5: [server] prot" },
    { "[sever]\nport=80\n", KAIGI_CONFIG_ERROR_UNKNOWN_KEY, "2: [sever] port" },
    { "[ice]\nport=1\n[server]\nport=1\nport=x\n", KAIGI_CONFIG_ERROR_UNKNOWN_KEY, "2: [ice] port" },
    { "[server]\nport=1\n[ice]\nmin-port=1\n[server]\nport=99999\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "6: [server] port" },
    { "[ice]\nstun-server=stun.example.org\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [ice] stun-server" },
    { "[ice]\nmin-port=5000\nmax-port=4000\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [ice] min-port" },
    { "[server]\ntls-key=/k.pem\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [server] tls-key" },
    { "[server]\naddress=localhost\n", KAIGI_CONFIG_ERROR_INVALID_VALUE, "2: [server] address" },
    { "not a key file", KAIGI_CONFIG_ERROR_FILE, NULL },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *path = write_config (bad[i].text);
      g_autoptr(KaigiConfig) config = kaigi_config_new ();
      g_autoptr(GError) error = NULL;

      g_assert_false (kaigi_config_load_file (config, path, &error));
      g_assert_error (error, KAIGI_CONFIG_ERROR, bad[i].code);
      /* the message names the file */
      g_assert_nonnull (strstr (error->message, path));
      if (bad[i].where)
        {
          g_autofree char *where = g_strdup_printf ("%s:%s", path, bad[i].where);

          g_test_message ("%s", error->message);
          g_assert_true (g_str_has_prefix (error->message, where));
        }
      g_unlink (path);
    }
}

static void
test_bad_args (void)
{
  char *port[] = { "kaigi", "--port", "70000", NULL };
  char *missing[] = { "kaigi", "--config", "/nonexistent/kaigi.conf", NULL };
  char *extra[] = { "kaigi", "stray", NULL };
  char *unknown[] = { "kaigi", "--frobnicate", NULL };
  gboolean version;
  GError *error = NULL;

  g_assert_null (kaigi_config_new_from_args (port, &version, &error));
  g_assert_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE);
  g_clear_error (&error);
  g_assert_null (kaigi_config_new_from_args (missing, &version, &error));
  g_assert_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_FILE);
  g_clear_error (&error);
  g_assert_null (kaigi_config_new_from_args (extra, &version, &error));
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_null (kaigi_config_new_from_args (unknown, &version, &error));
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION);
  g_clear_error (&error);
}

static void
test_ice_servers (void)
{
  g_autoptr(KaigiConfig) config = kaigi_config_new ();
  g_autoptr(GPtrArray) servers = NULL;
  KaigiIceServer *turn;

  config->stun_server = g_strdup ("stun://stun.example.org:3478");
  config->turn_server = g_strdup ("turn://user:pa%3Ass@turn.example.org:3478");
  servers = kaigi_config_get_ice_servers (config);
  g_assert_cmpuint (servers->len, ==, 2);
  g_assert_cmpstr (((KaigiIceServer *) servers->pdata[0])->urls[0], ==, "stun:stun.example.org:3478");
  turn = servers->pdata[1];
  g_assert_cmpstr (turn->urls[0], ==, "turn:turn.example.org:3478");
  g_assert_cmpstr (turn->username, ==, "user");
  g_assert_cmpstr (turn->credential, ==, "pa:ss");
}

/* The example in README.md must be a configuration the server accepts */
static void
test_readme_example (void)
{
  g_autofree char *readme = g_test_build_filename (G_TEST_DIST, "..", "README.md", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GKeyFile) key_file = g_key_file_new ();
  g_autoptr(KaigiConfig) config = kaigi_config_new ();
  g_autoptr(GError) error = NULL;
  const char *start, *end;

  g_assert_true (g_file_get_contents (readme, &text, NULL, &error));
  g_assert_no_error (error);
  start = strstr (text, "```ini\n");
  g_assert_nonnull (start);
  start += strlen ("```ini\n");
  end = strstr (start, "```");
  g_assert_nonnull (end);

  g_assert_true (g_key_file_load_from_data (key_file, start, end - start, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (kaigi_config_load_key_file (config, key_file, "README.md", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (config->idle_timeout_s, ==, 15);
  g_assert_cmpuint (config->ice_min_port, ==, 40000);
  g_assert_cmpuint (config->jitterbuffer_latency_ms, ==, 40);
}

/* Command line beats environment beats file beats defaults */
static void
test_environment (void)
{
  g_autofree char *path = write_config ("[server]\nport=9000\nmax-participants=7\n"
                                        "[ice]\nstun-server=stun://file:1\n"
                                        "[recording]\nwidth=320\n");
  const char *envp[] = { "KAIGI_SERVER_PORT=9001", "KAIGI_ICE_STUN_SERVER=stun://env:2",
                         "KAIGI_RECORDING_WIDTH= 640 ", "KAIGI_SPEAKER_HOLD_TIME=5",
                         "KAIGI_UNRELATED=1", "PATH=/bin", NULL };
  char *argv[] = { "kaigi", "--config", path, "--stun-server", "stun://cli:3", NULL };
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *origin = NULL;
  KaigiRunFlags flags;

  config = kaigi_config_parse_command_line (argv, envp, &flags, &error);
  g_assert_no_error (error);
  g_assert_cmpint (flags, ==, KAIGI_RUN_DEFAULT);
  g_assert_cmpstr (config->stun_server, ==, "stun://cli:3");  /* command line */
  g_assert_cmpuint (config->port, ==, 9001);                  /* environment over file */
  g_assert_cmpuint (config->recording_width, ==, 640);
  g_assert_cmpuint (config->speaker_hold_ms, ==, 5);
  g_assert_cmpuint (config->max_participants, ==, 7);         /* file over default */
  g_assert_cmpuint (config->idle_timeout_s, ==, 15);          /* default */

  origin = kaigi_config_describe_origin (config, "server", "port");
  g_assert_nonnull (strstr (origin, "KAIGI_SERVER_PORT"));
  g_clear_pointer (&origin, g_free);
  origin = kaigi_config_describe_origin (config, "server", "max-participants");
  g_assert_true (g_str_has_prefix (origin, path));
  g_assert_true (g_str_has_suffix (origin, ":3: [server] max-participants"));

  g_unlink (path);
}

static void
test_environment_names (void)
{
  g_autofree char *a = kaigi_config_env_name ("server", "port");
  g_autofree char *b = kaigi_config_env_name ("ice", "stun-server");
  g_autofree char *c = kaigi_config_env_name ("recording", "width");
  const char *bad_port[] = { "KAIGI_SERVER_PORT=70000", NULL };
  const char *bad_key[] = { "KAIGI_SERVER_TLS_CERTIFICATE=/c.pem", NULL };
  g_autoptr(KaigiConfig) config = kaigi_config_new ();
  GError *error = NULL;

  g_assert_cmpstr (a, ==, "KAIGI_SERVER_PORT");
  g_assert_cmpstr (b, ==, "KAIGI_ICE_STUN_SERVER");
  g_assert_cmpstr (c, ==, "KAIGI_RECORDING_WIDTH");

  g_assert_false (kaigi_config_load_environment (config, bad_port, &error));
  g_assert_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "KAIGI_SERVER_PORT"));
  g_assert_nonnull (strstr (error->message, "70000"));
  g_clear_error (&error);

  /* a certificate without its key */
  g_assert_false (kaigi_config_load_environment (config, bad_key, &error));
  g_assert_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "KAIGI_SERVER_TLS_CERTIFICATE"));
  g_clear_error (&error);
}

static void
test_run_flags (void)
{
  char *argv[] = { "kaigi", "--print-config", "--open", "--version", NULL };
  char *tls_only[] = { "kaigi", "--tls-certificate", "/c.pem", NULL };
  g_autoptr(KaigiConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  KaigiRunFlags flags;

  config = kaigi_config_parse_command_line (argv, NULL, &flags, &error);
  g_assert_no_error (error);
  g_assert_cmpint (flags, ==, KAIGI_RUN_PRINT_CONFIG | KAIGI_RUN_OPEN | KAIGI_RUN_PRINT_VERSION);

  g_assert_null (kaigi_config_parse_command_line (tls_only, NULL, &flags, &error));
  g_assert_error (error, KAIGI_CONFIG_ERROR, KAIGI_CONFIG_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "--tls-certificate"));
}

/* Drops the first line (which names the file the values came from) */
static const char *
skip_header (const char *text)
{
  const char *p = text;

  while (*p == '#')
    p = strchr (p, '\n') + 1;
  return p;
}

/* --print-config output loads back to the same configuration, and never
 * shows the API token */
static void
test_print_config_round_trip (void)
{
  g_autoptr(KaigiConfig) config = kaigi_config_new ();
  g_autoptr(KaigiConfig) again = kaigi_config_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_again = NULL;
  g_autofree char *path = NULL;

  config->address = g_strdup ("::1");
  config->port = 0;
  config->stun_server = g_strdup ("stun://stun.example.org:3478");
  config->turn_server = g_strdup ("turn://u:p%3Aw@turn.example.org:3478");
  config->recordings_dir = (g_free (config->recordings_dir), g_strdup ("/srv/kaigi\\recordings"));
  config->api_token = g_strdup ("s3cret");
  config->recording_width = 640;
  config->shutdown_grace_s = 30;

  text = kaigi_config_to_data (config);
  g_test_message ("%s", text);
  g_assert_null (strstr (text, "s3cret"));
  g_assert_nonnull (strstr (text, "\n#api-token=********\n"));

  path = write_config (text);
  g_assert_true (kaigi_config_load_file (again, path, &error));
  g_assert_no_error (error);
  g_assert_null (again->api_token);
  g_assert_cmpstr (again->address, ==, "::1");
  g_assert_cmpstr (again->recordings_dir, ==, "/srv/kaigi\\recordings");
  g_assert_cmpstr (again->turn_server, ==, config->turn_server);
  g_assert_cmpuint (again->port, ==, 0);
  g_assert_cmpuint (again->recording_width, ==, 640);
  g_assert_cmpuint (again->shutdown_grace_s, ==, 30);

  again->api_token = g_strdup ("s3cret");
  text_again = kaigi_config_to_data (again);
  g_assert_cmpstr (skip_header (text_again), ==, skip_header (text));
  g_unlink (path);
}

/* data/kaigi.conf lists every key, commented out, with its default */
static void
test_example_config (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "data", "kaigi.conf", NULL);
  g_autoptr(KaigiConfig) defaults = kaigi_config_new ();
  g_autoptr(KaigiConfig) as_is = kaigi_config_new ();
  g_autoptr(KaigiConfig) uncommented = kaigi_config_new ();
  g_autoptr(GKeyFile) documented = g_key_file_new ();
  g_autoptr(GKeyFile) all_keys = g_key_file_new ();
  g_autoptr(GRegex) key_line = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *active = NULL;
  g_autofree char *defaults_text = NULL;
  g_autofree char *loaded_text = NULL;
  g_auto(GStrv) groups = NULL;
  guint i, j;

  /* as shipped, it changes nothing */
  g_assert_true (kaigi_config_load_file (as_is, path, &error));
  g_assert_no_error (error);

  /* with every "#key=value" line made active, it still gives the defaults */
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  key_line = g_regex_new ("^#([a-z-]+=)", G_REGEX_MULTILINE, 0, &error);
  g_assert_no_error (error);
  active = g_regex_replace (key_line, text, -1, 0, "\\1", 0, &error);
  g_assert_no_error (error);
  g_assert_true (g_key_file_load_from_data (documented, active, -1, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  g_assert_true (kaigi_config_load_key_file (uncommented, documented, "kaigi.conf", &error));
  g_assert_no_error (error);

  defaults_text = kaigi_config_to_data (defaults);
  loaded_text = kaigi_config_to_data (uncommented);
  g_assert_cmpstr (skip_header (loaded_text), ==, skip_header (defaults_text));

  /* and it documents every key there is */
  g_assert_true (g_key_file_load_from_data (all_keys, defaults_text, -1, G_KEY_FILE_NONE, &error));
  g_assert_no_error (error);
  groups = g_key_file_get_groups (all_keys, NULL);
  for (i = 0; groups[i]; i++)
    {
      g_auto(GStrv) keys = g_key_file_get_keys (all_keys, groups[i], NULL, NULL);

      for (j = 0; keys[j]; j++)
        {
          g_test_message ("[%s] %s", groups[i], keys[j]);
          g_assert_true (g_key_file_has_key (documented, groups[i], keys[j], NULL));
        }
    }
}

static void
test_flatpak_recordings_dir (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("kaigi-test-XXXXXX", &error);
  g_autofree char *user_dirs = g_build_filename (dir, "user-dirs.dirs", NULL);
  g_autofree char *videos = g_build_filename (dir, "Filme", NULL);
  g_autofree char *expected = g_build_filename (videos, "Kaigi", NULL);
  g_autofree char *outside_expected = g_build_filename (g_get_user_data_dir (), "kaigi", "recordings", NULL);
  g_autofree char *saved = g_strdup (g_getenv ("XDG_CONFIG_HOME"));
  g_autofree char *inside = NULL;
  g_autofree char *outside = NULL;
  g_autofree char *line = NULL;

  g_assert_no_error (error);
  /* a throw-away user-dirs.dirs naming the videos folder; the loader
   * reads $XDG_CONFIG_HOME afresh */
  line = g_strdup_printf ("XDG_VIDEOS_DIR=\"%s\"\n", videos);
  g_assert_true (g_file_set_contents (user_dirs, line, -1, &error));
  g_assert_no_error (error);
  g_setenv ("XDG_CONFIG_HOME", dir, TRUE);
  g_reload_user_special_dirs_cache ();

  inside = kaigi_config_default_recordings_dir (TRUE);
  outside = kaigi_config_default_recordings_dir (FALSE);

  if (saved)
    g_setenv ("XDG_CONFIG_HOME", saved, TRUE);
  else
    g_unsetenv ("XDG_CONFIG_HOME");
  g_reload_user_special_dirs_cache ();
  g_unlink (user_dirs);
  g_rmdir (dir);

  g_assert_cmpstr (inside, ==, expected);
  g_assert_cmpstr (outside, ==, outside_expected);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/precedence", test_precedence);
  g_test_add_func ("/config/bad-values", test_bad_values);
  g_test_add_func ("/config/bad-args", test_bad_args);
  g_test_add_func ("/config/ice-servers", test_ice_servers);
  g_test_add_func ("/config/readme-example", test_readme_example);
  g_test_add_func ("/config/environment", test_environment);
  g_test_add_func ("/config/environment-names", test_environment_names);
  g_test_add_func ("/config/run-flags", test_run_flags);
  g_test_add_func ("/config/print-config-round-trip", test_print_config_round_trip);
  g_test_add_func ("/config/example-config", test_example_config);
  g_test_add_func ("/config/flatpak-recordings-dir", test_flatpak_recordings_dir);

  return g_test_run ();
}
