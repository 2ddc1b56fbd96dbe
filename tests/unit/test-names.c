/* test-names.c — room and display name rules
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-error.h"
#include "kaigi-names.h"

static void
test_valid (void)
{
  const char *valid[] = {
    "a", "Team sync", "会議室", "週次ミーティング 2026", "Ünïcödé ☕", "a b", "x-y_z.1",
    /* 64 code points of 3 bytes each */
    "ああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああ",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (kaigi_name_validate (valid[i], &error));
      g_assert_no_error (error);
    }
}

static void
test_invalid (void)
{
  const struct { const char *name; KaigiNameError code; } invalid[] = {
    { "", KAIGI_NAME_ERROR_EMPTY },
    { "a/b", KAIGI_NAME_ERROR_INVALID_CHARACTER },
    { "tab\there", KAIGI_NAME_ERROR_INVALID_CHARACTER },
    { "new\nline", KAIGI_NAME_ERROR_INVALID_CHARACTER },
    { "del\x7f", KAIGI_NAME_ERROR_INVALID_CHARACTER },
    { "c1\xc2\x85", KAIGI_NAME_ERROR_INVALID_CHARACTER },
    { " lead", KAIGI_NAME_ERROR_SURROUNDING_SPACE },
    { "trail ", KAIGI_NAME_ERROR_SURROUNDING_SPACE },
    { "\xe3\x80\x80全角", KAIGI_NAME_ERROR_SURROUNDING_SPACE },
    { "\xff", KAIGI_NAME_ERROR_INVALID_UTF8 },
    { "ああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああああa", KAIGI_NAME_ERROR_TOO_LONG },
  };
  guint i;

  g_assert_false (kaigi_name_validate (NULL, NULL));

  for (i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (kaigi_name_validate (invalid[i].name, &error));
      g_assert_error (error, KAIGI_NAME_ERROR, (int) invalid[i].code);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/names/valid", test_valid);
  g_test_add_func ("/names/invalid", test_invalid);

  return g_test_run ();
}
