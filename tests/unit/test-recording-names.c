/* test-recording-names.c — recording file names never leave the folder
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include "kaigi-recorder.h"

static void
test_file_names (void)
{
  const struct { const char *room; const char *file; } cases[] = {
    { "weekly", "weekly-20261123-101500.mp4" },
    { "会議室", "会議室-20261123-101500.mp4" },
    { "../etc", "_._etc-20261123-101500.mp4" },
    { ".hidden", "_hidden-20261123-101500.mp4" },
    { "a\\b:c*d?e\"f<g>h|i", "a_b_c_d_e_f_g_h_i-20261123-101500.mp4" },
    { "tab\there", "tab_here-20261123-101500.mp4" },
    { "x.y", "x.y-20261123-101500.mp4" },
  };
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GDateTime) time = g_date_time_new (utc, 2026, 11, 23, 10, 15, 0.0);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *file = kaigi_recording_make_file_name (cases[i].room, time);

      g_assert_cmpstr (file, ==, cases[i].file);
      g_assert_null (strchr (file, '/'));
      g_assert_true (file[0] != '.');
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/recording/file-names", test_file_names);
  return g_test_run ();
}
