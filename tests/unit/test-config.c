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
  const struct { const char *text; int code; } bad[] = {
    { "[server]\nport=70000\n", KAIGI_CONFIG_ERROR_INVALID_VALUE },
    { "[server]\nport=eighty\n", KAIGI_CONFIG_ERROR_INVALID_VALUE },
    { "[server]\nprot=80\n", KAIGI_CONFIG_ERROR_UNKNOWN_KEY },
    { "[sever]\nport=80\n", KAIGI_CONFIG_ERROR_UNKNOWN_KEY },
    { "[ice]\nstun-server=stun.example.org\n", KAIGI_CONFIG_ERROR_INVALID_VALUE },
    { "[ice]\nmin-port=5000\nmax-port=4000\n", KAIGI_CONFIG_ERROR_INVALID_VALUE },
    { "not a key file", KAIGI_CONFIG_ERROR_FILE },
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

  return g_test_run ();
}
